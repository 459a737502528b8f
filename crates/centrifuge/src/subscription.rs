//! The client-side `Subscription` handle.

use crate::actor::{Op, SubShared};
use crate::client::{Client, HistoryOptions};
use crate::event::{SubscriptionEvent, SubscriptionState};
use crate::Error;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use wowlab_protocol::proto::{HistoryResult, PresenceResult, PresenceStatsResult};

/// A client-side subscription to one channel. Cheap to clone.
#[derive(Clone)]
pub struct Subscription {
    client: Client,
    channel: Arc<str>,
    shared: Arc<SubShared>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("channel", &self.channel)
            .field("state", &self.state())
            .finish()
    }
}

impl Subscription {
    pub(crate) fn new(client: Client, channel: String, shared: Arc<SubShared>) -> Self {
        Subscription {
            client,
            channel: channel.into(),
            shared,
        }
    }

    /// Channel name.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// Current state.
    pub fn state(&self) -> SubscriptionState {
        *self.shared.state.borrow()
    }

    /// Subscribes to this subscription's events (earlier events are not seen).
    pub fn events(&self) -> broadcast::Receiver<SubscriptionEvent> {
        self.shared.events.subscribe()
    }

    /// Starts subscribing (now, or as soon as the client connects; kept across reconnects).
    pub fn subscribe(&self) -> Result<(), Error> {
        self.shared.state.send_if_modified(|s| {
            if *s == SubscriptionState::Unsubscribed {
                *s = SubscriptionState::Subscribing;
                true
            } else {
                false
            }
        });
        self.client.op(Op::Subscribe {
            channel: self.channel.to_string(),
        })
    }

    /// Unsubscribes.
    pub fn unsubscribe(&self) -> Result<(), Error> {
        self.client.op(Op::Unsubscribe {
            channel: self.channel.to_string(),
        })
    }

    /// Waits until subscribed; fails if it ends up unsubscribed or `timeout` passes.
    pub async fn ready(&self, timeout: Duration) -> Result<(), Error> {
        let mut rx: watch::Receiver<SubscriptionState> = self.shared.state.subscribe();
        let wait = async {
            loop {
                match *rx.borrow_and_update() {
                    SubscriptionState::Subscribed => return Ok(()),
                    SubscriptionState::Unsubscribed => {
                        return Err(Error::SubscriptionRemoved(self.channel.to_string()))
                    }
                    SubscriptionState::Subscribing => {}
                }
                if rx.changed().await.is_err() {
                    return Err(Error::ClientClosed);
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| Error::Timeout)?
    }

    /// Publishes into this channel.
    pub async fn publish(&self, data: impl Into<Bytes>) -> Result<(), Error> {
        self.client.publish(&self.channel, data).await
    }

    /// Presence of this channel.
    pub async fn presence(&self) -> Result<PresenceResult, Error> {
        self.client.presence(&self.channel).await
    }

    /// Presence counters of this channel.
    pub async fn presence_stats(&self) -> Result<PresenceStatsResult, Error> {
        self.client.presence_stats(&self.channel).await
    }

    /// History of this channel.
    pub async fn history(&self, opts: HistoryOptions) -> Result<HistoryResult, Error> {
        self.client.history(&self.channel, opts).await
    }
}
