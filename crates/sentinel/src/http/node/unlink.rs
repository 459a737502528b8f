//! `POST /api/node/unlink`: the node leaves the grid; its leases return to pending at once.

use axum::extract::State;
use axum::http::StatusCode;

use crate::http::signed::SignedNode;
use crate::http::{ApiError, Context};

pub(super) async fn handle(
    State(state): State<Context>,
    req: SignedNode<()>,
) -> Result<StatusCode, ApiError> {
    state.coordinator().node_dead(req.node.id).await?;
    state.store().unlink_node(req.node.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
