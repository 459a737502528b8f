//! `POST /api/node/heartbeat`: records liveness, extends the leases the node still holds and
//! names the ones to drop. The free slots it reports become the node's dispatch credit: the
//! dispatcher pushes work for them on `chunks:{node}` (`POST /api/node/leases` asks directly).

use axum::extract::State;
use axum::Json;
use wowlab_api::node::{
    ExtendedLease, HeartbeatRequest, HeartbeatResponse, NodeSettings as WireSettings,
};

use super::wire::{from_wire, to_wire};
use crate::coordinator::LeaseRef;
use crate::http::signed::SignedNode;
use crate::http::{ApiError, Context};
use crate::store::NodeStatus;
use crate::tasks::presence::StatusFlip;

/// Most leases one heartbeat may report (bounds the work per request).
const MAX_REPORTED: usize = 4096;

#[utoipa::path(
    post,
    path = wowlab_api::node::PATH_HEARTBEAT,
    tag = "node",
    summary = "Heartbeat",
    security(("nodeKey" = [], "nodeSignature" = [], "nodeTimestamp" = [], "nodeNonce" = [])),
    request_body = HeartbeatRequest,
    responses(
        (status = 200, description = "Extended and cancelled leases, current settings", body = HeartbeatResponse),
        (status = 400, description = "Malformed body or headers"),
        (status = 401, description = "Bad signature, unknown key, replayed or stale request")
    )
)]
pub(super) async fn handle(
    State(state): State<Context>,
    req: SignedNode<HeartbeatRequest>,
) -> Result<Json<HeartbeatResponse>, ApiError> {
    let (mut node, body) = (req.node, req.body);
    if body.active.len() > MAX_REPORTED {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_REPORTED} active leases per heartbeat"
        )));
    }
    super::register::check_local_cap(body.local_max_parallel)?;
    // This report is the node's latest word on its own cap (a restart may have changed it).
    node.local_max_parallel = body.local_max_parallel;
    let now = state.clock().now();
    let ttl = state.config().lease_ttl;
    let load = crate::store::NodeLoad::from_heartbeat(&body);
    state
        .store()
        .record_node_seen(
            node.id,
            now,
            &node.version,
            node.cores.clamp(1, 1024),
            node.local_max_parallel,
            &load,
        )
        .await?;
    // Heartbeats are authoritative: a node heard from is online now, not at the next presence
    // round (up to 30 s later), so a freshly started grid counts its nodes at once; a leaving
    // node is offline at once, so no spot check waits for it to be missed.
    let status = if body.leaving {
        NodeStatus::Offline
    } else {
        NodeStatus::Online
    };
    if node.status != status && state.store().set_node_status(node.id, status).await? {
        let flip = StatusFlip::new(node.id, status);
        flip.publish(state.funnel()).await;
        // The webhook hears this flip too (the presence round will not repeat it); posted off
        // the request so a slow receiver never delays the heartbeat.
        if let Some(hook) = state.webhook().cloned() {
            tokio::spawn(async move { hook.notify(&[flip]).await });
        }
    }
    let reported: Vec<LeaseRef> = body.active.iter().map(|&l| from_wire(l)).collect();
    // The unfilled free slots become credit for pushed work, within what the node runs (the
    // owner's setting under its own cap) plus prefetch; a draining node takes none.
    let free = if body.leaving {
        0
    } else {
        body.free_slots.min(super::credit_limit(&node))
    };
    let hb = state
        .coordinator()
        .heartbeat(node.id, &reported, free, ttl, now)
        .await?;
    metrics::counter!("sentinel_heartbeats_total").increment(1);
    metrics::counter!("sentinel_leases_cancelled_total").increment(hb.cancelled.len() as u64);
    Ok(Json(HeartbeatResponse {
        extended: hb
            .extended
            .iter()
            .map(|l| ExtendedLease {
                lease: to_wire(l.lease_ref()),
                expires_at_ms: l.expires_at.0,
            })
            .collect(),
        cancelled: hb.cancelled.into_iter().map(to_wire).collect(),
        lease_ttl_ms: ttl.as_millis() as u64,
        settings: WireSettings {
            name: node.name,
            max_parallel: node.max_parallel,
            drain: node.draining,
        },
    }))
}
