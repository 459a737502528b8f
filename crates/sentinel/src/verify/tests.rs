//! The verifier against the memory coordinator and an in-memory SQLite store, with real
//! simulator results. Both "nodes" of a test run in this process, so these prove the checking
//! pipeline (no false alarm, verdicts, quarantine); that honest machines agree byte for byte
//! is pinned by the simulator's golden hashes (`crates/sim/tests/golden.rs`).

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::coordinator::{JobSpec, MemoryCoordinator};
use crate::http::{ManualClock, NodeApiConfig};
use crate::publish::{Funnel, RecordingPublisher};
use crate::store::{ChunkResult, NewJob, NewNode, SqliteOptions, SqliteStore, TransitionData};

const NOW: UnixMillis = UnixMillis(1_800_000_000_000);
const TTL: Duration = Duration::from_secs(30);
const PROFILE: &str = r#"
version = 1
[fight]
duration = 20
[player]
primary = 1000
crit_pct = 20
[[spells]]
name = "strike"
coefficient = 1.0
[[apl]]
spell = "strike"
"#;

struct Grid {
    ctx: Context,
    coord: Arc<MemoryCoordinator>,
    store: Arc<SqliteStore>,
    job: JobId,
}

/// A running job of `chunks` chunks and one online node per owner in `owners`.
async fn grid(rate: f64, chunks: u32, owners: usize) -> (Grid, Vec<NodeId>) {
    let store = Arc::new(SqliteStore::open(SqliteOptions::default()).await.unwrap());
    let coord = Arc::new(MemoryCoordinator::new());
    let config = NodeApiConfig {
        verify: VerifyConfig {
            rate,
            first_results: 10,
        },
        ..NodeApiConfig::default()
    };
    let (ctx, _log) = crate::context::testing::context(
        coord.clone(),
        store.clone(),
        Funnel::new(Arc::new(RecordingPublisher::default())),
        Arc::new(ManualClock::new(NOW)),
        config,
        None,
    );
    let mut nodes = Vec::new();
    let mut first_user = None;
    for i in 0..owners {
        let u = store
            .create_user(&format!("o{i}@x.io"), "h", NOW)
            .await
            .unwrap()
            .id;
        first_user.get_or_insert(u);
        let n = store
            .insert_node(
                NewNode {
                    id: NodeId::new(),
                    owner: Some(u),
                    public_key: format!("key-{i}"),
                    name: format!("n{i}"),
                    claim_code: None,
                    max_parallel: 1,
                    cores: 1,
                    version: "t".into(),
                },
                NOW,
            )
            .await
            .unwrap();
        store
            .set_node_status(n.id, NodeStatus::Online)
            .await
            .unwrap();
        nodes.push(n.id);
    }
    store.put_config("cfg", PROFILE, NOW).await.unwrap();
    let job = store
        .insert_job(
            NewJob {
                id: JobId::new(),
                owner: first_user.unwrap(),
                config_hash: "cfg".into(),
                iterations: u64::from(chunks),
                seed: 7,
                chunk_size: 1,
                chunk_count: chunks,
                public: false,
                chunk_wall_limit_ms: 0,
            },
            NOW,
        )
        .await
        .unwrap();
    store
        .transition_job(
            job.id,
            JobStatus::Pending,
            JobStatus::Running,
            job.version,
            TransitionData::default(),
            NOW,
        )
        .await
        .unwrap();
    coord
        .register_job(JobSpec::new(job.id, chunks, "u"))
        .await
        .unwrap();
    (
        Grid {
            ctx,
            coord,
            store,
            job: job.id,
        },
        nodes,
    )
}

impl Grid {
    /// `node` leases one chunk and computes it (wrongly if `lie`); returns its lease and bytes.
    async fn compute(&self, node: NodeId, lie: bool) -> (LeaseRef, Vec<u8>) {
        let l = self.coord.lease(node, 1, TTL, NOW).await.unwrap();
        assert_eq!(l.len(), 1, "{node} got no chunk");
        let p = wowlab_sim::compile_str(PROFILE).unwrap();
        let k = u64::from(l[0].chunk.0);
        let mut r = wowlab_sim::run_chunk(&p, 7, k..k + 1).unwrap();
        if lie {
            r.events += 1;
        }
        (l[0].lease_ref(), r.encode())
    }

    /// Routes the result; an ordinary one is stored and completed as the node API does.
    async fn submit(&self, node: NodeId, lease: LeaseRef, bytes: Vec<u8>) -> Route {
        let route = self
            .ctx
            .verifier()
            .screen(&self.ctx, node, lease, bytes, NOW, None)
            .await
            .unwrap();
        if let Route::Ordinary(b) = &route {
            self.store
                .put_chunk_result(
                    ChunkResult {
                        job: lease.job,
                        chunk: lease.chunk,
                        node: Some(node),
                        result: b.clone(),
                    },
                    NOW,
                )
                .await
                .unwrap();
            self.coord.complete(node, lease, NOW).await.unwrap();
        }
        route
    }

    async fn trust(&self, node: NodeId) -> NodeTrust {
        self.store
            .node_trust()
            .await
            .unwrap()
            .into_iter()
            .find(|(n, _)| *n == node)
            .map(|(_, t)| t)
            .unwrap_or_default()
    }
}

fn held() -> Route {
    Route::Held(CompleteOutcome::Completed { job_done: false })
}

/// Coordinator-level (not end to end, which would take hours on two cores): 10,000 chunks of a
/// tiny job, every one checked (rate 1) by the other owner's node, all confirmed.
#[tokio::test]
async fn an_honest_grid_raises_no_false_alarm_over_ten_thousand_checked_chunks() {
    const CHUNKS: u32 = 10_000;
    let (g, nodes) = grid(1.0, CHUNKS, 2).await;
    for i in 0..CHUNKS {
        // The owners take turns computing first.
        let (first, second) = if i % 2 == 0 {
            (nodes[0], nodes[1])
        } else {
            (nodes[1], nodes[0])
        };
        let (l, b) = g.compute(first, false).await;
        assert_eq!(g.submit(first, l, b).await, held());
        let (l2, b2) = g.compute(second, false).await;
        assert_eq!(l2.chunk, l.chunk, "the check is the same chunk");
        assert!(matches!(g.submit(second, l2, b2).await, Route::Ordinary(_)));
    }
    let counts = g.store.job_check_counts(g.job).await.unwrap();
    assert_eq!(
        (counts.cross_checked, counts.mismatches, counts.pending),
        (CHUNKS, 0, 0)
    );
    for n in &nodes {
        let t = g.trust(*n).await;
        assert_eq!((t.checked, t.confirmed, t.failed), (CHUNKS, CHUNKS, 0));
        assert!(t.quarantined_at.is_none());
    }
    let p = g.coord.job_progress(g.job).await.unwrap();
    assert_eq!(p.done, CHUNKS);
}

/// A wrong first result: the check disagrees, a third owner's node sides with the check, the
/// liar is quarantined and its other stored result in the running job is reopened.
#[tokio::test]
async fn a_wrong_result_is_settled_by_a_third_owner_and_its_node_quarantined() {
    let (g, nodes) = grid(1.0, 3, 3).await;
    let (liar, b, c) = (nodes[0], nodes[1], nodes[2]);
    let (l0, bad) = g.compute(liar, true).await;
    assert_eq!(g.submit(liar, l0, bad).await, held());
    // The chunk never goes back to the liar; b checks it and disagrees.
    let (l1, good) = g.compute(b, false).await;
    assert_eq!(l1.chunk, l0.chunk);
    assert_eq!(g.submit(b, l1, good.clone()).await, held());
    let check = g.store.chunk_check(g.job, l0.chunk).await.unwrap().unwrap();
    assert_eq!(check.verdict, CheckVerdict::Pending);
    assert_ne!(check.first.hash, check.second.as_ref().unwrap().hash);
    // Neither earlier owner may take it; c decides.
    let other = g.coord.lease(b, 1, TTL, NOW).await.unwrap();
    assert_ne!(other[0].chunk, l0.chunk);
    let (l2, decisive) = g.compute(c, false).await;
    assert_eq!(l2.chunk, l0.chunk);
    assert_eq!(
        g.submit(c, l2, decisive.clone()).await,
        Route::Ordinary(decisive)
    );
    let check = g.store.chunk_check(g.job, l0.chunk).await.unwrap().unwrap();
    assert_eq!(check.verdict, CheckVerdict::FirstWrong);
    assert_eq!(check.third.as_ref().unwrap().node, c);
    let t = g.trust(liar).await;
    assert_eq!((t.failed, t.confirmed), (1, 0));
    assert!(t.quarantined_at.is_some());
    assert!(g.store.node_by_id(liar).await.unwrap().unwrap().draining);
    assert_eq!(g.trust(b).await.confirmed, 1);
    assert_eq!(g.trust(c).await.confirmed, 1);
}

/// Quarantine reopens the node's stored results of running jobs and deletes them; a result the
/// quarantined node still sends is not used.
#[tokio::test]
async fn quarantine_recomputes_the_nodes_results_in_running_jobs() {
    // Rate tiny and no all-checked start: the liar's results go through unchecked.
    let (g, nodes) = grid(1e-9, 3, 2).await;
    let cfg = VerifyConfig {
        rate: 1e-9,
        first_results: 0,
    };
    let g = Grid {
        ctx: {
            let (ctx, _) = crate::context::testing::context(
                g.coord.clone(),
                g.store.clone(),
                Funnel::new(Arc::new(RecordingPublisher::default())),
                Arc::new(ManualClock::new(NOW)),
                NodeApiConfig {
                    verify: cfg,
                    ..NodeApiConfig::default()
                },
                None,
            );
            ctx
        },
        ..g
    };
    let (liar, honest) = (nodes[0], nodes[1]);
    let (l, b) = g.compute(liar, true).await;
    assert!(matches!(g.submit(liar, l, b).await, Route::Ordinary(_)));
    assert_eq!(g.store.done_chunks(g.job).await.unwrap(), vec![l.chunk]);
    let in_flight = g.compute(liar, false).await;
    let all = g.store.list_nodes(None).await.unwrap();
    g.ctx
        .verifier()
        .quarantine(&g.ctx, &all, liar, NOW)
        .await
        .unwrap();
    assert!(g.store.done_chunks(g.job).await.unwrap().is_empty());
    let p = g.coord.job_progress(g.job).await.unwrap();
    assert_eq!((p.done, p.leased), (0, 1));
    // Its in-flight result is refused quietly and the chunk goes elsewhere.
    assert_eq!(g.submit(liar, in_flight.0, in_flight.1).await, held());
    // No more work: the node API grants a draining node nothing.
    assert!(g.store.node_by_id(liar).await.unwrap().unwrap().draining);
    let mut recomputed = Vec::new();
    for _ in 0..3 {
        let (l, b) = g.compute(honest, false).await;
        assert!(matches!(g.submit(honest, l, b).await, Route::Ordinary(_)));
        recomputed.push(l.chunk.0);
    }
    recomputed.sort_unstable();
    assert_eq!(recomputed, vec![0, 1, 2]);
}

/// The checking owner's only node leaves before it runs the check: the leader's sweep skips
/// the check and lifts the bar, the first owner's node recomputes the chunk, and the job
/// finishes with the same bytes an honest run gives.
#[tokio::test]
async fn a_check_whose_checker_left_is_skipped_and_the_job_still_finishes() {
    let (g, nodes) = grid(1.0, 2, 2).await;
    let (a, checker) = (nodes[0], nodes[1]);
    let (l, first) = g.compute(a, false).await;
    assert_eq!(g.submit(a, l, first.clone()).await, held());
    let verifier = g.ctx.verifier();
    // While the checker is online the check waits for it.
    assert_eq!(verifier.release_stranded(&g.ctx, NOW).await.unwrap(), 0);
    g.store
        .set_node_status(checker, NodeStatus::Offline)
        .await
        .unwrap();
    // a takes the other chunk but not the barred one.
    let (l1, b1) = g.compute(a, false).await;
    assert_ne!(l1.chunk, l.chunk);
    assert!(matches!(g.submit(a, l1, b1).await, Route::Ordinary(_)));
    assert!(g.coord.lease(a, 1, TTL, NOW).await.unwrap().is_empty());
    assert_eq!(verifier.release_stranded(&g.ctx, NOW).await.unwrap(), 1);
    assert_eq!(verifier.release_stranded(&g.ctx, NOW).await.unwrap(), 0);
    let check = g.store.chunk_check(g.job, l.chunk).await.unwrap().unwrap();
    assert_eq!(check.verdict, CheckVerdict::Skipped);
    assert_eq!(check.note.as_deref(), Some(CHECKER_LEFT));
    assert!(check.first_result.is_empty());
    // The re-run goes the ordinary way and completes the job.
    let (l2, again) = g.compute(a, false).await;
    assert_eq!(l2.chunk, l.chunk);
    assert_eq!(g.submit(a, l2, again.clone()).await, Route::Ordinary(again));
    let p = g.coord.job_progress(g.job).await.unwrap();
    assert_eq!((p.done, p.pending, p.leased), (2, 0, 0));
    let stored = g.store.chunk_results(g.job).await.unwrap();
    let rerun = stored.iter().find(|r| r.chunk == l.chunk).unwrap();
    assert_eq!(
        rerun.result, first,
        "the recomputed chunk matches the held result"
    );
    // The other chunk, sampled after the checker left, was skipped on arrival.
    let counts = g.store.job_check_counts(g.job).await.unwrap();
    assert_eq!(
        (counts.skipped, counts.pending, counts.cross_checked),
        (2, 0, 0)
    );
}

/// A mismatch waiting for a third owner is left pending by the sweep: both results are in
/// doubt.
#[tokio::test]
async fn a_mismatch_waiting_for_a_third_owner_is_not_released() {
    let (g, nodes) = grid(1.0, 1, 2).await;
    let (liar, b) = (nodes[0], nodes[1]);
    let (l0, bad) = g.compute(liar, true).await;
    assert_eq!(g.submit(liar, l0, bad).await, held());
    let (l1, good) = g.compute(b, false).await;
    assert_eq!(g.submit(b, l1, good).await, held());
    assert_eq!(
        g.ctx
            .verifier()
            .release_stranded(&g.ctx, NOW)
            .await
            .unwrap(),
        0
    );
    let check = g.store.chunk_check(g.job, l0.chunk).await.unwrap().unwrap();
    assert_eq!(check.verdict, CheckVerdict::Pending);
    assert!(g.coord.lease(liar, 1, TTL, NOW).await.unwrap().is_empty());
}

/// A check skipped because its checker left did not check anything: the first node's
/// `checked` count goes back, so its record (and its start, every result of which is checked)
/// stays true.
#[tokio::test]
async fn a_skipped_check_is_not_counted_as_checked() {
    let (g, nodes) = grid(1.0, 1, 2).await;
    let (a, checker) = (nodes[0], nodes[1]);
    let (l, first) = g.compute(a, false).await;
    assert_eq!(g.submit(a, l, first).await, held());
    assert_eq!(g.trust(a).await.checked, 1);
    g.store
        .set_node_status(checker, NodeStatus::Offline)
        .await
        .unwrap();
    assert_eq!(
        g.ctx
            .verifier()
            .release_stranded(&g.ctx, NOW)
            .await
            .unwrap(),
        1
    );
    assert_eq!(g.trust(a).await, NodeTrust::default());
}

/// A held result that is sent again hears "already done", as a re-sent ordinary result does,
/// not "stale": the answer must not tell the node its chunk was a check.
#[tokio::test]
async fn a_re_sent_held_result_is_told_already_done_like_an_ordinary_one() {
    let (g, nodes) = grid(1.0, 2, 2).await;
    let (a, b) = (nodes[0], nodes[1]);
    let (l, bytes) = g.compute(a, false).await;
    assert_eq!(g.submit(a, l, bytes).await, held());
    // The coordinator alone would say stale (the chunk is pending again for the check)...
    assert_eq!(
        g.coord.complete(a, l, NOW).await.unwrap(),
        CompleteOutcome::Stale
    );
    // ...but the node took part in its check, so the node API answers already done.
    let verifier = g.ctx.verifier();
    assert!(verifier.ran_check(&*g.store, a, l).await.unwrap());
    // A node that never sent a result of the chunk is told the truth.
    assert!(!verifier.ran_check(&*g.store, b, l).await.unwrap());
}

/// A second node of `owner_of`'s owner, online.
async fn sibling(g: &Grid, owner_of: NodeId) -> NodeId {
    let owner = g.store.node_by_id(owner_of).await.unwrap().unwrap().owner;
    let n = g
        .store
        .insert_node(
            NewNode {
                id: NodeId::new(),
                owner,
                public_key: format!("key-{}", NodeId::new()),
                name: "sibling".into(),
                claim_code: None,
                max_parallel: 1,
                cores: 1,
                version: "t".into(),
            },
            NOW,
        )
        .await
        .unwrap();
    g.store
        .set_node_status(n.id, NodeStatus::Online)
        .await
        .unwrap();
    n.id
}

/// A grid whose results go through unchecked (no all-checked start, a tiny rate).
async fn unchecked_grid(chunks: u32, owners: usize) -> (Grid, Vec<NodeId>) {
    let (g, nodes) = grid(1e-9, chunks, owners).await;
    let (ctx, _) = crate::context::testing::context(
        g.coord.clone(),
        g.store.clone(),
        Funnel::new(Arc::new(RecordingPublisher::default())),
        Arc::new(ManualClock::new(NOW)),
        NodeApiConfig {
            verify: VerifyConfig {
                rate: 1e-9,
                first_results: 0,
            },
            ..NodeApiConfig::default()
        },
        None,
    );
    (Grid { ctx, ..g }, nodes)
}

/// A chunk reopened by a quarantine is barred from the quarantined owner's nodes; when no
/// node of another owner is online any more the leader's sweep lifts the bar, the chunk is
/// re-leased and the job finishes; the round records who recomputed it.
#[tokio::test]
async fn a_reopened_chunk_no_other_owner_can_take_is_released_and_the_job_finishes() {
    let (g, nodes) = unchecked_grid(1, 2).await;
    let (liar, other) = (nodes[0], nodes[1]);
    let mate = sibling(&g, liar).await;
    let (l, bad) = g.compute(liar, true).await;
    let old_hash = result_hash(&bad);
    assert!(matches!(g.submit(liar, l, bad).await, Route::Ordinary(_)));
    let all = g.store.list_nodes(None).await.unwrap();
    g.ctx
        .verifier()
        .quarantine(&g.ctx, &all, liar, NOW)
        .await
        .unwrap();
    let reviews = g.store.job_reviews(g.job).await.unwrap();
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0].job_status, JobStatus::Running);
    assert_eq!(reviews[0].chunks[0].old_node, Some(liar));
    assert_eq!(reviews[0].chunks[0].old_hash, old_hash);
    // Barred from the liar's owner; the other owner leaves before taking it.
    g.store
        .set_node_status(other, NodeStatus::Offline)
        .await
        .unwrap();
    assert!(g.coord.lease(mate, 1, TTL, NOW).await.unwrap().is_empty());
    let swept = review::sweep(&g.ctx).await.unwrap();
    assert_eq!(swept.released, 1);
    let (l2, good) = g.compute(mate, false).await;
    assert_eq!(l2.chunk, l.chunk);
    assert!(matches!(
        g.submit(mate, l2, good.clone()).await,
        Route::Ordinary(_)
    ));
    let p = g.coord.job_progress(g.job).await.unwrap();
    assert_eq!(p.done, p.chunk_count);
    // The next sweep closes the round with the recomputed chunk's origin.
    assert_eq!(review::sweep(&g.ctx).await.unwrap().closed, 1);
    let r = &g.store.job_reviews(g.job).await.unwrap()[0];
    assert!(!r.is_open());
    assert_eq!(r.chunks[0].new_node, Some(mate));
    assert_eq!(
        r.chunks[0].new_hash.as_deref(),
        Some(result_hash(&good).as_str())
    );
}

/// A node quarantined after a job completed with its results: the job stays completed and
/// goes under review, the results are deleted and only those chunks are scheduled again,
/// barred from the node's owner; the job's result is kept until the correction.
#[tokio::test]
async fn quarantine_puts_a_completed_job_under_review_and_schedules_its_chunks_again() {
    let (g, nodes) = unchecked_grid(3, 2).await;
    let (liar, honest) = (nodes[0], nodes[1]);
    let (l, bad) = g.compute(liar, true).await;
    assert!(matches!(g.submit(liar, l, bad).await, Route::Ordinary(_)));
    for _ in 0..2 {
        let (l, b) = g.compute(honest, false).await;
        assert!(matches!(g.submit(honest, l, b).await, Route::Ordinary(_)));
    }
    let job = g.store.job(g.job).await.unwrap().unwrap();
    g.ctx
        .lifecycle()
        .end(
            g.job,
            crate::lifecycle::Ending::Completed {
                result: vec![1, 2, 3],
                report: None,
            },
            Vec::new(),
            None,
        )
        .await
        .unwrap();
    assert!(g.coord.job_progress(g.job).await.is_err(), "unscheduled");
    let mate = sibling(&g, liar).await;
    let all = g.store.list_nodes(None).await.unwrap();
    g.ctx
        .verifier()
        .quarantine(&g.ctx, &all, liar, NOW)
        .await
        .unwrap();
    let r = open_review(&*g.store, g.job)
        .await
        .unwrap()
        .expect("under review");
    assert_eq!(r.chunks.len(), 1);
    assert_eq!(r.chunks[0].chunk, l.chunk);
    assert_eq!(
        r.old_result_hash.as_deref(),
        Some(result_hash(&[1, 2, 3]).as_str())
    );
    let now = g.store.job(g.job).await.unwrap().unwrap();
    assert_eq!(now.status, JobStatus::Completed);
    assert_eq!(now.result.as_deref(), Some(&[1u8, 2, 3][..]));
    assert!(now.version > job.version);
    let p = g.coord.job_progress(g.job).await.unwrap();
    assert_eq!((p.pending, p.done), (1, 2));
    // The liar's owner's nodes may not take it; the other owner's node does.
    assert!(g.coord.lease(mate, 1, TTL, NOW).await.unwrap().is_empty());
    let (l2, good) = g.compute(honest, false).await;
    assert_eq!(l2.chunk, l.chunk);
    assert!(matches!(
        g.submit(honest, l2, good).await,
        Route::Ordinary(_)
    ));
    // All in: the sweep hands the job to the projector for the correction.
    assert_eq!(review::sweep(&g.ctx).await.unwrap().kicked, 1);
}
