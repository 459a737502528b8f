//! `POST /api/node/chunks/complete` and `POST /api/node/chunks/complete-batch`: the lease is
//! checked, the result is stored (idempotent per `job:chunk`, group-committed), then the chunk
//! is marked done (a batch's chunks in one coordinator call). A result on a lease the node no
//! longer holds gets 409 (in a batch: that item's status `stale`) and the node drops that
//! work. The batch form carries many results under one signature, so signature checks and
//! request overhead are paid once per batch.
//!
//! A result marked `refill` returns its slot as dispatch credit: the reply carries new leases
//! for it at once when pending work exists ([`Coordinator::add_credit`]), so a busy node needs
//! neither a push nor a poll between chunks; otherwise the credit waits for the dispatcher.

use axum::extract::State;
use axum::Json;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use wowlab_api::node::{
    BatchOutcome, CompleteBatchRequest, CompleteBatchResponse, CompleteRequest, CompleteResponse,
};

use super::wire::from_wire;
use crate::coordinator::{CompleteOutcome, Coordinator, LeaseRef};
use crate::domain::NodeId;
use crate::http::signed::ClaimedNode;
use crate::http::{ApiError, Context};
use crate::result_log::LogEntry;
use crate::store::ChunkResult;
use crate::store::Node;
use crate::verify::{BatchChecks, Route, VerifyError};

/// Most results in one batch.
pub const MAX_BATCH: usize = 1024;

#[utoipa::path(
    post,
    path = wowlab_api::node::PATH_CHUNK_COMPLETE,
    tag = "node",
    summary = "Report a chunk result",
    security(("nodeKey" = [], "nodeSignature" = [], "nodeTimestamp" = [], "nodeNonce" = [])),
    request_body = CompleteRequest,
    responses(
        (status = 200, description = "Stored (or already stored)", body = CompleteResponse),
        (status = 400, description = "Malformed body or headers"),
        (status = 401, description = "Bad signature, unknown key, replayed or stale request"),
        (status = 403, description = "The node is not claimed yet (`not_claimed`)"),
        (status = 409, description = "The lease is no longer held (`stale_lease`)")
    )
)]
pub(super) async fn handle(
    State(state): State<Context>,
    req: ClaimedNode<CompleteRequest>,
) -> Result<Json<CompleteResponse>, ApiError> {
    let refill = req.body.refill;
    let node = req.node.id;
    let step = screen_one(&state, node, req.body, None).await?;
    let outcome = finish(&state, node, vec![step]).await?.remove(0);
    match response(outcome) {
        Some(mut r) => {
            if refill {
                r.leases = refill_slots(&state, &req.node, 1).await?;
            }
            Ok(Json(r))
        }
        // The 409 carries no leases: the node asks for work itself after a refusal.
        None => Err(ApiError::Stale("lease expired or reassigned")),
    }
}

#[utoipa::path(
    post,
    path = wowlab_api::node::PATH_CHUNK_COMPLETE_BATCH,
    tag = "node",
    summary = "Report many chunk results",
    security(("nodeKey" = [], "nodeSignature" = [], "nodeTimestamp" = [], "nodeNonce" = [])),
    request_body = CompleteBatchRequest,
    responses(
        (status = 200, description = "One outcome per result", body = CompleteBatchResponse),
        (status = 400, description = "Malformed body or headers"),
        (status = 401, description = "Bad signature, unknown key, replayed or stale request"),
        (status = 403, description = "The node is not claimed yet (`not_claimed`)")
    )
)]
pub(super) async fn handle_batch(
    State(state): State<Context>,
    req: ClaimedNode<CompleteBatchRequest>,
) -> Result<Json<CompleteBatchResponse>, ApiError> {
    let items = req.body.results;
    let refills = items.iter().filter(|i| i.refill).count() as u32;
    if items.len() > MAX_BATCH {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_BATCH} results per batch"
        )));
    }
    // The batch's spot checks in one query rather than one per result.
    let checks = state
        .verifier()
        .prefetch(state.store(), items.iter().map(|i| from_wire(i.lease)))
        .await?;
    // Concurrently, so the result log's appends (a round trip each on JetStream) overlap; on
    // this task rather than one spawned task per result, which cost more than a tiny chunk's
    // whole screening.
    let node = req.node.id;
    let steps = futures_util::future::join_all(
        items
            .into_iter()
            .map(|item| screen_one(&state, node, item, checks.as_ref())),
    )
    .await
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    let results = finish(&state, node, steps)
        .await?
        .into_iter()
        .map(batch_outcome)
        .collect();
    if let Some(checks) = &checks {
        state.verifier().record_skips(state.store(), checks).await?;
    }
    // Every slot marked `refill` is free on the node, whatever its result's outcome.
    let leases = if refills > 0 {
        refill_slots(&state, &req.node, refills).await?
    } else {
        Vec::new()
    };
    Ok(Json(CompleteBatchResponse { results, leases }))
}

/// Credits `slots` freed slots to `node` and returns the leases granted for them at once
/// (none for a draining node, whose slots are not credited).
async fn refill_slots(
    state: &Context,
    node: &Node,
    slots: u32,
) -> Result<Vec<wowlab_api::node::ChunkLease>, ApiError> {
    let limit = super::credit_limit(node);
    if limit == 0 {
        return Ok(Vec::new());
    }
    let coord: &dyn Coordinator = state.coordinator();
    let granted = coord
        .add_credit(
            node.id,
            slots,
            limit,
            state.config().lease_ttl,
            state.clock().now(),
        )
        .await?;
    if granted.is_empty() {
        return Ok(Vec::new());
    }
    metrics::counter!("sentinel_leases_granted_total").increment(granted.len() as u64);
    metrics::counter!("sentinel_leases_refilled_total").increment(granted.len() as u64);
    Ok(state.assignments(&granted).await?)
}

/// Where one result stands after [`screen_one`].
enum Step {
    /// Answered already (stale, already done, or held for a spot check).
    Answered(CompleteOutcome),
    /// Durable (in the shared log, or stored with its log entry still to append): the chunk
    /// is to be marked done.
    Complete {
        lease: LeaseRef,
        /// The result for the in-process log, appended once the chunk is marked done.
        log: Option<LogEntry>,
    },
}

/// Checks one result's lease, screens it for a spot check and makes it durable: appended to
/// the shared log, or stored (group-committed) when the log is in-process. Marking the chunk
/// done is left to [`finish`], one coordinator call for the whole batch.
async fn screen_one(
    state: &Context,
    node: NodeId,
    body: CompleteRequest,
    checks: Option<&BatchChecks>,
) -> Result<Step, ApiError> {
    let lease: LeaseRef = from_wire(body.lease);
    let coord = state.coordinator();
    let now = state.clock().now();
    if !coord.is_lease_current(node, lease, now).await? {
        // Not held: `complete` changes nothing here and tells "already done" from "stale".
        let outcome = coord.complete(node, lease, now).await?;
        if outcome == CompleteOutcome::Stale
            && state
                .verifier()
                .ran_check(state.store(), node, lease)
                .await?
        {
            // A re-sent result a spot check took hears what a re-sent ordinary one hears.
            return Ok(Step::Answered(CompleteOutcome::AlreadyDone));
        }
        return Ok(Step::Answered(outcome));
    }
    let bytes = B64
        .decode(body.result_b64.as_bytes())
        .map_err(|e| ApiError::BadRequest(format!("result_b64 is not base64: {e}")))?;
    // A sampled result is held for a spot check; the node hears the same either way.
    let bytes = match state
        .verifier()
        .screen(state, node, lease, bytes, now, checks)
        .await
    {
        Ok(Route::Ordinary(bytes)) => bytes,
        Ok(Route::Held(outcome)) => return Ok(Step::Answered(outcome)),
        Err(VerifyError::Store(e)) => return Err(e.into()),
        Err(VerifyError::Coordinator(e)) => return Err(e.into()),
    };
    let entry = |bytes| LogEntry::Result {
        job: lease.job,
        chunk: lease.chunk,
        fence: lease.fence,
        bytes,
        node: Some(node),
    };
    let log = state.result_log();
    if log.durable() {
        // The shared log is the durable record: appended before the chunk is marked done
        // (and so before the node hears back); the leader's projector persists it.
        log.append(entry(bytes)).await?;
        return Ok(Step::Complete { lease, log: None });
    }
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
    Ok(Step::Complete {
        lease,
        log: Some(entry(bytes)),
    })
}

/// Marks the durable results' chunks done in one coordinator call, then appends the
/// completed ones to the in-process log (stored first, logged once done, as before the
/// batch); one outcome per step, in order.
async fn finish(
    state: &Context,
    node: NodeId,
    steps: Vec<Step>,
) -> Result<Vec<CompleteOutcome>, ApiError> {
    let leases: Vec<LeaseRef> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Complete { lease, .. } => Some(*lease),
            Step::Answered(_) => None,
        })
        .collect();
    let mut completed = state
        .coordinator()
        .complete_many(node, &leases, state.clock().now())
        .await?
        .into_iter();
    let mut outcomes = Vec::with_capacity(steps.len());
    let mut appends = Vec::new();
    for step in steps {
        let outcome = match step {
            Step::Answered(outcome) => outcome,
            Step::Complete { lease, log } => {
                let outcome = completed
                    .next()
                    .ok_or_else(|| ApiError::Internal("coordinator answered too few".into()))?;
                if let CompleteOutcome::Completed { job_done } = outcome {
                    if job_done {
                        tracing::info!(job = %lease.job, "all chunks in");
                    }
                    appends.extend(log);
                }
                outcome
            }
        };
        outcomes.push(outcome);
    }
    // The in-process log: an append is a queue push, no I/O to overlap.
    let log = state.result_log();
    for entry in appends {
        log.append(entry).await?;
    }
    Ok(outcomes)
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
        CompleteOutcome::Completed { .. } => Some(CompleteResponse {
            accepted: true,
            leases: Vec::new(),
        }),
        CompleteOutcome::AlreadyDone => Some(CompleteResponse {
            accepted: false,
            leases: Vec::new(),
        }),
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
