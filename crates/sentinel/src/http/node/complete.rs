//! `POST /api/node/chunks/complete`: the lease is checked, the result is stored (idempotent per
//! `job:chunk`, group-committed), then the chunk is marked done. A result on a lease the node no
//! longer holds gets 409 and the node drops that work.

use axum::extract::State;
use axum::Json;

use super::wire::{CompleteRequest, CompleteResponse};
use crate::coordinator::{CompleteOutcome, LeaseRef};
use crate::http::signed::SignedNode;
use crate::http::{ApiError, AppState};
use crate::projector::LogEntry;
use crate::store::ChunkResult;

pub(super) async fn handle(
    State(state): State<AppState>,
    req: SignedNode<CompleteRequest>,
) -> Result<Json<CompleteResponse>, ApiError> {
    let (node, body) = (req.node, req.body);
    let lease: LeaseRef = body.lease.into();
    let coord = state.coordinator();
    let now = state.clock().now();
    if !coord.is_lease_current(node.id, lease, now).await? {
        // Not held: `complete` changes nothing here and tells "already done" from "stale".
        return answer(coord.complete(node.id, lease, now).await?);
    }
    let bytes = body.result.get().as_bytes().to_vec();
    // Store first: a chunk is never marked done without its result being durable.
    state
        .store()
        .put_chunk_result(
            ChunkResult {
                job: lease.job,
                chunk: lease.chunk,
                node: Some(node.id),
                result: bytes.clone(),
            },
            now,
        )
        .await?;
    let outcome = coord.complete(node.id, lease, state.clock().now()).await?;
    if let CompleteOutcome::Completed { job_done } = outcome {
        if job_done {
            tracing::info!(job = %lease.job, "all chunks in");
        }
        if let Some(log) = state.result_log() {
            log.append(LogEntry::Result {
                job: lease.job,
                chunk: lease.chunk,
                bytes,
            });
        }
    }
    answer(outcome)
}

fn answer(outcome: CompleteOutcome) -> Result<Json<CompleteResponse>, ApiError> {
    let label = match outcome {
        CompleteOutcome::Completed { .. } => "completed",
        CompleteOutcome::AlreadyDone => "already_done",
        CompleteOutcome::Stale => "stale",
    };
    metrics::counter!("sentinel_chunk_results_total", "outcome" => label).increment(1);
    match outcome {
        CompleteOutcome::Completed { job_done } => Ok(Json(CompleteResponse {
            status: "completed".into(),
            job_done,
        })),
        CompleteOutcome::AlreadyDone => Ok(Json(CompleteResponse {
            status: "alreadyDone".into(),
            job_done: false,
        })),
        CompleteOutcome::Stale => Err(ApiError::Stale("lease expired or reassigned")),
    }
}
