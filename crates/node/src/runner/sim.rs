//! The built-in simulation runner: profile fetched once per config hash and compiled once,
//! iterations run on a blocking thread in sub-ranges of about [`SLICE`] so a cancellation
//! stops work within that time. Sub-range results merge exactly, so the chunk's result is
//! bit-identical to one `run_chunk` over the whole range.
//!
//! A chunk estimated (from the profile's measured cost per iteration) to take less than
//! [`INLINE_WORK`] runs on the calling task instead: handing microseconds of work to a
//! blocking thread and back costs more than the work (two thread wake-ups per chunk).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;
use wowlab_api::node::ChunkLease;
use wowlab_sim::{ChunkResult, CompiledProfile};

use super::{RunCtx, Runner, RunnerError, SIM_CAPABILITY};
use crate::client::{ClientError, SentinelClient};

/// Target wall time of one sub-range between cancellation checks.
pub const SLICE: Duration = Duration::from_millis(50);
/// Chunks estimated below this run inline on the async task, not on a blocking thread.
pub const INLINE_WORK: Duration = Duration::from_micros(100);
/// Compiled profiles kept (oldest evicted first).
const CACHE_CAP: usize = 32;

/// Where profile sources come from (the sentinel in production).
#[async_trait::async_trait]
pub trait ConfigSource: Send + Sync {
    /// The profile source text for `config_hash`.
    async fn profile(&self, config_hash: &str) -> Result<String, RunnerError>;
}

#[async_trait::async_trait]
impl ConfigSource for SentinelClient {
    async fn profile(&self, config_hash: &str) -> Result<String, RunnerError> {
        let resp = self.config(config_hash).await.map_err(|e: ClientError| {
            RunnerError::Failed(format!("fetching profile {config_hash}: {e}"))
        })?;
        if resp.config_hash != config_hash {
            return Err(RunnerError::Failed(format!(
                "sentinel answered profile {} for {config_hash}",
                resp.config_hash
            )));
        }
        Ok(resp.profile)
    }
}

/// A cached profile and its last measured cost per iteration (0 = not measured yet).
#[derive(Default)]
struct ProfileSlot {
    compiled: OnceCell<Arc<CompiledProfile>>,
    ns_per_iter: AtomicU64,
}

type Slot = Arc<ProfileSlot>;

/// Runs `sim/v1` chunks.
pub struct SimRunner {
    source: Arc<dyn ConfigSource>,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    slots: HashMap<String, Slot>,
    order: VecDeque<String>,
}

impl SimRunner {
    /// A runner fetching profiles from `source`.
    pub fn new(source: Arc<dyn ConfigSource>) -> Self {
        Self {
            source,
            cache: Mutex::new(Cache::default()),
        }
    }

    /// The compiled profile for `hash`: fetched and compiled once even under concurrent chunks.
    pub async fn profile(&self, hash: &str) -> Result<Arc<CompiledProfile>, RunnerError> {
        Ok(self.slot(hash).await?.0)
    }

    async fn slot(&self, hash: &str) -> Result<(Arc<CompiledProfile>, Slot), RunnerError> {
        let slot = {
            let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            match c.slots.get(hash) {
                Some(s) => s.clone(),
                None => {
                    let s: Slot = Arc::default();
                    c.slots.insert(hash.to_owned(), s.clone());
                    c.order.push_back(hash.to_owned());
                    while c.order.len() > CACHE_CAP {
                        if let Some(old) = c.order.pop_front() {
                            c.slots.remove(&old);
                        }
                    }
                    s
                }
            }
        };
        // A failed fetch leaves the cell empty, so the next chunk tries again.
        let compiled = slot
            .compiled
            .get_or_try_init(|| async {
                let src = self.source.profile(hash).await?;
                let compiled = tokio::task::spawn_blocking(move || wowlab_sim::compile_str(&src))
                    .await
                    .map_err(|e| RunnerError::Failed(format!("compiling profile: {e}")))?
                    .map_err(|e| RunnerError::Failed(format!("invalid profile {hash}: {e}")))?;
                tracing::debug!(hash, name = compiled.name(), "compiled profile");
                Ok::<_, RunnerError>(Arc::new(compiled))
            })
            .await?;
        Ok((compiled.clone(), slot))
    }
}

#[async_trait::async_trait]
impl Runner for SimRunner {
    fn capability(&self) -> &str {
        SIM_CAPABILITY
    }

    async fn run(&self, lease: &ChunkLease, ctx: RunCtx) -> Result<Vec<u8>, RunnerError> {
        if lease.iter_end < lease.iter_start {
            return Err(RunnerError::Failed(format!(
                "empty iteration range {}..{}",
                lease.iter_start, lease.iter_end
            )));
        }
        let (profile, slot) = tokio::select! {
            p = self.slot(&lease.config_hash) => p?,
            _ = ctx.cancel.cancelled() => return Err(RunnerError::Cancelled),
        };
        let (seed, range) = (lease.seed, lease.iter_start..lease.iter_end);
        let iters = range.end - range.start;
        let ns_per_iter = slot.ns_per_iter.load(Ordering::Relaxed);
        let estimate = u128::from(ns_per_iter) * u128::from(iters);
        let started = Instant::now();
        let result = if ns_per_iter > 0 && estimate < INLINE_WORK.as_nanos() {
            run_sliced(&profile, seed, range, &ctx)?
        } else {
            tokio::task::spawn_blocking(move || run_sliced(&profile, seed, range, &ctx))
                .await
                .map_err(|e| RunnerError::Failed(format!("simulation thread: {e}")))??
        };
        if iters > 0 {
            // Includes the hand-off when on a blocking thread, so tiny chunks measured there
            // still come out tiny enough to be inlined next time.
            let per_iter = (started.elapsed().as_nanos() / u128::from(iters)).max(1);
            slot.ns_per_iter.store(
                u64::try_from(per_iter).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
        }
        Ok(result.encode())
    }
}

/// Runs `range` in sub-ranges sized to about [`SLICE`], checking cancellation between them.
pub fn run_sliced(
    profile: &CompiledProfile,
    seed: u64,
    range: std::ops::Range<u64>,
    ctx: &RunCtx,
) -> Result<ChunkResult, RunnerError> {
    let mut total = ChunkResult::empty(profile);
    let mut start = range.start;
    let mut step = 1u64;
    while start < range.end {
        if ctx.cancel.is_cancelled() {
            return Err(RunnerError::Cancelled);
        }
        let end = start.saturating_add(step).min(range.end);
        let t0 = Instant::now();
        // An iteration over the engine's event bound fails the chunk with the engine's reason.
        let part = wowlab_sim::run_chunk(profile, seed, start..end)
            .map_err(|e| RunnerError::Failed(e.to_string()))?;
        let took = t0.elapsed();
        total
            .merge(&part)
            .map_err(|e| RunnerError::Failed(format!("merging sub-range: {e}")))?;
        ctx.progress.add(end - start);
        // Resize from the measured per-iteration cost; grow at most 8× per step.
        let per_iter = took.as_nanos().max(1) / u128::from(end - start);
        let want = (SLICE.as_nanos() / per_iter).max(1) as u64;
        step = want.min(step.saturating_mul(8)).max(1);
        start = end;
    }
    Ok(total)
}
