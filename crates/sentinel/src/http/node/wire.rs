//! JSON bodies of the node API (camelCase). They move to `wowlab-api` once the node crate
//! consumes them; the shapes are the contract.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::coordinator::{Lease, LeaseRef};
use crate::domain::{ChunkIndex, Fence, JobId, NodeId, UnixMillis};
use crate::store::Job;

/// `POST /api/node/register`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterRequest {
    /// A user's claim token: the node joins that account at once.
    #[serde(default)]
    pub claim_token: Option<String>,
    /// Display name (defaults to `node-<id prefix>`).
    #[serde(default)]
    pub name: Option<String>,
    /// Physical cores.
    pub cores: u32,
    /// Parallel chunk slots (defaults to `cores`).
    #[serde(default)]
    pub max_parallel: Option<u32>,
    /// Software version.
    #[serde(default)]
    pub version: String,
}

/// Answer to a registration (also to a repeated one with the same key).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RegisterResponse {
    /// The node's id.
    pub node_id: NodeId,
    /// Whether the node has an owner.
    pub owned: bool,
    /// Code to show the user when unowned.
    pub claim_code: Option<String>,
    /// Lease lifetime.
    pub lease_ttl_ms: u64,
    /// How often to heartbeat (a third of the lease lifetime).
    pub heartbeat_interval_ms: u64,
}

/// A lease as named by a node.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LeaseId {
    /// Job.
    pub job_id: JobId,
    /// Chunk.
    pub chunk: ChunkIndex,
    /// Fence received with the lease.
    pub fence: Fence,
}

impl From<LeaseId> for LeaseRef {
    fn from(l: LeaseId) -> Self {
        LeaseRef {
            job: l.job_id,
            chunk: l.chunk,
            fence: l.fence,
        }
    }
}

impl From<LeaseRef> for LeaseId {
    fn from(l: LeaseRef) -> Self {
        LeaseId {
            job_id: l.job,
            chunk: l.chunk,
            fence: l.fence,
        }
    }
}

/// Everything a node needs to run one chunk (the `RuntimeChunkPayload` of `chunks:{node}`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ChunkAssignment {
    /// Job.
    pub job_id: JobId,
    /// Chunk.
    pub chunk: ChunkIndex,
    /// Fence to present with the result.
    pub fence: Fence,
    /// Lease expiry unless extended.
    pub expires_at: UnixMillis,
    /// First iteration (inclusive).
    pub iter_start: u64,
    /// Last iteration (exclusive).
    pub iter_end: u64,
    /// Job seed.
    pub seed: u64,
    /// Content hash of the profile.
    pub config_hash: String,
}

impl ChunkAssignment {
    /// The assignment for `lease` of `job`; `None` if the chunk lies outside the job.
    pub fn new(lease: &Lease, job: &Job) -> Option<Self> {
        let start = u64::from(lease.chunk.0).checked_mul(job.chunk_size)?;
        if start >= job.iterations {
            return None;
        }
        let end = start.saturating_add(job.chunk_size).min(job.iterations);
        Some(Self {
            job_id: lease.job,
            chunk: lease.chunk,
            fence: lease.fence,
            expires_at: lease.expires_at,
            iter_start: start,
            iter_end: end,
            seed: job.seed,
            config_hash: job.config_hash.clone(),
        })
    }
}

/// `POST /api/node/heartbeat`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatRequest {
    /// Leases the node is working on.
    #[serde(default)]
    pub active_leases: Vec<LeaseId>,
    /// Slots free for new chunks right now.
    #[serde(default)]
    pub free_slots: u32,
    /// Physical cores.
    pub cores: u32,
    /// Software version.
    #[serde(default)]
    pub version: String,
    /// System metrics (load, memory, sims/s), passed through to dashboards.
    #[serde(default)]
    pub metrics: Option<Box<RawValue>>,
}

/// A lease with its new expiry.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ExtendedLease {
    /// Which lease.
    #[serde(flatten)]
    pub lease: LeaseId,
    /// New expiry.
    pub expires_at: UnixMillis,
}

/// Answer to a heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatResponse {
    /// Leases extended.
    pub extended: Vec<ExtendedLease>,
    /// Leases to drop.
    pub cancelled: Vec<LeaseId>,
    /// New work for the free slots.
    pub assigned: Vec<ChunkAssignment>,
    /// Whether the owner asked the node to drain.
    pub draining: bool,
    /// Lease lifetime.
    pub lease_ttl_ms: u64,
}

/// `POST /api/node/leases`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseRequest {
    /// Slots free for new chunks.
    pub free_slots: u32,
}

/// New or current leases.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LeasesResponse {
    /// The assignments.
    pub leases: Vec<ChunkAssignment>,
}

/// `POST /api/node/chunks/complete`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompleteRequest {
    /// The lease.
    #[serde(flatten)]
    pub lease: LeaseId,
    /// The chunk's partial aggregate (opaque JSON at this layer).
    pub result: Box<RawValue>,
}

/// Answer to a completion.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CompleteResponse {
    /// `completed`, `alreadyDone` (or `stale` inside a batch).
    pub status: String,
    /// Every chunk of the job is in.
    pub job_done: bool,
}

/// `POST /api/node/chunks/complete-batch`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompleteBatchRequest {
    /// Results, each as in a single completion.
    pub results: Vec<CompleteRequest>,
}

/// Per-item answers of a batch, in request order; a stale lease is status `stale`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CompleteBatchResponse {
    /// One answer per submitted result.
    pub results: Vec<CompleteResponse>,
}

/// `POST /api/node/chunks/fail`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailRequest {
    /// The lease.
    #[serde(flatten)]
    pub lease: LeaseId,
    /// What went wrong.
    pub reason: String,
}

/// Answer to a failure report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FailResponse {
    /// `retry` or `jobFailed`.
    pub status: String,
    /// Failures of this chunk so far (for `retry`).
    pub failures: Option<u32>,
}

/// Published on `chunks:{node}` when a lease is taken away.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CancelPush {
    /// Always `cancel`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The lease to drop.
    #[serde(flatten)]
    pub lease: LeaseId,
}
