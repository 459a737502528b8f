//! `POST /api/node/tunnel-credentials`: a NATS user JWT scoped to the signing node's own
//! tunnel subjects (see `crate::nats_creds`), or `jwt: null` when the tunnel's NATS server
//! takes no credentials. Only a claimed node gets one, and only for its own id.

use axum::extract::State;
use axum::Json;
use wowlab_api::node::TunnelCredentialsResponse;

use crate::http::signed::ClaimedNode;
use crate::http::{ApiError, Context};

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
