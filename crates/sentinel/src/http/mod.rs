//! HTTP surface of the sentinel. Cross-cutting checks live in extractors ([`signed`]), handlers
//! stay thin: one file per endpoint under [`node`].

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use std::collections::HashMap;

use crate::coordinator::{Coordinator, DEFAULT_MAX_ATTEMPTS};
use crate::domain::JobId;
use crate::engine::ProfileEngine;
use crate::projector::ResultLog;
use crate::publish::Funnel;
use crate::store::{Job, Store};
use crate::tokens::TokenMinter;

pub mod auth;
pub mod clock;
pub mod error;
pub mod node;
pub mod security;
pub mod signed;
pub mod studio;
pub mod user;

/// Node API and user API on one router, behind the [`security::guard`] layer.
pub fn router(state: AppState) -> axum::Router {
    node::router(state.clone())
        .merge(studio::router(state.clone()))
        .merge(user::router(state.clone()))
        .layer(axum::middleware::from_fn_with_state(state, security::guard))
}

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::ApiError;

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
}

impl Default for NodeApiConfig {
    fn default() -> Self {
        Self {
            lease_ttl: Duration::from_secs(30),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            body_limit: 4 * 1024 * 1024,
            beacon_ws_url: "ws://127.0.0.1:8080/connection/websocket".into(),
        }
    }
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    coordinator: Arc<dyn Coordinator>,
    store: Arc<dyn Store>,
    funnel: Funnel,
    clock: Arc<dyn Clock>,
    config: NodeApiConfig,
    /// Immutable job facts (seed, sizes, config hash) for lease payloads, so a lease does not
    /// cost a store read per chunk.
    job_cache: Mutex<HashMap<JobId, Arc<Job>>>,
    result_log: Option<ResultLog>,
    tokens: Option<TokenMinter>,
    engine: Option<Arc<dyn ProfileEngine>>,
    security: Arc<security::Security>,
}

impl AppState {
    /// Bundles the engines and settings.
    pub fn new(
        coordinator: Arc<dyn Coordinator>,
        store: Arc<dyn Store>,
        funnel: Funnel,
        clock: Arc<dyn Clock>,
        config: NodeApiConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                coordinator,
                store,
                funnel,
                clock,
                config,
                job_cache: Mutex::new(HashMap::new()),
                result_log: None,
                tokens: None,
                engine: None,
                security: Arc::new(security::Security::new(Default::default())),
            }),
        }
    }

    /// The same state feeding completed chunk results to a projector's log. Call before
    /// cloning the state into routers.
    pub fn with_result_log(mut self, log: ResultLog) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.result_log = Some(log);
        }
        self
    }

    /// The same state able to mint beacon tokens. Call before cloning the state into routers.
    pub fn with_tokens(mut self, minter: TokenMinter) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.tokens = Some(minter);
        }
        self
    }

    /// The token minter, when configured.
    pub fn tokens(&self) -> Result<&TokenMinter, ApiError> {
        self.inner
            .tokens
            .as_ref()
            .ok_or_else(|| ApiError::Unavailable("beacon tokens are not configured".into()))
    }

    /// The same state validating job profiles with `engine`. Call before cloning the state.
    pub fn with_engine(mut self, engine: Arc<dyn ProfileEngine>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.engine = Some(engine);
        }
        self
    }

    /// The same state with these defences' settings. Call before cloning the state.
    pub fn with_security(mut self, config: security::SecurityConfig) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.security = Arc::new(security::Security::new(config));
        }
        self
    }

    /// Rate limits, hashing permits, origins and quotas.
    pub fn security(&self) -> &security::Security {
        &self.inner.security
    }

    /// The profile engine, when configured.
    pub fn engine(&self) -> Result<&dyn ProfileEngine, ApiError> {
        self.inner
            .engine
            .as_deref()
            .ok_or_else(|| ApiError::Unavailable("no simulation engine configured".into()))
    }

    /// The projector's log, when one is attached.
    pub fn result_log(&self) -> Option<&ResultLog> {
        self.inner.result_log.as_ref()
    }

    /// The coordinator.
    pub fn coordinator(&self) -> &dyn Coordinator {
        &*self.inner.coordinator
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        &*self.inner.store
    }

    /// The publish funnel.
    pub fn funnel(&self) -> &Funnel {
        &self.inner.funnel
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        &*self.inner.clock
    }

    /// The settings.
    pub fn config(&self) -> &NodeApiConfig {
        &self.inner.config
    }

    /// A job's immutable facts, cached after the first read; `None` if the job is gone.
    pub async fn job_facts(&self, id: JobId) -> Result<Option<Arc<Job>>, ApiError> {
        if let Some(j) = self.inner.job_cache.lock().get(&id) {
            return Ok(Some(j.clone()));
        }
        let Some(job) = self.store().job(id).await? else {
            return Ok(None);
        };
        let job = Arc::new(Job {
            // Only the immutable fields are ever read from the cache; drop the result blob.
            result: None,
            ..job
        });
        self.inner.job_cache.lock().insert(id, job.clone());
        Ok(Some(job))
    }

    /// Drops a finished job from the facts cache.
    pub fn forget_job(&self, id: JobId) {
        self.inner.job_cache.lock().remove(&id);
    }
}
