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
            },
        )
        .await;

        // Presence (beacon) marks it online; the figures are current only then.
        let (_, body, _) = send(&app, "GET", "/nodes", Some(&alice), None).await;
        assert!(body.contains(r#"data-k="cores-in-use">0 / 4<"#), "{body}");
        assert!(store
            .set_node_status(node_id, NodeStatus::Online)
            .await
            .unwrap());

        let (s, body, _) = send(&app, "GET", "/nodes", Some(&alice), None).await;
        assert_eq!(s, StatusCode::OK);
        assert!(
            body.contains("busy-box") && body.contains("Cores in use") && body.contains("Sims/s")
        );
        assert!(body.contains(r#"data-k="cores-in-use">4 / 4<"#), "{body}");
        assert!(body.contains("data-k=\"sims\">1\u{2009}234<"), "{body}");
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
        assert!(body.contains("data-k=\"sims\">1\u{2009}234<"));
        assert!(body.contains(r#"data-k="load1">3.50<"#) && body.contains("3.0 / 8.0 GiB"));

        for (page, who) in [("/", Some(alice.as_str())), ("/grid", None)] {
            let (s, body, _) = send(&app, "GET", page, who, None).await;
            assert_eq!(s, StatusCode::OK);
            assert!(
                body.contains(r#"data-stat="nodes-online">1 / 1<"#),
                "{page}: {body}"
            );
            assert!(body.contains(r#"data-stat="cores">4<"#), "{page}");
            assert!(body.contains(r#"data-stat="cores-in-use">4<"#), "{page}");
            assert!(body.contains("data-stat=\"sims\">1\u{2009}234<"), "{page}");
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
            },
        )
        .await;
        // The owner's setting travels unchanged: the node applies its own cap beneath it.
        assert_eq!(reply["settings"]["max_parallel"], 2);
        assert!(store
            .set_node_status(node_id, NodeStatus::Online)
            .await
            .unwrap());

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

    #[test]
    fn report_renders_every_section() {
        let r = json!({
            "iterations": 1000, "mean_dps": 1234.56, "stddev": 50.0, "ci95_half_width": 3.1,
            "min_dps": 1000.0, "max_dps": 1500.0, "mean_fight_secs": 300.0,
            "events_per_iteration": 10.0,
            "percentiles": [{"p": 1.0, "dps": 1100.0}, {"p": 50.0, "dps": 1230.0}, {"p": 99.0, "dps": 1400.0}],
            "abilities": [{"name": "<Fireball>", "dps": 800.0, "share_pct": 65.0, "casts_per_fight": 20.0,
                           "hits_per_fight": 20.0, "crit_pct": 25.0, "avg_hit": 12000.0}]
        });
        let html = super::super::job::report_markup(&r);
        assert!(html.contains("1234.6") && html.contains("1231.5 – 1237.7"));
        assert_eq!(html.matches("<rect").count(), 4, "one bar per quantile gap");
        assert!(
            html.contains("&lt;Fireball&gt;"),
            "ability names are escaped"
        );
    }
}
