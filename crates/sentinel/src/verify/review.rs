//! Reviews of a quarantined node's results (README "Trusting volunteer results"): which jobs
//! are under review, the leader's sweep that carries open rounds to their end, and the
//! owner's notification. Opening and closing a round belongs to the lifecycle
//! ([`crate::lifecycle::JobLifecycle::begin_review`]); the projector merges a completed job's
//! recomputed chunks into its corrected result.

use std::collections::HashMap;

use serde::Serialize;

use super::{any_checker, owners_of, result_hash, VerifyError};
use crate::context::Context;
use crate::coordinator::CoordinatorError;
use crate::domain::{ChunkIndex, JobId, JobStatus, NodeId, UnixMillis, UserId};
use crate::result_log::LogEntry;
use crate::store::{JobReview, Node, ReviewedChunk, Store, StoreError};

/// The open review of a completed job, whose corrected result the projector merges; `None`
/// if the job is not under review (or its open round is of chunks of a running job).
pub async fn open_review(store: &dyn Store, job: JobId) -> Result<Option<JobReview>, StoreError> {
    Ok(store
        .job_reviews(job)
        .await?
        .into_iter()
        .find(|r| r.is_open() && r.job_status == JobStatus::Completed))
}

/// What the leader's sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Chunks whose bar was lifted: no online node of another owner could take them.
    pub released: usize,
    /// Completed jobs scheduled again (coordination state was lost).
    pub rescheduled: usize,
    /// Rounds closed without a correction (the job finished or ended otherwise).
    pub closed: usize,
    /// Completed jobs whose recomputed chunks are all in: the projector was told to correct.
    pub kicked: usize,
}

/// Carries every open round on: lifts the bar from chunks no online node of another owner
/// can take (so they are re-leased and the job finishes), schedules a completed job under
/// review again if the coordinator lost it, tells the projector to correct a job whose
/// chunks are all in, and closes rounds of jobs that ended otherwise. Run by the leader.
pub async fn sweep(ctx: &Context) -> Result<SweepReport, VerifyError> {
    let (store, coord) = (ctx.store(), ctx.coordinator());
    let open = store.open_job_reviews().await?;
    let mut report = SweepReport::default();
    if open.is_empty() {
        return Ok(report);
    }
    let nodes = store.list_nodes(None).await?;
    for review in open {
        let Some(job) = store.job(review.job).await? else {
            continue;
        };
        let stored: HashMap<ChunkIndex, ReviewedChunk> = store
            .chunk_results(job.id)
            .await?
            .into_iter()
            .filter(|r| review.chunks.iter().any(|c| c.chunk == r.chunk))
            .map(|r| {
                let origin = ReviewedChunk {
                    chunk: r.chunk,
                    node: r.node,
                    hash: result_hash(&r.result),
                };
                (r.chunk, origin)
            })
            .collect();
        let all_in = stored.len() == review.chunks.len();
        let lifecycle = ctx.lifecycle();
        match (job.status, review.job_status) {
            (JobStatus::Running, _) | (JobStatus::Completed, JobStatus::Completed) if !all_in => {
                if job.status == JobStatus::Completed
                    && matches!(
                        coord.job_progress(job.id).await,
                        Err(CoordinatorError::UnknownJob(_))
                    )
                {
                    // Lost with the coordination state: the missing chunks go to any node
                    // (the quarantined one gets no work).
                    let (spec, done) =
                        crate::recovery::scheduled(store, &job, ctx.config().max_attempts).await?;
                    coord.restore_job(spec, &done).await?;
                    report.rescheduled += 1;
                }
                for c in review
                    .chunks
                    .iter()
                    .filter(|c| !stored.contains_key(&c.chunk))
                {
                    let owners = owners_of(&nodes, [c.old_node]);
                    if job.status == JobStatus::Completed {
                        // A chunk done in the coordinator without a stored result (its reopen
                        // failed half-way) would hold the correction forever: reopened here.
                        // One not done (pending or leased) is left as it is.
                        let mut avoid = super::nodes_of(&nodes, &owners, None);
                        avoid.extend(c.old_node);
                        match coord.reopen(job.id, c.chunk, &avoid).await {
                            Ok(_) | Err(CoordinatorError::UnknownJob(_)) => {}
                            Err(e) => return Err(e.into()),
                        }
                    }
                    if any_checker(&nodes, &owners) {
                        continue;
                    }
                    match coord.release_avoid(job.id, c.chunk).await {
                        Ok(true) => {
                            tracing::info!(job = %job.id, chunk = %c.chunk,
                                "no node of another owner online; any node may recompute it");
                            report.released += 1;
                        }
                        Ok(false) | Err(CoordinatorError::UnknownJob(_)) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            (JobStatus::Running, _) => {
                // Recomputed while the job runs: it finishes as usual with them.
                lifecycle
                    .close_review(&review, stored.into_values().collect(), None)
                    .await?;
                report.closed += 1;
            }
            (JobStatus::Completed, JobStatus::Completed) => {
                let done = match coord.job_progress(job.id).await {
                    Ok(p) => p.done >= p.chunk_count,
                    Err(_) => true,
                };
                if done {
                    if let Err(e) = ctx.result_log().append(LogEntry::Kick(job.id)).await {
                        tracing::warn!(job = %job.id, error = %e, "projector not kicked");
                    } else {
                        report.kicked += 1;
                    }
                }
            }
            (status, _) => {
                let note = (status != JobStatus::Completed)
                    .then(|| format!("the job {status} before its review finished"));
                lifecycle
                    .close_review(&review, stored.into_values().collect(), note)
                    .await?;
                report.closed += 1;
            }
        }
    }
    Ok(report)
}

/// The webhook body of a quarantine.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Quarantined {
    /// The node.
    pub node_id: NodeId,
    /// Its name.
    pub name: String,
    /// Its owner, who is told.
    pub owner_id: Option<UserId>,
    /// When.
    pub quarantined_at: UnixMillis,
    /// Jobs whose results from it are recomputed (running ones and completed ones under
    /// review), with how many chunks each.
    pub jobs: Vec<ReviewedJob>,
}

/// One job of a [`Quarantined`] notification.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewedJob {
    /// The job.
    pub job_id: JobId,
    /// Its status when the review opened.
    pub status: JobStatus,
    /// Chunks recomputed.
    pub chunks: usize,
}

/// Tells the owner through the webhook, when one is configured (posted off the caller's
/// path: a notification, never a delivery guarantee).
pub(super) fn notify_quarantine(
    ctx: &Context,
    nodes: &[Node],
    node: NodeId,
    reviews: &[JobReview],
    now: UnixMillis,
) {
    let Some(hook) = ctx.webhook().cloned() else {
        return;
    };
    let n = nodes.iter().find(|n| n.id == node);
    let body = Quarantined {
        node_id: node,
        name: n.map(|n| n.name.clone()).unwrap_or_default(),
        owner_id: n.and_then(|n| n.owner),
        quarantined_at: now,
        jobs: reviews
            .iter()
            .map(|r| ReviewedJob {
                job_id: r.job,
                status: r.job_status,
                chunks: r.chunks.len(),
            })
            .collect(),
    };
    tokio::spawn(async move {
        hook.notify_quarantine(&body).await;
    });
}
