//! API tokens for the CLI: created (secret shown once, optionally expiring), listed, revoked.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::body::JsonBody;
use super::error::UserError;
use std::time::Duration;

use crate::domain::{TokenHash, UnixMillis};
use crate::http::auth::{new_secret, CurrentUser};
use crate::http::{ApiError, Context};
use crate::store::{AuthTokenInfo, AuthTokenKind, NewAuthToken};

/// Longest lifetime a token may be given.
pub(crate) const MAX_EXPIRES_IN_DAYS: u32 = 3650;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct CreateToken {
    #[serde(default)]
    name: String,
    /// Days until the token stops working; absent: it works until revoked.
    #[serde(default, alias = "expires_in_days")]
    expires_in_days: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreatedToken {
    /// The secret; only this response ever contains it.
    token: String,
    /// Its id (the hash) for revocation.
    id: String,
    /// When it stops working, if ever.
    expires_at: Option<UnixMillis>,
}

/// `days` from `now`, checked against [`MAX_EXPIRES_IN_DAYS`].
pub(super) fn expiry(days: u32, now: UnixMillis) -> Result<UnixMillis, UserError> {
    if days == 0 || days > MAX_EXPIRES_IN_DAYS {
        return Err(UserError::field(
            "expiresInDays",
            format!("expiresInDays must be from 1 to {MAX_EXPIRES_IN_DAYS}"),
        ));
    }
    Ok(now.plus(Duration::from_secs(u64::from(days) * 86_400)))
}

#[utoipa::path(
    post,
    path = "/api/tokens",
    tag = "tokens",
    summary = "Create an API token (the secret is shown once)",
    security(("session" = []), ("apiToken" = [])),
    request_body = CreateToken,
    responses(
        (status = 201, description = "The new token", body = CreatedToken),
        (status = 400, description = "Bad input (`field` names the offending field)"),
        (status = 401, description = "Sign-in required (or the API token expired)")
    )
)]
pub(super) async fn create(
    State(state): State<Context>,
    CurrentUser(user): CurrentUser,
    JsonBody(body): JsonBody<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), UserError> {
    let now = state.clock().now();
    let expires_at = body.expires_in_days.map(|d| expiry(d, now)).transpose()?;
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
                expires_at,
            },
            now,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token: secret,
            id: hash.as_str().to_owned(),
            expires_at,
        }),
    ))
}

#[utoipa::path(
    get,
    path = "/api/tokens",
    tag = "tokens",
    summary = "List API tokens",
    security(("session" = []), ("apiToken" = [])),
    responses(
        (status = 200, description = "The tokens (without secrets)", body = [AuthTokenInfo]),
        (status = 401, description = "Sign-in required (or the API token expired)")
    )
)]
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

#[utoipa::path(
    delete,
    path = "/api/tokens/{hash}",
    tag = "tokens",
    summary = "Revoke an API token",
    security(("session" = []), ("apiToken" = [])),
    params(("hash" = String, Path, description = "Token id (the hash)")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Sign-in required (or the API token expired)"),
        (status = 404, description = "No such token")
    )
)]
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
