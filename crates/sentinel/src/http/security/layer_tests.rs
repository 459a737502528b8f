//! The defences through the full router: origin rule, rate limits, token and claim expiry,
//! hashed expiring claim codes, fair-use quotas, security headers and the sign-in `next`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tower::ServiceExt;
use wowlab_api::node::{NodeFacts, RegisterRequest, PATH_REGISTER};
use wowlab_api::signing::NodeKey;

use super::rate_limit::RateLimit;
use super::{ActionLimits, RateLimits, SecurityConfig};
use crate::coordinator::MemoryCoordinator;
use crate::domain::{TokenHash, UnixMillis};
use crate::engine::{ProfileEngine, ValidatedProfile};
use crate::http::{router, Context, ManualClock, NodeApiConfig};
use crate::publish::{Funnel, RecordingPublisher};
use crate::store::{SqliteStore, Store};
use crate::tokens::TokenMinter;

const NOW: UnixMillis = UnixMillis(1_800_000_000_000);
const HOST: &str = "grid.test:8080";
const DAY_MS: u64 = 86_400_000;

struct Engine;

impl ProfileEngine for Engine {
    fn validate(&self, profile: &str) -> Result<ValidatedProfile, String> {
        Ok(ValidatedProfile {
            content_hash: hex::encode(Sha256::digest(profile.as_bytes())),
            iteration_cost_ns: 1_000,
        })
    }
}

struct App {
    app: Router,
    store: Arc<SqliteStore>,
    clock: Arc<ManualClock>,
}

/// A response: status, JSON body (or `Null`), headers.
struct Got {
    status: StatusCode,
    body: Value,
    headers: axum::http::HeaderMap,
}

impl Got {
    fn code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }
}

/// One request: method, path, extra headers, client address, body.
struct Call<'a> {
    method: &'a str,
    path: &'a str,
    headers: Vec<(&'a str, String)>,
    peer: &'a str,
    body: Option<Value>,
}

impl<'a> Call<'a> {
    fn new(method: &'a str, path: &'a str) -> Self {
        Self {
            method,
            path,
            headers: vec![("host", HOST.to_owned())],
            peer: "192.0.2.1:40000",
            body: None,
        }
    }
    fn cookie(mut self, c: &str) -> Self {
        self.headers.push(("cookie", c.to_owned()));
        self
    }
    fn bearer(mut self, t: &str) -> Self {
        self.headers.push(("authorization", format!("Bearer {t}")));
        self
    }
    fn header(mut self, k: &'a str, v: &str) -> Self {
        self.headers.push((k, v.to_owned()));
        self
    }
    fn from(mut self, peer: &'a str) -> Self {
        self.peer = peer;
        self
    }
    fn json(mut self, v: Value) -> Self {
        self.body = Some(v);
        self
    }
}

impl App {
    async fn new() -> Self {
        Self::with(SecurityConfig::default()).await
    }

    async fn with(security: SecurityConfig) -> Self {
        let store = Arc::new(SqliteStore::memory().await.unwrap());
        let clock = Arc::new(ManualClock::new(NOW));
        let (state, _log) = Context::new(crate::context::ContextParts {
            coordinator: Arc::new(MemoryCoordinator::new()),
            store: store.clone(),
            funnel: Funnel::new(Arc::new(RecordingPublisher::default())),
            clock: clock.clone(),
            config: NodeApiConfig::default(),
            tokens: TokenMinter::new(b"secret"),
            engine: Arc::new(Engine),
            security,
        });
        Self {
            app: router(state),
            store,
            clock,
        }
    }

    async fn call(&self, c: Call<'_>) -> Got {
        let mut req = Request::builder().method(c.method).uri(c.path);
        for (k, v) in &c.headers {
            req = req.header(*k, v);
        }
        let body = match c.body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                Body::from(b.to_string())
            }
            None => Body::empty(),
        };
        let mut req = req.body(body).unwrap();
        let peer: SocketAddr = c.peer.parse().unwrap();
        req.extensions_mut().insert(ConnectInfo(peer));
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        Got {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            headers,
        }
    }

    /// Signs up `email` (from its own address) and returns the session cookie pair.
    async fn user(&self, email: &str) -> String {
        let got = self
            .call(
                Call::new("POST", "/api/auth/signup")
                    .from("198.51.100.200:1")
                    .json(json!({"email": email, "password": "hunter22!"})),
            )
            .await;
        assert_eq!(got.status, StatusCode::CREATED, "{}", got.body);
        let c = got.headers["set-cookie"].to_str().unwrap();
        c.split(';').next().unwrap().to_owned()
    }

    /// Registers a new node key with `claim_token` (or none), signed at the clock's time.
    async fn register(&self, key: &NodeKey, claim_token: Option<&str>) -> Got {
        let body = serde_json::to_vec(&RegisterRequest {
            claim_token: claim_token.map(str::to_owned),
            name: "n".into(),
            facts: NodeFacts {
                hostname: "h".into(),
                version: "0.1.0".into(),
                cores: 2,
                capabilities: Vec::new(),
                local_max_parallel: None,
            },
        })
        .unwrap();
        let now = crate::http::Clock::now(&*self.clock);
        let signed = key.sign(now.0, "POST", HOST, PATH_REGISTER, &body).unwrap();
        let mut req = Request::builder()
            .method("POST")
            .uri(PATH_REGISTER)
            .header("host", HOST)
            .header("content-type", "application/json");
        for (k, v) in signed.pairs() {
            req = req.header(k, v);
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
        Got {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            headers: Default::default(),
        }
    }
}

/// Limits per hour, so slow password hashing in debug builds refills nothing mid-test.
fn tight(address: u32, account: u32) -> ActionLimits {
    ActionLimits {
        address: RateLimit::new(address, Duration::from_secs(3600)),
        account: RateLimit::new(account, Duration::from_secs(3600)),
    }
}

#[tokio::test]
async fn cookie_posts_from_another_origin_are_refused_bearer_and_own_origin_pass() {
    let a = App::new().await;
    let alice = a.user("alice@x.org").await;
    // The defect: a page on another origin minting a claim token with the user's cookie.
    let got = a
        .call(
            Call::new("POST", "/api/claim-tokens")
                .cookie(&alice)
                .header("origin", "http://evil.example"),
        )
        .await;
    assert_eq!(
        (got.status, got.code()),
        (StatusCode::FORBIDDEN, Some("cross_origin")),
        "{}",
        got.body
    );
    assert!(a
        .store
        .list_claim_tokens(
            a.store
                .user_by_email("alice@x.org")
                .await
                .unwrap()
                .unwrap()
                .id
        )
        .await
        .unwrap()
        .is_empty());
    // Another port of the same host and a same-site page are other origins too.
    for (k, v) in [
        ("origin", "http://grid.test:9999"),
        ("sec-fetch-site", "same-site"),
        ("origin", "null"),
    ] {
        let got = a
            .call(
                Call::new("POST", "/api/claim-tokens")
                    .cookie(&alice)
                    .header(k, v),
            )
            .await;
        assert_eq!(got.status, StatusCode::FORBIDDEN, "{k}: {v}");
    }
    // Cancelling, unlinking (studio form) and sign-up are covered by the same rule.
    for path in ["/api/jobs/x/cancel", "/nodes/x/unlink", "/api/auth/signup"] {
        let got = a
            .call(
                Call::new("POST", path)
                    .cookie(&alice)
                    .header("origin", "http://evil.example")
                    .json(json!({})),
            )
            .await;
        assert_eq!(got.code(), Some("cross_origin"), "{path}");
    }
    // The studio's own pages.
    let got = a
        .call(
            Call::new("POST", "/api/claim-tokens")
                .cookie(&alice)
                .header("origin", "http://grid.test:8080")
                .header("sec-fetch-site", "same-origin"),
        )
        .await;
    assert_eq!(got.status, StatusCode::CREATED, "{}", got.body);
    // API tokens are unaffected by Origin.
    let got = a
        .call(
            Call::new("POST", "/api/tokens")
                .cookie(&alice)
                .json(json!({"name": "cli"})),
        )
        .await;
    let token = got.body["token"].as_str().unwrap().to_owned();
    let got = a
        .call(
            Call::new("POST", "/api/claim-tokens")
                .bearer(&token)
                .header("origin", "http://evil.example"),
        )
        .await;
    assert_eq!(got.status, StatusCode::CREATED, "{}", got.body);
}

#[tokio::test]
async fn allowed_origins_pass_and_https_pages_get_a_secure_cookie() {
    let a = App::with(SecurityConfig {
        allowed_origins: vec!["https://grid.example".into()],
        ..SecurityConfig::default()
    })
    .await;
    let got = a
        .call(
            Call::new("POST", "/api/auth/signup")
                .header("origin", "https://grid.example")
                .json(json!({"email": "a@x.org", "password": "hunter22!"})),
        )
        .await;
    assert_eq!(got.status, StatusCode::CREATED, "{}", got.body);
    let cookie = got.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    let got = a
        .call(
            Call::new("POST", "/api/auth/login")
                .header("origin", "http://grid.test:8080")
                .json(json!({"email": "a@x.org", "password": "hunter22!"})),
        )
        .await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(!got.headers["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Secure"));
}

#[tokio::test]
async fn sign_in_guessing_is_throttled_while_others_sign_in() {
    let a = App::with(SecurityConfig {
        limits: RateLimits {
            sign_in: tight(3, 5),
            ..RateLimits::default()
        },
        ..SecurityConfig::default()
    })
    .await;
    a.user("alice@x.org").await;
    a.user("bob@x.org").await;
    let guess = |peer: &'static str, email: &str| {
        Call::new("POST", "/api/auth/login")
            .from(peer)
            .json(json!({"email": email, "password": "wrong-guess"}))
    };
    for _ in 0..3 {
        let got = a.call(guess("203.0.113.5:1000", "alice@x.org")).await;
        assert_eq!(got.code(), Some("bad_credentials"));
    }
    let got = a.call(guess("203.0.113.5:1001", "alice@x.org")).await;
    assert_eq!(
        (got.status, got.code()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited"))
    );
    let wait: u64 = got.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=1200).contains(&wait), "one of 3 per hour: {wait}");
    // Bob, from another address, still signs in.
    let got = a
        .call(
            Call::new("POST", "/api/auth/login")
                .from("198.51.100.7:2000")
                .json(json!({"email": "bob@x.org", "password": "hunter22!"})),
        )
        .await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.body);
    // Spreading the guesses over addresses hits the account's limit (5).
    let peers = ["203.0.113.6:1", "203.0.113.7:1", "203.0.113.8:1"];
    let mut codes = Vec::new();
    for p in peers {
        codes.push(a.call(guess(p, "ALICE@x.org ")).await.status);
    }
    assert_eq!(
        codes,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    // IPv6 neighbours in one /64 share a bucket.
    let a = App::with(SecurityConfig {
        limits: RateLimits {
            sign_in: tight(1, 100),
            ..RateLimits::default()
        },
        ..SecurityConfig::default()
    })
    .await;
    let first = a.call(guess("[2001:db8:1:2::1]:1", "x@x.org")).await;
    let second = a.call(guess("[2001:db8:1:2::99]:1", "x@x.org")).await;
    assert_eq!(
        (first.status, second.status),
        (StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS)
    );
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client_others_cannot() {
    let a = App::with(SecurityConfig {
        trusted_proxies: vec!["10.0.0.1".parse().unwrap()],
        limits: RateLimits {
            sign_in: tight(1, 100),
            ..RateLimits::default()
        },
        ..SecurityConfig::default()
    })
    .await;
    let login = |peer: &'static str, xff: &str| {
        Call::new("POST", "/api/auth/login")
            .from(peer)
            .header("x-forwarded-for", xff)
            .json(json!({"email": "x@x.org", "password": "wrong-guess"}))
    };
    // Behind the proxy, two clients have two buckets.
    assert_eq!(a.call(login("10.0.0.1:1", "1.1.1.1")).await.status, 401);
    assert_eq!(a.call(login("10.0.0.1:1", "2.2.2.2")).await.status, 401);
    assert_eq!(a.call(login("10.0.0.1:1", "2.2.2.2")).await.status, 429);
    // A direct client cannot pick a fresh bucket with the header.
    assert_eq!(a.call(login("203.0.113.1:1", "3.3.3.3")).await.status, 401);
    assert_eq!(a.call(login("203.0.113.1:1", "4.4.4.4")).await.status, 429);
}

#[tokio::test]
async fn token_creation_and_claim_code_entry_are_limited_per_account() {
    let a = App::with(SecurityConfig {
        limits: RateLimits {
            create_token: tight(100, 2),
            claim_code: tight(100, 2),
            ..RateLimits::default()
        },
        ..SecurityConfig::default()
    })
    .await;
    let alice = a.user("alice@x.org").await;
    let bob = a.user("bob@x.org").await;
    let mut got = Vec::new();
    for path in ["/api/tokens", "/api/claim-tokens", "/api/tokens"] {
        let c = Call::new("POST", path).cookie(&alice).json(json!({}));
        got.push(a.call(c).await.status.as_u16());
    }
    assert_eq!(got, [201, 201, 429]);
    // Bob is another account.
    let b = a
        .call(
            Call::new("POST", "/api/tokens")
                .cookie(&bob)
                .json(json!({})),
        )
        .await;
    assert_eq!(b.status, StatusCode::CREATED);
    let mut got = Vec::new();
    for _ in 0..3 {
        let c = Call::new("POST", "/api/nodes/claim")
            .cookie(&alice)
            .json(json!({"code": "ABCD-EFGH"}));
        got.push(a.call(c).await.status.as_u16());
    }
    assert_eq!(got, [404, 404, 429]);
}

#[tokio::test]
async fn api_tokens_may_expire_and_say_so() {
    let a = App::new().await;
    let alice = a.user("alice@x.org").await;
    let got = a
        .call(
            Call::new("POST", "/api/tokens")
                .cookie(&alice)
                .json(json!({"name": "ci", "expiresInDays": 1})),
        )
        .await;
    assert_eq!(got.status, StatusCode::CREATED, "{}", got.body);
    assert_eq!(got.body["expiresAt"], NOW.0 + DAY_MS);
    let token = got.body["token"].as_str().unwrap().to_owned();
    let me = || Call::new("GET", "/api/auth/me").bearer(&token);
    assert_eq!(a.call(me()).await.status, StatusCode::OK);
    a.clock.advance_ms(DAY_MS);
    let got = a.call(me()).await;
    assert_eq!(
        (got.status, got.code()),
        (StatusCode::UNAUTHORIZED, Some("token_expired"))
    );
    // An unknown token is not "expired".
    let got = a
        .call(Call::new("GET", "/api/auth/me").bearer("wl_nope"))
        .await;
    assert_eq!(got.code(), Some("sign_in_required"));
    for bad in [json!({"expiresInDays": 0}), json!({"expiresInDays": 4000})] {
        let got = a
            .call(Call::new("POST", "/api/tokens").cookie(&alice).json(bad))
            .await;
        assert_eq!(got.body["error"]["field"], "expiresInDays", "{}", got.body);
    }
}

#[tokio::test]
async fn claim_tokens_are_listed_revoked_and_expire_and_then_attach_no_node() {
    let a = App::new().await;
    let alice = a.user("alice@x.org").await;
    let bob = a.user("bob@x.org").await;
    let create = |body: Option<Value>| {
        let c = Call::new("POST", "/api/claim-tokens").cookie(&alice);
        match body {
            Some(b) => c.json(b),
            None => c,
        }
    };
    let first = a.call(create(None)).await;
    assert_eq!(
        first.body["expiresAt"],
        NOW.0 + 7 * DAY_MS,
        "default 7 days"
    );
    let short = a.call(create(Some(json!({"expiresInDays": 1})))).await;
    assert_eq!(short.body["expiresAt"], NOW.0 + DAY_MS);
    let (t1, id1) = (
        first.body["token"].as_str().unwrap().to_owned(),
        first.body["id"].as_str().unwrap().to_owned(),
    );
    assert_eq!(TokenHash::of(&t1).as_str(), id1);
    let list = a
        .call(Call::new("GET", "/api/claim-tokens").cookie(&alice))
        .await;
    assert_eq!(list.body.as_array().unwrap().len(), 2, "{}", list.body);
    // A node attaches with a working token.
    let ok = a.register(&NodeKey::generate().unwrap(), Some(&t1)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert!(ok.body["owner"].is_string());
    // Only the owner revokes.
    let path = format!("/api/claim-tokens/{id1}");
    let got = a.call(Call::new("DELETE", &path).cookie(&bob)).await;
    assert_eq!(got.status, StatusCode::NOT_FOUND);
    let got = a.call(Call::new("DELETE", &path).cookie(&alice)).await;
    assert_eq!(got.status, StatusCode::NO_CONTENT);
    let got = a.call(Call::new("DELETE", &path).cookie(&alice)).await;
    assert_eq!(got.status, StatusCode::NOT_FOUND);
    let got = a.register(&NodeKey::generate().unwrap(), Some(&t1)).await;
    assert_eq!(
        (got.status, got.body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("claim_token_revoked")),
        "{}",
        got.body
    );
    let list = a
        .call(Call::new("GET", "/api/claim-tokens").cookie(&alice))
        .await;
    let revoked = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["hash"] == id1);
    assert_eq!(revoked.unwrap()["revokedAt"], NOW.0);
    // The tokens page lists both, a revoke button only for the working one.
    let page = a.call(Call::new("GET", "/tokens").cookie(&alice)).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = {
        let req = Request::builder()
            .uri("/tokens")
            .header("cookie", &alice)
            .body(Body::empty())
            .unwrap();
        let resp = a.app.clone().oneshot(req).await.unwrap();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    };
    let short_id = short.body["id"].as_str().unwrap();
    assert!(
        html.contains(&format!("data-revoke-claim=\"{short_id}\"")),
        "{html}"
    );
    assert!(!html.contains(&format!("data-revoke-claim=\"{id1}\"")));
    assert!(html.contains("pill-revoked") && html.contains("pill-active"));
    // Past its expiry the short token attaches nothing either.
    a.clock.advance_ms(DAY_MS);
    let got = a
        .register(&NodeKey::generate().unwrap(), short.body["token"].as_str())
        .await;
    assert_eq!(got.body["error"]["code"], "claim_token_expired");
    let got = a
        .register(&NodeKey::generate().unwrap(), Some("ct_unknown"))
        .await;
    assert_eq!(got.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn claim_codes_are_stored_hashed_repeat_while_valid_and_expire_after_an_hour() {
    let a = App::new().await;
    let alice = a.user("alice@x.org").await;
    let key = NodeKey::generate().unwrap();
    let r = a.register(&key, None).await;
    let code = r.body["claim_code"].as_str().unwrap().to_owned();
    let id: crate::domain::NodeId = serde_json::from_value(r.body["node_id"].clone()).unwrap();
    // The database holds the hash only.
    let stored = a.store.node_by_id(id).await.unwrap().unwrap();
    let pending = stored.claim_code.unwrap();
    assert_eq!(pending.hash, TokenHash::of(&code));
    assert_eq!(pending.expires_at, NOW.plus(Duration::from_secs(3600)));
    // Polling again shows the same code while it works.
    assert_eq!(
        a.register(&key, None).await.body["claim_code"],
        code.as_str()
    );
    a.clock.advance_ms(3_600_000);
    let claim = |code: &str| {
        Call::new("POST", "/api/nodes/claim")
            .cookie(&alice)
            .json(json!({ "code": code }))
    };
    let got = a.call(claim(&code)).await;
    assert_eq!(got.status, StatusCode::NOT_FOUND, "expired: {}", got.body);
    // The next poll brings a fresh code, which claims the node.
    let fresh = a.register(&key, None).await.body["claim_code"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(fresh, code);
    let got = a.call(claim(&fresh.to_lowercase())).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.body);
    assert!(a.register(&key, None).await.body["claim_code"].is_null());
}

#[tokio::test]
async fn fair_use_quotas_refuse_with_429_and_admins_adjust_them() {
    let a = App::new().await;
    let admin = a.user("admin@x.org").await;
    let bob = a.user("bob@x.org").await;
    let got = a
        .call(Call::new("GET", "/api/admin/quotas").cookie(&bob))
        .await;
    assert_eq!(
        got.body,
        json!({"maxActiveJobs": 10, "maxQueuedIterations": 1u64 << 42})
    );
    let set = |who: &str, body: Value| Call::new("PUT", "/api/admin/quotas").cookie(who).json(body);
    let got = a.call(set(&bob, json!({"maxActiveJobs": 100}))).await;
    assert_eq!(
        (got.status, got.code()),
        (StatusCode::FORBIDDEN, Some("admin_only"))
    );
    let got = a.call(set(&admin, json!({"maxActiveJobs": 2}))).await;
    assert_eq!(
        got.body,
        json!({"maxActiveJobs": 2, "maxQueuedIterations": 1u64 << 42})
    );
    let job = |iterations: u64| {
        Call::new("POST", "/api/jobs")
            .cookie(&bob)
            .json(json!({"profile": "p", "iterations": iterations, "seed": 1}))
    };
    assert_eq!(a.call(job(1000)).await.status, StatusCode::CREATED);
    assert_eq!(a.call(job(1000)).await.status, StatusCode::CREATED);
    let got = a.call(job(1000)).await;
    assert_eq!(
        (got.status, got.code()),
        (StatusCode::TOO_MANY_REQUESTS, Some("quota_exceeded"))
    );
    assert!(
        got.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2 unfinished jobs"),
        "{}",
        got.body
    );
    // Others are not held to bob's usage.
    let got = a
        .call(
            Call::new("POST", "/api/jobs")
                .cookie(&admin)
                .json(json!({"profile": "p", "iterations": 1000})),
        )
        .await;
    assert_eq!(got.status, StatusCode::CREATED);
    // The iteration quota counts what is not merged yet.
    a.call(set(
        &admin,
        json!({"maxActiveJobs": 10, "maxQueuedIterations": 2500}),
    ))
    .await;
    let got = a.call(job(501)).await;
    assert!(
        got.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2501 iterations"),
        "{}",
        got.body
    );
    assert_eq!(a.call(job(500)).await.status, StatusCode::CREATED);
    // The pages keep working for a user at the limit.
    for page in ["/nodes", "/grid", "/"] {
        let got = a.call(Call::new("GET", page).cookie(&bob)).await;
        assert_eq!(got.status, StatusCode::OK, "{page}");
    }
    let got = a
        .call(set(&admin, json!({"maxQueuedIterations": u64::MAX})))
        .await;
    assert_eq!(got.body["error"]["field"], "maxQueuedIterations");
}

#[tokio::test]
async fn pages_and_api_answers_carry_security_headers() {
    let a = App::new().await;
    for path in ["/signin", "/static/app.js", "/api/auth/me", "/nope"] {
        let got = a.call(Call::new("GET", path)).await;
        let h = &got.headers;
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self';") && !csp.contains("unsafe-inline"));
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
    }
    // Refusals from the layer itself carry them too.
    let got = a
        .call(
            Call::new("POST", "/api/tokens")
                .header("origin", "http://evil.example")
                .json(json!({})),
        )
        .await;
    assert_eq!(got.status, StatusCode::FORBIDDEN);
    assert!(got.headers.contains_key("content-security-policy"));
}

#[tokio::test]
async fn sign_in_next_is_a_path_of_this_site_only() {
    let a = App::new().await;
    let next_of = |html: &str| {
        let at = html.find("data-next=\"").unwrap() + "data-next=\"".len();
        html[at..at + html[at..].find('"').unwrap()].to_owned()
    };
    for (query, want) in [
        ("/jobs/abc", "/jobs/abc"),
        ("/%5Cevil.example", "/"),
        ("//evil.example", "/"),
        ("https://evil.example", "/"),
        ("/%09/evil.example", "/"),
        ("", "/"),
    ] {
        for page in ["/signin", "/signup"] {
            let req = Request::builder()
                .uri(format!("{page}?next={query}"))
                .body(Body::empty())
                .unwrap();
            let resp = a.app.clone().oneshot(req).await.unwrap();
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap();
            let html = String::from_utf8(bytes.to_vec()).unwrap();
            assert_eq!(next_of(&html), want, "{page}?next={query}");
        }
    }
    // A signed-in visitor is sent on at once, but only within the site.
    let alice = a.user("alice@x.org").await;
    let got = a
        .call(Call::new("GET", "/signin?next=/%5Cevil.example").cookie(&alice))
        .await;
    assert_eq!(got.headers["location"], "/");
    let got = a
        .call(Call::new("GET", "/signin?next=/nodes").cookie(&alice))
        .await;
    assert_eq!(got.headers["location"], "/nodes");
}

#[tokio::test]
async fn api_errors_of_the_layer_keep_the_json_shape() {
    let a = App::with(SecurityConfig {
        limits: RateLimits {
            sign_up: tight(0, 0),
            ..RateLimits::default()
        },
        ..SecurityConfig::default()
    })
    .await;
    let got = a
        .call(
            Call::new("POST", "/api/auth/signup")
                .json(json!({"email": "a@x.org", "password": "hunter22!"})),
        )
        .await;
    assert_eq!(got.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(got.body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("too many attempts"));
    assert!(got.headers.contains_key("retry-after"));
    let _ = a.store.setting("x").await.unwrap();
}

#[tokio::test]
async fn job_tokens_are_limited_per_address_signed_in_or_not() {
    let a = App::with(SecurityConfig {
        limits: RateLimits {
            job_token: tight(3, 100),
            ..RateLimits::default()
        },
        ..SecurityConfig::default()
    })
    .await;
    let ask = |peer: &'static str| {
        Call::new(
            "GET",
            "/api/realtime/job-token?jobId=00000000-0000-4000-8000-000000000000",
        )
        .from(peer)
    };
    for _ in 0..3 {
        let got = a.call(ask("203.0.113.9:1000")).await;
        assert_eq!(got.status, StatusCode::NOT_FOUND, "{}", got.body);
    }
    let got = a.call(ask("203.0.113.9:1001")).await;
    assert_eq!(
        (got.status, got.code()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited"))
    );
    assert!(got.headers.contains_key("retry-after"));
    // Another visitor is not held up.
    let got = a.call(ask("198.51.100.7:2000")).await;
    assert_eq!(got.status, StatusCode::NOT_FOUND);
}
