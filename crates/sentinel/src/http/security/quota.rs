//! Fair use: a user may have at most so many jobs pending or running and so many iterations
//! not yet merged. The defaults come from [`Quotas::default`]; an admin changes them for the
//! whole grid at run time (`PUT /api/admin/quotas`, kept in the store's settings).

use serde::{Deserialize, Serialize};

use crate::http::{ApiError, Context};
use crate::store::{Store, StoreError};

/// Setting name of [`Quotas::max_active_jobs`].
pub const MAX_ACTIVE_JOBS: &str = "quota.max_active_jobs";
/// Setting name of [`Quotas::max_queued_iterations`].
pub const MAX_QUEUED_ITERATIONS: &str = "quota.max_queued_iterations";

/// Per-user limits on unfinished work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Quotas {
    /// Jobs pending or running at once (default 10).
    pub max_active_jobs: u32,
    /// Iterations of those jobs not yet merged (default 2^42: four jobs of the largest size).
    pub max_queued_iterations: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            max_active_jobs: 10,
            max_queued_iterations: 1 << 42,
        }
    }
}

/// The quotas in force: what an admin stored, else `defaults`.
pub async fn current(store: &dyn Store, defaults: Quotas) -> Result<Quotas, StoreError> {
    let jobs = store.setting(MAX_ACTIVE_JOBS).await?;
    let iters = store.setting(MAX_QUEUED_ITERATIONS).await?;
    Ok(Quotas {
        max_active_jobs: jobs
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(defaults.max_active_jobs),
        max_queued_iterations: iters
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(defaults.max_queued_iterations),
    })
}

/// Stores new grid-wide quotas.
pub async fn set(store: &dyn Store, q: Quotas) -> Result<(), StoreError> {
    let iters = i64::try_from(q.max_queued_iterations)
        .map_err(|_| StoreError::Invalid("maxQueuedIterations is too large".into()))?;
    store
        .set_setting(MAX_ACTIVE_JOBS, i64::from(q.max_active_jobs))
        .await?;
    store.set_setting(MAX_QUEUED_ITERATIONS, iters).await
}

/// Refuses (429 `quota_exceeded`) a new job of `iterations` that would take `user` past a quota.
pub async fn admit(
    state: &Context,
    user: crate::domain::UserId,
    iterations: u64,
) -> Result<(), ApiError> {
    let q = current(state.store(), state.security().config().quotas).await?;
    let active = state.store().active_work(user).await?;
    if active.jobs >= q.max_active_jobs {
        return Err(ApiError::QuotaExceeded(format!(
            "you have {} unfinished jobs, the most this grid allows per user is {}; wait for one \
             to finish or cancel one",
            active.jobs, q.max_active_jobs
        )));
    }
    let queued = active.queued_iterations.saturating_add(iterations);
    if queued > q.max_queued_iterations {
        return Err(ApiError::QuotaExceeded(format!(
            "this job would make {queued} iterations waiting for you, the most this grid allows \
             per user is {}; wait for running jobs to progress or submit fewer iterations",
            q.max_queued_iterations
        )));
    }
    Ok(())
}
