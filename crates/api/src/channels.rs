//! Channel names and the payloads the sentinel publishes on beacon (`docs/architecture.md`,
//! "Channels").
//!
//! Every payload is a JSON object with a `type` tag, so a subscriber can ignore types it does
//! not know yet.

use serde::{Deserialize, Serialize};

use crate::ids::{JobId, NodeId};
use crate::node::{ChunkLease, LeaseRef, NodeSettings};

/// `chunks:{node}` — lease offers and cancellations for one node.
pub fn chunks(node: NodeId) -> String {
    format!("chunks:{node}")
}

/// `nodes:{node}` — settings and status of one node.
pub fn node(node: NodeId) -> String {
    format!("nodes:{node}")
}

/// `jobs:{job}` — progress and the terminal result of one job.
pub fn job(job: JobId) -> String {
    format!("jobs:{job}")
}

/// Presence roster of connected nodes.
pub const NODES_ONLINE: &str = "nodes:online";
/// Roster changes for dashboards.
pub const NODES_ALL: &str = "nodes:all";

/// Payload on `chunks:{node}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChunkMessage {
    /// New work.
    Lease(ChunkLease),
    /// Several new leases pushed at once (one publication instead of one per lease).
    Leases {
        /// The leases.
        leases: Vec<ChunkLease>,
    },
    /// Drop this work (job cancelled or failed, lease revoked).
    Cancel {
        /// Which lease.
        #[serde(flatten)]
        lease: LeaseRef,
        /// Why.
        reason: String,
    },
}

/// Payload on `nodes:{node}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeMessage {
    /// The owner changed a setting.
    Settings(NodeSettings),
    /// The node's status flipped (`online`, `offline`, `unlinked`).
    Status {
        /// New status.
        status: String,
    },
}

/// Payload on `jobs:{job}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JobMessage {
    /// Coalesced progress (at most a few per second).
    Progress(JobProgress),
    /// Terminal state; `result` is the report when completed.
    Finished {
        /// `completed`, `failed` or `cancelled`.
        status: String,
        /// Failure reason when failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// The final report (the sim's `Report` as JSON) when completed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<serde_json::Value>,
        /// Progress at the end.
        progress: JobProgress,
    },
}

/// Running state of a job, as merged so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct JobProgress {
    /// Chunks merged.
    pub chunks_done: u32,
    /// Chunks in the job.
    pub chunks_total: u32,
    /// Iterations merged.
    pub iterations_done: u64,
    /// Iterations in the job.
    pub iterations_total: u64,
    /// Iterations per second over the recent window.
    pub sims_per_sec: f64,
    /// Running mean DPS of the merged iterations.
    pub mean_dps: f64,
    /// 95% confidence half-width of that mean.
    pub ci95_dps: f64,
    /// Nodes that contributed chunks so far.
    #[serde(default)]
    pub nodes: Vec<NodeId>,
    /// Target-error jobs: the 95 % CI half-width to reach, percent of the mean.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_error: Option<f64>,
    /// Target-error jobs: the current 95 % CI half-width, percent of the mean (null while the
    /// mean is 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub half_width_pct: Option<f64>,
    /// Target-error jobs: waves merged in full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waves_done: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_carry_a_type_tag() {
        let cancel = ChunkMessage::Cancel {
            lease: LeaseRef {
                job_id: JobId::new(),
                chunk: 1,
                fence: 2,
            },
            reason: "job cancelled".into(),
        };
        let v = serde_json::to_value(&cancel).unwrap();
        assert_eq!(v["type"], "cancel");
        assert_eq!(v["chunk"], 1);
        assert_eq!(serde_json::from_value::<ChunkMessage>(v).unwrap(), cancel);

        let p = JobMessage::Progress(JobProgress {
            chunks_total: 4,
            ..JobProgress::default()
        });
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["type"], "progress");
        assert_eq!(v["chunks_total"], 4);
    }

    #[test]
    fn batched_leases_round_trip() {
        let lease = ChunkLease {
            lease: LeaseRef {
                job_id: JobId::new(),
                chunk: 4,
                fence: 7,
            },
            iter_start: 40,
            iter_end: 50,
            seed: 1,
            config_hash: "h".into(),
            expires_at_ms: 9,
        };
        let msg = ChunkMessage::Leases {
            leases: vec![lease.clone(), lease],
        };
        let v = serde_json::to_value(&msg).unwrap();
        assert_eq!(v["type"], "leases");
        assert_eq!(v["leases"][1]["chunk"], 4);
        assert_eq!(serde_json::from_value::<ChunkMessage>(v).unwrap(), msg);
    }

    #[test]
    fn channel_names() {
        let id = NodeId::new();
        assert_eq!(chunks(id), format!("chunks:{id}"));
        assert_eq!(node(id), format!("nodes:{id}"));
    }
}
