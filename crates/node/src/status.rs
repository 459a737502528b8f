//! `GET /status`: what this node is and is doing, and `GET /metrics` (Prometheus). Served on
//! `--status-addr` when set and mounted by the tunnel for the studio's live probe.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::Serialize;
use wowlab_api::NodeId;

use crate::pool::{Pool, PoolSnapshot};
use crate::system::{self, RateMeter};

/// Body of `GET /status`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusBody {
    /// Host name.
    pub hostname: String,
    /// `wowlab` version.
    pub version: String,
    /// Node id once registered.
    pub node_id: Option<NodeId>,
    /// Runner capabilities.
    pub capabilities: Vec<String>,
    /// Physical cores.
    pub cores: u32,
    /// One-minute load average.
    pub load1: f64,
    /// Chunks being computed.
    pub active_chunks: u32,
    /// Iterations per second over the last 10 s.
    pub sims_per_sec: f64,
    /// Iterations simulated since start (cancelled work included).
    pub iterations: u64,
    /// Chunks completed since start.
    pub completed: u64,
    /// Chunks reported failed since start.
    pub failed: u64,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// Pool details.
    pub pool: PoolSnapshot,
}

/// What `/status` reads; cheap to clone.
#[derive(Clone)]
pub struct StatusSource {
    inner: Arc<Inner>,
}

struct Inner {
    hostname: String,
    version: String,
    cores: u32,
    started: Instant,
    node_id: Mutex<Option<NodeId>>,
    pool: Pool,
    meter: RateMeter,
}

impl StatusSource {
    /// A source over `pool` for a machine with `cores` physical cores.
    pub fn new(pool: Pool, cores: u32) -> Self {
        Self {
            inner: Arc::new(Inner {
                hostname: system::hostname(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                cores,
                started: Instant::now(),
                node_id: Mutex::new(None),
                pool,
                meter: RateMeter::new(Duration::from_secs(10)),
            }),
        }
    }

    /// Records the node id (`None` while registering again).
    pub fn set_node_id(&self, id: Option<NodeId>) {
        *self.inner.node_id.lock().unwrap_or_else(|p| p.into_inner()) = id;
    }

    /// The current status.
    pub fn snapshot(&self) -> StatusBody {
        let i = &self.inner;
        let pool = i.pool.snapshot();
        let counters = i.pool.counters();
        StatusBody {
            hostname: i.hostname.clone(),
            version: i.version.clone(),
            node_id: *i.node_id.lock().unwrap_or_else(|p| p.into_inner()),
            capabilities: i.pool.registry().capabilities(),
            cores: i.cores,
            load1: system::load1(),
            active_chunks: pool.running,
            sims_per_sec: i.meter.rate(i.pool.progress().total()),
            iterations: i.pool.progress().total(),
            completed: counters
                .completed
                .load(std::sync::atomic::Ordering::Relaxed),
            failed: counters.failed.load(std::sync::atomic::Ordering::Relaxed),
            uptime_secs: i.started.elapsed().as_secs(),
            pool,
        }
    }
}

/// The router serving `GET /status` and `GET /metrics`.
pub fn router(source: StatusSource) -> Router {
    // Install the recorder now so counters from the first chunk on are kept.
    if prometheus().is_some() {
        register_metrics();
    }
    Router::new()
        .route("/status", get(handler))
        .route("/metrics", get(metrics_handler))
        .with_state(source)
}

/// Registers every node series at zero, so `/metrics` and dashboards list them before their
/// first event (call once the process's recorder is installed).
pub fn register_metrics() {
    for name in [
        "wowlab_node_iterations_total",
        "wowlab_node_heartbeat_failures_total",
        "wowlab_node_sentinel_retries_total",
    ] {
        metrics::counter!(name).absolute(0);
    }
    for outcome in ["completed", "failed", "dropped"] {
        metrics::counter!("wowlab_node_chunks_total", "outcome" => outcome).absolute(0);
    }
    metrics::gauge!("wowlab_node_running_chunks").set(0.0);
}

/// Installs the node's Prometheus recorder if the process has none yet; false when another
/// recorder was installed first.
pub fn install_metrics() -> bool {
    prometheus().is_some()
}

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder once per process; `None` when another one (e.g. beacon's
/// in embedded mode, which then renders the node's metrics too) was installed first.
fn prometheus() -> Option<&'static PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .as_ref()
}

async fn metrics_handler() -> (StatusCode, String) {
    match prometheus() {
        Some(h) => (StatusCode::OK, h.render()),
        None => (
            StatusCode::NOT_FOUND,
            "metrics are served by the process's other /metrics endpoint\n".into(),
        ),
    }
}

async fn handler(State(source): State<StatusSource>) -> Json<StatusBody> {
    Json(source.snapshot())
}
