//! The signed node API: register, beacon token, heartbeat, leases (new and resync), chunk
//! complete/fail, unlink, tunnel credentials. Every route but `register` requires a registered node's signature.

use axum::routing::post;
use axum::Router;
use wowlab_api::node as api;

use super::Context;

mod complete;
mod config;
mod fail;
mod heartbeat;
mod lease;
mod register;
mod token;
mod tunnel_credentials;
mod unlink;
pub(crate) use crate::wire;

/// Routes under `/api/node`.
pub fn router(state: Context) -> Router {
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
        .route(
            api::PATH_TUNNEL_CREDENTIALS,
            post(tunnel_credentials::handle),
        )
        .with_state(state)
}

/// Most slots the sentinel fills for `node`: what it runs (the owner's setting under its own
/// cap) plus the prefetch allowance; none while it drains or has no owner.
fn credit_limit(node: &crate::store::Node) -> u32 {
    if node.draining || node.owner.is_none() {
        0
    } else {
        node.capacity() + api::MAX_PREFETCH
    }
}

#[cfg(test)]
mod tests;
