//! The signed node API: register, beacon token, heartbeat, leases (new and resync), chunk
//! complete/fail, unlink. Every route but `register` requires a registered node's signature.

use axum::routing::post;
use axum::Router;
use wowlab_api::node as api;

use super::AppState;

mod complete;
mod config;
mod fail;
mod heartbeat;
mod lease;
mod register;
mod token;
mod unlink;
pub mod wire;

/// Routes under `/api/node`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(api::PATH_REGISTER, post(register::handle))
        .route(api::PATH_HEARTBEAT, post(heartbeat::handle))
        .route(api::PATH_LEASES, post(lease::request).get(lease::resync))
        .route(api::PATH_CHUNK_COMPLETE, post(complete::handle))
        .route(api::PATH_CHUNK_COMPLETE_BATCH, post(complete::handle_batch))
        .route(api::PATH_CHUNK_FAIL, post(fail::handle))
        .route(api::PATH_CONFIG, post(config::handle))
        .route(api::PATH_UNLINK, post(unlink::handle))
        .route(api::PATH_TOKEN, post(token::handle))
        .with_state(state)
}

/// Turns leases into lease payloads, skipping jobs that vanished meanwhile.
/// Most slots the sentinel fills for `node`: what it runs (the owner's setting under its own
/// cap) plus the prefetch allowance; none while it drains.
fn credit_limit(node: &crate::store::Node) -> u32 {
    if node.draining {
        0
    } else {
        node.capacity() + api::MAX_PREFETCH
    }
}

pub(crate) async fn assignments(
    state: &AppState,
    leases: &[crate::coordinator::Lease],
) -> Result<Vec<api::ChunkLease>, super::ApiError> {
    let mut out = Vec::with_capacity(leases.len());
    for l in leases {
        if let Some(job) = state.job_facts(l.job).await? {
            if let Some(a) = wire::chunk_lease(l, &job) {
                out.push(a);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
