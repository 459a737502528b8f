//! The shared application context: every engine and setting a handler or background task
//! needs, all required, built by one constructor ([`Context::new`], called by
//! [`crate::service::Sentinel::start`] for `wowlab up` and `wowlab sentinel` alike).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use wowlab_api::node as api;

use crate::coordinator::{Coordinator, Lease, DEFAULT_MAX_ATTEMPTS};
use crate::domain::{Clock, JobId, UnixMillis};
use crate::engine::{ProfileEngine, ValidatedProfile};
use crate::facts::JobFacts;
use crate::http::security::{Security, SecurityConfig};
use crate::lifecycle::JobLifecycle;
use crate::publish::Funnel;
use crate::result_log::{InProcessLog, ResultLog};
use crate::store::{Job, Store, StoreError};
use crate::tokens::TokenMinter;

/// Tunables of the node API.
#[derive(Debug, Clone)]
pub struct NodeApiConfig {
    /// Lifetime of a lease between heartbeats; nodes heartbeat every third of it.
    pub lease_ttl: Duration,
    /// Failures a chunk may have before its job fails.
    pub max_attempts: u32,
    /// Largest accepted request body.
    pub body_limit: usize,
    /// Beacon's WebSocket URL as nodes reach it, handed out with their connection tokens.
    pub beacon_ws_url: String,
    /// Spot checks of results ([`crate::verify`]).
    pub verify: crate::verify::VerifyConfig,
}

impl Default for NodeApiConfig {
    fn default() -> Self {
        Self {
            lease_ttl: Duration::from_secs(30),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            body_limit: 4 * 1024 * 1024,
            beacon_ws_url: "ws://127.0.0.1:8080/connection/websocket".into(),
            verify: crate::verify::VerifyConfig::default(),
        }
    }
}

/// Profile validations (compile + cost measurement) running at once, off the async workers.
pub const VALIDATION_SLOTS: usize = 2;

/// Longest a profile validation may take before the submission is refused.
pub const VALIDATION_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a profile was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ValidationError {
    /// The engine refused it; the message is for the user.
    #[error("{0}")]
    Invalid(String),
    /// It took longer than [`VALIDATION_TIMEOUT`].
    #[error("the profile took longer than {}s to check", VALIDATION_TIMEOUT.as_secs())]
    TimedOut,
    /// Every validation slot stayed busy.
    #[error("too many profiles are being checked; try again shortly")]
    Busy,
}

/// Everything the context is built from; the rest (job facts, result log, lifecycle) is made
/// by [`Context::new`].
pub struct ContextParts {
    /// Fast scheduling state.
    pub coordinator: Arc<dyn Coordinator>,
    /// Durable truth.
    pub store: Arc<dyn Store>,
    /// The publish funnel to beacon.
    pub funnel: Funnel,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Node API settings.
    pub config: NodeApiConfig,
    /// Beacon token minting.
    pub tokens: TokenMinter,
    /// Profile validation.
    pub engine: Arc<dyn ProfileEngine>,
    /// Account defences' settings (rate limits, origins, quotas).
    pub security: SecurityConfig,
}

/// Shared state of every handler and task. Cheap to clone.
#[derive(Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

struct Inner {
    parts: ContextParts,
    facts: Arc<JobFacts>,
    result_log: Arc<dyn ResultLog>,
    /// Why the projector cannot make progress right now (for `/readyz`), if it cannot.
    projector_health: Arc<parking_lot::Mutex<Option<String>>>,
    lifecycle: JobLifecycle,
    validations: Arc<Semaphore>,
    started_at: UnixMillis,
    security: Security,
    /// Spot checks of results.
    verifier: crate::verify::Verifier,
    /// Tunnel to the nodes (live status, logs), set once by the binary.
    tunnel: std::sync::OnceLock<wowlab_tunnel::Client>,
    /// When API tokens were last recorded as used.
    token_use: crate::http::token_use::TokenUse,
    /// Mints nodes' scoped tunnel credentials, when the tunnel's NATS runs in operator mode.
    node_tunnel_creds: std::sync::OnceLock<crate::nats_creds::NodeCredsMinter>,
    /// Told about node status flips (the heartbeat's online flips; presence rounds hold their own).
    webhook: std::sync::OnceLock<crate::tasks::webhook::Webhook>,
}

impl Context {
    /// The context over `parts` with an in-process result log, and that log (the projector
    /// subscribes to it).
    pub fn new(parts: ContextParts) -> (Self, InProcessLog) {
        let log = InProcessLog::new();
        (Self::with_log(parts, Arc::new(log.clone())), log)
    }

    /// The context over `parts` and `result_log`.
    pub fn with_log(parts: ContextParts, result_log: Arc<dyn ResultLog>) -> Self {
        let facts = Arc::new(JobFacts::new());
        let lifecycle = JobLifecycle::new(
            parts.store.clone(),
            parts.coordinator.clone(),
            parts.funnel.clone(),
            parts.clock.clone(),
            facts.clone(),
            result_log.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                facts,
                result_log,
                projector_health: Default::default(),
                lifecycle,
                validations: Arc::new(Semaphore::new(VALIDATION_SLOTS)),
                started_at: parts.clock.now(),
                security: Security::new(parts.security.clone()),
                tunnel: std::sync::OnceLock::new(),
                token_use: Default::default(),
                node_tunnel_creds: std::sync::OnceLock::new(),
                webhook: std::sync::OnceLock::new(),
                verifier: crate::verify::Verifier::new(parts.config.verify),
                parts,
            }),
        }
    }

    /// Sets the tunnel client the node live-status and log routes use (once; later calls are
    /// ignored).
    pub fn set_tunnel(&self, client: wowlab_tunnel::Client) {
        let _ = self.inner.tunnel.set(client);
    }

    /// API token last-use bookkeeping.
    pub fn token_use(&self) -> &crate::http::token_use::TokenUse {
        &self.inner.token_use
    }

    /// The tunnel client, when the binary configured one.
    pub fn tunnel(&self) -> Option<&wowlab_tunnel::Client> {
        self.inner.tunnel.get()
    }

    /// Sets the node-status webhook (once; later calls are ignored).
    pub fn set_webhook(&self, hook: crate::tasks::webhook::Webhook) {
        let _ = self.inner.webhook.set(hook);
    }

    /// The node-status webhook, when one is configured.
    pub fn webhook(&self) -> Option<&crate::tasks::webhook::Webhook> {
        self.inner.webhook.get()
    }

    /// Sets the minter of nodes' scoped tunnel credentials (once; later calls are ignored).
    pub fn set_node_tunnel_creds(&self, minter: crate::nats_creds::NodeCredsMinter) {
        let _ = self.inner.node_tunnel_creds.set(minter);
    }

    /// The minter of nodes' tunnel credentials, when the binary configured one.
    pub fn node_tunnel_creds(&self) -> Option<&crate::nats_creds::NodeCredsMinter> {
        self.inner.node_tunnel_creds.get()
    }

    /// When this instance started: signed requests from before are refused (the memory replay
    /// cache of a previous process is gone).
    pub fn started_at(&self) -> UnixMillis {
        self.inner.started_at
    }

    /// Rate limits, hashing permits, origins and quotas.
    pub fn security(&self) -> &Security {
        &self.inner.security
    }

    /// The coordinator, shared.
    pub fn coordinator_arc(&self) -> Arc<dyn Coordinator> {
        self.inner.parts.coordinator.clone()
    }

    /// The store, shared.
    pub fn store_arc(&self) -> Arc<dyn Store> {
        self.inner.parts.store.clone()
    }

    /// The clock, shared.
    pub fn clock_arc(&self) -> Arc<dyn Clock> {
        self.inner.parts.clock.clone()
    }

    /// The coordinator.
    pub fn coordinator(&self) -> &dyn Coordinator {
        &*self.inner.parts.coordinator
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        &*self.inner.parts.store
    }

    /// The publish funnel.
    pub fn funnel(&self) -> &Funnel {
        &self.inner.parts.funnel
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        &*self.inner.parts.clock
    }

    /// The node API settings.
    pub fn config(&self) -> &NodeApiConfig {
        &self.inner.parts.config
    }

    /// The spot-check policy.
    pub fn verifier(&self) -> &crate::verify::Verifier {
        &self.inner.verifier
    }

    /// The projector's log.
    pub fn result_log(&self) -> &dyn ResultLog {
        &*self.inner.result_log
    }

    /// Where the projector reports why it cannot make progress (none while it can).
    pub fn projector_health(&self) -> Arc<parking_lot::Mutex<Option<String>>> {
        self.inner.projector_health.clone()
    }

    /// The projector's log, shared.
    pub fn result_log_arc(&self) -> Arc<dyn ResultLog> {
        self.inner.result_log.clone()
    }

    /// The beacon token minter.
    pub fn tokens(&self) -> &TokenMinter {
        &self.inner.parts.tokens
    }

    /// The profile engine.
    pub fn engine(&self) -> &dyn ProfileEngine {
        &*self.inner.parts.engine
    }

    /// The owner of job endings.
    pub fn lifecycle(&self) -> &JobLifecycle {
        &self.inner.lifecycle
    }

    /// A job's immutable facts, cached while it runs; `None` if the job is gone.
    pub async fn job_facts(&self, id: JobId) -> Result<Option<Arc<Job>>, StoreError> {
        self.inner.facts.get(self.store(), id).await
    }

    /// Validates a profile on the blocking pool, at most [`VALIDATION_SLOTS`] at once and for
    /// at most [`VALIDATION_TIMEOUT`], so a hostile profile cannot stall the async workers.
    pub async fn validate_profile(
        &self,
        text: String,
    ) -> Result<ValidatedProfile, ValidationError> {
        let permit = tokio::time::timeout(
            VALIDATION_TIMEOUT,
            self.inner.validations.clone().acquire_owned(),
        )
        .await
        .map_err(|_| ValidationError::Busy)?
        .map_err(|_| ValidationError::Busy)?;
        let engine = self.inner.parts.engine.clone();
        let work = tokio::task::spawn_blocking(move || {
            // The permit lives as long as the work, even past a timeout: a runaway check keeps
            // its slot until it ends, so a flood of them cannot pile up threads.
            let _permit = permit;
            engine.validate(&text)
        });
        match tokio::time::timeout(VALIDATION_TIMEOUT, work).await {
            Ok(Ok(r)) => r.map_err(ValidationError::Invalid),
            Ok(Err(e)) => Err(ValidationError::Invalid(format!(
                "the profile check crashed: {e}"
            ))),
            Err(_) => {
                metrics::counter!("sentinel_profile_validation_timeouts_total").increment(1);
                Err(ValidationError::TimedOut)
            }
        }
    }

    /// Lease payloads for `leases`, skipping jobs that vanished meanwhile.
    pub async fn assignments(&self, leases: &[Lease]) -> Result<Vec<api::ChunkLease>, StoreError> {
        let mut out = Vec::with_capacity(leases.len());
        for l in leases {
            if let Some(job) = self.job_facts(l.job).await? {
                if let Some(a) = crate::wire::chunk_lease(l, &job) {
                    out.push(a);
                }
            }
        }
        Ok(out)
    }
}

/// Contexts for unit tests: an HMAC test secret and, unless given, an engine refusing every
/// profile.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Refuses every profile (tests that never submit through the engine).
    pub struct RefusingEngine;

    impl ProfileEngine for RefusingEngine {
        fn validate(&self, _profile: &str) -> Result<ValidatedProfile, String> {
            Err("no engine in this test".into())
        }
    }

    /// A context over these engines.
    pub fn context(
        coordinator: Arc<dyn Coordinator>,
        store: Arc<dyn Store>,
        funnel: Funnel,
        clock: Arc<dyn Clock>,
        config: NodeApiConfig,
        engine: Option<Arc<dyn ProfileEngine>>,
    ) -> (Context, InProcessLog) {
        Context::new(parts(coordinator, store, funnel, clock, config, engine))
    }

    /// The parts of a test context.
    pub fn parts(
        coordinator: Arc<dyn Coordinator>,
        store: Arc<dyn Store>,
        funnel: Funnel,
        clock: Arc<dyn Clock>,
        config: NodeApiConfig,
        engine: Option<Arc<dyn ProfileEngine>>,
    ) -> ContextParts {
        ContextParts {
            coordinator,
            store,
            funnel,
            clock,
            config,
            tokens: TokenMinter::new(b"test-secret"),
            engine: engine.unwrap_or_else(|| Arc::new(RefusingEngine)),
            security: SecurityConfig::default(),
        }
    }
}
