//! The worker pool: leases held by this node, N compute slots, result reporting.
//!
//! Credit-based: the node reports (and the sentinel fills) at most `free_slots` chunks, where
//! free = max_parallel − (running + queued + reporting). A slot whose result is being posted
//! is not free: the completion asks the sentinel to refill it (`refill`) and the reply brings
//! the next lease, so a busy node neither polls nor waits for a push between chunks. Only when
//! no lease came back does the pool signal free capacity (a lease poll follows).
//!
//! Short chunks would still idle their slot for a request round trip between chunks, so the
//! node asks for more leases than it has slots while recent chunks are short: about
//! [`PREFETCH_WORK`] of extra work (at most [`MAX_PREFETCH`] chunks) waits in the queue and
//! starts the moment a slot frees. Chunks longer than that are not prefetched (a queued chunk
//! behind a long one would lengthen the job's tail while another node idles). A lease can
//! still arrive without a free slot (a push racing a poll, a resync, a lowered max_parallel);
//! it waits in the queue and is started when a slot frees.
//! Leases are keyed by `(job, chunk)`: the same chunk re-leased with a newer fence keeps its
//! running work (results are deterministic) and reports with the new fence.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use wowlab_api::node::{
    ChunkLease, CompleteRequest, ExtendedLease, FailRequest, LeaseRef, NodeSettings,
};
use wowlab_api::JobId;

use crate::client::SentinelClient;
use crate::report::{Posted, Reported, Reporter};
use crate::runner::{lease_capability, Progress, RunCtx, RunnerError, RunnerRegistry};

/// Reason sent when a drain deadline forces running chunks to be given up.
pub const SHUTDOWN_REASON: &str = "node shutting down";

/// Failure reason of a chunk stopped by the node's wall-time limit (`chunk_timeout_ms`).
pub fn time_limit_reason(limit: Duration) -> String {
    format!(
        "chunk exceeded the node's time limit of {} ms",
        limit.as_millis()
    )
}

/// Work a node keeps queued beyond its slots when chunks are short (recent average).
pub const PREFETCH_WORK: Duration = Duration::from_millis(30);
/// Most chunks prefetched (the sentinel's limit).
pub use wowlab_api::node::MAX_PREFETCH;

/// Extra leases wanted for chunks of `avg` wall time: none for chunks of `PREFETCH_WORK` or
/// more, otherwise as many as fit in it.
pub fn prefetch_for(avg: Option<Duration>) -> u32 {
    match avg {
        Some(d) if d < PREFETCH_WORK => {
            let n = PREFETCH_WORK.as_micros() / d.as_micros().max(1);
            u32::try_from(n).unwrap_or(MAX_PREFETCH).min(MAX_PREFETCH)
        }
        _ => 0,
    }
}

type Key = (JobId, u32);

fn key(l: &LeaseRef) -> Key {
    (l.job_id, l.chunk)
}

/// Where a held lease is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for a slot.
    Queued,
    /// A runner is computing it.
    Running,
    /// Computed; the result is being posted.
    Reporting,
}

struct Entry {
    lease: ChunkLease,
    phase: Phase,
    cancel: CancellationToken,
}

struct State {
    cores: u32,
    /// The local cap (config / `--max-parallel`): the owner's setting can lower it, not
    /// exceed it, so whoever runs the machine keeps the last word on its load.
    local_max: u32,
    /// Effective slot count.
    max_parallel: u32,
    /// Owner asked to drain (settings).
    owner_drain: bool,
    /// Local shutdown in progress.
    shutting_down: bool,
    name: Option<String>,
    /// Wall-time limit of one chunk (`chunk_timeout_ms`); `None` = unlimited.
    chunk_timeout: Option<Duration>,
    leases: HashMap<Key, Entry>,
    queue: VecDeque<Key>,
    running: u32,
    /// Leases in [`Phase::Reporting`], kept by [`State::remove`] and [`State::set_reporting`]
    /// so counting free slots does not scan every held lease per chunk.
    reporting: u32,
    /// Leases dropped (cancelled, refused as stale), so a late re-offer of the same fence
    /// is not computed again. Every completed chunk is buried too, so `buried` indexes them
    /// (a lease offer checks it; a scan of the queue cost ~1 µs per chunk).
    tombstones: VecDeque<LeaseRef>,
    buried: HashSet<LeaseRef>,
    /// Moving average of recent chunk wall times (for prefetching).
    recent_chunk: Option<Duration>,
}

/// Dropped leases remembered.
const TOMBSTONES: usize = 1024;

impl State {
    /// An idle pool's state: `max_parallel` slots (at least 1) on `cores` cores.
    fn new(cores: u32, max_parallel: u32) -> Self {
        Self {
            cores: cores.max(1),
            local_max: max_parallel.max(1),
            max_parallel: max_parallel.max(1),
            owner_drain: false,
            shutting_down: false,
            name: None,
            chunk_timeout: None,
            leases: HashMap::new(),
            queue: VecDeque::new(),
            running: 0,
            reporting: 0,
            tombstones: VecDeque::new(),
            buried: HashSet::new(),
            recent_chunk: None,
        }
    }

    /// Removes a held lease, keeping the reporting count.
    fn remove(&mut self, k: &Key) -> Option<Entry> {
        let e = self.leases.remove(k)?;
        if e.phase == Phase::Reporting {
            self.reporting -= 1;
        }
        Some(e)
    }

    /// Moves a held lease to [`Phase::Reporting`]; its lease ref, or `None` when it was
    /// dropped (absent or cancelled) meanwhile.
    fn set_reporting(&mut self, k: &Key) -> Option<LeaseRef> {
        let e = self.leases.get_mut(k)?;
        if e.cancel.is_cancelled() {
            return None;
        }
        if e.phase != Phase::Reporting {
            e.phase = Phase::Reporting;
            self.reporting += 1;
        }
        Some(e.lease.lease)
    }

    fn bury(&mut self, l: LeaseRef) {
        if !self.buried.insert(l) {
            return;
        }
        if self.tombstones.len() >= TOMBSTONES {
            if let Some(old) = self.tombstones.pop_front() {
                self.buried.remove(&old);
            }
        }
        self.tombstones.push_back(l);
    }
}

/// Counters since start.
#[derive(Debug, Default)]
pub struct Counters {
    /// Results the sentinel accepted (or had already).
    pub completed: AtomicU64,
    /// Failures reported.
    pub failed: AtomicU64,
    /// Work dropped (cancelled, stale lease, lost lease).
    pub dropped: AtomicU64,
}

/// Snapshot of the pool for `/status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PoolSnapshot {
    /// Chunks being computed.
    pub running: u32,
    /// Chunks waiting for a slot.
    pub queued: u32,
    /// Chunks whose result is being posted.
    pub reporting: u32,
    /// Slot limit.
    pub max_parallel: u32,
    /// Slots the node would take work for.
    pub free_slots: u32,
    /// Draining (owner request or shutdown).
    pub draining: bool,
    /// Name set by the owner, if any.
    pub name: Option<String>,
}

/// What a heartbeat reports about the pool, read under one lock so the figures agree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolReport {
    /// Slots the node wants work for (its credit).
    pub free_slots: u32,
    /// Every lease held, whatever its phase, sorted.
    pub active: Vec<LeaseRef>,
    /// Chunks being computed: the cores in use, unlike `active`, which also counts queued
    /// (prefetched) leases and results being posted.
    pub running: u32,
    /// The local cap (config / `--max-parallel`).
    pub local_max_parallel: u32,
}

/// The pool; cheap to clone.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    /// Wakes the dispatcher (new lease, freed slot, settings).
    wake: Notify,
    /// Wakes whoever requests leases when capacity appears.
    capacity: Notify,
    /// Wakes drain waiters when a lease leaves.
    idle: Notify,
    registry: RunnerRegistry,
    client: SentinelClient,
    reporter: Reporter,
    progress: Progress,
    counters: Counters,
}

impl Pool {
    /// A pool of `max_parallel` slots on a machine with `cores` physical cores. Must be called
    /// inside a tokio runtime (it starts the result reporter).
    pub fn new(
        registry: RunnerRegistry,
        client: SentinelClient,
        cores: u32,
        max_parallel: u32,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::new(cores, max_parallel)),
                wake: Notify::new(),
                capacity: Notify::new(),
                idle: Notify::new(),
                registry,
                reporter: Reporter::start(client.clone()),
                client,
                progress: Progress::default(),
                counters: Counters::default(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the wall-time limit of each chunk started from now on (`None` = unlimited).
    pub fn set_chunk_timeout(&self, limit: Option<Duration>) {
        self.state().chunk_timeout = limit.filter(|d| !d.is_zero());
    }

    /// The shared iteration counter.
    pub fn progress(&self) -> &Progress {
        &self.inner.progress
    }

    /// Counters since start.
    pub fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    /// The runner registry.
    pub fn registry(&self) -> &RunnerRegistry {
        &self.inner.registry
    }

    /// Resolves when capacity may have appeared (slot freed, settings changed).
    pub async fn capacity_changed(&self) {
        self.inner.capacity.notified().await
    }

    /// Slots the node wants work for: 0 while draining.
    pub fn free_slots(&self) -> u32 {
        free(&self.state())
    }

    /// Every lease held, for heartbeats.
    pub fn active(&self) -> Vec<LeaseRef> {
        let mut v: Vec<LeaseRef> = self
            .state()
            .leases
            .values()
            .map(|e| e.lease.lease)
            .collect();
        v.sort();
        v
    }

    /// The local cap on parallel chunks (config / `--max-parallel`); the owner's setting can
    /// only lower the effective slot count below it.
    pub fn local_max_parallel(&self) -> u32 {
        self.state().local_max
    }

    /// Free slots, held leases, running chunks and the local cap, for a heartbeat.
    pub fn report(&self) -> PoolReport {
        let s = self.state();
        let mut active: Vec<LeaseRef> = s.leases.values().map(|e| e.lease.lease).collect();
        active.sort();
        PoolReport {
            free_slots: free(&s),
            active,
            running: s.running,
            local_max_parallel: s.local_max,
        }
    }

    /// Number of leases held in any phase.
    pub fn held(&self) -> usize {
        self.state().leases.len()
    }

    /// A snapshot for `/status`.
    pub fn snapshot(&self) -> PoolSnapshot {
        let s = self.state();
        let count = |p: Phase| s.leases.values().filter(|e| e.phase == p).count() as u32;
        PoolSnapshot {
            running: count(Phase::Running),
            queued: count(Phase::Queued),
            reporting: count(Phase::Reporting),
            max_parallel: s.max_parallel,
            free_slots: free(&s),
            draining: s.owner_drain || s.shutting_down,
            name: s.name.clone(),
        }
    }

    /// Takes a lease offered by the sentinel (push, resync or lease reply). Returns whether it
    /// was new. While shutting down, new leases are refused with a failure so they move on.
    pub fn offer(&self, lease: ChunkLease) -> bool {
        let mut s = self.state();
        let k = key(&lease.lease);
        if let Some(e) = s.leases.get_mut(&k) {
            if lease.lease.fence > e.lease.lease.fence {
                tracing::debug!(job = %k.0, chunk = k.1, fence = lease.lease.fence, "lease renewed with a new fence");
                e.lease.lease.fence = lease.lease.fence;
            }
            if lease.lease.fence == e.lease.lease.fence {
                e.lease.expires_at_ms = e.lease.expires_at_ms.max(lease.expires_at_ms);
            }
            return false;
        }
        if s.buried.contains(&lease.lease) {
            return false;
        }
        if s.shutting_down {
            drop(s);
            self.spawn_fail(lease.lease, SHUTDOWN_REASON.to_owned());
            return false;
        }
        tracing::debug!(job = %k.0, chunk = k.1, iters = lease.iter_end.saturating_sub(lease.iter_start), "lease accepted");
        s.leases.insert(
            k,
            Entry {
                lease,
                phase: Phase::Queued,
                cancel: CancellationToken::new(),
            },
        );
        s.queue.push_back(k);
        drop(s);
        self.inner.wake.notify_one();
        true
    }

    /// Drops a lease (cancel push, heartbeat `cancelled`, resync): its runner is cancelled and
    /// nothing is reported. A cancel naming an older fence than the one held is ignored.
    pub fn cancel(&self, lease: &LeaseRef, why: &str) -> bool {
        let mut s = self.state();
        let k = key(lease);
        match s.leases.get(&k) {
            Some(e) if e.lease.lease.fence <= lease.fence => {}
            Some(_) => return false,
            None => {
                // The cancel overtook its lease (push and heartbeat race): refuse the lease
                // when it arrives.
                s.bury(*lease);
                return false;
            }
        }
        let Some(e) = s.remove(&k) else {
            return false;
        };
        s.queue.retain(|q| *q != k);
        s.bury(e.lease.lease);
        drop(s);
        e.cancel.cancel();
        self.inner.counters.dropped.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("wowlab_node_chunks_total", "outcome" => "dropped").increment(1);
        tracing::info!(job = %k.0, chunk = k.1, why, "dropped chunk");
        self.left();
        true
    }

    /// Drops every lease (lease loss: no heartbeat got through for a whole TTL).
    pub fn cancel_all(&self, why: &str) {
        for l in self.active() {
            self.cancel(&l, why);
        }
    }

    /// Applies a resync: held leases missing from `current` (and present before the request
    /// was sent, per `before`) are no longer ours; the ones listed are offered.
    pub fn resync(&self, before: &[LeaseRef], current: Vec<ChunkLease>) -> usize {
        let listed: HashSet<Key> = current.iter().map(|l| key(&l.lease)).collect();
        for l in before {
            let reporting = self
                .state()
                .leases
                .get(&key(l))
                .is_some_and(|e| e.phase == Phase::Reporting);
            if !listed.contains(&key(l)) && !reporting {
                self.cancel(l, "not held according to the sentinel");
            }
        }
        current
            .into_iter()
            .filter(|l| self.offer(l.clone()))
            .count()
    }

    /// Applies heartbeat extensions.
    pub fn extend(&self, extended: &[ExtendedLease]) {
        let mut s = self.state();
        for x in extended {
            if let Some(e) = s.leases.get_mut(&key(&x.lease)) {
                if e.lease.lease.fence == x.lease.fence {
                    e.lease.expires_at_ms = e.lease.expires_at_ms.max(x.expires_at_ms);
                }
            }
        }
    }

    /// Applies owner settings live: name, drain, and max_parallel (0 = one per core),
    /// capped by the local limit.
    pub fn apply_settings(&self, settings: &NodeSettings) {
        let mut s = self.state();
        let wanted = if settings.max_parallel == 0 {
            s.cores
        } else {
            settings.max_parallel
        };
        let max = wanted.clamp(1, s.local_max);
        let changed = s.max_parallel != max || s.owner_drain != settings.drain;
        if changed {
            tracing::info!(
                max_parallel = max,
                drain = settings.drain,
                "settings applied"
            );
        }
        s.max_parallel = max;
        s.owner_drain = settings.drain;
        s.name = Some(settings.name.clone());
        drop(s);
        if changed {
            self.inner.wake.notify_one();
            self.inner.capacity.notify_one();
        }
    }

    /// Stops taking work: queued leases are handed back as failures, running ones continue.
    pub async fn begin_shutdown(&self) {
        let refs: Vec<LeaseRef> = {
            let mut s = self.state();
            s.shutting_down = true;
            let queued: Vec<Key> = s.queue.drain(..).collect();
            queued
                .iter()
                .filter_map(|k| s.remove(k).map(|e| e.lease.lease))
                .collect()
        };
        self.left();
        self.fail_all(refs).await;
    }

    /// Gives up on everything still running (drain deadline): cancelled and reported failed.
    pub async fn abandon_running(&self) {
        let refs = {
            let mut s = self.state();
            let running: Vec<Key> = s
                .leases
                .iter()
                .filter(|(_, e)| e.phase == Phase::Running)
                .map(|(k, _)| *k)
                .collect();
            let mut refs = Vec::new();
            for k in running {
                if let Some(e) = s.remove(&k) {
                    e.cancel.cancel();
                    refs.push(e.lease.lease);
                }
            }
            refs
        };
        self.left();
        self.fail_all(refs).await;
    }

    async fn fail_all(&self, refs: Vec<LeaseRef>) {
        let mut set = tokio::task::JoinSet::new();
        for r in refs {
            let pool = self.clone();
            set.spawn(async move { pool.report_fail(r, SHUTDOWN_REASON.to_owned()).await });
        }
        while set.join_next().await.is_some() {}
    }

    /// Waits until no lease is held.
    pub async fn wait_idle(&self) {
        loop {
            let idle = self.inner.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.held() == 0 {
                return;
            }
            idle.await;
        }
    }

    fn left(&self) {
        self.inner.idle.notify_waiters();
        self.inner.wake.notify_one();
    }

    /// Starts queued leases while slots are free; runs until `stop` is cancelled. The chunks
    /// run on this task (a short one finishes in its first poll, a long one waits for its
    /// blocking thread) rather than a spawned task each, which cost more than a tiny chunk.
    pub async fn run_dispatcher(self, stop: CancellationToken) {
        let mut running = FuturesUnordered::new();
        loop {
            let wake = self.inner.wake.notified();
            tokio::pin!(wake);
            wake.as_mut().enable();
            while let Some((lease, cancel, limit)) = self.next_to_start() {
                running.push(self.clone().work(lease, cancel, limit));
            }
            tokio::select! {
                _ = wake => {}
                Some(()) = running.next(), if !running.is_empty() => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    fn next_to_start(&self) -> Option<(ChunkLease, CancellationToken, Option<Duration>)> {
        let mut s = self.state();
        if s.shutting_down || s.running >= s.max_parallel {
            return None;
        }
        while let Some(k) = s.queue.pop_front() {
            if let Some(e) = s.leases.get_mut(&k) {
                e.phase = Phase::Running;
                let out = (e.lease.clone(), e.cancel.clone(), s.chunk_timeout);
                s.running += 1;
                return Some(out);
            }
        }
        None
    }

    /// One chunk: run (within the wall-time limit, if any), free the slot, report.
    async fn work(self, lease: ChunkLease, cancel: CancellationToken, limit: Option<Duration>) {
        let started = Instant::now();
        // A child token: the time limit stops the runner without marking the lease dropped,
        // so the chunk is still reported (as failed) below.
        let run_cancel = cancel.child_token();
        let ctx = RunCtx {
            cancel: run_cancel.clone(),
            progress: self.inner.progress.clone(),
        };
        let cap = lease_capability(&lease);
        metrics::gauge!("wowlab_node_running_chunks").increment(1.0);
        let run = self.inner.registry.run(cap, &lease, ctx);
        let outcome = match limit {
            None => run.await,
            Some(limit) => {
                tokio::pin!(run);
                tokio::select! {
                    out = &mut run => out,
                    _ = tokio::time::sleep(limit) => {
                        run_cancel.cancel();
                        // Wait for the runner to stop (it checks between ~50 ms slices) so the
                        // slot is really free; whatever it returns, the limit was exceeded.
                        let _ = run.await;
                        Err(RunnerError::Failed(time_limit_reason(limit)))
                    }
                }
            }
        };
        metrics::gauge!("wowlab_node_running_chunks").decrement(1.0);
        let took = started.elapsed();
        tracing::trace!(
            chunk = lease.lease.chunk,
            took_us = took.as_micros() as u64,
            "chunk computed"
        );
        metrics::histogram!("wowlab_node_chunk_seconds").record(took.as_secs_f64());
        let k = key(&lease.lease);
        let current = {
            let mut s = self.state();
            s.running = s.running.saturating_sub(1);
            if outcome.is_ok() {
                s.recent_chunk = Some(match s.recent_chunk {
                    Some(avg) => (avg * 3 + took) / 4,
                    None => took,
                });
            }
            s.set_reporting(&k)
        };
        // The slot is free for queued work now; posting does not hold it.
        self.inner.wake.notify_one();
        let Some(current) = current else {
            // Dropped meanwhile: nothing to report, the slot is free for new work.
            self.inner.capacity.notify_one();
            return;
        };
        match outcome {
            Ok(bytes) => {
                let refill = {
                    let s = self.state();
                    !(s.owner_drain || s.shutting_down)
                };
                let req = CompleteRequest {
                    lease: current,
                    result_b64: B64.encode(&bytes),
                    elapsed_ms: started.elapsed().as_millis() as u64,
                    refill,
                };
                // The chunk's task ends here; its reply is handled on the reporter's task.
                let pool = self.clone();
                self.inner
                    .reporter
                    .submit(req, Box::new(move |posted| pool.posted(k, current, posted)));
            }
            Err(RunnerError::Cancelled) => self.finish(k, current, false),
            Err(RunnerError::Failed(reason)) => {
                tracing::warn!(job = %k.0, chunk = k.1, %reason, "chunk failed");
                self.report_fail(current, reason).await;
                self.finish(k, current, false);
            }
        }
    }

    /// A posted result's outcome: offers the reply's leases, counts, and lets the lease go.
    fn posted(&self, k: Key, current: LeaseRef, posted: Posted) {
        for lease in posted.leases {
            self.offer(lease);
        }
        match posted.outcome {
            Reported::Accepted { fresh } => {
                self.inner
                    .counters
                    .completed
                    .fetch_add(1, Ordering::Relaxed);
                metrics::counter!("wowlab_node_chunks_total", "outcome" => "completed")
                    .increment(1);
                tracing::debug!(job = %k.0, chunk = k.1, fresh, "chunk completed");
            }
            Reported::Stale => {
                self.inner.counters.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::info!(job = %k.0, chunk = k.1, "result refused, lease no longer held; dropped");
            }
            Reported::Failed(e) => {
                self.inner.counters.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::error!(job = %k.0, chunk = k.1, error = %e, "could not post result");
            }
        }
        self.finish(k, current, posted.refilled);
    }

    /// Forgets a reported (or abandoned) lease and asks for work unless the reply refilled
    /// its slot and nothing else is free.
    fn finish(&self, k: Key, current: LeaseRef, refilled: bool) {
        {
            let mut s = self.state();
            s.remove(&k);
            s.bury(current);
        }
        self.left();
        if !refilled || self.free_slots() > 0 {
            // No lease came with the reply, or a slot (or the prefetch) is still free: ask for
            // work (a poll follows).
            self.inner.capacity.notify_one();
        }
    }

    fn spawn_fail(&self, lease: LeaseRef, reason: String) {
        let pool = self.clone();
        tokio::spawn(async move { pool.report_fail(lease, reason).await });
    }

    async fn report_fail(&self, lease: LeaseRef, reason: String) {
        self.inner.counters.failed.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("wowlab_node_chunks_total", "outcome" => "failed").increment(1);
        let req = FailRequest { lease, reason };
        match self.inner.client.fail(&req).await {
            Ok(r) => {
                tracing::debug!(job = %lease.job_id, chunk = lease.chunk, action = ?r.action, "failure reported")
            }
            Err(e) if e.is_stale_lease() => {}
            Err(e) => {
                tracing::warn!(job = %lease.job_id, chunk = lease.chunk, error = %e, "could not report failure")
            }
        }
    }
}

fn free(s: &State) -> u32 {
    if s.owner_drain || s.shutting_down {
        return 0;
    }
    let queued = s.queue.len() as u32;
    // A reporting slot is refilled by its completion's reply (or freed after it).
    (s.max_parallel + prefetch_for(s.recent_chunk)).saturating_sub(s.running + queued + s.reporting)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_chunks_are_prefetched_long_ones_not() {
        assert_eq!(prefetch_for(None), 0);
        assert_eq!(prefetch_for(Some(Duration::from_millis(500))), 0);
        assert_eq!(prefetch_for(Some(PREFETCH_WORK)), 0);
        assert_eq!(prefetch_for(Some(Duration::from_millis(10))), 3);
        assert_eq!(prefetch_for(Some(Duration::from_micros(100))), MAX_PREFETCH);
        assert_eq!(prefetch_for(Some(Duration::ZERO)), MAX_PREFETCH);
    }

    fn lease(job: JobId, chunk: u32) -> ChunkLease {
        ChunkLease {
            lease: LeaseRef {
                job_id: job,
                chunk,
                fence: 1,
            },
            iter_start: 0,
            iter_end: 1,
            seed: 1,
            config_hash: "h".into(),
            expires_at_ms: 0,
        }
    }

    #[tokio::test]
    async fn heartbeat_reports_running_apart_from_queued_and_the_local_cap() {
        let key = wowlab_api::signing::NodeKey::generate().unwrap();
        // Never called: no dispatcher runs and nothing completes.
        let client = SentinelClient::new(
            "http://127.0.0.1:9",
            key,
            Duration::from_secs(1),
            crate::client::RetryPolicy::default(),
        )
        .unwrap();
        // `--max-parallel 1` on a 2-core machine; the owner allows one per core.
        let pool = Pool::new(RunnerRegistry::new(), client, 2, 1);
        pool.apply_settings(&NodeSettings {
            name: "n".into(),
            max_parallel: 0,
            drain: false,
        });
        let job = JobId::new();
        for chunk in 0..3 {
            assert!(pool.offer(lease(job, chunk)));
        }
        // What the dispatcher does: one slot, so one chunk starts and two stay queued.
        assert!(pool.next_to_start().is_some());
        assert!(pool.next_to_start().is_none());
        let report = pool.report();
        assert_eq!(
            (
                report.running,
                report.active.len(),
                report.local_max_parallel
            ),
            (1, 3, 1)
        );
        assert_eq!(report.free_slots, 0);
        let hb = crate::heartbeat::request(report, wowlab_api::node::SystemMetrics::default());
        assert_eq!(
            (hb.running, hb.active.len(), hb.local_max_parallel),
            (Some(1), 3, Some(1))
        );
        assert_eq!(pool.snapshot().queued, 2);
    }

    #[test]
    fn free_slots_count_reporting_and_add_the_prefetch() {
        let mut s = State::new(2, 2);
        s.running = 1;
        assert_eq!(free(&s), 1);
        let lease = lease(JobId::new(), 0);
        let k = key(&lease.lease);
        s.leases.insert(
            k,
            Entry {
                lease,
                phase: Phase::Running,
                cancel: CancellationToken::new(),
            },
        );
        assert!(s.set_reporting(&k).is_some());
        // The reporting slot is refilled by its completion's reply, not by a request.
        assert_eq!(free(&s), 0);
        // 10 ms chunks: 3 more leases wanted ahead of time.
        s.recent_chunk = Some(Duration::from_millis(10));
        assert_eq!(free(&s), 3);
        s.owner_drain = true;
        assert_eq!(free(&s), 0);
        s.owner_drain = false;
        // Removing the reporting lease gives its slot back.
        assert!(s.remove(&k).is_some());
        assert_eq!(s.reporting, 0);
        assert_eq!(free(&s), 4);
    }
}
