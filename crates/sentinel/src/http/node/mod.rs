//! The signed node API: register, beacon token, heartbeat, leases (new and resync), chunk
//! complete/fail, unlink, tunnel credentials. Every route but `register` requires a registered node's signature.

use axum::Router;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
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
    let (routes, _) = api().split_for_parts();
    routes.with_state(state)
}

/// The node API, each route registered with its `#[utoipa::path]` documentation (a new route
/// goes here as `.routes(routes!(module::handler))`, never as a plain `.route`).
pub(crate) fn api() -> OpenApiRouter<Context> {
    OpenApiRouter::new()
        .routes(routes!(register::handle))
        .routes(routes!(heartbeat::handle))
        .routes(routes!(lease::request, lease::resync))
        .routes(routes!(complete::handle))
        .routes(routes!(complete::handle_batch))
        .routes(routes!(fail::handle))
        .routes(routes!(config::handle))
        .routes(routes!(unlink::handle))
        .routes(routes!(token::handle))
        .routes(routes!(tunnel_credentials::handle))
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
