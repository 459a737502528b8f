//! The reclaim loop: the leader marks dead every node silent for two heartbeat intervals
//! (heartbeat interval = lease TTL / 3) and returns all its leases to pending at once, and
//! returns any other expired lease. It ticks at a quarter of a heartbeat interval (or the
//! configured interval, if shorter), so a node that stops heartbeating (crash, `kill -9`,
//! network loss) has its chunks back in the pool — and pushed to nodes with credit — within
//! 2¼ heartbeat intervals of its last heartbeat, well inside the lease TTL.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::Leadership;
use crate::coordinator::Coordinator;
use crate::domain::Clock;
use crate::domain::UnixMillis;

/// Heartbeats a node may miss before it is declared dead.
pub const MISSED_HEARTBEATS: u32 = 2;

/// The silence after which a node is dead, for a lease TTL: two heartbeat intervals.
pub fn dead_after(lease_ttl: Duration) -> Duration {
    lease_ttl / 3 * MISSED_HEARTBEATS
}

/// The reclaim tick for a lease TTL: a quarter of a heartbeat interval, at most `interval`,
/// at least 10 ms.
pub fn reclaim_tick(lease_ttl: Duration, interval: Duration) -> Duration {
    (lease_ttl / 12)
        .min(interval)
        .max(Duration::from_millis(10))
}

/// Runs until `shutdown` turns true; releases the leader lock on the way out.
pub async fn run_reclaim(
    coordinator: Arc<dyn Coordinator>,
    clock: Arc<dyn Clock>,
    holder: String,
    interval: Duration,
    lease_ttl: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let interval = reclaim_tick(lease_ttl, interval);
    let silence = dead_after(lease_ttl);
    // The lock outlives a few missed ticks but not a heartbeat interval's worth.
    let lock_ttl = (interval * 3).max(Duration::from_millis(300));
    let mut leader = Leadership::new(coordinator.clone(), "reclaim", holder, lock_ttl);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => break,
        }
        if *shutdown.borrow() {
            break;
        }
        let now = clock.now();
        match leader.tick(now).await {
            Ok(Some(_)) => reclaim_once(&*coordinator, now, silence).await,
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "leader election failed"),
        }
    }
    if let Err(e) = leader.release().await {
        tracing::debug!(error = %e, "could not release the reclaim lock");
    }
}

/// One round: silent nodes are declared dead (all their leases back at once), then expired
/// leases are returned.
pub async fn reclaim_once(coordinator: &dyn Coordinator, now: UnixMillis, silence: Duration) {
    match coordinator.reap_silent_nodes(now, silence).await {
        Ok(dead) => {
            for d in dead {
                metrics::counter!("sentinel_nodes_dead_total").increment(1);
                if d.reclaimed.is_empty() {
                    tracing::info!(node = %d.node, "node missed its heartbeats; marked dead");
                    continue;
                }
                metrics::counter!("sentinel_leases_reclaimed_total", "cause" => "node_dead")
                    .increment(d.reclaimed.len() as u64);
                tracing::warn!(
                    node = %d.node,
                    leases = d.reclaimed.len(),
                    "node missed its heartbeats; marked dead, its leases returned to pending"
                );
            }
        }
        Err(e) => tracing::warn!(error = %e, "dead-node reaping failed"),
    }
    match coordinator.reclaim_expired(now).await {
        Ok(back) if !back.is_empty() => {
            metrics::counter!("sentinel_leases_reclaimed_total", "cause" => "expired")
                .increment(back.len() as u64);
            tracing::info!(count = back.len(), "expired leases returned to pending")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "reclaim failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::{JobSpec, MemoryCoordinator};
    use crate::domain::ManualClock;
    use crate::domain::{JobId, NodeId};

    #[tokio::test(start_paused = true)]
    async fn expired_leases_come_back_within_a_tick() {
        let coord = Arc::new(MemoryCoordinator::new());
        let clock = Arc::new(ManualClock::new(UnixMillis(1_000_000)));
        let job = JobId::new();
        coord.register_job(JobSpec::new(job, 2, "u")).await.unwrap();
        let ttl = Duration::from_secs(3);
        coord
            .lease(NodeId::new(), 2, ttl, clock.now())
            .await
            .unwrap();
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(run_reclaim(
            coord.clone(),
            clock.clone(),
            "me".into(),
            Duration::from_secs(1),
            ttl,
            rx,
        ));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(coord.job_progress(job).await.unwrap().leased, 2);
        clock.advance_ms(3_000);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let p = coord.job_progress(job).await.unwrap();
        assert_eq!((p.leased, p.pending), (0, 2));
        stop.send(true).unwrap();
        task.await.unwrap();
        // The lock was released: someone else can lead immediately.
        assert!(coord
            .try_acquire_leader("reclaim", "other", ttl, clock.now())
            .await
            .unwrap()
            .is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_node_is_declared_dead_and_its_leases_return_before_they_expire() {
        let coord = Arc::new(MemoryCoordinator::new());
        let clock = Arc::new(ManualClock::new(UnixMillis(1_000_000)));
        let job = JobId::new();
        coord.register_job(JobSpec::new(job, 4, "u")).await.unwrap();
        // Heartbeat interval 1 s: dead after 2 s of silence, leases expire after 3 s.
        let ttl = Duration::from_secs(3);
        let (silent, busy) = (NodeId::new(), NodeId::new());
        coord.lease(silent, 2, ttl, clock.now()).await.unwrap();
        let held = coord.lease(busy, 2, ttl, clock.now()).await.unwrap();
        let held: Vec<_> = held.iter().map(|l| l.lease_ref()).collect();
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(run_reclaim(
            coord.clone(),
            clock.clone(),
            "me".into(),
            Duration::from_secs(1),
            ttl,
            rx,
        ));
        clock.advance_ms(1_500);
        coord
            .heartbeat(busy, &held, 0, ttl, clock.now())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(coord.job_progress(job).await.unwrap().leased, 4);
        // 2.1 s of silence: within a tick (250 ms) the silent node's leases are back, while
        // they would only expire at 3 s; the heartbeating node keeps its own.
        clock.advance_ms(600);
        tokio::time::sleep(Duration::from_millis(260)).await;
        let p = coord.job_progress(job).await.unwrap();
        assert_eq!((p.leased, p.pending), (2, 2));
        assert!(coord
            .current_leases(silent, clock.now())
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            coord.current_leases(busy, clock.now()).await.unwrap().len(),
            2
        );
        stop.send(true).unwrap();
        task.await.unwrap();
    }

    #[test]
    fn dead_after_two_heartbeat_intervals_ticking_at_a_quarter_of_one() {
        let ttl = Duration::from_millis(3000);
        assert_eq!(dead_after(ttl), Duration::from_millis(2000));
        assert_eq!(
            reclaim_tick(ttl, Duration::from_secs(1)),
            Duration::from_millis(250)
        );
        assert_eq!(
            reclaim_tick(ttl, Duration::from_millis(100)),
            Duration::from_millis(100)
        );
    }
}
