//! Engines behind traits: the broker (pub/sub fan-out between nodes, history streams) and the
//! presence manager. The memory implementations serve a single node; the NATS and Redis
//! brokers and the Redis presence manager serve several beacons sharing those servers. Every
//! implementation passes the same conformance suites.

pub mod conformance;
pub mod memory_broker;
pub mod memory_presence;
pub mod nats_broker;
mod ordering;
pub mod redis_broker;
pub mod redis_history;
pub mod redis_presence;
#[cfg(test)]
pub(crate) mod test_services;
mod types;
pub(crate) mod wire;

pub use memory_broker::MemoryBroker;
pub use memory_presence::MemoryPresence;
pub use nats_broker::NatsBroker;
pub use redis_broker::RedisBroker;
pub use redis_history::RedisHistory;
pub use redis_presence::RedisPresence;
pub use types::*;

use async_trait::async_trait;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;

/// Errors returned by engines.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum EngineError {
    /// The `since` position belongs to another epoch or is gone.
    #[error("unrecoverable position")]
    UnrecoverablePosition,
    /// The operation is not supported by this engine (e.g. history on a NATS broker).
    #[error("not available")]
    NotAvailable,
    /// The backend failed; worth retrying.
    #[error("engine backend error: {0}")]
    Backend(String),
    /// The engine was not started with [`Broker::run`].
    #[error("engine not running")]
    NotRunning,
}

/// Receives what the broker delivers to this node. Called synchronously from the broker's
/// delivery path, so implementations must not block (they enqueue and return).
pub trait BrokerEventHandler: Send + Sync + 'static {
    /// A publication on a channel this node subscribed to (offset set when history is on).
    fn handle_publication(&self, channel: &str, publication: Publication, position: StreamPosition);
    /// A join on a channel this node subscribed to.
    fn handle_join(&self, channel: &str, info: ClientInfo);
    /// A leave on a channel this node subscribed to.
    fn handle_leave(&self, channel: &str, info: ClientInfo);
    /// A control message for all nodes (or this node).
    fn handle_control(&self, data: Bytes);
}

/// Pub/sub between nodes plus per-channel history streams.
#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Starts delivery to `handler`; must be called once before anything else.
    async fn run(&self, handler: Arc<dyn BrokerEventHandler>) -> Result<(), EngineError>;
    /// Node-level subscribe: from now on publications of these channels reach the handler.
    async fn subscribe(&self, channels: &[String]) -> Result<(), EngineError>;
    /// Node-level unsubscribe.
    async fn unsubscribe(&self, channels: &[String]) -> Result<(), EngineError>;
    /// Publishes; with history enabled in `opts` the publication is appended to the stream
    /// and gets the next offset. Returns the resulting stream position (offset 0 without history).
    async fn publish(
        &self,
        channel: &str,
        publication: Publication,
        opts: &PublishOptions,
    ) -> Result<StreamPosition, EngineError>;
    /// Delivers a join to every node subscribed to the channel.
    async fn publish_join(&self, channel: &str, info: ClientInfo) -> Result<(), EngineError>;
    /// Delivers a leave to every node subscribed to the channel.
    async fn publish_leave(&self, channel: &str, info: ClientInfo) -> Result<(), EngineError>;
    /// Delivers a control message to every node (`node_id` None) or to one node.
    async fn publish_control(&self, data: Bytes, node_id: Option<&str>) -> Result<(), EngineError>;
    /// Reads the stream: publications after `since` (before it with `reverse`), capped at
    /// `limit` (None: no cap; Some(0): only the position), plus the current top position.
    async fn history(
        &self,
        channel: &str,
        opts: &HistoryOptions,
    ) -> Result<HistoryResult, EngineError>;
    /// Drops the stream's publications; the top position is kept.
    async fn remove_history(&self, channel: &str) -> Result<(), EngineError>;
    /// Current top position of a stream (creates the stream meta if absent).
    async fn stream_top(
        &self,
        channel: &str,
        meta_ttl: std::time::Duration,
    ) -> Result<StreamPosition, EngineError> {
        let r = self
            .history(
                channel,
                &HistoryOptions {
                    since: None,
                    limit: Some(0),
                    reverse: false,
                    meta_ttl,
                },
            )
            .await?;
        Ok(r.position)
    }
}

/// Channel presence, kept alive by periodic re-adds and expiring after its TTL.
#[async_trait]
pub trait PresenceManager: Send + Sync + 'static {
    /// Adds or refreshes a client's presence in a channel.
    async fn add_presence(
        &self,
        channel: &str,
        client_id: &str,
        info: ClientInfo,
    ) -> Result<(), EngineError>;
    /// Adds or refreshes many entries (channel, client id, info) at once; distributed
    /// managers serve the whole batch in one round trip.
    async fn add_presence_many(
        &self,
        entries: &[(String, String, ClientInfo)],
    ) -> Result<(), EngineError> {
        for (channel, client, info) in entries {
            self.add_presence(channel, client, info.clone()).await?;
        }
        Ok(())
    }
    /// Removes a client's presence.
    async fn remove_presence(
        &self,
        channel: &str,
        client_id: &str,
        user_id: &str,
    ) -> Result<(), EngineError>;
    /// All live presence entries of a channel, by client id.
    async fn presence(&self, channel: &str) -> Result<HashMap<String, ClientInfo>, EngineError>;
    /// Client and distinct user counts.
    async fn presence_stats(&self, channel: &str) -> Result<PresenceStats, EngineError>;
}
