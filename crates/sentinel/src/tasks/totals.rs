//! Grid totals (nodes online, cores, cores in use, running jobs, sims/s) and the cron that
//! publishes them on `nodes:all` so dashboards update live.
//!
//! Work figures come from the running jobs themselves (the coordinator's leased chunks, the
//! iterations done since each job started), not from node heartbeats that may be seconds old:
//! so "cores in use" and "sims/s" agree with what runs and are zero as soon as nothing does.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use tokio::sync::watch;

use super::{LeaderLoop, LeaderRound};
use crate::coordinator::{Coordinator, CoordinatorError};
use crate::domain::{Clock, JobStatus, UnixMillis};
use crate::publish::Funnel;
use crate::store::{Job, LeaderFence, Node, NodeStatus, Store, StoreError};

/// How often the cron recomputes (and, when they changed, publishes) the totals.
pub const TOTALS_INTERVAL: Duration = Duration::from_secs(2);

/// What the whole grid is doing now.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GridTotals {
    /// Always `totals` (tells it apart from status flips on `nodes:all`).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Nodes online now.
    pub nodes_online: usize,
    /// Every registered node.
    pub nodes_total: usize,
    /// Cores of the online nodes.
    pub cores: u64,
    /// Chunks computing now: chunks leased by running jobs, at most what online nodes run.
    pub cores_in_use: u64,
    /// Jobs running now.
    pub running_jobs: usize,
    /// Iterations per second now: each running job's iterations done over its time running.
    pub sims_per_sec: f64,
}

impl GridTotals {
    /// The totals over `nodes` and the `running` jobs with their (leased, done) chunk counts.
    pub fn of(nodes: &[Node], running: &[(Job, u32, u32)], now: UnixMillis) -> Self {
        let mut t = GridTotals {
            kind: "totals",
            nodes_total: nodes.len(),
            running_jobs: running.len(),
            ..GridTotals::default()
        };
        let mut slots = 0u64;
        for n in nodes.iter().filter(|n| n.status == NodeStatus::Online) {
            t.nodes_online += 1;
            t.cores += u64::from(n.cores);
            slots += u64::from(n.capacity().min(n.cores.max(1)));
        }
        let leased: u64 = running.iter().map(|(_, l, _)| u64::from(*l)).sum();
        t.cores_in_use = leased.min(slots);
        t.sims_per_sec = running
            .iter()
            .map(|(j, _, done)| job_rate(j, *done, now))
            .sum();
        t
    }
}

/// Mean iterations per second of a running job so far.
fn job_rate(j: &Job, done: u32, now: UnixMillis) -> f64 {
    let Some(start) = j.started_at else {
        return 0.0;
    };
    let secs = now.0.saturating_sub(start.0) as f64 / 1000.0;
    if secs <= 0.0 {
        return 0.0;
    }
    let iterations = (u64::from(done) * j.chunk_size).min(j.iterations);
    iterations as f64 / secs
}

/// Reads the totals now.
pub async fn compute(
    store: &dyn Store,
    coordinator: &dyn Coordinator,
    now: UnixMillis,
) -> Result<GridTotals, String> {
    let nodes = store.list_nodes(None).await.map_err(|e| e.to_string())?;
    let jobs = store
        .jobs_with_status(JobStatus::Running)
        .await
        .map_err(|e| e.to_string())?;
    let mut running = Vec::with_capacity(jobs.len());
    for j in jobs {
        match coordinator.job_progress(j.id).await {
            Ok(p) => running.push((j, p.leased, p.done)),
            // Ending right now: it still counts as running, with nothing leased.
            Err(CoordinatorError::UnknownJob(_)) => running.push((j, 0, 0)),
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(GridTotals::of(&nodes, &running, now))
}

/// Publishes the totals on `nodes:all` whenever they change (checked every `interval`), under
/// the `grid-totals` leader lock so one sentinel of many does it.
pub struct TotalsCron {
    /// Nodes and jobs.
    pub store: Arc<dyn Store>,
    /// Leased chunks and the leader lock.
    pub coordinator: Arc<dyn Coordinator>,
    /// Where the totals go.
    pub funnel: Funnel,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// This sentinel's leader-election identity.
    pub holder: String,
    /// Round interval ([`TOTALS_INTERVAL`] by default).
    pub interval: Duration,
}

impl TotalsCron {
    /// Runs until `shutdown` turns true.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let lead = LeaderLoop {
            coordinator: self.coordinator.clone(),
            clock: self.clock.clone(),
            lock: "grid-totals",
            holder: self.holder.clone(),
            interval: self.interval,
            lock_ttl: self.interval * 5,
        };
        let mut round = TotalsRound {
            cron: self,
            last: None,
        };
        lead.run(&mut round, shutdown).await;
    }
}

/// The cron with the totals it published last (published again only when they change).
struct TotalsRound {
    cron: TotalsCron,
    last: Option<GridTotals>,
}

#[async_trait]
impl LeaderRound for TotalsRound {
    /// Writes nothing to the store (it only publishes), so the fence is not needed.
    async fn round(&mut self, _fence: &LeaderFence, now: UnixMillis) -> Result<(), StoreError> {
        let c = &self.cron;
        let t = match compute(&*c.store, &*c.coordinator, now).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "grid totals");
                return Ok(());
            }
        };
        if self.last.as_ref() == Some(&t) {
            return Ok(());
        }
        match c.funnel.publish(wowlab_api::channels::NODES_ALL, &t).await {
            Ok(()) => self.last = Some(t),
            Err(e) => tracing::warn!(error = %e, "grid totals not published"),
        }
        Ok(())
    }

    /// A new term publishes the totals even if unchanged since this sentinel's last term.
    fn not_leading(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{JobId, NodeId, UserId};
    use crate::store::NodeLoad;

    fn node(status: NodeStatus, cores: u32, running: u32) -> Node {
        Node {
            id: NodeId::new(),
            owner: None,
            public_key: String::new(),
            name: "n".into(),
            status,
            claim_code: None,
            max_parallel: cores,
            local_max_parallel: None,
            cores,
            version: String::new(),
            draining: false,
            load: NodeLoad {
                running_chunks: Some(running),
                sims_per_sec: 999.0,
                ..NodeLoad::default()
            },
            last_seen_at: None,
            created_at: UnixMillis(0),
        }
    }

    fn job(started: Option<u64>, iterations: u64, chunk: u64) -> Job {
        Job {
            id: JobId::new(),
            owner: UserId::new(),
            config_hash: String::new(),
            iterations,
            seed: 1,
            chunk_size: chunk,
            chunk_count: iterations.div_ceil(chunk) as u32,
            chunk_wall_limit_ms: 0,
            status: JobStatus::Running,
            version: 0,
            result: None,
            failure_reason: None,
            public: false,
            created_at: UnixMillis(0),
            started_at: started.map(UnixMillis),
            finished_at: None,
        }
    }

    #[test]
    fn work_figures_follow_running_jobs_not_stale_heartbeats() {
        // Heartbeats claim busy cores and 999 sims/s each; with no job running, both are 0.
        let nodes = [
            node(NodeStatus::Online, 4, 4),
            node(NodeStatus::Online, 2, 2),
            node(NodeStatus::Offline, 8, 8),
        ];
        let idle = GridTotals::of(&nodes, &[], UnixMillis(10_000));
        assert_eq!((idle.nodes_online, idle.nodes_total, idle.cores), (2, 3, 6));
        assert_eq!((idle.cores_in_use, idle.sims_per_sec), (0, 0.0));
        // A job started 4 s ago with 10 chunks of 1,000 done, 3 leased.
        let running = [(job(Some(6_000), 100_000, 1_000), 3, 10)];
        let busy = GridTotals::of(&nodes, &running, UnixMillis(10_000));
        assert_eq!(busy.cores_in_use, 3);
        assert_eq!(busy.sims_per_sec, 2_500.0);
        assert_eq!(busy.running_jobs, 1);
        // More leased than online nodes run (prefetch): capped at what they run.
        let many = [(job(Some(6_000), 100_000, 1_000), 40, 0)];
        assert_eq!(
            GridTotals::of(&nodes, &many, UnixMillis(10_000)).cores_in_use,
            6
        );
        // Not started yet: no rate.
        let fresh = [(job(None, 100, 10), 0, 0)];
        assert_eq!(
            GridTotals::of(&nodes, &fresh, UnixMillis(10_000)).sims_per_sec,
            0.0
        );
    }
}
