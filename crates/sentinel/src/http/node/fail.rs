//! `POST /api/node/chunks/fail`: a failed chunk goes back to pending (preferably for another
//! node) until its attempt limit; then the job fails with the reason, stored with a
//! version-checked transition, and the job's other leases are revoked on `chunks:{node}`.

use axum::extract::State;
use axum::Json;

use wowlab_api::channels::{self, ChunkMessage};
use wowlab_api::node::{FailAction, FailRequest, FailResponse};

use super::wire::{from_wire, to_wire};
use crate::coordinator::{FailOutcome, LeaseRef};
use crate::domain::{JobId, JobStatus};
use crate::http::signed::SignedNode;
use crate::http::{ApiError, AppState};
use crate::store::{StoreError, TransitionData};

/// Longest stored failure reason.
const MAX_REASON: usize = 1000;

pub(super) async fn handle(
    State(state): State<AppState>,
    req: SignedNode<FailRequest>,
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
            fail_job(&state, lease.job, reason).await?;
            for r in revoked {
                let push = ChunkMessage::Cancel {
                    lease: to_wire(r.lease),
                    reason: "job failed".into(),
                };
                // Best effort: the node also learns it at its next heartbeat.
                if let Err(e) = state
                    .funnel()
                    .publish(&channels::chunks(r.node), &push)
                    .await
                {
                    tracing::warn!(error = %e, "could not push a lease revocation");
                }
            }
            state.forget_job(lease.job);
            Ok(Json(FailResponse {
                action: FailAction::JobFailed,
            }))
        }
    }
}

/// Moves the job to `failed` with the reason unless it already reached a terminal status.
async fn fail_job(state: &AppState, job: JobId, reason: String) -> Result<(), ApiError> {
    // A concurrent writer can bump the version between read and write; a few rounds settle it.
    for _ in 0..3 {
        let Some(current) = state.store().job(job).await? else {
            return Ok(());
        };
        if current.status.is_terminal() {
            return Ok(());
        }
        match state
            .store()
            .transition_job(
                job,
                current.status,
                JobStatus::Failed,
                current.version,
                TransitionData {
                    result: None,
                    failure_reason: Some(reason.clone()),
                },
                state.clock().now(),
            )
            .await
        {
            Ok(_) => return Ok(()),
            Err(StoreError::VersionConflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Unavailable(
        "job kept changing while failing it".into(),
    ))
}
