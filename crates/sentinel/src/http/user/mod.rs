//! The user API (session cookie or API token): accounts, API tokens, claim tokens, node
//! management, jobs and browser job tokens. One file per resource.

use axum::routing::{get, post};
use axum::Router;

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

/// Routes under `/api` for signed-in users.
pub fn router(state: Context) -> Router {
    Router::new()
        .route("/api/auth/signup", post(account::signup))
        .route("/api/auth/login", post(account::login))
        .route("/api/auth/logout", post(account::logout))
        .route("/api/auth/me", get(account::me))
        .route(
            "/api/tokens",
            post(api_tokens::create).get(api_tokens::list),
        )
        .route(
            "/api/tokens/{hash}",
            axum::routing::delete(api_tokens::delete),
        )
        .route(
            "/api/claim-tokens",
            post(claim::create_token).get(claim::list_tokens),
        )
        .route(
            "/api/claim-tokens/{id}",
            axum::routing::delete(claim::revoke_token),
        )
        .route(
            "/api/admin/quotas",
            get(admin::quotas).put(admin::set_quotas),
        )
        .route("/api/nodes/claim", post(claim::claim_node))
        .route("/api/nodes", get(nodes::list))
        .route("/api/nodes/{id}", axum::routing::patch(nodes::update))
        .route("/api/nodes/{id}/live", get(live::live))
        .route("/api/admin/nodes/{id}/release", post(quarantine::release))
        .route(
            "/api/admin/nodes/{id}/quarantine",
            post(quarantine::quarantine),
        )
        .route("/api/nodes/{id}/logs", get(live::logs))
        .route("/api/jobs", post(jobs::create).get(jobs::list))
        .route(
            "/api/jobs/{id}",
            get(jobs::get).patch(jobs::update).delete(jobs::delete),
        )
        .route("/api/jobs/{id}/profile", get(jobs::profile))
        .route("/api/jobs/{id}/result", get(jobs::result))
        .route("/api/jobs/{id}/checks", get(quarantine::job_checks))
        .route("/api/jobs/{id}/aggregate", get(jobs::aggregate))
        .route("/api/jobs/{id}/cancel", post(jobs::cancel))
        .route("/api/jobs/{id}/visibility", post(jobs::visibility))
        .route("/api/realtime/job-token", get(realtime::job_token))
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
}

#[cfg(test)]
mod tests;
