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
use crate::domain::{JobId, UnixMillis};
use crate::engine::{ProfileEngine, ValidatedProfile};
use crate::http::SystemClock;
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
            engine: Some(Arc::new(Engine)),
            tokens: None,
            presence: None,
            webhook: None,
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
    let node = NodeKey::generate().unwrap();
    let (s, _, _) = call(
        &app,
        node_req(
            &node,
            "/api/node/register",
            json!({"name": "n", "facts": {"hostname": "h", "version": "0", "cores": 2}}),
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
    let mut status = Value::Null;
    for _ in 0..50 {
        let (_, v, _) = call(
            &app,
            user_req(
                "GET",
                &format!("/api/jobs/{id}"),
                Some(&cookie),
                Value::Null,
            ),
        )
        .await;
        status = v["status"].clone();
        if status == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, "completed");
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
