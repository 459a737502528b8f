use super::*;

#[test]
fn times_format_as_utc() {
    assert_eq!(fmt_time(0), "1970-01-01 00:00:00 UTC");
    assert_eq!(fmt_time(1_795_000_000_123), "2026-11-18 11:06:40 UTC");
}

#[test]
fn next_paths_are_encoded() {
    assert_eq!(urlencode("/jobs/ab-1"), "/jobs/ab-1");
    assert_eq!(urlencode("/a?b=c&d"), "/a%3Fb%3Dc%26d");
}

#[test]
fn every_static_file_and_profile_is_embedded() {
    for f in [
        "studio.css",
        "app.js",
        "realtime.js",
        "job.js",
        "nodes.js",
        "new_job.js",
        "tokens.js",
        "profile-format.md",
    ] {
        let r = tokio_test_serve(f);
        assert_eq!(r, axum::http::StatusCode::OK, "{f}");
    }
    assert_eq!(
        tokio_test_serve("../Cargo.toml"),
        axum::http::StatusCode::NOT_FOUND
    );
    assert!(assets::PROFILES.iter().all(|(_, t)| !t.is_empty()));
}

fn tokio_test_serve(name: &str) -> axum::http::StatusCode {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(assets::serve(axum::extract::Path(name.to_owned())))
        .status()
}

mod pages {
    //! Pages through the full router, against an in-memory store.

    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::Router;
    use serde::Serialize;
    use serde_json::{json, Value};
    use tower::ServiceExt;
    use wowlab_api::node::{
        HeartbeatRequest, LeaseRef, NodeFacts, RegisterRequest, SystemMetrics, PATH_HEARTBEAT,
        PATH_REGISTER,
    };
    use wowlab_api::signing::NodeKey;

    use crate::coordinator::MemoryCoordinator;
    use crate::domain::UnixMillis;
    use crate::engine::{ProfileEngine, ValidatedProfile};
    use crate::http::{router, ManualClock, NodeApiConfig};
    use crate::publish::{Funnel, RecordingPublisher};
    use crate::store::{NodeStatus, SqliteStore, Store};

    const NOW: UnixMillis = UnixMillis(1_800_000_000_000);

    struct Engine;

    impl ProfileEngine for Engine {
        fn validate(&self, profile: &str) -> Result<ValidatedProfile, String> {
            if profile.contains("bad") {
                return Err("line 2, column 3: unknown key".into());
            }
            Ok(ValidatedProfile {
                content_hash: "h".repeat(64),
                iteration_cost_ns: 1_000_000,
            })
        }
    }

    async fn app() -> Router {
        app_with_store().await.0
    }

    async fn app_with_store() -> (Router, Arc<SqliteStore>) {
        let store = Arc::new(SqliteStore::memory().await.unwrap());
        let (state, _log) = crate::context::testing::context(
            Arc::new(MemoryCoordinator::new()),
            store.clone(),
            Funnel::new(Arc::new(RecordingPublisher::default())),
            Arc::new(ManualClock::new(NOW)),
            NodeApiConfig::default(),
            Some(Arc::new(Engine)),
        );
        (router(state), store)
    }

    async fn send(
        app: &Router,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, String, Option<String>) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let set_cookie = res
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::to_owned);
        let location = res
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 22)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        (status, text, set_cookie.or(location))
    }

    async fn signup(app: &Router, email: &str) -> String {
        let (s, _, cookie) = send(
            app,
            "POST",
            "/api/auth/signup",
            None,
            Some(json!({"email": email, "password": "correct horse"})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
        cookie.unwrap()
    }

    /// Submits a 1000-iteration job as `cookie`'s user; returns its id.
    async fn submit_job(app: &Router, cookie: &str) -> String {
        let (s, body, _) = send(
            app,
            "POST",
            "/api/jobs",
            Some(cookie),
            Some(json!({"profile": "ok", "iterations": 1000, "seed": 7})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[tokio::test]
    async fn pages_render_for_their_viewers_only() {
        let app = app().await;
        let (s, _, loc) = send(&app, "GET", "/", None, None).await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        assert_eq!(loc.as_deref(), Some("/signin?next=/"));
        let (s, body, _) = send(&app, "GET", "/signin", None, None).await;
        assert_eq!(s, StatusCode::OK);
        assert!(body.contains("<main id=\"main\"") && body.contains("for=\"email\""));

        let alice = signup(&app, "alice@example.org").await;
        let bob = signup(&app, "bob@example.org").await;
        let id = submit_job(&app, &alice).await;

        let (s, body, _) = send(&app, "GET", "/", Some(&alice), None).await;
        assert_eq!(s, StatusCode::OK);
        assert!(
            body.contains(&format!("/jobs/{id}")),
            "dashboard lists the job"
        );
        assert!(body.contains("Nodes online"));

        let path = format!("/jobs/{id}");
        let (s, body, _) = send(&app, "GET", &path, Some(&alice), None).await;
        assert_eq!(s, StatusCode::OK);
        assert!(body.contains(&format!("data-job-id=\"{id}\"")));
        assert!(body.contains("/static/realtime.js") && body.contains("Cancel job"));
        for who in [Some(bob.as_str()), None] {
            let (s, body, _) = send(&app, "GET", &path, who, None).await;
            assert_eq!(s, StatusCode::NOT_FOUND);
            assert!(!body.contains("data-job-id"));
        }

        let (s, body, _) = send(&app, "GET", "/nodes", Some(&alice), None).await;
        assert_eq!(s, StatusCode::OK);
        assert!(body.contains("wowlab node --sentinel") && body.contains("Claim node"));
        let (s, body, _) = send(&app, "GET", "/jobs/new", Some(&alice), None).await;
        assert_eq!(s, StatusCode::OK);
        assert!(body.contains("burst-cooldowns.toml"));
        let (s, _, _) = send(&app, "GET", "/grid", None, None).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _, _) = send(&app, "GET", "/nodes/not-an-id", Some(&alice), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        // Unlink answers in the API's JSON error shape.
        let (s, body, _) = send(&app, "POST", "/nodes/not-an-id/unlink", Some(&alice), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["code"], "not_found");
        let (s, _, _) = send(&app, "POST", "/nodes/not-an-id/unlink", None, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        // Unknown paths: a page for people, the JSON error shape under /api/.
        let (s, body, _) = send(&app, "GET", "/no/such/page", Some(&alice), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert!(body.contains("Page not found") && body.contains("alice@example.org"));
        let (s, body, _) = send(&app, "GET", "/api/no/such/endpoint", None, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["code"], "not_found");
    }

    #[tokio::test]
    async fn owner_toggles_visibility_and_others_get_a_read_only_page() {
        let app = app().await;
        let alice = signup(&app, "alice@example.org").await;
        let bob = signup(&app, "bob@example.org").await;
        let id = submit_job(&app, &alice).await;
        let path = format!("/jobs/{id}");
        let (_, body, _) = send(&app, "GET", &path, Some(&alice), None).await;
        assert!(body.contains("id=\"visibility\"") && body.contains("Make public"));
        assert!(!body.contains("id=\"share\""));

        let visibility = format!("/api/jobs/{id}/visibility");
        let on = Some(json!({"public": true}));
        let (s, _, _) = send(&app, "POST", &visibility, Some(&bob), on.clone()).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _, _) = send(&app, "POST", &visibility, Some(&alice), on).await;
        assert_eq!(s, StatusCode::OK);

        let (_, body, _) = send(&app, "GET", &path, Some(&alice), None).await;
        assert!(body.contains("Make private") && body.contains("id=\"share\""));
        for who in [Some(bob.as_str()), None] {
            let (s, body, _) = send(&app, "GET", &path, who, None).await;
            assert_eq!(s, StatusCode::OK);
            assert!(body.contains(&format!("data-job-id=\"{id}\"")));
            assert!(body.contains("id=\"share\""), "the read-only link is shown");
            assert!(!body.contains("Cancel job") && !body.contains("id=\"visibility\""));
        }
    }

    /// Sends a request signed by a node key, as a node would.
    async fn node_call(app: &Router, key: &NodeKey, path: &str, body: &impl Serialize) -> Value {
        let body = serde_json::to_vec(body).unwrap();
        let h = key
            .sign(NOW.0, "POST", "sentinel.test", path, &body)
            .unwrap();
        let mut req = Request::builder()
            .method("POST")
            .uri(path)
            .header("host", "sentinel.test")
            .header("content-type", "application/json");
        for (name, value) in h.pairs() {
            req = req.header(name, value);
        }
        let res = app
            .clone()
            .oneshot(req.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert_eq!(status, StatusCode::OK, "{path}: {v}");
        v
    }

    /// Registers `key` into the account of `cookie` with its claim token; the node's id.
    async fn register_claimed(
        app: &Router,
        cookie: &str,
        key: &NodeKey,
        name: &str,
        cores: u32,
        local_max_parallel: Option<u32>,
    ) -> crate::domain::NodeId {
        let (s, body, _) = send(app, "POST", "/api/claim-tokens", Some(cookie), None).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let token = serde_json::from_str::<Value>(&body).unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let reg = node_call(
            app,
            key,
            PATH_REGISTER,
            &RegisterRequest {
                claim_token: Some(token),
                name: name.into(),
                facts: NodeFacts {
                    hostname: "h".into(),
                    version: "0.1.0".into(),
                    cores,
                    capabilities: Vec::new(),
                    local_max_parallel,
                },
            },
        )
        .await;
        serde_json::from_value(reg["node_id"].clone()).unwrap()
    }

    /// A node as older versions report it (leases held, no running count, no local cap),
    /// claimed with its owner's claim token, reports 6 chunks on 4 cores and 1234.4 sims/s in
    /// a real signed heartbeat: the nodes page, the node page, the dashboard and grid totals
    /// and `GET /api/nodes` all show 4 cores in use and that rate once it is online, and
    /// nothing current once it is offline.
    #[tokio::test]
    async fn heartbeat_figures_reach_the_nodes_pages_and_grid_totals() {
        let (app, store) = app_with_store().await;
        let alice = signup(&app, "alice@example.org").await;
        let key = NodeKey::generate().unwrap();
        let node_id = register_claimed(&app, &alice, &key, "busy-box", 4, None).await;
        let job = wowlab_api::JobId::new();
        let active = (0..6)
            .map(|chunk| LeaseRef {
                job_id: job,
                chunk,
                fence: 1,
            })
            .collect();
        node_call(
            &app,
            &key,
            PATH_HEARTBEAT,
            &HeartbeatRequest {
                free_slots: 0,
                active,
                metrics: SystemMetrics {
                    load1: 3.5,
                    mem_used_bytes: 3 << 30,
                    mem_total_bytes: 8 << 30,
                    sims_per_sec: 1234.4,
                },
                running: None,
                local_max_parallel: None,
                leaving: false,
            },
        )
        .await;

        // Heartbeats are authoritative: the first one marks it online at once (no waiting for
        // the presence round).
        assert_eq!(
            store.node_by_id(node_id).await.unwrap().unwrap().status,
            NodeStatus::Online
        );

        let (s, body, _) = send(&app, "GET", "/nodes", Some(&alice), None).await;
        assert_eq!(s, StatusCode::OK);
        assert!(
            body.contains("busy-box") && body.contains("Cores in use") && body.contains("Sims/s")
        );
        assert!(body.contains(r#"data-k="cores-in-use">4 / 4<"#), "{body}");
        assert!(body.contains("data-k=\"sims\">1,234<"), "{body}");
        assert!(body.contains(r#"data-k="version">0.1.0<"#));

        let (s, body, _) = send(
            &app,
            "GET",
            &format!("/nodes/{node_id}"),
            Some(&alice),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert!(body.contains(r#"data-k="cores-in-use">4 / 4<"#), "{body}");
        assert!(body.contains("data-k=\"sims\">1,234<"));
        assert!(body.contains(r#"data-k="load1">3.50<"#) && body.contains("3.0 / 8.0 GiB"));

        for (page, who) in [("/", Some(alice.as_str())), ("/grid", None)] {
            let (s, body, _) = send(&app, "GET", page, who, None).await;
            assert_eq!(s, StatusCode::OK);
            assert!(
                body.contains(r#"data-stat="nodes-online">1 / 1<"#),
                "{page}: {body}"
            );
            assert!(body.contains(r#"data-stat="cores">4<"#), "{page}");
            // Grid work figures follow running jobs, not the heartbeat's claim: none runs.
            assert!(body.contains(r#"data-stat="cores-in-use">0<"#), "{page}");
            assert!(body.contains(r#"data-stat="sims">0<"#), "{page}");
        }

        // The public grid page lists the machine by number, not by its owner's name for it.
        let (_, body, _) = send(&app, "GET", "/grid", None, None).await;
        assert!(
            body.contains(r#"<th scope="row">#1</th><td class="num" data-k="cores-in-use">4 / 4<"#),
            "{body}"
        );
        assert!(!body.contains("busy-box"));

        let (s, body, _) = send(&app, "GET", "/api/nodes", Some(&alice), None).await;
        assert_eq!(s, StatusCode::OK);
        let v: Value = serde_json::from_str(&body).unwrap();
        let n = &v[0];
        assert_eq!(
            (n["coresInUse"].as_u64(), n["simsPerSec"].as_f64()),
            (Some(4), Some(1234.4))
        );
        assert_eq!(n["load"]["activeChunks"], 6);
        assert_eq!(
            (n["capacity"].as_u64(), n["maxParallel"].as_u64()),
            (Some(4), Some(4))
        );
        assert!(n["localMaxParallel"].is_null() && n["load"]["runningChunks"].is_null());
        assert_eq!(n["load"]["load1"], 3.5);
        assert_eq!(n["status"], "online");

        // Gone: its last report is history, not current work.
        assert!(store
            .set_node_status(node_id, NodeStatus::Offline)
            .await
            .unwrap());
        let (_, body, _) = send(&app, "GET", "/grid", None, None).await;
        assert!(
            body.contains(r#"data-stat="sims">0<"#)
                && body.contains(r#"data-stat="cores-in-use">0<"#)
        );
    }

    /// `wowlab node --max-parallel 1` on 2 cores: it registers and heartbeats its own cap, so
    /// the nodes page, the node page and `GET /api/nodes` show capacity 1 (not the owner's
    /// default of one per core), and one core in use for the one chunk it computes while two
    /// more wait in its queue. Restarted with a higher cap, the owner's setting limits again.
    #[tokio::test]
    async fn a_node_capped_locally_shows_its_effective_capacity_and_running_chunks() {
        let (app, store) = app_with_store().await;
        let alice = signup(&app, "alice@example.org").await;
        let key = NodeKey::generate().unwrap();
        let node_id = register_claimed(&app, &alice, &key, "capped", 2, Some(1)).await;
        let job = wowlab_api::JobId::new();
        let active = (0..3)
            .map(|chunk| LeaseRef {
                job_id: job,
                chunk,
                fence: 1,
            })
            .collect();
        let reply = node_call(
            &app,
            &key,
            PATH_HEARTBEAT,
            &HeartbeatRequest {
                free_slots: 0,
                active,
                metrics: SystemMetrics::default(),
                running: Some(1),
                local_max_parallel: Some(1),
                leaving: false,
            },
        )
        .await;
        // The owner's setting travels unchanged: the node applies its own cap beneath it.
        assert_eq!(reply["settings"]["max_parallel"], 2);
        // Online from its heartbeat.
        assert_eq!(
            store.node_by_id(node_id).await.unwrap().unwrap().status,
            NodeStatus::Online
        );

        let (s, body, _) = send(&app, "GET", "/nodes", Some(&alice), None).await;
        assert_eq!(s, StatusCode::OK);
        assert!(body.contains(r#"data-k="cores-in-use">1 / 2<"#), "{body}");
        assert!(
            body.contains(
                r#"data-k="capacity" title="limited by the node's own --max-parallel 1">1<"#
            ),
            "{body}"
        );

        let (s, body, _) = send(
            &app,
            "GET",
            &format!("/nodes/{node_id}"),
            Some(&alice),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert!(body.contains(r#"data-k="cores-in-use">1 / 2<"#), "{body}");
        assert!(
            body.contains(
                r#"data-k="capacity">1 parallel chunks (the node's own limit 1, your setting 2)<"#
            ),
            "{body}"
        );
        // The settings form still holds the owner's value, and says why more has no effect.
        assert!(
            body.contains(
                r#"name="maxParallel" type="number" min="1" max="1024" step="1" value="2""#
            ),
            "{body}"
        );
        assert!(body.contains("The node limits itself to 1"), "{body}");

        let (s, body, _) = send(&app, "GET", "/api/nodes", Some(&alice), None).await;
        assert_eq!(s, StatusCode::OK);
        let n = &serde_json::from_str::<Value>(&body).unwrap()[0];
        assert_eq!(
            (
                n["capacity"].as_u64(),
                n["maxParallel"].as_u64(),
                n["localMaxParallel"].as_u64(),
                n["cores"].as_u64()
            ),
            (Some(1), Some(2), Some(1), Some(2))
        );
        assert_eq!(
            (
                n["coresInUse"].as_u64(),
                n["load"]["runningChunks"].as_u64(),
                n["load"]["activeChunks"].as_u64()
            ),
            (Some(1), Some(1), Some(3))
        );

        // Restarted with `--max-parallel 4`: registration refreshes the cap, and the owner's
        // setting (one per core, 2) is the limit again.
        let again = register_claimed(&app, &alice, &key, "capped", 2, Some(4)).await;
        assert_eq!(again, node_id);
        let (_, body, _) = send(&app, "GET", "/api/nodes", Some(&alice), None).await;
        let n = &serde_json::from_str::<Value>(&body).unwrap()[0];
        assert_eq!(
            (n["capacity"].as_u64(), n["localMaxParallel"].as_u64()),
            (Some(2), Some(4))
        );
        let (_, body, _) = send(&app, "GET", "/nodes", Some(&alice), None).await;
        assert!(
            body.contains(r#"<td class="num" data-k="capacity">2<"#),
            "{body}"
        );
        // The owner lowers it below the node's cap.
        let (s, body, _) = send(
            &app,
            "PATCH",
            &format!("/api/nodes/{node_id}"),
            Some(&alice),
            Some(json!({"maxParallel": 1})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let n: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (n["capacity"].as_u64(), n["maxParallel"].as_u64()),
            (Some(1), Some(1))
        );
    }

    /// Stores a job of `owner` for a real profile directly (as the coordinator would leave it):
    /// chunk results for `chunks` (ranges of 100 iterations), then `status` with the merged
    /// result stored only when completed.
    async fn stored_job(
        store: &SqliteStore,
        owner: &str,
        chunks: &[u32],
        status: crate::domain::JobStatus,
    ) -> String {
        use crate::domain::{ChunkIndex, JobId, JobStatus};
        use crate::store::{ChunkResult, NewJob, TransitionData};
        let text = include_str!("../../../../../examples/profiles/pet-procs.toml");
        let p = wowlab_sim::compile_str(text).unwrap();
        let owner = store.user_by_email(owner).await.unwrap().unwrap().id;
        store.put_config(p.hash(), text, NOW).await.unwrap();
        let job = store
            .insert_job(
                NewJob {
                    id: JobId::new(),
                    owner,
                    config_hash: p.hash().to_owned(),
                    iterations: 300,
                    seed: 9,
                    chunk_size: 100,
                    chunk_count: 3,
                    public: false,
                    chunk_wall_limit_ms: 0,
                },
                NOW,
            )
            .await
            .unwrap();
        let job = store
            .transition_job(
                job.id,
                JobStatus::Pending,
                JobStatus::Running,
                0,
                TransitionData::default(),
                NOW,
            )
            .await
            .unwrap();
        let mut merged: Option<wowlab_sim::ChunkResult> = None;
        for &c in chunks {
            let start = u64::from(c) * 100;
            let part = wowlab_sim::run_chunk(&p, 9, start..start + 100).unwrap();
            store
                .put_chunk_result(
                    ChunkResult {
                        job: job.id,
                        chunk: ChunkIndex(c),
                        node: None,
                        result: part.encode(),
                    },
                    NOW,
                )
                .await
                .unwrap();
            match &mut merged {
                Some(m) => m.merge(&part).unwrap(),
                None => merged = Some(part),
            }
        }
        let data = TransitionData {
            result: (status == JobStatus::Completed).then(|| merged.unwrap().encode()),
            failure_reason: (status != JobStatus::Completed)
                .then(|| "cancelled by alice".to_owned()),
            fence: None,
        };
        store
            .transition_job(job.id, JobStatus::Running, status, job.version, data, NOW)
            .await
            .unwrap();
        job.id.to_string()
    }

    /// A completed job under review says so on its page and in its API view; once the
    /// review closed with a correction, the page says the result is the corrected one.
    #[tokio::test]
    async fn a_job_under_review_says_so_and_then_that_it_was_corrected() {
        use crate::domain::{ChunkIndex, JobStatus, NodeId};
        use crate::store::{ReviewChunk, ReviewClose};
        let (app, store) = app_with_store().await;
        let alice = signup(&app, "alice@example.org").await;
        let id = stored_job(
            &store,
            "alice@example.org",
            &[0, 1, 2],
            JobStatus::Completed,
        )
        .await;
        let job = id.parse().unwrap();
        let (_, body, _) = send(&app, "GET", &format!("/jobs/{id}"), Some(&alice), None).await;
        assert!(!body.contains("id=\"review\""), "no review, no notice");
        let chunk = |c| ReviewChunk {
            chunk: ChunkIndex(c),
            old_node: Some(NodeId::new()),
            old_hash: "aa".into(),
            new_node: None,
            new_hash: None,
        };
        store
            .open_job_review(job, NodeId::new(), None, &[chunk(1), chunk(2)], NOW)
            .await
            .unwrap();
        let (_, body, _) = send(&app, "GET", &format!("/jobs/{id}"), Some(&alice), None).await;
        assert!(body.contains("data-under-review=\"true\""), "{body}");
        assert!(body.contains("Under review.") && body.contains("2 chunks of this job"));
        let (_, api, _) = send(&app, "GET", &format!("/api/jobs/{id}"), Some(&alice), None).await;
        let api: Value = serde_json::from_str(&api).unwrap();
        assert_eq!(api["status"], "completed");
        assert_eq!(api["review"]["underReview"], true, "{api}");
        assert_eq!(api["review"]["chunks"], 2, "{api}");
        let close = ReviewClose {
            result: Some((vec![1], "bb".into())),
            chunks: Vec::new(),
            note: None,
        };
        store
            .close_job_review(job, 1, &close, None, NOW)
            .await
            .unwrap();
        let (_, body, _) = send(&app, "GET", &format!("/jobs/{id}"), Some(&alice), None).await;
        assert!(body.contains("data-under-review=\"false\"") && body.contains("Corrected."));
    }

    #[tokio::test]
    async fn a_finished_job_opens_on_its_answer_and_a_cancelled_one_on_what_was_merged() {
        use crate::domain::JobStatus;
        let (app, store) = app_with_store().await;
        let alice = signup(&app, "alice@example.org").await;

        let done = stored_job(
            &store,
            "alice@example.org",
            &[0, 1, 2],
            JobStatus::Completed,
        )
        .await;
        let (s, body, _) = send(&app, "GET", &format!("/jobs/{done}"), Some(&alice), None).await;
        assert_eq!(s, StatusCode::OK);
        let api: Value = serde_json::from_str(
            &send(
                &app,
                "GET",
                &format!("/api/jobs/{done}/result"),
                Some(&alice),
                None,
            )
            .await
            .1,
        )
        .unwrap();
        let mean = super::super::numbers::dps(api["meanDps"].as_f64().unwrap());
        let answer = body
            .find("id=\"answer-mean\"")
            .expect("the answer is shown");
        assert!(
            body[answer..].starts_with(&format!("id=\"answer-mean\" data-k=\"mean_dps\">{mean}<"))
        );
        assert!(
            answer < body.find("id=\"report\"").unwrap(),
            "the answer comes before the report"
        );
        assert!(
            answer < body.find("Run details").unwrap(),
            "and before the run's details"
        );
        for empty in [
            "needs JavaScript",
            "id=\"rate\"",
            "id=\"mean\"",
            "Shown live",
            ">partial<",
            "data-partial=\"true\"",
        ] {
            assert!(!body.contains(empty), "a finished job shows no {empty:?}");
        }
        assert!(body.contains("300</span> iterations"));

        // Cancelled after two of three chunks: their merge, labelled partial.
        let part = stored_job(&store, "alice@example.org", &[2, 0], JobStatus::Cancelled).await;
        let (_, body, _) = send(&app, "GET", &format!("/jobs/{part}"), Some(&alice), None).await;
        assert!(body.contains("data-partial=\"true\"") && body.contains(">partial<"));
        assert!(body.contains("200 of 300 iterations were merged before the job was cancelled"));
        assert!(body.contains("Report (partial)") && body.contains("id=\"abilities\""));
        assert!(
            !body.contains("data-k=\"mean_dps\">0.0<"),
            "no zero estimate"
        );
        assert!(body.contains("cancelled by alice"));

        // Failed before anything was merged: says so, with no number at all.
        let none = stored_job(&store, "alice@example.org", &[], JobStatus::Failed).await;
        let (_, body, _) = send(&app, "GET", &format!("/jobs/{none}"), Some(&alice), None).await;
        assert!(body.contains("No result: nothing was merged before the job failed."));
        assert!(
            !body.contains("answer-mean") && !body.contains("DPS</") && !body.contains("0.0 DPS")
        );
    }

    #[tokio::test]
    async fn the_tokens_page_lists_my_api_tokens_only_and_never_a_secret() {
        let app = app().await;
        let (s, _, loc) = send(&app, "GET", "/tokens", None, None).await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        assert_eq!(loc.as_deref(), Some("/signin?next=/tokens"));
        let alice = signup(&app, "alice@example.org").await;
        let bob = signup(&app, "bob@example.org").await;
        let (_, body, _) = send(&app, "GET", "/tokens", Some(&alice), None).await;
        assert!(body.contains("No API tokens yet.") && body.contains("href=\"#claim-h\""));
        let (s, created, _) = send(
            &app,
            "POST",
            "/api/tokens",
            Some(&alice),
            Some(json!({"name": "<laptop>", "expiresInDays": 30})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
        let created: Value = serde_json::from_str(&created).unwrap();
        let secret = created["token"].as_str().unwrap();
        let id = created["id"].as_str().unwrap();

        let (_, body, _) = send(&app, "GET", "/tokens", Some(&alice), None).await;
        assert!(body.contains(&format!("data-api-token=\"{id}\"")));
        assert!(body.contains("&lt;laptop&gt;"), "names are escaped");
        assert!(!body.contains(secret), "the secret is never shown again");
        assert!(body.contains("2027-02-14"), "its expiry");
        let (_, body, _) = send(&app, "GET", "/tokens", Some(&bob), None).await;
        assert!(!body.contains(id) && body.contains("No API tokens yet."));
        // Revoked by its owner only; then it is gone from the page.
        let del = format!("/api/tokens/{id}");
        assert_eq!(
            send(&app, "DELETE", &del, Some(&bob), None).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            send(&app, "DELETE", &del, Some(&alice), None).await.0,
            StatusCode::NO_CONTENT
        );
        let (_, body, _) = send(&app, "GET", "/tokens", Some(&alice), None).await;
        assert!(!body.contains(id));
    }

    #[tokio::test]
    async fn jobs_are_named_renamed_listed_rerun_and_deleted_by_their_owner() {
        let app = app().await;
        let alice = signup(&app, "alice@example.org").await;
        let bob = signup(&app, "bob@example.org").await;
        let text = include_str!("../../../../../examples/profiles/dot-builder.toml");
        let submit = |body: Value| {
            let app = app.clone();
            let alice = alice.clone();
            async move {
                let (s, b, _) = send(&app, "POST", "/api/jobs", Some(&alice), Some(body)).await;
                assert_eq!(s, StatusCode::CREATED, "{b}");
                serde_json::from_str::<Value>(&b).unwrap()
            }
        };
        // Default: the profile's title; or the name given.
        let titled = submit(json!({"profile": text, "iterations": 1000})).await;
        assert_eq!(titled["name"], "DoT builder (caster, shards)");
        let named =
            submit(json!({"profile": text, "iterations": 1000, "name": "  BiS trinkets "})).await;
        assert_eq!(named["name"], "BiS trinkets");
        let id = named["id"].as_str().unwrap();
        let (s, b, _) = send(
            &app,
            "POST",
            "/api/jobs",
            Some(&alice),
            Some(json!({"profile": text, "iterations": 1000, "name": "x".repeat(101)})),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(
            serde_json::from_str::<Value>(&b).unwrap()["error"]["field"],
            "name"
        );

        let (_, body, _) = send(&app, "GET", "/", Some(&alice), None).await;
        assert!(
            body.contains(">DoT builder (caster, shards)</a>")
                && body.contains(">BiS trinkets</a>")
        );
        assert!(body.contains("data-k=\"iterations\">1,000<"));
        let (_, body, _) = send(&app, "GET", &format!("/jobs/{id}"), Some(&alice), None).await;
        assert!(body.contains("<h1 id=\"job-name\">BiS trinkets</h1>"));
        assert!(body.contains(&format!("href=\"/jobs/new?from={id}\"")));
        assert!(!body.contains("id=\"delete\""), "no delete while it runs");

        // Rename: the owner only, a real name only.
        let path = format!("/api/jobs/{id}");
        let (s, _, _) = send(
            &app,
            "PATCH",
            &path,
            Some(&bob),
            Some(json!({"name": "stolen"})),
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, b, _) = send(
            &app,
            "PATCH",
            &path,
            Some(&alice),
            Some(json!({"name": "  "})),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(
            serde_json::from_str::<Value>(&b).unwrap()["error"]["field"],
            "name"
        );
        let (s, b, _) = send(
            &app,
            "PATCH",
            &path,
            Some(&alice),
            Some(json!({"name": "<b>Trinkets</b>"})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (_, body, _) = send(&app, "GET", &format!("/jobs/{id}"), Some(&alice), None).await;
        assert!(body.contains("&lt;b&gt;Trinkets&lt;/b&gt;</h1>"), "escaped");

        // Its profile, for whoever may read the job.
        let (s, prof, _) = send(&app, "GET", &format!("{path}/profile"), Some(&alice), None).await;
        assert_eq!((s, prof.as_str()), (StatusCode::OK, text));
        assert_eq!(
            send(&app, "GET", &format!("{path}/profile"), Some(&bob), None)
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        // Re-run: the form starts from it (mine only).
        let (_, form, _) = send(
            &app,
            "GET",
            &format!("/jobs/new?from={id}"),
            Some(&alice),
            None,
        )
        .await;
        assert!(
            form.contains("id=\"from-job\"")
                && form.contains("value=\"&lt;b&gt;Trinkets&lt;/b&gt;\"")
        );
        assert!(
            form.contains("DoT builder (caster, shards)</option>"),
            "examples by title"
        );
        let (_, form, _) = send(
            &app,
            "GET",
            &format!("/jobs/new?from={id}"),
            Some(&bob),
            None,
        )
        .await;
        assert!(!form.contains("id=\"from-job\"") && !form.contains("Trinkets"));

        // Delete: not while it runs, never someone else's, then gone.
        let (s, _, _) = send(&app, "DELETE", &path, Some(&alice), None).await;
        assert_eq!(s, StatusCode::CONFLICT);
        let (s, _, _) = send(&app, "POST", &format!("{path}/cancel"), Some(&alice), None).await;
        assert_eq!(s, StatusCode::OK);
        let (_, body, _) = send(&app, "GET", &format!("/jobs/{id}"), Some(&alice), None).await;
        assert!(body.contains("id=\"delete\""));
        assert_eq!(
            send(&app, "DELETE", &path, Some(&bob), None).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            send(&app, "DELETE", &path, Some(&alice), None).await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            send(&app, "GET", &format!("/jobs/{id}"), Some(&alice), None)
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            send(&app, "DELETE", &path, Some(&alice), None).await.0,
            StatusCode::NOT_FOUND
        );
        let (_, body, _) = send(&app, "GET", "/", Some(&alice), None).await;
        assert!(!body.contains(id) && body.contains("DoT builder (caster, shards)"));
    }

    /// `send` with extra request headers.
    async fn send_with(
        app: &Router,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = app
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// An API token's use shows on the tokens page (written in the background, at most once a
    /// minute); claim tokens are created with a name, listed with their last use and state,
    /// and revoked by their owner only.
    #[tokio::test]
    async fn tokens_show_last_use_and_claim_tokens_are_managed_by_their_owner() {
        let (app, store) = app_with_store().await;
        let alice = signup(&app, "alice@example.org").await;
        let bob = signup(&app, "bob@example.org").await;
        let (_, created, _) = send(
            &app,
            "POST",
            "/api/tokens",
            Some(&alice),
            Some(json!({"name": "ci"})),
        )
        .await;
        let created: Value = serde_json::from_str(&created).unwrap();
        let secret = created["token"].as_str().unwrap();
        let (_, body, _) = send(&app, "GET", "/tokens", Some(&alice), None).await;
        assert!(
            body.contains(r#"<td data-k="last-used">never</td>"#),
            "{body}"
        );
        let bearer = format!("Bearer {secret}");
        for _ in 0..3 {
            let (s, _) =
                send_with(&app, "GET", "/api/auth/me", &[("authorization", &bearer)]).await;
            assert_eq!(s, StatusCode::OK);
        }
        let user = store
            .user_by_email("alice@example.org")
            .await
            .unwrap()
            .unwrap();
        let mut used = None;
        for _ in 0..100 {
            used = store
                .list_auth_tokens(user.id, crate::store::AuthTokenKind::Api)
                .await
                .unwrap()[0]
                .last_used_at;
            if used.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(
            used,
            Some(NOW),
            "recorded once, at the (manual) clock's time"
        );
        let (_, body, _) = send(&app, "GET", "/tokens", Some(&alice), None).await;
        let when = super::super::fmt_time(NOW.0);
        assert!(
            body.contains(&format!(r#"<td data-k="last-used">{when}</td>"#)),
            "{body}"
        );

        // Claim tokens: named, listed with last use and state, revocable by their owner only.
        let (s, c, _) = send(
            &app,
            "POST",
            "/api/claim-tokens",
            Some(&alice),
            Some(json!({"name": "rack <2>"})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        let c: Value = serde_json::from_str(&c).unwrap();
        let id = c["id"].as_str().unwrap();
        let (_, body, _) = send(&app, "GET", "/tokens", Some(&alice), None).await;
        assert!(body.contains(&format!("data-claim-token=\"{id}\"")));
        assert!(body.contains("rack &lt;2&gt;") && !body.contains(c["token"].as_str().unwrap()));
        assert!(body.contains(r#"data-revoke-claim"#));
        let (_, body, _) = send(&app, "GET", "/tokens", Some(&bob), None).await;
        assert!(!body.contains(id) && body.contains("No claim tokens yet."));
        let del = format!("/api/claim-tokens/{id}");
        assert_eq!(
            send(&app, "DELETE", &del, Some(&bob), None).await.0,
            StatusCode::NOT_FOUND,
            "someone else's claim token"
        );
        assert_eq!(
            send(&app, "DELETE", &del, Some(&alice), None).await.0,
            StatusCode::NO_CONTENT
        );
        let (_, body, _) = send(&app, "GET", "/tokens", Some(&alice), None).await;
        assert!(body.contains("pill-revoked") && !body.contains("data-revoke-claim="));
    }

    /// Deleting a job or revoking a token with the session cookie from another origin's page
    /// (a cross-site request forgery) is refused and changes nothing; so is someone else's.
    #[tokio::test]
    async fn deletes_and_revocations_from_other_origins_or_users_are_refused() {
        let app = app().await;
        let alice = signup(&app, "alice@example.org").await;
        let bob = signup(&app, "bob@example.org").await;
        let job = submit_job(&app, &alice).await;
        let path = format!("/api/jobs/{job}");
        // Running: refused with a reason, for the owner too.
        let (s, b, _) = send(&app, "DELETE", &path, Some(&alice), None).await;
        assert_eq!(s, StatusCode::CONFLICT);
        assert!(b.contains("cancel it before deleting it"), "{b}");
        send(&app, "POST", &format!("{path}/cancel"), Some(&alice), None).await;
        let (_, tok, _) = send(
            &app,
            "POST",
            "/api/tokens",
            Some(&alice),
            Some(json!({"name": "x"})),
        )
        .await;
        let tok = serde_json::from_str::<Value>(&tok).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let revoke = format!("/api/tokens/{tok}");
        for forged in [
            [
                ("cookie", alice.as_str()),
                ("origin", "http://evil.example"),
            ],
            [("cookie", alice.as_str()), ("sec-fetch-site", "cross-site")],
        ] {
            for p in [&path, &revoke] {
                let (s, v) = send_with(&app, "DELETE", p, &forged).await;
                assert_eq!(s, StatusCode::FORBIDDEN, "{p}: {v}");
                assert_eq!(v["error"]["code"], "cross_origin");
            }
        }
        // Someone else's: 404, ids do not leak.
        assert_eq!(
            send(&app, "DELETE", &path, Some(&bob), None).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            send(&app, "DELETE", &revoke, Some(&bob), None).await.0,
            StatusCode::NOT_FOUND
        );
        // Still there; the owner's own page may delete them.
        let (_, body, _) = send(&app, "GET", "/", Some(&alice), None).await;
        assert!(body.contains(&job));
        let own = [
            ("cookie", alice.as_str()),
            ("origin", "http://studio.test"),
            ("host", "studio.test"),
        ];
        assert_eq!(
            send_with(&app, "DELETE", &path, &own).await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            send_with(&app, "DELETE", &revoke, &own).await.0,
            StatusCode::NO_CONTENT
        );
    }

    /// The dashboard lists name, profile title, DPS, status...; filters by status and searches
    /// names and profile titles (a GET form); finished jobs offer delete, all offer re-run/edit.
    #[tokio::test]
    async fn the_dashboard_filters_by_status_and_searches_names_and_profiles() {
        let app = app().await;
        let alice = signup(&app, "alice@example.org").await;
        let text = include_str!("../../../../../examples/profiles/dot-builder.toml");
        let mut ids = Vec::new();
        for name in ["Alpha trinkets", "Beta talents"] {
            let (s, b, _) = send(
                &app,
                "POST",
                "/api/jobs",
                Some(&alice),
                Some(json!({"profile": text, "iterations": 1000, "name": name})),
            )
            .await;
            assert_eq!(s, StatusCode::CREATED, "{b}");
            ids.push(
                serde_json::from_str::<Value>(&b).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        send(
            &app,
            "POST",
            &format!("/api/jobs/{}/cancel", ids[0]),
            Some(&alice),
            None,
        )
        .await;
        let page = |q: &'static str| {
            let (app, alice) = (app.clone(), alice.clone());
            async move { send(&app, "GET", q, Some(&alice), None).await.1 }
        };
        let all = page("/").await;
        assert!(all.contains("Alpha trinkets") && all.contains("Beta talents"));
        assert!(
            all.contains(r#"<td data-k="profile">DoT builder (caster, shards)</td>"#),
            "{all}"
        );
        assert!(all.contains(&format!("data-rerun=\"{}\"", ids[1])));
        assert!(all.contains(&format!("href=\"/jobs/new?from={}\"", ids[1])));
        assert!(
            all.contains(&format!("data-delete=\"{}\"", ids[0])),
            "finished: delete"
        );
        assert!(
            !all.contains(&format!("data-delete=\"{}\"", ids[1])),
            "running: no delete"
        );
        let cancelled = page("/?status=cancelled").await;
        assert!(cancelled.contains("Alpha trinkets") && !cancelled.contains("Beta talents"));
        assert!(cancelled.contains("1 of 2 simulations match"));
        assert!(cancelled.contains(r#"<option value="cancelled" selected>"#));
        let search = page("/?q=BETA").await;
        assert!(!search.contains("Alpha trinkets") && search.contains("Beta talents"));
        let by_profile = page("/?q=dot%20builder").await;
        assert!(by_profile.contains("Alpha trinkets") && by_profile.contains("Beta talents"));
        let none = page("/?status=completed&q=zzz").await;
        assert!(none.contains("No simulation matches."));
        let bogus = page("/?status=bogus").await;
        assert!(bogus.contains("Alpha trinkets") && bogus.contains("Beta talents"));
    }

    /// In-process nodes of `wowlab up` belong to the grid's system user: every signed-in user
    /// sees them on the nodes page and their own page, marked "system", with no settings or
    /// unlink; nobody, admins included, can unlink them.
    #[tokio::test]
    async fn system_nodes_are_shown_as_such_without_owner_actions() {
        let (app, store) = app_with_store().await;
        let admin = signup(&app, "admin@example.org").await;
        let bob = signup(&app, "bob@example.org").await;
        let system = crate::local::ensure_user(&*store, crate::local::SYSTEM_EMAIL, NOW)
            .await
            .unwrap();
        let claim = crate::local::claim_token(&*store, system, NOW)
            .await
            .unwrap();
        let key = NodeKey::generate().unwrap();
        let reg = node_call(
            &app,
            &key,
            PATH_REGISTER,
            &RegisterRequest {
                claim_token: Some(claim),
                name: "local-0".into(),
                facts: NodeFacts {
                    hostname: "h".into(),
                    version: "0.1.0".into(),
                    cores: 2,
                    capabilities: Vec::new(),
                    local_max_parallel: None,
                },
            },
        )
        .await;
        let id: crate::domain::NodeId = serde_json::from_value(reg["node_id"].clone()).unwrap();
        for who in [&admin, &bob] {
            let (_, body, _) = send(&app, "GET", "/nodes", Some(who), None).await;
            assert!(
                body.contains("This grid&#39;s own nodes")
                    || body.contains("This grid's own nodes"),
                "{body}"
            );
            assert!(body.contains("local-0") && body.contains("pill-system"));
            assert!(body.contains("No nodes of yours yet."));
            assert!(body.contains("1 run by the grid itself"), "{body}");
            let (s, body, _) = send(&app, "GET", &format!("/nodes/{id}"), Some(who), None).await;
            assert_eq!(s, StatusCode::OK);
            assert!(body.contains("id=\"system-node\""));
            assert!(
                !body.contains("id=\"unlink\"") && !body.contains("node-settings"),
                "{body}"
            );
            let (s, _, _) = send(
                &app,
                "POST",
                &format!("/nodes/{id}/unlink"),
                Some(who),
                None,
            )
            .await;
            assert_eq!(s, StatusCode::NOT_FOUND);
        }
        assert!(store.node_by_id(id).await.unwrap().is_some());
    }

    #[test]
    fn report_renders_every_section() {
        let r = json!({
            "iterations": 1000, "mean_dps": 1234.56, "stddev": 50.0, "ci95_half_width": 3.1,
            "min_dps": 1000.0, "max_dps": 1500.0, "mean_fight_secs": 300.0,
            "events_per_iteration": 10.0,
            "percentiles": [{"p": 1.0, "dps": 1100.0}, {"p": 50.0, "dps": 1230.0}, {"p": 99.0, "dps": 1400.0}],
            "abilities": [{"name": "<Fireball>", "dps": 800.0, "share_pct": 65.0, "casts_per_fight": 20.0,
                           "hits_per_fight": 20.0, "crit_pct": 25.0, "avg_hit": 12000.0}],
            "distribution": [{"low": 1000.0, "high": 1200.0, "count": 400},
                             {"low": 1200.0, "high": 1400.0, "count": 550},
                             {"low": 1400.0, "high": 1500.0, "count": 50}]
        });
        let html = super::super::job::report_markup(&r);
        assert!(html.contains("1,234.6") && html.contains("1,231.5 – 1,237.7"));
        assert_eq!(html.matches("<rect").count(), 3, "one bar per exact bin");
        assert!(html.contains("data-count=\"550\"") && html.contains("55.0 %"));
        assert!(html.contains("mark-mean") && html.contains("median 1,230.0"));
        assert!(
            html.contains("&lt;Fireball&gt;"),
            "ability names are escaped"
        );
    }

    /// Results (stored convergence, exact distribution, contributors, share link, compare).
    mod results {
        use super::*;
        use crate::domain::{JobId, JobStatus};
        use crate::store::ConvergencePoint;

        #[tokio::test]
        async fn a_finished_job_draws_stored_progress_and_compares_with_another_run() {
            let (app, store) = app_with_store().await;
            let alice = signup(&app, "alice@example.org").await;
            let bob = signup(&app, "bob@example.org").await;
            let a = stored_job(
                &store,
                "alice@example.org",
                &[0, 1, 2],
                JobStatus::Completed,
            )
            .await;
            let b = stored_job(
                &store,
                "alice@example.org",
                &[0, 1, 2],
                JobStatus::Completed,
            )
            .await;
            let id: JobId = a.parse().unwrap();
            for (iterations, mean, ci95) in [
                (100, 1000.0, 90.0),
                (200, 1010.0, 60.0),
                (300, 1005.0, 45.0),
            ] {
                store
                    .add_convergence_point(
                        id,
                        ConvergencePoint {
                            iterations,
                            mean,
                            ci95,
                        },
                        None,
                    )
                    .await
                    .unwrap();
            }
            let (_, body, _) = send(&app, "GET", &format!("/jobs/{a}"), Some(&alice), None).await;
            let chart = &body[body
                .find("id=\"convergence\"")
                .expect("the stored convergence chart")..];
            let chart = &chart[..chart.find("</svg>").unwrap()];
            assert!(
                chart.contains(">Iterations</text>") && chart.contains(">DPS</text>"),
                "{chart}"
            );
            assert_eq!(chart.matches("y-title").count(), 1, "one y label");
            assert!(
                chart.contains(">300</text>") && chart.contains("<polyline"),
                "x ticks, a line"
            );
            assert!(
                body.find("id=\"answer-mean\"").unwrap() < body.find("id=\"convergence\"").unwrap()
            );
            assert!(body.contains("id=\"histogram\"") && body.contains("mark-median"));
            assert!(body.contains("Contributing nodes"));
            assert!(!body.contains(">—<"), "no placeholder on a finished job");

            // The chart alone, for job.js; private to the owner like the page.
            let (s, frag, _) = send(
                &app,
                "GET",
                &format!("/jobs/{a}/convergence"),
                Some(&alice),
                None,
            )
            .await;
            assert_eq!(s, StatusCode::OK);
            assert!(frag.starts_with("<svg") && frag.contains(">Iterations</text>"));
            let (s, _, _) = send(
                &app,
                "GET",
                &format!("/jobs/{a}/convergence"),
                Some(&bob),
                None,
            )
            .await;
            assert_eq!(s, StatusCode::NOT_FOUND);

            // Public: the link is absolute, with a copy button and what was simulated.
            let owner = store
                .user_by_email("alice@example.org")
                .await
                .unwrap()
                .unwrap()
                .id;
            store.set_job_public(id, owner, true).await.unwrap();
            let (_, body, _) = send(&app, "GET", &format!("/jobs/{a}"), None, None).await;
            assert!(
                body.contains(&format!(">http://localhost/jobs/{a}</a>")),
                "absolute link"
            );
            assert!(body.contains("id=\"copy-share\""));
            assert!(
                body.contains("300 iterations, seed 9."),
                "what was simulated"
            );

            // Compare: identical runs differ by nothing, and the page holds every part.
            let (s, body, _) = send(
                &app,
                "GET",
                &format!("/compare?jobs={a},{b}"),
                Some(&alice),
                None,
            )
            .await;
            assert_eq!(s, StatusCode::OK);
            for part in [
                "id=\"compare-dps\"",
                "(baseline)",
                "data-significant=\"false\"",
                "id=\"compare-abilities\"",
                "id=\"compare-convergence\"",
                "id=\"compare-histogram\"",
                "id=\"compare-picker\"",
            ] {
                assert!(body.contains(part), "{part}");
            }
            // One run is not a comparison; bob cannot compare alice's private run.
            let (_, body, _) = send(
                &app,
                "GET",
                &format!("/compare?jobs={b}"),
                Some(&alice),
                None,
            )
            .await;
            assert!(body.contains("id=\"compare-empty\""));
            let (_, body, _) = send(
                &app,
                "GET",
                &format!("/compare?jobs={b},{a}"),
                Some(&bob),
                None,
            )
            .await;
            assert!(!body.contains("id=\"compare-dps\"") && body.contains("that you can open"));
        }
    }
}
