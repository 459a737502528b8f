//! `POST /api/node/token`: the node's beacon connection token, asked by its realtime client's
//! `get_token` callback before the current one expires.

use axum::extract::State;
use axum::Json;

use crate::http::signed::SignedNode;
use crate::http::{ApiError, AppState};
use crate::tokens::{MintedToken, NODE_TOKEN_TTL};

pub(super) async fn handle(
    State(state): State<AppState>,
    req: SignedNode<()>,
) -> Result<Json<MintedToken>, ApiError> {
    let minted = state
        .tokens()?
        .node_connection(req.node.id, NODE_TOKEN_TTL, state.clock().now())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(minted))
}
