//! In-process measurement of the signed node API per chunk (no network): heartbeat leases a
//! batch, then one signed `chunks/complete` per chunk — signature check, nonce cache, lease
//! check, group-committed SQLite write (file, WAL), coordinator completion, projector log.
//! Reports chunks/s and process CPU per chunk (from /proc/self/stat).
//!
//! Runs four times: one signed `complete` per chunk, then one signed `complete-batch` per
//! round, each first with a lease request per round (the poll path) and then with `refill`
//! (every completion hands its slot back and the reply carries the next lease: the push
//! dispatch steady state, no lease requests after the first).
//!
//! `cargo run --release -p wowlab-sentinel --example node_api_throughput`

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::Request;
use axum::Router;
use serde_json::{json, Value};
use tower::ServiceExt;
use wowlab_api::signing::NodeKey;
use wowlab_sentinel::context::{Context, ContextParts, NodeApiConfig};
use wowlab_sentinel::coordinator::MemoryCoordinator;
use wowlab_sentinel::domain::{Clock, SystemClock};
use wowlab_sentinel::domain::{JobId, UnixMillis};
use wowlab_sentinel::http;
use wowlab_sentinel::jobs::{submit, Submission};
use wowlab_sentinel::publish::{Funnel, RecordingPublisher};
use wowlab_sentinel::result_log::ResultLog as _;
use wowlab_sentinel::sim::SimEngine;
use wowlab_sentinel::store::{SqliteOptions, SqliteStore, Store};
use wowlab_sentinel::tokens::TokenMinter;

const CHUNKS: u32 = 40_000;
const NODES: usize = 8;
const SLOTS: u32 = 64;

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 (1-based), i.e. 11 and 12 after the `)`.
    (ticks(11) + ticks(12)) / 100.0
}

fn signed(key: &NodeKey, path: &str, body: Value) -> Request<Body> {
    let bytes = body.to_string().into_bytes();
    let h = key
        .sign(UnixMillis::now().0, "POST", "localhost", path, &bytes)
        .unwrap();
    let mut r = Request::builder()
        .method("POST")
        .uri(path)
        .header("host", "localhost");
    for (k, v) in h.pairs() {
        r = r.header(k, v);
    }
    r.body(Body::from(bytes)).unwrap()
}

async fn call(app: &Router, req: Request<Body>) -> Value {
    let resp = app.clone().oneshot(req).await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    for refill in [false, true] {
        for batch in [false, true] {
            run(batch, refill).await;
        }
    }
}

async fn run(batch: bool, refill: bool) {
    let dir = std::env::temp_dir().join(format!("wowlab-nodeapi-{}", JobId::new()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Arc::new(
        SqliteStore::open(SqliteOptions::file(dir.join("db.sqlite")))
            .await
            .unwrap(),
    );
    let coord = Arc::new(MemoryCoordinator::new());
    let clock = Arc::new(SystemClock);
    let owner = store.create_user("b@x", "h", clock.now()).await.unwrap().id;
    let (state, log) = Context::new(ContextParts {
        coordinator: coord.clone(),
        store: store.clone(),
        funnel: Funnel::new(Arc::new(RecordingPublisher::default())),
        clock: clock.clone(),
        config: NodeApiConfig::default(),
        tokens: TokenMinter::new(b"bench-secret"),
        engine: Arc::new(SimEngine),
        security: Default::default(),
    });
    // Drain the projector log (the merge itself is the workload's cost, not the control plane's).
    let mut sub = log.subscribe().await.expect("the only subscription");
    tokio::spawn(async move {
        while let Ok(d) = sub.next().await {
            let _ = d.ack().await;
        }
    });
    let app = http::router(state);
    submit(
        &*store,
        &*coord,
        Submission {
            owner,
            config: "noop".into(),
            config_hash: "noop".into(),
            iterations: u64::from(CHUNKS),
            seed: 1,
            chunk_size: 1,
            public: false,
            chunk_wall_limit_ms: 0,
        },
        3,
        clock.now(),
    )
    .await
    .unwrap();
    let keys: Vec<NodeKey> = (0..NODES).map(|_| NodeKey::generate().unwrap()).collect();
    for k in &keys {
        call(
            &app,
            signed(
                k,
                "/api/node/register",
                json!({"name": "n", "facts": {"hostname": "h", "version": "0", "cores": SLOTS}}),
            ),
        )
        .await;
    }
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let tasks: Vec<_> = keys
        .into_iter()
        .map(|key| {
            let app = app.clone();
            tokio::spawn(async move {
                let mut done = 0u64;
                let mut held: Vec<Value> = Vec::new();
                loop {
                    if !refill || done == 0 {
                        let hb = call(
                            &app,
                            signed(&key, "/api/node/leases", json!({"free_slots": SLOTS})),
                        )
                        .await;
                        held = hb["leases"].as_array().cloned().unwrap_or_default();
                    }
                    if held.is_empty() {
                        return done;
                    }
                    let bodies: Vec<Value> = held
                        .iter()
                        .map(|a| {
                            // `{"n":1}` in base64.
                            json!({"job_id": a["job_id"], "chunk": a["chunk"], "fence": a["fence"],
                                   "result_b64": "eyJuIjoxfQ==", "elapsed_ms": 0, "refill": refill})
                        })
                        .collect();
                    let n = bodies.len() as u64;
                    let mut next = Vec::new();
                    if batch {
                        let req = signed(
                            &key,
                            "/api/node/chunks/complete-batch",
                            json!({"results": bodies}),
                        );
                        let resp = call(&app, req).await;
                        next.extend(resp["leases"].as_array().cloned().unwrap_or_default());
                    } else {
                        let mut inflight = Vec::new();
                        for body in bodies {
                            let app = app.clone();
                            let req = signed(&key, "/api/node/chunks/complete", body);
                            inflight.push(tokio::spawn(async move { call(&app, req).await }));
                        }
                        for t in inflight {
                            let resp = t.await.unwrap();
                            next.extend(resp["leases"].as_array().cloned().unwrap_or_default());
                        }
                    }
                    done += n;
                    held = next;
                }
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    println!(
        "node API in-process, {}, {}: {total} chunks ({SLOTS} slots, {NODES} nodes) in {secs:.2} s = {:.0} chunks/s; process CPU {:.1} µs/chunk (includes the simulated nodes' signing)",
        if batch { "one signed complete-batch per round" } else { "one signed complete per chunk" },
        if refill { "next lease in the completion reply" } else { "one lease request per round" },
        total as f64 / secs,
        cpu * 1e6 / total as f64
    );
    let s = store.group_commit_stats();
    println!(
        "  result commits: {} transactions, mean batch {:.1}",
        s.batches(),
        s.items() as f64 / s.batches().max(1) as f64
    );
    let _ = std::fs::remove_dir_all(&dir);
}
