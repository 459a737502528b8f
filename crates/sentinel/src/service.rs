//! One sentinel instance, wired: coordination rebuilt from the store at start, the projector,
//! the reclaim loop, the push dispatcher and (optionally) the presence cron running in the
//! background, and the HTTP
//! router (node API, user API, `/health`, `/readyz`). Graceful shutdown stops the tasks and
//! releases their leader locks. The binary only chooses the engines and calls [`Sentinel::start`].

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::context::{Context, ContextParts, NodeApiConfig};
use crate::coordinator::Coordinator;
use crate::domain::Clock;
use crate::domain::{JobId, UnixMillis};
use crate::engine::ProfileEngine;
use crate::http;
use crate::http::security::SecurityConfig;
use crate::projector::{Projector, ResultMerger, PROJECTOR_LOCK_TTL};
use crate::publish::{Funnel, Publisher};
use crate::recovery::{rebuild_coordinator, RecoveryError};
use crate::result_log::{InProcessLog, LogEntry, ResultLog};
use crate::store::Store;
use crate::tasks::dispatch::DISPATCH_TICK;
use crate::tasks::presence::{PresenceCron, PresenceSource, PRESENCE_INTERVAL};
use crate::tasks::totals::{TotalsCron, TOTALS_INTERVAL};
use crate::tasks::webhook::Webhook;
use crate::tasks::{run_reclaim, Dispatcher, WakeOnWork};
use crate::tokens::TokenMinter;

/// Settings of one instance.
#[derive(Debug, Clone)]
pub struct SentinelConfig {
    /// Node API tunables (lease TTL, attempts, body cap).
    pub api: NodeApiConfig,
    /// Longest interval between reclaim rounds (expired leases, silent nodes); the loop ticks
    /// faster when a quarter of a heartbeat interval is shorter.
    pub reclaim_interval: Duration,
    /// Safety tick of the push dispatcher (it is woken whenever work or credit appears; the
    /// tick covers work created by another instance on a shared coordinator).
    pub dispatch_tick: Duration,
    /// How often the presence roster is synced.
    pub presence_interval: Duration,
    /// This instance's identity in leader elections.
    pub instance_id: String,
    /// Lifetime of the projector's leader lock: a dead leader's successor takes over within
    /// two of them.
    pub projector_lock_ttl: Duration,
    /// Rate limits, allowed origins, trusted proxies, hashing bound and fair-use defaults.
    pub security: SecurityConfig,
}

impl Default for SentinelConfig {
    fn default() -> Self {
        Self {
            api: NodeApiConfig::default(),
            reclaim_interval: Duration::from_secs(1),
            dispatch_tick: DISPATCH_TICK,
            presence_interval: PRESENCE_INTERVAL,
            instance_id: format!("sentinel-{}", JobId::new()),
            projector_lock_ttl: PROJECTOR_LOCK_TTL,
            security: SecurityConfig::default(),
        }
    }
}

/// The engines an instance runs on.
pub struct SentinelParts<M: ResultMerger> {
    /// Durable store.
    pub store: Arc<dyn Store>,
    /// Scheduling state.
    pub coordinator: Arc<dyn Coordinator>,
    /// Transport behind the publish funnel.
    pub publisher: Arc<dyn Publisher>,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Exact merge of chunk results.
    pub merger: M,
    /// Profile validation for job submission.
    pub engine: Arc<dyn ProfileEngine>,
    /// Beacon token minting.
    pub tokens: TokenMinter,
    /// Beacon presence roster for the presence cron.
    pub presence: Option<Arc<dyn PresenceSource>>,
    /// Webhook told about node status flips.
    pub webhook: Option<Webhook>,
    /// The shared result log (JetStream) of a grid with several sentinels; default: in
    /// process.
    pub result_log: Option<Arc<dyn ResultLog>>,
}

/// A running instance.
pub struct Sentinel {
    state: Context,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Sentinel {
    /// Rebuilds coordination from the store, starts the background tasks and returns the
    /// instance; serve [`Sentinel::router`] to expose it.
    pub async fn start<M: ResultMerger>(
        config: SentinelConfig,
        parts: SentinelParts<M>,
    ) -> Result<Self, RecoveryError> {
        crate::telemetry::register();
        let now = parts.clock.now();
        // Every call that makes work or credit appear wakes the dispatcher.
        let wake = Arc::new(Notify::new());
        let coordinator: Arc<dyn Coordinator> =
            Arc::new(WakeOnWork::new(parts.coordinator, wake.clone()));
        let report =
            rebuild_coordinator(&*parts.store, &*coordinator, config.api.max_attempts, now).await?;
        if !report.restored.is_empty() {
            tracing::info!(
                restored = report.restored.len(),
                "coordination rebuilt from the store"
            );
        }
        let funnel = Funnel::new(parts.publisher);
        let log: Arc<dyn ResultLog> = parts
            .result_log
            .unwrap_or_else(|| Arc::new(InProcessLog::new()));
        let state = Context::with_log(
            ContextParts {
                coordinator: coordinator.clone(),
                store: parts.store.clone(),
                funnel: funnel.clone(),
                clock: parts.clock.clone(),
                config: config.api.clone(),
                tokens: parts.tokens,
                engine: parts.engine,
                security: config.security.clone(),
            },
            log,
        );
        for job in &report.fully_done {
            if let Err(e) = state.result_log().append(LogEntry::Kick(*job)).await {
                tracing::warn!(job = %job, error = %e, "recovered job not handed to the projector");
            }
        }
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        let projector = Projector::new(&state, parts.merger)
            .elected(config.instance_id.clone(), config.projector_lock_ttl);
        tasks.push(tokio::spawn(projector.run(shutdown_rx.clone())));
        tasks.push(tokio::spawn(run_reclaim(
            state.clone(),
            config.instance_id.clone(),
            config.reclaim_interval,
            config.api.lease_ttl,
            shutdown_rx.clone(),
        )));
        if let Some(hook) = &parts.webhook {
            state.set_webhook(hook.clone());
        }
        if let Some(source) = parts.presence {
            let cron = PresenceCron {
                store: parts.store.clone(),
                coordinator: coordinator.clone(),
                source,
                funnel: funnel.clone(),
                clock: parts.clock.clone(),
                holder: config.instance_id.clone(),
                interval: config.presence_interval,
                webhook: parts.webhook,
            };
            tasks.push(tokio::spawn(cron.run(shutdown_rx.clone())));
        }
        tasks.push(tokio::spawn(
            TotalsCron {
                store: parts.store.clone(),
                coordinator: coordinator.clone(),
                funnel: funnel.clone(),
                clock: parts.clock.clone(),
                holder: config.instance_id.clone(),
                interval: TOTALS_INTERVAL,
            }
            .run(shutdown_rx.clone()),
        ));
        tasks.push(tokio::spawn(Dispatcher::new(state.clone()).run(
            wake,
            config.dispatch_tick,
            shutdown_rx,
        )));
        Ok(Self {
            state,
            shutdown,
            tasks,
        })
    }

    /// Shared handler state (for embedding more routes).
    pub fn state(&self) -> &Context {
        &self.state
    }

    /// Every route of the instance.
    pub fn router(&self) -> Router {
        let probes = Router::new()
            .route("/health", get(|| async { "ok" }))
            .route("/readyz", get(ready))
            .with_state(self.state.clone());
        http::router(self.state.clone()).merge(probes)
    }

    /// Stops the background tasks (publishing final progress, releasing leader locks).
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            if let Err(e) = t.await {
                tracing::warn!(error = %e, "background task ended abnormally");
            }
        }
    }
}

/// Ready when the store, the coordinator and the result log answer and the projector is not
/// held up; otherwise 503 with one line per reason.
async fn ready(State(state): State<Context>) -> (StatusCode, String) {
    let probe = JobId::from_uuid(uuid::Uuid::nil());
    let mut problems = Vec::new();
    if let Err(e) = state.store().job(probe).await {
        problems.push(format!("store: {e}"));
    }
    if let Err(e) = state
        .coordinator()
        .current_leases(
            crate::domain::NodeId::from_uuid(uuid::Uuid::nil()),
            UnixMillis::now(),
        )
        .await
    {
        problems.push(format!("coordinator: {e}"));
    }
    if let Err(e) = state.result_log().ready().await {
        problems.push(format!("result log: {e}"));
    }
    if let Some(p) = state.projector_health().lock().clone() {
        problems.push(format!("projector: {p}"));
    }
    if problems.is_empty() {
        (StatusCode::OK, "ready\n".into())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, problems.join("\n") + "\n")
    }
}

#[cfg(test)]
mod tests;
