//! Push dispatch: when work appears (a job registered or restored, a chunk failed and retried,
//! leases reclaimed, a node died) or a node reports free slots, the dispatcher leases pending
//! chunks to the nodes holding credit ([`Coordinator::dispatch`], one atomic step) and
//! publishes them on `chunks:{node}`, so an idle node gets work without polling.
//!
//! Wake-ups come from [`WakeOnWork`], a coordinator decorator that notices every call making
//! work or credit appear, plus a slow safety tick that also covers work created by another
//! sentinel on a shared coordinator. Any instance may dispatch: the coordinator's atomic
//! `dispatch` never grants a chunk twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::{watch, Notify};
use wowlab_api::channels::{self, ChunkMessage};

use crate::context::Context;
use crate::coordinator::{
    CompleteOutcome, Coordinator, CoordinatorError, DeadNode, FailOutcome, HeartbeatOutcome,
    JobProgress, JobSpec, Lease, LeaseRef, RecheckOutcome, Reclaimed, RevokedLease,
};
use crate::domain::{ChunkIndex, FenceToken, JobId, NodeId, UnixMillis};
use crate::store::StoreError;

/// Why a dispatch pass stopped early (the next wake-up or tick tries again).
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The coordinator failed.
    #[error(transparent)]
    Coordinator(#[from] CoordinatorError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Default safety tick of the dispatcher (a lost wake-up costs at most this long).
pub const DISPATCH_TICK: Duration = Duration::from_secs(1);

/// How long a node's drain/unlink status read from the store is trusted.
const STATUS_TTL: Duration = Duration::from_secs(1);

/// Wraps a coordinator and wakes `wake` after every call that made work (or credit that work
/// could fill) appear. Everything else is passed through unchanged.
pub struct WakeOnWork {
    inner: Arc<dyn Coordinator>,
    wake: Arc<Notify>,
}

impl WakeOnWork {
    /// The decorator around `inner`, notifying `wake`.
    pub fn new(inner: Arc<dyn Coordinator>, wake: Arc<Notify>) -> Self {
        Self { inner, wake }
    }

    fn wake_if(&self, cond: bool) {
        if cond {
            self.wake.notify_one();
        }
    }
}

#[async_trait]
impl Coordinator for WakeOnWork {
    async fn register_job(&self, spec: JobSpec) -> Result<(), CoordinatorError> {
        self.inner.register_job(spec).await?;
        self.wake_if(true);
        Ok(())
    }

    async fn restore_job(
        &self,
        spec: JobSpec,
        done: &[ChunkIndex],
    ) -> Result<bool, CoordinatorError> {
        let restored = self.inner.restore_job(spec, done).await?;
        self.wake_if(restored);
        Ok(restored)
    }

    async fn extend_job(&self, job: JobId, chunk_count: u32) -> Result<bool, CoordinatorError> {
        let extended = self.inner.extend_job(job, chunk_count).await?;
        self.wake_if(extended);
        Ok(extended)
    }

    async fn lease(
        &self,
        node: NodeId,
        free_slots: u32,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<Vec<Lease>, CoordinatorError> {
        self.inner.lease(node, free_slots, ttl, now).await
    }

    async fn heartbeat(
        &self,
        node: NodeId,
        active: &[LeaseRef],
        free_slots: u32,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<HeartbeatOutcome, CoordinatorError> {
        let out = self
            .inner
            .heartbeat(node, active, free_slots, ttl, now)
            .await?;
        self.wake_if(out.credit > 0);
        Ok(out)
    }

    async fn add_credit(
        &self,
        node: NodeId,
        slots: u32,
        cap: u32,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<Vec<Lease>, CoordinatorError> {
        // Leases what it can itself; leftover credit means there was no work to push.
        self.inner.add_credit(node, slots, cap, ttl, now).await
    }

    async fn credited_nodes(&self) -> Result<Vec<NodeId>, CoordinatorError> {
        self.inner.credited_nodes().await
    }

    async fn drop_credit(&self, node: NodeId) -> Result<(), CoordinatorError> {
        self.inner.drop_credit(node).await
    }

    async fn dispatch(
        &self,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<Vec<(NodeId, Lease)>, CoordinatorError> {
        self.inner.dispatch(ttl, now).await
    }

    async fn reap_silent_nodes(
        &self,
        now: UnixMillis,
        silence: Duration,
    ) -> Result<Vec<DeadNode>, CoordinatorError> {
        let dead = self.inner.reap_silent_nodes(now, silence).await?;
        self.wake_if(dead.iter().any(|d| !d.reclaimed.is_empty()));
        Ok(dead)
    }

    async fn complete(
        &self,
        node: NodeId,
        lease: LeaseRef,
        now: UnixMillis,
    ) -> Result<CompleteOutcome, CoordinatorError> {
        self.inner.complete(node, lease, now).await
    }

    async fn complete_many(
        &self,
        node: NodeId,
        leases: &[LeaseRef],
        now: UnixMillis,
    ) -> Result<Vec<CompleteOutcome>, CoordinatorError> {
        self.inner.complete_many(node, leases, now).await
    }

    async fn recheck(
        &self,
        node: NodeId,
        lease: LeaseRef,
        avoid: &[NodeId],
        now: UnixMillis,
    ) -> Result<RecheckOutcome, CoordinatorError> {
        let out = self.inner.recheck(node, lease, avoid, now).await?;
        self.wake_if(out == RecheckOutcome::Requeued);
        Ok(out)
    }

    async fn reopen(
        &self,
        job: JobId,
        chunk: ChunkIndex,
        avoid: &[NodeId],
    ) -> Result<bool, CoordinatorError> {
        let reopened = self.inner.reopen(job, chunk, avoid).await?;
        self.wake_if(reopened);
        Ok(reopened)
    }

    async fn release_avoid(&self, job: JobId, chunk: ChunkIndex) -> Result<bool, CoordinatorError> {
        let released = self.inner.release_avoid(job, chunk).await?;
        self.wake_if(released);
        Ok(released)
    }

    async fn is_lease_current(
        &self,
        node: NodeId,
        lease: LeaseRef,
        now: UnixMillis,
    ) -> Result<bool, CoordinatorError> {
        self.inner.is_lease_current(node, lease, now).await
    }

    async fn fail(
        &self,
        node: NodeId,
        lease: LeaseRef,
        reason: &str,
        now: UnixMillis,
    ) -> Result<FailOutcome, CoordinatorError> {
        let out = self.inner.fail(node, lease, reason, now).await?;
        self.wake_if(matches!(out, FailOutcome::Retry { .. }));
        Ok(out)
    }

    async fn reclaim_expired(&self, now: UnixMillis) -> Result<Vec<Reclaimed>, CoordinatorError> {
        let back = self.inner.reclaim_expired(now).await?;
        self.wake_if(!back.is_empty());
        Ok(back)
    }

    async fn node_dead(&self, node: NodeId) -> Result<Vec<Reclaimed>, CoordinatorError> {
        let back = self.inner.node_dead(node).await?;
        self.wake_if(!back.is_empty());
        Ok(back)
    }

    async fn cancel_job(&self, job: JobId) -> Result<Vec<RevokedLease>, CoordinatorError> {
        self.inner.cancel_job(job).await
    }

    async fn remove_job(&self, job: JobId) -> Result<(), CoordinatorError> {
        self.inner.remove_job(job).await
    }

    async fn job_progress(&self, job: JobId) -> Result<JobProgress, CoordinatorError> {
        self.inner.job_progress(job).await
    }

    async fn current_leases(
        &self,
        node: NodeId,
        now: UnixMillis,
    ) -> Result<Vec<Lease>, CoordinatorError> {
        self.inner.current_leases(node, now).await
    }

    async fn try_acquire_leader(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<Option<FenceToken>, CoordinatorError> {
        self.inner.try_acquire_leader(name, holder, ttl, now).await
    }

    async fn renew_leader(
        &self,
        name: &str,
        holder: &str,
        token: FenceToken,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<bool, CoordinatorError> {
        self.inner.renew_leader(name, holder, token, ttl, now).await
    }

    async fn release_leader(
        &self,
        name: &str,
        holder: &str,
        token: FenceToken,
    ) -> Result<bool, CoordinatorError> {
        self.inner.release_leader(name, holder, token).await
    }

    async fn remember_nonce(
        &self,
        key: &str,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<bool, CoordinatorError> {
        self.inner.remember_nonce(key, ttl, now).await
    }

    async fn overdue_leases(&self, now: UnixMillis) -> Result<Vec<RevokedLease>, CoordinatorError> {
        self.inner.overdue_leases(now).await
    }
}

/// The dispatcher's state between passes.
pub struct Dispatcher {
    state: Context,
    /// Whether a node may take pushed work (claimed, not draining), with when it was read.
    eligible: HashMap<NodeId, (Instant, bool)>,
}

impl Dispatcher {
    /// A dispatcher leasing through `state`'s coordinator and publishing through its funnel.
    pub fn new(state: Context) -> Self {
        Self {
            state,
            eligible: HashMap::new(),
        }
    }

    /// Runs passes on every wake-up and every `tick` until `shutdown` turns true.
    pub async fn run(
        mut self,
        wake: Arc<Notify>,
        tick: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            if let Err(e) = self.pass().await {
                tracing::warn!(error = %e, "dispatch pass failed");
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(tick) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                break;
            }
        }
    }

    /// One pass: drops the credit of nodes that may not take work, leases pending chunks to
    /// the rest and pushes them. Returns how many leases were pushed.
    pub async fn pass(&mut self) -> Result<usize, DispatchError> {
        let state = self.state.clone();
        let coord = state.coordinator();
        for node in coord.credited_nodes().await? {
            if !self.may_take_work(node).await? {
                coord.drop_credit(node).await?;
            }
        }
        let now = self.state.clock().now();
        let grants = coord.dispatch(self.state.config().lease_ttl, now).await?;
        if grants.is_empty() {
            return Ok(0);
        }
        metrics::counter!("sentinel_leases_granted_total").increment(grants.len() as u64);
        let mut per_node: Vec<(NodeId, Vec<Lease>)> = Vec::new();
        for (node, lease) in grants {
            match per_node.iter_mut().find(|(n, _)| *n == node) {
                Some((_, v)) => v.push(lease),
                None => per_node.push((node, vec![lease])),
            }
        }
        let mut pushed = 0;
        for (node, leases) in per_node {
            let mut payloads = self.state.assignments(&leases).await?;
            let msg = if payloads.len() == 1 {
                payloads.pop().map(ChunkMessage::Lease)
            } else if payloads.is_empty() {
                None
            } else {
                Some(ChunkMessage::Leases { leases: payloads })
            };
            let Some(msg) = msg else { continue };
            let n = match &msg {
                ChunkMessage::Leases { leases } => leases.len(),
                _ => 1,
            };
            // A lost push costs little: the node's resync or safety poll returns every lease
            // it holds, and unclaimed leases expire and are reclaimed.
            match self
                .state
                .funnel()
                .publish(&channels::chunks(node), &msg)
                .await
            {
                Ok(()) => {
                    pushed += n;
                    metrics::counter!("sentinel_leases_pushed_total").increment(n as u64);
                }
                Err(e) => tracing::warn!(%node, error = %e, "could not push leases"),
            }
        }
        tracing::debug!(pushed, "leases pushed");
        Ok(pushed)
    }

    /// Claimed and not draining, from the store (cached for a second).
    async fn may_take_work(&mut self, node: NodeId) -> Result<bool, DispatchError> {
        if let Some((at, ok)) = self.eligible.get(&node) {
            if at.elapsed() < STATUS_TTL {
                return Ok(*ok);
            }
        }
        let ok = self
            .state
            .store()
            .node_by_id(node)
            .await?
            .is_some_and(|n| n.owner.is_some() && !n.draining);
        if self.eligible.len() > 10_000 {
            self.eligible.retain(|_, (at, _)| at.elapsed() < STATUS_TTL);
        }
        self.eligible.insert(node, (Instant::now(), ok));
        Ok(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::NodeApiConfig;
    use crate::coordinator::MemoryCoordinator;
    use crate::domain::ManualClock;
    use crate::jobs::{submit, Submission};
    use crate::publish::{Funnel, RecordingPublisher};
    use crate::store::{NewNode, NodeSettings, SqliteStore, Store};

    const T0: UnixMillis = UnixMillis(1_800_000_000_000);

    async fn node(store: &SqliteStore, owner: Option<crate::domain::UserId>) -> NodeId {
        store
            .insert_node(
                NewNode {
                    id: NodeId::new(),
                    owner,
                    public_key: format!("key-{}", NodeId::new()),
                    name: "n".into(),
                    claim_code: None,
                    max_parallel: 4,
                    cores: 4,
                    version: String::new(),
                },
                T0,
            )
            .await
            .unwrap()
            .id
    }

    fn pushed(published: &RecordingPublisher, node: NodeId) -> usize {
        published
            .sent()
            .iter()
            .filter(|(c, _)| *c == channels::chunks(node))
            .map(
                |(_, data)| match serde_json::from_slice::<ChunkMessage>(data) {
                    Ok(ChunkMessage::Lease(_)) => 1,
                    Ok(ChunkMessage::Leases { leases }) => leases.len(),
                    _ => 0,
                },
            )
            .sum()
    }

    #[tokio::test]
    async fn credit_is_pushed_as_leases_only_to_claimed_nodes_that_do_not_drain() {
        let store = Arc::new(SqliteStore::memory().await.unwrap());
        let wake = Arc::new(Notify::new());
        let coord: Arc<dyn Coordinator> = Arc::new(WakeOnWork::new(
            Arc::new(MemoryCoordinator::new()),
            wake.clone(),
        ));
        let published = Arc::new(RecordingPublisher::default());
        let clock = Arc::new(ManualClock::new(T0));
        let (state, _log) = crate::context::testing::context(
            coord.clone(),
            store.clone(),
            Funnel::new(published.clone()),
            clock.clone(),
            NodeApiConfig::default(),
            None,
        );
        let owner = store.create_user("o@x", "h", T0).await.unwrap().id;
        let (worker, drainer, unowned) = (
            node(&store, Some(owner)).await,
            node(&store, Some(owner)).await,
            node(&store, None).await,
        );
        store
            .update_node_settings(
                drainer,
                owner,
                NodeSettings {
                    draining: Some(true),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        // Idle nodes report free slots: no work yet, so it all becomes credit.
        for n in [worker, drainer, unowned] {
            assert!(coord
                .lease(n, 2, Duration::from_secs(30), T0)
                .await
                .unwrap()
                .is_empty());
        }
        submit(
            &*store,
            &*coord,
            Submission {
                owner,
                config: "p".into(),
                config_hash: "h".into(),
                iterations: 100,
                seed: 1,
                chunk_size: 10,
                public: false,
                chunk_wall_limit_ms: 0,
            },
            3,
            T0,
        )
        .await
        .unwrap();
        // Registering the job woke the dispatcher.
        tokio::time::timeout(Duration::from_secs(1), wake.notified())
            .await
            .expect("wake-up on new work");
        let mut d = Dispatcher::new(state);
        assert_eq!(d.pass().await.unwrap(), 2);
        // Two leases in one `leases` message to the claimed, non-draining node only.
        assert_eq!(pushed(&published, worker), 2);
        assert_eq!(pushed(&published, drainer), 0);
        assert_eq!(pushed(&published, unowned), 0);
        assert_eq!(published.sent().len(), 1);
        // The others' credit is gone, the worker's spent: nothing more goes out.
        assert!(coord.credited_nodes().await.unwrap().is_empty());
        assert_eq!(d.pass().await.unwrap(), 0);
    }
}
