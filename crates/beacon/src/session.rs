//! The per-connection state machine: command dispatch, timers (stale, ping/pong, expiry,
//! presence refresh) and cleanup. Transport-agnostic: transports feed frames in and drain the
//! connection queue (see `transport`).

use crate::cmd;
use crate::conn::{ConnShared, Control};
use crate::engine::ClientInfo;
use crate::hub::Subscriber;
use crate::limits::ConnSlot;
use crate::node::Node;
use bytes::Bytes;
use rand::Rng;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::time::Instant;
use wowlab_protocol::codec::{decode_commands, encode_reply, Protocol};
use wowlab_protocol::codes::{disconnect, error};
use wowlab_protocol::proto::{self, Command, Reply};

/// A disconnect decision: WS close code (or disconnect push) with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Disconnect {
    pub code: u32,
    pub reason: String,
}

impl Disconnect {
    /// Disconnect with the standard reason for `code`.
    pub(crate) fn code(code: u32) -> Self {
        Disconnect {
            code,
            reason: disconnect::reason(code).to_string(),
        }
    }
}

/// How a command failed: an error reply, or closing the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CmdError {
    Error(u32),
    Disconnect(u32),
}

/// Result of a command handler: a reply to send, or None when the handler queued it itself.
pub(crate) type CmdResult = Result<Option<Reply>, CmdError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Initial,
    Connected,
    /// Connect answered with an error; only closing is left.
    Failed,
}

/// One subscription held by the session.
pub(crate) struct SubState {
    pub server_side: bool,
    pub chan_info: Option<Bytes>,
    /// Unix seconds; None: never expires.
    pub expire_at: Option<i64>,
    pub presence: bool,
    pub emit_join_leave: bool,
}

/// Connection state owned by the connection's task.
pub(crate) struct Session {
    pub node: Arc<Node>,
    pub conn: Arc<ConnShared>,
    /// HTTP-streaming / SSE: connect result carries session+node, disconnects are pushes.
    pub emulation: bool,
    pub state: State,
    pub user: String,
    pub conn_info: Option<Bytes>,
    /// Unix seconds; None: never expires.
    pub expire_at: Option<i64>,
    pub subs: HashMap<String, SubState>,
    created: Instant,
    next_ping: Option<Instant>,
    pong_deadline: Option<Instant>,
    next_presence: Option<Instant>,
    /// Set when something that affects `next_deadline` changed.
    deadline_changed: bool,
    /// This connection's `client.connection_limit` slot, freed when the session is dropped.
    _slot: ConnSlot,
}

/// Time until a Unix timestamp, capped so deadline arithmetic cannot overflow.
fn secs_from_now(unix: i64) -> std::time::Duration {
    let d = unix.saturating_sub(crate::auth::now_unix());
    std::time::Duration::from_secs(d.clamp(0, MAX_WAIT_SECS as i64) as u64)
}

/// Upper bound of any timer (10 years): longer config values or claims mean "never".
const MAX_WAIT_SECS: u64 = 10 * 365 * 24 * 3600;

/// Seconds until a Unix timestamp for a `ttl` field (0 if past, capped at u32::MAX).
pub(crate) fn ttl_secs(unix: i64) -> u32 {
    unix.saturating_sub(crate::auth::now_unix())
        .clamp(0, u32::MAX as i64) as u32
}

/// `t + d` without overflow panics.
pub(crate) fn later(t: Instant, d: std::time::Duration) -> Instant {
    t + d.min(std::time::Duration::from_secs(MAX_WAIT_SECS))
}

impl Session {
    pub(crate) fn new(
        node: Arc<Node>,
        conn: Arc<ConnShared>,
        emulation: bool,
        slot: ConnSlot,
    ) -> Self {
        node.track(&conn);
        Session {
            node,
            conn,
            emulation,
            state: State::Initial,
            user: String::new(),
            conn_info: None,
            expire_at: None,
            subs: HashMap::new(),
            created: Instant::now(),
            next_ping: None,
            pong_deadline: None,
            next_presence: None,
            deadline_changed: true,
            _slot: slot,
        }
    }

    /// Marks the timer deadline for re-evaluation.
    pub(crate) fn mark_deadline_changed(&mut self) {
        self.deadline_changed = true;
    }

    /// Returns and clears the "deadline changed" mark.
    pub(crate) fn take_deadline_changed(&mut self) -> bool {
        std::mem::take(&mut self.deadline_changed)
    }

    /// Wire flavour.
    pub(crate) fn protocol(&self) -> Protocol {
        self.conn.protocol
    }

    /// ClientInfo of this connection for a channel.
    pub(crate) fn client_info(&self, chan_info: Option<Bytes>) -> ClientInfo {
        ClientInfo {
            user: self.user.clone(),
            client: self.conn.client.clone(),
            conn_info: self.conn_info.clone(),
            chan_info,
        }
    }

    /// Encodes and queues a reply; JSON clients that cannot carry the payload get 3506.
    pub(crate) fn send_reply(&self, reply: &Reply) -> Result<(), Disconnect> {
        let bytes = self.encode(reply)?;
        self.conn.push(bytes);
        Ok(())
    }

    /// Encodes a reply for this connection.
    pub(crate) fn encode(&self, reply: &Reply) -> Result<Bytes, Disconnect> {
        encode_reply(self.protocol(), reply)
            .map_err(|_| Disconnect::code(disconnect::INAPPROPRIATE_PROTOCOL))
    }

    /// Called once the connect command succeeded.
    pub(crate) fn on_connected(&mut self) {
        self.state = State::Connected;
        let interval = self.node.config.client.ping_interval.get();
        // First ping at a random point in [interval/2, interval) to spread load.
        let half = interval / 2;
        let jitter = if half.is_zero() {
            half
        } else {
            rand::rng().random_range(std::time::Duration::ZERO..half)
        };
        self.next_ping = Some(later(Instant::now(), half + jitter));
        self.next_presence = Some(later(
            Instant::now(),
            self.node.config.client.presence_update_interval.get(),
        ));
    }

    /// Handles one incoming frame (1..N commands), processed in order.
    pub(crate) async fn handle_frame(&mut self, frame: &[u8]) -> Result<(), Disconnect> {
        self.deadline_changed = true;
        let commands = decode_commands(self.protocol(), frame).map_err(|e| {
            tracing::debug!(client = %self.conn.client, error = %e, "malformed frame");
            Disconnect::code(disconnect::BAD_REQUEST)
        })?;
        if commands.is_empty() {
            return Err(Disconnect::code(disconnect::BAD_REQUEST));
        }
        for c in commands {
            self.handle_command(c).await?;
        }
        Ok(())
    }

    async fn handle_command(&mut self, c: Command) -> Result<(), Disconnect> {
        let id = c.id;
        if id == 0 {
            if let Some(r) = c.send {
                let code = cmd::send::handle(self, r);
                return Err(Disconnect::code(code));
            }
            if c.is_pong() && self.state == State::Connected && self.pong_deadline.is_some() {
                self.pong_deadline = None;
                return Ok(());
            }
            return Err(Disconnect::code(disconnect::BAD_REQUEST));
        }
        let is_connect = c.connect.is_some();
        match self.state {
            State::Initial if !is_connect => return Err(Disconnect::code(disconnect::BAD_REQUEST)),
            State::Connected if is_connect => {
                return Err(Disconnect::code(disconnect::BAD_REQUEST))
            }
            State::Failed => return Err(Disconnect::code(disconnect::BAD_REQUEST)),
            _ => {}
        }
        let (kind, result) = if let Some(r) = c.connect {
            ("connect", cmd::connect::handle(self, id, r).await)
        } else if let Some(r) = c.subscribe {
            ("subscribe", cmd::subscribe::handle(self, id, r).await)
        } else if let Some(r) = c.unsubscribe {
            ("unsubscribe", cmd::unsubscribe::handle(self, r).await)
        } else if let Some(r) = c.publish {
            ("publish", cmd::publish::handle(self, r).await)
        } else if let Some(r) = c.presence {
            ("presence", cmd::presence::handle(self, r).await)
        } else if let Some(r) = c.presence_stats {
            ("presence_stats", cmd::presence_stats::handle(self, r).await)
        } else if let Some(r) = c.history {
            ("history", cmd::history::handle(self, r).await)
        } else if let Some(r) = c.rpc {
            ("rpc", cmd::rpc::handle(self, r).await)
        } else if let Some(r) = c.refresh {
            ("refresh", cmd::refresh::handle(self, r).await)
        } else if let Some(r) = c.sub_refresh {
            ("sub_refresh", cmd::sub_refresh::handle(self, r).await)
        } else if let Some(r) = c.send {
            // `send` with an id is still a send.
            let code = cmd::send::handle(self, r);
            return Err(Disconnect::code(code));
        } else {
            // Legacy `ping` or no known request field.
            return Err(Disconnect::code(disconnect::BAD_REQUEST));
        };
        metrics::counter!("beacon_messages_received", "type" => kind).increment(1);
        match result {
            Ok(Some(mut reply)) => {
                reply.id = id;
                self.send_reply(&reply)
            }
            Ok(None) => Ok(()),
            Err(CmdError::Error(code)) => {
                if kind == "connect" {
                    self.state = State::Failed;
                }
                metrics::counter!("beacon_command_errors", "type" => kind).increment(1);
                self.send_reply(&Reply {
                    id,
                    error: Some(error::to_error(code)),
                    ..Default::default()
                })
            }
            Err(CmdError::Disconnect(code)) => Err(Disconnect::code(code)),
        }
    }

    /// Acts on a control request from outside the task.
    pub(crate) async fn handle_control(&mut self, c: Control) -> Result<(), Disconnect> {
        match c {
            Control::Disconnect(code, reason) => Err(Disconnect { code, reason }),
            Control::InsufficientState(channel) => {
                // A gap in the stream: the client must recover from its last position
                // (Centrifugo: resubscribe for client-side subs, reconnect for server-side).
                tracing::warn!(client = %self.conn.client, %channel, "gap in the stream: the client must recover (insufficient state)");
                match self.subs.get(&channel) {
                    None => Ok(()),
                    Some(s) if s.server_side => {
                        Err(Disconnect::code(disconnect::INSUFFICIENT_STATE))
                    }
                    Some(_) => {
                        self.unsubscribe_push(
                            channel,
                            wowlab_protocol::codes::unsubscribe::INSUFFICIENT_STATE,
                        )
                        .await
                    }
                }
            }
            Control::Unsubscribe(channel) => {
                self.unsubscribe_push(channel, wowlab_protocol::codes::unsubscribe::SERVER)
                    .await
            }
            Control::Subscribe(s) => cmd::subscribe::server_push_subscribe(self, *s).await,
            Control::Refresh {
                expired,
                expire_at,
                info,
            } => {
                if expired {
                    return Err(Disconnect::code(disconnect::CONNECTION_EXPIRED));
                }
                self.expire_at = expire_at;
                if info.is_some() {
                    self.conn_info = info;
                }
                Ok(())
            }
        }
    }

    /// Drops a subscription and tells the client with an Unsubscribe push of `code`.
    async fn unsubscribe_push(&mut self, channel: String, code: u32) -> Result<(), Disconnect> {
        if !self.subs.contains_key(&channel) {
            return Ok(());
        }
        self.remove_subscription(&channel).await;
        let push = proto::Push {
            channel,
            unsubscribe: Some(proto::Unsubscribe {
                code,
                reason: wowlab_protocol::codes::unsubscribe::reason(code).into(),
            }),
            ..Default::default()
        };
        self.send_reply(&Reply {
            push: Some(push),
            ..Default::default()
        })
    }

    /// The next instant a timer needs attention.
    pub(crate) fn next_deadline(&self) -> Instant {
        let cfg = &self.node.config.client;
        let far = Instant::now() + std::time::Duration::from_secs(3600);
        let mut d = far;
        if self.state != State::Connected {
            return later(self.created, cfg.stale_close_delay.get());
        }
        for t in [self.next_ping, self.pong_deadline, self.next_presence]
            .into_iter()
            .flatten()
        {
            d = d.min(t);
        }
        if let Some(exp) = self.expire_at {
            d = d.min(later(
                later(Instant::now(), secs_from_now(exp)),
                cfg.expired_close_delay.get(),
            ));
        }
        for s in self.subs.values() {
            if let Some(exp) = s.expire_at {
                d = d.min(later(
                    later(Instant::now(), secs_from_now(exp)),
                    cfg.expired_sub_close_delay.get(),
                ));
            }
        }
        d
    }

    /// Runs due timers.
    pub(crate) async fn on_timer(&mut self) -> Result<(), Disconnect> {
        let now = Instant::now();
        let cfg = self.node.config.client.clone();
        if self.state != State::Connected {
            if now >= later(self.created, cfg.stale_close_delay.get()) {
                return Err(Disconnect::code(disconnect::STALE));
            }
            return Ok(());
        }
        if self.pong_deadline.is_some_and(|t| now >= t) {
            return Err(Disconnect::code(disconnect::NO_PONG));
        }
        if self.next_ping.is_some_and(|t| now >= t) {
            // Ping = empty reply; pings go out on a fixed schedule, busy or not.
            self.send_reply(&Reply::default())?;
            if self.pong_deadline.is_none() {
                self.pong_deadline = Some(later(now, cfg.pong_timeout.get()));
            }
            self.next_ping = Some(later(now, cfg.ping_interval.get()));
        }
        let unix = crate::auth::now_unix();
        if let Some(exp) = self.expire_at {
            if unix
                >= exp.saturating_add(
                    cfg.expired_close_delay.get().as_secs().min(MAX_WAIT_SECS) as i64
                )
            {
                return Err(Disconnect::code(disconnect::CONNECTION_EXPIRED));
            }
        }
        let expired: Vec<(String, bool)> = self
            .subs
            .iter()
            .filter(|(_, s)| {
                s.expire_at.is_some_and(|e| {
                    unix >= e.saturating_add(
                        cfg.expired_sub_close_delay
                            .get()
                            .as_secs()
                            .min(MAX_WAIT_SECS) as i64,
                    )
                })
            })
            .map(|(c, s)| (c.clone(), s.server_side))
            .collect();
        for (channel, server_side) in expired {
            if server_side {
                return Err(Disconnect::code(disconnect::SUBSCRIPTION_EXPIRED));
            }
            self.remove_subscription(&channel).await;
            let code = wowlab_protocol::codes::unsubscribe::EXPIRED;
            let push = proto::Push {
                channel,
                unsubscribe: Some(proto::Unsubscribe {
                    code,
                    reason: wowlab_protocol::codes::unsubscribe::reason(code).into(),
                }),
                ..Default::default()
            };
            self.send_reply(&Reply {
                push: Some(push),
                ..Default::default()
            })?;
        }
        if self.next_presence.is_some_and(|t| now >= t) {
            self.next_presence = Some(later(now, cfg.presence_update_interval.get()));
            // One batch per connection: a single round trip for a distributed manager.
            let updates: Vec<(String, String, ClientInfo)> = self
                .subs
                .iter()
                .filter(|(_, s)| s.presence)
                .map(|(c, s)| {
                    (
                        c.clone(),
                        self.conn.client.clone(),
                        self.client_info(s.chan_info.clone()),
                    )
                })
                .collect();
            if let Err(e) = self.node.presence.add_presence_many(&updates).await {
                tracing::warn!(channels = updates.len(), error = %e, "presence refresh failed");
            }
        }
        Ok(())
    }

    /// Adds a subscriber to the hub (and the broker when it is the channel's first).
    pub(crate) async fn hub_add(
        &self,
        channel: &str,
        sub: Arc<Subscriber>,
    ) -> Result<(), CmdError> {
        let _g = self.node.sub_lock(channel).lock().await;
        if self.node.hub.add(channel, sub) {
            if let Err(e) = self.node.broker.subscribe(&[channel.to_string()]).await {
                self.node.hub.remove(channel, &self.conn.client);
                tracing::warn!(%channel, error = %e, "broker subscribe failed");
                return Err(CmdError::Error(error::INTERNAL));
            }
        }
        metrics::gauge!("beacon_subscriptions").increment(1.0);
        Ok(())
    }

    /// Removes a subscriber from the hub (and the broker when it was the channel's last).
    pub(crate) async fn hub_remove(&self, channel: &str) {
        let _g = self.node.sub_lock(channel).lock().await;
        if self.node.hub.remove(channel, &self.conn.client) {
            if let Err(e) = self.node.broker.unsubscribe(&[channel.to_string()]).await {
                tracing::warn!(%channel, error = %e, "broker unsubscribe failed");
            }
        }
        metrics::gauge!("beacon_subscriptions").decrement(1.0);
    }

    /// Drops a subscription: hub, presence, leave message.
    pub(crate) async fn remove_subscription(&mut self, channel: &str) {
        let Some(s) = self.subs.remove(channel) else {
            return;
        };
        self.hub_remove(channel).await;
        if s.presence {
            if let Err(e) = self
                .node
                .presence
                .remove_presence(channel, &self.conn.client, &self.user)
                .await
            {
                tracing::warn!(%channel, error = %e, "presence remove failed");
            }
        }
        if s.emit_join_leave {
            let info = self.client_info(s.chan_info);
            if let Err(e) = self.node.broker.publish_leave(channel, info).await {
                tracing::warn!(%channel, error = %e, "leave publish failed");
            }
        }
    }

    /// Releases everything the connection holds.
    pub(crate) async fn cleanup(&mut self) {
        self.conn.close();
        self.node.untrack(&self.conn.client);
        let channels: Vec<String> = self.subs.keys().cloned().collect();
        for ch in channels {
            self.remove_subscription(&ch).await;
        }
        if self.state == State::Connected {
            self.node.unregister(&self.conn.client, &self.user);
        }
        if !self.conn.session.is_empty() {
            self.node.emulation.write().remove(&self.conn.session);
        }
    }
}
