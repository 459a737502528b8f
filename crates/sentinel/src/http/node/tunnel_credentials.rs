//! `POST /api/node/tunnel-credentials`: a NATS user JWT scoped to the signing node's own
//! tunnel subjects (see `crate::nats_creds`), or `jwt: null` when the tunnel's NATS server
//! takes no credentials. Only a claimed node gets one, and only for its own id.

use axum::extract::State;
use axum::Json;
use wowlab_api::node::TunnelCredentialsResponse;

use crate::http::signed::ClaimedNode;
use crate::http::{ApiError, Context};

#[utoipa::path(
    post,
    path = wowlab_api::node::PATH_TUNNEL_CREDENTIALS,
    tag = "node",
    summary = "Fetch NATS credentials scoped to the node's own tunnel subjects",
    security(("nodeKey" = [], "nodeSignature" = [], "nodeTimestamp" = [], "nodeNonce" = [])),
    responses(
        (status = 200, description = "A scoped NATS user JWT, or `jwt: null` when the tunnel's NATS takes no credentials", body = TunnelCredentialsResponse),
        (status = 400, description = "Malformed body or headers"),
        (status = 401, description = "Bad signature, unknown key, replayed or stale request"),
        (status = 403, description = "The node is not claimed yet (`not_claimed`)")
    )
)]
pub(super) async fn handle(
    State(state): State<Context>,
    req: ClaimedNode<()>,
) -> Result<Json<TunnelCredentialsResponse>, ApiError> {
    let Some(minter) = state.node_tunnel_creds() else {
        return Ok(Json(crate::nats_creds::open(req.node.id)));
    };
    let minted = minter
        .mint(req.node.id, state.clock().now().0)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(minted))
}
