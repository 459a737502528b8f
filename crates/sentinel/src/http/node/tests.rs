//! End-to-end tests of the node API through the router: real signatures, memory coordinator,
//! in-memory SQLite, a manual clock.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use tower::ServiceExt;
use wowlab_api::signing::{NodeKey, SignedHeaders};

use super::router;
use crate::coordinator::{Coordinator, MemoryCoordinator};
use crate::domain::{JobId, JobStatus, TokenHash, UnixMillis, UserId};
use crate::http::{Clock, ManualClock, NodeApiConfig};
use crate::jobs::{submit, Submission};
use crate::projector::LogEntry;
use crate::publish::{Funnel, RecordingPublisher};
use crate::result_log::ResultLog as _;
use crate::store::{SqliteStore, Store};

const HOST: &str = "sentinel.test";
const START: UnixMillis = UnixMillis(1_800_000_000_000);

struct Grid {
    app: Router,
    state: crate::context::Context,
    clock: Arc<ManualClock>,
    store: Arc<SqliteStore>,
    coord: Arc<MemoryCoordinator>,
    published: Arc<RecordingPublisher>,
    owner: UserId,
    log: tokio::sync::Mutex<Box<dyn crate::result_log::LogSubscription>>,
}

impl Grid {
    async fn new() -> Self {
        let clock = Arc::new(ManualClock::new(START));
        let store = Arc::new(SqliteStore::memory().await.unwrap());
        let coord = Arc::new(MemoryCoordinator::new());
        let published = Arc::new(RecordingPublisher::default());
        let config = NodeApiConfig {
            lease_ttl: Duration::from_secs(30),
            body_limit: 64 * 1024,
            ..NodeApiConfig::default()
        };
        let (state, log) = crate::context::testing::context(
            coord.clone(),
            store.clone(),
            Funnel::new(published.clone()),
            clock.clone(),
            config,
            None,
        );
        let owner = store.create_user("owner@x", "h", START).await.unwrap().id;
        store
            .insert_claim_token(owner, &TokenHash::of("ct_good"), START, None)
            .await
            .unwrap();
        Self {
            app: router(state.clone()),
            state,
            clock,
            store,
            coord,
            published,
            owner,
            log: tokio::sync::Mutex::new(log.subscribe().await.unwrap()),
        }
    }

    async fn job(&self, iterations: u64, chunk_size: u64) -> JobId {
        submit(
            &*self.store,
            &*self.coord,
            Submission {
                owner: self.owner,
                config: "profile".into(),
                config_hash: "hash".into(),
                iterations,
                seed: 42,
                chunk_size,
                public: false,
                chunk_wall_limit_ms: 0,
            },
            3,
            self.clock.now(),
        )
        .await
        .unwrap()
        .id
    }

    fn signed(&self, key: &NodeKey, method: &str, path: &str, body: &[u8]) -> Request<Body> {
        let h = key
            .sign(self.clock.now().0, method, HOST, path, body)
            .unwrap();
        with_headers(&h, method, path, body)
    }

    async fn send_req(&self, req: Request<Body>) -> (StatusCode, Value) {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, v)
    }

    async fn call(
        &self,
        key: &NodeKey,
        method: &str,
        path: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(&body).unwrap()
        };
        let req = self.signed(key, method, path, &bytes);
        self.send_req(req).await
    }

    async fn register(&self, key: &NodeKey, claim: Option<&str>) -> Value {
        let (s, v) = self
            .call(key, "POST", "/api/node/register", register_body(claim, 4))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }

    /// A heartbeat followed, like the node's credit loop, by a lease request for `free` slots;
    /// the answer is the heartbeat's with the newly granted leases under `assigned`.
    async fn heartbeat(&self, key: &NodeKey, active: Value, free: u32) -> Value {
        let (s, mut v) = self
            .call(
                key,
                "POST",
                "/api/node/heartbeat",
                json!({"active": active, "free_slots": free,
                       "metrics": {"load1": 0.5, "mem_used_bytes": 1, "mem_total_bytes": 2,
                                   "sims_per_sec": 0.0}}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let mut assigned = Vec::new();
        if free > 0 {
            let (s, l) = self
                .call(key, "POST", "/api/node/leases", json!({"free_slots": free}))
                .await;
            assert_eq!(s, StatusCode::OK, "{l}");
            let held: Vec<Value> = active.as_array().cloned().unwrap_or_default();
            for x in l["leases"].as_array().unwrap() {
                if !held.contains(&lease_id(x)) {
                    assigned.push(x.clone());
                }
            }
        }
        v["assigned"] = Value::Array(assigned);
        v
    }
}

/// A request carrying exactly these signature headers (sent twice, it is a replay).
fn with_headers(h: &SignedHeaders, method: &str, path: &str, body: &[u8]) -> Request<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", HOST)
        .header("content-type", "application/json");
    for (name, value) in h.pairs() {
        req = req.header(name, value);
    }
    req.body(Body::from(body.to_vec())).unwrap()
}

fn register_body(claim: Option<&str>, cores: u32) -> Value {
    json!({"claim_token": claim, "name": "",
           "facts": {"hostname": "h", "version": "0.1.0", "cores": cores}})
}

fn lease_id(a: &Value) -> Value {
    json!({"job_id": a["job_id"], "chunk": a["chunk"], "fence": a["fence"]})
}

const RESULT: &[u8] = br#"{"sum":12,"n":3}"#;

fn complete_body(a: &Value) -> Value {
    use base64::Engine as _;
    json!({"job_id": a["job_id"], "chunk": a["chunk"], "fence": a["fence"],
           "result_b64": base64::engine::general_purpose::STANDARD.encode(RESULT),
           "elapsed_ms": 5})
}

#[tokio::test]
async fn registration_owned_unowned_idempotent_and_claim_token_checked() {
    let g = Grid::new().await;
    let free = NodeKey::generate().unwrap();
    let r = g.register(&free, None).await;
    assert_eq!(r["owner"], Value::Null);
    let code = r["claim_code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 9);
    // Same key again: same node, nothing moved (even with a valid claim token).
    let again = g.register(&free, Some("ct_good")).await;
    assert_eq!(again["node_id"], r["node_id"]);
    assert_eq!(again["owner"], Value::Null);
    assert_eq!(
        again["claim_code"],
        code.as_str(),
        "the same code while it works"
    );
    let claimed = g
        .store
        .claim_node(&TokenHash::of(&code), g.owner, START)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id.to_string(), r["node_id"].as_str().unwrap());

    let owned = g
        .register(&NodeKey::generate().unwrap(), Some("ct_good"))
        .await;
    assert_eq!(owned["owner"], g.owner.to_string());
    assert_eq!(owned["claim_code"], Value::Null);

    let (s, v) = g
        .call(
            &NodeKey::generate().unwrap(),
            "POST",
            "/api/node/register",
            register_body(Some("ct_wrong"), 4),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, _) = g
        .call(
            &NodeKey::generate().unwrap(),
            "POST",
            "/api/node/register",
            register_body(None, 0),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn replayed_tampered_oversized_and_unknown_requests_are_refused() {
    let g = Grid::new().await;
    let key = NodeKey::generate().unwrap();
    g.register(&key, Some("ct_good")).await;
    let body = serde_json::to_vec(&json!({"free_slots": 0})).unwrap();
    let req = g.signed(&key, "POST", "/api/node/leases", &body);
    let mut replay = Request::builder().method("POST").uri("/api/node/leases");
    for (k, v) in req.headers() {
        replay = replay.header(k, v);
    }
    let replay = replay.body(Body::from(body.clone())).unwrap();
    let (s, _) = g.send_req(req).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = g.send_req(replay).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"]["code"], "replayed");

    // Body changed after signing.
    let mut tampered = g.signed(&key, "POST", "/api/node/leases", &body);
    *tampered.body_mut() = Body::from(&br#"{"free_slots": 9}"#[..]);
    let (s, v) = g.send_req(tampered).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_signature"))
    );

    // Signed for another path.
    let mut moved = g.signed(&key, "POST", "/api/node/heartbeat", &body);
    *moved.uri_mut() = "/api/node/leases".parse().unwrap();
    let (s, _) = g.send_req(moved).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Too old.
    let old = g.signed(&key, "POST", "/api/node/leases", &body);
    g.clock.advance_ms(61_000);
    let (s, v) = g.send_req(old).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_signature"))
    );

    let big = vec![b' '; 65 * 1024];
    let (s, _) = g
        .send_req(g.signed(&key, "POST", "/api/node/leases", &big))
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);

    let (s, v) = g
        .call(
            &NodeKey::generate().unwrap(),
            "POST",
            "/api/node/leases",
            json!({"free_slots": 1}),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unknown_node"))
    );

    let (s, _) = g
        .call(&key, "POST", "/api/node/leases", json!({"free_slots": "x"}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let unsigned = Request::builder()
        .method("POST")
        .uri("/api/node/leases")
        .body(Body::from(body))
        .unwrap();
    let (s, _) = g.send_req(unsigned).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn chunks_flow_from_heartbeat_to_completion() {
    let g = Grid::new().await;
    let a = NodeKey::generate().unwrap();
    let b = NodeKey::generate().unwrap();
    g.register(&a, Some("ct_good")).await;
    g.register(&b, Some("ct_good")).await;
    let job = g.job(25, 10).await;

    let hb = g.heartbeat(&a, json!([]), 2).await;
    let assigned = hb["assigned"].as_array().unwrap().clone();
    assert_eq!(assigned.len(), 2);
    assert_eq!(assigned[0]["job_id"], job.to_string());
    assert_eq!(
        (
            assigned[0]["iter_start"].as_u64(),
            assigned[0]["iter_end"].as_u64()
        ),
        (Some(0), Some(10))
    );
    assert_eq!(
        (
            assigned[1]["iter_start"].as_u64(),
            assigned[1]["iter_end"].as_u64()
        ),
        (Some(10), Some(20))
    );
    assert_eq!(assigned[0]["seed"], 42);
    assert_eq!(assigned[0]["config_hash"], "hash");

    // Resync returns the same leases.
    let (s, cur) = g.call(&a, "GET", "/api/node/leases", Value::Null).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(cur["leases"].as_array().unwrap(), &assigned);

    // A heartbeat extends them.
    g.clock.advance_ms(20_000);
    let active: Vec<Value> = assigned.iter().map(lease_id).collect();
    let hb = g.heartbeat(&a, json!(active), 0).await;
    assert_eq!(hb["extended"].as_array().unwrap().len(), 2);
    assert_eq!(hb["extended"][0]["expires_at_ms"], START.0 + 50_000);
    assert!(hb["cancelled"].as_array().unwrap().is_empty());

    let (s, last) = g
        .call(&b, "POST", "/api/node/leases", json!({"free_slots": 8}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let last = last["leases"][0].clone();
    assert_eq!(
        (last["iter_start"].as_u64(), last["iter_end"].as_u64()),
        (Some(20), Some(25))
    );

    for x in &assigned {
        let (s, v) = g
            .call(&a, "POST", "/api/node/chunks/complete", complete_body(x))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["accepted"], true);
    }
    // A retried POST of a finished chunk is harmless.
    let (s, v) = g
        .call(
            &a,
            "POST",
            "/api/node/chunks/complete",
            complete_body(&assigned[0]),
        )
        .await;
    assert_eq!((s, v["accepted"].as_bool()), (StatusCode::OK, Some(false)));
    let (s, v) = g
        .call(
            &b,
            "POST",
            "/api/node/chunks/complete",
            complete_body(&last),
        )
        .await;
    assert_eq!((s, v["accepted"].as_bool()), (StatusCode::OK, Some(true)));
    assert_eq!(g.coord.job_progress(job).await.unwrap().done, 3);

    let results = g.store.chunk_results(job).await.unwrap();
    assert_eq!(results.len(), 3);
    // Each completion reached the projector's log once; the duplicate did not.
    let mut logged = Vec::new();
    while let Some(d) = g.log.lock().await.try_next().await.unwrap() {
        if let LogEntry::Result { chunk, .. } = d.entry {
            logged.push(chunk.0);
        }
    }
    logged.sort();
    assert_eq!(logged, [0, 1, 2]);
    // Stored byte for byte as sent.
    assert_eq!(results[0].result, RESULT);
}

#[tokio::test]
async fn late_result_on_expired_and_reassigned_lease_gets_409() {
    let g = Grid::new().await;
    let slow = NodeKey::generate().unwrap();
    let fast = NodeKey::generate().unwrap();
    g.register(&slow, Some("ct_good")).await;
    let fast_id = g.register(&fast, Some("ct_good")).await["node_id"].clone();
    let job = g.job(10, 10).await;
    let old = g.heartbeat(&slow, json!([]), 1).await["assigned"][0].clone();
    g.clock.advance_ms(31_000);
    assert_eq!(
        g.coord.reclaim_expired(g.clock.now()).await.unwrap().len(),
        1
    );
    let new = g.heartbeat(&fast, json!([]), 1).await["assigned"][0].clone();
    assert_eq!(new["chunk"], old["chunk"]);

    let (s, v) = g
        .call(
            &slow,
            "POST",
            "/api/node/chunks/complete",
            complete_body(&old),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"]["code"], "stale_lease");
    // The slow node's heartbeat tells it to drop the work.
    let hb = g.heartbeat(&slow, json!([lease_id(&old)]), 0).await;
    assert_eq!(hb["cancelled"].as_array().unwrap().len(), 1);
    // Nothing was stored for the stale lease; the current holder's result is.
    assert!(g.store.chunk_results(job).await.unwrap().is_empty());
    let (s, _) = g
        .call(
            &fast,
            "POST",
            "/api/node/chunks/complete",
            complete_body(&new),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let stored = g.store.chunk_results(job).await.unwrap();
    assert_eq!(
        stored[0].node.map(|n| n.to_string()),
        fast_id.as_str().map(str::to_owned)
    );
}

#[tokio::test]
async fn failing_chunk_moves_nodes_then_fails_the_job_with_reason() {
    let g = Grid::new().await;
    let keys: Vec<NodeKey> = (0..3).map(|_| NodeKey::generate().unwrap()).collect();
    let mut ids = Vec::new();
    for k in &keys {
        ids.push(g.register(k, Some("ct_good")).await["node_id"].clone());
    }
    let job = g.job(20, 10).await;
    // Node 2 holds chunk 1 the whole time; chunk 0 keeps failing.
    let first = g.heartbeat(&keys[0], json!([]), 1).await["assigned"][0].clone();
    let bystander = g.heartbeat(&keys[2], json!([]), 1).await["assigned"][0].clone();
    assert_eq!(
        (first["chunk"].as_u64(), bystander["chunk"].as_u64()),
        (Some(0), Some(1))
    );
    g.heartbeat(&keys[1], json!([]), 0).await;

    let fail = |a: &Value, why: &str| json!({"job_id": a["job_id"], "chunk": a["chunk"], "fence": a["fence"], "reason": why});
    let (s, v) = g
        .call(
            &keys[0],
            "POST",
            "/api/node/chunks/fail",
            fail(&first, "panic 1"),
        )
        .await;
    assert_eq!((s, v["action"].as_str()), (StatusCode::OK, Some("retry")));
    // Not back to the node that just failed it while node 1 is alive.
    assert!(g.heartbeat(&keys[0], json!([]), 1).await["assigned"]
        .as_array()
        .unwrap()
        .is_empty());
    let second = g.heartbeat(&keys[1], json!([]), 1).await["assigned"][0].clone();
    assert_eq!(second["chunk"], 0);
    g.call(
        &keys[1],
        "POST",
        "/api/node/chunks/fail",
        fail(&second, "panic 2"),
    )
    .await;
    let third = g.heartbeat(&keys[0], json!([]), 1).await["assigned"][0].clone();
    assert_eq!(third["chunk"], 0);
    let (s, v) = g
        .call(
            &keys[0],
            "POST",
            "/api/node/chunks/fail",
            fail(&third, "stack overflow in rotation"),
        )
        .await;
    assert_eq!(
        (s, v["action"].as_str()),
        (StatusCode::OK, Some("job_failed"))
    );

    let stored = g.store.job(job).await.unwrap().unwrap();
    assert_eq!(stored.status, JobStatus::Failed);
    let reason = stored.failure_reason.unwrap();
    assert!(
        reason.contains("stack overflow in rotation") && reason.contains("3 times"),
        "{reason}"
    );
    // The bystander's lease was revoked on its channel, then the ending went out on the
    // job's channel with the reason (a page watching it learns at once).
    // (Node status flips from the first heartbeats aside.)
    let sent: Vec<_> = g
        .published
        .sent()
        .into_iter()
        .filter(|(c, _)| !c.starts_with("nodes:"))
        .collect();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0].0, format!("chunks:{}", ids[2].as_str().unwrap()));
    let push: Value = serde_json::from_slice(&sent[0].1).unwrap();
    assert_eq!(
        (push["type"].as_str(), push["chunk"].as_u64()),
        (Some("cancel"), Some(1))
    );
    assert_eq!(sent[1].0, format!("jobs:{job}"));
    let ended: Value = serde_json::from_slice(&sent[1].1).unwrap();
    assert_eq!(
        (ended["type"].as_str(), ended["status"].as_str()),
        (Some("finished"), Some("failed"))
    );
    assert!(ended["reason"]
        .as_str()
        .unwrap()
        .contains("stack overflow in rotation"));
    // Nothing of the job stays in this instance's memory: the projector was told to forget it.
    let mut ended_seen = false;
    while let Some(d) = g.log.lock().await.try_next().await.unwrap() {
        ended_seen |= d.entry == LogEntry::Ended(job);
    }
    assert!(ended_seen, "the projector is told the job ended");
    let (s, _) = g
        .call(
            &keys[2],
            "POST",
            "/api/node/chunks/complete",
            complete_body(&bystander),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
}

#[tokio::test]
async fn draining_nodes_get_no_work_and_unlink_returns_leases() {
    let g = Grid::new().await;
    let key = NodeKey::generate().unwrap();
    let id: crate::domain::NodeId = g.register(&key, Some("ct_good")).await["node_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let job = g.job(40, 10).await;
    let held: Vec<Value> = g.heartbeat(&key, json!([]), 2).await["assigned"]
        .as_array()
        .unwrap()
        .iter()
        .map(lease_id)
        .collect();
    assert_eq!(held.len(), 2);
    g.store
        .update_node_settings(
            id,
            g.owner,
            crate::store::NodeSettings {
                draining: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let hb = g.heartbeat(&key, json!(held), 2).await;
    assert_eq!(hb["settings"]["drain"], true);
    assert!(hb["assigned"].as_array().unwrap().is_empty());
    // Draining: no dispatch credit, and a completion's freed slot is not refilled.
    assert!(!g.coord.credited_nodes().await.unwrap().contains(&id));
    let mut body = complete_body(&held[0]);
    body["refill"] = json!(true);
    let (s, v) = g
        .call(&key, "POST", "/api/node/chunks/complete", body)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v.get("leases").is_none(), "{v}");
    assert!(!g.coord.credited_nodes().await.unwrap().contains(&id));
    let (s, _) = g.call(&key, "POST", "/api/node/unlink", Value::Null).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(g.coord.job_progress(job).await.unwrap().pending, 3);
    assert!(g.store.node_by_id(id).await.unwrap().is_none());
    let (s, _) = g
        .call(&key, "POST", "/api/node/leases", json!({"free_slots": 1}))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn node_gets_a_beacon_token_for_its_own_channels() {
    let g = Grid::new().await;
    let key = NodeKey::generate().unwrap();
    let unowned = NodeKey::generate().unwrap();
    g.register(&unowned, None).await;
    let (s, v) = g
        .call(&unowned, "POST", "/api/node/token", Value::Null)
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_claimed"))
    );
    let id = g.register(&key, Some("ct_good")).await["node_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, v) = g.call(&key, "POST", "/api/node/token", Value::Null).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["expires_at_ms"], START.0 + 86_400_000);
    assert_eq!(v["node_id"], id);
    assert!(v["beacon_url"].as_str().unwrap().starts_with("ws"));
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<crate::tokens::ConnectionClaims>(
        v["token"].as_str().unwrap(),
        &jsonwebtoken::DecodingKey::from_secret(b"test-secret"),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims.sub, id);
    assert!(claims.channels.contains(&format!("chunks:{id}")));
    let (s, _) = g
        .call(
            &NodeKey::generate().unwrap(),
            "POST",
            "/api/node/token",
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn batch_completion_answers_each_result_in_order() {
    let g = Grid::new().await;
    let a = NodeKey::generate().unwrap();
    let b = NodeKey::generate().unwrap();
    g.register(&a, Some("ct_good")).await;
    g.register(&b, Some("ct_good")).await;
    let job = g.job(50, 10).await;
    let mine = g.heartbeat(&a, json!([]), 4).await["assigned"]
        .as_array()
        .unwrap()
        .clone();
    let theirs = g.heartbeat(&b, json!([]), 1).await["assigned"][0].clone();
    let mut results: Vec<Value> = mine.iter().map(complete_body).collect();
    // Someone else's lease in the middle, and a duplicate of the first at the end.
    results.insert(2, complete_body(&theirs));
    results.push(complete_body(&mine[0]));
    let (s, v) = g
        .call(
            &a,
            "POST",
            "/api/node/chunks/complete-batch",
            json!({ "results": results }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let statuses: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(statuses.len(), 6);
    assert_eq!(statuses[2], "stale");
    assert_eq!(statuses.iter().filter(|s| **s == "accepted").count(), 4);
    // The duplicate is either the first or the second write of chunk 0; exactly one completes.
    assert!(matches!(statuses[5], "already_done" | "accepted"));
    assert_eq!(g.store.chunk_results(job).await.unwrap().len(), 4);
    assert_eq!(g.coord.job_progress(job).await.unwrap().done, 4);
    let too_many: Vec<Value> = (0..1025).map(|_| complete_body(&mine[0])).collect();
    let (s, _) = g
        .call(
            &a,
            "POST",
            "/api/node/chunks/complete-batch",
            json!({ "results": too_many }),
        )
        .await;
    // Refused by the count limit or, with this test's 64 KiB cap, already by the size limit.
    assert!(
        matches!(s, StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE),
        "{s}"
    );
}

/// A node registered with its own cap of 1 on 4 cores is credited at most 1 + MAX_PREFETCH
/// leases (not 4 + MAX_PREFETCH); a heartbeat raising the cap raises the limit, capped by the
/// owner's setting; a cap of 0 or beyond 1024 is refused with 400 at registration and in a
/// heartbeat.
#[tokio::test]
async fn credit_stays_within_the_nodes_own_cap_and_bad_caps_are_refused() {
    use wowlab_api::node::MAX_PREFETCH;
    let g = Grid::new().await;
    let key = NodeKey::generate().unwrap();
    let mut body = register_body(Some("ct_good"), 4);
    body["facts"]["local_max_parallel"] = json!(1);
    let (s, v) = g.call(&key, "POST", "/api/node/register", body).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Enough chunks and asked slots that only the credit limit bounds the grants.
    g.job(10_000, 10).await;

    let (s, v) = g
        .call(
            &key,
            "POST",
            "/api/node/leases",
            json!({"free_slots": 1000}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let held = v["leases"].as_array().unwrap().clone();
    assert_eq!(held.len() as u32, 1 + MAX_PREFETCH);

    // Restarted with --max-parallel 3: the heartbeat's cap counts at once.
    let active: Vec<Value> = held.iter().map(lease_id).collect();
    let (s, v) = g
        .call(
            &key,
            "POST",
            "/api/node/heartbeat",
            json!({"active": active, "free_slots": 0, "running": 1, "local_max_parallel": 3,
                   "metrics": {"load1": 0.5, "mem_used_bytes": 1, "mem_total_bytes": 2,
                               "sims_per_sec": 0.0}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["settings"]["max_parallel"], 4);
    let (s, v) = g
        .call(
            &key,
            "POST",
            "/api/node/leases",
            json!({"free_slots": 1000}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["leases"].as_array().unwrap().len() as u32,
        held.len() as u32 + 3 + MAX_PREFETCH
    );
    let node = g.store.node_by_public_key(&key.public_base64()).await;
    let node = node.unwrap().unwrap();
    assert_eq!(
        (
            node.local_max_parallel,
            node.capacity(),
            node.load.running_chunks
        ),
        (Some(3), 3, Some(1))
    );

    for bad in [0, 1025] {
        let other = NodeKey::generate().unwrap();
        let mut body = register_body(Some("ct_good"), 4);
        body["facts"]["local_max_parallel"] = json!(bad);
        let (s, v) = g.call(&other, "POST", "/api/node/register", body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("local_max_parallel")),
            "{v}"
        );
        let (s, v) = g
            .call(
                &key,
                "POST",
                "/api/node/heartbeat",
                json!({"active": [], "free_slots": 0, "local_max_parallel": bad,
                       "metrics": {"load1": 0.5, "mem_used_bytes": 1, "mem_total_bytes": 2,
                                   "sims_per_sec": 0.0}}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    }
}

#[tokio::test]
async fn an_unclaimed_node_gets_no_work_no_profile_and_cannot_post_results() {
    let g = Grid::new().await;
    let job = g.job(100, 10).await;
    let stranger = NodeKey::generate().unwrap();
    assert_eq!(g.register(&stranger, None).await["owner"], Value::Null);
    // It may heartbeat (and show its claim code), but its free slots are no credit.
    let (s, v) = g
        .call(
            &stranger,
            "POST",
            "/api/node/heartbeat",
            json!({"active": [], "free_slots": 8,
                   "metrics": {"load1": 0.0, "mem_used_bytes": 1, "mem_total_bytes": 2,
                               "sims_per_sec": 0.0}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(g.coord.credited_nodes().await.unwrap().is_empty());
    let fake = json!({"job_id": job, "chunk": 0, "fence": 1});
    let refused = [
        ("POST", "/api/node/leases", json!({"free_slots": 4})),
        ("GET", "/api/node/leases", Value::Null),
        ("POST", "/api/node/config", json!({"config_hash": "hash"})),
        ("POST", "/api/node/chunks/complete", complete_body(&fake)),
        (
            "POST",
            "/api/node/chunks/complete-batch",
            json!({"results": [complete_body(&fake)], "refill": true}),
        ),
        (
            "POST",
            "/api/node/chunks/fail",
            json!({"job_id": job, "chunk": 0, "fence": 1, "reason": "x"}),
        ),
    ];
    for (method, path, body) in refused {
        let (s, v) = g.call(&stranger, method, path, body).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("not_claimed")),
            "{method} {path}: {v}"
        );
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("claim this node first"));
    }
    // Nothing was leased to anyone.
    assert_eq!(g.coord.job_progress(job).await.unwrap().leased, 0);
}

#[tokio::test]
async fn a_profile_goes_only_to_a_node_holding_a_lease_of_its_job() {
    let g = Grid::new().await;
    let _job = g.job(100, 10).await;
    let (worker, idle) = (NodeKey::generate().unwrap(), NodeKey::generate().unwrap());
    g.register(&worker, Some("ct_good")).await;
    g.register(&idle, Some("ct_good")).await;
    let hb = g.heartbeat(&worker, json!([]), 1).await;
    assert_eq!(hb["assigned"].as_array().unwrap().len(), 1);
    let (s, v) = g
        .call(
            &worker,
            "POST",
            "/api/node/config",
            json!({"config_hash": "hash"}),
        )
        .await;
    assert_eq!(
        (s, v["profile"].as_str()),
        (StatusCode::OK, Some("profile"))
    );
    let (s, v) = g
        .call(
            &idle,
            "POST",
            "/api/node/config",
            json!({"config_hash": "hash"}),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden")),
        "{v}"
    );
}

#[tokio::test]
async fn unregistered_keys_leave_no_nonces_and_old_signatures_are_refused() {
    let g = Grid::new().await;
    // Neither a registration refused for a bad claim token nor requests signed by a key
    // nobody registered put anything in the replay cache.
    let key = NodeKey::generate().unwrap();
    let body = serde_json::to_vec(&register_body(Some("ct_bad"), 4)).unwrap();
    let req = || g.signed(&key, "POST", "/api/node/register", &body);
    let (s, _) = g.send_req(req()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let stranger = NodeKey::generate().unwrap();
    for _ in 0..50 {
        let (s, _) = g
            .call(
                &stranger,
                "POST",
                "/api/node/heartbeat",
                json!({"active": [], "free_slots": 1,
                       "metrics": {"load1": 0.0, "mem_used_bytes": 1, "mem_total_bytes": 2,
                                   "sims_per_sec": 0.0}}),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(g.coord.nonce_count(), 0);
    // A registered key's nonces are remembered, and a replayed registration is refused.
    let ok = serde_json::to_vec(&register_body(None, 4)).unwrap();
    let h = key
        .sign(g.clock.now().0, "POST", HOST, "/api/node/register", &ok)
        .unwrap();
    let build = || with_headers(&h, "POST", "/api/node/register", &ok);
    let (signed_once, again) = (build(), build());
    let (s, _) = g.send_req(signed_once).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(g.coord.nonce_count(), 1);
    let (s, v) = g.send_req(again).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("replayed")),
        "{v}"
    );
    // Signed before this instance started: refused with a code the node retries on.
    let h = key
        .sign(g.clock.now().0 - 1, "GET", HOST, "/api/node/leases", b"")
        .unwrap();
    let (s, v) = g
        .send_req(with_headers(&h, "GET", "/api/node/leases", b""))
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("signed_before_start")),
        "{v}"
    );
}

#[tokio::test]
async fn tunnel_credentials_cover_only_the_claimed_nodes_own_subjects() {
    use wowlab_tunnel::creds::{jwt, AccountSigner, OperatorSetup};
    use wowlab_tunnel::subject::HostSubjects;

    let g = Grid::new().await;
    let key = NodeKey::generate().unwrap();
    let id = g.register(&key, Some("ct_good")).await["node_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = wowlab_api::node::PATH_TUNNEL_CREDENTIALS;
    // No signing key: the node is told to connect without credentials.
    let (s, v) = g.call(&key, "POST", path, Value::Null).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["jwt"], Value::Null);

    let setup = OperatorSetup::generate(START.0).unwrap();
    g.state
        .set_node_tunnel_creds(crate::nats_creds::NodeCredsMinter::new(
            AccountSigner::new(&setup.account, &setup.signing_seed).unwrap(),
            Duration::from_secs(300),
        ));
    let (s, v) = g.call(&key, "POST", path, Value::Null).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["node_id"], id);
    assert_eq!(v["issued_at_ms"], START.0);
    assert_eq!(v["expires_at_ms"], START.0 + 300_000);
    let own = HostSubjects::new(&id).unwrap();
    assert_eq!(v["inbox_prefix"], own.inbox_prefix());
    let claims = jwt::decode_claims(v["jwt"].as_str().unwrap()).unwrap();
    assert_eq!(claims["nats"]["issuer_account"], setup.account);
    assert_eq!(claims["nats"]["sub"]["allow"][0], own.start());
    assert_eq!(
        claims["nats"]["pub"]["allow"][0],
        own.responder_publish_allow()[0]
    );

    // Unclaimed and unknown keys get nothing.
    let unowned = NodeKey::generate().unwrap();
    g.register(&unowned, None).await;
    let (s, v) = g.call(&unowned, "POST", path, Value::Null).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_claimed"))
    );
    let (s, _) = g
        .call(&NodeKey::generate().unwrap(), "POST", path, Value::Null)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}
