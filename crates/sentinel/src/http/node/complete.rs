//! `POST /api/node/chunks/complete` and `POST /api/node/chunks/complete-batch`: the lease is
//! checked, the result is stored (idempotent per `job:chunk`, group-committed), then the chunk
//! is marked done. A result on a lease the node no longer holds gets 409 (in a batch: that
//! item's status `stale`) and the node drops that work. The batch form carries many results
//! under one signature, so signature checks and request overhead are paid once per batch.

use axum::extract::State;
use axum::Json;
use tokio::task::JoinSet;

use super::wire::{CompleteBatchRequest, CompleteBatchResponse, CompleteRequest, CompleteResponse};
use crate::coordinator::{CompleteOutcome, LeaseRef};
use crate::domain::NodeId;
use crate::http::signed::SignedNode;
use crate::http::{ApiError, AppState};
use crate::projector::LogEntry;
use crate::store::ChunkResult;

/// Most results in one batch.
pub const MAX_BATCH: usize = 1024;

pub(super) async fn handle(
    State(state): State<AppState>,
    req: SignedNode<CompleteRequest>,
) -> Result<Json<CompleteResponse>, ApiError> {
    let outcome = complete_one(&state, req.node.id, req.body).await?;
    match response(outcome) {
        Some(r) => Ok(Json(r)),
        None => Err(ApiError::Stale("lease expired or reassigned")),
    }
}

pub(super) async fn handle_batch(
    State(state): State<AppState>,
    req: SignedNode<CompleteBatchRequest>,
) -> Result<Json<CompleteBatchResponse>, ApiError> {
    let items = req.body.results;
    if items.len() > MAX_BATCH {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_BATCH} results per batch"
        )));
    }
    // Concurrently, so the group-commit writer sees the whole batch at once.
    let mut set = JoinSet::new();
    for (i, item) in items.into_iter().enumerate() {
        let state = state.clone();
        let node = req.node.id;
        set.spawn(async move { (i, complete_one(&state, node, item).await) });
    }
    let mut results = vec![None; set.len()];
    while let Some(joined) = set.join_next().await {
        let (i, outcome) = joined.map_err(|e| ApiError::Internal(e.to_string()))?;
        results[i] = Some(response(outcome?).unwrap_or(CompleteResponse {
            status: "stale".into(),
            job_done: false,
        }));
    }
    Ok(Json(CompleteBatchResponse {
        results: results.into_iter().flatten().collect(),
    }))
}

/// Stores and completes one result; `Stale` when the lease is not held.
async fn complete_one(
    state: &AppState,
    node: NodeId,
    body: CompleteRequest,
) -> Result<CompleteOutcome, ApiError> {
    let lease: LeaseRef = body.lease.into();
    let coord = state.coordinator();
    let now = state.clock().now();
    if !coord.is_lease_current(node, lease, now).await? {
        // Not held: `complete` changes nothing here and tells "already done" from "stale".
        return Ok(coord.complete(node, lease, now).await?);
    }
    let bytes = body.result.get().as_bytes().to_vec();
    // Store first: a chunk is never marked done without its result being durable.
    state
        .store()
        .put_chunk_result(
            ChunkResult {
                job: lease.job,
                chunk: lease.chunk,
                node: Some(node),
                result: bytes.clone(),
            },
            now,
        )
        .await?;
    let outcome = coord.complete(node, lease, state.clock().now()).await?;
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
    Ok(outcome)
}

/// The success body, or `None` for a stale lease.
fn response(outcome: CompleteOutcome) -> Option<CompleteResponse> {
    let label = match outcome {
        CompleteOutcome::Completed { .. } => "completed",
        CompleteOutcome::AlreadyDone => "already_done",
        CompleteOutcome::Stale => "stale",
    };
    metrics::counter!("sentinel_chunk_results_total", "outcome" => label).increment(1);
    match outcome {
        CompleteOutcome::Completed { job_done } => Some(CompleteResponse {
            status: "completed".into(),
            job_done,
        }),
        CompleteOutcome::AlreadyDone => Some(CompleteResponse {
            status: "alreadyDone".into(),
            job_done: false,
        }),
        CompleteOutcome::Stale => None,
    }
}
