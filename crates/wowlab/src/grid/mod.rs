//! The embedded grid: beacon, sentinel and optional in-process nodes in one process, serving
//! one HTTP listener (sentinel's API + beacon's `/connection/websocket` + `/metrics`). Shared
//! by `wowlab up` and `wowlab run`.

mod beacon_local;
mod secrets;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::routing::get;
use axum::Router;
use wowlab_beacon::config::Config as BeaconConfig;
use wowlab_beacon::Beacon;
use wowlab_node::config::{NodeConfig, Secret};
use wowlab_node::{Node, NodeHandle};
use wowlab_sentinel::coordinator::MemoryCoordinator;
use wowlab_sentinel::domain::{UnixMillis, UserId};
use wowlab_sentinel::http::security::SecurityConfig;
use wowlab_sentinel::http::{NodeApiConfig, SystemClock};
use wowlab_sentinel::service::{Sentinel, SentinelConfig, SentinelParts};
use wowlab_sentinel::sim::{SimEngine, SimMerger};
use wowlab_sentinel::store::{SqliteOptions, SqliteStore, Store};
use wowlab_sentinel::tokens::TokenMinter;
use wowlab_sentinel::verify::VerifyConfig;

pub use beacon_local::{BeaconPresence, BeaconPublisher};
pub use secrets::Secrets;

/// How to run the embedded grid.
#[derive(Debug, Clone)]
pub struct GridOptions {
    /// Listen address (port 0 picks one).
    pub addr: SocketAddr,
    /// Secrets, SQLite database and node keys live here.
    pub data_dir: PathBuf,
    /// In-process nodes.
    pub nodes: u32,
    /// Parallel chunks per in-process node (0 = one per physical core).
    pub slots_per_node: u32,
    /// Lease time-to-live (nodes heartbeat at a third of it).
    pub lease_ttl: Duration,
    /// How often expired leases are reclaimed.
    pub reclaim_interval: Duration,
    /// Presence sync interval.
    pub presence_interval: Duration,
    /// URL told about node status flips (optional).
    pub webhook_url: Option<String>,
    /// An (open) NATS server for the node tunnel, so nodes outside the process serve their
    /// live status and logs too; default: the in-process transport.
    pub tunnel_nats_url: Option<String>,
}

impl GridOptions {
    /// Defaults for `addr` and `data_dir`: no nodes, 30 s leases.
    pub fn new(addr: SocketAddr, data_dir: PathBuf) -> Self {
        Self {
            addr,
            data_dir,
            nodes: 0,
            slots_per_node: 0,
            lease_ttl: Duration::from_secs(30),
            reclaim_interval: Duration::from_secs(1),
            presence_interval: Duration::from_secs(30),
            webhook_url: None,
            tunnel_nats_url: None,
        }
    }
}

/// A running embedded grid.
pub struct EmbeddedGrid {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The store (for local accounts).
    pub store: Arc<dyn Store>,
    /// The system user owning the in-process nodes.
    pub system_user: UserId,
    sentinel: Sentinel,
    beacon: Beacon,
    nodes: Vec<NodeHandle>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    stop: tokio::sync::watch::Sender<bool>,
}

/// Email of the user `wowlab run` submits as.
pub const RUN_USER: &str = "run@grid.invalid";

impl EmbeddedGrid {
    /// Starts everything; returns once the listener is bound and the nodes are started.
    pub async fn start(opts: GridOptions) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&opts.data_dir)
            .with_context(|| format!("creating {}", opts.data_dir.display()))?;
        let secrets = Secrets::load_or_create(&opts.data_dir)?;
        let listener = tokio::net::TcpListener::bind(opts.addr)
            .await
            .with_context(|| format!("binding {}", opts.addr))?;
        let addr = listener.local_addr()?;

        let beacon = Beacon::new(beacon_config(&secrets, addr)?).context("starting beacon")?;
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(SqliteOptions::file(opts.data_dir.join("sentinel.sqlite")))
                .await
                .context("opening the SQLite store")?,
        );
        let system_user = wowlab_sentinel::local::ensure_user(
            &*store,
            wowlab_sentinel::local::SYSTEM_EMAIL,
            UnixMillis::now(),
        )
        .await?;
        let config = SentinelConfig {
            api: NodeApiConfig {
                lease_ttl: opts.lease_ttl,
                beacon_ws_url: format!("ws://{addr}/connection/websocket"),
                verify: VerifyConfig::from_env().map_err(anyhow::Error::msg)?,
                ..NodeApiConfig::default()
            },
            reclaim_interval: opts.reclaim_interval,
            presence_interval: opts.presence_interval,
            security: SecurityConfig::from_env()?,
            ..SentinelConfig::default()
        };
        let sentinel = Sentinel::start(
            config,
            SentinelParts {
                store: store.clone(),
                coordinator: Arc::new(MemoryCoordinator::new()),
                publisher: Arc::new(BeaconPublisher::new(beacon.clone())),
                clock: Arc::new(SystemClock),
                merger: SimMerger,
                engine: Arc::new(SimEngine),
                tokens: TokenMinter::new(secrets.token_hmac_secret.as_bytes()),
                presence: Some(Arc::new(BeaconPresence::new(beacon.clone()))),
                webhook: opts
                    .webhook_url
                    .as_deref()
                    .map(wowlab_sentinel::tasks::webhook::Webhook::new)
                    .transpose()
                    .context("webhook HTTP client")?,
                result_log: None,
            },
        )
        .await
        .context("starting the sentinel")?;

        // No NATS by default: the studio reaches the in-process nodes over the in-process
        // tunnel transport, with the same client and responder code.
        let tunnel: Arc<dyn wowlab_tunnel::Transport> = match &opts.tunnel_nats_url {
            Some(url) => Arc::new(
                wowlab_tunnel::NatsTransport::connect(url)
                    .await
                    .with_context(|| format!("connecting to the tunnel NATS server {url}"))?,
            ),
            None => Arc::new(wowlab_tunnel::MemoryTransport::new()),
        };
        sentinel
            .state()
            .set_tunnel(wowlab_tunnel::Client::new(tunnel.clone()));

        let app = router(&sentinel, &beacon);
        let (stop, mut stop_rx) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(async move {
            // The peer address keys the sign-in and token rate limits.
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            })
            .await
        });

        let mut grid = Self {
            addr,
            store,
            system_user,
            sentinel,
            beacon,
            nodes: Vec::new(),
            server,
            stop,
        };
        for i in 0..opts.nodes {
            let claim = wowlab_sentinel::local::claim_token(
                &*grid.store,
                grid.system_user,
                UnixMillis::now(),
            )
            .await?;
            let dir = opts.data_dir.join("nodes").join(format!("node-{i}"));
            let handle =
                start_node(addr, &dir, claim, opts.slots_per_node, i, tunnel.clone()).await?;
            grid.nodes.push(handle);
        }
        Ok(grid)
    }

    /// Waits (at most `limit`) until every in-process node has sent its first heartbeat, so a
    /// job submitted next is chunked for all of their slots.
    pub async fn wait_nodes_live(&self, limit: Duration) {
        let want = self.nodes.len();
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            match self.store.list_nodes(Some(self.system_user)).await {
                Ok(nodes) if nodes.iter().filter(|n| n.last_seen_at.is_some()).count() >= want => {
                    return
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "waiting for nodes");
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tracing::debug!("in-process nodes not all live yet; submitting anyway");
    }

    /// Base URL, e.g. `http://127.0.0.1:8080`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// An API token for `email` (created without a password if missing).
    pub async fn api_token(&self, email: &str) -> anyhow::Result<String> {
        let now = UnixMillis::now();
        let user = wowlab_sentinel::local::ensure_user(&*self.store, email, now).await?;
        Ok(wowlab_sentinel::local::api_token(&*self.store, user, "wowlab run", now).await?)
    }

    /// Drains the nodes, stops the sentinel's tasks, the listener and beacon.
    pub async fn shutdown(self) {
        for n in &self.nodes {
            n.shutdown();
        }
        for n in self.nodes {
            if let Err(e) = n.wait().await {
                tracing::warn!(error = %e, "in-process node stopped with an error");
            }
        }
        self.sentinel.shutdown().await;
        let _ = self.stop.send(true);
        self.beacon.shutdown();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.server).await;
    }
}

/// Sentinel routes + beacon's connection endpoint + `/metrics`.
fn router(sentinel: &Sentinel, beacon: &Beacon) -> Router {
    sentinel
        .router()
        .merge(beacon.router())
        .route("/metrics", get(metrics))
}

/// Prometheus text of every metric in the process (sentinel, beacon, node).
pub async fn metrics() -> impl axum::response::IntoResponse {
    use axum::http::{header::CONTENT_TYPE, StatusCode};
    match wowlab_beacon::prometheus_handle() {
        Some(h) => (
            StatusCode::OK,
            [(CONTENT_TYPE, "text/plain; version=0.0.4")],
            h.render(),
        ),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(CONTENT_TYPE, "text/plain")],
            "metrics recorder unavailable".to_owned(),
        ),
    }
}

/// Browser origins allowed to open beacon connections: the studio is served from this same
/// listener, plus any extra ones (a reverse proxy's public URL) from `WOWLAB_ALLOWED_ORIGINS`.
fn allowed_origins(addr: SocketAddr) -> Vec<String> {
    let port = addr.port();
    let mut origins = vec![
        format!("http://{addr}"),
        format!("http://localhost:{port}"),
        format!("http://127.0.0.1:{port}"),
    ];
    if let Ok(extra) = std::env::var("WOWLAB_ALLOWED_ORIGINS") {
        origins.extend(
            extra
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_owned),
        );
    }
    origins
}

/// Beacon for the grid's channels: health and metrics come from the combined router.
fn beacon_config(s: &Secrets, addr: SocketAddr) -> anyhow::Result<BeaconConfig> {
    let cfg = serde_json::json!({
        "client": {
            "token": {"hmac_secret_key": s.token_hmac_secret},
            "allowed_origins": allowed_origins(addr),
        },
        "http_api": {"key": s.beacon_api_key},
        "health": {"enabled": false},
        "prometheus": {"enabled": false},
        "channel": {
            "namespaces": [
                {"name": "chunks"},
                {"name": "nodes", "presence": true, "join_leave": true},
                {"name": "jobs", "history_size": 16, "history_ttl": "600s", "allow_recovery": true}
            ]
        }
    });
    BeaconConfig::from_json_str(&cfg.to_string()).context("beacon config")
}

async fn start_node(
    addr: SocketAddr,
    dir: &Path,
    claim: String,
    slots: u32,
    i: u32,
    tunnel: Arc<dyn wowlab_tunnel::Transport>,
) -> anyhow::Result<NodeHandle> {
    let mut c = NodeConfig::defaults();
    c.sentinel_url = Some(format!("http://{addr}"));
    c.data_dir = dir.to_path_buf();
    c.claim_token = Some(Secret::new(claim));
    c.name = Some(format!("local-{i}"));
    c.max_parallel = slots;
    // Work is pushed and refilled with completions; the idle poll is a loopback safety net.
    c.poll_min = Duration::from_millis(200);
    c.poll_max = Duration::from_secs(2);
    Node::new(c)
        .on_claim_code(|code| tracing::debug!(code, "in-process node unexpectedly unowned"))
        .tunnel(tunnel)
        .start()
        .await
        .with_context(|| format!("starting in-process node {i}"))
}
