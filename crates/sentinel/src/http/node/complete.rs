//! `POST /api/node/chunks/complete` and `POST /api/node/chunks/complete-batch`: the lease is
//! checked, the result is stored (idempotent per `job:chunk`, group-committed), then the chunk
//! is marked done. A result on a lease the node no longer holds gets 409 (in a batch: that
//! item's status `stale`) and the node drops that work. The batch form carries many results
//! under one signature, so signature checks and request overhead are paid once per batch.

use axum::extract::State;
use axum::Json;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use tokio::task::JoinSet;
use wowlab_api::node::{
    BatchOutcome, CompleteBatchRequest, CompleteBatchResponse, CompleteRequest, CompleteResponse,
};

use super::wire::from_wire;
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
        results[i] = Some(batch_outcome(outcome?));
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
    let lease: LeaseRef = from_wire(body.lease);
    let coord = state.coordinator();
    let now = state.clock().now();
    if !coord.is_lease_current(node, lease, now).await? {
        // Not held: `complete` changes nothing here and tells "already done" from "stale".
        return Ok(coord.complete(node, lease, now).await?);
    }
    let bytes = B64
        .decode(body.result_b64.as_bytes())
        .map_err(|e| ApiError::BadRequest(format!("result_b64 is not base64: {e}")))?;
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
                node: Some(node),
            });
        }
    }
    Ok(outcome)
}

/// Counts the outcome by label.
fn count(outcome: &CompleteOutcome) {
    let label = match outcome {
        CompleteOutcome::Completed { .. } => "completed",
        CompleteOutcome::AlreadyDone => "already_done",
        CompleteOutcome::Stale => "stale",
    };
    metrics::counter!("sentinel_chunk_results_total", "outcome" => label).increment(1);
}

/// The success body, or `None` for a stale lease.
fn response(outcome: CompleteOutcome) -> Option<CompleteResponse> {
    count(&outcome);
    match outcome {
        CompleteOutcome::Completed { .. } => Some(CompleteResponse { accepted: true }),
        CompleteOutcome::AlreadyDone => Some(CompleteResponse { accepted: false }),
        CompleteOutcome::Stale => None,
    }
}

/// One item's answer inside a batch.
fn batch_outcome(outcome: CompleteOutcome) -> BatchOutcome {
    count(&outcome);
    match outcome {
        CompleteOutcome::Completed { .. } => BatchOutcome::Accepted,
        CompleteOutcome::AlreadyDone => BatchOutcome::AlreadyDone,
        CompleteOutcome::Stale => BatchOutcome::Stale,
    }
}
