//! Claim tokens (a node registers straight into the account) and claiming an unowned node by
//! the code it shows.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::domain::TokenHash;
use crate::http::auth::{new_secret, CurrentUser};
use crate::http::{ApiError, AppState};
use crate::store::Node;

#[derive(Debug, Serialize)]
pub(super) struct ClaimToken {
    /// The secret (`ct_…`); shown once.
    token: String,
}

pub(super) async fn create_token(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<(StatusCode, Json<ClaimToken>), ApiError> {
    let secret = new_secret("ct_")?;
    state
        .store()
        .insert_claim_token(user.id, &TokenHash::of(&secret), state.clock().now())
        .await?;
    Ok((StatusCode::CREATED, Json(ClaimToken { token: secret })))
}

#[derive(Debug, Deserialize)]
pub(super) struct ClaimCode {
    code: String,
}

pub(super) async fn claim_node(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Json(body): Json<ClaimCode>,
) -> Result<Json<Node>, ApiError> {
    let code = body.code.trim().to_uppercase();
    state
        .store()
        .claim_node(&code, user.id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("no unclaimed node shows this code"))
}
