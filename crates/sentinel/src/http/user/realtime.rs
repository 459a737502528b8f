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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JobTokenQuery {
    job_id: String,
}

#[derive(Debug, Serialize)]
pub(super) struct JobTokens {
    connection: MintedToken,
    subscription: MintedToken,
    channel: String,
}

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
