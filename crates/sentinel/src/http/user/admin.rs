//! Grid-wide settings for administrators: the fair-use quotas every user is held to.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;

use super::body::JsonBody;
use super::error::UserError;
use crate::http::auth::CurrentUser;
use crate::http::security::quota::{self, Quotas};
use crate::http::{ApiError, Context};

/// New quotas; an absent field keeps its current value.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct QuotaChange {
    /// Jobs pending or running at once, per user.
    #[serde(alias = "max_active_jobs")]
    max_active_jobs: Option<u32>,
    /// Iterations not yet merged, per user.
    #[serde(alias = "max_queued_iterations")]
    max_queued_iterations: Option<u64>,
}

async fn current(state: &Context) -> Result<Quotas, ApiError> {
    Ok(quota::current(state.store(), state.security().config().quotas).await?)
}

/// `GET /api/admin/quotas` (any signed-in user may read the limits they are held to).
#[utoipa::path(
    get,
    path = "/api/admin/quotas",
    tag = "admin",
    summary = "The fair-use quotas in force",
    security(("session" = []), ("apiToken" = [])),
    responses(
        (status = 200, description = "The quotas", body = Quotas),
        (status = 401, description = "Sign-in required (or the API token expired)")
    )
)]
pub(super) async fn quotas(
    State(state): State<Context>,
    CurrentUser(_): CurrentUser,
) -> Result<Json<Quotas>, ApiError> {
    Ok(Json(current(&state).await?))
}

/// `PUT /api/admin/quotas` (administrators only).
#[utoipa::path(
    put,
    path = "/api/admin/quotas",
    tag = "admin",
    summary = "Change the fair-use quotas (administrators only)",
    security(("session" = []), ("apiToken" = [])),
    request_body = QuotaChange,
    responses(
        (status = 200, description = "The quotas now", body = Quotas),
        (status = 400, description = "Bad input (`field` names the offending field)"),
        (status = 401, description = "Sign-in required (or the API token expired)"),
        (status = 403, description = "Only an administrator may do this")
    )
)]
pub(super) async fn set_quotas(
    State(state): State<Context>,
    CurrentUser(user): CurrentUser,
    JsonBody(change): JsonBody<QuotaChange>,
) -> Result<Json<Quotas>, UserError> {
    if !user.is_admin {
        return Err(ApiError::AdminOnly.into());
    }
    let old = current(&state).await?;
    let new = Quotas {
        max_active_jobs: change.max_active_jobs.unwrap_or(old.max_active_jobs),
        max_queued_iterations: change
            .max_queued_iterations
            .unwrap_or(old.max_queued_iterations),
    };
    if new.max_queued_iterations > i64::MAX as u64 {
        return Err(UserError::field(
            "maxQueuedIterations",
            format!("maxQueuedIterations must be at most {}", i64::MAX),
        ));
    }
    quota::set(state.store(), new).await?;
    tracing::info!(by = %user.id, ?new, "fair-use quotas changed");
    Ok(Json(new))
}
