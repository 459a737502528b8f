//! The sentinel's metrics, registered at start (at zero) so `/metrics` and dashboards list
//! every series before its first event, plus the grid gauges the leader refreshes.

use std::time::Duration;

use crate::context::Context;
use crate::domain::{JobStatus, UnixMillis};

/// Counters without labels.
const COUNTERS: &[&str] = &[
    "sentinel_leases_granted_total",
    "sentinel_leases_pushed_total",
    "sentinel_leases_refilled_total",
    "sentinel_leases_cancelled_total",
    "sentinel_nodes_dead_total",
    "sentinel_heartbeats_total",
    "sentinel_result_commits_total",
    "sentinel_profile_validation_timeouts_total",
    "sentinel_publish_retries_total",
    "sentinel_publish_failures_total",
];

/// Counters with one label and its every value.
const LABELLED: &[(&str, &str, &[&str])] = &[
    (
        "sentinel_leases_reclaimed_total",
        "cause",
        &["expired", "node_dead", "wall_time"],
    ),
    (
        "sentinel_chunk_results_total",
        "outcome",
        &["completed", "already_done", "stale"],
    ),
    (
        "sentinel_chunk_failures_total",
        "outcome",
        &["retry", "job_failed", "stale"],
    ),
    (
        "sentinel_jobs_finished_total",
        "status",
        &["completed", "failed", "cancelled"],
    ),
    (
        "sentinel_rate_limited_total",
        "action",
        &[
            "sign_in",
            "sign_up",
            "claim_code",
            "create_token",
            "job_token",
        ],
    ),
    // Leader writes the store refused as stale (the leader stepped down).
    ("sentinel_stale_leader_writes_total", "lock", &["projector"]),
    // The codes an operator watches; the others appear with their first error.
    (
        "sentinel_http_errors_total",
        "code",
        &["internal", "unavailable"],
    ),
];

/// Gauges the leader sets from the store and the coordinator.
pub const NODES_LIVE: &str = "sentinel_nodes_live";
/// Running jobs.
pub const JOBS_RUNNING: &str = "sentinel_jobs_running";
/// Chunks of running jobs waiting for a node.
pub const CHUNKS_PENDING: &str = "sentinel_chunks_pending";
/// Chunks of running jobs leased to a node.
pub const CHUNKS_LEASED: &str = "sentinel_chunks_leased";

/// Registers every sentinel series at zero (call once the process's recorder is installed).
pub fn register() {
    for name in COUNTERS {
        metrics::counter!(*name).absolute(0);
    }
    for (name, label, values) in LABELLED {
        for v in *values {
            metrics::counter!(*name, *label => *v).absolute(0);
        }
    }
    for name in [NODES_LIVE, JOBS_RUNNING, CHUNKS_PENDING, CHUNKS_LEASED] {
        metrics::gauge!(name).set(0.0);
    }
    // Histograms render once they have a sample; the batch size has one per commit.
}

/// Refreshes the grid gauges: claimed nodes heard from within `live_within`, running jobs and
/// their pending and leased chunks.
pub async fn refresh_gauges(ctx: &Context, now: UnixMillis, live_within: Duration) {
    let since = now.0.saturating_sub(live_within.as_millis() as u64);
    match ctx.store().list_nodes(None).await {
        Ok(nodes) => {
            let live = nodes
                .iter()
                .filter(|n| n.owner.is_some() && n.last_seen_at.is_some_and(|t| t.0 >= since))
                .count();
            metrics::gauge!(NODES_LIVE).set(live as f64);
        }
        Err(e) => tracing::debug!(error = %e, "node gauge not refreshed"),
    }
    let jobs = match ctx.store().jobs_with_status(JobStatus::Running).await {
        Ok(j) => j,
        Err(e) => {
            tracing::debug!(error = %e, "job gauges not refreshed");
            return;
        }
    };
    let (mut pending, mut leased) = (0u64, 0u64);
    for j in &jobs {
        if let Ok(p) = ctx.coordinator().job_progress(j.id).await {
            pending += u64::from(p.pending);
            leased += u64::from(p.leased);
        }
    }
    metrics::gauge!(JOBS_RUNNING).set(jobs.len() as f64);
    metrics::gauge!(CHUNKS_PENDING).set(pending as f64);
    metrics::gauge!(CHUNKS_LEASED).set(leased as f64);
}
