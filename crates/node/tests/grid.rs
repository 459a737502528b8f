//! End-to-end tests of the node against a fake sentinel and a real beacon.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use support::*;
use tokio_util::sync::CancellationToken;
use wowlab_api::channels;
use wowlab_api::node::{ChunkLease, NodeSettings};
use wowlab_api::JobId;
use wowlab_node::runner::{RunCtx, Runner, RunnerError, SIM_CAPABILITY};
use wowlab_sim::ChunkResult;

fn expected(range: std::ops::Range<u64>, seed: u64) -> ChunkResult {
    let p = wowlab_sim::compile_str(PROFILE).unwrap();
    wowlab_sim::run_chunk(&p, seed, range).unwrap()
}

fn decode(b64: &str) -> ChunkResult {
    ChunkResult::decode(&B64.decode(b64).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registers_with_claim_token_all_requests_signed_and_joins_presence() {
    let grid = Grid::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (node, id) = grid.claimed_node(dir.path()).await;

    // Heartbeats flow and carry the node's slots and metrics.
    wait_for("two heartbeats", || {
        (grid.lock().heartbeats.len() >= 2).then_some(())
    })
    .await;
    let hb = grid.lock().heartbeats[0].clone();
    assert_eq!(hb.free_slots, 2);
    assert!(hb.metrics.mem_total_bytes > 0);

    // The node is in the `nodes:online` presence roster.
    let presence = grid.beacon.presence(channels::NODES_ONLINE).await.unwrap();
    assert!(
        presence.values().any(|i| i.user == id.to_string()),
        "{presence:?}"
    );

    {
        let g = grid.lock();
        assert!(g.bad_signatures.is_empty(), "{:?}", g.bad_signatures);
        assert!(g.verified >= 4, "verified {}", g.verified);
        let n = g.nodes.values().next().unwrap();
        assert_eq!(n.facts.capabilities, vec![SIM_CAPABILITY.to_string()]);
        assert!(n.facts.cores >= 1);
    }

    // The node id is persisted; the claim token is not.
    let state = std::fs::read_to_string(dir.path().join("node.json")).unwrap();
    assert!(state.contains(&id.to_string()));
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(CLAIM_TOKEN));
    }

    node.shutdown();
    node.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unowned_node_shows_claim_code_and_runs_once_claimed() {
    let grid = Grid::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let node = grid
        .node(grid.node_config(dir.path(), false))
        .on_claim_code(move |c| {
            let _ = tx.send(c.to_owned());
        })
        .start()
        .await
        .unwrap();
    let code = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    // Unclaimed: it polls registration and never gets a beacon token.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(node.status().snapshot().node_id.is_none());
    assert!(
        grid.lock()
            .paths
            .iter()
            .filter(|p| *p == "/api/node/register")
            .count()
            >= 2
    );
    assert!(!grid.lock().paths.iter().any(|p| p == "/api/node/token"));

    let id = grid.claim(&code);
    wait_for("node running after claim", || {
        node.status().snapshot().node_id
    })
    .await;
    assert_eq!(node.status().snapshot().node_id, Some(id));
    grid.wait_online(id).await;
    // The code is announced once, not on every poll.
    assert!(rx.try_recv().is_err());
    node.shutdown();
    node.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pushed_leases_are_computed_bit_identical_to_run_chunk() {
    let grid = Grid::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (node, id) = grid.claimed_node(dir.path()).await;
    let job = JobId::new();
    let ranges = [0..200u64, 200..450, 450..451];
    for (i, r) in ranges.iter().enumerate() {
        grid.push_lease(id, grid.lease(job, i as u32, r.clone(), 42))
            .await;
    }
    wait_for("three results", || {
        (grid.lock().completes.len() == 3).then_some(())
    })
    .await;
    let completes = grid.lock().completes.clone();
    let mut total = expected(0..0, 42);
    for c in &completes {
        let r = ranges[c.lease.chunk as usize].clone();
        let got = decode(&c.result_b64);
        assert_eq!(got, expected(r, 42), "chunk {}", c.lease.chunk);
        total.merge(&got).unwrap();
    }
    assert_eq!(total, expected(0..451, 42));
    // The profile is fetched once for its hash, even with two slots starting together.
    assert_eq!(grid.count("/api/node/config"), 1);
    wait_for("pool empty", || {
        (node.status().snapshot().pool.running == 0).then_some(())
    })
    .await;
    let s = node.status().snapshot();
    assert_eq!(s.completed, 3);
    assert!(grid.lock().bad_signatures.is_empty());
    node.shutdown();
    node.wait().await.unwrap();
}

/// Waits until the node computes exactly one chunk.
async fn wait_running(node: &wowlab_node::NodeHandle) {
    wait_for("chunk running", || {
        (node.status().snapshot().pool.running == 1).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_push_stops_the_running_chunk() {
    let grid = Grid::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (node, id) = grid.claimed_node(dir.path()).await;
    let lease = grid.lease(JobId::new(), 0, 0..u64::MAX / 2, 7);
    grid.push_lease(id, lease.clone()).await;
    wait_running(&node).await;
    wait_for("iterations running", || {
        (node.status().snapshot().iterations > 0).then_some(())
    })
    .await;
    let before = node.status().snapshot();
    grid.push_cancel(id, lease.lease).await;
    wait_for("chunk dropped", || {
        let p = node.status().snapshot().pool;
        (p.running == 0 && p.reporting == 0 && p.queued == 0).then_some(())
    })
    .await;
    // The sim thread really stopped (its range is endless otherwise): the iteration counter
    // settles once the current sub-range ends.
    let mut last = node.status().snapshot().iterations;
    let settled = wait_for("iterations settle", || {
        std::thread::sleep(Duration::from_millis(250));
        let now = node.status().snapshot().iterations;
        let same = now == last;
        last = now;
        same.then_some(now)
    })
    .await;
    assert_eq!(before.pool.running, 1);
    assert!(settled > 0);
    let b = node.status().snapshot();
    {
        let g = grid.lock();
        assert!(g.completes.is_empty() && g.fails.is_empty());
    }
    assert_eq!(b.completed, 0);
    assert_eq!(b.failed, 0);
    node.shutdown();
    node.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn heartbeat_cancelled_list_drops_work() {
    let grid = Grid::start().await;
    grid.lock().lease_ttl_ms = 600; // heartbeats every 200 ms
    let dir = tempfile::tempdir().unwrap();
    let (node, id) = grid.claimed_node(dir.path()).await;
    let lease = grid.lease(JobId::new(), 3, 0..u64::MAX / 2, 7);
    grid.push_lease(id, lease.clone()).await;
    wait_running(&node).await;
    // The heartbeat reports the lease as active; the next reply cancels it.
    wait_for("lease in a heartbeat", || {
        grid.lock()
            .heartbeats
            .iter()
            .any(|h| h.active.contains(&lease.lease))
            .then_some(())
    })
    .await;
    grid.lock().cancel_next_heartbeat.push(lease.lease);
    wait_for("chunk dropped", || {
        (node.status().snapshot().pool.running == 0).then_some(())
    })
    .await;
    // Later heartbeats no longer name it.
    let n = grid.lock().heartbeats.len();
    wait_for("later heartbeat", || {
        (grid.lock().heartbeats.len() > n + 1).then_some(())
    })
    .await;
    assert!(!grid
        .lock()
        .heartbeats
        .last()
        .unwrap()
        .active
        .contains(&lease.lease));
    assert!(grid.lock().completes.is_empty());
    node.shutdown();
    node.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stale_409_on_complete_drops_the_work_without_retrying() {
    let grid = Grid::start().await;
    grid.lock().complete_mode = CompleteMode::Stale;
    let dir = tempfile::tempdir().unwrap();
    let (node, id) = grid.claimed_node(dir.path()).await;
    grid.push_lease(id, grid.lease(JobId::new(), 0, 0..50, 1))
        .await;
    wait_for("complete attempted", || {
        (grid.lock().complete_attempts >= 1).then_some(())
    })
    .await;
    wait_for("work dropped", || {
        (node.status().snapshot().pool.reporting == 0 && node.status().snapshot().pool.running == 0)
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        grid.lock().complete_attempts,
        1,
        "a 409 must not be retried"
    );
    assert!(grid.lock().fails.is_empty());
    assert_eq!(node.status().snapshot().completed, 0);
    node.shutdown();
    node.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transient_503_on_complete_is_retried_until_accepted() {
    let grid = Grid::start().await;
    grid.lock().complete_mode = CompleteMode::Unavailable(2);
    let dir = tempfile::tempdir().unwrap();
    let (node, id) = grid.claimed_node(dir.path()).await;
    grid.push_lease(id, grid.lease(JobId::new(), 0, 0..50, 1))
        .await;
    wait_for("accepted", || {
        (grid.lock().completes.len() == 1).then_some(())
    })
    .await;
    assert_eq!(grid.lock().complete_attempts, 3);
    assert_eq!(
        decode(&grid.lock().completes[0].result_b64),
        expected(0..50, 1)
    );
    assert!(
        grid.lock().bad_signatures.is_empty(),
        "each retry is signed afresh"
    );
    node.shutdown();
    node.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lost_push_is_recovered_by_resync_on_poll() {
    let grid = Grid::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (node, _id) = grid.claimed_node(dir.path()).await;
    // Held by the sentinel but never pushed: the lease poll picks it up.
    let lease = grid.lease(JobId::new(), 5, 0..40, 9);
    grid.lock()
        .held
        .insert((lease.lease.job_id, lease.lease.chunk), lease.clone());
    wait_for("result", || {
        (grid.lock().completes.len() == 1).then_some(())
    })
    .await;
    assert_eq!(
        decode(&grid.lock().completes[0].result_b64),
        expected(0..40, 9)
    );
    assert!(grid.lock().lease_requests.contains(&2));
    node.shutdown();
    node.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn settings_push_applies_max_parallel_and_drain_live() {
    let grid = Grid::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = grid.node_config(dir.path(), true);
    cfg.max_parallel = 4;
    let node = grid.node(cfg).start().await.unwrap();
    let id = wait_for("registered", || node.status().snapshot().node_id).await;
    grid.wait_online(id).await;
    let settings = |max_parallel, drain| NodeSettings {
        name: "renamed".into(),
        max_parallel,
        drain,
    };
    grid.push_settings(id, settings(3, false)).await;
    wait_for("max_parallel 3", || {
        (node.status().snapshot().pool.max_parallel == 3).then_some(())
    })
    .await;
    assert_eq!(
        node.status().snapshot().pool.name.as_deref(),
        Some("renamed")
    );
    assert_eq!(node.status().snapshot().pool.free_slots, 3);
    // The owner cannot raise it above the local cap.
    grid.push_settings(id, settings(8, false)).await;
    wait_for("capped at 4", || {
        (node.status().snapshot().pool.max_parallel == 4).then_some(())
    })
    .await;
    grid.push_settings(id, settings(8, true)).await;
    wait_for("draining", || {
        let p = node.status().snapshot().pool;
        (p.draining && p.free_slots == 0).then_some(())
    })
    .await;
    // Heartbeats now offer no slots.
    let n = grid.lock().heartbeats.len();
    wait_for("heartbeat while draining", || {
        let g = grid.lock();
        (g.heartbeats.len() > n && g.heartbeats.last().unwrap().free_slots == 0).then_some(())
    })
    .await;
    node.shutdown();
    node.wait().await.unwrap();
}

/// A runner that blocks until released (or cancelled), then returns the real result.
struct Gate {
    release: CancellationToken,
    started: Arc<AtomicU32>,
}

#[async_trait::async_trait]
impl Runner for Gate {
    fn capability(&self) -> &str {
        SIM_CAPABILITY
    }

    async fn run(&self, lease: &ChunkLease, ctx: RunCtx) -> Result<Vec<u8>, RunnerError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        tokio::select! {
            _ = self.release.cancelled() => {}
            _ = ctx.cancel.cancelled() => return Err(RunnerError::Cancelled),
        }
        Ok(expected(lease.iter_start..lease.iter_end, lease.seed).encode())
    }
}

/// `--max-parallel 1`: registration and every heartbeat carry the local cap, and a heartbeat
/// counts the one chunk computing apart from the leases queued behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn heartbeat_reports_running_apart_from_queued_and_the_local_cap() {
    let grid = Grid::start().await;
    let dir = tempfile::tempdir().unwrap();
    let release = CancellationToken::new();
    let started = Arc::new(AtomicU32::new(0));
    let mut cfg = grid.node_config(dir.path(), true);
    cfg.max_parallel = 1;
    cfg.heartbeat = Some(Duration::from_millis(150));
    let node = grid
        .node(cfg)
        .runner(Arc::new(Gate {
            release: release.clone(),
            started: started.clone(),
        }))
        .start()
        .await
        .unwrap();
    let id = wait_for("registered", || node.status().snapshot().node_id).await;
    grid.wait_online(id).await;
    assert_eq!(
        grid.lock()
            .nodes
            .values()
            .next()
            .unwrap()
            .facts
            .local_max_parallel,
        Some(1)
    );
    let job = JobId::new();
    grid.push_leases(
        id,
        (0..3)
            .map(|c| grid.lease(job, c, u64::from(c) * 10..u64::from(c) * 10 + 10, 3))
            .collect(),
    )
    .await;
    let hb = wait_for("a heartbeat with the three leases", || {
        let g = grid.lock();
        g.heartbeats.last().filter(|h| h.active.len() == 3).cloned()
    })
    .await;
    assert_eq!(
        (hb.running, hb.local_max_parallel, hb.free_slots),
        (Some(1), Some(1), 0)
    );
    assert_eq!(started.load(Ordering::SeqCst), 1);
    let pool = node.status().snapshot().pool;
    assert_eq!((pool.running, pool.queued), (1, 2));
    release.cancel();
    wait_for("all three computed", || {
        (grid.lock().completes.len() == 3).then_some(())
    })
    .await;
    node.shutdown();
    node.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drain_on_shutdown_finishes_running_work_and_posts_it() {
    let grid = Grid::start().await;
    let dir = tempfile::tempdir().unwrap();
    let release = CancellationToken::new();
    let started = Arc::new(AtomicU32::new(0));
    let node = grid
        .node(grid.node_config(dir.path(), true))
        .runner(Arc::new(Gate {
            release: release.clone(),
            started: started.clone(),
        }))
        .start()
        .await
        .unwrap();
    let id = wait_for("registered", || node.status().snapshot().node_id).await;
    grid.wait_online(id).await;
    grid.push_lease(id, grid.lease(JobId::new(), 0, 0..30, 3))
        .await;
    wait_for("started", || {
        (started.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;

    node.shutdown();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Still draining: nothing new is taken, the running chunk is kept.
    let s = node.status().snapshot();
    assert_eq!(
        (s.pool.running, s.pool.free_slots, s.pool.draining),
        (1, 0, true)
    );
    grid.push_lease(id, grid.lease(JobId::new(), 1, 0..30, 3))
        .await;
    wait_for("lease offered while draining handed back", || {
        (grid.lock().fails.len() == 1).then_some(())
    })
    .await;
    release.cancel();
    tokio::time::timeout(Duration::from_secs(20), node.wait())
        .await
        .expect("node stops after the drain")
        .unwrap();
    let g = grid.lock();
    assert_eq!(g.completes.len(), 1);
    assert_eq!(decode(&g.completes[0].result_b64), expected(0..30, 3));
    // The lease offered during the drain went back as a failure, not silently lost.
    assert_eq!(g.fails.len(), 1);
    assert_eq!(g.fails[0].reason, "node shutting down");
    assert_eq!(started.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drain_deadline_fails_running_chunks_with_a_reason() {
    let grid = Grid::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = grid.node_config(dir.path(), true);
    cfg.drain_timeout = Duration::from_millis(300);
    let (node, id) = {
        let h = grid.node(cfg).start().await.unwrap();
        let id = wait_for("registered", || h.status().snapshot().node_id).await;
        grid.wait_online(id).await;
        (h, id)
    };
    let lease = grid.lease(JobId::new(), 0, 0..u64::MAX / 2, 3);
    grid.push_lease(id, lease.clone()).await;
    wait_running(&node).await;
    node.shutdown();
    tokio::time::timeout(Duration::from_secs(20), node.wait())
        .await
        .expect("node stops after the drain deadline")
        .unwrap();
    let g = grid.lock();
    assert!(g.completes.is_empty());
    assert_eq!(g.fails.len(), 1);
    assert_eq!(g.fails[0].lease, lease.lease);
    assert_eq!(g.fails[0].reason, "node shutting down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chunk_over_the_time_limit_is_cancelled_and_failed_with_the_reason() {
    let grid = Grid::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = grid.node_config(dir.path(), true);
    cfg.chunk_timeout = Some(Duration::from_millis(3_000));
    let node = grid.node(cfg).start().await.unwrap();
    let id = wait_for("registered", || node.status().snapshot().node_id).await;
    grid.wait_online(id).await;
    // A small chunk finishes well within the limit and is posted as usual.
    let job = JobId::new();
    let small = grid.lease(job, 0, 0..30, 7);
    grid.push_lease(id, small.clone()).await;
    wait_for("small chunk completed", || {
        (!grid.lock().completes.is_empty()).then_some(())
    })
    .await;
    // One that would run for ages is stopped at the limit and handed back as a failure.
    let big = grid.lease(job, 1, 0..u64::MAX / 2, 7);
    grid.push_lease(id, big.clone()).await;
    wait_for("over-limit chunk failed", || {
        (!grid.lock().fails.is_empty()).then_some(())
    })
    .await;
    // The slot is free again and nothing is held.
    wait_for("pool idle", || {
        let st = node.status().snapshot();
        (st.pool.running == 0 && st.active_chunks == 0 && st.failed == 1).then_some(())
    })
    .await;
    {
        let g = grid.lock();
        assert_eq!(g.completes.len(), 1);
        assert_eq!(g.completes[0].lease, small.lease);
        assert_eq!(decode(&g.completes[0].result_b64), expected(0..30, 7));
        assert_eq!(g.fails.len(), 1);
        assert_eq!(g.fails[0].lease, big.lease);
        assert_eq!(
            g.fails[0].reason,
            "chunk exceeded the node's time limit of 3000 ms"
        );
    }
    node.shutdown();
    tokio::time::timeout(Duration::from_secs(20), node.wait())
        .await
        .expect("node stops")
        .unwrap();
}

/// Haste at the engine's cap turns a 0.05 s swing timer into 0.5 ms: an hour-long fight would
/// take 7.2 million events, past the engine's bound per iteration.
const EVENT_STORM: &str = "version = 1\n[fight]\nduration = 3600\n\
    [ratings]\nhaste = 0.000001\ndiminishing_returns = false\n\
    [player]\nprimary = 1000\nhaste_rating = 1000000000\n\
    auto_attack = { coefficient = 1.0, speed = 0.05 }\n\
    [[spells]]\nname = \"strike\"\ncooldown = 10\n[[apl]]\nspell = \"strike\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chunk_over_the_event_bound_is_failed_with_the_engines_reason() {
    let grid = Grid::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (node, id) = grid.claimed_node(dir.path()).await;
    grid.lock()
        .configs
        .insert("cfg-storm".into(), EVENT_STORM.into());
    let mut lease = grid.lease(JobId::new(), 0, 3..10, 7);
    lease.config_hash = "cfg-storm".into();
    grid.push_lease(id, lease.clone()).await;
    wait_for("storm chunk failed", || {
        (!grid.lock().fails.is_empty()).then_some(())
    })
    .await;
    {
        let g = grid.lock();
        assert!(g.completes.is_empty());
        assert_eq!(g.fails.len(), 1);
        assert_eq!(g.fails[0].lease, lease.lease);
        let reason = &g.fails[0].reason;
        assert!(
            reason.starts_with("iteration 3 exceeded 1000000 events"),
            "{reason}"
        );
    }
    node.shutdown();
    node.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn status_endpoint_reports_the_node() {
    let grid = Grid::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = grid.node_config(dir.path(), true);
    cfg.status_addr = Some("127.0.0.1:0".parse().unwrap());
    let node = grid.node(cfg).start().await.unwrap();
    let id = wait_for("registered", || node.status().snapshot().node_id).await;
    let addr = node.status_addr().unwrap();
    let (code, body) = http_get(addr, "/status").await;
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["node_id"], id.to_string());
    assert_eq!(v["capabilities"][0], SIM_CAPABILITY);
    assert!(v["cores"].as_u64().unwrap() >= 1);
    assert!(!v["hostname"].as_str().unwrap().is_empty());
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    for k in ["load1", "active_chunks", "sims_per_sec"] {
        assert!(v[k].is_number(), "{k} in {v}");
    }
    // Prometheus metrics count the node's work: on the node's /metrics, or, when beacon
    // installed the process's recorder first (embedded mode), on beacon's.
    grid.push_lease(id, grid.lease(JobId::new(), 0, 0..25, 2))
        .await;
    wait_for("result", || {
        (grid.lock().completes.len() == 1).then_some(())
    })
    .await;
    let (code, text) = http_get(addr, "/metrics").await;
    let text = if code == 200 {
        text
    } else {
        let (code, text) = http_get(grid.beacon_addr, "/metrics").await;
        assert_eq!(code, 200);
        text
    };
    assert_node_metrics(&text, false);
    node.shutdown();
    node.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn beacon_token_is_refreshed_through_the_sentinel() {
    let grid = Grid::start().await;
    grid.lock().token_ttl_secs = 2;
    let dir = tempfile::tempdir().unwrap();
    let (node, id) = grid.claimed_node(dir.path()).await;
    let first = grid.count("/api/node/token");
    wait_for("token refreshed", || {
        (grid.count("/api/node/token") > first).then_some(())
    })
    .await;
    // Still connected and receiving work after the refresh.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    grid.push_lease(id, grid.lease(JobId::new(), 0, 0..20, 5))
        .await;
    wait_for("result after refresh", || {
        (grid.lock().completes.len() == 1).then_some(())
    })
    .await;
    node.shutdown();
    node.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leases_are_given_up_when_heartbeats_fail_for_a_whole_ttl() {
    let grid = Grid::start().await;
    grid.lock().lease_ttl_ms = 900;
    let dir = tempfile::tempdir().unwrap();
    let (node, id) = grid.claimed_node(dir.path()).await;
    // Let a heartbeat state the short TTL first.
    wait_for("heartbeat", || {
        (!grid.lock().heartbeats.is_empty()).then_some(())
    })
    .await;
    grid.push_lease(id, grid.lease(JobId::new(), 0, 0..u64::MAX / 2, 7))
        .await;
    wait_running(&node).await;
    grid.lock().heartbeat_down = true;
    wait_for("lease given up", || {
        (node.status().snapshot().pool.running == 0).then_some(())
    })
    .await;
    assert!(grid.lock().completes.is_empty());
    grid.lock().heartbeat_down = false;
    node.shutdown();
    node.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forgotten_node_registers_again() {
    let grid = Grid::start().await;
    grid.lock().lease_ttl_ms = 600;
    let dir = tempfile::tempdir().unwrap();
    let (node, first) = grid.claimed_node(dir.path()).await;
    grid.forget_nodes();
    let second = wait_for("new registration", || {
        node.status().snapshot().node_id.filter(|id| *id != first)
    })
    .await;
    grid.wait_online(second).await;
    let state = std::fs::read_to_string(dir.path().join("node.json")).unwrap();
    assert!(state.contains(&second.to_string()));
    node.shutdown();
    node.wait().await.unwrap();
}

/// Pushes `n` small chunks of one job and checks every result and the merged total.
async fn many_small_chunks(grid: &Grid, id: wowlab_api::NodeId, n: u32) {
    let job = JobId::new();
    for i in 0..n {
        let r = u64::from(i) * 10..u64::from(i) * 10 + 10;
        grid.push_lease(id, grid.lease(job, i, r, 11)).await;
    }
    wait_for("all results", || {
        (grid.lock().completes.len() == n as usize).then_some(())
    })
    .await;
    let mut total = expected(0..0, 11);
    for c in grid.lock().completes.iter() {
        let start = u64::from(c.lease.chunk) * 10;
        let got = decode(&c.result_b64);
        assert_eq!(got, expected(start..start + 10, 11));
        total.merge(&got).unwrap();
    }
    assert_eq!(total, expected(0..u64::from(n) * 10, 11));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn results_finishing_together_share_one_batch_request() {
    let grid = Grid::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (node, id) = grid.claimed_node(dir.path()).await;
    many_small_chunks(&grid, id, 60).await;
    {
        let g = grid.lock();
        assert!(!g.batch_sizes.is_empty(), "no batch was sent");
        assert!(g.batch_sizes.iter().any(|&n| n > 1));
        // Fewer signed requests than results.
        assert!(
            (g.complete_attempts as usize) < 60,
            "{} requests for 60 results",
            g.complete_attempts
        );
        assert!(g.bad_signatures.is_empty());
    }
    node.shutdown();
    node.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_the_batch_endpoint_results_are_posted_singly() {
    let grid = Grid::start().await;
    grid.lock().batch_enabled = false;
    let dir = tempfile::tempdir().unwrap();
    let (node, id) = grid.claimed_node(dir.path()).await;
    many_small_chunks(&grid, id, 30).await;
    assert!(grid.lock().batch_sizes.is_empty());
    node.shutdown();
    node.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pushed_batch_and_leases_in_completion_replies_keep_the_node_busy() {
    let grid = Grid::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (node, id) = grid.claimed_node(dir.path()).await;
    let job = JobId::new();
    let range = |i: u32| u64::from(i) * 20..u64::from(i) * 20 + 20;
    // Chunks 2..6 come back one per completion that asks for a refill.
    for i in 2..6 {
        let l = grid.lease(job, i, range(i), 5);
        grid.lock().refills.push_back(l);
    }
    // Two leases in one `leases` push.
    grid.push_leases(
        id,
        (0..2).map(|i| grid.lease(job, i, range(i), 5)).collect(),
    )
    .await;
    wait_for("six results", || {
        (grid.lock().completes.len() == 6).then_some(())
    })
    .await;
    {
        let g = grid.lock();
        // Every result handed its slot back, and every queued refill was taken from a reply.
        assert!(g.completes.iter().all(|c| c.refill));
        assert_eq!(g.refilled.len(), 4);
        assert!(g.refills.is_empty());
        let mut total = expected(0..0, 5);
        for c in &g.completes {
            let got = decode(&c.result_b64);
            assert_eq!(
                got,
                expected(range(c.lease.chunk), 5),
                "chunk {}",
                c.lease.chunk
            );
            total.merge(&got).unwrap();
        }
        assert_eq!(total, expected(0..120, 5));
    }
    node.shutdown();
    node.wait().await.unwrap();
}
