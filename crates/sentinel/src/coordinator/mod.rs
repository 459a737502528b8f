//! Coordination: the fast, possibly volatile scheduling state (pending chunks, leases, fences,
//! leader locks, the nonce replay cache).
//!
//! Dispatch is credit-based: a node's reported free slots that no pending chunk could fill stay
//! with the coordinator as that node's *credit* ([`lease`](Coordinator::lease),
//! [`heartbeat`](Coordinator::heartbeat), [`add_credit`](Coordinator::add_credit)); when work
//! appears, [`dispatch`](Coordinator::dispatch) leases pending chunks to live nodes holding
//! credit and the sentinel pushes them on `chunks:{node}`.
//!
//! Every [`Coordinator`] method is one atomic step: an implementation on Redis runs each as a
//! single Lua script, and no caller ever reads, decides and writes across two calls. The durable
//! truth lives in the [`Store`](crate::store::Store); when coordination state is lost it is
//! rebuilt from there with [`restore_job`](Coordinator::restore_job) (see [`crate::recovery`]).
//!
//! Redis layout of [`RedisCoordinator`] (one Lua script per method, `lua/`; `now` and TTLs are
//! script arguments so every instance agrees on time; every key starts with the configured
//! prefix, default `wowlab:`; the design targets a single primary, not Redis Cluster). Numbers
//! are decimal strings; a job's keys are deleted when it is removed, cancelled or failed; a node
//! leaves the liveness index when it dies (its lease set and credit go with it); nonces and
//! leader locks carry a Redis TTL.
//!
//! | state (memory) | Redis key | type |
//! |---|---|---|
//! | job spec, `next_fresh`, counters | `job:{id}` | hash (`count`, `share`, `max_attempts`, `wall_ms`, `next_fresh`, `done`, `failures`, `queued`) |
//! | returned (pending again) chunks | `job:{id}:returned` | list |
//! | done bitmap | `job:{id}:done` | string (`SETBIT`/`GETBIT`) |
//! | current lease per chunk | `job:{id}:leased` | hash chunk → fence |
//! | per-chunk failures / last node | `job:{id}:failures` | hash chunk → `count:node` |
//! | nodes barred from a chunk awaiting a spot check | `job:{id}:avoid` | hash chunk → `,node,node,` |
//! | share ring / jobs per share | `shares` / `share:{key}` | list / list (`LPOP` + `RPUSH` rotate) |
//! | lease by fence | `lease:{fence}` | hash (`job`, `chunk`, `node`, `exp`, `deadline`) |
//! | leases of a node | `node:{id}:leases` | set of fences |
//! | expiry index | `lease_expiry` | sorted set fence by expiry (`ZRANGEBYSCORE` in reclaim) |
//! | wall-time deadline index | `lease_deadline` | sorted set fence by grant + wall limit |
//! | node liveness (live nodes only) | `nodes_seen` | sorted set node by last seen (`ZADD GT`); dead = absent |
//! | dispatch credit (free slots not yet filled) | `credits` | hash node → slots (field deleted at 0, on death and on drop) |
//! | fence counter | `fence` | `INCR`, seeded from the clock (ms × 1000) when missing |
//! | leader lock | `leader:{name}` | hash (`holder`, `token`, `exp`) + `PEXPIRE`; token from `INCR leader_token` |
//! | nonce cache | `nonce:{key}` + `nonces` | `SET NX PX` (value: expiry) + sorted set key by expiry, counting unexpired nonces against the capacity |

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{ChunkIndex, Fence, FenceToken, JobId, LeaseExpiry, NodeId, UnixMillis};

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod memory;
mod redis;

pub use memory::MemoryCoordinator;
pub use redis::{RedisCoordinator, RedisOptions, REDIS_NONCE_CAPACITY};

/// How many times a chunk may fail before its job fails, unless the job says otherwise.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// A job's chunks as handed to the scheduler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    /// The job.
    pub job: JobId,
    /// Number of chunks, indices `0..chunk_count`.
    pub chunk_count: u32,
    /// Fair-share key (normally the owner's user id): leasing rotates over share keys first and
    /// over the jobs of one key second, so one user's many jobs cannot starve another user.
    pub share_key: String,
    /// Failures a chunk may have before the job fails; at least 1.
    pub max_attempts: u32,
    /// Longest one lease of a chunk may be held, heartbeats or not: after it the chunk counts
    /// as failed on that node ([`Coordinator::overdue_leases`]). Raised to at least
    /// [`MIN_CHUNK_WALL_LIMIT`].
    #[serde(default)]
    pub chunk_wall_limit_ms: u64,
}

/// The shortest wall-time limit of a chunk's lease.
pub const MIN_CHUNK_WALL_LIMIT: Duration = Duration::from_secs(60);

/// How many times its estimated run time a chunk may take before it counts as failed.
pub const WALL_LIMIT_FACTOR: u64 = 20;

/// The wall-time limit of a chunk estimated to run `estimate_ns`: [`WALL_LIMIT_FACTOR`] times
/// the estimate, at least [`MIN_CHUNK_WALL_LIMIT`].
pub fn chunk_wall_limit(estimate_ns: u64) -> Duration {
    Duration::from_nanos(estimate_ns.saturating_mul(WALL_LIMIT_FACTOR)).max(MIN_CHUNK_WALL_LIMIT)
}

/// The wall-time limit in effect for a stored limit of `ms` (never below the minimum).
pub fn effective_wall_limit(ms: u64) -> Duration {
    Duration::from_millis(ms).max(MIN_CHUNK_WALL_LIMIT)
}

impl JobSpec {
    /// The wall-time limit in effect.
    pub fn wall_limit(&self) -> Duration {
        effective_wall_limit(self.chunk_wall_limit_ms)
    }
}

impl JobSpec {
    /// A spec with the default attempt limit.
    pub fn new(job: JobId, chunk_count: u32, share_key: impl Into<String>) -> Self {
        Self {
            job,
            chunk_count,
            share_key: share_key.into(),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            chunk_wall_limit_ms: 0,
        }
    }
}

/// One granted lease: the node must compute `chunk` of `job` and present `fence` with the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Lease {
    /// The job.
    pub job: JobId,
    /// The chunk.
    pub chunk: ChunkIndex,
    /// The lease's fence.
    pub fence: Fence,
    /// When the lease runs out unless extended by a heartbeat.
    pub expires_at: LeaseExpiry,
}

impl Lease {
    /// The identifying part of the lease.
    pub fn lease_ref(&self) -> LeaseRef {
        LeaseRef {
            job: self.job,
            chunk: self.chunk,
            fence: self.fence,
        }
    }
}

/// A lease as a node refers to it in heartbeats, completions and failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LeaseRef {
    /// The job.
    pub job: JobId,
    /// The chunk.
    pub chunk: ChunkIndex,
    /// The fence the node was given.
    pub fence: Fence,
}

/// What a heartbeat did to the leases a node reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeartbeatOutcome {
    /// Leases still held by the node, with their new expiry.
    pub extended: Vec<Lease>,
    /// Leases the node reported but no longer holds (expired, reassigned, cancelled, unknown):
    /// the node must drop that work.
    pub cancelled: Vec<LeaseRef>,
    /// The node's credit after the heartbeat (free slots waiting for work).
    pub credit: u32,
}

/// Result of presenting a chunk result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompleteOutcome {
    /// The lease was current; the chunk is now done. `job_done` is true for exactly one caller:
    /// the one whose completion was the job's last outstanding chunk.
    Completed {
        /// Every chunk of the job is now done.
        job_done: bool,
    },
    /// The chunk was already done (a retried POST, or a duplicate); nothing changed.
    AlreadyDone,
    /// The lease is expired, reassigned, cancelled or unknown: HTTP 409, the node drops the work.
    Stale,
}

/// Result of handing a chunk back for a second opinion ([`Coordinator::recheck`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecheckOutcome {
    /// The lease ended and the chunk is pending again, barred from the avoided nodes.
    Requeued,
    /// The chunk was already done; nothing changed.
    AlreadyDone,
    /// The lease is expired, reassigned, cancelled or unknown; nothing changed.
    Stale,
}

/// Result of reporting a chunk failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailOutcome {
    /// The chunk is pending again and will preferably go to another node.
    Retry {
        /// Failures of this chunk so far.
        failures: u32,
    },
    /// The chunk reached its attempt limit: the job is failed and removed from scheduling.
    /// Exactly one caller sees this for a job.
    JobFailed {
        /// Human-readable reason to store on the job.
        reason: String,
        /// Other leases of the job that were revoked; their nodes should be told to drop them.
        revoked: Vec<RevokedLease>,
    },
    /// The lease was not current; nothing changed.
    Stale,
}

/// A lease taken away from a node (cancel, job failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RevokedLease {
    /// Node that held it.
    pub node: NodeId,
    /// The lease.
    pub lease: LeaseRef,
}

/// A lease that went back to pending (expired or its node died).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reclaimed {
    /// Node that held it.
    pub node: NodeId,
    /// The job.
    pub job: JobId,
    /// The chunk, pending again.
    pub chunk: ChunkIndex,
}

/// A node the reaper declared dead, with the leases that went back to pending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadNode {
    /// The node.
    pub node: NodeId,
    /// Its leases, pending again.
    pub reclaimed: Vec<Reclaimed>,
}

/// Chunk counts of a scheduled job; `pending + leased + done == chunk_count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct JobProgress {
    /// Total chunks.
    pub chunk_count: u32,
    /// Waiting for a node.
    pub pending: u32,
    /// Leased to a node.
    pub leased: u32,
    /// Finished.
    pub done: u32,
    /// Failure reports so far over all chunks (retried ones included).
    pub failures: u32,
}

/// Why a coordinator call could not be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoordinatorError {
    /// The job is not (or no longer) scheduled.
    #[error("job {0} is not scheduled")]
    UnknownJob(JobId),
    /// A job with this id is already scheduled.
    #[error("job {0} is already scheduled")]
    JobExists(JobId),
    /// Arguments that can never succeed (zero chunks, zero attempts, out-of-range chunk...).
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// The backing service failed (connection, script error); the call may be retried.
    #[error("coordinator backend unavailable: {0}")]
    Unavailable(String),
    /// The replay cache holds its maximum of unexpired nonces; the request may be retried.
    #[error("the replay cache is full ({0} unexpired nonces)")]
    NonceCacheFull(usize),
}

impl CoordinatorError {
    /// `Invalid`: `chunk` is not a chunk of `job` (both implementations say it alike).
    pub(crate) fn chunk_out_of_range(job: JobId, chunk: ChunkIndex) -> Self {
        Self::Invalid(format!("chunk {chunk} out of range for job {job}"))
    }
}

/// The scheduling state. Implementations: [`MemoryCoordinator`] and [`RedisCoordinator`], with
/// the same semantics (checked by the `conformance` suite, feature `conformance`).
#[async_trait]
pub trait Coordinator: Send + Sync + 'static {
    /// Schedules all chunks of a new job as pending.
    async fn register_job(&self, spec: JobSpec) -> Result<(), CoordinatorError>;

    /// Schedules a job recovered from the store with `done` chunks already finished; returns
    /// false and changes nothing if the job is already scheduled (coordination state survived).
    async fn restore_job(
        &self,
        spec: JobSpec,
        done: &[ChunkIndex],
    ) -> Result<bool, CoordinatorError>;

    /// Raises a scheduled job's chunk count to `chunk_count`, the new chunks pending (the next
    /// wave of a target-error job). Idempotent: a count not above the current one changes
    /// nothing and returns false, so a failed call can simply be made again.
    async fn extend_job(&self, job: JobId, chunk_count: u32) -> Result<bool, CoordinatorError>;

    /// Atomically leases up to `free_slots` pending chunks to `node`, rotating fairly over
    /// share keys and jobs. Each lease gets a fresh fence and expires at `now + ttl`.
    /// A chunk that just failed on `node` is skipped while another live node exists.
    /// The unfilled slots become the node's credit (replacing what it had): the node's report
    /// is the truth about its free slots. Marks the node alive.
    async fn lease(
        &self,
        node: NodeId,
        free_slots: u32,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<Vec<Lease>, CoordinatorError>;

    /// Extends to `now + ttl` the reported leases that `node` still holds with the same fence;
    /// reports the others as cancelled. Also marks the node alive (a dead node comes back).
    ///
    /// Sets the node's credit to `free_slots` minus the unexpired leases it holds but did not
    /// report (granted after the node took its snapshot, e.g. a push still in flight), so a
    /// slot is never credited twice.
    async fn heartbeat(
        &self,
        node: NodeId,
        active: &[LeaseRef],
        free_slots: u32,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<HeartbeatOutcome, CoordinatorError>;

    /// Adds `slots` to `node`'s credit (capped at `cap`), then at once leases pending chunks
    /// for as much of the credit as possible; the rest stays as credit. Used when completions
    /// free slots, so a busy node gets its next chunks in the completion reply. Marks the node
    /// alive.
    async fn add_credit(
        &self,
        node: NodeId,
        slots: u32,
        cap: u32,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<Vec<Lease>, CoordinatorError>;

    /// Read-only: the nodes not marked dead that hold credit, sorted by id.
    async fn credited_nodes(&self) -> Result<Vec<NodeId>, CoordinatorError>;

    /// Forgets `node`'s credit (it drains, or is gone).
    async fn drop_credit(&self, node: NodeId) -> Result<(), CoordinatorError>;

    /// Leases pending chunks to the live nodes holding credit (seen within `ttl`, not dead),
    /// one chunk per node per round so nodes share scarce work, jobs rotating fairly as in
    /// [`lease`](Coordinator::lease); each grant spends one credit. Returns the grants in
    /// order.
    async fn dispatch(
        &self,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<Vec<(NodeId, Lease)>, CoordinatorError>;

    /// Marks dead every live node not seen for longer than `silence` and returns each one's
    /// leases to pending at once (its credit is dropped). A dead node that calls again is
    /// alive again; results on its old leases are stale.
    async fn reap_silent_nodes(
        &self,
        now: UnixMillis,
        silence: Duration,
    ) -> Result<Vec<DeadNode>, CoordinatorError>;

    /// Marks a chunk done if `node` holds its unexpired lease with `fence`.
    async fn complete(
        &self,
        node: NodeId,
        lease: LeaseRef,
        now: UnixMillis,
    ) -> Result<CompleteOutcome, CoordinatorError>;

    /// [`complete`](Coordinator::complete) for each of `leases` in order, in one round trip:
    /// one outcome per lease. A batch of results pays one call, not one per result. A chunk
    /// out of range makes it `Invalid`, after every other lease was answered.
    async fn complete_many(
        &self,
        node: NodeId,
        leases: &[LeaseRef],
        now: UnixMillis,
    ) -> Result<Vec<CompleteOutcome>, CoordinatorError>;

    /// Ends `node`'s current lease of a chunk whose result arrived, without marking the chunk
    /// done: it is pending again for a second opinion (a spot check) and is never leased to a
    /// node in `avoid` (the nodes of the owners who already computed it), which replaces any
    /// earlier list. [`complete`](Coordinator::complete) clears the list. Answers like
    /// `complete` when the lease is not current or the chunk is done.
    async fn recheck(
        &self,
        node: NodeId,
        lease: LeaseRef,
        avoid: &[NodeId],
        now: UnixMillis,
    ) -> Result<RecheckOutcome, CoordinatorError>;

    /// Makes a done chunk pending again (its stored result came from a node found wrong, so
    /// it is recomputed), barred from the nodes in `avoid`. Returns false, changing nothing,
    /// if the chunk is not done (still pending or leased).
    async fn reopen(
        &self,
        job: JobId,
        chunk: ChunkIndex,
        avoid: &[NodeId],
    ) -> Result<bool, CoordinatorError>;

    /// Lifts the bar [`recheck`](Coordinator::recheck) or [`reopen`](Coordinator::reopen) put
    /// on a chunk, so any node may take it (the check's other owner left). Returns whether
    /// the chunk had a bar.
    async fn release_avoid(&self, job: JobId, chunk: ChunkIndex) -> Result<bool, CoordinatorError>;

    /// Read-only: whether `node` holds this lease unexpired at `now` (checked before a result
    /// is written, so nodes cannot store results for chunks they were never given).
    async fn is_lease_current(
        &self,
        node: NodeId,
        lease: LeaseRef,
        now: UnixMillis,
    ) -> Result<bool, CoordinatorError>;

    /// Records a failed attempt of a leased chunk: back to pending, or the job fails once the
    /// chunk has failed `max_attempts` times.
    async fn fail(
        &self,
        node: NodeId,
        lease: LeaseRef,
        reason: &str,
        now: UnixMillis,
    ) -> Result<FailOutcome, CoordinatorError>;

    /// Returns every lease that expired at or before `now` to pending.
    async fn reclaim_expired(&self, now: UnixMillis) -> Result<Vec<Reclaimed>, CoordinatorError>;

    /// Marks `node` dead, drops its credit and returns all its leases to pending at once.
    async fn node_dead(&self, node: NodeId) -> Result<Vec<Reclaimed>, CoordinatorError>;

    /// Removes a job from scheduling; returns the leases that were outstanding.
    async fn cancel_job(&self, job: JobId) -> Result<Vec<RevokedLease>, CoordinatorError>;

    /// Forgets a finished job (after its terminal state is stored). Unknown jobs are fine.
    async fn remove_job(&self, job: JobId) -> Result<(), CoordinatorError>;

    /// Chunk counts of a scheduled job.
    async fn job_progress(&self, job: JobId) -> Result<JobProgress, CoordinatorError>;

    /// The unexpired leases `node` holds, for its resync after a (re)connect.
    async fn current_leases(
        &self,
        node: NodeId,
        now: UnixMillis,
    ) -> Result<Vec<Lease>, CoordinatorError>;

    /// Takes lock `name` for `holder` if free or expired; `None` if someone else holds it.
    /// Re-acquiring one's own live lock extends it and keeps its token.
    async fn try_acquire_leader(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<Option<FenceToken>, CoordinatorError>;

    /// Extends the lock if `holder` still holds it with `token`; false means leadership is lost.
    async fn renew_leader(
        &self,
        name: &str,
        holder: &str,
        token: FenceToken,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<bool, CoordinatorError>;

    /// Releases the lock if `holder` holds it with `token`; returns whether it did.
    async fn release_leader(
        &self,
        name: &str,
        holder: &str,
        token: FenceToken,
    ) -> Result<bool, CoordinatorError>;

    /// Leases held past their job's chunk wall-time limit (granted at least
    /// [`JobSpec::wall_limit`] ago), oldest first. Heartbeats do not save them: the reclaim
    /// loop fails each ([`Coordinator::fail`]), so a stuck or stalling node cannot hold a
    /// chunk forever and a chunk that never finishes ends in the retry limit.
    async fn overdue_leases(&self, now: UnixMillis) -> Result<Vec<RevokedLease>, CoordinatorError>;

    /// Remembers `key` for `ttl` (SET NX EX): true the first time, false while it is remembered.
    /// The cache is bounded: expired keys go first, and when it is full of unexpired ones the
    /// call fails with [`CoordinatorError::NonceCacheFull`] rather than forget a live nonce.
    async fn remember_nonce(
        &self,
        key: &str,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<bool, CoordinatorError>;
}
