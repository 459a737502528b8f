//! In-memory coordinator for embedded mode: one mutex around plain maps, every operation
//! O(1) or O(log n) in the number of leases (the expiry index is a B-tree), so a single
//! sentinel handles tens of thousands of lease+complete cycles per second.
//!
//! Pending chunks of a job are a cursor over never-leased indices plus a queue of chunks that
//! came back (failure, expiry, dead node), so a million-chunk job costs a bitmap, not a list.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;

use super::{
    CompleteOutcome, Coordinator, CoordinatorError, DeadNode, FailOutcome, HeartbeatOutcome,
    JobProgress, JobSpec, Lease, LeaseRef, RecheckOutcome, Reclaimed, RevokedLease,
};
use crate::domain::{ChunkIndex, Fence, FenceToken, JobId, NodeId, UnixMillis};

/// The in-process [`Coordinator`].
pub struct MemoryCoordinator {
    state: Mutex<State>,
    nonce_capacity: usize,
}

/// Unexpired nonces the memory coordinator keeps at most (about 150 bytes each): 16k signed
/// requests a second for the two-minute window.
pub const NONCE_CAPACITY: usize = 2_000_000;

impl Default for MemoryCoordinator {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryCoordinator {
    /// An empty coordinator. Fences start from the wall clock (ms × 2^16) so they keep growing
    /// across a process restart without being persisted. Leader tokens start at ms × 1000, the
    /// Redis coordinator's base, so the store's stored leader fence (`leader_fences`) stays
    /// comparable when a grid moves from one to the other.
    pub fn new() -> Self {
        let now = UnixMillis::now().0;
        let base = now << 16;
        Self {
            state: Mutex::new(State {
                next_fence: base,
                next_leader_token: now * 1000,
                ..State::default()
            }),
            nonce_capacity: NONCE_CAPACITY,
        }
    }

    /// Nonces held in the replay cache (expired ones go at the next insert).
    pub fn nonce_count(&self) -> usize {
        self.state.lock().nonces.len()
    }

    /// The same with a replay cache of at most `capacity` unexpired nonces.
    pub fn with_nonce_capacity(mut self, capacity: usize) -> Self {
        self.nonce_capacity = capacity.max(1);
        self
    }
}

#[derive(Default)]
struct State {
    jobs: HashMap<JobId, JobState>,
    /// Jobs with pending chunks, per share key, in rotation order.
    share_queues: HashMap<String, VecDeque<JobId>>,
    /// Share keys that have a non-empty queue, in rotation order.
    share_ring: VecDeque<String>,
    leases: HashMap<Fence, LeaseRec>,
    node_leases: HashMap<NodeId, HashSet<Fence>>,
    expiries: BTreeSet<(UnixMillis, Fence)>,
    /// Lease deadlines (wall-time limits), for [`Coordinator::overdue_leases`].
    deadlines: BTreeSet<(UnixMillis, Fence)>,
    nodes: HashMap<NodeId, NodeSeen>,
    /// Free slots per node that no pending chunk filled yet (absent = 0).
    credits: HashMap<NodeId, u32>,
    next_fence: u64,
    leaders: HashMap<String, LeaderRec>,
    next_leader_token: u64,
    nonces: HashMap<String, UnixMillis>,
    nonce_expiries: BTreeSet<(UnixMillis, String)>,
}

struct LeaseRec {
    job: JobId,
    chunk: ChunkIndex,
    node: NodeId,
    expires_at: UnixMillis,
    /// Granted time + the job's chunk wall-time limit.
    deadline: UnixMillis,
}

struct NodeSeen {
    last_seen: UnixMillis,
    dead: bool,
}

struct LeaderRec {
    holder: String,
    token: FenceToken,
    expires_at: UnixMillis,
}

struct ChunkFailures {
    count: u32,
    last_node: NodeId,
}

struct JobState {
    spec: JobSpec,
    /// Indices `>= next_fresh` have never been leased (some may be done after a restore).
    next_fresh: u32,
    /// Chunks that are pending again, oldest first.
    returned: VecDeque<ChunkIndex>,
    /// Current lease per leased chunk.
    leased: HashMap<ChunkIndex, Fence>,
    done: Vec<u64>,
    done_count: u32,
    failures: HashMap<ChunkIndex, ChunkFailures>,
    failure_total: u32,
    /// Nodes a chunk awaiting a spot check must not go to ([`Coordinator::recheck`]).
    avoid: HashMap<ChunkIndex, Vec<NodeId>>,
    /// Whether the job sits in its share queue.
    queued: bool,
}

impl JobState {
    fn new(spec: JobSpec) -> Self {
        let words = (spec.chunk_count as usize).div_ceil(64);
        Self {
            spec,
            next_fresh: 0,
            returned: VecDeque::new(),
            leased: HashMap::new(),
            done: vec![0; words],
            done_count: 0,
            failures: HashMap::new(),
            failure_total: 0,
            avoid: HashMap::new(),
            queued: false,
        }
    }

    fn is_done(&self, c: ChunkIndex) -> bool {
        let i = c.as_usize();
        self.done[i / 64] & (1 << (i % 64)) != 0
    }

    fn mark_done(&mut self, c: ChunkIndex) {
        let i = c.as_usize();
        if !self.is_done(c) {
            self.done[i / 64] |= 1 << (i % 64);
            self.done_count += 1;
        }
    }

    fn unmark_done(&mut self, c: ChunkIndex) {
        let i = c.as_usize();
        if self.is_done(c) {
            self.done[i / 64] &= !(1 << (i % 64));
            self.done_count -= 1;
        }
    }

    fn pending(&self) -> u32 {
        self.spec.chunk_count - self.done_count - self.leased.len() as u32
    }

    fn in_range(&self, c: ChunkIndex) -> bool {
        c.0 < self.spec.chunk_count
    }

    fn failed_last_on(&self, c: ChunkIndex, node: NodeId) -> bool {
        self.failures.get(&c).is_some_and(|f| f.last_node == node)
    }

    /// Takes one pending chunk for `node`: returned chunks first (oldest work first), skipping
    /// those that last failed on `node` when `other_live` says another node could take them.
    fn take_chunk(
        &mut self,
        node: NodeId,
        other_live: &mut impl FnMut() -> bool,
    ) -> Option<ChunkIndex> {
        let mut chosen = None;
        for (pos, &c) in self.returned.iter().enumerate() {
            // A spot check waits for another owner's node, however long that takes.
            if self.avoid.get(&c).is_some_and(|a| a.contains(&node)) {
                continue;
            }
            if self.failed_last_on(c, node) && other_live() {
                continue;
            }
            chosen = Some(pos);
            break;
        }
        if let Some(pos) = chosen {
            return self.returned.remove(pos);
        }
        while self.next_fresh < self.spec.chunk_count {
            let c = ChunkIndex(self.next_fresh);
            self.next_fresh += 1;
            // A returned chunk is taken from `returned` only (with its bar): a restored job
            // scans its fresh chunks from 0 and would meet a reopened one here too.
            if !self.is_done(c) && !self.leased.contains_key(&c) && !self.returned.contains(&c) {
                return Some(c);
            }
        }
        None
    }
}

impl State {
    fn fresh_fence(&mut self) -> Fence {
        self.next_fence += 1;
        Fence(self.next_fence)
    }

    fn touch_node(&mut self, node: NodeId, now: UnixMillis) {
        let seen = self.nodes.entry(node).or_insert(NodeSeen {
            last_seen: now,
            dead: false,
        });
        seen.last_seen = seen.last_seen.max(now);
        seen.dead = false;
    }

    fn enqueue(&mut self, job: JobId) {
        let Some(js) = self.jobs.get_mut(&job) else {
            return;
        };
        if js.queued || js.pending() == 0 {
            return;
        }
        js.queued = true;
        let key = js.spec.share_key.clone();
        let q = self.share_queues.entry(key.clone()).or_default();
        if q.is_empty() {
            self.share_ring.push_back(key);
        }
        q.push_back(job);
    }

    fn dequeue(&mut self, job: JobId, key: &str) {
        if let Some(q) = self.share_queues.get_mut(key) {
            q.retain(|j| *j != job);
            if q.is_empty() {
                self.share_queues.remove(key);
                self.share_ring.retain(|k| k != key);
            }
        }
    }

    fn insert_lease(&mut self, rec: LeaseRec, fence: Fence) {
        self.expiries.insert((rec.expires_at, fence));
        self.deadlines.insert((rec.deadline, fence));
        self.node_leases.entry(rec.node).or_default().insert(fence);
        self.leases.insert(fence, rec);
    }

    /// Removes a lease from every index (not from the job's `leased` map).
    fn drop_lease(&mut self, fence: Fence) -> Option<LeaseRec> {
        let rec = self.leases.remove(&fence)?;
        self.expiries.remove(&(rec.expires_at, fence));
        self.deadlines.remove(&(rec.deadline, fence));
        if let Some(set) = self.node_leases.get_mut(&rec.node) {
            set.remove(&fence);
            if set.is_empty() {
                self.node_leases.remove(&rec.node);
            }
        }
        Some(rec)
    }

    /// Returns a leased chunk to pending.
    fn return_lease(&mut self, fence: Fence) -> Option<Reclaimed> {
        let rec = self.drop_lease(fence)?;
        if let Some(js) = self.jobs.get_mut(&rec.job) {
            if js.leased.get(&rec.chunk) == Some(&fence) {
                js.leased.remove(&rec.chunk);
                js.returned.push_back(rec.chunk);
            }
        }
        self.enqueue(rec.job);
        Some(Reclaimed {
            node: rec.node,
            job: rec.job,
            chunk: rec.chunk,
        })
    }

    /// The lease if `node` holds it with this exact job, chunk and fence (expired or not).
    fn held(&self, node: NodeId, l: &LeaseRef) -> Option<&LeaseRec> {
        self.leases
            .get(&l.fence)
            .filter(|r| r.node == node && r.job == l.job && r.chunk == l.chunk)
    }

    /// Ends `node`'s current lease of a chunk (not its job's `leased` entry) for `complete`
    /// and `recheck`; otherwise what `complete` answers (stale, already done) and changes
    /// nothing.
    fn end_current_lease(
        &mut self,
        node: NodeId,
        lease: &LeaseRef,
        now: UnixMillis,
    ) -> Result<Option<CompleteOutcome>, CoordinatorError> {
        let Some(js) = self.jobs.get(&lease.job) else {
            return Ok(Some(CompleteOutcome::Stale));
        };
        if !js.in_range(lease.chunk) {
            return Err(CoordinatorError::chunk_out_of_range(lease.job, lease.chunk));
        }
        if js.is_done(lease.chunk) {
            return Ok(Some(CompleteOutcome::AlreadyDone));
        }
        if !self.held_unexpired(node, lease, now) {
            return Ok(Some(CompleteOutcome::Stale));
        }
        self.drop_lease(lease.fence);
        Ok(None)
    }

    /// Marks the chunk done if `node` holds this lease unexpired.
    fn complete(
        &mut self,
        node: NodeId,
        lease: &LeaseRef,
        now: UnixMillis,
    ) -> Result<CompleteOutcome, CoordinatorError> {
        if let Some(refused) = self.end_current_lease(node, lease, now)? {
            return Ok(refused);
        }
        let Some(js) = self.jobs.get_mut(&lease.job) else {
            return Ok(CompleteOutcome::Stale);
        };
        js.leased.remove(&lease.chunk);
        js.failures.remove(&lease.chunk);
        js.avoid.remove(&lease.chunk);
        js.mark_done(lease.chunk);
        Ok(CompleteOutcome::Completed {
            job_done: js.done_count == js.spec.chunk_count,
        })
    }

    /// Whether `node` holds this lease and it has not expired at `now`.
    fn held_unexpired(&self, node: NodeId, l: &LeaseRef, now: UnixMillis) -> bool {
        self.held(node, l).is_some_and(|r| r.expires_at > now)
    }

    /// Removes a job and all its leases; returns the revoked leases.
    fn remove_job(&mut self, job: JobId) -> Option<Vec<RevokedLease>> {
        let js = self.jobs.remove(&job)?;
        if js.queued {
            self.dequeue(job, &js.spec.share_key);
        }
        let mut revoked: Vec<RevokedLease> = js
            .leased
            .iter()
            .filter_map(|(&chunk, &fence)| {
                self.drop_lease(fence).map(|rec| RevokedLease {
                    node: rec.node,
                    lease: LeaseRef { job, chunk, fence },
                })
            })
            .collect();
        revoked.sort_by_key(|r| r.lease.chunk);
        Some(revoked)
    }

    fn set_credit(&mut self, node: NodeId, credit: u32) {
        if credit == 0 {
            self.credits.remove(&node);
        } else {
            self.credits.insert(node, credit);
        }
    }

    fn credit(&self, node: NodeId) -> u32 {
        self.credits.get(&node).copied().unwrap_or(0)
    }

    /// Whether `node` may receive pushed work: not dead and seen within `ttl`.
    fn is_live(&self, node: NodeId, ttl: Duration, now: UnixMillis) -> bool {
        self.nodes
            .get(&node)
            .is_some_and(|s| !s.dead && s.last_seen.plus(ttl) >= now)
    }

    /// Marks `node` dead, drops its credit and returns its leases to pending.
    fn kill_node(&mut self, node: NodeId) -> Vec<Reclaimed> {
        if let Some(seen) = self.nodes.get_mut(&node) {
            seen.dead = true;
        }
        self.credits.remove(&node);
        let mut fences: Vec<Fence> = self
            .node_leases
            .get(&node)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        fences.sort_unstable();
        fences
            .into_iter()
            .filter_map(|f| self.return_lease(f))
            .collect()
    }

    /// Leases up to `free_slots` pending chunks to `node` (no liveness or credit bookkeeping).
    fn take_leases(
        &mut self,
        node: NodeId,
        free_slots: u32,
        ttl: Duration,
        now: UnixMillis,
    ) -> Vec<Lease> {
        let expires_at = now.plus(ttl);
        let mut granted = Vec::new();
        let mut other_live_cache: Option<bool> = None;
        let mut misses = 0usize;
        // Once every job queued at the start has been offered without yielding a chunk for this
        // node (all its pending chunks last failed here), stop instead of spinning.
        let max_misses: usize = self.share_queues.values().map(VecDeque::len).sum();
        while (granted.len() as u32) < free_slots {
            let Some(key) = self.share_ring.pop_front() else {
                break;
            };
            let Some(job) = self.share_queues.get_mut(&key).and_then(|q| q.pop_front()) else {
                self.share_queues.remove(&key);
                continue;
            };
            let mut deadline = now;
            let taken = match self.jobs.get_mut(&job) {
                Some(js) => {
                    deadline = now.plus(js.spec.wall_limit());
                    let nodes = &self.nodes;
                    let mut other_live = || {
                        *other_live_cache.get_or_insert_with(|| {
                            nodes.iter().any(|(id, s)| {
                                *id != node && !s.dead && s.last_seen.plus(ttl) >= now
                            })
                        })
                    };
                    let taken = js.take_chunk(node, &mut other_live);
                    js.queued = js.pending() > 0;
                    taken.map(|c| (c, js.queued))
                }
                None => None,
            };
            let still_queued = match taken {
                Some((chunk, still_queued)) => {
                    misses = 0;
                    let fence = self.fresh_fence();
                    if let Some(js) = self.jobs.get_mut(&job) {
                        js.leased.insert(chunk, fence);
                    }
                    self.insert_lease(
                        LeaseRec {
                            job,
                            chunk,
                            node,
                            expires_at,
                            deadline,
                        },
                        fence,
                    );
                    granted.push(Lease {
                        job,
                        chunk,
                        fence,
                        expires_at,
                    });
                    still_queued
                }
                None => {
                    misses += 1;
                    self.jobs.get(&job).is_some_and(|js| js.queued)
                }
            };
            let q = self.share_queues.entry(key.clone()).or_default();
            if still_queued {
                q.push_back(job);
            }
            if q.is_empty() {
                self.share_queues.remove(&key);
            } else {
                self.share_ring.push_back(key);
            }
            if misses >= max_misses {
                break;
            }
        }
        granted
    }
}

#[async_trait]
impl Coordinator for MemoryCoordinator {
    async fn register_job(&self, spec: JobSpec) -> Result<(), CoordinatorError> {
        validate_spec(&spec)?;
        let mut st = self.state.lock();
        if st.jobs.contains_key(&spec.job) {
            return Err(CoordinatorError::JobExists(spec.job));
        }
        let job = spec.job;
        st.jobs.insert(job, JobState::new(spec));
        st.enqueue(job);
        Ok(())
    }

    async fn restore_job(
        &self,
        spec: JobSpec,
        done: &[ChunkIndex],
    ) -> Result<bool, CoordinatorError> {
        validate_spec(&spec)?;
        if let Some(bad) = done.iter().find(|c| c.0 >= spec.chunk_count) {
            return Err(CoordinatorError::Invalid(format!(
                "done chunk {bad} out of range for {} chunks",
                spec.chunk_count
            )));
        }
        let mut st = self.state.lock();
        if st.jobs.contains_key(&spec.job) {
            return Ok(false);
        }
        let job = spec.job;
        let mut js = JobState::new(spec);
        for &c in done {
            js.mark_done(c);
        }
        st.jobs.insert(job, js);
        st.enqueue(job);
        Ok(true)
    }

    async fn extend_job(&self, job: JobId, chunk_count: u32) -> Result<bool, CoordinatorError> {
        let mut st = self.state.lock();
        let js = st
            .jobs
            .get_mut(&job)
            .ok_or(CoordinatorError::UnknownJob(job))?;
        if chunk_count <= js.spec.chunk_count {
            return Ok(false);
        }
        js.spec.chunk_count = chunk_count;
        js.done.resize((chunk_count as usize).div_ceil(64), 0);
        st.enqueue(job);
        Ok(true)
    }

    async fn lease(
        &self,
        node: NodeId,
        free_slots: u32,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<Vec<Lease>, CoordinatorError> {
        let mut st = self.state.lock();
        st.touch_node(node, now);
        let granted = st.take_leases(node, free_slots, ttl, now);
        st.set_credit(node, free_slots.saturating_sub(granted.len() as u32));
        Ok(granted)
    }

    async fn add_credit(
        &self,
        node: NodeId,
        slots: u32,
        cap: u32,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<Vec<Lease>, CoordinatorError> {
        let mut st = self.state.lock();
        st.touch_node(node, now);
        let credit = st.credit(node).saturating_add(slots).min(cap);
        let granted = st.take_leases(node, credit, ttl, now);
        st.set_credit(node, credit - granted.len() as u32);
        Ok(granted)
    }

    async fn credited_nodes(&self) -> Result<Vec<NodeId>, CoordinatorError> {
        let st = self.state.lock();
        let mut out: Vec<NodeId> = st
            .credits
            .keys()
            .copied()
            .filter(|n| st.nodes.get(n).is_some_and(|s| !s.dead))
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    async fn drop_credit(&self, node: NodeId) -> Result<(), CoordinatorError> {
        self.state.lock().credits.remove(&node);
        Ok(())
    }

    async fn dispatch(
        &self,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<Vec<(NodeId, Lease)>, CoordinatorError> {
        let mut st = self.state.lock();
        let mut rotation: Vec<NodeId> = st
            .credits
            .keys()
            .copied()
            .filter(|&n| st.is_live(n, ttl, now))
            .collect();
        rotation.sort_unstable();
        let mut out = Vec::new();
        // One chunk per node per round, so scarce work is shared across nodes.
        while !rotation.is_empty() && !st.share_ring.is_empty() {
            rotation.retain(|&node| {
                let credit = st.credit(node);
                if credit == 0 {
                    return false;
                }
                match st.take_leases(node, 1, ttl, now).pop() {
                    Some(lease) => {
                        st.set_credit(node, credit - 1);
                        out.push((node, lease));
                        true
                    }
                    // Nothing this node may take (all pending chunks last failed on it).
                    None => false,
                }
            });
        }
        Ok(out)
    }

    async fn reap_silent_nodes(
        &self,
        now: UnixMillis,
        silence: Duration,
    ) -> Result<Vec<DeadNode>, CoordinatorError> {
        let mut st = self.state.lock();
        let mut silent: Vec<NodeId> = st
            .nodes
            .iter()
            .filter(|(_, s)| !s.dead && s.last_seen.plus(silence) < now)
            .map(|(id, _)| *id)
            .collect();
        silent.sort_unstable();
        Ok(silent
            .into_iter()
            .map(|node| DeadNode {
                node,
                reclaimed: st.kill_node(node),
            })
            .collect())
    }

    async fn heartbeat(
        &self,
        node: NodeId,
        active: &[LeaseRef],
        free_slots: u32,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<HeartbeatOutcome, CoordinatorError> {
        let mut st = self.state.lock();
        st.touch_node(node, now);
        let expires_at = now.plus(ttl);
        let mut out = HeartbeatOutcome::default();
        for l in active {
            let current = st.held(node, l).map(|r| r.expires_at);
            match current {
                Some(old) if old > now => {
                    let new = old.max(expires_at);
                    st.expiries.remove(&(old, l.fence));
                    st.expiries.insert((new, l.fence));
                    if let Some(rec) = st.leases.get_mut(&l.fence) {
                        rec.expires_at = new;
                    }
                    out.extended.push(Lease {
                        job: l.job,
                        chunk: l.chunk,
                        fence: l.fence,
                        expires_at: new,
                    });
                }
                _ => out.cancelled.push(*l),
            }
        }
        // Leases granted after the node's snapshot (a push in flight) already use a slot.
        let reported: HashSet<Fence> = active.iter().map(|l| l.fence).collect();
        let unreported = st.node_leases.get(&node).map_or(0, |set| {
            set.iter()
                .filter(|f| !reported.contains(f))
                .filter(|f| st.leases.get(f).is_some_and(|r| r.expires_at > now))
                .count() as u32
        });
        out.credit = free_slots.saturating_sub(unreported);
        st.set_credit(node, out.credit);
        Ok(out)
    }

    async fn complete(
        &self,
        node: NodeId,
        lease: LeaseRef,
        now: UnixMillis,
    ) -> Result<CompleteOutcome, CoordinatorError> {
        self.state.lock().complete(node, &lease, now)
    }

    async fn complete_many(
        &self,
        node: NodeId,
        leases: &[LeaseRef],
        now: UnixMillis,
    ) -> Result<Vec<CompleteOutcome>, CoordinatorError> {
        let mut st = self.state.lock();
        // Every lease is answered before an error is returned, as the Redis script does.
        let answers: Vec<_> = leases.iter().map(|l| st.complete(node, l, now)).collect();
        answers.into_iter().collect()
    }

    async fn recheck(
        &self,
        node: NodeId,
        lease: LeaseRef,
        avoid: &[NodeId],
        now: UnixMillis,
    ) -> Result<RecheckOutcome, CoordinatorError> {
        let mut st = self.state.lock();
        match st.end_current_lease(node, &lease, now)? {
            Some(CompleteOutcome::AlreadyDone) => return Ok(RecheckOutcome::AlreadyDone),
            Some(_) => return Ok(RecheckOutcome::Stale),
            None => {}
        }
        let Some(js) = st.jobs.get_mut(&lease.job) else {
            return Ok(RecheckOutcome::Stale);
        };
        js.leased.remove(&lease.chunk);
        js.avoid.insert(lease.chunk, avoid.to_vec());
        js.returned.push_back(lease.chunk);
        st.enqueue(lease.job);
        Ok(RecheckOutcome::Requeued)
    }

    async fn reopen(
        &self,
        job: JobId,
        chunk: ChunkIndex,
        avoid: &[NodeId],
    ) -> Result<bool, CoordinatorError> {
        let mut st = self.state.lock();
        let Some(js) = st.jobs.get_mut(&job) else {
            return Err(CoordinatorError::UnknownJob(job));
        };
        if !js.in_range(chunk) {
            return Err(CoordinatorError::chunk_out_of_range(job, chunk));
        }
        if !js.is_done(chunk) {
            return Ok(false);
        }
        js.unmark_done(chunk);
        js.avoid.insert(chunk, avoid.to_vec());
        js.returned.push_back(chunk);
        st.enqueue(job);
        Ok(true)
    }

    async fn release_avoid(&self, job: JobId, chunk: ChunkIndex) -> Result<bool, CoordinatorError> {
        let mut st = self.state.lock();
        let Some(js) = st.jobs.get_mut(&job) else {
            return Err(CoordinatorError::UnknownJob(job));
        };
        let released = js.avoid.remove(&chunk).is_some();
        if released {
            st.enqueue(job);
        }
        Ok(released)
    }

    async fn is_lease_current(
        &self,
        node: NodeId,
        lease: LeaseRef,
        now: UnixMillis,
    ) -> Result<bool, CoordinatorError> {
        Ok(self.state.lock().held_unexpired(node, &lease, now))
    }

    async fn fail(
        &self,
        node: NodeId,
        lease: LeaseRef,
        reason: &str,
        now: UnixMillis,
    ) -> Result<FailOutcome, CoordinatorError> {
        let mut st = self.state.lock();
        st.touch_node(node, now);
        if !st.held_unexpired(node, &lease, now) {
            return Ok(FailOutcome::Stale);
        }
        st.drop_lease(lease.fence);
        let Some(js) = st.jobs.get_mut(&lease.job) else {
            return Ok(FailOutcome::Stale);
        };
        js.leased.remove(&lease.chunk);
        js.failure_total += 1;
        let f = js.failures.entry(lease.chunk).or_insert(ChunkFailures {
            count: 0,
            last_node: node,
        });
        f.count += 1;
        f.last_node = node;
        let failures = f.count;
        if failures >= js.spec.max_attempts {
            let reason = format!(
                "chunk {} failed {failures} times; last error: {reason}",
                lease.chunk
            );
            let revoked = st.remove_job(lease.job).unwrap_or_default();
            return Ok(FailOutcome::JobFailed { reason, revoked });
        }
        js.returned.push_back(lease.chunk);
        st.enqueue(lease.job);
        Ok(FailOutcome::Retry { failures })
    }

    async fn reclaim_expired(&self, now: UnixMillis) -> Result<Vec<Reclaimed>, CoordinatorError> {
        let mut st = self.state.lock();
        let mut out = Vec::new();
        while let Some(&(at, fence)) = st.expiries.first() {
            if at > now {
                break;
            }
            if let Some(r) = st.return_lease(fence) {
                out.push(r);
            } else {
                st.expiries.pop_first();
            }
        }
        Ok(out)
    }

    async fn node_dead(&self, node: NodeId) -> Result<Vec<Reclaimed>, CoordinatorError> {
        let mut st = self.state.lock();
        // Known to the scheduler from now on, so a later call revives it explicitly.
        st.nodes.entry(node).or_insert(NodeSeen {
            last_seen: UnixMillis(0),
            dead: true,
        });
        Ok(st.kill_node(node))
    }

    async fn cancel_job(&self, job: JobId) -> Result<Vec<RevokedLease>, CoordinatorError> {
        self.state
            .lock()
            .remove_job(job)
            .ok_or(CoordinatorError::UnknownJob(job))
    }

    async fn remove_job(&self, job: JobId) -> Result<(), CoordinatorError> {
        self.state.lock().remove_job(job);
        Ok(())
    }

    async fn job_progress(&self, job: JobId) -> Result<JobProgress, CoordinatorError> {
        let st = self.state.lock();
        let js = st.jobs.get(&job).ok_or(CoordinatorError::UnknownJob(job))?;
        Ok(JobProgress {
            chunk_count: js.spec.chunk_count,
            pending: js.pending(),
            leased: js.leased.len() as u32,
            done: js.done_count,
            failures: js.failure_total,
        })
    }

    async fn current_leases(
        &self,
        node: NodeId,
        now: UnixMillis,
    ) -> Result<Vec<Lease>, CoordinatorError> {
        let st = self.state.lock();
        let mut out: Vec<Lease> = st
            .node_leases
            .get(&node)
            .into_iter()
            .flatten()
            .filter_map(|f| {
                st.leases
                    .get(f)
                    .filter(|r| r.expires_at > now)
                    .map(|r| Lease {
                        job: r.job,
                        chunk: r.chunk,
                        fence: *f,
                        expires_at: r.expires_at,
                    })
            })
            .collect();
        out.sort_by_key(|l| (l.job, l.chunk));
        Ok(out)
    }

    async fn try_acquire_leader(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<Option<FenceToken>, CoordinatorError> {
        let mut st = self.state.lock();
        let expires_at = now.plus(ttl);
        if let Some(cur) = st.leaders.get_mut(name) {
            if cur.expires_at > now {
                if cur.holder == holder {
                    cur.expires_at = cur.expires_at.max(expires_at);
                    return Ok(Some(cur.token));
                }
                return Ok(None);
            }
        }
        st.next_leader_token += 1;
        let token = FenceToken(st.next_leader_token);
        st.leaders.insert(
            name.to_owned(),
            LeaderRec {
                holder: holder.to_owned(),
                token,
                expires_at,
            },
        );
        Ok(Some(token))
    }

    async fn renew_leader(
        &self,
        name: &str,
        holder: &str,
        token: FenceToken,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<bool, CoordinatorError> {
        let mut st = self.state.lock();
        match st.leaders.get_mut(name) {
            Some(cur) if cur.holder == holder && cur.token == token && cur.expires_at > now => {
                cur.expires_at = cur.expires_at.max(now.plus(ttl));
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release_leader(
        &self,
        name: &str,
        holder: &str,
        token: FenceToken,
    ) -> Result<bool, CoordinatorError> {
        let mut st = self.state.lock();
        match st.leaders.get(name) {
            Some(cur) if cur.holder == holder && cur.token == token => {
                st.leaders.remove(name);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn overdue_leases(&self, now: UnixMillis) -> Result<Vec<RevokedLease>, CoordinatorError> {
        let st = self.state.lock();
        Ok(st
            .deadlines
            .iter()
            .take_while(|(at, _)| *at <= now)
            .filter_map(|(_, fence)| {
                st.leases.get(fence).map(|r| RevokedLease {
                    node: r.node,
                    lease: LeaseRef {
                        job: r.job,
                        chunk: r.chunk,
                        fence: *fence,
                    },
                })
            })
            .collect())
    }

    async fn remember_nonce(
        &self,
        key: &str,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<bool, CoordinatorError> {
        let mut st = self.state.lock();
        // Forget expired nonces first, oldest first, so the cache stays bounded by the TTL.
        while st.nonce_expiries.first().is_some_and(|(at, _)| *at <= now) {
            if let Some((at, k)) = st.nonce_expiries.pop_first() {
                if st.nonces.get(&k) == Some(&at) {
                    st.nonces.remove(&k);
                }
            }
        }
        if st.nonces.contains_key(key) {
            return Ok(false);
        }
        if st.nonces.len() >= self.nonce_capacity {
            return Err(CoordinatorError::NonceCacheFull(st.nonces.len()));
        }
        let at = now.plus(ttl);
        st.nonces.insert(key.to_owned(), at);
        st.nonce_expiries.insert((at, key.to_owned()));
        Ok(true)
    }
}

pub(super) fn validate_spec(spec: &JobSpec) -> Result<(), CoordinatorError> {
    if spec.chunk_count == 0 {
        return Err(CoordinatorError::Invalid(
            "a job needs at least one chunk".into(),
        ));
    }
    if spec.max_attempts == 0 {
        return Err(CoordinatorError::Invalid(
            "max_attempts must be at least 1".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::conformance;

    #[tokio::test]
    async fn memory_coordinator_passes_conformance() {
        conformance::run_all(|| async { MemoryCoordinator::new() }).await;
    }

    #[tokio::test]
    async fn million_chunk_job_costs_a_bitmap_not_a_list() {
        let c = MemoryCoordinator::new();
        let job = JobId::new();
        c.register_job(JobSpec::new(job, 1_000_000, "u"))
            .await
            .unwrap();
        let st = c.state.lock();
        let js = &st.jobs[&job];
        assert_eq!(js.done.len(), 1_000_000usize.div_ceil(64));
        assert!(js.returned.is_empty());
        assert_eq!(js.pending(), 1_000_000);
    }

    #[tokio::test]
    async fn a_full_replay_cache_refuses_rather_than_forgets_a_live_nonce() {
        let c = MemoryCoordinator::new().with_nonce_capacity(2);
        let ttl = Duration::from_secs(120);
        let t0 = UnixMillis(1_000);
        assert!(c.remember_nonce("a", ttl, t0).await.unwrap());
        assert!(c.remember_nonce("b", ttl, t0).await.unwrap());
        assert!(matches!(
            c.remember_nonce("c", ttl, t0).await,
            Err(CoordinatorError::NonceCacheFull(2))
        ));
        // A live nonce is still known: its replay is refused, not forgotten to make room.
        assert!(!c.remember_nonce("a", ttl, t0).await.unwrap());
        // Once the oldest expire they make room.
        let later = t0.plus(ttl);
        assert!(c.remember_nonce("c", ttl, later).await.unwrap());
        assert_eq!(c.nonce_count(), 1);
    }
}
