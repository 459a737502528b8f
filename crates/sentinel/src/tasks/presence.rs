//! Presence sync: beacon's `nodes:online` roster is a routing hint (heartbeats stay
//! authoritative for leases). On a cron (default 30 s) the leader diffs the roster against
//! `nodes.status`, flips what changed and publishes each flip on `nodes:{id}` and `nodes:all`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use tokio::sync::watch;

use super::{LeaderLoop, LeaderRound};
use crate::coordinator::Coordinator;
use crate::domain::Clock;
use crate::domain::{NodeId, UnixMillis};
use crate::publish::Funnel;
use crate::store::{LeaderFence, NodeStatus, Store, StoreError};
use wowlab_api::channels::NODES_ALL;

/// Default interval of the presence cron.
pub const PRESENCE_INTERVAL: Duration = Duration::from_secs(30);

/// Where the online roster comes from (beacon's presence API on `nodes:online`).
#[async_trait]
pub trait PresenceSource: Send + Sync + 'static {
    /// Node ids currently present.
    async fn online(&self) -> Result<HashSet<NodeId>, String>;
}

/// Published on `nodes:{id}` and `nodes:all` when a node's status flips.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StatusFlip {
    /// Always `status`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The node.
    pub node_id: NodeId,
    /// Its new status.
    pub status: NodeStatus,
}

impl StatusFlip {
    /// A flip of `node_id` to `status`.
    pub fn new(node_id: NodeId, status: NodeStatus) -> Self {
        Self {
            kind: "status",
            node_id,
            status,
        }
    }

    /// Publishes the flip on `nodes:{id}` and `nodes:all` (a failure is logged: the next
    /// presence round or page load shows the status anyway).
    pub async fn publish(&self, funnel: &Funnel) {
        for channel in [format!("nodes:{}", self.node_id), NODES_ALL.to_owned()] {
            if let Err(e) = funnel.publish(&channel, self).await {
                tracing::warn!(error = %e, "status flip not published");
            }
        }
    }
}

/// Why a sync round failed.
#[derive(Debug, thiserror::Error)]
pub enum PresenceError {
    /// The roster could not be read.
    #[error("presence source: {0}")]
    Source(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One sync round; returns the flips it made.
///
/// A node that heartbeat at or after `heard_since` stays online even when the roster misses
/// it (heartbeats are authoritative and flip it online themselves; this keeps the two from
/// flapping while its beacon connection comes up). With `fence` (the presence leader's), a
/// flip is refused once a newer leader wrote, and the round stops there.
pub async fn sync_presence(
    store: &dyn Store,
    source: &dyn PresenceSource,
    funnel: &Funnel,
    heard_since: UnixMillis,
    fence: Option<&LeaderFence>,
) -> Result<Vec<StatusFlip>, PresenceError> {
    let online = source.online().await.map_err(PresenceError::Source)?;
    let mut flips = Vec::new();
    for node in store.list_nodes(None).await? {
        let heard = node.last_seen_at.is_some_and(|t| t >= heard_since);
        let want = if online.contains(&node.id) {
            NodeStatus::Online
        } else if heard {
            continue;
        } else if node.status == NodeStatus::Online {
            NodeStatus::Offline
        } else {
            // Pending stays pending until first seen; offline stays offline.
            continue;
        };
        let flipped = match fence {
            Some(fence) => store.set_node_status_fenced(node.id, want, fence).await?,
            None => store.set_node_status(node.id, want).await?,
        };
        if flipped {
            flips.push(StatusFlip::new(node.id, want));
        }
    }
    for flip in &flips {
        flip.publish(funnel).await;
    }
    Ok(flips)
}

/// The presence cron and everything it needs.
pub struct PresenceCron {
    /// Node statuses.
    pub store: Arc<dyn Store>,
    /// Leader lock.
    pub coordinator: Arc<dyn Coordinator>,
    /// The roster.
    pub source: Arc<dyn PresenceSource>,
    /// Where flips are published.
    pub funnel: Funnel,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// This sentinel's leader-election identity.
    pub holder: String,
    /// Round interval ([`PRESENCE_INTERVAL`] by default).
    pub interval: Duration,
    /// Optional webhook told about every round's flips.
    pub webhook: Option<super::webhook::Webhook>,
}

impl PresenceCron {
    /// Runs under the `presence` leader lock until `shutdown` turns true.
    pub async fn run(mut self, shutdown: watch::Receiver<bool>) {
        let lead = LeaderLoop {
            coordinator: self.coordinator.clone(),
            clock: self.clock.clone(),
            lock: "presence",
            holder: self.holder.clone(),
            interval: self.interval,
            lock_ttl: self.interval * 3,
        };
        lead.run(&mut self, shutdown).await;
    }
}

#[async_trait]
impl LeaderRound for PresenceCron {
    async fn round(&mut self, fence: &LeaderFence, now: UnixMillis) -> Result<(), StoreError> {
        // Within one round of a heartbeat (they come every 10 s by default).
        let heard_since = UnixMillis(now.0.saturating_sub(self.interval.as_millis() as u64));
        match sync_presence(
            &*self.store,
            &*self.source,
            &self.funnel,
            heard_since,
            Some(fence),
        )
        .await
        {
            Ok(flips) if !flips.is_empty() => {
                tracing::info!(flips = flips.len(), "node presence changed");
                if let Some(hook) = &self.webhook {
                    hook.notify(&flips).await;
                }
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(PresenceError::Store(e @ StoreError::StaleLeader { .. })) => Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "presence sync failed");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use parking_lot::Mutex;

    use super::*;
    use crate::publish::RecordingPublisher;
    use crate::store::{NewNode, SqliteStore};

    struct Roster(Mutex<Result<HashSet<NodeId>, String>>);

    #[async_trait]
    impl PresenceSource for Roster {
        async fn online(&self) -> Result<HashSet<NodeId>, String> {
            self.0.lock().clone()
        }
    }

    async fn node(store: &SqliteStore, key: &str) -> NodeId {
        store
            .insert_node(
                NewNode {
                    id: NodeId::new(),
                    owner: None,
                    public_key: key.into(),
                    name: key.into(),
                    claim_code: None,
                    max_parallel: 1,
                    cores: 1,
                    version: String::new(),
                },
                UnixMillis(1),
            )
            .await
            .unwrap()
            .id
    }

    #[tokio::test]
    async fn flips_are_stored_and_published_once() {
        let store = SqliteStore::memory().await.unwrap();
        let a = node(&store, "a").await;
        let b = node(&store, "b").await;
        let published = Arc::new(RecordingPublisher::default());
        let funnel = Funnel::new(published.clone());
        let roster = Roster(Mutex::new(Ok([a, b].into())));
        let flips = sync_presence(&store, &roster, &funnel, UnixMillis(0), None)
            .await
            .unwrap();
        assert_eq!(flips.len(), 2);
        assert_eq!(published.sent().len(), 4);
        // Nothing changed: nothing published.
        assert!(sync_presence(&store, &roster, &funnel, UnixMillis(0), None)
            .await
            .unwrap()
            .is_empty());
        *roster.0.lock() = Ok([a].into());
        let flips = sync_presence(&store, &roster, &funnel, UnixMillis(0), None)
            .await
            .unwrap();
        assert_eq!(
            flips,
            [StatusFlip {
                kind: "status",
                node_id: b,
                status: NodeStatus::Offline
            }]
        );
        let sent = published.sent();
        assert_eq!(sent[4].0, format!("nodes:{b}"));
        assert_eq!(sent[5].0, "nodes:all");
        let msg: serde_json::Value = serde_json::from_slice(&sent[4].1).unwrap();
        assert_eq!(msg["status"], "offline");
        assert_eq!(
            store.node_by_id(b).await.unwrap().unwrap().status,
            NodeStatus::Offline
        );
        // A failing roster changes nothing.
        *roster.0.lock() = Err("beacon down".into());
        assert!(sync_presence(&store, &roster, &funnel, UnixMillis(0), None)
            .await
            .is_err());
        assert_eq!(
            store.node_by_id(a).await.unwrap().unwrap().status,
            NodeStatus::Online
        );
    }
}
