//! `GET /api/realtime/job-token?jobId=`: a 10-minute beacon connection token plus a
//! subscription token for exactly `jobs:{id}`, only for a user who may read that job — for a
//! public job also for an anonymous visitor holding its link (subscribe-only tokens with an
//! empty subject: beacon allows no client publish anywhere).
//! `GET /api/realtime/grid-token`: the same pair for `nodes:all` (grid totals), signed-in users.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::UserError;
use crate::http::auth::{CurrentUser, MaybeUser};
use crate::http::{ApiError, Context};
use crate::tokens::{MintedToken, JOB_TOKEN_TTL};

/// Query of `GET /api/realtime/job-token`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub(super) struct JobTokenQuery {
    /// The job to follow.
    #[serde(alias = "job_id")]
    job_id: String,
}

/// Tokens to follow one job on beacon.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct JobTokens {
    /// Connection token (10 minutes).
    connection: MintedToken,
    /// Subscription token for exactly [`JobTokens::channel`].
    subscription: MintedToken,
    /// The channel, `jobs:{id}`.
    channel: String,
}

#[utoipa::path(
    get,
    path = "/api/realtime/job-token",
    tag = "realtime",
    summary = "Beacon tokens to follow one job live",
    security((), ("session" = []), ("apiToken" = [])),
    params(JobTokenQuery),
    responses(
        (status = 200, description = "Connection and subscription tokens", body = JobTokens),
        (status = 400, description = "Bad input (`field` names the offending field)"),
        (status = 404, description = "No such job (or not visible to the caller)")
    )
)]
pub(super) async fn job_token(
    State(state): State<Context>,
    MaybeUser(user): MaybeUser,
    q: Result<Query<JobTokenQuery>, QueryRejection>,
) -> Result<Json<JobTokens>, UserError> {
    let Ok(Query(q)) = q else {
        return Err(UserError::field("jobId", "jobId is required"));
    };
    let job = super::jobs::readable(&state, user.as_ref(), &q.job_id).await?;
    let user = user.map(|u| u.id);
    let minter = state.tokens();
    let now = state.clock().now();
    let internal = |e: crate::tokens::TokenError| ApiError::Internal(e.to_string());
    Ok(Json(JobTokens {
        connection: minter
            .user_connection(user, JOB_TOKEN_TTL, now)
            .map_err(internal)?,
        subscription: minter
            .job_subscription(user, job.id, JOB_TOKEN_TTL, now)
            .map_err(internal)?,
        channel: format!("jobs:{}", job.id),
    }))
}

/// `GET /api/realtime/grid-token`: a connection token and a subscription token for
/// `nodes:all`, where the sentinel publishes grid totals and node status flips (no names).
#[utoipa::path(
    get,
    path = "/api/realtime/grid-token",
    tag = "realtime",
    summary = "Beacon tokens to follow the grid's totals live (`nodes:all`)",
    security(("session" = []), ("apiToken" = [])),
    responses(
        (status = 200, description = "Connection and subscription tokens", body = JobTokens),
        (status = 401, description = "Sign-in required (or the API token expired)")
    )
)]
pub(super) async fn grid_token(
    State(state): State<Context>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<JobTokens>, ApiError> {
    let minter = state.tokens();
    let now = state.clock().now();
    let internal = |e: crate::tokens::TokenError| ApiError::Internal(e.to_string());
    Ok(Json(JobTokens {
        connection: minter
            .user_connection(Some(user.id), JOB_TOKEN_TTL, now)
            .map_err(internal)?,
        subscription: minter
            .grid_subscription(user.id, JOB_TOKEN_TTL, now)
            .map_err(internal)?,
        channel: wowlab_api::channels::NODES_ALL.to_owned(),
    }))
}
