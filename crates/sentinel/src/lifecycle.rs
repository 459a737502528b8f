//! The one owner of a job's endings: completed (the projector merged every chunk), failed
//! (a chunk hit its retry limit, or a result could not be merged) and cancelled (the owner or
//! an admin). Each ending is a version-checked store transition followed by the same steps, in
//! the same order, whoever triggered it: unschedule the job in the coordinator, revoke the
//! leases still out on `chunks:{node}`, publish the final message on `jobs:{id}`, count it, and
//! free what the instance held in memory for the job (lease facts, projector accumulator).
//!
//! Handlers and the projector call these methods; nothing else moves a job to a terminal
//! status.
//!
//! Reviews live here too ([`JobLifecycle::begin_review`], [`JobLifecycle::end_review`]): when
//! a node is quarantined, the chunks it computed for a running or completed job are recorded,
//! their results deleted and the chunks scheduled again on other owners' nodes. The job's
//! status never moves for a review (a completed job stays completed, so every status
//! transition stays as the lifecycle allows); the open review round is its own state, shown
//! as "under review". A completed job's review ends with its corrected result stored and the
//! final message published again with the corrected report.

use std::sync::Arc;

use wowlab_api::channels::{self, ChunkMessage, JobMessage, JobProgress as WireProgress};

use crate::coordinator::{Coordinator, CoordinatorError, RevokedLease};
use crate::domain::{ChunkIndex, Clock, JobId, JobStatus, NodeId};
use crate::facts::JobFacts;
use crate::publish::Funnel;
use crate::result_log::{LogEntry, ResultLog};
use crate::store::{
    Job, JobReview, LeaderFence, ReviewChunk, ReviewClose, ReviewedChunk, Store, StoreError,
    TransitionData,
};
use crate::wire::to_wire;

/// Version conflicts one ending retries before giving up (each retry re-reads the job).
const MAX_ROUNDS: usize = 8;

/// Why an ending could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// No such job.
    #[error("no such job")]
    NotFound,
    /// The job had already ended (with this status).
    #[error("the job has already finished ({0})")]
    AlreadyFinished(JobStatus),
    /// Concurrent writers kept bumping the job's version.
    #[error("the job kept changing; try again")]
    Contended,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How a job ends, with what the ending stores.
#[derive(Debug, Clone)]
pub enum Ending {
    /// Every chunk merged: the final result bytes and the report for the final message.
    Completed {
        /// Stored result.
        result: Vec<u8>,
        /// Report JSON published with the final message.
        report: Option<serde_json::Value>,
    },
    /// The job cannot finish.
    Failed {
        /// Shown to the owner and published.
        reason: String,
    },
    /// Stopped by a user.
    Cancelled {
        /// Who (stored, not published: the channel may be public).
        by: String,
    },
}

impl Ending {
    fn status(&self) -> JobStatus {
        match self {
            Self::Completed { .. } => JobStatus::Completed,
            Self::Failed { .. } => JobStatus::Failed,
            Self::Cancelled { .. } => JobStatus::Cancelled,
        }
    }

    fn stored(&self) -> TransitionData {
        match self {
            Self::Completed { result, .. } => TransitionData {
                result: Some(result.clone()),
                failure_reason: None,
                fence: None,
            },
            Self::Failed { reason } => TransitionData {
                result: None,
                failure_reason: Some(reason.clone()),
                fence: None,
            },
            Self::Cancelled { by } => TransitionData {
                result: None,
                failure_reason: Some(format!("cancelled by {by}")),
                fence: None,
            },
        }
    }
}

/// Why a review step failed (the leader's sweep retries it).
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// No such job.
    #[error("no such job")]
    NotFound,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The coordinator failed.
    #[error(transparent)]
    Coordinator(#[from] CoordinatorError),
}

/// Ends jobs. Cheap to clone.
#[derive(Clone)]
pub struct JobLifecycle {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    coordinator: Arc<dyn Coordinator>,
    funnel: Funnel,
    clock: Arc<dyn Clock>,
    facts: Arc<JobFacts>,
    log: Arc<dyn ResultLog>,
}

impl JobLifecycle {
    /// The lifecycle over these engines; `facts` and `log` are told when a job's memory can go.
    pub fn new(
        store: Arc<dyn Store>,
        coordinator: Arc<dyn Coordinator>,
        funnel: Funnel,
        clock: Arc<dyn Clock>,
        facts: Arc<JobFacts>,
        log: Arc<dyn ResultLog>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                coordinator,
                funnel,
                clock,
                facts,
                log,
            }),
        }
    }

    /// Ends `job` as `ending` unless it already ended. `revoked` are leases the caller already
    /// took back from the coordinator (a retry-limit failure); `progress` is the caller's last
    /// word on the job (the projector's), otherwise the coordinator's counts are used.
    /// Returns the job as stored after the transition.
    pub async fn end(
        &self,
        job: JobId,
        ending: Ending,
        revoked: Vec<RevokedLease>,
        progress: Option<WireProgress>,
    ) -> Result<Job, LifecycleError> {
        self.end_fenced(job, ending, revoked, progress, None).await
    }

    /// [`Self::end`] written by the holder of a leader lock: the store refuses the transition
    /// ([`StoreError::StaleLeader`]) if a newer holder of `fence.lock` already wrote.
    pub async fn end_fenced(
        &self,
        job: JobId,
        ending: Ending,
        revoked: Vec<RevokedLease>,
        progress: Option<WireProgress>,
        fence: Option<LeaderFence>,
    ) -> Result<Job, LifecycleError> {
        let to = ending.status();
        let progress = match progress {
            Some(p) => Some(p),
            None => self.coordinator_progress(job).await,
        };
        let data = TransitionData {
            fence,
            ..ending.stored()
        };
        let ended = self.transition(job, to, data).await?;
        let mut revoked = revoked;
        match self.inner.coordinator.cancel_job(job).await {
            Ok(more) => revoked.extend(more),
            Err(CoordinatorError::UnknownJob(_)) => {}
            Err(e) => tracing::warn!(job = %job, error = %e, "ended job not unscheduled"),
        }
        self.revoke(&revoked, to).await;
        let (reason, report) = match ending {
            Ending::Completed { report, .. } => (None, report),
            Ending::Failed { reason } => (Some(reason), None),
            Ending::Cancelled { .. } => (None, None),
        };
        let progress = progress.unwrap_or_else(|| WireProgress {
            chunks_total: ended.chunk_count,
            iterations_total: ended.iterations,
            ..WireProgress::default()
        });
        let message = JobMessage::Finished {
            status: to.as_str().into(),
            reason,
            result: report,
            progress,
        };
        if let Err(e) = self
            .inner
            .funnel
            .publish(&channels::job(job), &message)
            .await
        {
            // The store holds the ending; a watcher polling the job still sees it.
            tracing::warn!(job = %job, error = %e, "job ending not published");
        }
        metrics::counter!("sentinel_jobs_finished_total", "status" => to.as_str()).increment(1);
        self.inner.facts.forget(job);
        if let Err(e) = self.inner.log.append(LogEntry::Ended(job)).await {
            // The projector forgets the job anyway when it next loads it as not running.
            tracing::warn!(job = %job, error = %e, "job ending not logged for the projector");
        }
        Ok(ended)
    }

    /// Puts `chunks` of `job` under review because `node` (which computed them) was
    /// quarantined: records each chunk's origin and result hash, deletes the results and
    /// schedules the chunks again, barred from `avoid`. A running job's chunks are reopened
    /// first (so it cannot finish while they are missing); a completed job is scheduled again
    /// with only those chunks pending and keeps its status and its result until the review
    /// corrects it. Returns the open round, or `None` if the job is neither running nor
    /// completed or holds none of those chunks from `node`.
    pub async fn begin_review(
        &self,
        job: JobId,
        node: NodeId,
        chunks: &[ChunkIndex],
        avoid: &[NodeId],
        max_attempts: u32,
    ) -> Result<Option<JobReview>, ReviewError> {
        let (store, coord) = (&self.inner.store, &self.inner.coordinator);
        let j = store.job(job).await?.ok_or(ReviewError::NotFound)?;
        if !matches!(j.status, JobStatus::Running | JobStatus::Completed) {
            return Ok(None);
        }
        let rows: Vec<ReviewChunk> = store
            .chunk_results(job)
            .await?
            .into_iter()
            .filter(|r| r.node == Some(node) && chunks.contains(&r.chunk))
            .map(|r| ReviewChunk {
                chunk: r.chunk,
                old_node: r.node,
                old_hash: crate::verify::result_hash(&r.result),
                new_node: None,
                new_hash: None,
            })
            .collect();
        if rows.is_empty() {
            return Ok(None);
        }
        let mut rows = rows;
        if j.status == JobStatus::Running {
            let mut kept = Vec::new();
            for r in rows {
                // Reopened first: the job cannot finish while its chunk is pending again.
                match coord.reopen(job, r.chunk, avoid).await {
                    Ok(true) => kept.push(r),
                    Ok(false) | Err(CoordinatorError::UnknownJob(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            if kept.is_empty() {
                return Ok(None);
            }
            rows = kept;
        }
        let old = j.result.as_deref().map(crate::verify::result_hash);
        let now = self.inner.clock.now();
        let review = store.open_job_review(job, node, old, &rows, now).await?;
        if j.status == JobStatus::Completed {
            // Recorded first (the results are gone): if scheduling fails, the leader's sweep
            // ([`crate::verify::Verifier::sweep_reviews`]) schedules the missing chunks again.
            self.reschedule(&j, &rows, avoid, max_attempts).await?;
            tracing::warn!(job = %job, node = %node, chunks = review.chunks.len(),
                "completed job under review: a quarantined node's results are recomputed");
        }
        if let Err(e) = self.inner.log.append(LogEntry::Ended(job)).await {
            tracing::warn!(job = %job, error = %e, "projector not told to rebuild the job");
        }
        if let Err(e) = self.inner.log.append(LogEntry::Kick(job)).await {
            tracing::warn!(job = %job, error = %e, "projector not told to rebuild the job");
        }
        Ok(Some(review))
    }

    /// Schedules a completed job again with `rows`' chunks pending (barred from `avoid`) and
    /// every other chunk done.
    async fn reschedule(
        &self,
        j: &Job,
        rows: &[ReviewChunk],
        avoid: &[NodeId],
        max_attempts: u32,
    ) -> Result<(), ReviewError> {
        let coord = &self.inner.coordinator;
        let (spec, _) = crate::recovery::scheduled(&*self.inner.store, j, max_attempts).await?;
        let all: Vec<ChunkIndex> = (0..spec.chunk_count).map(ChunkIndex).collect();
        // Scheduled all done, then reopened with the bar (a job still scheduled from an open
        // round keeps its state: `restore_job` changes nothing then).
        coord.restore_job(spec, &all).await?;
        for r in rows {
            coord.reopen(j.id, r.chunk, avoid).await?;
        }
        Ok(())
    }

    /// Closes `review`: a completed job's corrected `result` is stored (its status and
    /// ending stay), the job is unscheduled again and the final message is published again
    /// with the corrected `report`. `chunks` are the recomputed chunks' new origins.
    pub async fn end_review(
        &self,
        review: &JobReview,
        result: Vec<u8>,
        report: Option<serde_json::Value>,
        chunks: Vec<ReviewedChunk>,
        progress: WireProgress,
        fence: Option<LeaderFence>,
    ) -> Result<Job, StoreError> {
        let job = review.job;
        let hash = crate::verify::result_hash(&result);
        let close = ReviewClose {
            result: Some((result, hash.clone())),
            chunks,
            note: None,
        };
        let now = self.inner.clock.now();
        let corrected = self
            .inner
            .store
            .close_job_review(job, review.round, &close, fence.as_ref(), now)
            .await?;
        match self.inner.coordinator.cancel_job(job).await {
            Ok(revoked) => self.revoke(&revoked, JobStatus::Completed).await,
            Err(CoordinatorError::UnknownJob(_)) => {}
            Err(e) => tracing::warn!(job = %job, error = %e, "reviewed job not unscheduled"),
        }
        let message = JobMessage::Finished {
            status: JobStatus::Completed.as_str().into(),
            reason: None,
            result: report,
            progress,
        };
        if let Err(e) = self
            .inner
            .funnel
            .publish(&channels::job(job), &message)
            .await
        {
            tracing::warn!(job = %job, error = %e, "corrected result not published");
        }
        metrics::counter!("sentinel_jobs_corrected_total").increment(1);
        tracing::warn!(job = %job, round = review.round, old = ?review.old_result_hash,
            new = %hash, "review closed: the job's result is corrected");
        self.inner.facts.forget(job);
        Ok(corrected)
    }

    /// Closes an open round without a correction (`note` says why): the job ended otherwise
    /// (failed, cancelled) or its running chunks were all recomputed and it finishes as usual.
    pub async fn close_review(
        &self,
        review: &JobReview,
        chunks: Vec<ReviewedChunk>,
        note: Option<String>,
    ) -> Result<(), StoreError> {
        let close = ReviewClose {
            result: None,
            chunks,
            note,
        };
        let now = self.inner.clock.now();
        match self
            .inner
            .store
            .close_job_review(review.job, review.round, &close, None, now)
            .await
        {
            Ok(_) | Err(StoreError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The version-checked move to `to` from whatever non-terminal status the job is in.
    async fn transition(
        &self,
        job: JobId,
        to: JobStatus,
        data: TransitionData,
    ) -> Result<Job, LifecycleError> {
        let store = &self.inner.store;
        for _ in 0..MAX_ROUNDS {
            let current = store.job(job).await?.ok_or(LifecycleError::NotFound)?;
            if current.status.is_terminal() {
                return Err(LifecycleError::AlreadyFinished(current.status));
            }
            match store
                .transition_job(
                    job,
                    current.status,
                    to,
                    current.version,
                    data.clone(),
                    self.inner.clock.now(),
                )
                .await
            {
                Ok(done) => return Ok(done),
                Err(StoreError::VersionConflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(LifecycleError::Contended)
    }

    /// Tells the nodes holding leases of an ended job to drop them (best effort: a node also
    /// learns it from its next heartbeat or completion).
    async fn revoke(&self, revoked: &[RevokedLease], to: JobStatus) {
        let reason = match to {
            JobStatus::Cancelled => "job cancelled",
            JobStatus::Failed => "job failed",
            _ => "job finished",
        };
        for r in revoked {
            let push = ChunkMessage::Cancel {
                lease: to_wire(r.lease),
                reason: reason.into(),
            };
            if let Err(e) = self
                .inner
                .funnel
                .publish(&channels::chunks(r.node), &push)
                .await
            {
                tracing::warn!(node = %r.node, error = %e, "lease revocation not pushed");
            }
        }
    }

    /// Chunk counts from the coordinator, for endings that do not come from the projector.
    async fn coordinator_progress(&self, job: JobId) -> Option<WireProgress> {
        let p = self.inner.coordinator.job_progress(job).await.ok()?;
        let facts = self.inner.facts.get(&*self.inner.store, job).await.ok()??;
        Some(WireProgress {
            chunks_done: p.done,
            chunks_total: p.chunk_count,
            iterations_total: facts.iterations,
            ..WireProgress::default()
        })
    }
}
