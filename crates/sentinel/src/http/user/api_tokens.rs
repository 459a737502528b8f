//! API tokens for the CLI: created (secret shown once), listed, revoked.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::body::JsonBody;
use super::error::UserError;
use crate::domain::TokenHash;
use crate::http::auth::{new_secret, CurrentUser};
use crate::http::{ApiError, Context};
use crate::store::{AuthTokenInfo, AuthTokenKind, NewAuthToken};

#[derive(Debug, Deserialize)]
pub(super) struct CreateToken {
    #[serde(default)]
    name: String,
}

#[derive(Debug, Serialize)]
pub(super) struct CreatedToken {
    /// The secret; only this response ever contains it.
    token: String,
    /// Its id (the hash) for revocation.
    id: String,
}

pub(super) async fn create(
    State(state): State<Context>,
    CurrentUser(user): CurrentUser,
    JsonBody(body): JsonBody<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), UserError> {
    let secret = new_secret("wl_")?;
    let hash = TokenHash::of(&secret);
    state
        .store()
        .insert_auth_token(
            NewAuthToken {
                hash: hash.clone(),
                user: user.id,
                kind: AuthTokenKind::Api,
                name: body.name.chars().take(64).collect(),
                expires_at: None,
            },
            state.clock().now(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token: secret,
            id: hash.as_str().to_owned(),
        }),
    ))
}

pub(super) async fn list(
    State(state): State<Context>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Vec<AuthTokenInfo>>, ApiError> {
    Ok(Json(
        state
            .store()
            .list_auth_tokens(user.id, AuthTokenKind::Api)
            .await?,
    ))
}

pub(super) async fn delete(
    State(state): State<Context>,
    CurrentUser(user): CurrentUser,
    Path(hash): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state
        .store()
        .delete_auth_token(user.id, &TokenHash::from_hex(hash))
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("no such token"))
    }
}
