//! Operator review of nodes that spot checks found wrong (README "Trusting volunteer
//! results"): administrators release a quarantined node or quarantine one by hand. The
//! record behind the decision is in `chunk_checks` (nodes, hashes, verdicts) and in the
//! node's `trust` on `GET /api/nodes`.

use axum::extract::{Path, State};
use axum::Json;

use crate::domain::NodeId;
use crate::http::auth::{CurrentUser, MaybeUser};
use crate::http::{ApiError, Context};
use crate::store::{CheckCounts, JobReview, NodeTrust};
use crate::verify::VerifyError;

async fn admin_node(state: &Context, admin: bool, id: &str) -> Result<NodeId, ApiError> {
    if !admin {
        return Err(ApiError::AdminOnly);
    }
    let id: NodeId = id.parse().map_err(|_| ApiError::NotFound("no such node"))?;
    state
        .store()
        .node_by_id(id)
        .await?
        .ok_or(ApiError::NotFound("no such node"))?;
    Ok(id)
}

async fn trust_of(state: &Context, id: NodeId) -> Result<NodeTrust, ApiError> {
    Ok(state
        .store()
        .node_trust()
        .await?
        .into_iter()
        .find(|(n, _)| *n == id)
        .map(|(_, t)| t)
        .unwrap_or_default())
}

/// `POST /api/admin/nodes/{id}/release`: the node may take work again once its owner resumes
/// it (it stays draining); its record keeps the failure.
#[utoipa::path(
    post,
    path = "/api/admin/nodes/{id}/release",
    tag = "admin",
    summary = "Release a quarantined node (administrators only)",
    security(("session" = []), ("apiToken" = [])),
    params(("id" = String, Path, description = "Node id")),
    responses(
        (status = 200, description = "The node's spot-check record now", body = NodeTrust),
        (status = 401, description = "Sign-in required (or the API token expired)"),
        (status = 403, description = "Only an administrator may do this"),
        (status = 404, description = "No such node")
    )
)]
pub(super) async fn release(
    State(state): State<Context>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<NodeTrust>, ApiError> {
    let id = admin_node(&state, user.is_admin, &id).await?;
    state.store().set_node_quarantine(id, None).await?;
    tracing::info!(node = %id, by = %user.id, "node released from quarantine");
    Ok(Json(trust_of(&state, id).await?))
}

/// `POST /api/admin/nodes/{id}/quarantine`: quarantines a node by hand, with the same effect
/// as a failed spot check (no more work, its results in unfinished jobs recomputed).
#[utoipa::path(
    post,
    path = "/api/admin/nodes/{id}/quarantine",
    tag = "admin",
    summary = "Quarantine a node by hand (administrators only)",
    security(("session" = []), ("apiToken" = [])),
    params(("id" = String, Path, description = "Node id")),
    responses(
        (status = 200, description = "The node's spot-check record now", body = NodeTrust),
        (status = 401, description = "Sign-in required (or the API token expired)"),
        (status = 403, description = "Only an administrator may do this"),
        (status = 404, description = "No such node")
    )
)]
pub(super) async fn quarantine(
    State(state): State<Context>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<NodeTrust>, ApiError> {
    let id = admin_node(&state, user.is_admin, &id).await?;
    let nodes = state.store().list_nodes(None).await?;
    let now = state.clock().now();
    state
        .verifier()
        .quarantine(&state, &nodes, id, now)
        .await
        .map_err(|e| match e {
            VerifyError::Store(e) => ApiError::from(e),
            VerifyError::Coordinator(e) => ApiError::from(e),
        })?;
    tracing::info!(node = %id, by = %user.id, "node quarantined by an administrator");
    Ok(Json(trust_of(&state, id).await?))
}

/// A job's spot checks by outcome and its reviews, step by step.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct JobChecks {
    /// Spot checks by outcome.
    #[serde(flatten)]
    counts: CheckCounts,
    /// Whether the job is under review: a node found wrong computed some of its chunks, and
    /// they are being recomputed on other owners' nodes (a completed job's result is then
    /// corrected).
    under_review: bool,
    /// Chunks being recomputed in the open review (0 when not under review).
    review_chunks: u32,
    /// Every review, oldest first: which chunks, which nodes computed them before and after,
    /// and the SHA-256 of each result and of the job's result before and after.
    reviews: Vec<JobReview>,
}

/// `GET /api/jobs/{id}/checks`: how many of the job's chunks were cross-checked by another
/// owner's node, how many checks are pending, found a wrong result or were skipped, and the
/// job's reviews (readable by whoever may read the job).
#[utoipa::path(
    get,
    path = "/api/jobs/{id}/checks",
    tag = "jobs",
    summary = "How many of a job's chunks were cross-checked by another owner's node",
    security((), ("session" = []), ("apiToken" = [])),
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "Spot checks by outcome and reviews", body = JobChecks),
        (status = 404, description = "No such job (or not visible to the caller)")
    )
)]
pub(super) async fn job_checks(
    State(state): State<Context>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
) -> Result<Json<JobChecks>, ApiError> {
    let job = super::jobs::readable(&state, user.as_ref(), &id).await?;
    let reviews = state.store().job_reviews(job.id).await?;
    let open = reviews.iter().find(|r| r.is_open());
    Ok(Json(JobChecks {
        counts: state.store().job_check_counts(job.id).await?,
        under_review: open.is_some(),
        review_chunks: open.map_or(0, |r| r.chunks.len() as u32),
        reviews,
    }))
}
