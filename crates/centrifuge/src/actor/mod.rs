//! The background task owning the connection: state machine, reconnects, subscriptions.
//!
//! Handles talk to it through [`Op`]s; it reports through watch channels (state) and
//! broadcast channels (events). Token callbacks run in spawned tasks and report back
//! through [`Internal`] so the session keeps reading frames (and answering pings) meanwhile.

mod session;
mod subs;

use crate::backoff;
use crate::codes;
use crate::config::{ClientConfig, SubscriptionConfig, TokenError};
use crate::event::{ClientEvent, State, SubscriptionEvent, SubscriptionState};
use crate::Error;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;
use wowlab_protocol::proto::{Command, Reply};

/// Shared client state read by handles.
pub(crate) struct ClientShared {
    pub state: watch::Sender<State>,
    pub events: broadcast::Sender<ClientEvent>,
}

/// Shared subscription state read by handles.
pub(crate) struct SubShared {
    pub state: watch::Sender<SubscriptionState>,
    pub events: broadcast::Sender<SubscriptionEvent>,
}

/// Requests from handles.
pub(crate) enum Op {
    Connect,
    Disconnect {
        done: oneshot::Sender<()>,
    },
    Call {
        cmd: Command,
        tx: oneshot::Sender<Result<Reply, Error>>,
    },
    Send {
        cmd: Command,
        tx: oneshot::Sender<Result<(), Error>>,
    },
    AddSub {
        channel: String,
        cfg: SubscriptionConfig,
        shared: Arc<SubShared>,
    },
    Subscribe {
        channel: String,
    },
    Unsubscribe {
        channel: String,
    },
    RemoveSub {
        channel: String,
    },
}

/// Results of token callbacks run in spawned tasks.
pub(crate) enum Internal {
    ConnToken(Result<String, TokenError>),
    SubToken {
        channel: String,
        res: Result<String, TokenError>,
    },
}

/// How a session (or connect attempt) ended.
pub(crate) enum End {
    Reconnect {
        code: u32,
        reason: String,
    },
    Terminal {
        code: u32,
        reason: String,
    },
    /// `disconnect()` was called; state already set.
    UserDisconnect,
    /// Every handle is gone.
    Dropped,
}

/// A call waiting for the connection.
enum Queued {
    Call(Command, oneshot::Sender<Result<Reply, Error>>),
    Send(Command, oneshot::Sender<Result<(), Error>>),
}

/// Client-side subscription as the actor sees it.
pub(crate) struct Sub {
    pub cfg: SubscriptionConfig,
    pub shared: Arc<SubShared>,
    pub state: SubscriptionState,
    pub token: Option<String>,
    /// Stream position for recovery (valid when `has_position`).
    pub epoch: String,
    pub offset: u64,
    pub has_position: bool,
    pub attempt: u32,
    /// A token fetch is running for this subscription.
    pub token_pending: bool,
    /// Id of the in-flight subscribe command.
    pub inflight: Option<u32>,
}

/// Server-side subscription (from the token's channels), tracked for recovery.
pub(crate) struct ServerSub {
    pub recoverable: bool,
    pub epoch: String,
    pub offset: u64,
}

pub(crate) struct Actor {
    cfg: ClientConfig,
    ops: mpsc::UnboundedReceiver<Op>,
    internal_tx: mpsc::UnboundedSender<Internal>,
    internal_rx: mpsc::UnboundedReceiver<Internal>,
    shared: Arc<ClientShared>,
    state: State,
    token: Option<String>,
    /// The server said the token expired: fetch a new one before connecting.
    refresh_required: bool,
    attempt: u32,
    next_delay: Option<Duration>,
    next_id: u32,
    queued: Vec<Queued>,
    subs: HashMap<String, Sub>,
    server_subs: HashMap<String, ServerSub>,
}

impl Actor {
    pub(crate) fn new(
        cfg: ClientConfig,
        ops: mpsc::UnboundedReceiver<Op>,
        shared: Arc<ClientShared>,
    ) -> Self {
        let (internal_tx, internal_rx) = mpsc::unbounded_channel();
        Actor {
            token: cfg.token.clone(),
            cfg,
            ops,
            internal_tx,
            internal_rx,
            shared,
            state: State::Disconnected,
            refresh_required: false,
            attempt: 0,
            next_delay: None,
            next_id: 0,
            queued: Vec::new(),
            subs: HashMap::new(),
            server_subs: HashMap::new(),
        }
    }

    pub(crate) async fn run(mut self) {
        loop {
            if self.state != State::Connecting {
                match self.ops.recv().await {
                    None => return,
                    Some(op) => self.on_op_offline(op),
                }
                continue;
            }
            if let Some(delay) = self.next_delay.take() {
                let deadline = Instant::now() + delay;
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep_until(deadline) => break,
                        op = self.ops.recv() => match op {
                            None => return,
                            Some(op) => {
                                self.on_op_offline(op);
                                if self.state != State::Connecting {
                                    break;
                                }
                            }
                        },
                    }
                }
                if self.state != State::Connecting {
                    continue;
                }
            }
            let started = Instant::now();
            let end = match self.open().await {
                Ok(s) => self.session(s).await,
                Err(end) => end,
            };
            if matches!(end, End::Dropped) {
                return;
            }
            self.after_session(end, started.elapsed());
        }
    }

    fn next_id(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.next_id
    }

    fn emit(&self, ev: ClientEvent) {
        let _ = self.shared.events.send(ev);
    }

    fn set_state(&mut self, st: State) {
        self.state = st;
        self.shared.state.send_replace(st);
    }

    /// Handles an op while no session is running (disconnected, waiting to reconnect).
    fn on_op_offline(&mut self, op: Op) {
        match op {
            Op::Connect => {
                if self.state == State::Disconnected {
                    self.attempt = 0;
                    self.next_delay = None;
                    self.set_state(State::Connecting);
                    self.emit(ClientEvent::Connecting {
                        code: codes::connecting::CONNECT_CALLED,
                        reason: "connect called".into(),
                    });
                }
            }
            Op::Disconnect { done } => {
                self.disconnect_locally();
                let _ = done.send(());
            }
            Op::Call { cmd, tx } => {
                if self.state == State::Disconnected {
                    let _ = tx.send(Err(Error::Disconnected));
                } else {
                    self.queued.push(Queued::Call(cmd, tx));
                }
            }
            Op::Send { cmd, tx } => {
                if self.state == State::Disconnected {
                    let _ = tx.send(Err(Error::Disconnected));
                } else {
                    self.queued.push(Queued::Send(cmd, tx));
                }
            }
            Op::AddSub {
                channel,
                cfg,
                shared,
            } => self.add_sub(channel, cfg, shared),
            Op::Subscribe { channel } => {
                if let Some(sub) = self.subs.get_mut(&channel) {
                    if sub.state == SubscriptionState::Unsubscribed {
                        subs::set_sub_state(sub, SubscriptionState::Subscribing);
                        subs::emit_sub(
                            sub,
                            SubscriptionEvent::Subscribing {
                                code: codes::subscription::SUBSCRIBE_CALLED,
                                reason: "subscribe called".into(),
                            },
                        );
                    }
                }
            }
            Op::Unsubscribe { channel } => {
                if let Some(sub) = self.subs.get_mut(&channel) {
                    subs::mark_unsubscribed(
                        sub,
                        codes::subscription::UNSUBSCRIBE_CALLED,
                        "unsubscribe called",
                    );
                }
            }
            Op::RemoveSub { channel } => {
                if let Some(mut sub) = self.subs.remove(&channel) {
                    subs::mark_unsubscribed(
                        &mut sub,
                        codes::subscription::UNSUBSCRIBE_CALLED,
                        "subscription removed",
                    );
                }
            }
        }
    }

    fn add_sub(&mut self, channel: String, cfg: SubscriptionConfig, shared: Arc<SubShared>) {
        let (has_position, epoch, offset) = match &cfg.since {
            Some(p) => (true, p.epoch.clone(), p.offset),
            None => (false, String::new(), 0),
        };
        let sub = Sub {
            token: cfg.token.clone(),
            cfg,
            shared,
            state: SubscriptionState::Unsubscribed,
            epoch,
            offset,
            has_position,
            attempt: 0,
            token_pending: false,
            inflight: None,
        };
        self.subs.insert(channel, sub);
    }

    /// `disconnect()`: stop for good, fail queued calls; subscriptions wait for connect().
    fn disconnect_locally(&mut self) {
        if self.state != State::Disconnected {
            self.set_state(State::Disconnected);
            self.emit(ClientEvent::Disconnected {
                code: codes::disconnected::DISCONNECT_CALLED,
                reason: "disconnect called".into(),
            });
        }
        self.next_delay = None;
        self.fail_queued(Error::Disconnected);
    }

    fn fail_queued(&mut self, err: Error) {
        for q in self.queued.drain(..) {
            match q {
                Queued::Call(_, tx) => {
                    let _ = tx.send(Err(err.clone()));
                }
                Queued::Send(_, tx) => {
                    let _ = tx.send(Err(err.clone()));
                }
            }
        }
    }

    /// Bookkeeping after a session ended: subscriptions back to subscribing, backoff, events.
    fn after_session(&mut self, end: End, lived: Duration) {
        if lived >= self.cfg.stable_after {
            self.attempt = 0;
        }
        for sub in self.subs.values_mut() {
            sub.inflight = None;
            sub.token_pending = false;
            if sub.state == SubscriptionState::Subscribed {
                subs::set_sub_state(sub, SubscriptionState::Subscribing);
                subs::emit_sub(
                    sub,
                    SubscriptionEvent::Subscribing {
                        code: codes::subscription::TRANSPORT_CLOSED,
                        reason: "transport closed".into(),
                    },
                );
            }
        }
        match end {
            End::Reconnect { code, reason } => {
                if code == wowlab_protocol::codes::disconnect::STATE_INVALIDATED {
                    self.invalidate_state();
                }
                for channel in self.server_subs.keys() {
                    let _ = self.shared.events.send(ClientEvent::Subscribing {
                        channel: channel.clone(),
                    });
                }
                let delay = backoff::delay(
                    self.attempt,
                    self.cfg.min_reconnect_delay,
                    self.cfg.max_reconnect_delay,
                );
                self.attempt = self.attempt.saturating_add(1);
                self.next_delay = Some(delay);
                tracing::debug!(code, %reason, ?delay, "reconnecting");
                self.set_state(State::Connecting);
                self.emit(ClientEvent::Connecting { code, reason });
            }
            End::Terminal { code, reason } => {
                tracing::debug!(code, %reason, "disconnected");
                self.next_delay = None;
                self.set_state(State::Disconnected);
                self.emit(ClientEvent::Disconnected { code, reason });
                self.fail_queued(Error::Disconnected);
            }
            End::UserDisconnect | End::Dropped => {}
        }
    }

    /// Disconnect 3014: forget the connection token and every stream position.
    fn invalidate_state(&mut self) {
        if self.cfg.get_token.is_some() {
            self.token = None;
        }
        for sub in self.subs.values_mut() {
            sub.has_position = false;
            sub.epoch.clear();
            sub.offset = 0;
            if sub.cfg.get_token.is_some() {
                sub.token = None;
            }
        }
        self.server_subs.clear();
    }

    /// Runs a token callback in its own task; the result comes back as [`Internal`].
    fn spawn_conn_token(&self) -> bool {
        let Some(get) = self.cfg.get_token.clone() else {
            return false;
        };
        let tx = self.internal_tx.clone();
        tokio::spawn(async move {
            let _ = tx.send(Internal::ConnToken(get().await));
        });
        true
    }
}
