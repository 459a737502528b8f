//! `POST /api/node/unlink`: the node leaves the grid; its leases return to pending at once.

use axum::extract::State;
use axum::http::StatusCode;

use crate::http::signed::SignedNode;
use crate::http::{ApiError, Context};

#[utoipa::path(
    post,
    path = wowlab_api::node::PATH_UNLINK,
    tag = "node",
    summary = "Leave the grid",
    security(("nodeKey" = [], "nodeSignature" = [], "nodeTimestamp" = [], "nodeNonce" = [])),
    responses(
        (status = 204, description = "Forgotten"),
        (status = 400, description = "Malformed body or headers"),
        (status = 401, description = "Bad signature, unknown key, replayed or stale request")
    )
)]
pub(super) async fn handle(
    State(state): State<Context>,
    req: SignedNode<()>,
) -> Result<StatusCode, ApiError> {
    state.coordinator().node_dead(req.node.id).await?;
    state.store().unlink_node(req.node.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
