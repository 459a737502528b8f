//! Client-side and server-side subscriptions: subscribe/resubscribe with recovery, pushes,
//! subscription token refresh.

use super::session::{refresh_after, Pending, Session, Timer};
use super::{Actor, End, Internal, ServerSub, Sub};
use crate::backoff;
use crate::codes;
use crate::config::TokenError;
use crate::event::{ClientEvent, SubscribedInfo, SubscriptionEvent, SubscriptionState};
use crate::Error;
use std::collections::HashMap;
use std::time::Duration;
use wowlab_protocol::codes::{disconnect, error as err_codes, unsubscribe as unsub_codes};
use wowlab_protocol::proto::{
    Command, Publication, Push, Reply, StreamPosition, SubRefreshRequest, SubscribeRequest,
    SubscribeResult, UnsubscribeRequest,
};

pub(super) fn set_sub_state(sub: &mut Sub, st: SubscriptionState) {
    sub.state = st;
    sub.shared.state.send_replace(st);
}

pub(super) fn emit_sub(sub: &Sub, ev: SubscriptionEvent) {
    let _ = sub.shared.events.send(ev);
}

pub(super) fn mark_unsubscribed(sub: &mut Sub, code: u32, reason: &str) {
    sub.inflight = None;
    sub.token_pending = false;
    if sub.state != SubscriptionState::Unsubscribed {
        set_sub_state(sub, SubscriptionState::Unsubscribed);
        emit_sub(
            sub,
            SubscriptionEvent::Unsubscribed {
                code,
                reason: reason.into(),
            },
        );
    }
}

/// Tracks the stream position of a publication (only non-zero offsets count).
fn track(offset: &mut u64, p: &Publication) {
    if p.offset > 0 {
        *offset = p.offset;
    }
}

fn subscribed_info(channel: &str, r: &SubscribeResult) -> SubscribedInfo {
    SubscribedInfo {
        channel: channel.to_owned(),
        recoverable: r.recoverable,
        positioned: r.positioned,
        stream_position: (r.recoverable || r.positioned).then(|| StreamPosition {
            offset: r.offset,
            epoch: r.epoch.clone(),
        }),
        was_recovering: r.was_recovering,
        recovered: r.recovered,
        data: r.data.clone(),
    }
}

impl Actor {
    /// Sends (or prepares, when a token must be fetched first) a subscribe command.
    pub(super) fn send_subscribe(&mut self, s: &mut Session, channel: &str) {
        let Some(sub) = self.subs.get(channel) else {
            return;
        };
        if sub.token.is_none() && sub.cfg.get_token.is_some() {
            if !sub.token_pending {
                self.spawn_sub_token(channel);
            }
            return;
        }
        let req = SubscribeRequest {
            channel: channel.to_owned(),
            token: sub.token.clone().unwrap_or_default(),
            recover: sub.has_position,
            epoch: if sub.has_position {
                sub.epoch.clone()
            } else {
                String::new()
            },
            offset: if sub.has_position { sub.offset } else { 0 },
            data: sub.cfg.data.clone(),
            positioned: sub.cfg.positioned,
            recoverable: sub.cfg.recoverable,
            join_leave: sub.cfg.join_leave,
            ..Default::default()
        };
        let id = self.next_id();
        let cmd = Command {
            id,
            subscribe: Some(req),
            ..Default::default()
        };
        if let Err(e) = self.push_cmd(s, &cmd) {
            if let Some(sub) = self.subs.get_mut(channel) {
                emit_sub(sub, SubscriptionEvent::Error(e));
                mark_unsubscribed(
                    sub,
                    codes::subscription::UNSUBSCRIBE_CALLED,
                    "subscribe could not be encoded",
                );
            }
            return;
        }
        s.pending.insert(id, Pending::Subscribe(channel.to_owned()));
        s.add_timer(
            self.cfg.timeout,
            Timer::SubscribeTimeout(channel.to_owned(), id),
        );
        if let Some(sub) = self.subs.get_mut(channel) {
            sub.inflight = Some(id);
        }
    }

    /// Starts the subscription token callback for `channel`.
    pub(super) fn spawn_sub_token(&mut self, channel: &str) {
        let Some(sub) = self.subs.get_mut(channel) else {
            return;
        };
        let Some(get) = sub.cfg.get_token.clone() else {
            return;
        };
        sub.token_pending = true;
        let tx = self.internal_tx.clone();
        let ch = channel.to_owned();
        tokio::spawn(async move {
            let res = get(ch.clone()).await;
            let _ = tx.send(Internal::SubToken { channel: ch, res });
        });
    }

    /// A subscription token arrived: subscribe, or refresh when already subscribed.
    pub(super) fn on_sub_token(
        &mut self,
        s: &mut Session,
        channel: &str,
        res: Result<String, TokenError>,
    ) {
        let Some(sub) = self.subs.get_mut(channel) else {
            return;
        };
        sub.token_pending = false;
        match res {
            Ok(token) => {
                sub.token = Some(token.clone());
                match sub.state {
                    SubscriptionState::Subscribing
                        if sub.inflight.is_none() && s.pending_allowed() =>
                    {
                        self.send_subscribe(s, channel)
                    }
                    SubscriptionState::Subscribed => {
                        let id = self.next_id();
                        let cmd = Command {
                            id,
                            sub_refresh: Some(SubRefreshRequest {
                                channel: channel.to_owned(),
                                token,
                            }),
                            ..Default::default()
                        };
                        match self.push_cmd(s, &cmd) {
                            Ok(()) => {
                                s.pending
                                    .insert(id, Pending::SubRefresh(channel.to_owned()));
                            }
                            Err(e) => self.emit(ClientEvent::Error(e)),
                        }
                    }
                    _ => {}
                }
            }
            Err(TokenError::Unauthorized) => {
                let was_subscribed = sub.state == SubscriptionState::Subscribed;
                mark_unsubscribed(sub, codes::subscription::UNAUTHORIZED, "unauthorized");
                if was_subscribed {
                    self.send_unsubscribe_cmd(s, channel);
                }
            }
            Err(e) => {
                emit_sub(sub, SubscriptionEvent::Error(Error::Token(e.to_string())));
                let (timer, delay) = if sub.state == SubscriptionState::Subscribed {
                    (
                        Timer::SubRefresh(channel.to_owned()),
                        backoff::between(Duration::from_secs(10), Duration::from_secs(20)),
                    )
                } else {
                    let d = backoff::delay(
                        sub.attempt,
                        self.cfg.min_reconnect_delay,
                        self.cfg.max_reconnect_delay,
                    );
                    sub.attempt = sub.attempt.saturating_add(1);
                    (Timer::Resubscribe(channel.to_owned()), d)
                };
                s.add_timer(delay, timer);
            }
        }
    }

    fn send_unsubscribe_cmd(&mut self, s: &mut Session, channel: &str) {
        if !s.pending_allowed() {
            return;
        }
        let id = self.next_id();
        let cmd = Command {
            id,
            unsubscribe: Some(UnsubscribeRequest {
                channel: channel.to_owned(),
            }),
            ..Default::default()
        };
        match self.push_cmd(s, &cmd) {
            Ok(()) => {
                s.pending.insert(id, Pending::Unsubscribe);
            }
            Err(e) => self.emit(ClientEvent::Error(e)),
        }
    }

    pub(super) fn subscribe_online(&mut self, s: &mut Session, channel: &str) {
        let Some(sub) = self.subs.get_mut(channel) else {
            return;
        };
        if sub.state != SubscriptionState::Unsubscribed {
            return;
        }
        sub.attempt = 0;
        set_sub_state(sub, SubscriptionState::Subscribing);
        emit_sub(
            sub,
            SubscriptionEvent::Subscribing {
                code: codes::subscription::SUBSCRIBE_CALLED,
                reason: "subscribe called".into(),
            },
        );
        if s.pending_allowed() {
            self.send_subscribe(s, channel);
        }
    }

    pub(super) fn unsubscribe_online(&mut self, s: &mut Session, channel: &str, remove: bool) {
        let Some(sub) = self.subs.get_mut(channel) else {
            return;
        };
        let on_server = sub.state == SubscriptionState::Subscribed || sub.inflight.is_some();
        let reason = if remove {
            "subscription removed"
        } else {
            "unsubscribe called"
        };
        mark_unsubscribed(sub, codes::subscription::UNSUBSCRIBE_CALLED, reason);
        s.cancel_timers(|t| match t {
            Timer::SubRefresh(c) | Timer::Resubscribe(c) | Timer::SubscribeTimeout(c, _) => {
                c == channel
            }
            _ => false,
        });
        if on_server {
            self.send_unsubscribe_cmd(s, channel);
        }
        if remove {
            self.subs.remove(channel);
        }
    }

    pub(super) fn on_subscribe_reply(
        &mut self,
        s: &mut Session,
        channel: &str,
        reply: Reply,
    ) -> Option<End> {
        s.cancel_timers(|t| matches!(t, Timer::SubscribeTimeout(c, _) if c == channel));
        let Some(sub) = self.subs.get_mut(channel) else {
            // Removed while subscribing: undo on the server.
            if reply.error.is_none() {
                self.send_unsubscribe_cmd(s, channel);
            }
            return None;
        };
        sub.inflight = None;
        if sub.state != SubscriptionState::Subscribing {
            if reply.error.is_none() {
                self.send_unsubscribe_cmd(s, channel);
            }
            return None;
        }
        if let Some(e) = reply.error {
            emit_sub(sub, SubscriptionEvent::Error(Error::from_proto(&e)));
            if e.code == err_codes::TOKEN_EXPIRED && sub.cfg.get_token.is_some() {
                sub.token = None;
                self.spawn_sub_token(channel);
            } else if e.temporary || e.code < 100 {
                let d = backoff::delay(
                    sub.attempt,
                    self.cfg.min_reconnect_delay,
                    self.cfg.max_reconnect_delay,
                );
                sub.attempt = sub.attempt.saturating_add(1);
                s.add_timer(d, Timer::Resubscribe(channel.to_owned()));
            } else {
                mark_unsubscribed(sub, e.code, &e.message);
            }
            return None;
        }
        let Some(res) = reply.subscribe else {
            emit_sub(
                sub,
                SubscriptionEvent::Error(Error::UnexpectedReply("subscribe result")),
            );
            return Some(End::Reconnect {
                code: codes::connecting::BAD_FRAME,
                reason: "bad subscribe reply".into(),
            });
        };
        sub.attempt = 0;
        if res.recoverable || res.positioned {
            sub.has_position = sub.cfg.recoverable || res.recoverable;
            sub.epoch = res.epoch.clone();
            sub.offset = res.offset;
        }
        set_sub_state(sub, SubscriptionState::Subscribed);
        emit_sub(
            sub,
            SubscriptionEvent::Subscribed(subscribed_info(channel, &res)),
        );
        for p in res.publications {
            track(&mut sub.offset, &p);
            emit_sub(sub, SubscriptionEvent::Publication(p));
        }
        if res.expires {
            s.add_timer(
                refresh_after(res.ttl),
                Timer::SubRefresh(channel.to_owned()),
            );
        }
        None
    }

    pub(super) fn on_sub_refresh_reply(&mut self, s: &mut Session, channel: &str, reply: Reply) {
        let Some(sub) = self.subs.get_mut(channel) else {
            return;
        };
        if let Some(e) = reply.error {
            emit_sub(sub, SubscriptionEvent::Error(Error::from_proto(&e)));
            if e.temporary || e.code < 100 {
                s.add_timer(
                    backoff::between(Duration::from_secs(10), Duration::from_secs(20)),
                    Timer::SubRefresh(channel.to_owned()),
                );
            } else {
                mark_unsubscribed(sub, e.code, &e.message);
                self.send_unsubscribe_cmd(s, channel);
            }
            return;
        }
        if let Some(r) = reply.sub_refresh {
            if r.expires {
                s.add_timer(refresh_after(r.ttl), Timer::SubRefresh(channel.to_owned()));
            }
        }
    }

    /// Server-side subscriptions from the connect result.
    pub(super) fn on_server_subs(&mut self, subs: HashMap<String, SubscribeResult>) {
        for (channel, res) in subs {
            let entry = self
                .server_subs
                .entry(channel.clone())
                .or_insert(ServerSub {
                    recoverable: false,
                    epoch: String::new(),
                    offset: 0,
                });
            entry.recoverable = res.recoverable;
            entry.epoch = res.epoch.clone();
            entry.offset = res.offset;
            let _ = self
                .shared
                .events
                .send(ClientEvent::Subscribed(subscribed_info(&channel, &res)));
            for p in res.publications {
                track(&mut entry.offset, &p);
                let _ = self.shared.events.send(ClientEvent::Publication {
                    channel: channel.clone(),
                    publication: p,
                });
            }
        }
    }

    pub(super) fn on_push(&mut self, s: &mut Session, push: Push) -> Option<End> {
        let channel = push.channel;
        if let Some(m) = push.message {
            self.emit(ClientEvent::Message(m.data));
            return None;
        }
        if let Some(d) = push.disconnect {
            // Emulation-style disconnect push (WebSocket servers use close frames).
            let reason = if d.reason.is_empty() {
                disconnect::reason(d.code).to_owned()
            } else {
                d.reason
            };
            return Some(if disconnect::should_reconnect(d.code) {
                End::Reconnect {
                    code: d.code,
                    reason,
                }
            } else {
                End::Terminal {
                    code: d.code,
                    reason,
                }
            });
        }
        if let Some(sub) = self.subs.get_mut(&channel) {
            if let Some(p) = push.r#pub {
                track(&mut sub.offset, &p);
                emit_sub(sub, SubscriptionEvent::Publication(p));
            } else if let Some(j) = push.join {
                emit_sub(sub, SubscriptionEvent::Join(j.info.unwrap_or_default()));
            } else if let Some(l) = push.leave {
                emit_sub(sub, SubscriptionEvent::Leave(l.info.unwrap_or_default()));
            } else if let Some(u) = push.unsubscribe {
                s.cancel_timers(|t| matches!(t, Timer::SubRefresh(c) if *c == channel));
                if unsub_codes::should_resubscribe(u.code) {
                    if u.code == unsub_codes::STATE_INVALIDATED {
                        sub.has_position = false;
                        sub.epoch.clear();
                        sub.offset = 0;
                        if sub.cfg.get_token.is_some() {
                            sub.token = None;
                        }
                    }
                    sub.inflight = None;
                    set_sub_state(sub, SubscriptionState::Subscribing);
                    emit_sub(
                        sub,
                        SubscriptionEvent::Subscribing {
                            code: u.code,
                            reason: u.reason,
                        },
                    );
                    self.send_subscribe(s, &channel);
                } else {
                    mark_unsubscribed(sub, u.code, &u.reason);
                }
            } else {
                tracing::debug!(%channel, "ignoring unknown push type");
            }
            return None;
        }
        if let Some(sp) = push.subscribe {
            self.server_subs.insert(
                channel.clone(),
                ServerSub {
                    recoverable: sp.recoverable,
                    epoch: sp.epoch.clone(),
                    offset: sp.offset,
                },
            );
            self.emit(ClientEvent::Subscribed(SubscribedInfo {
                channel,
                recoverable: sp.recoverable,
                positioned: sp.positioned,
                stream_position: (sp.recoverable || sp.positioned).then_some(StreamPosition {
                    offset: sp.offset,
                    epoch: sp.epoch,
                }),
                was_recovering: false,
                recovered: false,
                data: sp.data,
            }));
            return None;
        }
        if let Some(p) = push.r#pub {
            if let Some(ss) = self.server_subs.get_mut(&channel) {
                track(&mut ss.offset, &p);
            }
            self.emit(ClientEvent::Publication {
                channel,
                publication: p,
            });
        } else if let Some(j) = push.join {
            self.emit(ClientEvent::Join {
                channel,
                info: j.info.unwrap_or_default(),
            });
        } else if let Some(l) = push.leave {
            self.emit(ClientEvent::Leave {
                channel,
                info: l.info.unwrap_or_default(),
            });
        } else if let Some(u) = push.unsubscribe {
            self.server_subs.remove(&channel);
            self.emit(ClientEvent::Unsubscribed {
                channel,
                code: u.code,
                reason: u.reason,
            });
        } else {
            tracing::debug!(%channel, "ignoring unknown push type");
        }
        None
    }
}

impl Session {
    /// Commands other than connect may be written once the connect reply arrived; before
    /// that they ride in the first frame (open) or wait for `on_connected`.
    pub(super) fn pending_allowed(&self) -> bool {
        self.is_connected()
    }
}
