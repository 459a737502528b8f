//! The behaviour every [`Coordinator`] must show, as one suite generic over a factory: the memory
//! implementation runs it in its unit tests, a Redis implementation runs the same calls against a
//! live server (`conformance` feature).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::Duration;

use super::{
    CompleteOutcome, Coordinator, CoordinatorError, FailOutcome, JobSpec, LeaseRef, RecheckOutcome,
};
use crate::domain::{ChunkIndex, Fence, JobId, NodeId, UnixMillis};

const T0: UnixMillis = UnixMillis(1_800_000_000_000);
const TTL: Duration = Duration::from_secs(10);

fn at(secs: u64) -> UnixMillis {
    T0.plus(Duration::from_secs(secs))
}

/// Runs every check, each against a fresh coordinator from `factory`.
pub async fn run_all<C, F, Fut>(factory: F)
where
    C: Coordinator,
    F: Fn() -> Fut,
    Fut: Future<Output = C>,
{
    register_and_progress(&factory().await).await;
    lease_is_fair_across_share_keys_and_jobs(&factory().await).await;
    lease_respects_free_slots(&factory().await).await;
    fences_grow_and_relet_chunks_get_larger_fences(&factory().await).await;
    complete_reports_job_done_exactly_once(&factory().await).await;
    late_complete_after_expiry_and_relet_is_stale(&factory().await).await;
    complete_checks_node_and_fence(&factory().await).await;
    heartbeat_extends_held_leases_and_cancels_others(&factory().await).await;
    dead_node_leases_return_to_pending_at_once(&factory().await).await;
    failed_chunk_avoids_the_failing_node_then_fails_the_job(&factory().await).await;
    failed_chunk_retries_on_the_same_node_when_it_is_alone(&factory().await).await;
    cancel_revokes_leases_and_stops_leasing(&factory().await).await;
    current_leases_resync(&factory().await).await;
    nonce_replay_is_refused_until_ttl(&factory().await).await;
    leader_lock_is_exclusive_and_taken_over_after_expiry(&factory().await).await;
    restore_job_leases_only_unfinished_chunks(&factory().await).await;
    a_sole_job_leases_long_runs_in_index_order(&factory().await).await;
    complete_many_answers_each_lease_like_complete(&factory().await).await;
    unfilled_lease_slots_become_credit_that_dispatch_spends(&factory().await).await;
    heartbeat_credit_excludes_leases_the_node_has_not_seen(&factory().await).await;
    a_departing_nodes_last_heartbeat_withdraws_its_credit(&factory().await).await;
    add_credit_refills_at_once_and_keeps_the_rest_capped(&factory().await).await;
    dispatch_shares_scarce_work_and_skips_dead_nodes(&factory().await).await;
    silent_nodes_are_reaped_once_and_revived_by_a_heartbeat(&factory().await).await;
    dispatch_is_fair_across_share_keys(&factory().await).await;
    leases_past_their_wall_time_limit_are_overdue_whatever_the_heartbeats(&factory().await).await;
    extend_job_adds_pending_chunks_after_the_scheduled_ones(&factory().await).await;
    recheck_requeues_a_chunk_for_other_nodes_only(&factory().await).await;
    recheck_answers_like_complete_off_the_lease(&factory().await).await;
    reopen_makes_a_done_chunk_pending_for_other_nodes(&factory().await).await;
    a_reopened_chunk_of_a_restored_job_keeps_its_bar(&factory().await).await;
    release_avoid_lets_any_node_take_the_chunk(&factory().await).await;
}

fn refs(leases: &[super::Lease]) -> Vec<LeaseRef> {
    leases.iter().map(|l| l.lease_ref()).collect()
}

/// Registration validates its input and progress counts add up.
pub async fn register_and_progress(c: &impl Coordinator) {
    let job = JobId::new();
    c.register_job(JobSpec::new(job, 5, "u1")).await.unwrap();
    let p = c.job_progress(job).await.unwrap();
    assert_eq!((p.chunk_count, p.pending, p.leased, p.done), (5, 5, 0, 0));
    assert_eq!(
        c.register_job(JobSpec::new(job, 5, "u1")).await,
        Err(CoordinatorError::JobExists(job))
    );
    assert!(matches!(
        c.register_job(JobSpec::new(JobId::new(), 0, "u1")).await,
        Err(CoordinatorError::Invalid(_))
    ));
    let mut zero_attempts = JobSpec::new(JobId::new(), 1, "u1");
    zero_attempts.max_attempts = 0;
    assert!(matches!(
        c.register_job(zero_attempts).await,
        Err(CoordinatorError::Invalid(_))
    ));
    let unknown = JobId::new();
    assert_eq!(
        c.job_progress(unknown).await,
        Err(CoordinatorError::UnknownJob(unknown))
    );
    let n = NodeId::new();
    let l = c.lease(n, 2, TTL, T0).await.unwrap();
    assert_eq!(l.len(), 2);
    let p = c.job_progress(job).await.unwrap();
    assert_eq!((p.pending, p.leased, p.done), (3, 2, 0));
    c.complete(n, l[0].lease_ref(), T0).await.unwrap();
    let p = c.job_progress(job).await.unwrap();
    assert_eq!((p.pending, p.leased, p.done), (3, 1, 1));
}

/// Leasing rotates over share keys, then over each key's jobs: no FIFO starvation.
pub async fn lease_is_fair_across_share_keys_and_jobs(c: &impl Coordinator) {
    // User 1 submits two big jobs first, user 2 one job afterwards.
    let a1 = JobId::new();
    let a2 = JobId::new();
    let b = JobId::new();
    c.register_job(JobSpec::new(a1, 1000, "u1")).await.unwrap();
    c.register_job(JobSpec::new(a2, 1000, "u1")).await.unwrap();
    c.register_job(JobSpec::new(b, 1000, "u2")).await.unwrap();
    let n = NodeId::new();
    let leases = c.lease(n, 40, TTL, T0).await.unwrap();
    assert_eq!(leases.len(), 40);
    let mut per_job: HashMap<JobId, u32> = HashMap::new();
    for l in &leases {
        *per_job.entry(l.job).or_default() += 1;
    }
    // Half to each user, the user-1 half split over its two jobs.
    assert_eq!(per_job[&b], 20, "{per_job:?}");
    assert_eq!(per_job[&a1], 10, "{per_job:?}");
    assert_eq!(per_job[&a2], 10, "{per_job:?}");
    // Interleaved, not batched: no two consecutive leases from user 2's job.
    for w in leases.windows(2) {
        assert!(
            !(w[0].job == b && w[1].job == b),
            "user 2 got consecutive chunks"
        );
    }
    // Within a job, chunks go out in index order.
    let b_chunks: Vec<u32> = leases
        .iter()
        .filter(|l| l.job == b)
        .map(|l| l.chunk.0)
        .collect();
    assert_eq!(b_chunks, (0..20).collect::<Vec<_>>());
    // A job that arrives late still gets its share on the next lease call.
    let late = JobId::new();
    c.register_job(JobSpec::new(late, 10, "u3")).await.unwrap();
    let next = c.lease(n, 3, TTL, T0).await.unwrap();
    assert!(next.iter().any(|l| l.job == late), "{next:?}");
}

/// A lease grants at most `free_slots`, each chunk once, and nothing when no work is pending.
pub async fn lease_respects_free_slots(c: &impl Coordinator) {
    let n = NodeId::new();
    assert!(c.lease(n, 4, TTL, T0).await.unwrap().is_empty());
    let job = JobId::new();
    c.register_job(JobSpec::new(job, 3, "u")).await.unwrap();
    assert!(c.lease(n, 0, TTL, T0).await.unwrap().is_empty());
    let l = c.lease(n, 10, TTL, T0).await.unwrap();
    let chunks: HashSet<ChunkIndex> = l.iter().map(|l| l.chunk).collect();
    assert_eq!(chunks.len(), 3);
    assert!(l.iter().all(|l| l.expires_at == T0.plus(TTL)));
    assert!(c
        .lease(NodeId::new(), 10, TTL, T0)
        .await
        .unwrap()
        .is_empty());
}

/// Fences grow with every lease, and a re-let chunk carries a larger fence than before.
pub async fn fences_grow_and_relet_chunks_get_larger_fences(c: &impl Coordinator) {
    let job = JobId::new();
    c.register_job(JobSpec::new(job, 4, "u")).await.unwrap();
    let n = NodeId::new();
    let first = c.lease(n, 4, TTL, T0).await.unwrap();
    for w in first.windows(2) {
        assert!(w[0].fence < w[1].fence);
    }
    c.reclaim_expired(at(11)).await.unwrap();
    let second = c.lease(n, 4, TTL, at(11)).await.unwrap();
    assert_eq!(second.len(), 4);
    let max_first = first.iter().map(|l| l.fence).max().unwrap();
    assert!(second.iter().all(|l| l.fence > max_first));
}

/// Exactly the completion of the last outstanding chunk reports `job_done`.
pub async fn complete_reports_job_done_exactly_once(c: &impl Coordinator) {
    let job = JobId::new();
    c.register_job(JobSpec::new(job, 3, "u")).await.unwrap();
    let n = NodeId::new();
    let l = c.lease(n, 3, TTL, T0).await.unwrap();
    let mut done_flags = Vec::new();
    for lease in &l {
        match c.complete(n, lease.lease_ref(), at(1)).await.unwrap() {
            CompleteOutcome::Completed { job_done } => done_flags.push(job_done),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(done_flags, [false, false, true]);
    assert_eq!(
        c.complete(n, l[0].lease_ref(), at(1)).await.unwrap(),
        CompleteOutcome::AlreadyDone
    );
    let p = c.job_progress(job).await.unwrap();
    assert_eq!((p.pending, p.leased, p.done), (0, 0, 3));
    c.remove_job(job).await.unwrap();
    assert_eq!(
        c.job_progress(job).await,
        Err(CoordinatorError::UnknownJob(job))
    );
    c.remove_job(job).await.unwrap();
}

/// A result on an expired lease is refused, and so is one whose chunk was re-let (409).
pub async fn late_complete_after_expiry_and_relet_is_stale(c: &impl Coordinator) {
    let job = JobId::new();
    c.register_job(JobSpec::new(job, 1, "u")).await.unwrap();
    let slow = NodeId::new();
    let fast = NodeId::new();
    let old = c.lease(slow, 1, TTL, T0).await.unwrap()[0];
    assert!(c
        .is_lease_current(slow, old.lease_ref(), at(9))
        .await
        .unwrap());
    assert!(!c
        .is_lease_current(fast, old.lease_ref(), at(9))
        .await
        .unwrap());
    assert!(!c
        .is_lease_current(slow, old.lease_ref(), at(10))
        .await
        .unwrap());
    // Expired but not yet reclaimed: already refused.
    assert_eq!(
        c.complete(slow, old.lease_ref(), at(10)).await.unwrap(),
        CompleteOutcome::Stale
    );
    let reclaimed = c.reclaim_expired(at(10)).await.unwrap();
    assert_eq!(reclaimed.len(), 1);
    assert_eq!(
        (reclaimed[0].node, reclaimed[0].chunk),
        (slow, ChunkIndex(0))
    );
    let new = c.lease(fast, 1, TTL, at(10)).await.unwrap()[0];
    assert_eq!(new.chunk, old.chunk);
    assert!(new.fence > old.fence);
    assert_eq!(
        c.complete(slow, old.lease_ref(), at(11)).await.unwrap(),
        CompleteOutcome::Stale
    );
    assert_eq!(
        c.complete(fast, new.lease_ref(), at(11)).await.unwrap(),
        CompleteOutcome::Completed { job_done: true }
    );
}

/// Completion needs the holder's node id and the exact fence; unknown jobs are stale.
pub async fn complete_checks_node_and_fence(c: &impl Coordinator) {
    let job = JobId::new();
    c.register_job(JobSpec::new(job, 2, "u")).await.unwrap();
    let n = NodeId::new();
    let l = c.lease(n, 1, TTL, T0).await.unwrap()[0];
    assert_eq!(
        c.complete(NodeId::new(), l.lease_ref(), T0).await.unwrap(),
        CompleteOutcome::Stale
    );
    let mut wrong_fence = l.lease_ref();
    wrong_fence.fence.0 += 1000;
    assert_eq!(
        c.complete(n, wrong_fence, T0).await.unwrap(),
        CompleteOutcome::Stale
    );
    let mut wrong_job = l.lease_ref();
    wrong_job.job = JobId::new();
    assert_eq!(
        c.complete(n, wrong_job, T0).await.unwrap(),
        CompleteOutcome::Stale
    );
    let mut out_of_range = l.lease_ref();
    out_of_range.chunk = ChunkIndex(99);
    assert!(matches!(
        c.complete(n, out_of_range, T0).await,
        Err(CoordinatorError::Invalid(_))
    ));
    assert_eq!(
        c.complete(n, l.lease_ref(), T0).await.unwrap(),
        CompleteOutcome::Completed { job_done: false }
    );
}

/// Heartbeats push the expiry out for leases still held and name the others for dropping.
pub async fn heartbeat_extends_held_leases_and_cancels_others(c: &impl Coordinator) {
    let job = JobId::new();
    c.register_job(JobSpec::new(job, 3, "u")).await.unwrap();
    let n = NodeId::new();
    let l = c.lease(n, 2, TTL, T0).await.unwrap();
    let bogus = LeaseRef {
        job,
        chunk: ChunkIndex(2),
        fence: crate::domain::Fence(1),
    };
    let mut reported = refs(&l);
    reported.push(bogus);
    let hb = c.heartbeat(n, &reported, 0, TTL, at(8)).await.unwrap();
    assert_eq!(hb.extended.len(), 2);
    assert!(hb.extended.iter().all(|e| e.expires_at == at(18)));
    assert_eq!(hb.cancelled, vec![bogus]);
    // Another node cannot extend them.
    let other = c
        .heartbeat(NodeId::new(), &refs(&l), 0, TTL, at(9))
        .await
        .unwrap();
    assert!(other.extended.is_empty());
    assert_eq!(other.cancelled.len(), 2);
    // Past the original expiry nothing is reclaimed and completion still works.
    assert!(c.reclaim_expired(at(12)).await.unwrap().is_empty());
    assert_eq!(
        c.complete(n, l[0].lease_ref(), at(15)).await.unwrap(),
        CompleteOutcome::Completed { job_done: false }
    );
    // After the extended expiry the other lease is reclaimed and a heartbeat cancels it.
    let back = c.reclaim_expired(at(18)).await.unwrap();
    assert_eq!(back.len(), 1);
    let hb = c
        .heartbeat(n, &refs(&l[1..]), 0, TTL, at(19))
        .await
        .unwrap();
    assert!(hb.extended.is_empty());
    assert_eq!(hb.cancelled, refs(&l[1..]));
}

/// `node_dead` returns every lease of that node to pending immediately, and only its leases.
pub async fn dead_node_leases_return_to_pending_at_once(c: &impl Coordinator) {
    let job = JobId::new();
    c.register_job(JobSpec::new(job, 5, "u")).await.unwrap();
    let dead = NodeId::new();
    let alive = NodeId::new();
    let dl = c.lease(dead, 3, TTL, T0).await.unwrap();
    let al = c.lease(alive, 2, TTL, T0).await.unwrap();
    assert_eq!((dl.len(), al.len()), (3, 2));
    let back = c.node_dead(dead).await.unwrap();
    assert_eq!(back.len(), 3);
    assert!(back.iter().all(|r| r.node == dead && r.job == job));
    let p = c.job_progress(job).await.unwrap();
    assert_eq!((p.pending, p.leased), (3, 2));
    assert!(c.current_leases(dead, T0).await.unwrap().is_empty());
    assert_eq!(c.current_leases(alive, T0).await.unwrap().len(), 2);
    let hb = c.heartbeat(dead, &refs(&dl), 0, TTL, at(1)).await.unwrap();
    assert_eq!(hb.cancelled.len(), 3);
    let again = c.lease(alive, 5, TTL, at(1)).await.unwrap();
    let mut got: Vec<ChunkIndex> = again.iter().map(|l| l.chunk).collect();
    got.sort();
    let mut want: Vec<ChunkIndex> = dl.iter().map(|l| l.chunk).collect();
    want.sort();
    assert_eq!(got, want);
    assert!(c.node_dead(NodeId::new()).await.unwrap().is_empty());
}

/// A failed chunk goes to another node while one is alive; at the attempt limit the job fails
/// with the reason and its other leases are revoked.
pub async fn failed_chunk_avoids_the_failing_node_then_fails_the_job(c: &impl Coordinator) {
    let job = JobId::new();
    c.register_job(JobSpec::new(job, 2, "u")).await.unwrap();
    let n1 = NodeId::new();
    let n2 = NodeId::new();
    let n3 = NodeId::new();
    let l0 = c.lease(n1, 1, TTL, T0).await.unwrap()[0];
    let l1 = c.lease(n3, 1, TTL, T0).await.unwrap()[0];
    assert_eq!((l0.chunk, l1.chunk), (ChunkIndex(0), ChunkIndex(1)));
    c.heartbeat(n2, &[], 0, TTL, T0).await.unwrap();
    assert_eq!(
        c.fail(n1, l0.lease_ref(), "boom 1", at(1)).await.unwrap(),
        FailOutcome::Retry { failures: 1 }
    );
    // n1 just failed it and n2 is alive: n1 gets nothing.
    assert!(c.lease(n1, 1, TTL, at(1)).await.unwrap().is_empty());
    let r2 = c.lease(n2, 1, TTL, at(1)).await.unwrap()[0];
    assert_eq!(r2.chunk, ChunkIndex(0));
    assert_eq!(
        c.fail(n2, r2.lease_ref(), "boom 2", at(2)).await.unwrap(),
        FailOutcome::Retry { failures: 2 }
    );
    // A stale failure report changes nothing.
    assert_eq!(
        c.fail(n2, r2.lease_ref(), "again", at(2)).await.unwrap(),
        FailOutcome::Stale
    );
    let r3 = c.lease(n1, 1, TTL, at(2)).await.unwrap()[0];
    assert_eq!(r3.chunk, ChunkIndex(0));
    match c
        .fail(n1, r3.lease_ref(), "division by zero", at(3))
        .await
        .unwrap()
    {
        FailOutcome::JobFailed { reason, revoked } => {
            assert!(reason.contains("division by zero"), "{reason}");
            assert!(reason.contains("chunk 0"), "{reason}");
            assert!(reason.contains('3'), "{reason}");
            assert_eq!(revoked.len(), 1);
            assert_eq!(revoked[0].node, n3);
            assert_eq!(revoked[0].lease, l1.lease_ref());
        }
        other => panic!("expected JobFailed, got {other:?}"),
    }
    assert_eq!(
        c.job_progress(job).await,
        Err(CoordinatorError::UnknownJob(job))
    );
    assert_eq!(
        c.complete(n3, l1.lease_ref(), at(3)).await.unwrap(),
        CompleteOutcome::Stale
    );
    assert!(c.lease(n2, 4, TTL, at(3)).await.unwrap().is_empty());
}

/// With no other live node the failing node retries the chunk itself.
pub async fn failed_chunk_retries_on_the_same_node_when_it_is_alone(c: &impl Coordinator) {
    let job = JobId::new();
    c.register_job(JobSpec::new(job, 1, "u")).await.unwrap();
    let n = NodeId::new();
    let gone = NodeId::new();
    c.heartbeat(gone, &[], 0, TTL, T0).await.unwrap();
    let l = c.lease(n, 1, TTL, at(30)).await.unwrap()[0];
    c.fail(n, l.lease_ref(), "oops", at(30)).await.unwrap();
    // `gone` was last seen 30 s ago (> TTL), so it does not count as available.
    let again = c.lease(n, 1, TTL, at(30)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert!(again[0].fence > l.fence);
    assert_eq!(c.job_progress(job).await.unwrap().failures, 1);
}

/// Cancelling removes the job, returns its leases for revocation and stops all leasing of it.
pub async fn cancel_revokes_leases_and_stops_leasing(c: &impl Coordinator) {
    let job = JobId::new();
    let other = JobId::new();
    c.register_job(JobSpec::new(job, 10, "u")).await.unwrap();
    let n = NodeId::new();
    let l = c.lease(n, 3, TTL, T0).await.unwrap();
    c.register_job(JobSpec::new(other, 2, "v")).await.unwrap();
    let revoked = c.cancel_job(job).await.unwrap();
    assert_eq!(revoked.len(), 3);
    assert!(revoked.iter().all(|r| r.node == n));
    let hb = c.heartbeat(n, &refs(&l), 0, TTL, at(1)).await.unwrap();
    assert_eq!(hb.cancelled.len(), 3);
    let next = c.lease(n, 10, TTL, at(1)).await.unwrap();
    assert_eq!(next.len(), 2);
    assert!(next.iter().all(|l| l.job == other));
    assert_eq!(
        c.complete(n, l[0].lease_ref(), at(1)).await.unwrap(),
        CompleteOutcome::Stale
    );
    assert_eq!(
        c.cancel_job(job).await,
        Err(CoordinatorError::UnknownJob(job))
    );
}

/// A reconnecting node learns exactly its unexpired leases.
pub async fn current_leases_resync(c: &impl Coordinator) {
    let job = JobId::new();
    c.register_job(JobSpec::new(job, 4, "u")).await.unwrap();
    let n = NodeId::new();
    let short = c.lease(n, 1, Duration::from_secs(2), T0).await.unwrap();
    let long = c.lease(n, 2, TTL, T0).await.unwrap();
    c.lease(NodeId::new(), 1, TTL, T0).await.unwrap();
    let all = c.current_leases(n, at(1)).await.unwrap();
    assert_eq!(all.len(), 3);
    let later = c.current_leases(n, at(3)).await.unwrap();
    assert_eq!(later, long);
    assert!(!later.contains(&short[0]));
}

/// `remember_nonce` is SET NX EX: a replay inside the TTL is refused.
pub async fn nonce_replay_is_refused_until_ttl(c: &impl Coordinator) {
    let ttl = Duration::from_secs(120);
    assert!(c.remember_nonce("k1:n1", ttl, T0).await.unwrap());
    assert!(!c.remember_nonce("k1:n1", ttl, at(60)).await.unwrap());
    assert!(!c.remember_nonce("k1:n1", ttl, at(119)).await.unwrap());
    assert!(c.remember_nonce("k1:n2", ttl, at(60)).await.unwrap());
    assert!(c.remember_nonce("k2:n1", ttl, at(60)).await.unwrap());
    assert!(c.remember_nonce("k1:n1", ttl, at(120)).await.unwrap());
    assert!(!c.remember_nonce("k1:n1", ttl, at(121)).await.unwrap());
}

/// One holder at a time; takeover only after expiry, with a larger fence token.
pub async fn leader_lock_is_exclusive_and_taken_over_after_expiry(c: &impl Coordinator) {
    let ttl = Duration::from_secs(30);
    let t1 = c
        .try_acquire_leader("projector", "a", ttl, T0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        c.try_acquire_leader("projector", "b", ttl, at(1))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        c.try_acquire_leader("projector", "a", ttl, at(2))
            .await
            .unwrap(),
        Some(t1)
    );
    // Other lock names are independent.
    assert!(c
        .try_acquire_leader("reclaim", "b", ttl, at(2))
        .await
        .unwrap()
        .is_some());
    assert!(c
        .renew_leader("projector", "a", t1, ttl, at(20))
        .await
        .unwrap());
    assert!(!c
        .renew_leader("projector", "b", t1, ttl, at(20))
        .await
        .unwrap());
    // Renewed at 20 s: still held at 49 s, free at 50 s.
    assert_eq!(
        c.try_acquire_leader("projector", "b", ttl, at(49))
            .await
            .unwrap(),
        None
    );
    let t2 = c
        .try_acquire_leader("projector", "b", ttl, at(50))
        .await
        .unwrap()
        .unwrap();
    assert!(t2 > t1);
    assert!(!c
        .renew_leader("projector", "a", t1, ttl, at(51))
        .await
        .unwrap());
    assert!(!c.release_leader("projector", "a", t1).await.unwrap());
    assert!(c.release_leader("projector", "b", t2).await.unwrap());
    let t3 = c
        .try_acquire_leader("projector", "a", ttl, at(52))
        .await
        .unwrap()
        .unwrap();
    assert!(t3 > t2);
}

/// A job restored from the store leases only the chunks not yet done.
pub async fn restore_job_leases_only_unfinished_chunks(c: &impl Coordinator) {
    let job = JobId::new();
    let done = [ChunkIndex(0), ChunkIndex(2), ChunkIndex(3)];
    assert!(c
        .restore_job(JobSpec::new(job, 5, "u"), &done)
        .await
        .unwrap());
    let p = c.job_progress(job).await.unwrap();
    assert_eq!((p.pending, p.leased, p.done), (2, 0, 3));
    assert!(!c.restore_job(JobSpec::new(job, 5, "u"), &[]).await.unwrap());
    assert!(matches!(
        c.restore_job(JobSpec::new(JobId::new(), 2, "u"), &[ChunkIndex(2)])
            .await,
        Err(CoordinatorError::Invalid(_))
    ));
    let n = NodeId::new();
    let l = c.lease(n, 10, TTL, T0).await.unwrap();
    let chunks: Vec<ChunkIndex> = l.iter().map(|l| l.chunk).collect();
    assert_eq!(chunks, [ChunkIndex(1), ChunkIndex(4)]);
    assert_eq!(
        c.complete(n, l[0].lease_ref(), T0).await.unwrap(),
        CompleteOutcome::Completed { job_done: false }
    );
    assert_eq!(
        c.complete(n, l[1].lease_ref(), T0).await.unwrap(),
        CompleteOutcome::Completed { job_done: true }
    );
    // A restored job whose chunks are all done has nothing to lease.
    let finished = JobId::new();
    c.restore_job(JobSpec::new(finished, 1, "u"), &[ChunkIndex(0)])
        .await
        .unwrap();
    assert!(c.lease(n, 1, TTL, T0).await.unwrap().is_empty());
}

/// A lease for more slots than one pass takes (the Redis coordinator leases a sole job's fresh
/// chunks in runs of up to 256) gets every unfinished chunk in index order, fences growing,
/// the same as chunk by chunk; a returned chunk goes out first.
pub async fn a_sole_job_leases_long_runs_in_index_order(c: &impl Coordinator) {
    let job = JobId::new();
    let done = [ChunkIndex(1), ChunkIndex(5), ChunkIndex(299)];
    c.restore_job(JobSpec::new(job, 700, "u"), &done)
        .await
        .unwrap();
    let n = NodeId::new();
    let first = c.lease(n, 300, TTL, T0).await.unwrap();
    let want: Vec<u32> = (0..303).filter(|i| ![1, 5, 299].contains(i)).collect();
    let got: Vec<u32> = first.iter().map(|l| l.chunk.0).collect();
    assert_eq!(got, want);
    assert!(first.windows(2).all(|w| w[0].fence < w[1].fence));
    assert!(first.iter().all(|l| l.expires_at == T0.plus(TTL)));
    assert_eq!(c.current_leases(n, T0).await.unwrap().len(), 300);
    // A chunk returned by a dead node goes out before the next fresh ones.
    let m = NodeId::new();
    let other = c.lease(m, 1, TTL, T0).await.unwrap();
    assert_eq!(other[0].chunk, ChunkIndex(303));
    c.node_dead(m).await.unwrap();
    let rest = c.lease(n, 1000, TTL, at(1)).await.unwrap();
    let got: Vec<u32> = rest.iter().map(|l| l.chunk.0).collect();
    assert_eq!(got, (303..700).collect::<Vec<_>>());
    let last_first = first.iter().map(|l| l.fence).max().unwrap();
    assert!(rest.iter().all(|l| l.fence > last_first));
    let p = c.job_progress(job).await.unwrap();
    assert_eq!((p.pending, p.leased, p.done), (0, 697, 3));
    for l in first.iter().chain(&rest) {
        assert!(c.is_lease_current(n, l.lease_ref(), at(1)).await.unwrap());
    }
}

/// `complete_many` answers each lease in order as `complete` would, the job done exactly once.
pub async fn complete_many_answers_each_lease_like_complete(c: &impl Coordinator) {
    let job = JobId::new();
    c.register_job(JobSpec::new(job, 3, "u")).await.unwrap();
    let n = NodeId::new();
    assert!(c.complete_many(n, &[], T0).await.unwrap().is_empty());
    let l = refs(&c.lease(n, 3, TTL, T0).await.unwrap());
    c.complete(n, l[0], T0).await.unwrap();
    let forged = LeaseRef {
        fence: Fence(l[2].fence.0 + 1000),
        ..l[2]
    };
    let out = c
        .complete_many(n, &[l[0], l[1], forged, l[2], l[2]], at(1))
        .await
        .unwrap();
    assert_eq!(
        out,
        [
            CompleteOutcome::AlreadyDone,
            CompleteOutcome::Completed { job_done: false },
            CompleteOutcome::Stale,
            CompleteOutcome::Completed { job_done: true },
            CompleteOutcome::AlreadyDone,
        ]
    );
    // Another node's lease, and one past its expiry, are stale.
    let job2 = JobId::new();
    c.register_job(JobSpec::new(job2, 2, "u")).await.unwrap();
    let l2 = refs(&c.lease(n, 2, TTL, at(2)).await.unwrap());
    let out = c
        .complete_many(NodeId::new(), &[l2[0]], at(3))
        .await
        .unwrap();
    assert_eq!(out, [CompleteOutcome::Stale]);
    let out = c.complete_many(n, &[l2[0], l2[1]], at(20)).await.unwrap();
    assert_eq!(out, [CompleteOutcome::Stale, CompleteOutcome::Stale]);
    // A chunk out of range refuses the call, and the leases beside it are still answered.
    let job3 = JobId::new();
    c.register_job(JobSpec::new(job3, 2, "u")).await.unwrap();
    let l3 = refs(&c.lease(n, 2, TTL, at(21)).await.unwrap());
    let outside = LeaseRef {
        chunk: ChunkIndex(7),
        ..l3[0]
    };
    assert!(matches!(
        c.complete_many(n, &[l3[0], outside, l3[1]], at(21)).await,
        Err(CoordinatorError::Invalid(_))
    ));
    assert_eq!(c.job_progress(job3).await.unwrap().done, 2);
}

/// A lease request's unfilled slots stay as credit; `dispatch` spends it on work registered
/// later, one lease per credit, and a new report replaces the credit.
pub async fn unfilled_lease_slots_become_credit_that_dispatch_spends(c: &impl Coordinator) {
    let n = NodeId::new();
    assert!(c.lease(n, 3, TTL, T0).await.unwrap().is_empty());
    assert_eq!(c.credited_nodes().await.unwrap(), vec![n]);
    let job = JobId::new();
    c.register_job(JobSpec::new(job, 5, "u")).await.unwrap();
    let pushed = c.dispatch(TTL, at(1)).await.unwrap();
    assert_eq!(pushed.len(), 3);
    assert!(pushed.iter().all(|(node, l)| *node == n && l.job == job));
    // Pushed leases are real leases: held, current, resynced.
    assert_eq!(c.current_leases(n, at(1)).await.unwrap().len(), 3);
    assert!(c
        .is_lease_current(n, pushed[0].1.lease_ref(), at(1))
        .await
        .unwrap());
    let p = c.job_progress(job).await.unwrap();
    assert_eq!((p.pending, p.leased), (2, 3));
    // Credit spent: nothing more goes out, and nobody holds credit.
    assert!(c.dispatch(TTL, at(1)).await.unwrap().is_empty());
    assert!(c.credited_nodes().await.unwrap().is_empty());
    // A lease request fills what it can (2) and keeps the rest (1) as credit.
    assert_eq!(c.lease(n, 3, TTL, at(2)).await.unwrap().len(), 2);
    assert_eq!(c.credited_nodes().await.unwrap(), vec![n]);
    // A report of zero free slots replaces the credit.
    assert!(c.lease(n, 0, TTL, at(2)).await.unwrap().is_empty());
    assert!(c.credited_nodes().await.unwrap().is_empty());
    // drop_credit forgets it too.
    c.lease(n, 2, TTL, at(2)).await.unwrap();
    c.drop_credit(n).await.unwrap();
    assert!(c.credited_nodes().await.unwrap().is_empty());
}

/// A drained node's last heartbeat (no free slot, nothing held) withdraws its credit at once:
/// the next job goes to the live node only, not to a process that is gone (until it would be
/// reaped as silent, its credit would strand chunks).
pub async fn a_departing_nodes_last_heartbeat_withdraws_its_credit(c: &impl Coordinator) {
    let (leaving, staying) = (NodeId::new(), NodeId::new());
    for n in [leaving, staying] {
        assert!(c.lease(n, 4, TTL, T0).await.unwrap().is_empty());
    }
    let out = c.heartbeat(leaving, &[], 0, TTL, at(1)).await.unwrap();
    assert_eq!(out.credit, 0);
    assert_eq!(c.credited_nodes().await.unwrap(), vec![staying]);
    let job = JobId::new();
    c.register_job(JobSpec::new(job, 6, "u")).await.unwrap();
    let pushed = c.dispatch(TTL, at(2)).await.unwrap();
    assert_eq!(pushed.len(), 4);
    assert!(pushed.iter().all(|(n, _)| *n == staying));
}

/// A heartbeat's free slots become credit, minus the unexpired leases the node holds but did
/// not report (granted after its snapshot), so a slot in flight is not credited twice.
pub async fn heartbeat_credit_excludes_leases_the_node_has_not_seen(c: &impl Coordinator) {
    let job = JobId::new();
    c.register_job(JobSpec::new(job, 10, "u")).await.unwrap();
    let n = NodeId::new();
    let l = c.lease(n, 2, TTL, T0).await.unwrap();
    // The node saw only the first lease and reports 3 free slots: credit 3 - 1.
    let hb = c.heartbeat(n, &refs(&l[..1]), 3, TTL, at(1)).await.unwrap();
    assert_eq!(hb.credit, 2);
    assert_eq!(c.dispatch(TTL, at(1)).await.unwrap().len(), 2);
    // Reporting every lease it holds: the credit is the free slots.
    let held: Vec<LeaseRef> = c
        .current_leases(n, at(1))
        .await
        .unwrap()
        .iter()
        .map(|l| l.lease_ref())
        .collect();
    let hb = c.heartbeat(n, &held, 1, TTL, at(2)).await.unwrap();
    assert_eq!(hb.credit, 1);
    // More unseen leases than free slots: no credit, never negative.
    let hb = c.heartbeat(n, &[], 2, TTL, at(3)).await.unwrap();
    assert_eq!(hb.credit, 0);
    assert!(c.credited_nodes().await.unwrap().is_empty());
}

/// `add_credit` (a completion freeing slots) leases at once what it can; the remainder stays
/// as credit up to the cap.
pub async fn add_credit_refills_at_once_and_keeps_the_rest_capped(c: &impl Coordinator) {
    let job = JobId::new();
    c.register_job(JobSpec::new(job, 3, "u")).await.unwrap();
    let n = NodeId::new();
    let l = c.lease(n, 1, TTL, T0).await.unwrap();
    assert_eq!(
        c.complete(n, l[0].lease_ref(), at(1)).await.unwrap(),
        CompleteOutcome::Completed { job_done: false }
    );
    let refill = c.add_credit(n, 1, 4, TTL, at(1)).await.unwrap();
    assert_eq!(refill.len(), 1);
    assert_eq!(refill[0].expires_at, at(1).plus(TTL));
    assert!(c.credited_nodes().await.unwrap().is_empty());
    // Two freed slots, one chunk left: one lease, one credit.
    assert_eq!(c.add_credit(n, 2, 4, TTL, at(2)).await.unwrap().len(), 1);
    assert_eq!(c.credited_nodes().await.unwrap(), vec![n]);
    // Credit never exceeds the cap: 1 + 10 capped at 4, spent by 4 new chunks.
    assert!(c.add_credit(n, 10, 4, TTL, at(3)).await.unwrap().is_empty());
    let job2 = JobId::new();
    c.register_job(JobSpec::new(job2, 10, "u")).await.unwrap();
    assert_eq!(c.dispatch(TTL, at(4)).await.unwrap().len(), 4);
    assert_eq!(c.job_progress(job2).await.unwrap().leased, 4);
}

/// Scarce work is dealt one chunk per credited node per round; dead nodes and nodes not seen
/// within the TTL get nothing, and a dead node's credit is gone.
pub async fn dispatch_shares_scarce_work_and_skips_dead_nodes(c: &impl Coordinator) {
    let (a, b, dead, quiet) = (NodeId::new(), NodeId::new(), NodeId::new(), NodeId::new());
    c.lease(quiet, 4, TTL, T0).await.unwrap();
    for n in [a, b, dead] {
        c.lease(n, 4, TTL, at(20)).await.unwrap();
    }
    c.node_dead(dead).await.unwrap();
    let mut credited = c.credited_nodes().await.unwrap();
    credited.sort();
    let mut want = vec![a, b, quiet];
    want.sort();
    assert_eq!(credited, want);
    let job = JobId::new();
    c.register_job(JobSpec::new(job, 4, "u")).await.unwrap();
    // `quiet` was last seen 21 s ago with a 10 s TTL: skipped.
    let pushed = c.dispatch(TTL, at(21)).await.unwrap();
    let count = |n: NodeId| pushed.iter().filter(|(x, _)| *x == n).count();
    assert_eq!(
        (count(a), count(b), count(dead), count(quiet)),
        (2, 2, 0, 0)
    );
    let mut chunks: Vec<ChunkIndex> = pushed.iter().map(|(_, l)| l.chunk).collect();
    chunks.sort();
    chunks.dedup();
    assert_eq!(chunks.len(), 4);
    // The dead node is alive again once it calls, with the credit it reports.
    c.lease(dead, 1, TTL, at(22)).await.unwrap();
    assert!(c.credited_nodes().await.unwrap().contains(&dead));
}

/// Nodes silent for longer than the limit are marked dead once, with all their leases back to
/// pending and their credit gone; a heartbeat brings such a node back, its old leases stale.
pub async fn silent_nodes_are_reaped_once_and_revived_by_a_heartbeat(c: &impl Coordinator) {
    let job = JobId::new();
    c.register_job(JobSpec::new(job, 6, "u")).await.unwrap();
    let (gone, alive) = (NodeId::new(), NodeId::new());
    let gl = c.lease(gone, 2, TTL, T0).await.unwrap();
    c.lease(alive, 6, TTL, T0).await.unwrap();
    let silence = Duration::from_secs(2);
    assert!(c
        .reap_silent_nodes(at(2), silence)
        .await
        .unwrap()
        .is_empty());
    c.heartbeat(alive, &[], 0, TTL, at(2)).await.unwrap();
    let dead = c.reap_silent_nodes(at(3), silence).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].node, gone);
    assert_eq!(dead[0].reclaimed.len(), 2);
    // At once, long before the 10 s lease TTL.
    assert_eq!(c.job_progress(job).await.unwrap().pending, 2);
    assert!(c
        .reap_silent_nodes(at(4), silence)
        .await
        .unwrap()
        .is_empty());
    assert!(!c.credited_nodes().await.unwrap().contains(&gone));
    // Back again: its old results are stale, it can take work.
    let hb = c.heartbeat(gone, &refs(&gl), 1, TTL, at(5)).await.unwrap();
    assert_eq!(hb.cancelled.len(), 2);
    assert_eq!(
        c.complete(gone, gl[0].lease_ref(), at(5)).await.unwrap(),
        CompleteOutcome::Stale
    );
    assert_eq!(c.dispatch(TTL, at(5)).await.unwrap().len(), 1);
}

/// Dispatch rotates over share keys like `lease`: one user's big job does not starve another.
pub async fn dispatch_is_fair_across_share_keys(c: &impl Coordinator) {
    let n = NodeId::new();
    c.lease(n, 4, TTL, T0).await.unwrap();
    let big = JobId::new();
    let small = JobId::new();
    c.register_job(JobSpec::new(big, 100, "heavy"))
        .await
        .unwrap();
    c.register_job(JobSpec::new(small, 2, "light"))
        .await
        .unwrap();
    let pushed = c.dispatch(TTL, T0).await.unwrap();
    let small_count = pushed.iter().filter(|(_, l)| l.job == small).count();
    assert_eq!((pushed.len(), small_count), (4, 2));
}

/// A lease granted longer ago than its job's chunk wall-time limit is overdue even while its
/// node heartbeats; failing it counts against the chunk; other leases are not overdue.
pub async fn leases_past_their_wall_time_limit_are_overdue_whatever_the_heartbeats(
    c: &impl Coordinator,
) {
    let (slow, quick) = (JobId::new(), JobId::new());
    c.register_job(JobSpec {
        chunk_wall_limit_ms: 120_000,
        ..JobSpec::new(slow, 1, "u1")
    })
    .await
    .unwrap();
    // Below the minimum: raised to 60 s.
    c.register_job(JobSpec {
        chunk_wall_limit_ms: 1,
        ..JobSpec::new(quick, 1, "u2")
    })
    .await
    .unwrap();
    let node = NodeId::new();
    let held = c.lease(node, 2, TTL, at(0)).await.unwrap();
    assert_eq!(held.len(), 2);
    let held = refs(&held);
    let mut t = 0;
    while t < 59 {
        t += 5;
        let hb = c.heartbeat(node, &held, 0, TTL, at(t)).await.unwrap();
        assert_eq!(hb.extended.len(), 2);
    }
    assert!(c.overdue_leases(at(59)).await.unwrap().is_empty());
    let overdue = c.overdue_leases(at(60)).await.unwrap();
    assert_eq!(overdue.len(), 1);
    assert_eq!((overdue[0].node, overdue[0].lease.job), (node, quick));
    let all = c.overdue_leases(at(121)).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].lease.job, quick, "oldest deadline first");
    match c
        .fail(node, overdue[0].lease, "too slow", at(60))
        .await
        .unwrap()
    {
        FailOutcome::Retry { failures } => assert_eq!(failures, 1),
        other => panic!("expected a retry, got {other:?}"),
    }
    // Failed leases are no longer overdue.
    let left = c.overdue_leases(at(121)).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].lease.job, slow);
}

/// Extending a job (the next wave of a target-error job) makes the new chunks pending after
/// the old ones, moves `job_done` to the last chunk of the new count, is idempotent, and is
/// refused for a job that is not scheduled.
pub async fn extend_job_adds_pending_chunks_after_the_scheduled_ones(c: &impl Coordinator) {
    let job = JobId::new();
    c.register_job(JobSpec::new(job, 2, "u")).await.unwrap();
    let n = NodeId::new();
    let first = c.lease(n, 4, TTL, T0).await.unwrap();
    let chunks = |ls: &[super::Lease]| ls.iter().map(|l| l.chunk.0).collect::<Vec<_>>();
    assert_eq!(chunks(&first), [0, 1]);
    // Extended while a chunk of the old wave is still out.
    c.complete(n, first[0].lease_ref(), at(1)).await.unwrap();
    assert!(c.extend_job(job, 5).await.unwrap());
    assert!(
        !c.extend_job(job, 5).await.unwrap(),
        "a retry changes nothing"
    );
    assert!(!c.extend_job(job, 3).await.unwrap(), "never shrinks");
    let p = c.job_progress(job).await.unwrap();
    assert_eq!((p.chunk_count, p.pending, p.leased, p.done), (5, 3, 1, 1));
    let next = c.lease(n, 4, TTL, at(1)).await.unwrap();
    assert_eq!(chunks(&next), [2, 3, 4]);
    let mut flags = Vec::new();
    for l in next.iter().chain(&first[1..]) {
        match c.complete(n, l.lease_ref(), at(2)).await.unwrap() {
            CompleteOutcome::Completed { job_done } => flags.push(job_done),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(flags, [false, false, false, true]);
    let unknown = JobId::new();
    assert_eq!(
        c.extend_job(unknown, 3).await,
        Err(CoordinatorError::UnknownJob(unknown))
    );
    c.cancel_job(job).await.unwrap();
    assert_eq!(
        c.extend_job(job, 9).await,
        Err(CoordinatorError::UnknownJob(job))
    );
}

/// A rechecked chunk is pending again, goes to no avoided node however long it waits (not even
/// a lone one), keeps its job from finishing, and is done once another node completes it.
pub async fn recheck_requeues_a_chunk_for_other_nodes_only(c: &impl Coordinator) {
    let job = JobId::new();
    c.register_job(JobSpec::new(job, 2, "u")).await.unwrap();
    let (a, a2, b) = (NodeId::new(), NodeId::new(), NodeId::new());
    let l = c.lease(a, 2, TTL, T0).await.unwrap();
    assert_eq!(l.len(), 2);
    assert_eq!(
        c.complete(a, l[1].lease_ref(), at(1)).await.unwrap(),
        CompleteOutcome::Completed { job_done: false }
    );
    assert_eq!(
        c.recheck(a, l[0].lease_ref(), &[a, a2], at(1))
            .await
            .unwrap(),
        RecheckOutcome::Requeued
    );
    let p = c.job_progress(job).await.unwrap();
    assert_eq!((p.pending, p.leased, p.done, p.failures), (1, 0, 1, 0));
    // The old lease is over: completing it now is stale.
    assert_eq!(
        c.complete(a, l[0].lease_ref(), at(1)).await.unwrap(),
        CompleteOutcome::Stale
    );
    // Neither avoided node gets it, even with no other node alive, nor through credit.
    assert!(c.lease(a, 4, TTL, at(2)).await.unwrap().is_empty());
    assert!(c.lease(a2, 4, TTL, at(2)).await.unwrap().is_empty());
    assert!(c.dispatch(TTL, at(2)).await.unwrap().is_empty());
    // Another node does: the chunk's lease looks like any other.
    c.heartbeat(b, &[], 1, TTL, at(3)).await.unwrap();
    let granted = c.dispatch(TTL, at(3)).await.unwrap();
    assert_eq!(granted.len(), 1);
    let (node, second) = granted[0];
    assert_eq!((node, second.job, second.chunk), (b, job, ChunkIndex(0)));
    assert!(second.fence > l[1].fence);
    assert_eq!(
        c.complete(b, second.lease_ref(), at(4)).await.unwrap(),
        CompleteOutcome::Completed { job_done: true }
    );
    // A later recheck of a done chunk changes nothing.
    assert_eq!(
        c.recheck(b, second.lease_ref(), &[b], at(4)).await.unwrap(),
        RecheckOutcome::AlreadyDone
    );
}

/// Off a current lease recheck changes nothing; a new avoid list replaces the old one, and a
/// cancelled job forgets it.
pub async fn recheck_answers_like_complete_off_the_lease(c: &impl Coordinator) {
    let job = JobId::new();
    c.register_job(JobSpec::new(job, 1, "u")).await.unwrap();
    let (a, b, d) = (NodeId::new(), NodeId::new(), NodeId::new());
    let l = c.lease(a, 1, TTL, T0).await.unwrap()[0];
    // Wrong node, wrong fence, expired: stale.
    assert_eq!(
        c.recheck(b, l.lease_ref(), &[b], at(1)).await.unwrap(),
        RecheckOutcome::Stale
    );
    let mut wrong = l.lease_ref();
    wrong.fence = crate::domain::Fence(l.fence.0 + 1000);
    assert_eq!(
        c.recheck(a, wrong, &[a], at(1)).await.unwrap(),
        RecheckOutcome::Stale
    );
    let mut out_of_range = l.lease_ref();
    out_of_range.chunk = ChunkIndex(9);
    assert!(matches!(
        c.recheck(a, out_of_range, &[a], at(1)).await,
        Err(CoordinatorError::Invalid(_))
    ));
    assert_eq!(
        c.recheck(a, l.lease_ref(), &[a], at(60)).await.unwrap(),
        RecheckOutcome::Stale
    );
    assert_eq!(c.reclaim_expired(at(60)).await.unwrap().len(), 1);
    // Held: requeued away from `a`; `b` takes it and disagrees, so `a` and `b` are avoided.
    let l = c.lease(a, 1, TTL, at(60)).await.unwrap()[0];
    assert_eq!(
        c.recheck(a, l.lease_ref(), &[a], at(61)).await.unwrap(),
        RecheckOutcome::Requeued
    );
    let second = c.lease(b, 1, TTL, at(61)).await.unwrap()[0];
    assert_eq!(
        c.recheck(b, second.lease_ref(), &[a, b], at(62))
            .await
            .unwrap(),
        RecheckOutcome::Requeued
    );
    assert!(c.lease(a, 1, TTL, at(62)).await.unwrap().is_empty());
    assert!(c.lease(b, 1, TTL, at(62)).await.unwrap().is_empty());
    let third = c.lease(d, 1, TTL, at(62)).await.unwrap();
    assert_eq!(third.len(), 1);
    c.cancel_job(job).await.unwrap();
    assert_eq!(
        c.recheck(d, third[0].lease_ref(), &[d], at(63))
            .await
            .unwrap(),
        RecheckOutcome::Stale
    );
}

/// A done chunk reopened is pending again (the job is not done any more), barred from the
/// avoided nodes; reopening a chunk that is not done changes nothing.
pub async fn reopen_makes_a_done_chunk_pending_for_other_nodes(c: &impl Coordinator) {
    let job = JobId::new();
    c.register_job(JobSpec::new(job, 2, "u")).await.unwrap();
    let (bad, good) = (NodeId::new(), NodeId::new());
    let l = c.lease(bad, 1, TTL, T0).await.unwrap()[0];
    assert!(
        !c.reopen(job, l.chunk, &[bad]).await.unwrap(),
        "leased, not done"
    );
    c.complete(bad, l.lease_ref(), at(1)).await.unwrap();
    let other = c.lease(good, 1, TTL, at(1)).await.unwrap()[0];
    assert_eq!(
        c.complete(good, other.lease_ref(), at(2)).await.unwrap(),
        CompleteOutcome::Completed { job_done: true }
    );
    assert!(c.reopen(job, l.chunk, &[bad]).await.unwrap());
    assert!(
        !c.reopen(job, l.chunk, &[bad]).await.unwrap(),
        "already pending"
    );
    let p = c.job_progress(job).await.unwrap();
    assert_eq!((p.pending, p.leased, p.done), (1, 0, 1));
    assert!(c.lease(bad, 2, TTL, at(3)).await.unwrap().is_empty());
    let again = c.lease(good, 2, TTL, at(3)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].chunk, l.chunk);
    assert_eq!(
        c.complete(good, again[0].lease_ref(), at(4)).await.unwrap(),
        CompleteOutcome::Completed { job_done: true }
    );
    let mut out = ChunkIndex(2);
    assert!(matches!(
        c.reopen(job, out, &[]).await,
        Err(CoordinatorError::Invalid(_))
    ));
    out = ChunkIndex(0);
    let unknown = JobId::new();
    assert_eq!(
        c.reopen(unknown, out, &[]).await,
        Err(CoordinatorError::UnknownJob(unknown))
    );
}

/// A job restored with every chunk done (a completed job under review), then reopened: the
/// reopened chunk is leased once, and never to an avoided node, although the restored job's
/// fresh scan starts at chunk 0.
pub async fn a_reopened_chunk_of_a_restored_job_keeps_its_bar(c: &impl Coordinator) {
    let job = JobId::new();
    let all: Vec<ChunkIndex> = (0..3).map(ChunkIndex).collect();
    assert!(c
        .restore_job(JobSpec::new(job, 3, "u"), &all)
        .await
        .unwrap());
    let (bad, good) = (NodeId::new(), NodeId::new());
    assert!(c.reopen(job, ChunkIndex(1), &[bad]).await.unwrap());
    assert!(c.lease(bad, 3, TTL, T0).await.unwrap().is_empty());
    let l = c.lease(good, 3, TTL, T0).await.unwrap();
    assert_eq!(l.len(), 1, "{l:?}");
    assert_eq!(l[0].chunk, ChunkIndex(1));
    // Its bar lifted, a released chunk is still leased only once.
    let job2 = JobId::new();
    assert!(c
        .restore_job(JobSpec::new(job2, 3, "u"), &all)
        .await
        .unwrap());
    assert!(c.reopen(job2, ChunkIndex(2), &[bad]).await.unwrap());
    assert!(c.release_avoid(job2, ChunkIndex(2)).await.unwrap());
    let l = c.lease(bad, 3, TTL, at(1)).await.unwrap();
    assert_eq!(l.len(), 1, "{l:?}");
    assert_eq!((l[0].job, l[0].chunk), (job2, ChunkIndex(2)));
    assert!(c.lease(good, 3, TTL, at(1)).await.unwrap().is_empty());
}

/// A rechecked chunk's bar, once released, no longer keeps the avoided node (nor credit
/// dispatch) from it; releasing twice changes nothing; an unknown job is refused.
pub async fn release_avoid_lets_any_node_take_the_chunk(c: &impl Coordinator) {
    let job = JobId::new();
    c.register_job(JobSpec::new(job, 1, "u")).await.unwrap();
    let a = NodeId::new();
    let l = c.lease(a, 1, TTL, T0).await.unwrap()[0];
    assert!(!c.release_avoid(job, l.chunk).await.unwrap(), "no bar yet");
    assert_eq!(
        c.recheck(a, l.lease_ref(), &[a], at(1)).await.unwrap(),
        RecheckOutcome::Requeued
    );
    assert!(c.lease(a, 1, TTL, at(2)).await.unwrap().is_empty());
    c.heartbeat(a, &[], 1, TTL, at(2)).await.unwrap();
    assert!(c.dispatch(TTL, at(2)).await.unwrap().is_empty());
    assert!(c.release_avoid(job, l.chunk).await.unwrap());
    assert!(!c.release_avoid(job, l.chunk).await.unwrap());
    let granted = c.dispatch(TTL, at(3)).await.unwrap();
    assert_eq!(granted.len(), 1);
    let (node, again) = granted[0];
    assert_eq!((node, again.job, again.chunk), (a, job, l.chunk));
    assert_eq!(
        c.complete(a, again.lease_ref(), at(4)).await.unwrap(),
        CompleteOutcome::Completed { job_done: true }
    );
    let unknown = JobId::new();
    assert_eq!(
        c.release_avoid(unknown, ChunkIndex(0)).await,
        Err(CoordinatorError::UnknownJob(unknown))
    );
}
