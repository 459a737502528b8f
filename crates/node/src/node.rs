//! Wiring: identity → client → registration/claim → beacon, pool, heartbeats, lease polling
//! → graceful drain.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use wowlab_api::node::{NodeFacts, TokenResponse};
use wowlab_api::NodeId;

use crate::backoff::Backoff;
use crate::client::{RetryPolicy, SentinelClient};
use crate::config::{physical_cores, NodeConfig};
use crate::heartbeat::HeartbeatDriver;
use crate::identity;
use crate::logs::LogTail;
use crate::pool::Pool;
use crate::register::{self, ClaimAnnouncer, ClaimPoll, Registration};
use crate::runner::{Runner, RunnerRegistry, SimRunner};
use crate::status::{self, StatusSource};
use crate::system;
use crate::tunnel::TunnelSetup;
use crate::{realtime, NodeError};

/// A compute node, configured and ready to start.
pub struct Node {
    cfg: NodeConfig,
    extra: Vec<Arc<dyn Runner>>,
    announce: ClaimAnnouncer,
    claim_poll: ClaimPoll,
    retry: RetryPolicy,
    tunnel: Option<TunnelSetup>,
    log_tail: LogTail,
}

impl Node {
    /// A node with the built-in sim runner; the claim code is printed to stderr.
    pub fn new(cfg: NodeConfig) -> Self {
        let retry = RetryPolicy {
            attempts: cfg.attempts,
            ..RetryPolicy::default()
        };
        Self {
            cfg,
            extra: Vec::new(),
            announce: Arc::new(register::print_claim_code),
            claim_poll: ClaimPoll::default(),
            retry,
            tunnel: None,
            log_tail: LogTail::global().clone(),
        }
    }

    /// Serves `/status` and `/logs` through the tunnel on `transport` while registered
    /// (host = node id).
    pub fn tunnel(mut self, transport: Arc<dyn wowlab_tunnel::Transport>) -> Self {
        self.tunnel = Some(TunnelSetup::Transport(transport));
        self
    }

    /// Serves `/status` and `/logs` through the tunnel on the NATS server at `url`, with the
    /// scoped, refreshed credentials the sentinel issues (none when it issues none).
    pub fn tunnel_nats(mut self, url: impl Into<String>) -> Self {
        self.tunnel = Some(TunnelSetup::Nats(url.into()));
        self
    }

    /// The log tail `/logs` serves (default: the process-wide [`LogTail::global`]).
    pub fn log_tail(mut self, tail: LogTail) -> Self {
        self.log_tail = tail;
        self
    }

    /// Adds (or, for an existing capability, replaces) a runner.
    pub fn runner(mut self, r: Arc<dyn Runner>) -> Self {
        self.extra.push(r);
        self
    }

    /// Replaces the claim-code announcer.
    pub fn on_claim_code(mut self, f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.announce = Arc::new(f);
        self
    }

    /// Claim poll pacing.
    pub fn claim_poll(mut self, p: ClaimPoll) -> Self {
        self.claim_poll = p;
        self
    }

    /// Backoff of sentinel calls.
    pub fn retry(mut self, r: RetryPolicy) -> Self {
        self.retry = RetryPolicy {
            attempts: r.attempts.max(1),
            ..r
        };
        self
    }

    /// Loads (or creates) the identity, binds the status listener and starts the node in the
    /// background. Identity and listener problems are reported here, before anything runs.
    pub async fn start(self) -> Result<NodeHandle, NodeError> {
        let sentinel = self.cfg.require_sentinel()?.to_owned();
        crate::status::register_metrics();
        let (key, _created) = identity::load_or_create_key(&self.cfg.data_dir)?;
        let public_key = key.public_base64();
        let client = SentinelClient::new(&sentinel, key, self.cfg.request_timeout, self.retry)?;
        let mut registry =
            RunnerRegistry::new().register(Arc::new(SimRunner::new(Arc::new(client.clone()))));
        for r in self.extra {
            registry = registry.register(r);
        }
        let cores = physical_cores();
        let pool = Pool::new(registry, client.clone(), cores, self.cfg.max_parallel);
        pool.set_chunk_timeout(self.cfg.chunk_timeout);
        let status = StatusSource::new(pool.clone(), cores);
        let shutdown = CancellationToken::new();
        let mut status_addr = None;
        if let Some(addr) = self.cfg.status_addr {
            let listener =
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| NodeError::Status {
                        addr,
                        reason: e.to_string(),
                    })?;
            status_addr = listener.local_addr().ok();
            let app = status::router(status.clone());
            let stop = shutdown.clone();
            tokio::spawn(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await;
            });
        }
        let tunnel = self
            .tunnel
            .map(|t| (t, crate::tunnel::router(status.clone(), self.log_tail)));
        let run = Running {
            tunnel,
            cfg: self.cfg,
            client,
            pool,
            status: status.clone(),
            announce: self.announce,
            claim_poll: self.claim_poll,
            shutdown: shutdown.clone(),
        };
        let task = tokio::spawn(run.run());
        Ok(NodeHandle {
            shutdown,
            task,
            status,
            public_key,
            status_addr,
        })
    }
}

/// Starts a node's graceful drain from anywhere.
#[derive(Debug, Clone)]
pub struct Stopper(CancellationToken);

impl Stopper {
    /// Same as [`NodeHandle::shutdown`].
    pub fn stop(&self) {
        self.0.cancel();
    }
}

/// A started node.
pub struct NodeHandle {
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), NodeError>>,
    status: StatusSource,
    public_key: String,
    status_addr: Option<std::net::SocketAddr>,
}

impl NodeHandle {
    /// Live status.
    pub fn status(&self) -> &StatusSource {
        &self.status
    }

    /// The node's public key (base64).
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// Where `/status` is served, when enabled.
    pub fn status_addr(&self) -> Option<std::net::SocketAddr> {
        self.status_addr
    }

    /// Starts a graceful drain: no new work, running chunks finish (or fail after the drain
    /// timeout), results are posted, then the node stops.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// A cloneable trigger for [`NodeHandle::shutdown`] (for signal handlers).
    pub fn stopper(&self) -> Stopper {
        Stopper(self.shutdown.clone())
    }

    /// Waits for the node to stop.
    pub async fn wait(self) -> Result<(), NodeError> {
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(NodeError::Refused(format!("node task failed: {e}"))),
        }
    }
}

struct Running {
    /// Transport and routes served through the tunnel while registered.
    tunnel: Option<(TunnelSetup, axum::Router)>,
    cfg: NodeConfig,
    client: SentinelClient,
    pool: Pool,
    status: StatusSource,
    announce: ClaimAnnouncer,
    claim_poll: ClaimPoll,
    shutdown: CancellationToken,
}

/// How a session (one registration's worth of running) ended.
enum SessionEnd {
    /// Local shutdown: drained, stop.
    Shutdown,
    /// The sentinel forgot the node or its owner unlinked it: register again.
    Detached,
}

impl Running {
    async fn run(self) -> Result<(), NodeError> {
        loop {
            let (node_id, token) = match self.ready().await {
                Ok(v) => v,
                Err(NodeError::Stopped) => return Ok(()),
                Err(e) => return Err(e),
            };
            match self.session(node_id, token).await {
                SessionEnd::Shutdown => {
                    tracing::info!("node stopped");
                    return Ok(());
                }
                SessionEnd::Detached => {
                    tracing::warn!(%node_id, "node detached from the grid; registering again");
                    self.status.set_node_id(None);
                    identity::clear_state(&self.cfg.data_dir)?;
                }
            }
        }
    }

    /// Runs dispatcher, heartbeats, lease polling and beacon until shutdown or detachment.
    async fn session(&self, node_id: NodeId, token: TokenResponse) -> SessionEnd {
        self.status.set_node_id(Some(node_id));
        tracing::info!(%node_id, beacon = %token.beacon_url, slots = self.cfg.max_parallel, "node running");

        // `work` stops taking chunks; `all` stops heartbeats and beacon last, so leases stay
        // extended while a drain finishes.
        let work = CancellationToken::new();
        let all = CancellationToken::new();
        let detached = CancellationToken::new();
        let resync = Arc::new(Notify::new());
        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(self.pool.clone().run_dispatcher(all.clone())));
        tasks.push(tokio::spawn(
            HeartbeatDriver::new(self.client.clone(), self.pool.clone(), self.cfg.heartbeat)
                .on_detached(detached.clone())
                .run(all.clone()),
        ));
        tasks.push(tokio::spawn(poll_leases(
            self.client.clone(),
            self.pool.clone(),
            resync.clone(),
            (self.cfg.poll_min, self.cfg.poll_max),
            work.clone(),
        )));
        if let Some((setup, app)) = &self.tunnel {
            tasks.push(tokio::spawn(crate::tunnel::run(
                setup.clone(),
                self.client.clone(),
                node_id,
                app.clone(),
                all.clone(),
            )));
        }
        let beacon = realtime::connect(&self.client, &token);
        tasks.push(tokio::spawn(realtime::run(
            beacon,
            node_id,
            self.pool.clone(),
            resync,
            detached.clone(),
            all.clone(),
        )));

        let end = tokio::select! {
            _ = self.shutdown.cancelled() => SessionEnd::Shutdown,
            _ = detached.cancelled() => SessionEnd::Detached,
        };
        work.cancel();
        match end {
            SessionEnd::Shutdown => self.drain().await,
            // The leases belong to a node the sentinel no longer knows: drop them.
            SessionEnd::Detached => self.pool.cancel_all("node detached"),
        }
        all.cancel();
        for t in tasks {
            let _ = t.await;
        }
        // Last, once no heartbeat or beacon connection can say otherwise.
        if matches!(end, SessionEnd::Shutdown) {
            self.withdraw_credit().await;
        }
        end
    }

    /// After a drain: one last heartbeat with no free slot, nothing held and `leaving`, so the
    /// sentinel withdraws this node's dispatch credit and marks it offline now. Otherwise the credit (up to its slots plus
    /// [`wowlab_api::node::MAX_PREFETCH`]) outlives the process until it is reaped as silent,
    /// and the next job's first chunks are leased to it and wait that long (the cluster-2
    /// stall of `bench/grid/e2e`: ≈ 13 s with no CPU spent). Best effort, bounded.
    async fn withdraw_credit(&self) {
        let mut req = crate::heartbeat::request(
            self.pool.report(),
            wowlab_api::node::SystemMetrics::default(),
        );
        req.leaving = true;
        match tokio::time::timeout(Duration::from_secs(2), self.client.heartbeat(&req)).await {
            Ok(Ok(_)) => tracing::debug!("dispatch credit withdrawn"),
            Ok(Err(e)) => tracing::debug!(error = %e, "could not withdraw dispatch credit"),
            Err(_) => tracing::debug!("withdrawing dispatch credit timed out"),
        }
    }

    /// Stops taking work, lets running chunks finish within the drain timeout, then fails
    /// the rest with [`crate::pool::SHUTDOWN_REASON`].
    async fn drain(&self) {
        tracing::info!(held = self.pool.held(), "draining");
        self.pool.begin_shutdown().await;
        if tokio::time::timeout(self.cfg.drain_timeout, self.pool.wait_idle())
            .await
            .is_err()
        {
            tracing::warn!(timeout = ?self.cfg.drain_timeout, "drain timeout; failing running chunks");
            self.pool.abandon_running().await;
            // Runners see the cancellation between sub-ranges; their tasks then leave.
            let _ = tokio::time::timeout(Duration::from_secs(5), self.pool.wait_idle()).await;
        }
    }

    /// Registers, waits for a claim, and fetches the first beacon token.
    async fn ready(&self) -> Result<(NodeId, TokenResponse), NodeError> {
        let facts = NodeFacts {
            hostname: system::hostname(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            cores: physical_cores(),
            capabilities: self.pool.registry().capabilities(),
            local_max_parallel: Some(self.pool.local_max_parallel()),
        };
        let name = self.cfg.name.clone().unwrap_or_else(system::hostname);
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        loop {
            let node_id = register::ensure_claimed(
                Registration {
                    client: &self.client,
                    data_dir: &self.cfg.data_dir,
                    claim_token: self.cfg.claim_token.as_ref(),
                    name: name.clone(),
                    facts: facts.clone(),
                    announce: &self.announce,
                    poll: self.claim_poll,
                },
                &self.shutdown,
            )
            .await?;
            match self.client.token().await {
                Ok(t) if t.node_id == node_id => return Ok((node_id, t)),
                Ok(t) => {
                    return Err(NodeError::Refused(format!(
                        "token for node {} but registered as {node_id}",
                        t.node_id
                    )))
                }
                Err(e) if e.is_not_claimed() => {
                    tracing::warn!("node lost its owner; waiting for a new claim")
                }
                Err(e) if e.is_unknown_node() => {
                    tracing::warn!("sentinel forgot this node; registering again");
                    identity::clear_state(&self.cfg.data_dir)?;
                }
                Err(e) if e.is_transient() => tracing::warn!(error = %e, "token fetch failed"),
                Err(e) => return Err(e.into()),
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff.next_delay()) => {}
                _ = self.shutdown.cancelled() => return Err(NodeError::Stopped),
            }
        }
    }
}

/// The safety net under push dispatch: work normally arrives pushed on `chunks:{node}` or in
/// completion replies. This asks for leases when slots are free and no lease came with a
/// completion (or the prefetch wants more, or settings changed), idles with backoff up to
/// `poll_max` (a few seconds), and resyncs on every beacon (re)connect so a lost push costs
/// nothing. Each request also tells the sentinel the node's free slots (its credit).
async fn poll_leases(
    client: SentinelClient,
    pool: Pool,
    resync: Arc<Notify>,
    (min, max): (Duration, Duration),
    stop: CancellationToken,
) {
    let mut backoff = Backoff::new(min, max);
    let mut delay = Duration::ZERO;
    let mut force = true;
    loop {
        if !force {
            tokio::select! {
                _ = resync.notified() => force = true,
                _ = pool.capacity_changed() => {}
                _ = tokio::time::sleep(delay) => {}
                _ = stop.cancelled() => return,
            }
        }
        if stop.is_cancelled() {
            return;
        }
        let free = pool.free_slots();
        if free == 0 && !force {
            delay = max;
            continue;
        }
        let before = pool.active();
        match client.leases(free).await {
            Ok(resp) => {
                let new = pool.resync(&before, resp.leases);
                tracing::debug!(free, new, "lease poll");
                if new > 0 {
                    backoff.reset();
                    delay = min;
                } else {
                    delay = backoff.next_delay_at_least(min);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "lease request failed");
                delay = backoff.next_delay_at_least(min);
            }
        }
        force = false;
    }
}
