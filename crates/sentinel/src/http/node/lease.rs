//! `POST /api/node/leases` (new work for free slots) and `GET /api/node/leases` (the node's
//! current leases, asked on every (re)connect so a lost push costs nothing).

use axum::extract::State;
use axum::Json;

use super::wire::{LeaseRequest, LeasesResponse};
use crate::http::signed::SignedNode;
use crate::http::{ApiError, AppState};

pub(super) async fn request(
    State(state): State<AppState>,
    req: SignedNode<LeaseRequest>,
) -> Result<Json<LeasesResponse>, ApiError> {
    let node = req.node;
    let slots = if node.draining {
        0
    } else {
        req.body.free_slots.min(node.max_parallel)
    };
    let granted = if slots > 0 {
        state
            .coordinator()
            .lease(
                node.id,
                slots,
                state.config().lease_ttl,
                state.clock().now(),
            )
            .await?
    } else {
        Vec::new()
    };
    metrics::counter!("sentinel_leases_granted_total").increment(granted.len() as u64);
    Ok(Json(LeasesResponse {
        leases: super::assignments(&state, &granted).await?,
    }))
}

pub(super) async fn resync(
    State(state): State<AppState>,
    req: SignedNode<()>,
) -> Result<Json<LeasesResponse>, ApiError> {
    let current = state
        .coordinator()
        .current_leases(req.node.id, state.clock().now())
        .await?;
    Ok(Json(LeasesResponse {
        leases: super::assignments(&state, &current).await?,
    }))
}
