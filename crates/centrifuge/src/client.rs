//! The `Client` handle and its calls.

use crate::actor::{Actor, ClientShared, Op, SubShared};
use crate::config::{ClientConfig, SubscriptionConfig};
use crate::event::{ClientEvent, State, SubscriptionState};
use crate::subscription::Subscription;
use crate::Error;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use wowlab_protocol::proto::{
    Command, HistoryRequest, HistoryResult, PresenceRequest, PresenceResult, PresenceStatsRequest,
    PresenceStatsResult, PublishRequest, Reply, RpcRequest, SendRequest, StreamPosition,
};

/// Options of a history call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryOptions {
    /// Max publications (0 → only the stream position, -1 → server maximum).
    pub limit: i32,
    /// Publications after (or, with `reverse`, before) this position.
    pub since: Option<StreamPosition>,
    /// Newest first.
    pub reverse: bool,
}

/// A realtime client. Cheap to clone; the connection lives in a background task that stops
/// when every `Client` and [`Subscription`] handle is dropped.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    ops: mpsc::UnboundedSender<Op>,
    shared: Arc<ClientShared>,
    timeout: Duration,
    event_capacity: usize,
    subs: Mutex<HashMap<String, Arc<SubShared>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Creates a disconnected client; call [`Client::connect`]. Must run inside a tokio runtime.
    pub fn new(cfg: ClientConfig) -> Client {
        let (ops, rx) = mpsc::unbounded_channel();
        let (state, _) = watch::channel(State::Disconnected);
        let (events, _) = broadcast::channel(cfg.event_capacity);
        let shared = Arc::new(ClientShared { state, events });
        let inner = Arc::new(Inner {
            ops,
            shared: shared.clone(),
            timeout: cfg.timeout,
            event_capacity: cfg.event_capacity,
            subs: Mutex::new(HashMap::new()),
        });
        tokio::spawn(Actor::new(cfg, rx, shared).run());
        Client { inner }
    }

    /// Starts connecting (and reconnecting until a terminal condition or `disconnect`).
    pub fn connect(&self) {
        // Reflect the intent at once so `ready()` right after `connect()` waits.
        self.inner.shared.state.send_if_modified(|s| {
            if *s == State::Disconnected {
                *s = State::Connecting;
                true
            } else {
                false
            }
        });
        let _ = self.inner.ops.send(Op::Connect);
    }

    /// Disconnects and stops reconnecting; pending calls fail.
    pub async fn disconnect(&self) {
        let (done, rx) = oneshot::channel();
        if self.inner.ops.send(Op::Disconnect { done }).is_ok() {
            let _ = rx.await;
        }
    }

    /// Current state.
    pub fn state(&self) -> State {
        *self.inner.shared.state.borrow()
    }

    /// Subscribes to client events (events sent before this call are not seen).
    pub fn events(&self) -> broadcast::Receiver<ClientEvent> {
        self.inner.shared.events.subscribe()
    }

    /// Watches the state.
    pub fn state_watch(&self) -> watch::Receiver<State> {
        self.inner.shared.state.subscribe()
    }

    /// Waits until connected; fails if the client ends up disconnected or `timeout` passes.
    pub async fn ready(&self, timeout: Duration) -> Result<(), Error> {
        let mut rx = self.state_watch();
        let wait = async {
            loop {
                match *rx.borrow_and_update() {
                    State::Connected => return Ok(()),
                    State::Disconnected => return Err(Error::Disconnected),
                    State::Connecting => {}
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

    /// Registers a client-side subscription (not subscribed yet: call `subscribe()`).
    pub fn new_subscription(
        &self,
        channel: impl Into<String>,
        cfg: SubscriptionConfig,
    ) -> Result<Subscription, Error> {
        let channel = channel.into();
        let mut subs = self.inner.subs.lock().unwrap_or_else(|p| p.into_inner());
        if subs.contains_key(&channel) {
            return Err(Error::DuplicateSubscription(channel));
        }
        let (state, _) = watch::channel(SubscriptionState::Unsubscribed);
        let (events, _) = broadcast::channel(self.inner.event_capacity);
        let shared = Arc::new(SubShared { state, events });
        subs.insert(channel.clone(), shared.clone());
        drop(subs);
        self.op(Op::AddSub {
            channel: channel.clone(),
            cfg,
            shared: shared.clone(),
        })?;
        Ok(Subscription::new(self.clone(), channel, shared))
    }

    /// The registered subscription to `channel`, if any.
    pub fn subscription(&self, channel: &str) -> Option<Subscription> {
        let subs = self.inner.subs.lock().unwrap_or_else(|p| p.into_inner());
        subs.get(channel)
            .map(|sh| Subscription::new(self.clone(), channel.to_owned(), sh.clone()))
    }

    /// Unsubscribes and forgets a subscription.
    pub fn remove_subscription(&self, sub: &Subscription) {
        let mut subs = self.inner.subs.lock().unwrap_or_else(|p| p.into_inner());
        subs.remove(sub.channel());
        drop(subs);
        let _ = self.op(Op::RemoveSub {
            channel: sub.channel().to_owned(),
        });
    }

    pub(crate) fn op(&self, op: Op) -> Result<(), Error> {
        self.inner.ops.send(op).map_err(|_| Error::ClientClosed)
    }

    /// Sends a command and waits for its reply (buffered while connecting), with the timeout.
    async fn call(&self, cmd: Command) -> Result<Reply, Error> {
        let (tx, rx) = oneshot::channel();
        self.op(Op::Call { cmd, tx })?;
        let reply = match tokio::time::timeout(self.inner.timeout, rx).await {
            Err(_) => return Err(Error::Timeout),
            Ok(Err(_)) => return Err(Error::ClientClosed),
            Ok(Ok(r)) => r?,
        };
        match &reply.error {
            Some(e) => Err(Error::from_proto(e)),
            None => Ok(reply),
        }
    }

    /// Publishes `data` into `channel`.
    pub async fn publish(&self, channel: &str, data: impl Into<Bytes>) -> Result<(), Error> {
        let req = PublishRequest {
            channel: channel.to_owned(),
            data: data.into(),
        };
        let r = self
            .call(Command {
                publish: Some(req),
                ..Default::default()
            })
            .await?;
        r.publish
            .map(|_| ())
            .ok_or(Error::UnexpectedReply("publish result"))
    }

    /// Presence of `channel` (client id → info).
    pub async fn presence(&self, channel: &str) -> Result<PresenceResult, Error> {
        let req = PresenceRequest {
            channel: channel.to_owned(),
        };
        let r = self
            .call(Command {
                presence: Some(req),
                ..Default::default()
            })
            .await?;
        r.presence.ok_or(Error::UnexpectedReply("presence result"))
    }

    /// Presence counters of `channel`.
    pub async fn presence_stats(&self, channel: &str) -> Result<PresenceStatsResult, Error> {
        let req = PresenceStatsRequest {
            channel: channel.to_owned(),
        };
        let r = self
            .call(Command {
                presence_stats: Some(req),
                ..Default::default()
            })
            .await?;
        r.presence_stats
            .ok_or(Error::UnexpectedReply("presence_stats result"))
    }

    /// History of `channel`.
    pub async fn history(
        &self,
        channel: &str,
        opts: HistoryOptions,
    ) -> Result<HistoryResult, Error> {
        let req = HistoryRequest {
            channel: channel.to_owned(),
            limit: opts.limit,
            since: opts.since,
            reverse: opts.reverse,
        };
        let r = self
            .call(Command {
                history: Some(req),
                ..Default::default()
            })
            .await?;
        r.history.ok_or(Error::UnexpectedReply("history result"))
    }

    /// Calls server RPC `method` with `data`; returns the result data.
    pub async fn rpc(&self, method: &str, data: impl Into<Bytes>) -> Result<Bytes, Error> {
        let req = RpcRequest {
            method: method.to_owned(),
            data: data.into(),
        };
        let r = self
            .call(Command {
                rpc: Some(req),
                ..Default::default()
            })
            .await?;
        r.rpc
            .map(|r| r.data)
            .ok_or(Error::UnexpectedReply("rpc result"))
    }

    /// Sends an asynchronous message to the server (no reply); waits only until it is
    /// written to the outgoing frame (buffered while connecting, with the timeout).
    pub async fn send(&self, data: impl Into<Bytes>) -> Result<(), Error> {
        let (tx, rx) = oneshot::channel();
        let cmd = Command {
            send: Some(SendRequest { data: data.into() }),
            ..Default::default()
        };
        self.op(Op::Send { cmd, tx })?;
        match tokio::time::timeout(self.inner.timeout, rx).await {
            Err(_) => Err(Error::Timeout),
            Ok(Err(_)) => Err(Error::ClientClosed),
            Ok(Ok(r)) => r,
        }
    }
}
