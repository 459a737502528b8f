//! `POST /api/node/leases` (new work for free slots, answered with every lease the node holds,
//! so the same call resyncs) and `GET /api/node/leases` (just the resync, asked on every
//! (re)connect so a lost push costs nothing).

use axum::extract::State;
use axum::Json;
use wowlab_api::node::{LeasesRequest, LeasesResponse};

use crate::http::signed::ClaimedNode;
use crate::http::{ApiError, Context};

#[utoipa::path(
    post,
    path = wowlab_api::node::PATH_LEASES,
    tag = "node",
    summary = "Request leases for free slots",
    security(("nodeKey" = [], "nodeSignature" = [], "nodeTimestamp" = [], "nodeNonce" = [])),
    request_body = LeasesRequest,
    responses(
        (status = 200, description = "Every lease the node holds now", body = LeasesResponse),
        (status = 400, description = "Malformed body or headers"),
        (status = 401, description = "Bad signature, unknown key, replayed or stale request"),
        (status = 403, description = "The node is not claimed yet (`not_claimed`)")
    )
)]
pub(super) async fn request(
    State(state): State<Context>,
    req: ClaimedNode<LeasesRequest>,
) -> Result<Json<LeasesResponse>, ApiError> {
    let node = req.node;
    let now = state.clock().now();
    let slots = req.body.free_slots.min(super::credit_limit(&node));
    // Always called, also with 0 slots: the report replaces the node's dispatch credit.
    let granted = state
        .coordinator()
        .lease(node.id, slots, state.config().lease_ttl, now)
        .await?;
    metrics::counter!("sentinel_leases_granted_total").increment(granted.len() as u64);
    let held = state.coordinator().current_leases(node.id, now).await?;
    Ok(Json(LeasesResponse {
        leases: state.assignments(&held).await?,
    }))
}

#[utoipa::path(
    get,
    path = wowlab_api::node::PATH_LEASES,
    tag = "node",
    summary = "Resync held leases",
    security(("nodeKey" = [], "nodeSignature" = [], "nodeTimestamp" = [], "nodeNonce" = [])),
    responses(
        (status = 200, description = "Every lease the node holds now", body = LeasesResponse),
        (status = 400, description = "Malformed body or headers"),
        (status = 401, description = "Bad signature, unknown key, replayed or stale request"),
        (status = 403, description = "The node is not claimed yet (`not_claimed`)")
    )
)]
pub(super) async fn resync(
    State(state): State<Context>,
    req: ClaimedNode<()>,
) -> Result<Json<LeasesResponse>, ApiError> {
    let current = state
        .coordinator()
        .current_leases(req.node.id, state.clock().now())
        .await?;
    Ok(Json(LeasesResponse {
        leases: state.assignments(&current).await?,
    }))
}
