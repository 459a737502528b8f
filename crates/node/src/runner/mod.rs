//! Runners: what computes a leased chunk, looked up by capability.
//!
//! A runner gets the lease and a [`RunCtx`] (cancellation + progress counter) and returns the
//! chunk's encoded result. The registry maps capability strings (`sim/v1`) to runners; the
//! node advertises the registry's capabilities at registration.

mod sim;

pub use sim::{run_sliced, ConfigSource, SimRunner, SLICE};

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use wowlab_api::node::ChunkLease;

/// Capability of the built-in simulation runner.
pub const SIM_CAPABILITY: &str = "sim/v1";

/// Why a runner did not produce a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunnerError {
    /// The work was cancelled; nothing is reported.
    #[error("cancelled")]
    Cancelled,
    /// The chunk cannot be computed here; reported to the sentinel as a failure with this reason.
    #[error("{0}")]
    Failed(String),
}

/// Counts iterations as a runner makes progress (feeds sims/s).
#[derive(Debug, Clone, Default)]
pub struct Progress(Arc<AtomicU64>);

impl Progress {
    /// Adds `n` finished iterations.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
        metrics::counter!("wowlab_node_iterations_total").increment(n);
    }

    /// Iterations finished so far (monotonic).
    pub fn total(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// What a runner gets besides the lease.
#[derive(Debug, Clone)]
pub struct RunCtx {
    /// Cancelled when the lease is lost, cancelled or the node gives up on it.
    pub cancel: CancellationToken,
    /// Progress counter shared by the whole node.
    pub progress: Progress,
}

/// Something that computes chunks of one capability.
#[async_trait::async_trait]
pub trait Runner: Send + Sync {
    /// The capability served, e.g. `sim/v1`.
    fn capability(&self) -> &str;

    /// Computes the chunk; returns the result in the capability's binary encoding.
    async fn run(&self, lease: &ChunkLease, ctx: RunCtx) -> Result<Vec<u8>, RunnerError>;
}

/// Runners by capability (last registration wins).
#[derive(Clone, Default)]
pub struct RunnerRegistry {
    runners: BTreeMap<String, Arc<dyn Runner>>,
}

impl std::fmt::Debug for RunnerRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.runners.keys()).finish()
    }
}

impl RunnerRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a runner under its capability.
    pub fn register(mut self, runner: Arc<dyn Runner>) -> Self {
        self.runners.insert(runner.capability().to_owned(), runner);
        self
    }

    /// The runner for `capability`.
    pub fn get(&self, capability: &str) -> Option<Arc<dyn Runner>> {
        self.runners.get(capability).cloned()
    }

    /// Capabilities served, sorted.
    pub fn capabilities(&self) -> Vec<String> {
        self.runners.keys().cloned().collect()
    }

    /// Runs `lease` with the runner of `capability`; no runner → a failure the sentinel sees.
    pub async fn run(
        &self,
        capability: &str,
        lease: &ChunkLease,
        ctx: RunCtx,
    ) -> Result<Vec<u8>, RunnerError> {
        match self.get(capability) {
            Some(r) => r.run(lease, ctx).await,
            None => Err(RunnerError::Failed(format!(
                "no runner for capability {capability:?} on this node"
            ))),
        }
    }
}

/// The capability a lease needs. Leases carry no capability field yet: every job is a
/// simulation, so all leases map to [`SIM_CAPABILITY`].
pub fn lease_capability(_lease: &ChunkLease) -> &'static str {
    SIM_CAPABILITY
}
