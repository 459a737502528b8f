//! The node API: bodies of the signed HTTP requests a compute node makes to the sentinel.
//!
//! Every request is `POST` with a JSON body (possibly `{}`) and the signing headers of
//! [`crate::signing`]; the node is identified by its public key, never by a bearer secret.
//! Errors come back as [`ApiErrorBody`] with a stable `code`.

use serde::{Deserialize, Serialize};

use crate::ids::{JobId, NodeId, UserId};

/// `POST` — register this key (idempotent for a known key).
pub const PATH_REGISTER: &str = "/api/node/register";
/// `POST` — fetch a fresh beacon connection token.
pub const PATH_TOKEN: &str = "/api/node/token";
/// `POST` — heartbeat: metrics, free slots, active leases.
pub const PATH_HEARTBEAT: &str = "/api/node/heartbeat";
/// `POST` — request leases for free slots and resync the ones already held.
pub const PATH_LEASES: &str = "/api/node/leases";
/// `POST` — report a chunk's partial aggregate.
pub const PATH_CHUNK_COMPLETE: &str = "/api/node/chunks/complete";
/// `POST` — report many chunk results under one signature ([`CompleteBatchRequest`]); about
/// five times less control-plane CPU per chunk than one [`PATH_CHUNK_COMPLETE`] each.
pub const PATH_CHUNK_COMPLETE_BATCH: &str = "/api/node/chunks/complete-batch";
/// `POST` — report that a chunk failed.
pub const PATH_CHUNK_FAIL: &str = "/api/node/chunks/fail";
/// `POST` — fetch a job's profile by content hash.
pub const PATH_CONFIG: &str = "/api/node/config";
/// `POST` — detach this node from its owner and forget it.
pub const PATH_UNLINK: &str = "/api/node/unlink";
/// `POST` — credentials for the tunnel's NATS server, scoped to this node's own subjects.
pub const PATH_TUNNEL_CREDENTIALS: &str = "/api/node/tunnel-credentials";

/// Leases a node may ask for beyond its slots: a node running very short chunks keeps about
/// 30 ms of them queued so a slot never waits a round trip, and its completions travel in
/// batches of up to this many (sub-millisecond chunks reach it; per-request costs are then
/// paid once per batch). The sentinel credits at most `max_parallel + MAX_PREFETCH` free
/// slots per node.
pub const MAX_PREFETCH: u32 = 256;

/// Hardware and software facts a node reports about itself.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct NodeFacts {
    /// Host name, for display.
    pub hostname: String,
    /// `wowlab` version string.
    pub version: String,
    /// Physical cores available to the worker pool.
    pub cores: u32,
    /// Runner capabilities, e.g. `["sim/v1"]`.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// The node's own cap on parallel chunks (`--max-parallel`, 1..=1024): the owner's setting
    /// can lower it, never raise it. Absent from older nodes (then the owner's setting alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_max_parallel: Option<u32>,
}

/// Body of [`PATH_REGISTER`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterRequest {
    /// A user's claim token; without one the node registers unowned and gets a claim code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_token: Option<String>,
    /// Display name the node proposes (its host name by default).
    pub name: String,
    /// What the node is.
    pub facts: NodeFacts,
}

/// Reply to [`PATH_REGISTER`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterResponse {
    /// The node's id (stable for its key).
    pub node_id: NodeId,
    /// Owner, once claimed.
    #[serde(default)]
    pub owner: Option<UserId>,
    /// Code the owner enters in the studio while the node is unowned, e.g. `K7Q2MX`.
    #[serde(default)]
    pub claim_code: Option<String>,
}

/// Reply to [`PATH_TOKEN`] (empty request body); refused with `not_claimed` while unowned.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The node's id.
    pub node_id: NodeId,
    /// WebSocket URL of beacon.
    pub beacon_url: String,
    /// HS256 connection token (server-side subscriptions to `chunks:{id}` and `nodes:{id}`).
    pub token: String,
    /// Token expiry, Unix milliseconds.
    pub expires_at_ms: u64,
}

/// Reply to [`PATH_TUNNEL_CREDENTIALS`] (empty request body); refused with `not_claimed`
/// while unowned.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelCredentialsResponse {
    /// The node's id (its tunnel host).
    pub node_id: NodeId,
    /// NATS user JWT allowing only this node's tunnel subjects (a bearer secret; refetch
    /// before `expires_at_ms`). `None`: the tunnel's NATS server takes no credentials.
    #[serde(default)]
    pub jwt: Option<String>,
    /// When the JWT was issued, Unix milliseconds.
    #[serde(default)]
    pub issued_at_ms: u64,
    /// When the NATS server stops accepting it, Unix milliseconds.
    #[serde(default)]
    pub expires_at_ms: u64,
    /// Inbox prefix the node's NATS connection must use (the only inbox the JWT allows).
    pub inbox_prefix: String,
}

/// A lease as the node names it in heartbeats, completions and failures.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LeaseRef {
    /// The job.
    pub job_id: JobId,
    /// Chunk index within the job.
    pub chunk: u32,
    /// Fence of the lease; a result with a superseded fence is refused.
    pub fence: u64,
}

/// One chunk of work offered to a node (also the `chunks:{node}` lease payload).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkLease {
    /// Which lease this is.
    #[serde(flatten)]
    pub lease: LeaseRef,
    /// First iteration (inclusive).
    pub iter_start: u64,
    /// End iteration (exclusive).
    pub iter_end: u64,
    /// The job's seed; iteration `k` seeds from `(seed, k)` only.
    pub seed: u64,
    /// Content hash of the job's profile, fetched once via [`PATH_CONFIG`] and cached.
    pub config_hash: String,
    /// Lease expiry, Unix milliseconds; extended by heartbeats.
    pub expires_at_ms: u64,
}

/// Host metrics sent with each heartbeat.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SystemMetrics {
    /// One-minute load average.
    pub load1: f64,
    /// Memory in use, bytes.
    pub mem_used_bytes: u64,
    /// Total memory, bytes.
    pub mem_total_bytes: u64,
    /// Iterations simulated per second over the last interval.
    pub sims_per_sec: f64,
}

/// Body of [`PATH_HEARTBEAT`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatRequest {
    /// Worker slots free right now.
    pub free_slots: u32,
    /// Every lease the node holds: running, queued (prefetched) or being reported.
    pub active: Vec<LeaseRef>,
    /// Host metrics.
    pub metrics: SystemMetrics,
    /// Chunks being computed right now (the "cores in use"); absent from older nodes, which
    /// the sentinel then counts by `active`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<u32>,
    /// The node's own cap on parallel chunks, as in [`NodeFacts::local_max_parallel`]: sent
    /// with every heartbeat because a restart with other flags changes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_max_parallel: Option<u32>,
    /// The node's last heartbeat before it exits (after a drain): it is offline from now on,
    /// so nothing waits for it to be missed (credit, spot checks barred to it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub leaving: bool,
}

/// Settings the owner controls, pushed on `nodes:{id}` and returned with each heartbeat.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSettings {
    /// Display name.
    pub name: String,
    /// Parallel chunks at most (0 = one per core).
    pub max_parallel: u32,
    /// Finish current work, take no more.
    pub drain: bool,
}

/// Reply to [`PATH_HEARTBEAT`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    /// Leases still held, with their new expiry.
    pub extended: Vec<ExtendedLease>,
    /// Leases the node must drop (expired, reassigned, cancelled).
    pub cancelled: Vec<LeaseRef>,
    /// Lease time-to-live the sentinel uses, milliseconds; the node heartbeats at a third of it.
    pub lease_ttl_ms: u64,
    /// Current owner settings.
    pub settings: NodeSettings,
}

/// A lease with its extended expiry.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtendedLease {
    /// Which lease.
    #[serde(flatten)]
    pub lease: LeaseRef,
    /// New expiry, Unix milliseconds.
    pub expires_at_ms: u64,
}

/// Body of [`PATH_LEASES`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeasesRequest {
    /// New chunks wanted (0 only resyncs).
    pub free_slots: u32,
}

/// Reply to [`PATH_LEASES`]: every lease the node holds now, old and new.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeasesResponse {
    /// Held leases.
    pub leases: Vec<ChunkLease>,
}

/// Body of [`PATH_CHUNK_COMPLETE`]; answered 200 [`CompleteResponse`] or 409 `stale_lease`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompleteRequest {
    /// The lease being completed.
    #[serde(flatten)]
    pub lease: LeaseRef,
    /// Standard base64 of the chunk result in `wowlab-sim`'s binary encoding.
    pub result_b64: String,
    /// Wall time spent on the chunk, milliseconds.
    pub elapsed_ms: u64,
    /// The slot this chunk ran in is free for new work: the sentinel answers with new leases
    /// for it (`leases` of the reply) or keeps it as credit and pushes work when some appears.
    /// False (the default, and what older nodes send) leaves the node to ask for work itself.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refill: bool,
}

/// Reply to [`PATH_CHUNK_COMPLETE`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompleteResponse {
    /// False when the chunk had already been accepted (a retried post): nothing changed.
    pub accepted: bool,
    /// New leases for the freed slot when the request asked for a refill.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leases: Vec<ChunkLease>,
}

/// Body of [`PATH_CHUNK_COMPLETE_BATCH`]: results, each as in a single completion.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompleteBatchRequest {
    /// The results (at most 1024).
    pub results: Vec<CompleteRequest>,
}

/// What happened to one result of a batch.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchOutcome {
    /// Stored and counted.
    Accepted,
    /// Already accepted earlier (a retried post): nothing changed.
    AlreadyDone,
    /// The lease is no longer held (the single form answers 409 `stale_lease`); drop the work.
    Stale,
}

/// Reply to [`PATH_CHUNK_COMPLETE_BATCH`]: one outcome per result, in request order.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompleteBatchResponse {
    /// Outcomes.
    pub results: Vec<BatchOutcome>,
    /// New leases for the slots freed by the results that asked for a refill.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leases: Vec<ChunkLease>,
}

/// Body of [`PATH_CHUNK_FAIL`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailRequest {
    /// The lease that failed.
    #[serde(flatten)]
    pub lease: LeaseRef,
    /// Why, for the job's failure reason.
    pub reason: String,
}

/// What the sentinel did with a failed chunk.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailAction {
    /// The chunk goes to another node.
    Retry,
    /// The chunk hit its attempt limit; the job failed.
    JobFailed,
}

/// Reply to [`PATH_CHUNK_FAIL`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailResponse {
    /// Outcome.
    pub action: FailAction,
}

/// Body of [`PATH_CONFIG`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigRequest {
    /// Content hash from a [`ChunkLease`].
    pub config_hash: String,
}

/// Reply to [`PATH_CONFIG`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigResponse {
    /// The hash, echoed.
    pub config_hash: String,
    /// Profile source text (TOML or JSON) as submitted.
    pub profile: String,
}

/// Every 4xx/5xx response body of the sentinel, user API included.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    /// Stable machine-readable code, e.g. `bad_signature`, `replayed`, `stale_lease`,
    /// `not_claimed`, `validation`.
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// Field the error is about, for forms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_fields_are_flat_in_json() {
        let lease = ChunkLease {
            lease: LeaseRef {
                job_id: JobId::new(),
                chunk: 3,
                fence: 9,
            },
            iter_start: 300,
            iter_end: 400,
            seed: 42,
            config_hash: "abc".into(),
            expires_at_ms: 1,
        };
        let v: serde_json::Value = serde_json::to_value(&lease).unwrap();
        assert_eq!(v["chunk"], 3);
        assert_eq!(v["fence"], 9);
        assert_eq!(v["job_id"], lease.lease.job_id.to_string());
        let back: ChunkLease = serde_json::from_value(v).unwrap();
        assert_eq!(back, lease);
    }

    #[test]
    fn heartbeat_and_facts_of_older_nodes_still_parse() {
        let hb: HeartbeatRequest = serde_json::from_str(
            r#"{"free_slots":1,"active":[],"metrics":{"load1":0,"mem_used_bytes":0,"mem_total_bytes":0,"sims_per_sec":0}}"#,
        )
        .unwrap();
        assert_eq!((hb.running, hb.local_max_parallel), (None, None));
        let facts: NodeFacts =
            serde_json::from_str(r#"{"hostname":"h","version":"0","cores":2}"#).unwrap();
        assert_eq!(facts.local_max_parallel, None);
        // And a new node's extra fields are on the wire.
        let v = serde_json::to_value(HeartbeatRequest {
            running: Some(1),
            local_max_parallel: Some(1),
            ..hb
        })
        .unwrap();
        assert_eq!(
            (v["running"].as_u64(), v["local_max_parallel"].as_u64()),
            (Some(1), Some(1))
        );
    }

    #[test]
    fn unknown_fields_are_ignored_for_forward_compatibility() {
        let r: LeasesRequest = serde_json::from_str(r#"{"free_slots":2,"future":true}"#).unwrap();
        assert_eq!(r.free_slots, 2);
    }
}
