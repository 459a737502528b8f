//! End-to-end tests of the user API through the router.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tower::ServiceExt;

use crate::coordinator::{Coordinator, MemoryCoordinator};
use crate::domain::{JobId, NodeId, TokenHash, UnixMillis};
use crate::engine::{ProfileEngine, ValidatedProfile};
use crate::http::{router, AppState, ManualClock, NodeApiConfig};
use crate::publish::{Funnel, RecordingPublisher};
use crate::store::{NewNode, SqliteStore, Store};
use crate::tokens::TokenMinter;

struct FakeEngine;

impl ProfileEngine for FakeEngine {
    fn validate(&self, profile: &str) -> Result<ValidatedProfile, String> {
        if profile.contains("bad") {
            return Err("line 1: unknown ability".into());
        }
        Ok(ValidatedProfile {
            content_hash: hex::encode(Sha256::digest(profile.as_bytes())),
            iteration_cost_ns: 1_000_000,
        })
    }
}

struct App {
    app: Router,
    store: Arc<SqliteStore>,
    coord: Arc<MemoryCoordinator>,
    published: Arc<RecordingPublisher>,
}

impl App {
    async fn new() -> Self {
        let store = Arc::new(SqliteStore::memory().await.unwrap());
        let coord = Arc::new(MemoryCoordinator::new());
        let published = Arc::new(RecordingPublisher::default());
        let state = AppState::new(
            coord.clone(),
            store.clone(),
            Funnel::new(published.clone()),
            Arc::new(ManualClock::new(UnixMillis(1_800_000_000_000))),
            NodeApiConfig::default(),
        )
        .with_tokens(TokenMinter::new(b"secret"))
        .with_engine(Arc::new(FakeEngine));
        Self {
            app: router(state),
            store,
            coord,
            published,
        }
    }

    /// Sends a request with an optional credential header (`cookie` or bearer).
    async fn send(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Value,
    ) -> (StatusCode, Value, Option<String>) {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        if let Some(a) = auth {
            req = if let Some(tok) = a.strip_prefix("bearer:") {
                req.header("authorization", format!("Bearer {tok}"))
            } else {
                req.header("cookie", a)
            };
        }
        let body = if body.is_null() {
            Body::empty()
        } else {
            Body::from(serde_json::to_vec(&body).unwrap())
        };
        let resp = self
            .app
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let cookie = resp
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, v, cookie)
    }

    /// Signs up and returns the `cookie` header value for the session.
    async fn user(&self, email: &str) -> String {
        let (s, v, cookie) = self
            .send(
                "POST",
                "/api/auth/signup",
                None,
                json!({"email": email, "password": "hunter22!"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let cookie = cookie.unwrap();
        cookie.split(';').next().unwrap().to_owned()
    }

    async fn job(&self, who: &str, public: bool) -> Value {
        let (s, v, _) = self
            .send(
                "POST",
                "/api/jobs",
                Some(who),
                json!({"profile": "rotation ok", "iterations": 10_000, "seed": 7, "public": public}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v
    }
}

#[tokio::test]
async fn accounts_sessions_and_api_tokens() {
    let a = App::new().await;
    let alice = a.user(" Alice@Example.org ").await;
    let bob = a.user("bob@example.org").await;
    let (_, me, _) = a
        .send("GET", "/api/auth/me", Some(&alice), Value::Null)
        .await;
    assert_eq!(
        (me["email"].as_str(), me["isAdmin"].as_bool()),
        (Some("alice@example.org"), Some(true))
    );
    let (_, me, _) = a.send("GET", "/api/auth/me", Some(&bob), Value::Null).await;
    assert_eq!(me["isAdmin"], false);
    let stored = a
        .store
        .user_by_email("alice@example.org")
        .await
        .unwrap()
        .unwrap();
    assert!(stored.password_hash.starts_with("$argon2id$"));

    let (s, _, _) = a
        .send(
            "POST",
            "/api/auth/signup",
            None,
            json!({"email": "ALICE@example.org", "password": "whatever1"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _, _) = a
        .send(
            "POST",
            "/api/auth/signup",
            None,
            json!({"email": "c@x.org", "password": "short"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, v, _) = a
        .send(
            "POST",
            "/api/auth/login",
            None,
            json!({"email": "alice@example.org", "password": "nope"}),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_credentials"))
    );
    let (s, _, cookie) = a
        .send(
            "POST",
            "/api/auth/login",
            None,
            json!({"email": "alice@example.org", "password": "hunter22!"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let second = cookie.unwrap().split(';').next().unwrap().to_owned();
    assert_ne!(second, alice);

    let (s, _, _) = a.send("GET", "/api/auth/me", None, Value::Null).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = a
        .send(
            "GET",
            "/api/auth/me",
            Some("wowlab_session=forged"),
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let (s, _, cleared) = a
        .send("POST", "/api/auth/logout", Some(&alice), Value::Null)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(cleared.unwrap().contains("Max-Age=0"));
    let (s, _, _) = a
        .send("GET", "/api/auth/me", Some(&alice), Value::Null)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = a
        .send("GET", "/api/auth/me", Some(&second), Value::Null)
        .await;
    assert_eq!(s, StatusCode::OK);

    // API tokens for the CLI.
    let (s, created, _) = a
        .send(
            "POST",
            "/api/tokens",
            Some(&second),
            json!({"name": "laptop"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let bearer = format!("bearer:{}", created["token"].as_str().unwrap());
    let (s, me, _) = a
        .send("GET", "/api/auth/me", Some(&bearer), Value::Null)
        .await;
    assert_eq!(
        (s, me["email"].as_str()),
        (StatusCode::OK, Some("alice@example.org"))
    );
    let (_, list, _) = a
        .send("GET", "/api/tokens", Some(&bearer), Value::Null)
        .await;
    assert_eq!(list[0]["name"], "laptop");
    assert_eq!(list[0]["hash"], created["id"]);
    // A session secret is not accepted as a bearer API token.
    let session_secret = second.split_once('=').unwrap().1;
    let (s, _, _) = a
        .send(
            "GET",
            "/api/auth/me",
            Some(&format!("bearer:{session_secret}")),
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let path = format!("/api/tokens/{}", created["id"].as_str().unwrap());
    let (s, _, _) = a.send("DELETE", &path, Some(&bob), Value::Null).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = a.send("DELETE", &path, Some(&second), Value::Null).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = a
        .send("GET", "/api/auth/me", Some(&bearer), Value::Null)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn jobs_are_validated_scheduled_private_and_cancellable() {
    let a = App::new().await;
    let alice = a.user("alice@x.org").await;
    let bob = a.user("bob@x.org").await;
    let (s, v, _) = a
        .send(
            "POST",
            "/api/jobs",
            Some(&alice),
            json!({"profile": "bad rotation", "iterations": 100}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("unknown ability"));
    let (s, _, _) = a
        .send(
            "POST",
            "/api/jobs",
            Some(&alice),
            json!({"profile": "ok", "iterations": 0}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, _) = a
        .send(
            "POST",
            "/api/jobs",
            None,
            json!({"profile": "ok", "iterations": 5}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let job = a.job(&alice, false).await;
    assert_eq!(job["status"], "running");
    // 1 ms per iteration → 1000 iterations per chunk.
    assert_eq!(
        (job["chunkSize"].as_u64(), job["chunkCount"].as_u64()),
        (Some(1000), Some(10))
    );
    assert_eq!(job["progress"]["pending"], 10);
    let id = job["id"].as_str().unwrap().to_owned();
    let job_id: JobId = id.parse().unwrap();
    assert_eq!(a.coord.job_progress(job_id).await.unwrap().pending, 10);

    let (s, _, _) = a
        .send("GET", &format!("/api/jobs/{id}"), Some(&bob), Value::Null)
        .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "private jobs are invisible to others"
    );
    let (s, _, _) = a
        .send("GET", "/api/jobs/not-a-uuid", Some(&alice), Value::Null)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v, _) = a
        .send("GET", &format!("/api/jobs/{id}"), Some(&alice), Value::Null)
        .await;
    assert_eq!((s, v["seed"].as_u64()), (StatusCode::OK, Some(7)));
    let (_, list, _) = a.send("GET", "/api/jobs", Some(&alice), Value::Null).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (s, _, _) = a
        .send(
            "GET",
            &format!("/api/jobs/{id}/result"),
            Some(&alice),
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Public jobs are readable but not cancellable by others.
    let public = a.job(&alice, true).await;
    let pid = public["id"].as_str().unwrap();
    let (s, _, _) = a
        .send("GET", &format!("/api/jobs/{pid}"), Some(&bob), Value::Null)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = a
        .send(
            "POST",
            &format!("/api/jobs/{pid}/cancel"),
            Some(&bob),
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // A leased chunk is revoked on its node's channel when the owner cancels.
    let node = NodeId::new();
    let lease = a
        .coord
        .lease(
            node,
            1,
            std::time::Duration::from_secs(30),
            UnixMillis(1_800_000_000_000),
        )
        .await
        .unwrap();
    assert_eq!(lease.len(), 1);
    let leased_job = lease[0].job.to_string();
    let (s, v, _) = a
        .send(
            "POST",
            &format!("/api/jobs/{leased_job}/cancel"),
            Some(&alice),
            Value::Null,
        )
        .await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("cancelled"))
    );
    assert!(a.coord.job_progress(lease[0].job).await.is_err());
    let sent = a.published.sent();
    assert!(sent.iter().any(|(c, _)| c == &format!("chunks:{node}")));
    assert!(sent.iter().any(|(c, _)| c == &format!("jobs:{leased_job}")));
    let (s, _, _) = a
        .send(
            "POST",
            &format!("/api/jobs/{leased_job}/cancel"),
            Some(&alice),
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
}

#[tokio::test]
async fn owner_makes_a_job_public_after_submission_others_get_404() {
    let a = App::new().await;
    let alice = a.user("alice@x").await;
    let bob = a.user("bob@x").await;
    let job = a.job(&alice, false).await;
    let id = job["id"].as_str().unwrap();
    let path = format!("/api/jobs/{id}/visibility");
    let get = format!("/api/jobs/{id}");
    let (s, _, _) = a.send("GET", &get, Some(&bob), Value::Null).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Not the owner: 404, and nothing changes.
    let (s, _, _) = a
        .send("POST", &path, Some(&bob), json!({"public": true}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = a.send("GET", &get, Some(&bob), Value::Null).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = a.send("POST", &path, None, json!({"public": true})).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = a
        .send(
            "POST",
            "/api/jobs/not-an-id/visibility",
            Some(&alice),
            json!({"public": true}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // The owner makes it public: others can read it, not cancel it.
    let (s, v, _) = a
        .send("POST", &path, Some(&alice), json!({"public": true}))
        .await;
    assert_eq!((s, v["public"].as_bool()), (StatusCode::OK, Some(true)));
    let (s, v, _) = a.send("GET", &get, Some(&bob), Value::Null).await;
    assert_eq!((s, v["public"].as_bool()), (StatusCode::OK, Some(true)));
    let (s, _, _) = a
        .send("POST", &format!("{get}/cancel"), Some(&bob), Value::Null)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Private again: hidden again.
    let (s, v, _) = a
        .send("POST", &path, Some(&alice), json!({"public": false}))
        .await;
    assert_eq!((s, v["public"].as_bool()), (StatusCode::OK, Some(false)));
    let (s, _, _) = a.send("GET", &get, Some(&bob), Value::Null).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn result_is_the_report_json_and_aggregate_the_exact_bytes() {
    use crate::domain::JobStatus;
    use crate::store::{Store, TransitionData};
    let a = App::new().await;
    let alice = a.user("alice@x.org").await;
    let job = a.job(&alice, false).await;
    let id: crate::domain::JobId = job["id"].as_str().unwrap().parse().unwrap();
    let profile = wowlab_sim::compile_str(include_str!(
        "../../../../../examples/profiles/pet-procs.toml"
    ))
    .unwrap();
    let merged = wowlab_sim::run_chunk(&profile, 9, 0..20);
    let bytes = merged.encode();
    let stored = a.store.job(id).await.unwrap().unwrap();
    let now = UnixMillis(1_800_000_000_000);
    // Submission schedules the job, so it is running already.
    assert_eq!(stored.status, JobStatus::Running);
    a.store
        .transition_job(
            id,
            JobStatus::Running,
            JobStatus::Completed,
            stored.version,
            TransitionData {
                result: Some(bytes.clone()),
                failure_reason: None,
            },
            now,
        )
        .await
        .unwrap();
    let (s, v, _) = a
        .send(
            "GET",
            &format!("/api/jobs/{id}/result"),
            Some(&alice),
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // The sim's report (floats compared loosely: JSON text round-trips the last ulp).
    let want = merged.report();
    assert_eq!(v["iterations"], 20);
    let mean = v["mean_dps"].as_f64().unwrap();
    assert!(
        (mean - want.mean_dps).abs() < 1e-6 * want.mean_dps,
        "{mean}"
    );
    assert_eq!(
        v["abilities"].as_array().unwrap().len(),
        want.abilities.len()
    );

    let req = Request::builder()
        .uri(format!("/api/jobs/{id}/aggregate"))
        .header("cookie", &alice)
        .body(Body::empty())
        .unwrap();
    let resp = a.app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/octet-stream");
    let raw = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(&raw[..], &bytes[..]);
    let (s, _, _) = a
        .send(
            "GET",
            &format!("/api/jobs/{id}/aggregate"),
            Some(&a.user("bob@x.org").await),
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn job_tokens_only_for_readable_jobs() {
    let a = App::new().await;
    let alice = a.user("alice@x.org").await;
    let bob = a.user("bob@x.org").await;
    let id = a.job(&alice, false).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/realtime/job-token?jobId={id}");
    let (s, v, _) = a.send("GET", &path, Some(&alice), Value::Null).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["channel"], format!("jobs:{id}"));
    assert_eq!(
        v["subscription"]["expiresAt"],
        1_800_000_000_000u64 + 600_000
    );
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<crate::tokens::SubscriptionClaims>(
        v["subscription"]["token"].as_str().unwrap(),
        &jsonwebtoken::DecodingKey::from_secret(b"secret"),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims.channel, format!("jobs:{id}"));
    let (s, _, _) = a.send("GET", &path, Some(&bob), Value::Null).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "another user's job gets no token");
    let (s, _, _) = a.send("GET", &path, None, Value::Null).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn claim_tokens_codes_and_node_settings() {
    let a = App::new().await;
    let alice = a.user("alice@x.org").await;
    let bob = a.user("bob@x.org").await;
    let (s, v, _) = a
        .send("POST", "/api/claim-tokens", Some(&alice), Value::Null)
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let ct = v["token"].as_str().unwrap();
    assert!(ct.starts_with("ct_"));
    let alice_id = a
        .store
        .user_by_email("alice@x.org")
        .await
        .unwrap()
        .unwrap()
        .id;
    assert_eq!(
        a.store
            .user_by_claim_token(&TokenHash::of(ct))
            .await
            .unwrap(),
        Some(alice_id)
    );

    let node = a
        .store
        .insert_node(
            NewNode {
                id: NodeId::new(),
                owner: None,
                public_key: "pk".into(),
                name: "box".into(),
                claim_code: Some("ABCD-EFGH".into()),
                max_parallel: 4,
                cores: 4,
                version: String::new(),
            },
            UnixMillis(1),
        )
        .await
        .unwrap();
    let (s, _, _) = a
        .send(
            "POST",
            "/api/nodes/claim",
            Some(&alice),
            json!({"code": "WXYZ-0000"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v, _) = a
        .send(
            "POST",
            "/api/nodes/claim",
            Some(&alice),
            json!({"code": " abcd-efgh "}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, list, _) = a.send("GET", "/api/nodes", Some(&alice), Value::Null).await;
    assert_eq!(list[0]["id"], node.id.to_string());
    // Bob is not admin (alice signed up first) and owns nothing.
    let (_, list, _) = a.send("GET", "/api/nodes", Some(&bob), Value::Null).await;
    assert!(list.as_array().unwrap().is_empty());

    let path = format!("/api/nodes/{}", node.id);
    let (s, _, _) = a
        .send("PATCH", &path, Some(&bob), json!({"draining": true}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = a
        .send("PATCH", &path, Some(&alice), json!({"maxParallel": 0}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, v, _) = a
        .send(
            "PATCH",
            &path,
            Some(&alice),
            json!({"name": "rig", "draining": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (
            v["name"].as_str(),
            v["draining"].as_bool(),
            v["maxParallel"].as_u64()
        ),
        (Some("rig"), Some(true), Some(4))
    );
    let sent = a.published.sent();
    let (channel, data) = sent.last().unwrap();
    assert_eq!(channel, &format!("nodes:{}", node.id));
    let push: Value = serde_json::from_slice(data).unwrap();
    assert_eq!(
        (push["type"].as_str(), push["drain"].as_bool()),
        (Some("settings"), Some(true))
    );
}
