//! The reclaim loop: the leader marks dead every node silent for two heartbeat intervals
//! (heartbeat interval = lease TTL / 3) and returns all its leases to pending at once, and
//! returns any other expired lease. It ticks at a quarter of a heartbeat interval (or the
//! configured interval, if shorter), so a node that stops heartbeating (crash, `kill -9`,
//! network loss) has its chunks back in the pool — and pushed to nodes with credit — within
//! 2¼ heartbeat intervals of its last heartbeat, well inside the lease TTL. A lease held past
//! its job's chunk wall-time limit (heartbeats or not) counts as a failure of that chunk on
//! that node: the node is told to drop it, and a chunk that never finishes fails its job
//! through the retry limit instead of occupying nodes forever. Every few seconds it also
//! lifts the bar on chunks whose spot check lost its checking node
//! ([`crate::verify::Verifier::release_stranded`]), so such a job still finishes.

use std::time::Duration;

use tokio::sync::watch;
use wowlab_api::channels::{self, ChunkMessage};

use super::Leadership;
use crate::context::Context;
use crate::coordinator::{
    effective_wall_limit, Coordinator, FailOutcome, RevokedLease, MIN_CHUNK_WALL_LIMIT,
};
use crate::domain::UnixMillis;
use crate::lifecycle::{Ending, LifecycleError};
use crate::store::{LeaderFence, StoreError};
use crate::wire::to_wire;

/// How often the leader refreshes the grid gauges (nodes live, jobs running, chunks queued).
const GAUGE_INTERVAL: Duration = Duration::from_secs(5);

/// How often the leader checks that the coordinator still knows every running job (a flushed
/// Redis forgets them; they are rebuilt from the store).
const RESTORE_INTERVAL: Duration = Duration::from_secs(2);

/// Name of the reclaim loop's leader lock (and of its row in the store's leader fences).
const RECLAIM_LOCK: &str = "reclaim";

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
    ctx: Context,
    holder: String,
    interval: Duration,
    lease_ttl: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let interval = reclaim_tick(lease_ttl, interval);
    let silence = dead_after(lease_ttl);
    // The lock outlives a few missed ticks but not a heartbeat interval's worth.
    let lock_ttl = (interval * 3).max(Duration::from_millis(300));
    let mut leader = Leadership::new(ctx.coordinator_arc(), RECLAIM_LOCK, holder, lock_ttl);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut gauges_at: Option<tokio::time::Instant> = None;
    let mut gauges: Option<tokio::task::JoinHandle<()>> = None;
    let mut restored_at: Option<tokio::time::Instant> = None;
    let mut restoring: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => break,
        }
        if *shutdown.borrow() {
            break;
        }
        let now = ctx.clock().now();
        match leader.tick(now).await {
            Ok(Some(token)) => {
                // On a task of its own too: it reads the store.
                let idle = restoring.as_ref().is_none_or(|r| r.is_finished());
                if idle && restored_at.is_none_or(|at| at.elapsed() >= RESTORE_INTERVAL) {
                    restored_at = Some(tokio::time::Instant::now());
                    let ctx = ctx.clone();
                    restoring = Some(tokio::spawn(async move {
                        restore_lost(&ctx).await;
                        release_stranded_checks(&ctx).await;
                    }));
                }
                let fence = LeaderFence {
                    lock: RECLAIM_LOCK.into(),
                    token,
                };
                if let Err(e) = fail_overdue(&ctx, now, Some(&fence)).await {
                    // A newer reclaim leader exists: this one stops writing until re-elected.
                    tracing::warn!(error = %e, "reclaim leader write refused as stale; stepping down");
                    metrics::counter!("sentinel_stale_leader_writes_total", "lock" => RECLAIM_LOCK)
                        .increment(1);
                    if let Err(e) = leader.release().await {
                        tracing::debug!(error = %e, "could not release the reclaim lock");
                    }
                    continue;
                }
                reclaim_once(ctx.coordinator(), now, silence).await;
                // The leader also keeps the grid gauges fresh, every few seconds, on a task of
                // their own so a slow store never holds up reclaiming.
                let idle = gauges.as_ref().is_none_or(|g| g.is_finished());
                if idle && gauges_at.is_none_or(|at| at.elapsed() >= GAUGE_INTERVAL) {
                    gauges_at = Some(tokio::time::Instant::now());
                    let ctx = ctx.clone();
                    gauges = Some(tokio::spawn(async move {
                        crate::telemetry::refresh_gauges(&ctx, now, silence).await
                    }));
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "leader election failed"),
        }
    }
    if let Err(e) = leader.release().await {
        tracing::debug!(error = %e, "could not release the reclaim lock");
    }
}

/// Lets any node recompute the chunks whose spot check lost its checking node.
async fn release_stranded_checks(ctx: &Context) {
    let now = ctx.clock().now();
    if let Err(e) = ctx.verifier().release_stranded(ctx, now).await {
        tracing::warn!(error = %e, "stranded spot check sweep failed");
    }
    // Reviews of a quarantined node's results too (verify::review::sweep).
    if let Err(e) = crate::verify::review::sweep(ctx).await {
        tracing::warn!(error = %e, "review sweep failed");
    }
}

/// Schedules again the running jobs the coordinator lost, and hands those whose chunks are all
/// stored to the projector.
async fn restore_lost(ctx: &Context) {
    let report = match crate::recovery::restore_lost_jobs(
        ctx.store(),
        ctx.coordinator(),
        ctx.config().max_attempts,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "lost-job check failed");
            return;
        }
    };
    if !report.restored.is_empty() {
        tracing::warn!(
            jobs = report.restored.len(),
            "coordination had lost running jobs; rebuilt them from the store"
        );
    }
    for job in report.fully_done {
        if let Err(e) = ctx
            .result_log()
            .append(crate::result_log::LogEntry::Kick(job))
            .await
        {
            tracing::warn!(job = %job, error = %e, "restored job not handed to the projector");
        }
    }
}

/// Fails every lease held past its chunk wall-time limit: the holder is told to drop it, and
/// the chunk is retried elsewhere or, at its attempt limit, fails the job. With `fence` (the
/// reclaim leader's) a job's failure is written only if no newer leader wrote; a refusal
/// ends the sweep with [`StoreError::StaleLeader`], every other problem is logged.
pub async fn fail_overdue(
    ctx: &Context,
    now: UnixMillis,
    fence: Option<&LeaderFence>,
) -> Result<(), StoreError> {
    let overdue = match ctx.coordinator().overdue_leases(now).await {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(error = %e, "overdue lease scan failed");
            return Ok(());
        }
    };
    for r in overdue {
        let limit = match ctx.job_facts(r.lease.job).await {
            Ok(Some(j)) => effective_wall_limit(j.chunk_wall_limit_ms),
            _ => MIN_CHUNK_WALL_LIMIT,
        };
        let reason = format!(
            "chunk {} ran past its wall-time limit of {} s on node {}",
            r.lease.chunk,
            limit.as_secs(),
            r.node
        );
        let outcome = match ctx.coordinator().fail(r.node, r.lease, &reason, now).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(error = %e, "overdue lease not failed");
                continue;
            }
        };
        metrics::counter!("sentinel_leases_reclaimed_total", "cause" => "wall_time").increment(1);
        tracing::warn!(job = %r.lease.job, chunk = %r.lease.chunk, node = %r.node, "{reason}");
        match outcome {
            FailOutcome::Stale => {}
            FailOutcome::Retry { .. } => tell_to_drop(ctx, r, "wall-time limit exceeded").await,
            FailOutcome::JobFailed {
                reason,
                mut revoked,
            } => {
                revoked.push(r);
                match ctx
                    .lifecycle()
                    .end_fenced(
                        r.lease.job,
                        Ending::Failed { reason },
                        revoked,
                        None,
                        fence.cloned(),
                    )
                    .await
                {
                    Ok(_) | Err(LifecycleError::AlreadyFinished(_)) => {}
                    Err(LifecycleError::Store(e @ StoreError::StaleLeader { .. })) => {
                        return Err(e)
                    }
                    Err(e) => tracing::warn!(error = %e, "overdue job failure not recorded"),
                }
            }
        }
    }
    Ok(())
}

/// Pushes a lease revocation to its node (best effort: its next heartbeat says it too).
async fn tell_to_drop(ctx: &Context, r: RevokedLease, reason: &str) {
    let push = ChunkMessage::Cancel {
        lease: to_wire(r.lease),
        reason: reason.into(),
    };
    if let Err(e) = ctx.funnel().publish(&channels::chunks(r.node), &push).await {
        tracing::warn!(node = %r.node, error = %e, "lease revocation not pushed");
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
    use std::sync::Arc;

    use crate::domain::{Clock, JobId, JobStatus, ManualClock, NodeId};
    use crate::jobs::{submit, Submission};
    use crate::publish::{Funnel, RecordingPublisher};
    use crate::store::{SqliteStore, Store};

    async fn ctx(coord: &Arc<MemoryCoordinator>, clock: &Arc<ManualClock>) -> Context {
        let store = Arc::new(SqliteStore::memory().await.unwrap());
        crate::context::testing::context(
            coord.clone(),
            store,
            Funnel::new(Arc::new(RecordingPublisher::default())),
            clock.clone(),
            crate::context::NodeApiConfig::default(),
            None,
        )
        .0
    }

    #[tokio::test]
    async fn a_lease_held_past_its_wall_time_limit_fails_even_while_heartbeating() {
        let coord = Arc::new(MemoryCoordinator::new());
        let clock = Arc::new(ManualClock::new(UnixMillis(1_000_000)));
        let store = Arc::new(SqliteStore::memory().await.unwrap());
        let published = Arc::new(RecordingPublisher::default());
        let (ctx, _log) = crate::context::testing::context(
            coord.clone(),
            store.clone(),
            Funnel::new(published.clone()),
            clock.clone(),
            crate::context::NodeApiConfig::default(),
            None,
        );
        let owner = store.create_user("o@x", "h", clock.now()).await.unwrap().id;
        let limit_ms = 90_000;
        let job = submit(
            &*store,
            &*coord,
            Submission {
                owner,
                config: "p".into(),
                config_hash: "h".into(),
                iterations: 10,
                seed: 1,
                chunk_size: 10,
                public: false,
                chunk_wall_limit_ms: limit_ms,
            },
            2,
            clock.now(),
        )
        .await
        .unwrap()
        .id;
        let ttl = Duration::from_secs(30);
        // Two stalling nodes in turn: each heartbeats its lease for ever and never finishes.
        for (round, stuck) in [NodeId::new(), NodeId::new()].into_iter().enumerate() {
            let held = coord.lease(stuck, 1, ttl, clock.now()).await.unwrap();
            assert_eq!(held.len(), 1, "round {round}");
            let refs = [held[0].lease_ref()];
            for _ in 0..8 {
                clock.advance_ms(10_000);
                coord
                    .heartbeat(stuck, &refs, 0, ttl, clock.now())
                    .await
                    .unwrap();
                fail_overdue(&ctx, clock.now(), None).await.unwrap();
                assert_eq!(
                    coord.job_progress(job).await.unwrap().failures,
                    round as u32
                );
            }
            // Past 90 s the heartbeats no longer save it.
            clock.advance_ms(11_000);
            coord
                .heartbeat(stuck, &refs, 0, ttl, clock.now())
                .await
                .unwrap();
            fail_overdue(&ctx, clock.now(), None).await.unwrap();
            let cancelled = published
                .sent()
                .iter()
                .any(|(c, _)| *c == channels::chunks(stuck));
            assert!(
                cancelled,
                "round {round}: the stuck node is told to drop it"
            );
        }
        // The second overrun reached the attempt limit: the job failed, visibly.
        let stored = store.job(job).await.unwrap().unwrap();
        assert_eq!(stored.status, JobStatus::Failed);
        let reason = stored.failure_reason.unwrap();
        assert!(reason.contains("wall-time limit of 90 s"), "{reason}");
        assert!(published
            .sent()
            .iter()
            .any(|(c, _)| *c == channels::job(job)));
    }

    #[tokio::test]
    async fn expired_leases_come_back_within_a_tick() {
        let coord = Arc::new(MemoryCoordinator::new());
        let clock = Arc::new(ManualClock::new(UnixMillis(1_000_000)));
        let ctx = ctx(&coord, &clock).await;
        tokio::time::pause();
        let job = JobId::new();
        coord.register_job(JobSpec::new(job, 2, "u")).await.unwrap();
        let ttl = Duration::from_secs(3);
        coord
            .lease(NodeId::new(), 2, ttl, clock.now())
            .await
            .unwrap();
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(run_reclaim(
            ctx,
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

    #[tokio::test]
    async fn a_silent_node_is_declared_dead_and_its_leases_return_before_they_expire() {
        let coord = Arc::new(MemoryCoordinator::new());
        let clock = Arc::new(ManualClock::new(UnixMillis(1_000_000)));
        let ctx = ctx(&coord, &clock).await;
        tokio::time::pause();
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
            ctx,
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
