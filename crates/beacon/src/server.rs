//! The embeddable server: `Beacon::new(config)`, `router()`, `serve(listener)`, graceful
//! shutdown, and the in-process server API used by sentinel in embedded mode.

use crate::api::{self, ApiError, PublishParams, SubscribeParams};
use crate::config::{BrokerChoice, Config, PresenceChoice};
use crate::engine::{
    Broker, ClientInfo, HistoryResult, MemoryBroker, MemoryPresence, NatsBroker, PresenceManager,
    PresenceStats, RedisBroker, RedisHistory, RedisPresence, StreamPosition,
};
use crate::node::{Node, NodeHandler};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// Errors starting beacon.
#[derive(Debug, thiserror::Error)]
pub enum BeaconError {
    /// Invalid configuration.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// An engine failed to start.
    #[error("engine: {0}")]
    Engine(#[from] crate::engine::EngineError),
    /// Listener IO.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// A running beacon node (cheap to clone).
#[derive(Clone)]
pub struct Beacon {
    node: Arc<Node>,
    memory_broker: Option<Arc<MemoryBroker>>,
    stop: Arc<Stop>,
}

pub(crate) struct Stop {
    pub flag: AtomicBool,
    pub notify: Notify,
}

static PROMETHEUS: OnceLock<Option<metrics_exporter_prometheus::PrometheusHandle>> =
    OnceLock::new();

/// The process-wide Prometheus recorder beacon installs on first use (None if another global
/// `metrics` recorder was installed first). Embedders (sentinel in `wowlab up`) render it on
/// their own `/metrics` to expose beacon's series next to theirs.
pub fn prometheus_handle() -> Option<&'static metrics_exporter_prometheus::PrometheusHandle> {
    prometheus()
}

/// Installs the Prometheus recorder once per process (None if another recorder is installed).
fn prometheus() -> Option<&'static metrics_exporter_prometheus::PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(
                        "beacon_publish_duration_seconds".into(),
                    ),
                    &[
                        0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0,
                    ],
                )
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .as_ref()
}

impl Beacon {
    /// A node with the in-memory broker and presence manager. A config that selects Redis or
    /// NATS engines needs [`Beacon::start`] (connecting is async).
    pub fn new(config: Config) -> Result<Self, BeaconError> {
        config.validate()?;
        if !config.is_single_node() {
            return Err(BeaconError::Config(crate::config::ConfigError::Invalid(
                "this config selects Redis/NATS engines: start it with Beacon::start".into(),
            )));
        }
        let broker = Arc::new(MemoryBroker::new());
        let presence = Arc::new(MemoryPresence::new(config.engine.presence_ttl.get()));
        let node = Arc::new(Node::new(config, broker.clone(), presence));
        broker.start(Arc::new(NodeHandler(Arc::downgrade(&node))))?;
        Ok(Self::from_node(node, Some(broker)))
    }

    /// A node with the engines its config selects (`engine`, `broker`, `presence_manager`):
    /// connects to Redis/NATS first and fails if they cannot be reached now (later outages are
    /// ridden out with reconnects).
    pub async fn start(config: Config) -> Result<Self, BeaconError> {
        config.warn_unsupported();
        if config.is_single_node() {
            return Self::new(config);
        }
        config.validate()?;
        let id = uuid::Uuid::new_v4().to_string();
        let presence: Arc<dyn PresenceManager> = match config.presence_choice() {
            PresenceChoice::Memory(ttl) => Arc::new(MemoryPresence::new(ttl)),
            PresenceChoice::Redis(r) => {
                Arc::new(RedisPresence::connect(&r.address, &r.prefix, r.presence_ttl).await?)
            }
        };
        let check = config.client.channel_position_check_delay.get();
        let broker: Arc<dyn Broker> = match config.broker_choice() {
            BrokerChoice::Memory => Arc::new(MemoryBroker::new()),
            BrokerChoice::Redis(r) => Arc::new(
                RedisBroker::connect(&r.address, &r.prefix, &id)
                    .await?
                    .with_position_check(check),
            ),
            BrokerChoice::Nats { nats, history } => {
                let history = match history {
                    Some(r) => Some(RedisHistory::connect(&r.address, &r.prefix).await?),
                    None => None,
                };
                Arc::new(
                    NatsBroker::new(&nats.url, &nats.prefix, &id, history)
                        .with_position_check(check),
                )
            }
        };
        tracing::info!(
            broker = ?config.broker_choice(),
            presence = ?config.presence_choice(),
            node = %id,
            "beacon engines"
        );
        let node = Arc::new(Node::with_id(id, config, broker.clone(), presence));
        broker
            .run(Arc::new(NodeHandler(Arc::downgrade(&node))))
            .await?;
        node.start_control_forwarding();
        Ok(Self::from_node(node, None))
    }

    /// A node with other engines (NATS broker, Redis presence, ...).
    pub async fn with_engines(
        config: Config,
        broker: Arc<dyn Broker>,
        presence: Arc<dyn PresenceManager>,
    ) -> Result<Self, BeaconError> {
        config.validate()?;
        let node = Arc::new(Node::new(config, broker.clone(), presence));
        broker
            .run(Arc::new(NodeHandler(Arc::downgrade(&node))))
            .await?;
        node.start_control_forwarding();
        Ok(Self::from_node(node, None))
    }

    fn from_node(node: Arc<Node>, memory_broker: Option<Arc<MemoryBroker>>) -> Self {
        let _ = prometheus();
        Beacon {
            node,
            memory_broker,
            stop: Arc::new(Stop {
                flag: AtomicBool::new(false),
                notify: Notify::new(),
            }),
        }
    }

    /// The effective configuration.
    pub fn config(&self) -> &Config {
        &self.node.config
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.node.id
    }

    /// All HTTP routes: connection endpoints, `/api`, `/health`, `/readyz`, `/metrics`.
    pub fn router(&self) -> Router {
        let cfg = &self.node.config;
        let mut r = Router::new()
            .route(
                "/connection/websocket",
                get(crate::transport::websocket::handler),
            )
            .route("/api/{method}", post(api::handler));
        if cfg.http_stream.enabled {
            r = r.route(
                "/connection/http_stream",
                post(crate::transport::emulation::http_stream),
            );
        }
        if cfg.sse.enabled {
            r = r.route(
                "/connection/sse",
                get(crate::transport::emulation::sse).post(crate::transport::emulation::sse),
            );
        }
        if cfg.http_stream.enabled || cfg.sse.enabled {
            r = r.route("/emulation", post(crate::transport::emulation::emulation));
        }
        // Browsers reach the emulation endpoints cross-origin: answer CORS for allowed origins.
        r = r.layer(axum::middleware::from_fn_with_state(
            self.node.clone(),
            crate::transport::cors,
        ));
        if cfg.health.enabled {
            let stop = self.stop.clone();
            r = r
                .route(
                    "/health",
                    get(|| async { axum::Json(serde_json::json!({})) }),
                )
                .route(
                    "/readyz",
                    get(move || async move {
                        if stop.flag.load(Ordering::Relaxed) {
                            (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response()
                        } else {
                            axum::Json(serde_json::json!({})).into_response()
                        }
                    }),
                );
        }
        if cfg.prometheus.enabled {
            r = r.route("/metrics", get(metrics_handler));
        }
        r.with_state(self.node.clone())
    }

    /// Serves until [`Beacon::shutdown`]; connections get disconnect 3001 on shutdown.
    pub async fn serve(&self, listener: TcpListener) -> Result<(), BeaconError> {
        let janitor = self.memory_broker.clone().map(|b| {
            tokio::spawn(async move {
                let mut t = tokio::time::interval(std::time::Duration::from_secs(30));
                loop {
                    t.tick().await;
                    b.remove_expired();
                }
            })
        });
        let stop = self.stop.clone();
        let node = self.node.clone();
        // Small frames must not wait for Nagle's algorithm.
        use axum::serve::ListenerExt;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let result = axum::serve(listener, self.router())
            .with_graceful_shutdown(async move {
                loop {
                    let notified = stop.notify.notified();
                    if stop.flag.load(Ordering::Acquire) {
                        break;
                    }
                    notified.await;
                }
                node.begin_shutdown();
            })
            .await;
        if let Some(j) = janitor {
            j.abort();
        }
        // Upgraded WebSocket connections are not tracked by axum's graceful shutdown: give
        // their tasks time to send the 3001 close frames before the caller drops the runtime.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while self.node.num_live() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        result.map_err(BeaconError::Io)
    }

    /// Starts graceful shutdown of [`Beacon::serve`].
    pub fn shutdown(&self) {
        self.stop.flag.store(true, Ordering::Release);
        self.stop.notify.notify_waiters();
    }

    /// Publishes JSON (or, for protobuf-only channels, any) data to a channel.
    pub async fn publish(
        &self,
        channel: &str,
        data: impl Into<Bytes>,
    ) -> Result<StreamPosition, ApiError> {
        api::ops::publish(&self.node, channel, data.into(), PublishParams::default()).await
    }

    /// Publishes with options.
    pub async fn publish_with(
        &self,
        channel: &str,
        data: impl Into<Bytes>,
        params: PublishParams,
    ) -> Result<StreamPosition, ApiError> {
        api::ops::publish(&self.node, channel, data.into(), params).await
    }

    /// Presence of a channel by client id.
    pub async fn presence(&self, channel: &str) -> Result<HashMap<String, ClientInfo>, ApiError> {
        api::ops::presence(&self.node, channel).await
    }

    /// Presence counts of a channel.
    pub async fn presence_stats(&self, channel: &str) -> Result<PresenceStats, ApiError> {
        api::ops::presence_stats(&self.node, channel).await
    }

    /// History of a channel (`limit` < 0: all).
    pub async fn history(
        &self,
        channel: &str,
        limit: i64,
        since: Option<StreamPosition>,
        reverse: bool,
    ) -> Result<HistoryResult, ApiError> {
        api::ops::history(&self.node, channel, limit, since, reverse).await
    }

    /// Drops a channel's history (position kept).
    pub async fn history_remove(&self, channel: &str) -> Result<(), ApiError> {
        api::ops::history_remove(&self.node, channel).await
    }

    /// Subscribes a user's (or one client's) connections to a channel server-side.
    pub fn subscribe(
        &self,
        channel: &str,
        user: &str,
        client: &str,
        params: SubscribeParams,
    ) -> Result<(), ApiError> {
        api::ops::subscribe(&self.node, channel, user, client, "", params)
    }

    /// Unsubscribes a user's (or one client's) connections from a channel.
    pub fn unsubscribe(&self, channel: &str, user: &str, client: &str) -> Result<(), ApiError> {
        api::ops::unsubscribe(&self.node, channel, user, client, "")
    }

    /// Disconnects a user's (or one client's) connections (default code 3503).
    pub fn disconnect(
        &self,
        user: &str,
        client: &str,
        code: Option<(u32, String)>,
    ) -> Result<(), ApiError> {
        api::ops::disconnect_clients(&self.node, user, client, "", &[], code)
    }

    /// Channels with local subscribers matching a glob pattern ("" = all), with counts.
    pub fn channels(&self, pattern: &str) -> Vec<(String, usize)> {
        api::ops::channels(&self.node, pattern)
    }

    /// Number of authenticated connections.
    pub fn num_clients(&self) -> usize {
        self.node.num_clients()
    }
}

async fn metrics_handler(State(_node): State<Arc<Node>>) -> impl IntoResponse {
    match prometheus() {
        Some(h) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4",
            )],
            h.render(),
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder unavailable",
        )
            .into_response(),
    }
}
