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
use crate::http::{router, ManualClock, NodeApiConfig};
use crate::publish::{Funnel, RecordingPublisher};
use crate::store::{ClaimTokenCheck, NewNode, PendingClaim, SqliteStore, Store};

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
        let (state, _log) = crate::context::testing::context(
            coord.clone(),
            store.clone(),
            Funnel::new(published.clone()),
            Arc::new(ManualClock::new(UnixMillis(1_800_000_000_000))),
            NodeApiConfig::default(),
            Some(Arc::new(FakeEngine)),
        );
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

    /// Sends raw bytes with an optional content type (malformed bodies).
    async fn send_raw(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        if let Some(c) = auth {
            req = req.header("cookie", c);
        }
        let resp = self
            .app
            .clone()
            .oneshot(req.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
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
    // The stored reason names a role, never the email (a public job's page shows it).
    let reason = a
        .store
        .job(lease[0].job)
        .await
        .unwrap()
        .unwrap()
        .failure_reason
        .unwrap();
    assert_eq!(reason, "cancelled by its owner");
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
    let merged = wowlab_sim::run_chunk(&profile, 9, 0..20).unwrap();
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
                fence: None,
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
    let mean = v["meanDps"].as_f64().unwrap();
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
        &jsonwebtoken::DecodingKey::from_secret(b"test-secret"),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims.channel, format!("jobs:{id}"));
    let (s, _, _) = a.send("GET", &path, Some(&bob), Value::Null).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "another user's job gets no token");
    // A visitor without an account learns nothing of a private job.
    let (s, _, _) = a.send("GET", &path, None, Value::Null).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = a
        .send("GET", &format!("/api/jobs/{id}"), None, Value::Null)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A public link is for sharing: anyone holding it reads the job and follows it live with
    // anonymous subscribe-only tokens for that one channel.
    let public = a.job(&alice, true).await["id"].as_str().unwrap().to_owned();
    let (s, v, _) = a
        .send("GET", &format!("/api/jobs/{public}"), None, Value::Null)
        .await;
    assert_eq!(
        (s, v["id"].as_str()),
        (StatusCode::OK, Some(public.as_str()))
    );
    let (s, v, _) = a
        .send(
            "GET",
            &format!("/api/realtime/job-token?jobId={public}"),
            None,
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let claims = jsonwebtoken::decode::<crate::tokens::SubscriptionClaims>(
        v["subscription"]["token"].as_str().unwrap(),
        &jsonwebtoken::DecodingKey::from_secret(b"test-secret"),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(
        (claims.channel, claims.sub),
        (format!("jobs:{public}"), String::new())
    );
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
            .check_claim_token(&TokenHash::of(ct), UnixMillis(1_800_000_000_000))
            .await
            .unwrap(),
        ClaimTokenCheck::Valid(alice_id)
    );

    let node = a
        .store
        .insert_node(
            NewNode {
                id: NodeId::new(),
                owner: None,
                public_key: "pk".into(),
                name: "box".into(),
                claim_code: Some(PendingClaim {
                    hash: TokenHash::of("ABCD-EFGH"),
                    expires_at: UnixMillis(1_800_000_000_001),
                }),
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
            // `max_parallel`: the old spelling of `maxParallel`, still accepted.
            json!({"name": "rig", "draining": true, "max_parallel": 3}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (
            v["name"].as_str(),
            v["draining"].as_bool(),
            v["maxParallel"].as_u64()
        ),
        (Some("rig"), Some(true), Some(3))
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

/// Asserts a 400 in the stable error shape whose `field` is `field` and whose message matches.
fn assert_field_error(got: (StatusCode, Value, Option<String>), field: &str, says: &str) {
    let (s, v, _) = got;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{field}: {v}");
    assert_eq!(v["error"]["code"], "bad_request", "{v}");
    assert_eq!(v["error"]["field"], field, "{v}");
    let msg = v["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains(says), "{field}: {msg:?} should say {says:?}");
}

/// Asserts a 4xx (never 5xx) with `{"error": {"code", "message"}}` and the given code.
fn assert_shape(s: StatusCode, v: &Value, code: &str) {
    assert!(s.is_client_error(), "{s}: {v}");
    assert_eq!(v["error"]["code"], code, "{s}: {v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{v}"
    );
}

#[tokio::test]
async fn user_mistakes_get_4xx_json_errors_naming_the_field() {
    let a = App::new().await;
    let signup = |body: Value| a.send("POST", "/api/auth/signup", None, body);
    assert_field_error(
        signup(json!({"email": "no-at-sign", "password": "long enough"})).await,
        "email",
        "not an email address",
    );
    assert_field_error(
        signup(json!({"email": "  ", "password": "long enough"})).await,
        "email",
        "email is required",
    );
    assert_field_error(
        signup(json!({"email": "c@x.org", "password": "short"})).await,
        "password",
        "8 to 1024",
    );
    assert_field_error(
        signup(json!({"email": "c@x.org"})).await,
        "password",
        "password is required",
    );
    assert_field_error(
        signup(json!({"email": 7, "password": "long enough"})).await,
        "email",
        "email must be text",
    );
    // Not JSON, no content type, an empty body, a body past the size cap.
    let (s, v) = a
        .send_raw(
            "POST",
            "/api/auth/signup",
            None,
            Some("application/json"),
            b"{\"email\":".to_vec(),
        )
        .await;
    assert_shape(s, &v, "bad_request");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));
    let (s, v) = a
        .send_raw(
            "POST",
            "/api/auth/signup",
            None,
            None,
            br#"{"email":"c@x.org","password":"long enough"}"#.to_vec(),
        )
        .await;
    assert_shape(s, &v, "bad_request");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("content-type"));
    let (s, v) = a
        .send_raw(
            "POST",
            "/api/auth/signup",
            None,
            Some("application/json"),
            Vec::new(),
        )
        .await;
    assert_shape(s, &v, "bad_request");

    let alice = a.user("alice@x.org").await;
    let (s, v) = a
        .send_raw(
            "POST",
            "/api/jobs",
            Some(&alice),
            Some("application/json"),
            vec![b' '; 3 << 20],
        )
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_shape(s, &v, "too_large");

    let job = |body: Value| a.send("POST", "/api/jobs", Some(&alice), body);
    assert_field_error(
        job(json!({"profile": "ok", "iterations": "lots"})).await,
        "iterations",
        "whole number",
    );
    assert_field_error(
        job(json!({"profile": "ok", "iterations": -5})).await,
        "iterations",
        "whole number",
    );
    assert_field_error(
        job(json!({"profile": "ok", "iterations": 0})).await,
        "iterations",
        "from 1 to",
    );
    assert_field_error(
        job(json!({"profile": "ok", "iterations": (1u64 << 40) + 1})).await,
        "iterations",
        "from 1 to 1099511627776",
    );
    assert_field_error(
        job(json!({"profile": "ok"})).await,
        "iterations",
        "iterations is required",
    );
    assert_field_error(
        job(json!({"profile": "ok", "iterations": 10, "chunks": 5})).await,
        "chunks",
        "unknown field `chunks`; expected one of `profile`, `iterations`, `seed`, `chunkSize`, `public`",
    );
    assert_field_error(
        job(json!({"profile": "  ", "iterations": 10})).await,
        "profile",
        "profile is empty",
    );
    assert_field_error(
        job(json!({"profile": "bad", "iterations": 10})).await,
        "profile",
        "invalid profile: line 1: unknown ability",
    );
    for seed in [
        json!(-1),
        json!("abc"),
        json!("+5"),
        json!(1.5),
        json!("18446744073709551616"),
    ] {
        assert_field_error(
            job(json!({"profile": "ok", "iterations": 10, "seed": seed})).await,
            "seed",
            "seed must be a whole number from 0 to 18446744073709551615",
        );
    }
    // 2^64 as a JSON number is beyond u64 (serde reads it as a float).
    let (s, v) = a
        .send_raw(
            "POST",
            "/api/jobs",
            Some(&alice),
            Some("application/json"),
            br#"{"profile":"ok","iterations":10,"seed":18446744073709551616}"#.to_vec(),
        )
        .await;
    assert_field_error((s, v, None), "seed", "whole number");
    assert_field_error(
        job(json!({"profile": "ok", "iterations": 10, "chunkSize": 0})).await,
        "chunkSize",
        "chunkSize must be at least 1",
    );
    assert_field_error(
        job(json!({"profile": "ok", "iterations": 1_000_000, "chunkSize": 1})).await,
        "chunkSize",
        "at most 100000 are allowed, so use at least 10",
    );
    // Seeds beyond 2^53 arrive exactly as decimal text (browsers would round a number).
    let (s, v, _) =
        job(json!({"profile": "ok", "iterations": 10, "seed": "18446744073709551615"})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["seed"].as_u64(), Some(u64::MAX));
    // Seed null picks one; a chunk size above the iterations means one chunk.
    let (s, v, _) =
        job(json!({"profile": "ok", "iterations": 10, "seed": null, "chunkSize": 11})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(
        (v["chunkSize"].as_u64(), v["chunkCount"].as_u64()),
        (Some(10), Some(1))
    );
    // An automatic chunk size is raised to keep the chunk count bounded.
    let (s, v, _) = job(json!({"profile": "ok", "iterations": 1u64 << 40})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert!(v["chunkCount"].as_u64().unwrap() <= 100_000, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let (s, v, _) = a
        .send(
            "POST",
            &format!("/api/jobs/{id}/cancel"),
            Some(&alice),
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_field_error(
        a.send(
            "POST",
            &format!("/api/jobs/{id}/visibility"),
            Some(&alice),
            json!({}),
        )
        .await,
        "public",
        "public is required",
    );
    assert_field_error(
        a.send(
            "POST",
            &format!("/api/jobs/{id}/visibility"),
            Some(&alice),
            json!({"public": "yes"}),
        )
        .await,
        "public",
        "public must be true or false",
    );

    let claim = |body: Value| a.send("POST", "/api/nodes/claim", Some(&alice), body);
    assert_field_error(claim(json!({"code": " "})).await, "code", "enter the code");
    assert_field_error(
        claim(json!({"code": "AB$D-EFGH"})).await,
        "code",
        "letters, digits and dashes",
    );
    assert_field_error(claim(json!({})).await, "code", "code is required");
    let (s, v, _) = claim(json!({"code": "ABCD-EFGH"})).await;
    assert_shape(s, &v, "not_found");

    let node = a
        .store
        .insert_node(
            NewNode {
                id: NodeId::new(),
                owner: a
                    .store
                    .user_by_email("alice@x.org")
                    .await
                    .unwrap()
                    .map(|u| u.id),
                public_key: "pk-mistakes".into(),
                name: "rig".into(),
                claim_code: None,
                max_parallel: 2,
                cores: 2,
                version: String::new(),
            },
            UnixMillis(1),
        )
        .await
        .unwrap();
    let path = format!("/api/nodes/{}", node.id);
    let patch = |body: Value| a.send("PATCH", &path, Some(&alice), body);
    assert_field_error(
        patch(json!({"name": "  "})).await,
        "name",
        "1 to 64 characters",
    );
    assert_field_error(
        patch(json!({"name": "x".repeat(65)})).await,
        "name",
        "1 to 64 characters",
    );
    assert_field_error(
        patch(json!({"name": "a\u{7}b"})).await,
        "name",
        "control characters",
    );
    assert_field_error(
        patch(json!({"maxParallel": 0})).await,
        "maxParallel",
        "from 1 to 1024",
    );
    assert_field_error(
        patch(json!({"maxParallel": 1025})).await,
        "maxParallel",
        "from 1 to 1024",
    );
    assert_field_error(
        patch(json!({"maxParallel": "four"})).await,
        "maxParallel",
        "whole number",
    );
    assert_field_error(
        patch(json!({"draining": 1})).await,
        "draining",
        "true or false",
    );
    let (s, v, _) = a
        .send(
            "PATCH",
            "/api/nodes/not-a-node",
            Some(&alice),
            json!({"draining": true}),
        )
        .await;
    assert_shape(s, &v, "not_found");
    // Nothing was changed by the refused requests.
    let stored = a.store.node_by_id(node.id).await.unwrap().unwrap();
    assert_eq!((stored.name.as_str(), stored.max_parallel), ("rig", 2));

    assert_field_error(
        a.send("GET", "/api/realtime/job-token", Some(&alice), Value::Null)
            .await,
        "jobId",
        "jobId is required",
    );
    let (s, v, _) = a
        .send("GET", "/api/no-such-thing", Some(&alice), Value::Null)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_shape(s, &v, "not_found");
    let (s, v, _) = a
        .send("DELETE", "/api/jobs", Some(&alice), Value::Null)
        .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_shape(s, &v, "method_not_allowed");
    let (s, v, _) = a.send("GET", "/api/jobs", None, Value::Null).await;
    assert_shape(s, &v, "sign_in_required");
}

/// Every object key in `v` is camelCase (no `_`).
fn assert_camel_case(v: &Value, at: &str) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                assert!(!k.contains('_'), "{at}: snake_case key `{k}` in {v}");
                assert_camel_case(x, at);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| assert_camel_case(x, at)),
        _ => {}
    }
}

/// The user API's one naming rule: JSON fields are camelCase. The snake_case spelling of a
/// request field still works for one release; responses carry only the camelCase names
/// (`progress.chunk_count` became `progress.chunkCount`).
#[tokio::test]
async fn json_is_camel_case_and_old_snake_case_request_names_still_work() {
    let a = App::new().await;
    let alice = a.user("alice@x.org").await;
    let (s, job, _) = a
        .send(
            "POST",
            "/api/jobs",
            Some(&alice),
            json!({"profile": "rotation ok", "iterations": 10, "chunk_size": 5}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{job}");
    assert_eq!(job["chunkSize"], 5, "old `chunk_size` accepted: {job}");
    assert_eq!(job["progress"]["chunkCount"], 2, "{job}");
    assert_camel_case(&job, "POST /api/jobs");
    let (_, list, _) = a.send("GET", "/api/jobs", Some(&alice), Value::Null).await;
    assert_camel_case(&list, "GET /api/jobs");

    let (s, v, _) = a
        .send(
            "POST",
            "/api/tokens",
            Some(&alice),
            json!({"expires_in_days": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert!(
        v["expiresAt"].is_u64(),
        "old `expires_in_days` accepted: {v}"
    );
    let (s, v, _) = a
        .send(
            "POST",
            "/api/claim-tokens",
            Some(&alice),
            json!({"expires_in_days": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["expiresAt"], 1_800_000_000_000u64 + 86_400_000, "{v}");

    // alice signed up first: she is the admin.
    let (s, v, _) = a
        .send(
            "PUT",
            "/api/admin/quotas",
            Some(&alice),
            json!({"max_active_jobs": 3, "max_queued_iterations": 1000}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (
            v["maxActiveJobs"].as_u64(),
            v["maxQueuedIterations"].as_u64()
        ),
        (Some(3), Some(1000))
    );

    let id = job["id"].as_str().unwrap();
    for q in ["jobId", "job_id"] {
        let (s, v, _) = a
            .send(
                "GET",
                &format!("/api/realtime/job-token?{q}={id}"),
                Some(&alice),
                Value::Null,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{q}: {v}");
        assert_camel_case(&v, "GET /api/realtime/job-token");
    }
    for path in [
        "/api/auth/me",
        "/api/tokens",
        "/api/claim-tokens",
        "/api/nodes",
    ] {
        let (s, v, _) = a.send("GET", path, Some(&alice), Value::Null).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
        assert_camel_case(&v, path);
    }
}

#[tokio::test]
async fn target_error_submissions_are_checked_and_report_their_target() {
    let a = App::new().await;
    let alice = a.user("alice@x.org").await;
    let post = |body: Value| a.send("POST", "/api/jobs", Some(&alice), body);
    assert_field_error(
        post(json!({"profile": "ok", "targetError": -1, "maxIterations": 100})).await,
        "targetError",
        "above 0",
    );
    assert_field_error(
        post(json!({"profile": "ok", "targetError": 0.05})).await,
        "maxIterations",
        "required",
    );
    assert_field_error(
        post(json!({"profile": "ok", "iterations": 10, "maxIterations": 100})).await,
        "maxIterations",
        "targetError",
    );
    assert_field_error(
        post(json!({"profile": "ok", "targetError": 0.05, "maxIterations": 10_000, "chunkSize": 100}))
            .await,
        "chunkSize",
        "power of two",
    );
    let (s, v, _) = post(json!({
        "profile": "ok", "targetError": 0.05, "maxIterations": 10_000, "chunkSize": 256
    }))
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(
        v["target"],
        json!({"targetError": 0.05, "maxIterations": 10_000, "wavesDone": 0, "halfWidthPct": null})
    );
    assert_eq!(
        (v["iterations"].as_u64(), v["chunkCount"].as_u64()),
        (Some(10_000), Some(40))
    );
    let id = v["id"].as_str().unwrap().to_owned();
    let (s, got, _) = a
        .send("GET", &format!("/api/jobs/{id}"), Some(&alice), Value::Null)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got["target"], v["target"]);
    // Only the first wave (1024 iterations = 4 chunks) is scheduled.
    let job: crate::domain::JobId = id.parse().unwrap();
    assert_eq!(a.coord.job_progress(job).await.unwrap().chunk_count, 4);
}
