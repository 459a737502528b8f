//! A whole sentinel in-process: user submits, a node computes, the projector finalizes — across
//! a sentinel restart that loses all coordination state.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use tower::ServiceExt;
use wowlab_api::signing::NodeKey;

use super::{Sentinel, SentinelConfig, SentinelParts};
use crate::coordinator::MemoryCoordinator;
use crate::domain::SystemClock;
use crate::domain::{JobId, UnixMillis};
use crate::engine::{ProfileEngine, ValidatedProfile};
use crate::projector::ResultMerger;
use crate::publish::RecordingPublisher;
use crate::store::{Job, SqliteOptions, SqliteStore};

struct Engine;

impl ProfileEngine for Engine {
    fn validate(&self, profile: &str) -> Result<ValidatedProfile, String> {
        Ok(ValidatedProfile {
            content_hash: format!("h{}", profile.len()),
            iteration_cost_ns: 1_000_000,
        })
    }
}

struct Sum;

impl ResultMerger for Sum {
    type Acc = u64;
    fn empty(&self, _job: &Job) -> u64 {
        0
    }
    fn merge(&self, acc: &mut u64, chunk: &[u8]) -> Result<(), String> {
        let v: Value = serde_json::from_slice(chunk).map_err(|e| e.to_string())?;
        *acc += v["sum"].as_u64().ok_or("no sum")?;
        Ok(())
    }
    fn progress(&self, acc: &u64) -> crate::projector::Estimate {
        crate::projector::Estimate {
            mean: *acc as f64,
            ..Default::default()
        }
    }
    fn finish(&self, acc: &u64) -> Result<Vec<u8>, String> {
        serde_json::to_vec(&json!({ "sum": acc })).map_err(|e| e.to_string())
    }
}

async fn start(path: &std::path::Path, published: Arc<RecordingPublisher>) -> Sentinel {
    let store = Arc::new(SqliteStore::open(SqliteOptions::file(path)).await.unwrap());
    Sentinel::start(
        SentinelConfig {
            reclaim_interval: Duration::from_millis(100),
            ..SentinelConfig::default()
        },
        SentinelParts {
            store,
            // A fresh coordinator every start: nothing survives but the store.
            coordinator: Arc::new(MemoryCoordinator::new()),
            publisher: published,
            clock: Arc::new(SystemClock),
            merger: Sum,
            engine: Arc::new(Engine),
            tokens: crate::tokens::TokenMinter::new(b"test-secret"),
            presence: None,
            webhook: None,
            result_log: None,
        },
    )
    .await
    .unwrap()
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, Value, Option<String>) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let cookie = resp
        .headers()
        .get("set-cookie")
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned());
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        cookie,
    )
}

fn user_req(method: &str, path: &str, cookie: Option<&str>, body: Value) -> Request<Body> {
    let mut r = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    r.body(if body.is_null() {
        Body::empty()
    } else {
        Body::from(body.to_string())
    })
    .unwrap()
}

fn node_req(key: &NodeKey, path: &str, body: Value) -> Request<Body> {
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

/// Polls the job's status every 20 ms, at most `tries` times, until it is `completed`;
/// returns the last status seen.
async fn job_status_after(app: &Router, cookie: &str, id: &str, tries: u32) -> Value {
    let mut status = Value::Null;
    for _ in 0..tries {
        let (_, v, _) = call(
            app,
            user_req("GET", &format!("/api/jobs/{id}"), Some(cookie), Value::Null),
        )
        .await;
        status = v["status"].clone();
        if status == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    status
}

/// Leases `slots` chunks and completes each with `{"sum": iter_start}`.
async fn work(app: &Router, key: &NodeKey, slots: u32) -> usize {
    use base64::Engine as _;
    let (s, hb, _) = call(
        app,
        node_req(key, "/api/node/leases", json!({"free_slots": slots})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{hb}");
    let assigned = hb["leases"].as_array().unwrap().clone();
    for a in &assigned {
        let result = json!({"sum": a["iter_start"]}).to_string();
        let b64 = base64::engine::general_purpose::STANDARD.encode(result);
        let body = json!({"job_id": a["job_id"], "chunk": a["chunk"], "fence": a["fence"],
                          "result_b64": b64, "elapsed_ms": 1});
        let (s, v, _) = call(app, node_req(key, "/api/node/chunks/complete", body)).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    assigned.len()
}

#[tokio::test]
async fn job_completes_across_a_sentinel_restart() {
    let dir = std::env::temp_dir().join(format!("wowlab-sentinel-svc-{}", JobId::new()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("sentinel.sqlite");
    let published = Arc::new(RecordingPublisher::default());

    let first = start(&db, published.clone()).await;
    let app = first.router();
    let (s, _, _) = call(&app, user_req("GET", "/health", None, Value::Null)).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = call(&app, user_req("GET", "/readyz", None, Value::Null)).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, cookie) = call(
        &app,
        user_req(
            "POST",
            "/api/auth/signup",
            None,
            json!({"email": "a@x.org", "password": "password1"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let cookie = cookie.unwrap();
    let (s, job, _) = call(
        &app,
        user_req(
            "POST",
            "/api/jobs",
            Some(&cookie),
            json!({"profile": "p", "iterations": 4000, "seed": 1}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    // Only a claimed node gets work.
    let (s, claim, _) = call(
        &app,
        user_req("POST", "/api/claim-tokens", Some(&cookie), json!({})),
    )
    .await;
    assert!(s.is_success(), "{claim}");
    let node = NodeKey::generate().unwrap();
    let (s, _, _) = call(
        &app,
        node_req(
            &node,
            "/api/node/register",
            json!({"claim_token": claim["token"], "name": "n",
                   "facts": {"hostname": "h", "version": "0", "cores": 2}}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(work(&app, &node, 2).await, 2);
    first.shutdown().await;

    // New process: same database, empty coordinator.
    let second = start(&db, published.clone()).await;
    let app = second.router();
    assert_eq!(
        work(&app, &node, 8).await,
        2,
        "only the two unfinished chunks are left"
    );
    assert_eq!(job_status_after(&app, &cookie, &id, 50).await, "completed");
    let (s, result, _) = call(
        &app,
        user_req(
            "GET",
            &format!("/api/jobs/{id}/result"),
            Some(&cookie),
            Value::Null,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        result,
        json!({"sum": 6000}),
        "0 + 1000 + 2000 + 3000, each once"
    );
    let terminal = published
        .sent()
        .iter()
        .filter(|(c, d)| c == &format!("jobs:{id}") && d.windows(11).any(|w| w == b"\"completed\""))
        .count();
    assert_eq!(terminal, 1);
    second.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The leases pushed on `chunks:{node}` so far, in order.
fn pushed_leases(published: &RecordingPublisher, node: &str) -> Vec<Value> {
    let channel = format!("chunks:{node}");
    let mut out = Vec::new();
    for (c, data) in published.sent() {
        if c != channel {
            continue;
        }
        let msg: Value = serde_json::from_slice(&data).unwrap();
        match msg["type"].as_str() {
            Some("lease") => out.push(msg),
            Some("leases") => out.extend(msg["leases"].as_array().unwrap().iter().cloned()),
            _ => {}
        }
    }
    out
}

fn result_body(lease: &Value) -> Value {
    use base64::Engine as _;
    let result = json!({"sum": lease["iter_start"]}).to_string();
    json!({"job_id": lease["job_id"], "chunk": lease["chunk"], "fence": lease["fence"],
           "result_b64": base64::engine::general_purpose::STANDARD.encode(result),
           "elapsed_ms": 1, "refill": true})
}

#[tokio::test]
async fn an_idle_node_gets_work_pushed_and_refilled_without_ever_polling() {
    let dir = std::env::temp_dir().join(format!("wowlab-sentinel-push-{}", JobId::new()));
    std::fs::create_dir_all(&dir).unwrap();
    let published = Arc::new(RecordingPublisher::default());
    let sentinel = start(&dir.join("sentinel.sqlite"), published.clone()).await;
    let app = sentinel.router();
    let (_, _, cookie) = call(
        &app,
        user_req(
            "POST",
            "/api/auth/signup",
            None,
            json!({"email": "p@x.org", "password": "password1"}),
        ),
    )
    .await;
    let cookie = cookie.unwrap();
    // A claimed node (pushes go to owned nodes: only they hold beacon connections).
    let (s, claim, _) = call(
        &app,
        user_req("POST", "/api/claim-tokens", Some(&cookie), json!({})),
    )
    .await;
    assert!(s.is_success(), "{claim}");
    let key = NodeKey::generate().unwrap();
    let (s, reg, _) = call(
        &app,
        node_req(
            &key,
            "/api/node/register",
            json!({"claim_token": claim["token"], "name": "n",
                   "facts": {"hostname": "h", "version": "0", "cores": 2}}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{reg}");
    let node = reg["node_id"].as_str().unwrap().to_owned();
    // The node is idle: one heartbeat reporting two free slots, and no lease request ever.
    let (s, hb, _) = call(
        &app,
        node_req(
            &key,
            "/api/node/heartbeat",
            json!({"free_slots": 2, "active": [], "metrics": {"load1": 0.0,
                   "mem_used_bytes": 0, "mem_total_bytes": 0, "sims_per_sec": 0.0}}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{hb}");
    assert!(pushed_leases(&published, &node).is_empty());
    // Work appears: 4 chunks of 1000 iterations.
    let (s, job, _) = call(
        &app,
        user_req(
            "POST",
            "/api/jobs",
            Some(&cookie),
            json!({"profile": "p", "iterations": 4000, "seed": 1, "chunkSize": 1000}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let mut pushed = Vec::new();
    for _ in 0..200 {
        pushed = pushed_leases(&published, &node);
        if pushed.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(pushed.len(), 2, "both free slots filled by a push");
    assert!(pushed.iter().all(|l| l["job_id"] == id.as_str()));
    // A completion hands its slot back and gets the next chunk in its reply.
    let (s, r, _) = call(
        &app,
        node_req(&key, "/api/node/chunks/complete", result_body(&pushed[0])),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["accepted"], true);
    let refill = r["leases"].as_array().unwrap().clone();
    assert_eq!(refill.len(), 1);
    // A batch of two frees two slots; one chunk is left, the other slot stays as credit.
    let (s, r, _) = call(
        &app,
        node_req(
            &key,
            "/api/node/chunks/complete-batch",
            json!({"results": [result_body(&pushed[1]), result_body(&refill[0])]}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["results"], json!(["accepted", "accepted"]));
    let last = r["leases"].as_array().unwrap().clone();
    assert_eq!(last.len(), 1);
    let (s, r, _) = call(
        &app,
        node_req(&key, "/api/node/chunks/complete", result_body(&last[0])),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert!(r.get("leases").is_none(), "no work left: {r}");
    let mut seen = vec![&pushed[0], &pushed[1], &refill[0], &last[0]]
        .into_iter()
        .map(|l| l["chunk"].as_u64().unwrap())
        .collect::<Vec<_>>();
    seen.sort();
    assert_eq!(seen, [0, 1, 2, 3]);
    assert_eq!(job_status_after(&app, &cookie, &id, 100).await, "completed");
    // Only pushes and replies carried work: nothing else was pushed afterwards.
    assert_eq!(pushed_leases(&published, &node).len(), 2);
    sentinel.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn readyz_names_what_holds_the_sentinel_up() {
    let dir = std::env::temp_dir().join(format!("wowlab-sentinel-ready-{}", JobId::new()));
    std::fs::create_dir_all(&dir).unwrap();
    let sentinel = start(
        &dir.join("sentinel.sqlite"),
        Arc::new(RecordingPublisher::default()),
    )
    .await;
    let app = sentinel.router();
    let body = |resp: axum::response::Response| async {
        let b = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(b.to_vec()).unwrap()
    };
    let resp = app
        .clone()
        .oneshot(user_req("GET", "/readyz", None, Value::Null))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    *sentinel.state().projector_health().lock() =
        Some("results wait in the log: store down".into());
    let resp = app
        .clone()
        .oneshot(user_req("GET", "/readyz", None, Value::Null))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body(resp).await,
        "projector: results wait in the log: store down\n"
    );
    sentinel.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
