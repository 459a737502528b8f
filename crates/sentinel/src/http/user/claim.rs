//! Claim tokens (a node registers straight into the account): created with an expiry, listed,
//! revoked; and claiming an unowned node by the code it shows (stored hashed, expiring).

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::api_tokens::expiry;
use super::body::JsonBody;
use super::error::UserError;
use super::nodes::NodeView;
use crate::domain::{TokenHash, UnixMillis};
use crate::http::auth::{new_secret, CurrentUser};
use crate::http::{ApiError, Context};
use crate::store::ClaimTokenInfo;

/// Lifetime of a claim token unless the request says otherwise.
pub(crate) const CLAIM_TOKEN_TTL: Duration = Duration::from_secs(7 * 86_400);

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct CreateClaimToken {
    /// Days until it stops attaching nodes (default 7).
    #[serde(default, alias = "expires_in_days")]
    expires_in_days: Option<u32>,
    /// Label, e.g. where it is used (optional).
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct ClaimToken {
    /// The secret (`ct_…`); shown once.
    token: String,
    /// Its id (the hash) for listing and revocation.
    id: String,
    /// When it stops attaching nodes.
    expires_at: UnixMillis,
}

#[utoipa::path(
    post,
    path = "/api/claim-tokens",
    tag = "tokens",
    summary = "Create a claim token (nodes started with it join this account)",
    security(("session" = []), ("apiToken" = [])),
    request_body = Option<CreateClaimToken>,
    responses(
        (status = 201, description = "The new claim token", body = ClaimToken),
        (status = 400, description = "Bad input (`field` names the offending field)"),
        (status = 401, description = "Sign-in required (or the API token expired)")
    )
)]
pub(super) async fn create_token(
    State(state): State<Context>,
    CurrentUser(user): CurrentUser,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<ClaimToken>), UserError> {
    // The body is optional (the studio's button sends none).
    let body: CreateClaimToken = if body.trim_ascii().is_empty() {
        CreateClaimToken::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("invalid claim token request: {e}")))?
    };
    let now = state.clock().now();
    let expires_at = match body.expires_in_days {
        Some(d) => expiry(d, now)?,
        None => now.plus(CLAIM_TOKEN_TTL),
    };
    let secret = new_secret("ct_")?;
    let hash = TokenHash::of(&secret);
    state
        .store()
        .insert_claim_token(user.id, &hash, now, Some(expires_at))
        .await?;
    // Like API token names: at most 64 characters, control characters dropped.
    let name: String = body
        .name
        .unwrap_or_default()
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect();
    if !name.is_empty() {
        state
            .store()
            .name_claim_token(user.id, &hash, &name)
            .await?;
    }
    Ok((
        StatusCode::CREATED,
        Json(ClaimToken {
            token: secret,
            id: hash.as_str().to_owned(),
            expires_at,
        }),
    ))
}

#[utoipa::path(
    get,
    path = "/api/claim-tokens",
    tag = "tokens",
    summary = "List claim tokens",
    security(("session" = []), ("apiToken" = [])),
    responses(
        (status = 200, description = "The claim tokens (without secrets)", body = [ClaimTokenInfo]),
        (status = 401, description = "Sign-in required (or the API token expired)")
    )
)]
pub(super) async fn list_tokens(
    State(state): State<Context>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Vec<ClaimTokenInfo>>, ApiError> {
    Ok(Json(state.store().list_claim_tokens(user.id).await?))
}

#[utoipa::path(
    delete,
    path = "/api/claim-tokens/{id}",
    tag = "tokens",
    summary = "Revoke a claim token",
    security(("session" = []), ("apiToken" = [])),
    params(("id" = String, Path, description = "Claim token id (the hash)")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Sign-in required (or the API token expired)"),
        (status = 404, description = "No such claim token, or revoked already")
    )
)]
pub(super) async fn revoke_token(
    State(state): State<Context>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state
        .store()
        .revoke_claim_token(user.id, &TokenHash::from_hex(id), state.clock().now())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(
            "no such claim token, or it is revoked already",
        ))
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct ClaimCode {
    code: String,
}

#[utoipa::path(
    post,
    path = "/api/nodes/claim",
    tag = "nodes",
    summary = "Claim an unowned node by the code it shows",
    security(("session" = []), ("apiToken" = [])),
    request_body = ClaimCode,
    responses(
        (status = 200, description = "The node, now owned", body = NodeView),
        (status = 400, description = "Bad input (`field` names the offending field)"),
        (status = 401, description = "Sign-in required (or the API token expired)"),
        (status = 404, description = "No unclaimed node shows this code")
    )
)]
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
        .claim_node(&TokenHash::of(&code), user.id, state.clock().now())
        .await?
        .ok_or(ApiError::NotFound(
            "no unclaimed node shows this code (codes expire after an hour; the node shows a new one)",
        ))?;
    Ok(Json(NodeView::from(node)))
}
