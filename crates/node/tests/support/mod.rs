//! Test harness: a fake sentinel (axum, verifies every signature with
//! `wowlab_api::signing::verify`, serves the node API contract from memory) and a real beacon
//! in-process, so pushes really travel over `chunks:{node}`.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::json;
use wowlab_api::channels::{self, ChunkMessage, NodeMessage};
use wowlab_api::node::*;
use wowlab_api::signing::{self, ReceivedHeaders};
use wowlab_api::{JobId, NodeId, UserId};
use wowlab_beacon::auth::{mint_hs256, now_unix, ConnectionClaims};
use wowlab_beacon::config::Config;
use wowlab_beacon::Beacon;
use wowlab_node::config::{NodeConfig, Secret};
use wowlab_node::register::ClaimPoll;
use wowlab_node::{Node, NodeHandle, RetryPolicy};

pub const SECRET: &str = "test-hmac-secret";
pub const CLAIM_TOKEN: &str = "ct_valid_claim_token_for_tests_0001";

/// A tiny profile: cheap iterations.
pub const PROFILE: &str = r#"
version = 1
[fight]
duration = 60
[player]
primary = 1000
crit_pct = 20
[[spells]]
name = "strike"
coefficient = 1.0
[[apl]]
spell = "strike"
"#;
pub const PROFILE_HASH: &str = "cfg-strike-1";

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[derive(Debug, Clone)]
pub struct FakeNode {
    pub id: NodeId,
    pub owner: Option<UserId>,
    pub claim_code: Option<String>,
    pub name: String,
    pub facts: NodeFacts,
}

/// What the fake answers to `chunks/complete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompleteMode {
    /// Per contract: held → accepted, done → accepted=false, else 409.
    Normal,
    /// Always 409 stale_lease.
    Stale,
    /// 503 for the first n attempts, then normal.
    Unavailable(u32),
}

#[derive(Debug)]
pub struct Inner {
    pub nodes: HashMap<String, FakeNode>,
    pub configs: HashMap<String, String>,
    pub held: HashMap<(JobId, u32), ChunkLease>,
    pub done: HashSet<(JobId, u32)>,
    pub completes: Vec<CompleteRequest>,
    pub complete_attempts: u32,
    pub fails: Vec<FailRequest>,
    pub heartbeats: Vec<HeartbeatRequest>,
    pub lease_requests: Vec<u32>,
    pub cancel_next_heartbeat: Vec<LeaseRef>,
    pub settings: NodeSettings,
    pub lease_ttl_ms: u64,
    pub complete_mode: CompleteMode,
    pub verified: u64,
    pub bad_signatures: Vec<String>,
    pub nonces: HashSet<String>,
    pub paths: Vec<String>,
    pub token_ttl_secs: i64,
    pub heartbeat_down: bool,
    /// Serve `complete-batch` (else 404, like an older sentinel).
    pub batch_enabled: bool,
    /// Results per `complete-batch` request received.
    pub batch_sizes: Vec<usize>,
    /// Leases handed out in completion replies, one per result asking for a refill.
    pub refills: std::collections::VecDeque<ChunkLease>,
    /// Leases actually handed out that way.
    pub refilled: Vec<ChunkLease>,
}

impl Inner {
    /// Applies the configured failure mode to one complete request (single or batch).
    fn complete_gate(&mut self) -> Option<Response> {
        self.complete_attempts += 1;
        match self.complete_mode {
            CompleteMode::Stale => {
                // The leases expired and went elsewhere: no longer held by this node.
                self.held.clear();
                Some(err(StatusCode::CONFLICT, "stale_lease", "lease expired"))
            }
            CompleteMode::Unavailable(n) if n > 0 => {
                self.complete_mode = CompleteMode::Unavailable(n - 1);
                Some(err(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "busy"))
            }
            _ => None,
        }
    }

    /// Leases for `n` freed slots from the refill queue (now held by the node).
    fn refill(&mut self, n: usize) -> Vec<ChunkLease> {
        let mut out = Vec::new();
        while out.len() < n {
            let Some(l) = self.refills.pop_front() else {
                break;
            };
            self.held.insert((l.lease.job_id, l.lease.chunk), l.clone());
            self.refilled.push(l.clone());
            out.push(l);
        }
        out
    }

    /// Per contract: held with this fence → accepted, already done → already_done, else stale.
    fn complete_one(&mut self, req: CompleteRequest) -> BatchOutcome {
        let k = (req.lease.job_id, req.lease.chunk);
        if self.done.contains(&k) {
            return BatchOutcome::AlreadyDone;
        }
        match self.held.get(&k) {
            Some(l) if l.lease.fence == req.lease.fence => {
                self.held.remove(&k);
                self.done.insert(k);
                self.completes.push(req);
                BatchOutcome::Accepted
            }
            _ => BatchOutcome::Stale,
        }
    }
}

/// The fake sentinel plus its beacon.
#[derive(Clone)]
pub struct Grid {
    pub inner: Arc<Mutex<Inner>>,
    pub beacon: Beacon,
    pub sentinel_addr: SocketAddr,
    pub beacon_addr: SocketAddr,
}

impl Grid {
    pub async fn start() -> Grid {
        let beacon = Beacon::new(beacon_config()).expect("beacon");
        let bl = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let beacon_addr = bl.local_addr().unwrap();
        let router = beacon.router();
        tokio::spawn(async move {
            let _ = axum::serve(bl, router).await;
        });
        let mut configs = HashMap::new();
        configs.insert(PROFILE_HASH.to_owned(), PROFILE.to_owned());
        let inner = Arc::new(Mutex::new(Inner {
            nodes: HashMap::new(),
            configs,
            held: HashMap::new(),
            done: HashSet::new(),
            completes: Vec::new(),
            complete_attempts: 0,
            fails: Vec::new(),
            heartbeats: Vec::new(),
            lease_requests: Vec::new(),
            cancel_next_heartbeat: Vec::new(),
            settings: NodeSettings {
                name: "box".into(),
                max_parallel: 0,
                drain: false,
            },
            lease_ttl_ms: 3_000,
            complete_mode: CompleteMode::Normal,
            verified: 0,
            bad_signatures: Vec::new(),
            nonces: HashSet::new(),
            paths: Vec::new(),
            token_ttl_secs: 3600,
            heartbeat_down: false,
            batch_enabled: true,
            batch_sizes: Vec::new(),
            refills: Default::default(),
            refilled: Vec::new(),
        }));
        let sl = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sentinel_addr = sl.local_addr().unwrap();
        let grid = Grid {
            inner,
            beacon,
            sentinel_addr,
            beacon_addr,
        };
        let app = Router::new().fallback(handle).with_state(grid.clone());
        tokio::spawn(async move {
            let _ = axum::serve(sl, app).await;
        });
        grid
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.sentinel_addr)
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    /// Config for a node of this grid in `dir`.
    pub fn node_config(&self, dir: &std::path::Path, claim: bool) -> NodeConfig {
        let mut c = NodeConfig::defaults();
        c.sentinel_url = Some(self.url());
        c.data_dir = dir.to_path_buf();
        c.claim_token = claim.then(|| Secret::new(CLAIM_TOKEN));
        c.max_parallel = 2;
        c.poll_min = Duration::from_millis(200);
        c.poll_max = Duration::from_millis(500);
        c.drain_timeout = Duration::from_secs(20);
        c
    }

    pub fn node(&self, cfg: NodeConfig) -> Node {
        Node::new(cfg)
            .claim_poll(ClaimPoll {
                min: Duration::from_millis(50),
                max: Duration::from_millis(200),
            })
            .retry(RetryPolicy {
                attempts: 4,
                base: Duration::from_millis(20),
                max: Duration::from_millis(100),
            })
    }

    /// Starts a claimed node and waits until it is connected to beacon.
    pub async fn claimed_node(&self, dir: &std::path::Path) -> (NodeHandle, NodeId) {
        let h = self
            .node(self.node_config(dir, true))
            .start()
            .await
            .expect("start");
        let id = wait_for("node registered", || h.status().snapshot().node_id).await;
        self.wait_online(id).await;
        (h, id)
    }

    /// Waits until the node is subscribed to its chunks channel on beacon.
    pub async fn wait_online(&self, id: NodeId) {
        let ch = channels::chunks(id);
        wait_for("node subscribed on beacon", || {
            self.beacon
                .channels(&ch)
                .into_iter()
                .any(|(c, n)| c == ch && n > 0)
                .then_some(())
        })
        .await;
    }

    /// Forgets every node (as if deleted in the studio).
    pub fn forget_nodes(&self) {
        self.lock().nodes.clear();
    }

    pub fn count(&self, path: &str) -> usize {
        self.lock().paths.iter().filter(|p| *p == path).count()
    }

    pub fn claim(&self, code: &str) -> NodeId {
        let mut g = self.lock();
        let n = g
            .nodes
            .values_mut()
            .find(|n| n.claim_code.as_deref() == Some(code))
            .expect("code");
        n.owner = Some(UserId::new());
        n.claim_code = None;
        n.id
    }

    pub fn lease(
        &self,
        job: JobId,
        chunk: u32,
        range: std::ops::Range<u64>,
        seed: u64,
    ) -> ChunkLease {
        ChunkLease {
            lease: LeaseRef {
                job_id: job,
                chunk,
                fence: 1,
            },
            iter_start: range.start,
            iter_end: range.end,
            seed,
            config_hash: PROFILE_HASH.into(),
            expires_at_ms: now_ms() + 30_000,
        }
    }

    /// Records the lease as held by the node and pushes it on `chunks:{node}`.
    pub async fn push_lease(&self, node: NodeId, lease: ChunkLease) {
        self.lock()
            .held
            .insert((lease.lease.job_id, lease.lease.chunk), lease.clone());
        let msg = serde_json::to_string(&ChunkMessage::Lease(lease)).unwrap();
        self.beacon
            .publish(&channels::chunks(node), msg)
            .await
            .expect("publish");
    }

    /// Pushes several leases in one `leases` message.
    pub async fn push_leases(&self, node: NodeId, leases: Vec<ChunkLease>) {
        {
            let mut g = self.lock();
            for l in &leases {
                g.held.insert((l.lease.job_id, l.lease.chunk), l.clone());
            }
        }
        let msg = serde_json::to_string(&ChunkMessage::Leases { leases }).unwrap();
        self.beacon
            .publish(&channels::chunks(node), msg)
            .await
            .expect("publish");
    }

    pub async fn push_cancel(&self, node: NodeId, lease: LeaseRef) {
        self.lock().held.remove(&(lease.job_id, lease.chunk));
        let msg = serde_json::to_string(&ChunkMessage::Cancel {
            lease,
            reason: "job cancelled".into(),
        })
        .unwrap();
        self.beacon
            .publish(&channels::chunks(node), msg)
            .await
            .expect("publish");
    }

    pub async fn push_settings(&self, node: NodeId, s: NodeSettings) {
        self.lock().settings = s.clone();
        let msg = serde_json::to_string(&NodeMessage::Settings(s)).unwrap();
        self.beacon
            .publish(&channels::node(node), msg)
            .await
            .expect("publish");
    }
}

fn beacon_config() -> Config {
    let cfg = json!({
        "client": {"token": {"hmac_secret_key": SECRET}},
        "http_api": {"key": "api-key"},
        "prometheus": {"enabled": true},
        "channel": {
            "namespaces": [
                {"name": "chunks"},
                {"name": "nodes", "presence": true, "join_leave": true},
                {"name": "jobs"}
            ]
        }
    });
    Config::from_json_str(&cfg.to_string()).expect("beacon config")
}

fn err(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"code": code, "message": message})),
    )
        .into_response()
}

fn ok<T: serde::Serialize>(v: &T) -> Response {
    axum::Json(v).into_response()
}

async fn handle(State(grid): State<Grid>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_owned();
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let host = h("host").unwrap_or_default();
    let received = ReceivedHeaders {
        key: h(signing::HEADER_KEY),
        signature: h(signing::HEADER_SIGNATURE),
        timestamp: h(signing::HEADER_TIMESTAMP),
        nonce: h(signing::HEADER_NONCE),
    };
    let verified = match signing::verify(received, "POST", host, &path, &body, now_ms()) {
        Ok(v) => v,
        Err(e) => {
            grid.lock().bad_signatures.push(format!("{path}: {e}"));
            return err(StatusCode::UNAUTHORIZED, "bad_signature", &e.to_string());
        }
    };
    {
        let mut g = grid.lock();
        if !g.nonces.insert(verified.nonce.clone()) {
            g.bad_signatures.push(format!("{path}: replayed nonce"));
            return err(StatusCode::UNAUTHORIZED, "replayed", "nonce reused");
        }
        g.verified += 1;
        g.paths.push(path.clone());
    }
    let key = verified.public_key;
    if path == PATH_REGISTER {
        let Ok(req) = serde_json::from_slice::<RegisterRequest>(&body) else {
            return err(StatusCode::BAD_REQUEST, "validation", "bad body");
        };
        let mut g = grid.lock();
        if !g.nodes.contains_key(&key) {
            let owner = match req.claim_token.as_deref() {
                Some(CLAIM_TOKEN) => Some(UserId::new()),
                Some(_) => return err(StatusCode::FORBIDDEN, "forbidden", "invalid claim token"),
                None => None,
            };
            let code = owner
                .is_none()
                .then(|| format!("K{:05}", g.nodes.len() + 1));
            g.nodes.insert(
                key.clone(),
                FakeNode {
                    id: NodeId::new(),
                    owner,
                    claim_code: code,
                    name: req.name.clone(),
                    facts: req.facts.clone(),
                },
            );
        }
        let n = &g.nodes[&key];
        return ok(&RegisterResponse {
            node_id: n.id,
            owner: n.owner,
            claim_code: n.claim_code.clone(),
        });
    }
    let node = match grid.lock().nodes.get(&key).cloned() {
        Some(n) => n,
        None => return err(StatusCode::UNAUTHORIZED, "unknown_node", "unknown key"),
    };
    match path.as_str() {
        PATH_TOKEN => {
            if node.owner.is_none() {
                return err(StatusCode::FORBIDDEN, "not_claimed", "node not claimed");
            }
            let claims = ConnectionClaims {
                sub: node.id.to_string(),
                exp: Some(now_unix() + grid.lock().token_ttl_secs),
                channels: vec![
                    channels::chunks(node.id),
                    channels::node(node.id),
                    channels::NODES_ONLINE.into(),
                ],
                ..Default::default()
            };
            let ttl = grid.lock().token_ttl_secs;
            ok(&TokenResponse {
                node_id: node.id,
                beacon_url: format!("ws://{}/connection/websocket", grid.beacon_addr),
                token: mint_hs256(&claims, SECRET).unwrap(),
                expires_at_ms: now_ms() + ttl as u64 * 1000,
            })
        }
        PATH_HEARTBEAT => {
            let Ok(req) = serde_json::from_slice::<HeartbeatRequest>(&body) else {
                return err(StatusCode::BAD_REQUEST, "validation", "bad body");
            };
            let mut g = grid.lock();
            if g.heartbeat_down {
                return err(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "down");
            }
            let cancelled = std::mem::take(&mut g.cancel_next_heartbeat);
            for c in &cancelled {
                g.held.remove(&(c.job_id, c.chunk));
            }
            let exp = now_ms() + g.lease_ttl_ms;
            let extended = req
                .active
                .iter()
                .filter(|l| g.held.contains_key(&(l.job_id, l.chunk)))
                .map(|l| ExtendedLease {
                    lease: *l,
                    expires_at_ms: exp,
                })
                .collect();
            g.heartbeats.push(req);
            ok(&HeartbeatResponse {
                extended,
                cancelled,
                lease_ttl_ms: g.lease_ttl_ms,
                settings: g.settings.clone(),
            })
        }
        PATH_LEASES => {
            let Ok(req) = serde_json::from_slice::<LeasesRequest>(&body) else {
                return err(StatusCode::BAD_REQUEST, "validation", "bad body");
            };
            let mut g = grid.lock();
            g.lease_requests.push(req.free_slots);
            ok(&LeasesResponse {
                leases: g.held.values().cloned().collect(),
            })
        }
        PATH_CONFIG => {
            let Ok(req) = serde_json::from_slice::<ConfigRequest>(&body) else {
                return err(StatusCode::BAD_REQUEST, "validation", "bad body");
            };
            match grid.lock().configs.get(&req.config_hash) {
                Some(p) => ok(&ConfigResponse {
                    config_hash: req.config_hash,
                    profile: p.clone(),
                }),
                None => err(StatusCode::NOT_FOUND, "not_found", "no such config"),
            }
        }
        PATH_CHUNK_COMPLETE => {
            let Ok(req) = serde_json::from_slice::<CompleteRequest>(&body) else {
                return err(StatusCode::BAD_REQUEST, "validation", "bad body");
            };
            let mut g = grid.lock();
            if let Some(refused) = g.complete_gate() {
                return refused;
            }
            let refill = usize::from(req.refill);
            match g.complete_one(req) {
                BatchOutcome::Accepted => ok(&CompleteResponse {
                    accepted: true,
                    leases: g.refill(refill),
                }),
                BatchOutcome::AlreadyDone => ok(&CompleteResponse {
                    accepted: false,
                    leases: g.refill(refill),
                }),
                BatchOutcome::Stale => err(StatusCode::CONFLICT, "stale_lease", "lease not held"),
            }
        }
        PATH_CHUNK_COMPLETE_BATCH => {
            let Ok(req) = serde_json::from_slice::<CompleteBatchRequest>(&body) else {
                return err(StatusCode::BAD_REQUEST, "validation", "bad body");
            };
            let mut g = grid.lock();
            if !g.batch_enabled {
                return err(StatusCode::NOT_FOUND, "not_found", "no such path");
            }
            if let Some(refused) = g.complete_gate() {
                return refused;
            }
            g.batch_sizes.push(req.results.len());
            let refills = req.results.iter().filter(|r| r.refill).count();
            let results = req.results.into_iter().map(|r| g.complete_one(r)).collect();
            let leases = g.refill(refills);
            ok(&CompleteBatchResponse { results, leases })
        }
        PATH_CHUNK_FAIL => {
            let Ok(req) = serde_json::from_slice::<FailRequest>(&body) else {
                return err(StatusCode::BAD_REQUEST, "validation", "bad body");
            };
            let mut g = grid.lock();
            g.held.remove(&(req.lease.job_id, req.lease.chunk));
            g.fails.push(req);
            ok(&FailResponse {
                action: FailAction::Retry,
            })
        }
        PATH_UNLINK => ok(&json!({})),
        _ => err(StatusCode::NOT_FOUND, "not_found", "no such path"),
    }
}

/// Polls `f` every 20 ms for up to 20 s.
pub async fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Minimal HTTP/1.1 GET over a TCP stream: (status code, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let code = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (
        code,
        out.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned(),
    )
}

/// Chunks/iterations metrics after one 25-iteration chunk; `exact` when this chunk is the
/// only work the process did (other tests in the same process add to the counters).
pub fn assert_node_metrics(text: &str, exact: bool) {
    if exact {
        assert!(text.contains("wowlab_node_iterations_total 25"), "{text}");
        assert!(
            text.contains("wowlab_node_chunks_total{outcome=\"completed\"} 1"),
            "{text}"
        );
    } else {
        assert!(text.contains("wowlab_node_iterations_total "), "{text}");
        assert!(
            text.contains("wowlab_node_chunks_total{outcome=\"completed\"} "),
            "{text}"
        );
    }
}
