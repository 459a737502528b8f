//! The durable truth: users, credentials, nodes, jobs, configs and chunk results.
//!
//! [`SqliteStore`] serves embedded mode; [`PostgresStore`] serves sentinels that scale out, with
//! the same schema in native types (`migrations/postgres/`) and the same `conformance` suite
//! (feature `conformance`). SQL is kept portable: `ON CONFLICT … DO NOTHING`, `RETURNING`,
//! numbered-free `?` binds are the only SQLite spellings to translate (`$1` on PostgreSQL).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{
    ChunkIndex, FenceToken, JobId, JobStatus, NodeId, TokenHash, UnixMillis, UserId,
};

mod checks;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod group_commit;
mod postgres;
mod reviews;
mod rows;
mod sqlite;

pub use checks::{CheckCounts, CheckRun, CheckVerdict, ChunkCheck, NodeTrust};
pub use postgres::{PostgresOptions, PostgresStore};
pub use reviews::{JobReview, ReviewChunk, ReviewClose, ReviewedChunk};
pub use sqlite::{SqliteOptions, SqliteStore};

/// How finely a token's last use is recorded: one write per token per this long at most.
pub const TOKEN_USE_GRANULARITY: std::time::Duration = std::time::Duration::from_secs(60);

/// Why a store call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (email, public key, claim code taken...).
    #[error("already exists: {0}")]
    Conflict(String),
    /// A referenced row does not exist (unknown owner, config or job).
    #[error("missing reference: {0}")]
    MissingReference(String),
    /// The row to update does not exist.
    #[error("not found")]
    NotFound,
    /// A version-checked transition found another status or version than expected.
    #[error("job changed concurrently: now {status} at version {version}")]
    VersionConflict {
        /// Status currently stored.
        status: JobStatus,
        /// Version currently stored.
        version: i64,
    },
    /// The lifecycle does not allow this transition.
    #[error("transition {from} -> {to} is not allowed")]
    InvalidTransition {
        /// Requested source status.
        from: JobStatus,
        /// Requested target status.
        to: JobStatus,
    },
    /// Input that can never be stored (out-of-range number...).
    #[error("invalid input: {0}")]
    Invalid(String),
    /// Stored data could not be decoded (should never happen; points at a bug or manual edit).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database failed or is unreachable.
    #[error("database error: {0}")]
    Backend(String),
    /// The store is shutting down.
    #[error("store closed")]
    Closed,
    /// A leader's write carried an older fence token than one already written with: a newer
    /// leader of the lock exists, so this one must stop.
    #[error("stale {lock} leader: fence {token} is older than the stored one")]
    StaleLeader {
        /// Lock name.
        lock: String,
        /// The refused token.
        token: FenceToken,
    },
}

/// The leader lock a write is made under, checked against `leader_fences` in the same
/// transaction as the write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderFence {
    /// Lock name (`projector`).
    pub lock: String,
    /// The token the writer holds the lock with.
    pub token: FenceToken,
}

impl LeaderFence {
    /// The error for a write refused because a newer token of the lock already wrote.
    pub fn refused(&self) -> StoreError {
        StoreError::StaleLeader {
            lock: self.lock.clone(),
            token: self.token,
        }
    }
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Login email, unique (callers normalize case before storing and looking up).
    pub email: String,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// Administrators manage every node and job.
    pub is_admin: bool,
    /// Creation time.
    pub created_at: UnixMillis,
}

/// Kind of a bearer credential kept in `auth_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuthTokenKind {
    /// Browser session cookie.
    Session,
    /// CLI / API token.
    Api,
}

impl AuthTokenKind {
    /// Stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Api => "api",
        }
    }
}

/// A new session or API token (the secret itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuthToken {
    /// SHA-256 of the secret.
    pub hash: TokenHash,
    /// Owner.
    pub user: UserId,
    /// Session or API.
    pub kind: AuthTokenKind,
    /// Label shown in token lists.
    pub name: String,
    /// Hard expiry, if any.
    pub expires_at: Option<UnixMillis>,
}

/// A stored token as listed to its owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthTokenInfo {
    /// SHA-256 of the secret (used as the token's id for revocation).
    pub hash: String,
    /// Session or API.
    pub kind: AuthTokenKind,
    /// Label.
    pub name: String,
    /// Creation time.
    pub created_at: UnixMillis,
    /// Hard expiry, if any.
    pub expires_at: Option<UnixMillis>,
    /// When it was last used (to the minute; API tokens only), if ever.
    pub last_used_at: Option<UnixMillis>,
}

/// Presence status of a node as shown to users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    /// Registered, never seen online.
    Pending,
    /// Connected.
    Online,
    /// Gone.
    Offline,
}

impl NodeStatus {
    /// Stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Online => "online",
            Self::Offline => "offline",
        }
    }
}

/// A node at registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNode {
    /// Id chosen by the sentinel.
    pub id: NodeId,
    /// Owner when registered with a claim token; `None` for an unowned node awaiting its code.
    pub owner: Option<UserId>,
    /// Base64 Ed25519 public key (unique).
    pub public_key: String,
    /// Display name.
    pub name: String,
    /// Claim code shown by an unowned node, stored hashed (unique while set).
    pub claim_code: Option<PendingClaim>,
    /// Parallel chunk slots.
    pub max_parallel: u32,
    /// Reported cores.
    pub cores: u32,
    /// Reported software version.
    pub version: String,
}

/// The claim code an unowned node shows, as stored: its hash (a database dump reveals no
/// valid code) and when it stops working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingClaim {
    /// SHA-256 of the code as entered (upper case, with its dash).
    pub hash: TokenHash,
    /// After this the code claims nothing; the node gets a new one when it registers again.
    pub expires_at: UnixMillis,
}

/// A claim token as listed to its owner (the secret itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimTokenInfo {
    /// SHA-256 of the secret (the token's id for revocation).
    pub hash: String,
    /// Creation time.
    pub created_at: UnixMillis,
    /// Hard expiry; `None` for tokens made before expiry existed.
    pub expires_at: Option<UnixMillis>,
    /// When it was revoked.
    pub revoked_at: Option<UnixMillis>,
    /// Label ("" when none was given).
    pub name: String,
    /// When a node last registered with it, if ever.
    pub last_used_at: Option<UnixMillis>,
}

/// What a presented claim token is worth at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimTokenCheck {
    /// Usable: nodes registering with it are owned by this user.
    Valid(UserId),
    /// Its owner revoked it.
    Revoked,
    /// Past its expiry.
    Expired,
    /// No such token.
    Unknown,
}

/// A user's unfinished work, for fair-use limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActiveWork {
    /// Jobs pending or running.
    pub jobs: u32,
    /// Iterations of those jobs without a stored chunk result yet.
    pub queued_iterations: u64,
}

/// What a node reported about its work in its latest heartbeat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeLoad {
    /// Leases it reported holding: running, queued (prefetched) or being reported.
    pub active_chunks: u32,
    /// Chunks it reported computing; `None` from older nodes, which report only leases held.
    pub running_chunks: Option<u32>,
    /// Worker slots it reported free.
    pub free_slots: u32,
    /// Iterations it simulated per second over its last interval.
    pub sims_per_sec: f64,
    /// One-minute load average of the host.
    pub load1: f64,
    /// Host memory in use, bytes.
    pub mem_used_bytes: u64,
    /// Host memory in total, bytes.
    pub mem_total_bytes: u64,
}

impl NodeLoad {
    /// The figures of a heartbeat request; a node's numbers are untrusted, so non-finite or
    /// negative rates read as zero.
    pub fn from_heartbeat(hb: &wowlab_api::node::HeartbeatRequest) -> Self {
        Self {
            active_chunks: u32::try_from(hb.active.len()).unwrap_or(u32::MAX),
            running_chunks: hb.running,
            free_slots: hb.free_slots,
            sims_per_sec: hb.metrics.sims_per_sec,
            load1: hb.metrics.load1,
            mem_used_bytes: hb.metrics.mem_used_bytes,
            mem_total_bytes: hb.metrics.mem_total_bytes,
        }
        .sanitized()
    }

    /// The same figures with non-finite or negative rates as zero and byte counts capped at
    /// what every store can hold (`i64::MAX`).
    pub fn sanitized(self) -> Self {
        let rate = |x: f64| if x.is_finite() && x > 0.0 { x } else { 0.0 };
        let bytes = |b: u64| b.min(i64::MAX as u64);
        Self {
            sims_per_sec: rate(self.sims_per_sec),
            load1: rate(self.load1),
            mem_used_bytes: bytes(self.mem_used_bytes),
            mem_total_bytes: bytes(self.mem_total_bytes),
            ..self
        }
    }
}

/// A registered node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    /// Id.
    pub id: NodeId,
    /// Owner, once claimed.
    pub owner: Option<UserId>,
    /// Base64 Ed25519 public key.
    pub public_key: String,
    /// Display name.
    pub name: String,
    /// Pending claim code (hashed); never serialized.
    #[serde(skip)]
    pub claim_code: Option<PendingClaim>,
    /// Parallel chunk slots the owner allows (0 = one per core); see [`Node::capacity`].
    pub max_parallel: u32,
    /// Reported cores.
    pub cores: u32,
    /// The node's own cap (`--max-parallel`) as last reported; `None` for older nodes.
    pub local_max_parallel: Option<u32>,
    /// Presence status.
    pub status: NodeStatus,
    /// Draining nodes finish their leases and take no new ones.
    pub draining: bool,
    /// Reported software version.
    pub version: String,
    /// Last heartbeat.
    pub last_seen_at: Option<UnixMillis>,
    /// Work figures of the last heartbeat (zero until the first one).
    pub load: NodeLoad,
    /// Registration time.
    pub created_at: UnixMillis,
}

impl Node {
    /// Parallel chunks it runs at most: the owner's setting (0 = one per core) within the
    /// node's own cap, as the node itself applies them (the owner lowers, never raises).
    pub fn capacity(&self) -> u32 {
        let owner = if self.max_parallel == 0 {
            self.cores
        } else {
            self.max_parallel
        };
        match self.local_max_parallel {
            Some(local) if local > 0 => owner.min(local),
            _ => owner,
        }
        .max(1)
    }

    /// Cores busy with chunks now: the chunks it reported computing (older nodes: the leases
    /// it held), at most its cores; zero unless the node is online (an offline node's last
    /// report is history).
    pub fn cores_in_use(&self) -> u32 {
        if self.status == NodeStatus::Online {
            self.load
                .running_chunks
                .unwrap_or(self.load.active_chunks)
                .min(self.cores)
        } else {
            0
        }
    }

    /// Iterations per second it simulates now: its last reported rate while online, else zero.
    pub fn sims_per_sec(&self) -> f64 {
        if self.status == NodeStatus::Online {
            self.load.sims_per_sec
        } else {
            0.0
        }
    }
}

/// Owner-editable node settings; `None` leaves a field unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeSettings {
    /// New display name.
    pub name: Option<String>,
    /// New parallel slots.
    pub max_parallel: Option<u32>,
    /// Start or stop draining.
    pub draining: Option<bool>,
}

/// A job at submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// Id chosen by the sentinel.
    pub id: JobId,
    /// Submitter.
    pub owner: UserId,
    /// Content hash of the stored profile.
    pub config_hash: String,
    /// Total iterations.
    pub iterations: u64,
    /// Job seed.
    pub seed: u64,
    /// Iterations per chunk.
    pub chunk_size: u64,
    /// Number of chunks.
    pub chunk_count: u32,
    /// Readable by anyone.
    pub public: bool,
    /// Longest one chunk's lease may be held (0 = the default minimum).
    pub chunk_wall_limit_ms: u64,
}

/// A target-error job's plan and how far its waves got (see `wowlab_sim::target`). The job's
/// own `iterations` and `chunk_count` are those of the maximum.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobTarget {
    /// 95 % CI half-width to reach, in percent of the mean.
    pub target_error: f64,
    /// Most iterations the job may run.
    pub max_iterations: u64,
    /// Waves scheduled so far (at least 1).
    pub waves: u32,
    /// Chunks scheduled so far: those of the scheduled waves, what the coordinator holds.
    pub scheduled_chunks: u32,
    /// 95 % CI half-width in percent of the mean after the last complete wave (none before).
    #[serde(default)]
    pub half_width_pct: Option<f64>,
}

/// A stored job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// Id.
    pub id: JobId,
    /// Submitter.
    pub owner: UserId,
    /// Content hash of the profile.
    pub config_hash: String,
    /// Total iterations.
    pub iterations: u64,
    /// Job seed.
    pub seed: u64,
    /// Iterations per chunk.
    pub chunk_size: u64,
    /// Number of chunks.
    pub chunk_count: u32,
    /// Longest one chunk's lease may be held (0 = the default minimum).
    #[serde(default)]
    pub chunk_wall_limit_ms: u64,
    /// Lifecycle status.
    pub status: JobStatus,
    /// Bumped by every transition; the optimistic-concurrency check.
    pub version: i64,
    /// Merged result (opaque bytes at this layer), once completed.
    pub result: Option<Vec<u8>>,
    /// Why it failed.
    pub failure_reason: Option<String>,
    /// Readable by anyone.
    pub public: bool,
    /// Submission time.
    pub created_at: UnixMillis,
    /// When it went running.
    pub started_at: Option<UnixMillis>,
    /// When it reached a terminal status.
    pub finished_at: Option<UnixMillis>,
}

/// Data written along with a status transition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransitionData {
    /// Result to store (on completion).
    pub result: Option<Vec<u8>>,
    /// Reason to store (on failure or cancellation).
    pub failure_reason: Option<String>,
    /// When a leader writes the transition: refused ([`StoreError::StaleLeader`]) if a newer
    /// token of the same lock already wrote.
    pub fence: Option<LeaderFence>,
}

/// One chunk's partial aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkResult {
    /// Job.
    pub job: JobId,
    /// Chunk.
    pub chunk: ChunkIndex,
    /// Node that computed it.
    pub node: Option<NodeId>,
    /// Opaque result bytes.
    pub result: Vec<u8>,
}

/// One point of a job's convergence: the running estimate once `iterations` were merged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvergencePoint {
    /// Iterations merged.
    pub iterations: u64,
    /// Running mean DPS.
    pub mean: f64,
    /// Half-width of its 95 % confidence interval.
    pub ci95: f64,
}

/// Whether a chunk result was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// Stored now.
    Inserted,
    /// A result for this `(job, chunk)` was already stored; nothing changed.
    Duplicate,
}

/// The durable store. Implementations: [`SqliteStore`] and [`PostgresStore`].
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // --- users and credentials ---

    /// Creates an account; the first account of a fresh install becomes admin (atomically).
    async fn create_user(
        &self,
        email: &str,
        password_hash: &str,
        now: UnixMillis,
    ) -> Result<User, StoreError>;
    /// Looks a user up by id.
    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError>;
    /// Looks a user up by exact email.
    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;
    /// Stores a session or API token hash.
    async fn insert_auth_token(
        &self,
        token: NewAuthToken,
        now: UnixMillis,
    ) -> Result<(), StoreError>;
    /// The user a token of `kind` belongs to, unless unknown or expired at `now`.
    async fn user_by_auth_token(
        &self,
        hash: &TokenHash,
        kind: AuthTokenKind,
        now: UnixMillis,
    ) -> Result<Option<User>, StoreError>;
    /// Deletes one of `user`'s tokens; false if there was none.
    async fn delete_auth_token(&self, user: UserId, hash: &TokenHash) -> Result<bool, StoreError>;
    /// Records that a token was used at `now`, unless a use within [`TOKEN_USE_GRANULARITY`]
    /// is already recorded (so concurrent sentinels write at most about once a minute).
    async fn touch_auth_token(&self, hash: &TokenHash, now: UnixMillis) -> Result<(), StoreError>;
    /// A user's tokens of one kind, newest first.
    async fn list_auth_tokens(
        &self,
        user: UserId,
        kind: AuthTokenKind,
    ) -> Result<Vec<AuthTokenInfo>, StoreError>;
    /// When a token of `kind` stopped working, if it exists and has expired by `now` (so an
    /// expired API token is told apart from an unknown one).
    async fn auth_token_expired_at(
        &self,
        hash: &TokenHash,
        kind: AuthTokenKind,
        now: UnixMillis,
    ) -> Result<Option<UnixMillis>, StoreError>;
    /// Stores a claim token hash for `user`, usable until `expires_at` (`None`: no expiry).
    async fn insert_claim_token(
        &self,
        user: UserId,
        hash: &TokenHash,
        now: UnixMillis,
        expires_at: Option<UnixMillis>,
    ) -> Result<(), StoreError>;
    /// Labels one of `user`'s claim tokens; false if none matched.
    async fn name_claim_token(
        &self,
        user: UserId,
        hash: &TokenHash,
        name: &str,
    ) -> Result<bool, StoreError>;
    /// Records that a node registered with a claim token at `now`.
    async fn touch_claim_token(&self, hash: &TokenHash, now: UnixMillis) -> Result<(), StoreError>;
    /// What a claim token is worth at `now`: its owner, or why it is refused.
    async fn check_claim_token(
        &self,
        hash: &TokenHash,
        now: UnixMillis,
    ) -> Result<ClaimTokenCheck, StoreError>;
    /// A user's claim tokens (revoked and expired ones too), newest first.
    async fn list_claim_tokens(&self, user: UserId) -> Result<Vec<ClaimTokenInfo>, StoreError>;
    /// Revokes one of `user`'s claim tokens; false if none matched.
    async fn revoke_claim_token(
        &self,
        user: UserId,
        hash: &TokenHash,
        now: UnixMillis,
    ) -> Result<bool, StoreError>;

    // --- nodes ---

    /// Registers a node; [`StoreError::Conflict`] if its key (or claim code) is taken.
    async fn insert_node(&self, node: NewNode, now: UnixMillis) -> Result<Node, StoreError>;
    /// Looks a node up by id.
    async fn node_by_id(&self, id: NodeId) -> Result<Option<Node>, StoreError>;
    /// Looks a node up by its public key.
    async fn node_by_public_key(&self, key: &str) -> Result<Option<Node>, StoreError>;
    /// Nodes of one owner, or every node with `None`, oldest first.
    async fn list_nodes(&self, owner: Option<UserId>) -> Result<Vec<Node>, StoreError>;
    /// Gives the unowned node whose unexpired claim code hashes to `code` to `owner` and
    /// clears the code.
    async fn claim_node(
        &self,
        code: &TokenHash,
        owner: UserId,
        now: UnixMillis,
    ) -> Result<Option<Node>, StoreError>;
    /// Replaces the claim code of a node that is still unowned; false otherwise.
    async fn renew_claim_code(&self, id: NodeId, claim: &PendingClaim) -> Result<bool, StoreError>;
    /// Applies owner settings; `None` if the node does not exist or is not `owner`'s.
    async fn update_node_settings(
        &self,
        id: NodeId,
        owner: UserId,
        settings: NodeSettings,
    ) -> Result<Option<Node>, StoreError>;
    /// Records a heartbeat's facts, the node's own cap (`None`: an older node that does not
    /// report it) and work figures ([`NodeLoad::sanitized`] on the way in); a heartbeat older
    /// than the last one recorded changes nothing. False if the node is unknown.
    async fn record_node_seen(
        &self,
        id: NodeId,
        now: UnixMillis,
        version: &str,
        cores: u32,
        local_max_parallel: Option<u32>,
        load: &NodeLoad,
    ) -> Result<bool, StoreError>;
    /// Replaces what a node registered with (again, e.g. after a restart with other flags or
    /// an upgrade): version, cores and its own cap. Owner, name and settings stay. `None` if
    /// the node is unknown.
    async fn update_node_facts(
        &self,
        id: NodeId,
        version: &str,
        cores: u32,
        local_max_parallel: Option<u32>,
    ) -> Result<Option<Node>, StoreError>;
    /// Sets the presence status; true only if it actually changed (a flip worth publishing).
    async fn set_node_status(&self, id: NodeId, status: NodeStatus) -> Result<bool, StoreError>;
    /// [`Store::set_node_status`] written by a leader (presence sync): refused
    /// ([`StoreError::StaleLeader`]) when a newer token of `fence.lock` already wrote, so a
    /// deposed presence leader cannot flip a node back after its successor's round.
    async fn set_node_status_fenced(
        &self,
        id: NodeId,
        status: NodeStatus,
        fence: &LeaderFence,
    ) -> Result<bool, StoreError>;
    /// Deletes a node at its own request (signed unlink), whoever owns it; false if unknown.
    async fn unlink_node(&self, id: NodeId) -> Result<bool, StoreError>;
    /// Deletes (unlinks) a node of `owner`; false if there was none.
    async fn delete_node(&self, id: NodeId, owner: UserId) -> Result<bool, StoreError>;

    // --- configs ---

    /// Stores a profile under its content hash (no-op but `last_used_at` if present).
    async fn put_config(
        &self,
        hash: &str,
        content: &str,
        now: UnixMillis,
    ) -> Result<(), StoreError>;
    /// A stored profile.
    async fn config(&self, hash: &str) -> Result<Option<String>, StoreError>;

    // --- jobs ---

    /// Stores a new job as `pending` at version 0.
    async fn insert_job(&self, job: NewJob, now: UnixMillis) -> Result<Job, StoreError>;
    /// Stores a new target-error job as `pending` with its target, in one transaction (a job
    /// is never seen without the target it was submitted with).
    async fn insert_target_job(
        &self,
        job: NewJob,
        target: JobTarget,
        now: UnixMillis,
    ) -> Result<Job, StoreError>;
    /// The target of a target-error job; `None` for a fixed-size job.
    async fn job_target(&self, id: JobId) -> Result<Option<JobTarget>, StoreError>;
    /// Records that `waves` waves (`scheduled_chunks` chunks) are scheduled and the half-width
    /// the waves before reached; only ever moves forward, false if the job had that many waves
    /// already (or has no target).
    async fn advance_job_target(
        &self,
        id: JobId,
        waves: u32,
        scheduled_chunks: u32,
        half_width_pct: f64,
    ) -> Result<bool, StoreError>;
    /// Looks a job up.
    async fn job(&self, id: JobId) -> Result<Option<Job>, StoreError>;
    /// A user's jobs, newest first, at most `limit`.
    async fn list_jobs(&self, owner: UserId, limit: u32) -> Result<Vec<Job>, StoreError>;
    /// Sets the `public` flag of `owner`'s job `id` (any status, version unchanged); `None` if
    /// there is no such job or `owner` does not own it.
    async fn set_job_public(
        &self,
        id: JobId,
        owner: UserId,
        public: bool,
    ) -> Result<Option<Job>, StoreError>;
    /// Sets the display name of `owner`'s job `id`; false if there is no such job of `owner`.
    async fn set_job_name(&self, id: JobId, owner: UserId, name: &str) -> Result<bool, StoreError>;
    /// The display name of a job, if one was set.
    async fn job_name(&self, id: JobId) -> Result<Option<String>, StoreError>;
    /// The display names of `owner`'s jobs that have one.
    async fn job_names(&self, owner: UserId) -> Result<Vec<(JobId, String)>, StoreError>;
    /// Deletes `owner`'s job `id` with its name and chunk results, only once it is finished
    /// (completed, failed or cancelled); false if there is no such finished job of `owner`.
    async fn delete_finished_job(&self, id: JobId, owner: UserId) -> Result<bool, StoreError>;
    /// `owner`'s pending and running jobs and their iterations not yet stored as results.
    async fn active_work(&self, owner: UserId) -> Result<ActiveWork, StoreError>;
    /// Every job in `status`, oldest first (recovery).
    async fn jobs_with_status(&self, status: JobStatus) -> Result<Vec<Job>, StoreError>;
    /// Moves a job `from → to` only if it is still at `expected_version` (then version + 1),
    /// writing `data`; refuses transitions the lifecycle does not allow.
    async fn transition_job(
        &self,
        id: JobId,
        from: JobStatus,
        to: JobStatus,
        expected_version: i64,
        data: TransitionData,
        now: UnixMillis,
    ) -> Result<Job, StoreError>;

    // --- settings ---

    /// A grid-wide integer setting an admin changed, if any.
    async fn setting(&self, name: &str) -> Result<Option<i64>, StoreError>;
    /// Stores a grid-wide integer setting.
    async fn set_setting(&self, name: &str, value: i64) -> Result<(), StoreError>;

    // --- chunk results ---

    /// Stores one chunk result; a second result for the same `(job, chunk)` is a no-op.
    /// Concurrent calls are group-committed.
    async fn put_chunk_result(
        &self,
        result: ChunkResult,
        now: UnixMillis,
    ) -> Result<PutOutcome, StoreError>;
    /// Stores a leader's batch of chunk results in one transaction (a `(job, chunk)` already
    /// stored, or seen twice in the batch, is a no-op). With `fence`, the whole batch is
    /// refused ([`StoreError::StaleLeader`]) when a newer token of `fence.lock` already wrote,
    /// so results a deposed projector still holds go back to the log for its successor.
    async fn put_chunk_results(
        &self,
        results: &[ChunkResult],
        now: UnixMillis,
        fence: Option<&LeaderFence>,
    ) -> Result<(), StoreError>;
    /// Raises `fence.lock`'s stored fence to `fence.token` and writes nothing else: a new
    /// leader's first step, before it reads what its predecessor wrote, so no write of an
    /// older token lands after that read. Refused ([`StoreError::StaleLeader`]) if a newer
    /// token already wrote.
    async fn raise_leader_fence(&self, fence: &LeaderFence) -> Result<(), StoreError>;
    /// Every stored result of a job, by chunk index.
    async fn chunk_results(&self, job: JobId) -> Result<Vec<ChunkResult>, StoreError>;
    /// Indices of the chunks of a job that have a stored result, ascending.
    async fn done_chunks(&self, job: JobId) -> Result<Vec<ChunkIndex>, StoreError>;
    /// The nodes whose stored results a job holds, with how many chunks each, by node id.
    async fn job_nodes(&self, job: JobId) -> Result<Vec<(NodeId, u32)>, StoreError>;

    // --- convergence ---

    /// Records a point of a job's convergence; a second point at the same iterations is a
    /// no-op (a new projector leader may replay one). With `fence`, refused like a fenced
    /// transition ([`TransitionData::fence`]).
    async fn add_convergence_point(
        &self,
        job: JobId,
        point: ConvergencePoint,
        fence: Option<&LeaderFence>,
    ) -> Result<(), StoreError>;
    /// A job's convergence points, by iterations.
    async fn convergence(&self, job: JobId) -> Result<Vec<ConvergencePoint>, StoreError>;

    // --- spot checks ([`crate::verify`]) ---

    /// The spot check of a chunk, if one was started.
    async fn chunk_check(
        &self,
        job: JobId,
        chunk: ChunkIndex,
    ) -> Result<Option<ChunkCheck>, StoreError>;
    /// The spot checks started for any of `chunks` of `job`, in no particular order: one
    /// query screens a whole batch of results.
    async fn chunk_checks_of(
        &self,
        job: JobId,
        chunks: &[ChunkIndex],
    ) -> Result<Vec<ChunkCheck>, StoreError>;
    /// Creates or replaces the spot check of `(check.job, check.chunk)`.
    async fn put_chunk_check(&self, check: &ChunkCheck) -> Result<(), StoreError> {
        self.put_chunk_checks(std::slice::from_ref(check)).await
    }
    /// Creates or replaces each of `checks` (by job and chunk), all in one transaction.
    async fn put_chunk_checks(&self, checks: &[ChunkCheck]) -> Result<(), StoreError>;
    /// The spot checks of running jobs still waiting for a run, oldest first.
    async fn pending_chunk_checks(&self) -> Result<Vec<ChunkCheck>, StoreError>;
    /// A job's spot checks counted by outcome.
    async fn job_check_counts(&self, job: JobId) -> Result<CheckCounts, StoreError>;
    /// Spot-check records of every node that has one (others count as all zero).
    async fn node_trust(&self) -> Result<Vec<(NodeId, NodeTrust)>, StoreError>;
    /// Adds `delta`'s counters to a node's spot-check record.
    async fn add_node_trust(&self, node: NodeId, delta: NodeTrust) -> Result<(), StoreError>;
    /// Takes one back from a node's `checked` count (a check that was skipped); never below 0.
    async fn uncount_node_check(&self, node: NodeId) -> Result<(), StoreError>;
    /// Quarantines a node (`Some`: also sets it draining, so it gets no work) or releases it
    /// (`None`; it stays draining until its owner resumes it).
    async fn set_node_quarantine(
        &self,
        node: NodeId,
        at: Option<UnixMillis>,
    ) -> Result<(), StoreError>;
    /// The chunks `node` computed whose results are stored for jobs in `status`, by job.
    async fn chunks_by_node(
        &self,
        node: NodeId,
        status: JobStatus,
    ) -> Result<Vec<(JobId, ChunkIndex)>, StoreError>;
    /// Deletes stored chunk results (to recompute them); returns how many went.
    async fn delete_chunk_results(
        &self,
        job: JobId,
        chunks: &[ChunkIndex],
    ) -> Result<u64, StoreError>;

    // --- reviews of a quarantined node's results ([`crate::verify`]) ---

    /// In one transaction: records that `chunks` (with who computed them and their hashes)
    /// of `job` are recomputed because `node` was quarantined, and deletes their stored
    /// results. The chunks join the job's open round, or a new round opens (with the job's
    /// status and the hash of its stored result). Chunks already in the open round are left
    /// as they are. Returns the open round.
    async fn open_job_review(
        &self,
        job: JobId,
        node: NodeId,
        old_result_hash: Option<String>,
        chunks: &[ReviewChunk],
        now: UnixMillis,
    ) -> Result<JobReview, StoreError>;
    /// Every review round of a job, oldest first, with their chunks.
    async fn job_reviews(&self, job: JobId) -> Result<Vec<JobReview>, StoreError>;
    /// Every open review round (jobs under review), oldest first, with their chunks.
    async fn open_job_reviews(&self) -> Result<Vec<JobReview>, StoreError>;
    /// Closes an open round in one transaction: records each recomputed chunk's origin and,
    /// with `close.result`, stores the corrected result of the (still `completed`) job,
    /// bumping its version. With `fence`, refused like a fenced transition. Returns the job
    /// as stored; [`StoreError::NotFound`] if the round is not open (closed already) or the
    /// job to correct is not `completed`.
    async fn close_job_review(
        &self,
        job: JobId,
        round: u32,
        close: &ReviewClose,
        fence: Option<&LeaderFence>,
        now: UnixMillis,
    ) -> Result<Job, StoreError>;
}
