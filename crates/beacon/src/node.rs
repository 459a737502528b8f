//! Shared server state: config, rules, engines, hub and the registry of live connections.

use crate::api::ApiKey;
use crate::auth::TokenVerifier;
use crate::channel::ChannelRules;
use crate::config::Config;
use crate::conn::{ConnShared, Control};
use crate::engine::{
    Broker, BrokerEventHandler, ClientInfo, PresenceManager, Publication, StreamPosition,
};
use crate::hub::{shard_index, Hub};
use crate::limits::{ConnectionSlots, UserLimitReached};
use bytes::Bytes;
use parking_lot::RwLock;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Instant;

const REG_SHARDS: usize = 32;
const LOCK_STRIPES: usize = 64;

/// Server version reported in connect results.
pub const VERSION: &str = concat!("wowlab-beacon ", env!("CARGO_PKG_VERSION"));

/// Everything sessions, transports and the API share.
pub(crate) struct Node {
    pub id: String,
    pub config: Config,
    pub rules: ChannelRules,
    pub conn_verifier: TokenVerifier,
    pub sub_verifier: TokenVerifier,
    pub broker: Arc<dyn Broker>,
    pub presence: Arc<dyn PresenceManager>,
    pub hub: Hub,
    pub started: Instant,
    clients: Vec<RwLock<HashMap<String, Arc<ConnShared>>>>,
    users: Vec<RwLock<HashMap<String, HashSet<String>>>>,
    /// Serialises hub changes + broker (un)subscribe per channel stripe.
    sub_locks: Vec<tokio::sync::Mutex<()>>,
    /// Set once shutdown began: connections close with 3001.
    pub shutting_down: std::sync::atomic::AtomicBool,
    /// Every connection from accept to close (authenticated or not), for shutdown.
    live: Vec<RwLock<HashMap<String, Arc<ConnShared>>>>,
    /// Emulation sessions: session id → command sink.
    pub emulation: RwLock<HashMap<String, tokio::sync::mpsc::Sender<Bytes>>>,
    /// `client.connection_limit` accounting.
    pub slots: ConnectionSlots,
    /// `http_api.key`, prepared for constant-time checks.
    pub api_key: ApiKey,
    /// Control messages to the other nodes, in order (set only with a distributed broker).
    control_out: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<Bytes>>,
}

impl Node {
    pub(crate) fn new(
        config: Config,
        broker: Arc<dyn Broker>,
        presence: Arc<dyn PresenceManager>,
    ) -> Self {
        Self::with_id(uuid::Uuid::new_v4().to_string(), config, broker, presence)
    }

    /// A node with a given id (the id distributed brokers address node-targeted control to).
    pub(crate) fn with_id(
        id: String,
        config: Config,
        broker: Arc<dyn Broker>,
        presence: Arc<dyn PresenceManager>,
    ) -> Self {
        let c = &config.client;
        let sub_verifier = if c.subscription_token.enabled {
            TokenVerifier::new(
                &c.subscription_token.hmac_secret_key,
                &c.subscription_token.audience,
                &c.subscription_token.issuer,
            )
        } else {
            TokenVerifier::new(&c.token.hmac_secret_key, &c.token.audience, &c.token.issuer)
        };
        Node {
            id,
            rules: ChannelRules::new(&config.channel),
            conn_verifier: TokenVerifier::new(
                &c.token.hmac_secret_key,
                &c.token.audience,
                &c.token.issuer,
            ),
            sub_verifier,
            broker,
            presence,
            hub: Hub::new(),
            started: Instant::now(),
            clients: (0..REG_SHARDS)
                .map(|_| RwLock::new(HashMap::new()))
                .collect(),
            users: (0..REG_SHARDS)
                .map(|_| RwLock::new(HashMap::new()))
                .collect(),
            sub_locks: (0..LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            emulation: RwLock::new(HashMap::new()),
            shutting_down: std::sync::atomic::AtomicBool::new(false),
            live: (0..REG_SHARDS)
                .map(|_| RwLock::new(HashMap::new()))
                .collect(),
            slots: ConnectionSlots::new(),
            api_key: ApiKey::new(&config.http_api.key),
            control_out: std::sync::OnceLock::new(),
            config,
        }
    }

    /// Starts forwarding control actions to the other nodes through the broker (one task, so
    /// they leave in the order the API issued them).
    pub(crate) fn start_control_forwarding(&self) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
        if self.control_out.set(tx).is_err() {
            return;
        }
        let broker = self.broker.clone();
        tokio::spawn(async move {
            while let Some(data) = rx.recv().await {
                if let Err(e) = broker.publish_control(data, None).await {
                    tracing::warn!(error = %e, "control message to other nodes failed");
                }
            }
        });
    }

    /// Sends an action (already applied here) to the other nodes, if there are any.
    pub(crate) fn broadcast_control(&self, cmd: &crate::control::ControlCommand) {
        if let Some(tx) = self.control_out.get() {
            let _ = tx.send(crate::control::encode(&self.id, cmd));
        }
    }

    /// Lock guarding hub+broker subscription changes of a channel.
    pub(crate) fn sub_lock(&self, channel: &str) -> &tokio::sync::Mutex<()> {
        &self.sub_locks[shard_index(channel, LOCK_STRIPES)]
    }

    /// Registers an authenticated connection, unless its user already holds
    /// `client.user_connection_limit` connections here (checked and counted under one lock, so
    /// concurrent connects cannot overshoot). Anonymous connections (empty user) are not
    /// limited, as in Centrifugo.
    pub(crate) fn register(
        &self,
        conn: &Arc<ConnShared>,
        user: &str,
    ) -> Result<(), UserLimitReached> {
        let limit = self.config.client.user_connection_limit;
        {
            let mut users = self.users[shard_index(user, REG_SHARDS)].write();
            let held = users.get(user).map_or(0, |s| s.len());
            if limit > 0 && !user.is_empty() && held >= limit {
                return Err(UserLimitReached);
            }
            users
                .entry(user.to_string())
                .or_default()
                .insert(conn.client.clone());
        }
        self.clients[shard_index(&conn.client, REG_SHARDS)]
            .write()
            .insert(conn.client.clone(), conn.clone());
        metrics::gauge!("beacon_connections").increment(1.0);
        Ok(())
    }

    /// Forgets a connection.
    pub(crate) fn unregister(&self, client: &str, user: &str) {
        if self.clients[shard_index(client, REG_SHARDS)]
            .write()
            .remove(client)
            .is_none()
        {
            return;
        }
        let mut users = self.users[shard_index(user, REG_SHARDS)].write();
        if let Some(set) = users.get_mut(user) {
            set.remove(client);
            if set.is_empty() {
                users.remove(user);
            }
        }
        metrics::gauge!("beacon_connections").decrement(1.0);
    }

    /// A connection by client id.
    pub(crate) fn client(&self, client: &str) -> Option<Arc<ConnShared>> {
        self.clients[shard_index(client, REG_SHARDS)]
            .read()
            .get(client)
            .cloned()
    }

    /// Connections of a user.
    pub(crate) fn user_conns(&self, user: &str) -> Vec<Arc<ConnShared>> {
        let ids: Vec<String> = self.users[shard_index(user, REG_SHARDS)]
            .read()
            .get(user)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        ids.iter().filter_map(|c| self.client(c)).collect()
    }

    /// Connections matching an API selector (user and/or client and/or session).
    pub(crate) fn select(&self, user: &str, client: &str, session: &str) -> Vec<Arc<ConnShared>> {
        let mut conns = if !client.is_empty() {
            self.client(client).into_iter().collect::<Vec<_>>()
        } else if !user.is_empty() {
            self.user_conns(user)
        } else {
            Vec::new()
        };
        conns.retain(|c| {
            (user.is_empty() || c.user() == user)
                && (client.is_empty() || c.client == client)
                && (session.is_empty() || c.session == session)
        });
        conns
    }

    /// Number of authenticated connections.
    pub(crate) fn num_clients(&self) -> usize {
        self.clients.iter().map(|s| s.read().len()).sum()
    }

    /// Number of distinct users.
    pub(crate) fn num_users(&self) -> usize {
        self.users.iter().map(|s| s.read().len()).sum()
    }

    /// Tells every connection task (also unauthenticated ones) to close with 3001.
    pub(crate) fn begin_shutdown(&self) {
        self.shutting_down
            .store(true, std::sync::atomic::Ordering::Release);
        let code = wowlab_protocol::codes::disconnect::SHUTDOWN;
        let reason = wowlab_protocol::codes::disconnect::reason(code);
        for shard in &self.live {
            for conn in shard.read().values() {
                conn.control(Control::Disconnect(code, reason.to_string()));
            }
        }
    }

    /// Connections from accept to close.
    pub(crate) fn num_live(&self) -> usize {
        self.live.iter().map(|s| s.read().len()).sum()
    }

    /// Tracks a new connection (for shutdown).
    pub(crate) fn track(&self, conn: &Arc<ConnShared>) {
        self.live[shard_index(&conn.client, REG_SHARDS)]
            .write()
            .insert(conn.client.clone(), conn.clone());
    }

    /// Stops tracking a closed connection.
    pub(crate) fn untrack(&self, client: &str) {
        self.live[shard_index(client, REG_SHARDS)]
            .write()
            .remove(client);
    }
}

/// Bridges broker deliveries to the hub without a reference cycle.
pub(crate) struct NodeHandler(pub Weak<Node>);

impl BrokerEventHandler for NodeHandler {
    fn handle_publication(
        &self,
        channel: &str,
        publication: Publication,
        _position: StreamPosition,
    ) {
        if let Some(node) = self.0.upgrade() {
            let n = node.hub.broadcast_publication(channel, &publication);
            metrics::counter!("beacon_messages_sent", "type" => "publication").increment(n as u64);
        }
    }
    fn handle_join(&self, channel: &str, info: ClientInfo) {
        if let Some(node) = self.0.upgrade() {
            let n = node.hub.broadcast_join_leave(channel, &info, true);
            metrics::counter!("beacon_messages_sent", "type" => "join").increment(n as u64);
        }
    }
    fn handle_leave(&self, channel: &str, info: ClientInfo) {
        if let Some(node) = self.0.upgrade() {
            let n = node.hub.broadcast_join_leave(channel, &info, false);
            metrics::counter!("beacon_messages_sent", "type" => "leave").increment(n as u64);
        }
    }
    fn handle_control(&self, data: Bytes) {
        let Some(node) = self.0.upgrade() else { return };
        match crate::control::decode(&data) {
            // Our own broadcast: already applied when the API call came in.
            Some((origin, _)) if origin == node.id => {}
            Some((_, cmd)) => cmd.apply(&node),
            None => tracing::warn!(len = data.len(), "undecodable control message dropped"),
        }
    }
}
