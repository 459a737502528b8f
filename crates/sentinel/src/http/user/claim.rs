//! Claim tokens (a node registers straight into the account) and claiming an unowned node by
//! the code it shows.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::body::JsonBody;
use super::error::UserError;
use super::nodes::NodeView;
use crate::domain::TokenHash;
use crate::http::auth::{new_secret, CurrentUser};
use crate::http::{ApiError, Context};

#[derive(Debug, Serialize)]
pub(super) struct ClaimToken {
    /// The secret (`ct_…`); shown once.
    token: String,
}

pub(super) async fn create_token(
    State(state): State<Context>,
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
    State(state): State<Context>,
    CurrentUser(user): CurrentUser,
    JsonBody(body): JsonBody<ClaimCode>,
) -> Result<Json<NodeView>, UserError> {
    let code = body.code.trim().to_uppercase();
    if code.is_empty() {
        return Err(UserError::field("code", "enter the code the node shows"));
    }
    if code.chars().count() > 32 || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(UserError::field(
            "code",
            "a claim code has only letters, digits and dashes (at most 32)",
        ));
    }
    let node = state
        .store()
        .claim_node(&code, user.id)
        .await?
        .ok_or(ApiError::NotFound("no unclaimed node shows this code"))?;
    Ok(Json(NodeView::from(node)))
}
