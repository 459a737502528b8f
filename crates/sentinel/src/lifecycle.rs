//! The one owner of a job's endings: completed (the projector merged every chunk), failed
//! (a chunk hit its retry limit, or a result could not be merged) and cancelled (the owner or
//! an admin). Each ending is a version-checked store transition followed by the same steps, in
//! the same order, whoever triggered it: unschedule the job in the coordinator, revoke the
//! leases still out on `chunks:{node}`, publish the final message on `jobs:{id}`, count it, and
//! free what the instance held in memory for the job (lease facts, projector accumulator).
//!
//! Handlers and the projector call these methods; nothing else moves a job to a terminal
//! status.

use std::sync::Arc;

use wowlab_api::channels::{self, ChunkMessage, JobMessage, JobProgress as WireProgress};

use crate::coordinator::{Coordinator, CoordinatorError, RevokedLease};
use crate::domain::{Clock, JobId, JobStatus};
use crate::facts::JobFacts;
use crate::publish::Funnel;
use crate::result_log::{LogEntry, ResultLog};
use crate::store::{Job, LeaderFence, Store, StoreError, TransitionData};
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
