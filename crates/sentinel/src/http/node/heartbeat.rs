//! `POST /api/node/heartbeat`: records liveness, extends the leases the node still holds,
//! names the ones to drop, and fills its free slots with new work (credit-based dispatch).

use axum::extract::State;
use axum::Json;

use super::wire::{ExtendedLease, HeartbeatRequest, HeartbeatResponse, LeaseId};
use crate::coordinator::LeaseRef;
use crate::http::signed::SignedNode;
use crate::http::{ApiError, AppState};

/// Most leases one heartbeat may report (bounds the work per request).
const MAX_REPORTED: usize = 4096;

pub(super) async fn handle(
    State(state): State<AppState>,
    req: SignedNode<HeartbeatRequest>,
) -> Result<Json<HeartbeatResponse>, ApiError> {
    let (node, body) = (req.node, req.body);
    if body.active_leases.len() > MAX_REPORTED {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_REPORTED} active leases per heartbeat"
        )));
    }
    let now = state.clock().now();
    let ttl = state.config().lease_ttl;
    let version: String = body.version.chars().take(64).collect();
    state
        .store()
        .record_node_seen(node.id, now, &version, body.cores.clamp(1, 1024))
        .await?;
    let reported: Vec<LeaseRef> = body.active_leases.iter().map(|&l| l.into()).collect();
    let hb = state
        .coordinator()
        .heartbeat(node.id, &reported, ttl, now)
        .await?;
    let slots = if node.draining {
        0
    } else {
        body.free_slots.min(node.max_parallel)
    };
    let granted = if slots > 0 {
        state.coordinator().lease(node.id, slots, ttl, now).await?
    } else {
        Vec::new()
    };
    metrics::counter!("sentinel_heartbeats_total").increment(1);
    metrics::counter!("sentinel_leases_granted_total").increment(granted.len() as u64);
    metrics::counter!("sentinel_leases_cancelled_total").increment(hb.cancelled.len() as u64);
    Ok(Json(HeartbeatResponse {
        extended: hb
            .extended
            .iter()
            .map(|l| ExtendedLease {
                lease: l.lease_ref().into(),
                expires_at: l.expires_at,
            })
            .collect(),
        cancelled: hb.cancelled.into_iter().map(LeaseId::from).collect(),
        assigned: super::assignments(&state, &granted).await?,
        draining: node.draining,
        lease_ttl_ms: ttl.as_millis() as u64,
    }))
}
