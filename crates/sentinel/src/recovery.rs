//! Rebuilding coordination state from the store. The store is the truth: after a coordinator
//! loss (process restart in embedded mode, Redis flush in distributed mode) every unfinished
//! chunk of every live job becomes pending again; finished chunks are known from stored results.

use crate::coordinator::{Coordinator, CoordinatorError, JobSpec};
use crate::domain::{ChunkIndex, JobId, JobStatus, UnixMillis};
use crate::store::{Job, Store, StoreError, TransitionData};

/// What a rebuild did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RebuildReport {
    /// Jobs scheduled again from the store.
    pub restored: Vec<JobId>,
    /// Jobs the coordinator still knew (its state survived); left untouched.
    pub already_scheduled: Vec<JobId>,
    /// Restored jobs whose chunks are all stored: the projector must finalize them.
    pub fully_done: Vec<JobId>,
}

/// Why a rebuild stopped.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// Reading or transitioning jobs failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Scheduling failed.
    #[error("coordinator: {0}")]
    Coordinator(#[from] CoordinatorError),
}

/// Schedules every `running` job (and every `pending` one, which a crash caught between insert
/// and start: it is moved to `running` first) with its stored chunks marked done. Idempotent:
/// jobs the coordinator already knows are left alone, so it is safe on every startup.
pub async fn rebuild_coordinator(
    store: &dyn Store,
    coordinator: &dyn Coordinator,
    max_attempts: u32,
    now: UnixMillis,
) -> Result<RebuildReport, RecoveryError> {
    let mut report = RebuildReport::default();
    for pending in store.jobs_with_status(JobStatus::Pending).await? {
        match store
            .transition_job(
                pending.id,
                JobStatus::Pending,
                JobStatus::Running,
                pending.version,
                TransitionData::default(),
                now,
            )
            .await
        {
            // Another sentinel started or cancelled it meanwhile: its status is settled there.
            Ok(_) | Err(StoreError::VersionConflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    for job in store.jobs_with_status(JobStatus::Running).await? {
        let (spec, done) = scheduled(store, &job, max_attempts).await?;
        let count = spec.chunk_count;
        if coordinator.restore_job(spec, &done).await? {
            if done.len() as u64 >= u64::from(count) {
                report.fully_done.push(job.id);
            }
            report.restored.push(job.id);
        } else {
            report.already_scheduled.push(job.id);
        }
    }
    Ok(report)
}

/// While sentinels run: schedules again every `running` job the coordinator lost (Redis flushed
/// or restarted empty), with its stored chunks done, and hands the fully stored ones to the
/// projector. Unlike [`rebuild_coordinator`] it leaves `pending` jobs alone (one may be
/// mid-submission on another sentinel). A job that ended while it was being restored is taken
/// off the schedule again, so nothing ended is ever leased.
pub async fn restore_lost_jobs(
    store: &dyn Store,
    coordinator: &dyn Coordinator,
    max_attempts: u32,
) -> Result<RebuildReport, RecoveryError> {
    let mut report = RebuildReport::default();
    for job in store.jobs_with_status(JobStatus::Running).await? {
        match coordinator.job_progress(job.id).await {
            Ok(_) => {
                report.already_scheduled.push(job.id);
                continue;
            }
            Err(CoordinatorError::UnknownJob(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let (spec, done) = scheduled(store, &job, max_attempts).await?;
        let count = spec.chunk_count;
        if !coordinator.restore_job(spec, &done).await? {
            report.already_scheduled.push(job.id);
            continue;
        }
        let still_running = store
            .job(job.id)
            .await?
            .is_some_and(|j| j.status == JobStatus::Running);
        if !still_running {
            coordinator.remove_job(job.id).await?;
            continue;
        }
        if done.len() as u64 >= u64::from(count) {
            report.fully_done.push(job.id);
        }
        report.restored.push(job.id);
    }
    Ok(report)
}

/// The spec a job is scheduled with and its stored chunks: all its chunks, or for a
/// target-error job those of the waves scheduled so far (results past them are never merged).
pub(crate) async fn scheduled(
    store: &dyn Store,
    job: &Job,
    max_attempts: u32,
) -> Result<(JobSpec, Vec<ChunkIndex>), StoreError> {
    let chunk_count = match store.job_target(job.id).await? {
        Some(t) => t.scheduled_chunks.min(job.chunk_count),
        None => job.chunk_count,
    };
    let mut done = store.done_chunks(job.id).await?;
    done.retain(|c| c.0 < chunk_count);
    let spec = JobSpec {
        job: job.id,
        chunk_count,
        share_key: job.owner.to_string(),
        max_attempts,
        chunk_wall_limit_ms: job.chunk_wall_limit_ms,
    };
    Ok((spec, done))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::coordinator::{CompleteOutcome, MemoryCoordinator, DEFAULT_MAX_ATTEMPTS};
    use crate::domain::{ChunkIndex, NodeId};
    use crate::store::{ChunkResult, NewJob, SqliteStore};

    const NOW: UnixMillis = UnixMillis(1_800_000_000_000);
    const TTL: Duration = Duration::from_secs(10);

    async fn job(store: &SqliteStore, chunks: u32) -> JobId {
        let owner = match store.user_by_email("o@x").await.unwrap() {
            Some(u) => u.id,
            None => store.create_user("o@x", "h", NOW).await.unwrap().id,
        };
        store.put_config("cfg", "p", NOW).await.unwrap();
        store
            .insert_job(
                NewJob {
                    id: JobId::new(),
                    owner,
                    config_hash: "cfg".into(),
                    iterations: u64::from(chunks) * 10,
                    seed: 3,
                    chunk_size: 10,
                    chunk_count: chunks,
                    public: false,
                    chunk_wall_limit_ms: 0,
                },
                NOW,
            )
            .await
            .unwrap()
            .id
    }

    /// Stores a result for each `(job, chunk)`.
    async fn store_results(store: &SqliteStore, chunks: &[(JobId, u32)]) {
        for &(job, chunk) in chunks {
            store
                .put_chunk_result(
                    ChunkResult {
                        job,
                        chunk: ChunkIndex(chunk),
                        node: None,
                        result: vec![1],
                    },
                    NOW,
                )
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn lost_coordinator_is_rebuilt_from_store() {
        let store = SqliteStore::memory().await.unwrap();
        let running = job(&store, 4).await;
        store
            .transition_job(
                running,
                JobStatus::Pending,
                JobStatus::Running,
                0,
                TransitionData::default(),
                NOW,
            )
            .await
            .unwrap();
        let crashed_mid_create = job(&store, 2).await;
        let finished = job(&store, 1).await;
        store
            .transition_job(
                finished,
                JobStatus::Pending,
                JobStatus::Running,
                0,
                TransitionData::default(),
                NOW,
            )
            .await
            .unwrap();
        let cancelled = job(&store, 3).await;
        store
            .transition_job(
                cancelled,
                JobStatus::Pending,
                JobStatus::Cancelled,
                0,
                TransitionData::default(),
                NOW,
            )
            .await
            .unwrap();
        store_results(&store, &[(running, 1), (running, 3), (finished, 0)]).await;

        // A fresh coordinator: everything it knew is gone.
        let coord = MemoryCoordinator::new();
        let report = rebuild_coordinator(&store, &coord, DEFAULT_MAX_ATTEMPTS, NOW)
            .await
            .unwrap();
        assert_eq!(report.restored.len(), 3);
        assert!(report.restored.contains(&crashed_mid_create));
        assert_eq!(report.fully_done, [finished]);
        assert_eq!(
            store.job(crashed_mid_create).await.unwrap().unwrap().status,
            JobStatus::Running
        );
        assert!(coord.job_progress(cancelled).await.is_err());

        let p = coord.job_progress(running).await.unwrap();
        assert_eq!((p.pending, p.done), (2, 2));
        let node = NodeId::new();
        let leases = coord.lease(node, 10, TTL, NOW).await.unwrap();
        let mut of_running: Vec<u32> = leases
            .iter()
            .filter(|l| l.job == running)
            .map(|l| l.chunk.0)
            .collect();
        of_running.sort();
        assert_eq!(of_running, [0, 2]);
        assert_eq!(
            leases.len(),
            4,
            "2 of `running` + 2 of `crashed_mid_create`"
        );
        let last = leases
            .iter()
            .filter(|l| l.job == running)
            .collect::<Vec<_>>();
        coord
            .complete(node, last[0].lease_ref(), NOW)
            .await
            .unwrap();
        assert_eq!(
            coord
                .complete(node, last[1].lease_ref(), NOW)
                .await
                .unwrap(),
            CompleteOutcome::Completed { job_done: true }
        );

        // Running it again changes nothing.
        let again = rebuild_coordinator(&store, &coord, DEFAULT_MAX_ATTEMPTS, NOW)
            .await
            .unwrap();
        assert!(again.restored.is_empty());
        assert_eq!(again.already_scheduled.len(), 3);
    }

    #[tokio::test]
    async fn jobs_lost_at_runtime_are_restored_but_pending_and_ended_ones_are_not() {
        let store = SqliteStore::memory().await.unwrap();
        let coord = MemoryCoordinator::new();
        let start = |j| {
            let store = &store;
            async move {
                store
                    .transition_job(
                        j,
                        JobStatus::Pending,
                        JobStatus::Running,
                        0,
                        TransitionData::default(),
                        NOW,
                    )
                    .await
                    .unwrap()
            }
        };
        let kept = job(&store, 2).await;
        start(kept).await;
        coord
            .register_job(JobSpec::new(kept, 2, "o"))
            .await
            .unwrap();
        let lost = job(&store, 3).await;
        start(lost).await;
        let all_stored = job(&store, 1).await;
        start(all_stored).await;
        let mid_submission = job(&store, 2).await;
        store_results(&store, &[(lost, 2), (all_stored, 0)]).await;
        let report = restore_lost_jobs(&store, &coord, DEFAULT_MAX_ATTEMPTS)
            .await
            .unwrap();
        let mut restored = report.restored.clone();
        restored.sort();
        let mut want = vec![lost, all_stored];
        want.sort();
        assert_eq!(restored, want);
        assert_eq!(report.already_scheduled, [kept]);
        assert_eq!(report.fully_done, [all_stored]);
        let p = coord.job_progress(lost).await.unwrap();
        assert_eq!((p.pending, p.done), (2, 1));
        // The pending job belongs to its submission: not scheduled, not started.
        assert!(coord.job_progress(mid_submission).await.is_err());
        assert_eq!(
            store.job(mid_submission).await.unwrap().unwrap().status,
            JobStatus::Pending
        );
    }
}
