//! The reclaim loop: every `interval` the leader returns expired leases to pending. With the
//! lease TTL at three heartbeat intervals, a node that stops heartbeating (crash, `kill -9`,
//! network loss) has its chunks back in the pool within three intervals plus one tick.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::Leadership;
use crate::coordinator::Coordinator;
use crate::http::Clock;

/// Runs until `shutdown` turns true; releases the leader lock on the way out.
pub async fn run_reclaim(
    coordinator: Arc<dyn Coordinator>,
    clock: Arc<dyn Clock>,
    holder: String,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut leader = Leadership::new(coordinator.clone(), "reclaim", holder, interval * 3);
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
            Ok(Some(_)) => match coordinator.reclaim_expired(now).await {
                Ok(back) if !back.is_empty() => {
                    metrics::counter!("sentinel_leases_reclaimed_total")
                        .increment(back.len() as u64);
                    tracing::info!(count = back.len(), "expired leases returned to pending")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "reclaim failed"),
            },
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "leader election failed"),
        }
    }
    if let Err(e) = leader.release().await {
        tracing::debug!(error = %e, "could not release the reclaim lock");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::{JobSpec, MemoryCoordinator};
    use crate::domain::{JobId, NodeId, UnixMillis};
    use crate::http::ManualClock;

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
}
