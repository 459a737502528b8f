//! Heartbeat driver: every third of the lease TTL (as the last heartbeat reply stated it, or a
//! fixed override) the node reports free slots, held leases, running chunks, its local slot cap
//! and host metrics; the reply extends leases, names leases to drop and carries the owner's
//! settings.
//!
//! A failed heartbeat is retried by the client; the node gives its leases up only when no
//! heartbeat got through for a whole TTL, because by then the sentinel has reassigned them.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use wowlab_api::node::{HeartbeatRequest, HeartbeatResponse, SystemMetrics};

use crate::client::SentinelClient;
use crate::pool::{Pool, PoolReport};
use crate::system::{self, RateMeter};

/// Lease TTL assumed until the sentinel states one.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);
/// Shortest interval, whatever the TTL.
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// The interval for a lease TTL: a third of it, so two heartbeats may be lost before expiry.
pub fn interval_for(ttl: Duration, fixed: Option<Duration>) -> Duration {
    fixed.unwrap_or(ttl / 3).max(MIN_INTERVAL)
}

/// The heartbeat body for a pool report: held leases in `active`, and separately the chunks
/// actually computing (`running`, the cores in use) and the local slot cap.
pub fn request(report: PoolReport, metrics: SystemMetrics) -> HeartbeatRequest {
    HeartbeatRequest {
        free_slots: report.free_slots,
        active: report.active,
        metrics,
        running: Some(report.running),
        local_max_parallel: Some(report.local_max_parallel),
        leaving: false,
    }
}

/// Sends heartbeats until `stop` is cancelled.
pub struct HeartbeatDriver {
    client: SentinelClient,
    pool: Pool,
    fixed: Option<Duration>,
    meter: RateMeter,
    ttl: Duration,
    last_ok: Instant,
    detached: Option<CancellationToken>,
}

impl HeartbeatDriver {
    /// A driver for `pool`; `fixed` overrides the TTL-derived interval.
    pub fn new(client: SentinelClient, pool: Pool, fixed: Option<Duration>) -> Self {
        Self {
            client,
            pool,
            fixed,
            meter: RateMeter::new(Duration::from_secs(10)),
            ttl: DEFAULT_LEASE_TTL,
            last_ok: Instant::now(),
            detached: None,
        }
    }

    /// Cancels `token` when the sentinel no longer knows this node or it lost its owner.
    pub fn on_detached(mut self, token: CancellationToken) -> Self {
        self.detached = Some(token);
        self
    }

    /// Runs the loop; the first heartbeat goes out at once so the TTL is known early.
    pub async fn run(mut self, stop: CancellationToken) {
        loop {
            self.beat().await;
            let wait = interval_for(self.ttl, self.fixed);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    /// One heartbeat and its consequences.
    pub async fn beat(&mut self) {
        let metrics = system::metrics(self.meter.rate(self.pool.progress().total()));
        let req = request(self.pool.report(), metrics);
        match self.client.heartbeat(&req).await {
            Ok(resp) => {
                self.last_ok = Instant::now();
                self.apply(resp);
            }
            Err(e) if e.is_unknown_node() || e.is_not_claimed() => {
                tracing::warn!(error = %e, "sentinel no longer accepts this node");
                if let Some(t) = &self.detached {
                    t.cancel();
                }
            }
            Err(e) => {
                metrics::counter!("wowlab_node_heartbeat_failures_total").increment(1);
                tracing::warn!(error = %e, "heartbeat failed");
                if self.last_ok.elapsed() > self.ttl && self.pool.held() > 0 {
                    tracing::error!(
                        ttl = ?self.ttl,
                        "no heartbeat got through for a whole lease TTL; giving up held leases"
                    );
                    self.pool.cancel_all("lease lost: heartbeats failing");
                }
            }
        }
    }

    fn apply(&mut self, resp: HeartbeatResponse) {
        if resp.lease_ttl_ms > 0 {
            self.ttl = Duration::from_millis(resp.lease_ttl_ms);
        }
        self.pool.extend(&resp.extended);
        for l in &resp.cancelled {
            self.pool.cancel(l, "cancelled by heartbeat reply");
        }
        self.pool.apply_settings(&resp.settings);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_is_a_third_of_the_ttl_unless_fixed() {
        assert_eq!(
            interval_for(Duration::from_secs(30), None),
            Duration::from_secs(10)
        );
        assert_eq!(
            interval_for(Duration::from_secs(30), Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(interval_for(Duration::from_millis(30), None), MIN_INTERVAL);
    }
}
