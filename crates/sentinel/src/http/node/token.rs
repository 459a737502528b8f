//! `POST /api/node/token`: the node's beacon connection token, asked by its realtime client's
//! `get_token` callback before the current one expires. Unowned nodes are refused with
//! `not_claimed` (the node keeps polling until its owner enters the claim code).

use axum::extract::State;
use axum::Json;
use wowlab_api::node::TokenResponse;

use crate::http::signed::SignedNode;
use crate::http::{ApiError, Context};
use crate::tokens::NODE_TOKEN_TTL;

#[utoipa::path(
    post,
    path = wowlab_api::node::PATH_TOKEN,
    tag = "node",
    summary = "Fetch a beacon connection token",
    security(("nodeKey" = [], "nodeSignature" = [], "nodeTimestamp" = [], "nodeNonce" = [])),
    responses(
        (status = 200, description = "A beacon connection token", body = TokenResponse),
        (status = 400, description = "Malformed body or headers"),
        (status = 401, description = "Bad signature, unknown key, replayed or stale request"),
        (status = 403, description = "The node is not claimed yet (`not_claimed`)")
    )
)]
pub(super) async fn handle(
    State(state): State<Context>,
    req: SignedNode<()>,
) -> Result<Json<TokenResponse>, ApiError> {
    if req.node.owner.is_none() {
        return Err(ApiError::NotClaimed);
    }
    let minted = state
        .tokens()
        .node_connection(req.node.id, NODE_TOKEN_TTL, state.clock().now())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(TokenResponse {
        node_id: req.node.id,
        beacon_url: state.config().beacon_ws_url.clone(),
        token: minted.token,
        expires_at_ms: minted.expires_at.0,
    }))
}
