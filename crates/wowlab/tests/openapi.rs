//! The OpenAPI contract against the running server: `wowlab up` (sentinel, beacon and one
//! in-process node) serves `/api/openapi.json`; the document must be OpenAPI 3.1, and every
//! documented operation is called for real (with a session, an API token or a signed node
//! request as it requires, and minimal valid bodies checked against the documented request
//! schemas). Each answer's status must be a documented one and its body must match the
//! documented schema for that status. Every operation must also answer a documented status
//! without credentials and, when it takes a body, for a malformed one.
//!
//! A route cannot hide from the document: the API routers register handlers only through
//! `routes!` (the route comes from the handler's `#[utoipa::path]`), and this test fails on any
//! plain `.route(` in the API router sources; an operation the test does not exercise fails it
//! too.

mod support;

#[path = "openapi/schema.rs"]
mod schema;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{json, Value};
use support::*;
use wowlab_api::signing::NodeKey;

/// Who makes a request.
#[derive(Clone, Copy)]
enum Auth<'a> {
    /// Nobody.
    None,
    /// The studio session cookie kept in this jar.
    Cookie(&'a Path),
    /// An API token.
    Bearer(&'a str),
    /// A node's signature.
    Node(&'a NodeKey),
}

/// An answer: status, content type (without parameters) and body.
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

/// The server under test and its document.
struct Api {
    url: String,
    host: String,
    doc: Value,
    /// `(method, path template)` of every call made, with its status.
    seen: BTreeMap<(String, String), BTreeSet<u16>>,
}

impl Api {
    /// Sends `method path` (path with its parameters filled in; `template` is the documented
    /// path) and checks the answer against the document.
    fn call(
        &mut self,
        method: &str,
        template: &str,
        path: &str,
        auth: Auth,
        body: Option<&str>,
    ) -> Answer {
        let op = self.operation(method, template);
        if let (Some(b), Some(schema)) = (body, request_schema(&op)) {
            // Only well-formed bodies are checked: the malformed probes are meant to be wrong.
            if let Ok(v) = serde_json::from_str::<Value>(b) {
                if let Err(e) = schema::validate(&self.doc, &schema, &v) {
                    panic!("{method} {template}: the test's body {b} does not match the documented request schema: {e}");
                }
            }
        }
        let answer = self.send(method, path, auth, body);
        self.check(method, template, &op, &answer);
        self.seen
            .entry((method.to_owned(), template.to_owned()))
            .or_default()
            .insert(answer.status);
        answer
    }

    /// [`Api::call`] for a path without parameters, expecting `want`; returns the JSON body.
    fn expect(
        &mut self,
        want: u16,
        method: &str,
        path: &str,
        auth: Auth,
        body: Option<Value>,
    ) -> Value {
        self.expect_at(want, method, path, path, auth, body)
    }

    /// [`Api::call`] expecting `want`; returns the JSON body (`Null` when not JSON).
    fn expect_at(
        &mut self,
        want: u16,
        method: &str,
        template: &str,
        path: &str,
        auth: Auth,
        body: Option<Value>,
    ) -> Value {
        let text = body.map(|b| b.to_string());
        let a = self.call(method, template, path, auth, text.as_deref());
        assert_eq!(a.status, want, "{method} {path}: {}", a.body);
        serde_json::from_str(&a.body).unwrap_or(Value::Null)
    }

    /// The documented operation (panics naming it when undocumented).
    fn operation(&self, method: &str, template: &str) -> Value {
        self.doc["paths"][template][method.to_lowercase()]
            .clone()
            .as_object()
            .map(|o| Value::Object(o.clone()))
            .unwrap_or_else(|| panic!("{method} {template} is not in the document"))
    }

    /// The answer's status is documented, and so are its content type and body shape.
    fn check(&self, method: &str, template: &str, op: &Value, a: &Answer) {
        let responses = &op["responses"];
        let Some(doc) = responses.get(a.status.to_string()) else {
            panic!(
                "{method} {template} answered {} which is not documented (documented: {:?}): {}",
                a.status,
                responses.as_object().map(|r| r.keys().collect::<Vec<_>>()),
                a.body
            );
        };
        let Some(content) = doc["content"].as_object() else {
            assert!(
                a.body.is_empty(),
                "{method} {template} {}: documented without a body, got {}",
                a.status,
                a.body
            );
            return;
        };
        let Some(media) = content.get(&a.content_type) else {
            panic!(
                "{method} {template} {}: content type {:?} is not documented ({:?})",
                a.status,
                a.content_type,
                content.keys().collect::<Vec<_>>()
            );
        };
        if a.content_type == "application/json" {
            let v: Value = serde_json::from_str(&a.body).unwrap_or_else(|e| {
                panic!(
                    "{method} {template} {}: not JSON ({e}): {}",
                    a.status, a.body
                )
            });
            if let Err(e) = schema::validate(&self.doc, &media["schema"], &v) {
                panic!(
                    "{method} {template} {}: body does not match the documented schema: {e}\n{}",
                    a.status, a.body
                );
            }
        }
    }

    /// Sends one request with curl (signing it for a node).
    fn send(&self, method: &str, path: &str, auth: Auth, body: Option<&str>) -> Answer {
        let mut c = Command::new("curl");
        c.args(["-s", "-m", "20", "-X", method])
            .args(["-w", "\n%{http_code}\n%{content_type}"]);
        match auth {
            Auth::None => {}
            Auth::Cookie(jar) => {
                c.arg("-c").arg(jar).arg("-b").arg(jar);
            }
            Auth::Bearer(t) => {
                c.args(["-H", &format!("authorization: Bearer {t}")]);
            }
            Auth::Node(key) => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_millis() as u64;
                let bytes = body.unwrap_or_default().as_bytes();
                let signed = key.sign(now, method, &self.host, path, bytes).unwrap();
                for (name, value) in signed.pairs() {
                    c.args(["-H", &format!("{name}: {value}")]);
                }
            }
        }
        if let Some(b) = body {
            c.args(["-H", "content-type: application/json", "--data-binary", b]);
        }
        let out = c.arg(format!("{}{path}", self.url)).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut tail = text.rsplitn(3, '\n');
        let content_type = tail.next().unwrap_or_default();
        let status = tail.next().unwrap_or_default();
        let body = tail.next().unwrap_or_default();
        Answer {
            status: status
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("{method} {path}: no answer ({text})")),
            content_type: content_type
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned(),
            body: body.to_owned(),
        }
    }
}

/// The documented JSON request body schema of an operation, if any.
fn request_schema(op: &Value) -> Option<Value> {
    let s = &op["requestBody"]["content"]["application/json"]["schema"];
    (!s.is_null()).then(|| s.clone())
}

/// Every `(method, path)` of the document.
fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                ops.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

/// The API router sources register every route through `routes!`: a plain `.route(` (or a
/// nested or service route) would serve a path the document does not know.
#[test]
fn api_routers_register_routes_only_through_their_documentation() {
    let http = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sentinel/src/http");
    let mut files = vec![http.join("mod.rs"), http.join("openapi.rs")];
    for dir in ["user", "node"] {
        for e in std::fs::read_dir(http.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "rs")
                && !p.file_name().unwrap().to_string_lossy().contains("tests")
            {
                files.push(p);
            }
        }
    }
    assert!(files.len() > 10, "the router sources moved: {files:?}");
    let mut routers = 0;
    for f in &files {
        let src = std::fs::read_to_string(f).unwrap();
        routers += src.matches(".routes(routes!(").count();
        for bad in [".route(", ".route_service(", ".nest(", ".nest_service("] {
            assert!(
                !src.contains(bad),
                "{} registers a route with `{bad}`: use `.routes(routes!(handler))` with a \
                 `#[utoipa::path]` on the handler, so the route is in /api/openapi.json",
                f.display()
            );
        }
    }
    assert!(routers >= 30, "only {routers} documented routes found");
}

#[test]
fn every_documented_operation_answers_as_documented_by_the_running_server() {
    let dir = tempdir("openapi");
    let (_up, url) = start_up(&dir);
    let (s, text) = http(&format!("{url}/api/openapi.json"), "GET", None, None).unwrap();
    assert_eq!(s, 200, "{text}");
    let doc = json(&text);
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1.")),
        "not OpenAPI 3.1: {}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let mut api = Api {
        url: url.clone(),
        host: url.trim_start_matches("http://").to_owned(),
        doc,
        seen: BTreeMap::new(),
    };
    exercise(&mut api, &dir);

    // Every operation without credentials, and with a malformed body where it takes one:
    // whatever the answer, it is a documented one.
    let ops = operations(&api.doc);
    let sample = |t: &str| {
        t.replace("{id}", "00000000-0000-4000-8000-000000000000")
            .replace("{hash}", "00")
    };
    for (method, template) in &ops {
        let path = sample(template);
        api.call(method, template, &path, Auth::None, None);
        let op = api.operation(method, template);
        if op.get("requestBody").is_some() {
            api.call(method, template, &path, Auth::None, Some("{not json"));
        }
    }

    // Every documented operation was exercised, and answered a documented success.
    for (method, template) in &ops {
        let seen = &api.seen[&(method.clone(), template.clone())];
        assert!(
            seen.iter().any(|s| (200..300).contains(s)),
            "{method} {template} never succeeded in this test (answers seen: {seen:?}); add a call for it"
        );
    }
    assert!(ops.len() >= 39, "only {} operations documented", ops.len());
}

/// A profile the in-process node runs in well under a second per chunk.
const PROFILE: &str = include_str!("../../../examples/profiles/pet-procs.toml");

/// Calls every operation with valid requests, in an order where each has what it needs.
fn exercise(api: &mut Api, dir: &Path) {
    let jar = dir.join("cookies");
    let jar = Auth::Cookie(&jar);
    let creds = json!({"email": "admin@example.org", "password": "password123"});
    api.expect(200, "GET", "/api/openapi.json", Auth::None, None);
    api.expect(201, "POST", "/api/auth/signup", jar, Some(creds.clone()));
    api.expect(200, "POST", "/api/auth/login", jar, Some(creds));
    api.expect(200, "GET", "/api/auth/me", jar, None);

    // Tokens: an API token for the rest, one more to revoke.
    let token = api.expect(
        201,
        "POST",
        "/api/tokens",
        jar,
        Some(json!({"name": "openapi"})),
    );
    let token = token["token"].as_str().unwrap().to_owned();
    let bearer = Auth::Bearer(&token);
    let spare = api.expect(
        201,
        "POST",
        "/api/tokens",
        bearer,
        Some(json!({"expiresInDays": 1})),
    );
    api.expect(200, "GET", "/api/tokens", bearer, None);
    let hash = spare["id"].as_str().unwrap();
    api.expect_at(
        204,
        "DELETE",
        "/api/tokens/{hash}",
        &format!("/api/tokens/{hash}"),
        bearer,
        None,
    );

    let claim = api.expect(201, "POST", "/api/claim-tokens", bearer, Some(json!({})));
    let claim_token = claim["token"].as_str().unwrap().to_owned();
    let spare = api.expect(201, "POST", "/api/claim-tokens", bearer, None);
    api.expect(200, "GET", "/api/claim-tokens", bearer, None);
    let id = spare["id"].as_str().unwrap();
    api.expect_at(
        204,
        "DELETE",
        "/api/claim-tokens/{id}",
        &format!("/api/claim-tokens/{id}"),
        bearer,
        None,
    );

    api.expect(200, "GET", "/api/admin/quotas", bearer, None);
    api.expect(
        200,
        "PUT",
        "/api/admin/quotas",
        bearer,
        Some(json!({"maxActiveJobs": 20})),
    );

    // Node API: one node registers with the claim token, another unowned and is claimed by
    // its code.
    let facts = json!({"hostname": "openapi", "version": "test", "cores": 2});
    let node = NodeKey::generate().unwrap();
    let signed = Auth::Node(&node);
    let reg = api.expect(
        200,
        "POST",
        "/api/node/register",
        signed,
        Some(json!({"claim_token": claim_token, "name": "openapi-node", "facts": facts})),
    );
    let node_id = reg["node_id"].as_str().unwrap().to_owned();
    let loose = NodeKey::generate().unwrap();
    let reg = api.expect(
        200,
        "POST",
        "/api/node/register",
        Auth::Node(&loose),
        Some(json!({"name": "loose", "facts": facts})),
    );
    let code = reg["claim_code"]
        .as_str()
        .expect("an unowned node gets a code");
    api.expect(
        200,
        "POST",
        "/api/nodes/claim",
        bearer,
        Some(json!({"code": code})),
    );
    api.expect(204, "POST", "/api/node/unlink", Auth::Node(&loose), None);
    let metrics =
        json!({"load1": 0.5, "mem_used_bytes": 1, "mem_total_bytes": 2, "sims_per_sec": 0.0});
    api.expect(
        200,
        "POST",
        "/api/node/heartbeat",
        signed,
        Some(json!({"free_slots": 0, "active": [], "metrics": metrics})),
    );
    api.expect(200, "POST", "/api/node/token", signed, None);
    api.expect(200, "POST", "/api/node/tunnel-credentials", signed, None);
    api.expect(200, "GET", "/api/node/leases", signed, None);

    let nodes = api.expect(200, "GET", "/api/nodes", bearer, None);
    let path = format!("/api/nodes/{node_id}");
    api.expect_at(
        200,
        "PATCH",
        "/api/nodes/{id}",
        &path,
        bearer,
        Some(json!({"name": "renamed", "maxParallel": 1})),
    );
    // The in-process node of `wowlab up` answers live through the in-process tunnel.
    let local = nodes
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] != node_id.as_str() && n["status"] == "online")
        .or_else(|| {
            nodes
                .as_array()
                .unwrap()
                .iter()
                .find(|n| n["name"] != "openapi-node" && n["name"] != "loose")
        })
        .expect("the in-process node is listed")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let live = format!("/api/nodes/{local}/live");
    let mut online = Value::Null;
    wait_until(
        "the in-process node answers live",
        Duration::from_secs(60),
        || {
            online = api.expect_at(200, "GET", "/api/nodes/{id}/live", &live, bearer, None);
            online["online"] == true
        },
    );
    let logs = format!("/api/nodes/{local}/logs?lines=5");
    api.expect_at(200, "GET", "/api/nodes/{id}/logs", &logs, bearer, None);

    // A small job the in-process node completes.
    let job = api.expect(
        201,
        "POST",
        "/api/jobs",
        bearer,
        Some(json!({"profile": PROFILE, "iterations": 200, "seed": 7, "name": "openapi"})),
    );
    let job = job["id"].as_str().unwrap().to_owned();
    api.expect(200, "GET", "/api/jobs", bearer, None);
    let at = |suffix: &str| format!("/api/jobs/{job}{suffix}");
    api.expect_at(
        200,
        "PATCH",
        "/api/jobs/{id}",
        &at(""),
        bearer,
        Some(json!({"name": "renamed"})),
    );
    api.expect_at(
        200,
        "POST",
        "/api/jobs/{id}/visibility",
        &at("/visibility"),
        bearer,
        Some(json!({"public": true})),
    );
    api.expect_at(
        200,
        "GET",
        "/api/realtime/job-token",
        &format!("/api/realtime/job-token?jobId={job}"),
        Auth::None,
        None,
    );
    api.expect(200, "GET", "/api/realtime/grid-token", bearer, None);
    wait_until("the job completes", Duration::from_secs(120), || {
        let v = api.expect_at(200, "GET", "/api/jobs/{id}", &at(""), bearer, None);
        assert!(
            !["failed", "cancelled"].contains(&v["status"].as_str().unwrap()),
            "{v}"
        );
        v["status"] == "completed"
    });
    api.expect_at(
        200,
        "GET",
        "/api/jobs/{id}/result",
        &at("/result"),
        Auth::None,
        None,
    );
    api.expect_at(
        200,
        "GET",
        "/api/jobs/{id}/aggregate",
        &at("/aggregate"),
        bearer,
        None,
    );
    api.expect_at(
        200,
        "GET",
        "/api/jobs/{id}/profile",
        &at("/profile"),
        bearer,
        None,
    );
    api.expect_at(
        409,
        "POST",
        "/api/jobs/{id}/cancel",
        &at("/cancel"),
        bearer,
        None,
    );
    api.expect_at(204, "DELETE", "/api/jobs/{id}", &at(""), bearer, None);

    // A long job with tiny chunks: the signed node takes leases, fetches the profile, reports
    // one chunk done and one failed; then the job is cancelled.
    let long = api.expect(
        201,
        "POST",
        "/api/jobs",
        bearer,
        Some(json!({"profile": PROFILE, "iterations": 100_000, "seed": "11", "chunkSize": 2})),
    );
    let long = long["id"].as_str().unwrap().to_owned();
    let mut leases = Vec::new();
    wait_until(
        "leases for the signed node",
        Duration::from_secs(30),
        || {
            let v = api.expect(
                200,
                "POST",
                "/api/node/leases",
                signed,
                Some(json!({"free_slots": 2})),
            );
            leases = v["leases"].as_array().unwrap().clone();
            leases.len() >= 2
        },
    );
    let hash = leases[0]["config_hash"].as_str().unwrap();
    api.expect(
        200,
        "POST",
        "/api/node/config",
        signed,
        Some(json!({"config_hash": hash})),
    );
    let done = &leases[0];
    let profile = wowlab_sim::compile_str(PROFILE).unwrap();
    let result = wowlab_sim::run_chunk(
        &profile,
        done["seed"].as_u64().unwrap(),
        done["iter_start"].as_u64().unwrap()..done["iter_end"].as_u64().unwrap(),
    )
    .unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(result.encode());
    let lease =
        |l: &Value| json!({"job_id": l["job_id"], "chunk": l["chunk"], "fence": l["fence"]});
    let mut complete = lease(done);
    complete["result_b64"] = b64.into();
    complete["elapsed_ms"] = 1.into();
    let v = api.expect(
        200,
        "POST",
        "/api/node/chunks/complete",
        signed,
        Some(complete.clone()),
    );
    assert_eq!(v["accepted"], true, "{v}");
    // The same result again, in a batch. A new node's first results are all spot-checked by
    // another owner's node (here the in-process one): the lease ended when the result was held,
    // yet the answer is "already_done", as for a re-sent ordinary result, so it never tells a
    // node that its chunk was a check.
    let v = api.expect(
        200,
        "POST",
        "/api/node/chunks/complete-batch",
        signed,
        Some(json!({"results": [complete]})),
    );
    let again = v["results"][0].as_str();
    assert_eq!(again, Some("already_done"), "{v}");
    let mut fail = lease(&leases[1]);
    fail["reason"] = "openapi test".into();
    api.expect(200, "POST", "/api/node/chunks/fail", signed, Some(fail));
    let at = |suffix: &str| format!("/api/jobs/{long}{suffix}");
    api.expect_at(
        200,
        "POST",
        "/api/jobs/{id}/cancel",
        &at("/cancel"),
        bearer,
        None,
    );
    api.expect_at(
        200,
        "GET",
        "/api/jobs/{id}/checks",
        &at("/checks"),
        bearer,
        None,
    );
    // Spot-check review: the admin quarantines the registered node by hand, then releases it.
    for action in ["quarantine", "release"] {
        let v = api.expect_at(
            200,
            "POST",
            &format!("/api/admin/nodes/{{id}}/{action}"),
            &format!("/api/admin/nodes/{node_id}/{action}"),
            bearer,
            None,
        );
        assert_eq!(v["quarantinedAt"].is_null(), action == "release", "{v}");
    }

    api.expect(204, "POST", "/api/auth/logout", jar, None);
    assert_eq!(
        api.call("GET", "/api/auth/me", "/api/auth/me", jar, None)
            .status,
        401
    );
}
