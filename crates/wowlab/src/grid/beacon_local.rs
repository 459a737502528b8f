//! The sentinel's publish funnel and presence cron talking to an in-process beacon (no HTTP).

use std::collections::HashSet;

use async_trait::async_trait;
use bytes::Bytes;
use wowlab_beacon::Beacon;
use wowlab_sentinel::domain::NodeId;
use wowlab_sentinel::publish::{PublishError, Publisher};
use wowlab_sentinel::tasks::presence::PresenceSource;

/// Publishes through beacon's in-process API.
pub struct BeaconPublisher(Beacon);

impl BeaconPublisher {
    /// A publisher for `beacon`.
    pub fn new(beacon: Beacon) -> Self {
        Self(beacon)
    }
}

#[async_trait]
impl Publisher for BeaconPublisher {
    async fn publish(&self, channel: &str, data: Bytes) -> Result<(), PublishError> {
        match self.0.publish(channel, data).await {
            Ok(_) => Ok(()),
            // 100 internal: may pass; everything else (unknown channel, bad request) will not.
            Err(e) if e.code == 100 => Err(PublishError::Temporary(e.message)),
            Err(e) => Err(PublishError::Permanent(format!(
                "{} ({})",
                e.message, e.code
            ))),
        }
    }
}

/// Reads the `nodes:online` roster from the in-process beacon.
pub struct BeaconPresence(Beacon);

impl BeaconPresence {
    /// A presence source for `beacon`.
    pub fn new(beacon: Beacon) -> Self {
        Self(beacon)
    }
}

#[async_trait]
impl PresenceSource for BeaconPresence {
    async fn online(&self) -> Result<HashSet<NodeId>, String> {
        let roster = self
            .0
            .presence(wowlab_api::channels::NODES_ONLINE)
            .await
            .map_err(|e| format!("{} ({})", e.message, e.code))?;
        // Node connections carry the node id as their user; anything else is ignored.
        Ok(roster
            .values()
            .filter_map(|c| c.user.parse().ok())
            .collect())
    }
}
