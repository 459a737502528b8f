//! The user API (session cookie or API token): accounts, API tokens, claim tokens, node
//! management, jobs and browser job tokens. One file per resource.

use axum::Router;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Context;

mod account;
mod admin;
pub(crate) mod api_tokens;
mod body;
mod claim;
mod error;
pub(crate) mod jobs;
mod live;
pub(crate) mod nodes;
mod quarantine;
mod realtime;
mod report;

/// Routes under `/api` for signed-in users.
pub fn router(state: Context) -> Router {
    let (routes, _) = api().split_for_parts();
    routes
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
}

/// The user API, each route registered with its `#[utoipa::path]` documentation (a new route
/// goes here as `.routes(routes!(module::handler))`, never as a plain `.route`).
pub(crate) fn api() -> OpenApiRouter<Context> {
    OpenApiRouter::new()
        .routes(routes!(super::openapi::serve))
        .routes(routes!(account::signup))
        .routes(routes!(account::login))
        .routes(routes!(account::logout))
        .routes(routes!(account::me))
        .routes(routes!(api_tokens::create, api_tokens::list))
        .routes(routes!(api_tokens::delete))
        .routes(routes!(claim::create_token, claim::list_tokens))
        .routes(routes!(claim::revoke_token))
        .routes(routes!(admin::quotas, admin::set_quotas))
        .routes(routes!(claim::claim_node))
        .routes(routes!(nodes::list))
        .routes(routes!(nodes::update))
        .routes(routes!(live::live))
        .routes(routes!(live::logs))
        .routes(routes!(quarantine::release))
        .routes(routes!(quarantine::quarantine))
        .routes(routes!(quarantine::job_checks))
        .routes(routes!(jobs::create, jobs::list))
        .routes(routes!(jobs::get, jobs::update, jobs::delete))
        .routes(routes!(jobs::profile))
        .routes(routes!(jobs::result))
        .routes(routes!(jobs::aggregate))
        .routes(routes!(jobs::cancel))
        .routes(routes!(jobs::visibility))
        .routes(routes!(realtime::job_token))
        .routes(routes!(realtime::grid_token))
}

#[cfg(test)]
mod tests;
