//! `POST /api/node/chunks/fail`: a failed chunk goes back to pending (preferably for another
//! node) until its attempt limit; then the job fails with the reason ([`crate::lifecycle`]
//! stores it, revokes the job's other leases and publishes the ending on `jobs:{id}`).

use axum::extract::State;
use axum::Json;

use wowlab_api::node::{FailAction, FailRequest, FailResponse};

use super::wire::from_wire;
use crate::coordinator::{FailOutcome, LeaseRef};
use crate::http::signed::ClaimedNode;
use crate::http::{ApiError, Context};
use crate::lifecycle::{Ending, LifecycleError};

/// Longest stored failure reason.
const MAX_REASON: usize = 1000;

#[utoipa::path(
    post,
    path = wowlab_api::node::PATH_CHUNK_FAIL,
    tag = "node",
    summary = "Report a failed chunk",
    security(("nodeKey" = [], "nodeSignature" = [], "nodeTimestamp" = [], "nodeNonce" = [])),
    request_body = FailRequest,
    responses(
        (status = 200, description = "What happens to the chunk", body = FailResponse),
        (status = 400, description = "Malformed body or headers"),
        (status = 401, description = "Bad signature, unknown key, replayed or stale request"),
        (status = 403, description = "The node is not claimed yet (`not_claimed`)"),
        (status = 409, description = "The lease is no longer held (`stale_lease`)")
    )
)]
pub(super) async fn handle(
    State(state): State<Context>,
    req: ClaimedNode<FailRequest>,
) -> Result<Json<FailResponse>, ApiError> {
    let (node, body) = (req.node, req.body);
    let lease: LeaseRef = from_wire(body.lease);
    let reason: String = body.reason.chars().take(MAX_REASON).collect();
    let outcome = state
        .coordinator()
        .fail(node.id, lease, &reason, state.clock().now())
        .await?;
    let label = match &outcome {
        FailOutcome::Retry { .. } => "retry",
        FailOutcome::JobFailed { .. } => "job_failed",
        FailOutcome::Stale => "stale",
    };
    metrics::counter!("sentinel_chunk_failures_total", "outcome" => label).increment(1);
    match outcome {
        FailOutcome::Retry { failures } => {
            tracing::debug!(job = %lease.job, chunk = %lease.chunk, failures, "chunk failed; retrying");
            Ok(Json(FailResponse {
                action: FailAction::Retry,
            }))
        }
        FailOutcome::Stale => Err(ApiError::Stale("lease expired or reassigned")),
        FailOutcome::JobFailed { reason, revoked } => {
            match state
                .lifecycle()
                .end(lease.job, Ending::Failed { reason }, revoked, None)
                .await
            {
                Ok(_) | Err(LifecycleError::AlreadyFinished(_)) | Err(LifecycleError::NotFound) => {
                }
                Err(e) => return Err(e.into()),
            }
            Ok(Json(FailResponse {
                action: FailAction::JobFailed,
            }))
        }
    }
}
