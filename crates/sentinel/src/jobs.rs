//! Job submission as one sequence shared by the user API and embedded runs: store the profile
//! by content hash, store the job (`pending`), schedule its chunks, move it to `running`.
//! A crash between the steps is repaired by [`crate::recovery::rebuild_coordinator`].

use crate::coordinator::{Coordinator, CoordinatorError, JobSpec};
use crate::domain::{JobId, JobStatus, UnixMillis, UserId};
use crate::store::{Job, JobTarget, NewJob, Store, StoreError, TransitionData};
use wowlab_sim::target::{chunks_for, FIRST_WAVE};
use wowlab_sim::WavePlan;

/// What a user submits, after the engine has validated the profile.
#[derive(Debug, Clone)]
pub struct Submission {
    /// Submitter.
    pub owner: UserId,
    /// Profile text.
    pub config: String,
    /// Content hash of the profile (computed by the engine).
    pub config_hash: String,
    /// Total iterations.
    pub iterations: u64,
    /// Job seed.
    pub seed: u64,
    /// Iterations per chunk.
    pub chunk_size: u64,
    /// Readable by anyone.
    pub public: bool,
    /// Longest one chunk's lease may be held (see [`crate::coordinator::chunk_wall_limit`]).
    pub chunk_wall_limit_ms: u64,
}

/// Why a submission was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// Sizes that cannot be chunked.
    #[error("invalid submission: {0}")]
    Invalid(String),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The coordinator refused or failed.
    #[error(transparent)]
    Coordinator(#[from] CoordinatorError),
}

/// Number of chunks for `iterations` split into `chunk_size` pieces (last one shorter).
pub fn chunk_count(iterations: u64, chunk_size: u64) -> Result<u32, SubmitError> {
    if iterations == 0 || chunk_size == 0 {
        return Err(SubmitError::Invalid(
            "iterations and chunk size must be positive".into(),
        ));
    }
    u32::try_from(iterations.div_ceil(chunk_size))
        .map_err(|_| SubmitError::Invalid("too many chunks; raise the chunk size".into()))
}

/// Stores and schedules a job; returns it `running`.
pub async fn submit(
    store: &dyn Store,
    coordinator: &dyn Coordinator,
    sub: Submission,
    max_attempts: u32,
    now: UnixMillis,
) -> Result<Job, SubmitError> {
    submit_with_target(store, coordinator, sub, None, max_attempts, now).await
}

/// Chunks scheduled once `waves` waves of `plan` are: those covering its first iterations.
pub fn wave_chunks(plan: &WavePlan, waves: u32, chunk_size: u64) -> Result<u32, SubmitError> {
    let end = plan.wave_end(waves.saturating_sub(1));
    u32::try_from(chunks_for(end, chunk_size))
        .map_err(|_| SubmitError::Invalid("too many chunks; raise the chunk size".into()))
}

/// Stores and schedules a job; returns it `running`. With a `target`, `sub.iterations` is the
/// plan's maximum, and only the first wave's chunks are scheduled: the projector adds the
/// next waves ([`crate::waves`]) until the target is met.
pub async fn submit_with_target(
    store: &dyn Store,
    coordinator: &dyn Coordinator,
    sub: Submission,
    target: Option<WavePlan>,
    max_attempts: u32,
    now: UnixMillis,
) -> Result<Job, SubmitError> {
    let chunks = chunk_count(sub.iterations, sub.chunk_size)?;
    let scheduled = match &target {
        Some(plan) => {
            if plan.max_iterations() != sub.iterations {
                return Err(SubmitError::Invalid(
                    "a target job's iterations are its maximum".into(),
                ));
            }
            if !sub.chunk_size.is_power_of_two() || sub.chunk_size > FIRST_WAVE {
                return Err(SubmitError::Invalid(format!(
                    "a target-error job's chunk size must be a power of two up to {FIRST_WAVE}"
                )));
            }
            wave_chunks(plan, 1, sub.chunk_size)?
        }
        None => chunks,
    };
    store.put_config(&sub.config_hash, &sub.config, now).await?;
    let new = NewJob {
        id: JobId::new(),
        owner: sub.owner,
        config_hash: sub.config_hash,
        iterations: sub.iterations,
        seed: sub.seed,
        chunk_size: sub.chunk_size,
        chunk_count: chunks,
        public: sub.public,
        chunk_wall_limit_ms: sub.chunk_wall_limit_ms,
    };
    let job = match &target {
        Some(plan) => {
            let t = JobTarget {
                target_error: plan.target_error(),
                max_iterations: plan.max_iterations(),
                waves: 1,
                scheduled_chunks: scheduled,
                half_width_pct: None,
            };
            store.insert_target_job(new, t, now).await?
        }
        None => store.insert_job(new, now).await?,
    };
    coordinator
        .register_job(JobSpec {
            job: job.id,
            chunk_count: scheduled,
            share_key: sub.owner.to_string(),
            max_attempts,
            chunk_wall_limit_ms: sub.chunk_wall_limit_ms,
        })
        .await?;
    Ok(store
        .transition_job(
            job.id,
            JobStatus::Pending,
            JobStatus::Running,
            job.version,
            TransitionData::default(),
            now,
        )
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_counts_round_up_and_refuse_nonsense() {
        assert_eq!(chunk_count(10, 3).unwrap(), 4);
        assert_eq!(chunk_count(9, 3).unwrap(), 3);
        assert_eq!(chunk_count(1, 1000).unwrap(), 1);
        assert!(chunk_count(0, 1).is_err());
        assert!(chunk_count(1, 0).is_err());
        assert!(chunk_count(u64::MAX, 1).is_err());
    }

    #[test]
    fn wave_chunks_cover_the_scheduled_waves() {
        let plan = WavePlan::new(0.1, 5000).unwrap();
        assert_eq!(wave_chunks(&plan, 1, 256).unwrap(), 4);
        assert_eq!(wave_chunks(&plan, 2, 256).unwrap(), 12);
        assert_eq!(wave_chunks(&plan, 3, 1024).unwrap(), 5);
    }
}
