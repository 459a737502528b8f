//! The signed node API: register, beacon token, heartbeat, leases (new and resync), chunk
//! complete/fail, unlink. Every route but `register` requires a registered node's signature.

use axum::routing::post;
use axum::Router;

use super::AppState;

mod complete;
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
        .route("/api/node/register", post(register::handle))
        .route("/api/node/heartbeat", post(heartbeat::handle))
        .route("/api/node/leases", post(lease::request).get(lease::resync))
        .route("/api/node/chunks/complete", post(complete::handle))
        .route(
            "/api/node/chunks/complete-batch",
            post(complete::handle_batch),
        )
        .route("/api/node/chunks/fail", post(fail::handle))
        .route("/api/node/unlink", post(unlink::handle))
        .route("/api/node/token", post(token::handle))
        .with_state(state)
}

/// Turns leases into assignments, skipping jobs that vanished meanwhile.
async fn assignments(
    state: &AppState,
    leases: &[crate::coordinator::Lease],
) -> Result<Vec<wire::ChunkAssignment>, super::ApiError> {
    let mut out = Vec::with_capacity(leases.len());
    for l in leases {
        if let Some(job) = state.job_facts(l.job).await? {
            if let Some(a) = wire::ChunkAssignment::new(l, &job) {
                out.push(a);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
