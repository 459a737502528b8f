//! One WebSocket session: connect handshake, reading replies, pings, timers, refresh.

use super::{subs, Actor, End, Internal, Op, Queued};
use crate::backoff;
use crate::codes;
use crate::config::TokenError;
use crate::event::{ClientEvent, State, SubscriptionState};
use crate::transport::{self, Incoming, Ws};
use crate::Error;
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;
use wowlab_protocol::codec;
use wowlab_protocol::codes::{disconnect, error as err_codes};
use wowlab_protocol::proto::{
    Command, ConnectRequest, ConnectResult, RefreshRequest, Reply, SubscribeRequest,
};

/// What a pending command id is waiting for.
pub(super) enum Pending {
    Connect,
    Subscribe(String),
    Unsubscribe,
    Refresh,
    SubRefresh(String),
    Call(oneshot::Sender<Result<Reply, Error>>),
}

/// Timers of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Timer {
    ConnectTimeout,
    Refresh,
    SubRefresh(String),
    Resubscribe(String),
    SubscribeTimeout(String, u32),
}

pub(super) struct Session {
    ws: Ws,
    pub pending: HashMap<u32, Pending>,
    timers: Vec<(Instant, Timer)>,
    connected: bool,
    ping_every: Option<Duration>,
    ping_deadline: Option<Instant>,
    pong: bool,
    /// Frame being batched; flushed once per loop turn.
    pub out: Vec<u8>,
}

impl Session {
    /// The connect reply arrived successfully.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    pub fn add_timer(&mut self, after: Duration, t: Timer) {
        self.timers.retain(|(_, x)| *x != t);
        self.timers.push((Instant::now() + after, t));
    }

    pub fn cancel_timers(&mut self, f: impl Fn(&Timer) -> bool) {
        self.timers.retain(|(_, t)| !f(t));
    }

    fn next_timer(&self) -> Option<Instant> {
        self.timers.iter().map(|(at, _)| *at).min()
    }

    fn take_due(&mut self) -> Vec<Timer> {
        let now = Instant::now();
        let (due, keep): (Vec<_>, Vec<_>) = self.timers.drain(..).partition(|(at, _)| *at <= now);
        self.timers = keep;
        due.into_iter().map(|(_, t)| t).collect()
    }
}

/// When to refresh a token of `ttl` seconds: a little before it expires.
pub(super) fn refresh_after(ttl: u32) -> Duration {
    let ttl = Duration::from_secs(u64::from(ttl));
    let margin = (ttl / 5).min(Duration::from_secs(5));
    ttl.saturating_sub(margin)
}

impl Actor {
    /// Appends one command to the session's outgoing frame.
    pub(super) fn push_cmd(&self, s: &mut Session, cmd: &Command) -> Result<(), Error> {
        let enc = codec::encode_command(self.cfg.protocol, cmd)
            .map_err(|e| Error::Encode(e.to_string()))?;
        codec::append_to_frame(self.cfg.protocol, &mut s.out, &enc);
        Ok(())
    }

    /// Gets a token if needed, opens the WebSocket and sends connect (+ pending subscribes)
    /// in one frame.
    pub(super) async fn open(&mut self) -> Result<Session, End> {
        if self.refresh_required || (self.token.is_none() && self.cfg.get_token.is_some()) {
            let Some(get) = self.cfg.get_token.clone() else {
                return Err(End::Terminal {
                    code: codes::disconnected::UNAUTHORIZED,
                    reason: "token expired and no get_token callback".into(),
                });
            };
            match tokio::time::timeout(self.cfg.timeout, get()).await {
                Ok(Ok(t)) => {
                    self.token = Some(t);
                    self.refresh_required = false;
                }
                Ok(Err(TokenError::Unauthorized)) => {
                    return Err(End::Terminal {
                        code: codes::disconnected::UNAUTHORIZED,
                        reason: "unauthorized".into(),
                    })
                }
                Ok(Err(e)) => {
                    self.emit(ClientEvent::Error(Error::Token(e.to_string())));
                    return Err(End::Reconnect {
                        code: codes::connecting::TRANSPORT_CLOSED,
                        reason: "token callback failed".into(),
                    });
                }
                Err(_) => {
                    self.emit(ClientEvent::Error(Error::Token(
                        "get_token timed out".into(),
                    )));
                    return Err(End::Reconnect {
                        code: codes::connecting::TRANSPORT_CLOSED,
                        reason: "token callback timed out".into(),
                    });
                }
            }
        }
        let ws = match transport::open(&self.cfg).await {
            Ok(ws) => ws,
            Err(e) => {
                let reason = e.to_string();
                self.emit(ClientEvent::Error(e));
                return Err(End::Reconnect {
                    code: codes::connecting::TRANSPORT_CLOSED,
                    reason,
                });
            }
        };
        let mut s = Session {
            ws,
            pending: HashMap::new(),
            timers: Vec::new(),
            connected: false,
            ping_every: None,
            ping_deadline: None,
            pong: false,
            out: Vec::new(),
        };
        let subs = self
            .server_subs
            .iter()
            .filter(|(_, ss)| ss.recoverable)
            .map(|(ch, ss)| {
                let req = SubscribeRequest {
                    recover: true,
                    epoch: ss.epoch.clone(),
                    offset: ss.offset,
                    ..Default::default()
                };
                (ch.clone(), req)
            })
            .collect();
        let id = self.next_id();
        let connect = Command {
            id,
            connect: Some(ConnectRequest {
                token: self.token.clone().unwrap_or_default(),
                data: self.cfg.data.clone(),
                subs,
                name: self.cfg.name.clone(),
                version: self.cfg.version.clone(),
                ..Default::default()
            }),
            ..Default::default()
        };
        if let Err(e) = self.push_cmd(&mut s, &connect) {
            self.emit(ClientEvent::Error(e.clone()));
            return Err(End::Terminal {
                code: codes::disconnected::BAD_PROTOCOL,
                reason: e.to_string(),
            });
        }
        s.pending.insert(id, Pending::Connect);
        s.add_timer(self.cfg.timeout, Timer::ConnectTimeout);
        // centrifuge-js style: subscribes ride in the same first frame as connect.
        let channels: Vec<String> = self
            .subs
            .iter()
            .filter(|(_, sub)| sub.state == SubscriptionState::Subscribing)
            .map(|(ch, _)| ch.clone())
            .collect();
        for ch in channels {
            self.send_subscribe(&mut s, &ch);
        }
        self.flush(&mut s).await?;
        Ok(s)
    }

    /// Writes the batched frame, if any.
    pub(super) async fn flush(&mut self, s: &mut Session) -> Result<(), End> {
        if s.out.is_empty() {
            return Ok(());
        }
        let frame = std::mem::take(&mut s.out);
        let msg = match transport::frame_message(self.cfg.protocol, frame) {
            Ok(m) => m,
            Err(e) => {
                self.emit(ClientEvent::Error(e));
                return Ok(());
            }
        };
        match tokio::time::timeout(self.cfg.timeout, s.ws.send(msg)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                let e = Error::Transport(e.to_string());
                let reason = e.to_string();
                self.emit(ClientEvent::Error(e));
                Err(End::Reconnect {
                    code: codes::connecting::TRANSPORT_CLOSED,
                    reason,
                })
            }
            Err(_) => {
                self.emit(ClientEvent::Error(Error::Transport(
                    "write timed out".into(),
                )));
                Err(End::Reconnect {
                    code: codes::connecting::TRANSPORT_CLOSED,
                    reason: "write timed out".into(),
                })
            }
        }
    }

    /// Runs a session until it ends; afterwards pending calls fail with `ConnectionClosed`.
    pub(super) async fn session(&mut self, mut s: Session) -> End {
        let end = self.session_loop(&mut s).await;
        for (_, p) in s.pending.drain() {
            if let Pending::Call(tx) = p {
                let _ = tx.send(Err(Error::ConnectionClosed));
            }
        }
        let close_code = match &end {
            End::UserDisconnect | End::Dropped => Some(1000u16),
            _ => None,
        };
        if let Some(code) = close_code {
            let frame = tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: code.into(),
                reason: "client disconnect".into(),
            };
            let _ = tokio::time::timeout(Duration::from_millis(500), s.ws.close(Some(frame))).await;
        }
        end
    }

    async fn session_loop(&mut self, s: &mut Session) -> End {
        loop {
            let far = Instant::now() + Duration::from_secs(86_400);
            let timer_at = s.next_timer().unwrap_or(far);
            let ping_at = s.ping_deadline.unwrap_or(far);
            let step = tokio::select! {
                item = s.ws.next() => {
                    match transport::classify(item) {
                        Incoming::Data(data) => {
                            if let Some(every) = s.ping_every {
                                s.ping_deadline = Some(Instant::now() + every + self.cfg.max_server_ping_delay);
                            }
                            self.on_frame(s, &data)
                        }
                        Incoming::Ignore => None,
                        Incoming::Failed(e) => {
                            let reason = e.to_string();
                            self.emit(ClientEvent::Error(e));
                            Some(End::Reconnect { code: codes::connecting::TRANSPORT_CLOSED, reason })
                        }
                        Incoming::Closed { code, reason } => Some(close_to_end(code, reason)),
                    }
                }
                op = self.ops.recv() => match op {
                    None => Some(End::Dropped),
                    Some(op) => {
                        let mut end = self.on_op_online(s, op);
                        // Batch whatever else is already queued into the same frame.
                        while end.is_none() {
                            match self.ops.try_recv() {
                                Ok(op) => end = self.on_op_online(s, op),
                                Err(_) => break,
                            }
                        }
                        end
                    }
                },
                Some(int) = self.internal_rx.recv() => self.on_internal(s, int),
                _ = tokio::time::sleep_until(ping_at), if s.ping_deadline.is_some() => {
                    self.emit(ClientEvent::Error(Error::Timeout));
                    Some(End::Reconnect { code: codes::connecting::NO_PING, reason: "no ping".into() })
                }
                _ = tokio::time::sleep_until(timer_at), if s.next_timer().is_some() => {
                    let mut end = None;
                    for t in s.take_due() {
                        if end.is_none() {
                            end = self.on_timer(s, t);
                        }
                    }
                    end
                }
            };
            if let Some(end) = step {
                return end;
            }
            if let Err(end) = self.flush(s).await {
                return end;
            }
        }
    }

    fn on_frame(&mut self, s: &mut Session, data: &[u8]) -> Option<End> {
        let replies = match codec::decode_replies(self.cfg.protocol, data) {
            Ok(r) => r,
            Err(e) => {
                let reason = e.to_string();
                self.emit(ClientEvent::Error(Error::Decode(Arc::new(e))));
                return Some(End::Reconnect {
                    code: codes::connecting::BAD_FRAME,
                    reason,
                });
            }
        };
        for reply in replies {
            if let Some(end) = self.on_reply(s, reply) {
                return Some(end);
            }
        }
        None
    }

    fn on_reply(&mut self, s: &mut Session, reply: Reply) -> Option<End> {
        if reply.id > 0 {
            return match s.pending.remove(&reply.id) {
                Some(Pending::Connect) => self.on_connect_reply(s, reply),
                Some(Pending::Subscribe(ch)) => self.on_subscribe_reply(s, &ch, reply),
                Some(Pending::Unsubscribe) => reply.error.map(|e| {
                    self.emit(ClientEvent::Error(Error::from_proto(&e)));
                    End::Reconnect {
                        code: codes::connecting::UNSUBSCRIBE_ERROR,
                        reason: "unsubscribe error".into(),
                    }
                }),
                Some(Pending::Refresh) => self.on_refresh_reply(s, reply),
                Some(Pending::SubRefresh(ch)) => {
                    self.on_sub_refresh_reply(s, &ch, reply);
                    None
                }
                Some(Pending::Call(tx)) => {
                    let _ = tx.send(Ok(reply));
                    None
                }
                None => {
                    tracing::debug!(id = reply.id, "reply to unknown command id");
                    None
                }
            };
        }
        if let Some(push) = reply.push {
            return self.on_push(s, push);
        }
        // Empty reply: server ping.
        if s.pong && s.connected {
            if let Err(e) = self.push_cmd(s, &Command::default()) {
                self.emit(ClientEvent::Error(e));
            }
        }
        None
    }

    fn on_connect_reply(&mut self, s: &mut Session, reply: Reply) -> Option<End> {
        s.cancel_timers(|t| *t == Timer::ConnectTimeout);
        if let Some(e) = reply.error {
            self.emit(ClientEvent::Error(Error::from_proto(&e)));
            if e.code == err_codes::TOKEN_EXPIRED {
                if self.cfg.get_token.is_none() {
                    return Some(End::Terminal {
                        code: codes::disconnected::UNAUTHORIZED,
                        reason: "token expired and no get_token callback".into(),
                    });
                }
                self.refresh_required = true;
                return Some(End::Reconnect {
                    code: e.code,
                    reason: e.message,
                });
            }
            if e.temporary || e.code < 100 {
                return Some(End::Reconnect {
                    code: e.code,
                    reason: e.message,
                });
            }
            return Some(End::Terminal {
                code: e.code,
                reason: e.message,
            });
        }
        let Some(res) = reply.connect else {
            self.emit(ClientEvent::Error(Error::UnexpectedReply("connect result")));
            return Some(End::Reconnect {
                code: codes::connecting::BAD_FRAME,
                reason: "bad connect reply".into(),
            });
        };
        self.on_connected(s, res);
        None
    }

    fn on_connected(&mut self, s: &mut Session, res: ConnectResult) {
        s.connected = true;
        s.pong = res.pong;
        if res.ping > 0 {
            let every = Duration::from_secs(u64::from(res.ping));
            s.ping_every = Some(every);
            s.ping_deadline = Some(Instant::now() + every + self.cfg.max_server_ping_delay);
        }
        if res.expires {
            s.add_timer(refresh_after(res.ttl), Timer::Refresh);
        }
        self.set_state(State::Connected);
        self.emit(ClientEvent::Connected {
            client: res.client.clone(),
            version: res.version.clone(),
            data: res.data.clone(),
        });
        self.on_server_subs(res.subs);
        // Calls made while connecting go out now, in one frame.
        for q in std::mem::take(&mut self.queued) {
            match q {
                Queued::Call(cmd, tx) => self.start_call(s, cmd, tx),
                Queued::Send(cmd, tx) => {
                    let r = self.push_cmd(s, &cmd);
                    let _ = tx.send(r);
                }
            }
        }
        // Subscriptions that could not ride in the first frame (token fetch, added later).
        let waiting: Vec<String> = self
            .subs
            .iter()
            .filter(|(_, sub)| {
                sub.state == SubscriptionState::Subscribing
                    && sub.inflight.is_none()
                    && !sub.token_pending
            })
            .map(|(ch, _)| ch.clone())
            .collect();
        for ch in waiting {
            self.send_subscribe(s, &ch);
        }
    }

    fn start_call(
        &mut self,
        s: &mut Session,
        mut cmd: Command,
        tx: oneshot::Sender<Result<Reply, Error>>,
    ) {
        if tx.is_closed() {
            return; // caller timed out while we were connecting
        }
        let id = self.next_id();
        cmd.id = id;
        match self.push_cmd(s, &cmd) {
            Ok(()) => {
                s.pending.insert(id, Pending::Call(tx));
            }
            Err(e) => {
                let _ = tx.send(Err(e));
            }
        }
    }

    fn on_op_online(&mut self, s: &mut Session, op: Op) -> Option<End> {
        match op {
            Op::Connect => None,
            Op::Disconnect { done } => {
                self.disconnect_locally();
                let _ = done.send(());
                Some(End::UserDisconnect)
            }
            Op::Call { cmd, tx } => {
                if s.connected {
                    self.start_call(s, cmd, tx);
                } else {
                    self.queued.push(Queued::Call(cmd, tx));
                }
                None
            }
            Op::Send { cmd, tx } => {
                if s.connected {
                    let r = self.push_cmd(s, &cmd);
                    let _ = tx.send(r);
                } else {
                    self.queued.push(Queued::Send(cmd, tx));
                }
                None
            }
            Op::AddSub {
                channel,
                cfg,
                shared,
            } => {
                self.add_sub(channel, cfg, shared);
                None
            }
            Op::Subscribe { channel } => {
                self.subscribe_online(s, &channel);
                None
            }
            Op::Unsubscribe { channel } => {
                self.unsubscribe_online(s, &channel, false);
                None
            }
            Op::RemoveSub { channel } => {
                self.unsubscribe_online(s, &channel, true);
                None
            }
        }
    }

    fn on_internal(&mut self, s: &mut Session, int: Internal) -> Option<End> {
        match int {
            Internal::ConnToken(Ok(token)) => {
                self.token = Some(token.clone());
                let id = self.next_id();
                let cmd = Command {
                    id,
                    refresh: Some(RefreshRequest { token }),
                    ..Default::default()
                };
                match self.push_cmd(s, &cmd) {
                    Ok(()) => {
                        s.pending.insert(id, Pending::Refresh);
                    }
                    Err(e) => self.emit(ClientEvent::Error(e)),
                }
                None
            }
            Internal::ConnToken(Err(TokenError::Unauthorized)) => Some(End::Terminal {
                code: codes::disconnected::UNAUTHORIZED,
                reason: "unauthorized".into(),
            }),
            Internal::ConnToken(Err(e)) => {
                self.emit(ClientEvent::Error(Error::Token(e.to_string())));
                s.add_timer(
                    backoff::between(Duration::from_secs(5), Duration::from_secs(10)),
                    Timer::Refresh,
                );
                None
            }
            Internal::SubToken { channel, res } => {
                self.on_sub_token(s, &channel, res);
                None
            }
        }
    }

    fn on_refresh_reply(&mut self, s: &mut Session, reply: Reply) -> Option<End> {
        if let Some(e) = reply.error {
            self.emit(ClientEvent::Error(Error::from_proto(&e)));
            if e.temporary || e.code < 100 {
                s.add_timer(
                    backoff::between(Duration::from_secs(5), Duration::from_secs(10)),
                    Timer::Refresh,
                );
                return None;
            }
            return Some(End::Terminal {
                code: e.code,
                reason: e.message,
            });
        }
        if let Some(r) = reply.refresh {
            if r.expires {
                s.add_timer(refresh_after(r.ttl), Timer::Refresh);
            }
        }
        None
    }

    fn on_timer(&mut self, s: &mut Session, t: Timer) -> Option<End> {
        match t {
            Timer::ConnectTimeout => {
                self.emit(ClientEvent::Error(Error::Timeout));
                Some(End::Reconnect {
                    code: codes::connecting::TRANSPORT_CLOSED,
                    reason: "connect timeout".into(),
                })
            }
            Timer::Refresh => {
                if !self.spawn_conn_token() {
                    tracing::debug!(
                        "connection expires but no get_token callback; the server will close it"
                    );
                }
                None
            }
            Timer::SubRefresh(ch) => {
                self.spawn_sub_token(&ch);
                None
            }
            Timer::Resubscribe(ch) => {
                let waiting = self.subs.get(&ch).is_some_and(|sub| {
                    sub.state == SubscriptionState::Subscribing && sub.inflight.is_none()
                });
                if waiting && s.connected {
                    self.send_subscribe(s, &ch);
                }
                None
            }
            Timer::SubscribeTimeout(ch, id) => {
                if s.pending.contains_key(&id) {
                    if let Some(sub) = self.subs.get(&ch) {
                        subs::emit_sub(sub, crate::SubscriptionEvent::Error(Error::Timeout));
                    }
                    return Some(End::Reconnect {
                        code: codes::connecting::SUBSCRIBE_TIMEOUT,
                        reason: "subscribe timeout".into(),
                    });
                }
                None
            }
        }
    }
}

/// Maps a WebSocket close to reconnect or terminal, by the client rules of the reference.
fn close_to_end(code: Option<u16>, reason: String) -> End {
    let Some(code) = code.map(u32::from) else {
        return End::Reconnect {
            code: codes::connecting::TRANSPORT_CLOSED,
            reason,
        };
    };
    if code == 1009 {
        return End::Terminal {
            code: codes::disconnected::MESSAGE_SIZE_LIMIT,
            reason: "message size limit exceeded".into(),
        };
    }
    if code < 3000 {
        return End::Reconnect {
            code: codes::connecting::TRANSPORT_CLOSED,
            reason,
        };
    }
    if disconnect::should_reconnect(code) {
        End::Reconnect { code, reason }
    } else {
        End::Terminal { code, reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_happens_before_expiry() {
        assert_eq!(refresh_after(1), Duration::from_millis(800));
        assert_eq!(refresh_after(60), Duration::from_secs(55));
        assert_eq!(refresh_after(0), Duration::ZERO);
    }

    #[test]
    fn close_codes_follow_client_rules() {
        let terminal = |c| matches!(close_to_end(Some(c), "r".into()), End::Terminal { .. });
        assert!(!terminal(1000));
        assert!(!terminal(1006));
        assert!(terminal(1009));
        assert!(!terminal(3001));
        assert!(!terminal(3005));
        assert!(terminal(3500));
        assert!(terminal(3501));
        assert!(!terminal(4000));
        assert!(terminal(4500));
        assert!(!terminal(5000));
        assert!(matches!(
            close_to_end(None, "eof".into()),
            End::Reconnect { code: 1, .. }
        ));
    }
}
