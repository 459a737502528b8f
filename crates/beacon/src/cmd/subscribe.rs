//! `subscribe`: permission checks (token, private, user-limited, namespace options), stream
//! positioning and recovery (as in `centrifugal/centrifuge` `client.go`), presence and
//! join/leave. Also the server-side subscriptions of connect and of the HTTP API.

use crate::auth::{info_bytes, now_unix, Override, SubOptions, SubscriptionClaims, TokenError};
use crate::conn::ServerSubscribe;
use crate::delta::{self, DeltaMode};
use crate::engine::{HistoryOptions, Publication, StreamPosition};
use crate::hub::{wire_publication, Subscriber};
use crate::session::{CmdError, CmdResult, Disconnect, Session, SubState};
use bytes::Bytes;
use std::sync::Arc;
use wowlab_protocol::codes::{disconnect, error};
use wowlab_protocol::proto::{self, Reply, SubscribeRequest, SubscribeResult};

/// Flag bit: reject with 112 instead of answering `recovered: false`.
const FLAG_REJECT_UNRECOVERED: i64 = 2;

/// What a subscription asks for, after authentication.
#[derive(Debug, Default, Clone)]
pub(crate) struct SubscribeSpec {
    pub server_side: bool,
    pub chan_info: Option<Bytes>,
    pub data: Option<Bytes>,
    pub expire_at: Option<i64>,
    pub overrides: Option<Override>,
    pub recover: bool,
    pub epoch: String,
    pub offset: u64,
    pub want_positioned: bool,
    pub want_recoverable: bool,
    pub want_join_leave: bool,
    pub reject_unrecovered: bool,
    /// Delta type asked for (`fossil`, or empty).
    pub delta: String,
    pub history_access: bool,
    pub presence_access: bool,
}

impl SubscribeSpec {
    /// From a `subs` entry of a connection token.
    pub(crate) fn from_token_options(o: &SubOptions) -> Result<Self, TokenError> {
        Ok(SubscribeSpec {
            chan_info: info_bytes(&o.info, &o.b64info)?,
            data: info_bytes(&o.data, &o.b64data)?,
            overrides: o.r#override.clone(),
            ..Default::default()
        })
    }

    fn from_claims(c: &SubscriptionClaims) -> Result<Self, TokenError> {
        Ok(SubscribeSpec {
            chan_info: info_bytes(&c.info, &c.b64info)?,
            data: info_bytes(&c.data, &c.b64data)?,
            overrides: c.r#override.clone(),
            expire_at: match c.expire_at {
                Some(0) => None,
                Some(t) => Some(t),
                None => c.exp,
            },
            ..Default::default()
        })
    }
}

fn pick(
    o: &Option<Override>,
    f: impl Fn(&Override) -> Option<crate::auth::BoolValue>,
    default: bool,
) -> bool {
    o.as_ref().and_then(f).map(|v| v.value).unwrap_or(default)
}

pub(crate) async fn handle(s: &mut Session, id: u32, req: SubscribeRequest) -> CmdResult {
    let channel = req.channel.clone();
    let opts = super::channel_options(s, &channel)?;
    let insecure = s.node.config.client.insecure;
    let mut spec = if !req.token.is_empty() {
        let claims = match s.node.sub_verifier.verify_subscription(&req.token) {
            Ok(c) => c,
            Err(TokenError::Expired) => return Err(CmdError::Error(error::TOKEN_EXPIRED)),
            Err(TokenError::Invalid(e)) => {
                tracing::info!(client = %s.conn.client, %channel, error = %e, "invalid subscription token");
                return Err(CmdError::Error(error::PERMISSION_DENIED));
            }
        };
        if claims.channel != channel
            || claims.sub != s.user
            || (!claims.client.is_empty() && claims.client != s.conn.client)
        {
            return Err(CmdError::Disconnect(disconnect::INVALID_TOKEN));
        }
        SubscribeSpec::from_claims(&claims)
            .map_err(|_| CmdError::Disconnect(disconnect::INVALID_TOKEN))?
    } else {
        let user_limited =
            opts.allow_user_limited_channels && s.node.rules.limited_users(&channel).is_some();
        let ok = if s.node.rules.is_private(&channel) {
            false
        } else if user_limited {
            s.node.rules.user_allowed(&channel, &s.user)
        } else {
            opts.allow_subscribe_for_client
                && (!s.user.is_empty() || opts.allow_subscribe_for_anonymous)
        };
        if !ok && !insecure {
            return Err(CmdError::Error(error::PERMISSION_DENIED));
        }
        SubscribeSpec::default()
    };
    if spec.expire_at.is_some_and(|t| t <= now_unix()) {
        return Err(CmdError::Error(error::EXPIRED));
    }
    let anon_ok = |a: bool| !s.user.is_empty() || a;
    spec.history_access = insecure
        || ((opts.allow_history_for_client || opts.allow_history_for_subscriber)
            && anon_ok(opts.allow_history_for_anonymous));
    spec.presence_access = insecure
        || ((opts.allow_presence_for_client || opts.allow_presence_for_subscriber)
            && anon_ok(opts.allow_presence_for_anonymous));
    spec.recover = req.recover;
    spec.epoch = req.epoch.clone();
    spec.offset = req.offset;
    spec.want_positioned = req.positioned;
    spec.want_recoverable = req.recoverable;
    spec.want_join_leave = req.join_leave;
    spec.reject_unrecovered = req.flag & FLAG_REJECT_UNRECOVERED != 0;
    spec.delta = req.delta.clone();

    let (result, sub, last) = subscribe_channel(s, &channel, spec).await?;
    s.send_reply(&Reply {
        id,
        subscribe: Some(result),
        ..Default::default()
    })
    .map_err(|d| CmdError::Disconnect(d.code))?;
    sub.flush(last).map_err(CmdError::Disconnect)?;
    Ok(None)
}

/// Subscribes the session to a channel: hub + broker registration, positioning/recovery,
/// presence, join. Deliveries are held in the subscriber until the caller has queued the
/// reply and called `Subscriber::flush(last)` with the returned position.
pub(crate) async fn subscribe_channel(
    s: &mut Session,
    channel: &str,
    spec: SubscribeSpec,
) -> Result<(SubscribeResult, Arc<Subscriber>, Option<u64>), CmdError> {
    let opts = super::channel_options(s, channel)?;
    if s.subs.contains_key(channel) {
        return Err(CmdError::Error(error::ALREADY_SUBSCRIBED));
    }
    if s.subs.len() >= s.node.config.client.channel_limit {
        return Err(CmdError::Error(error::LIMIT_EXCEEDED));
    }
    let ov = &spec.overrides;
    let presence = pick(ov, |o| o.presence, opts.presence);
    let emit_join_leave = pick(ov, |o| o.join_leave, opts.join_leave);
    let force_push = pick(ov, |o| o.force_push_join_leave, opts.force_push_join_leave);
    let force_recovery = pick(ov, |o| o.force_recovery, opts.force_recovery);
    let force_positioning = pick(ov, |o| o.force_positioning, opts.force_positioning);
    let history = opts.history_enabled();
    let recoverable = history
        && (force_recovery
            || (spec.want_recoverable && (opts.allow_recovery || spec.history_access)));
    let positioned = history
        && (recoverable
            || force_positioning
            || (spec.want_positioned && (opts.allow_positioning || spec.history_access)));
    let push_join_leave =
        force_push || (spec.want_join_leave && emit_join_leave && spec.presence_access);
    let delta_mode = DeltaMode::negotiate(&spec.delta, &opts);

    let sub = Arc::new(Subscriber::new(
        s.conn.clone(),
        channel,
        push_join_leave,
        true,
        delta_mode,
    ));
    s.hub_add(channel, sub.clone()).await?;

    let mut result = SubscribeResult {
        data: spec.data.clone().unwrap_or_default(),
        delta: delta_mode != DeltaMode::Off,
        ..Default::default()
    };
    if let Some(exp) = spec.expire_at {
        result.expires = true;
        result.ttl = crate::session::ttl_secs(exp);
    }
    let mut last = None;
    if positioned {
        match position(s, channel, &opts, &spec, recoverable).await {
            Ok((r, l)) => {
                result.positioned = true;
                result.recoverable = recoverable;
                result.epoch = r.epoch;
                result.offset = r.offset;
                result.recovered = r.recovered;
                result.was_recovering = r.was_recovering;
                // With delta negotiated, recovered publications form a chain: the first in
                // full, each next one a delta against the one before.
                result.publications = match delta_mode {
                    DeltaMode::Off => r.publications.iter().map(wire_publication).collect(),
                    mode => delta::recovered(&r.publications, mode, s.conn.protocol),
                };
                if r.recovered && delta_mode != DeltaMode::Off {
                    delta_base_after_recovery(s, channel, &opts, &r.publications, l).await;
                    sub.set_delta_base(l);
                }
                last = Some(l);
            }
            Err(e) => {
                s.hub_remove(channel).await;
                return Err(e);
            }
        }
    }
    s.subs.insert(
        channel.to_string(),
        SubState {
            server_side: spec.server_side,
            chan_info: spec.chan_info.clone(),
            expire_at: spec.expire_at,
            presence,
            emit_join_leave,
        },
    );
    let info = s.client_info(spec.chan_info.clone());
    if presence {
        if let Err(e) = s
            .node
            .presence
            .add_presence(channel, &s.conn.client, info.clone())
            .await
        {
            tracing::warn!(%channel, error = %e, "presence add failed");
            s.remove_subscription(channel).await;
            return Err(CmdError::Error(error::INTERNAL));
        }
    }
    if emit_join_leave {
        // Delivered to our own subscriber too (held until the reply is queued).
        if let Err(e) = s.node.broker.publish_join(channel, info).await {
            tracing::warn!(%channel, error = %e, "join publish failed");
        }
    }
    Ok((result, sub, last))
}

/// Gives the channel's delta base the publication at `last`, which a client that recovered
/// up to it holds: the last recovered one, or read from history when nothing was missed. The
/// next publication can then go to it as a delta, as in Centrifugo, whose broker hands every
/// publication its predecessor; our base is cached per channel and is gone when a channel's
/// last local subscriber left. Without a base, the next publication simply goes in full.
async fn delta_base_after_recovery(
    s: &Session,
    channel: &str,
    opts: &crate::config::ChannelOptions,
    recovered: &[Publication],
    last: u64,
) {
    let base = match recovered.last() {
        Some(p) => Some(p.clone()),
        None if last > 0 && !s.node.hub.has_delta_base(channel, last) => {
            match latest_publication(s, channel, opts.history_meta_ttl.get()).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::debug!(%channel, error = %e, "no delta base after recovery");
                    None
                }
            }
        }
        None => None,
    };
    if let Some(p) = base.filter(|p| p.offset == last) {
        s.node.hub.seed_delta_base(channel, p.offset, p.data);
    }
}

/// The channel's newest publication in history, if any.
async fn latest_publication(
    s: &Session,
    channel: &str,
    meta_ttl: std::time::Duration,
) -> Result<Option<Publication>, crate::engine::EngineError> {
    let newest = HistoryOptions {
        since: None,
        limit: Some(1),
        reverse: true,
        meta_ttl,
    };
    let h = s.node.broker.history(channel, &newest).await?;
    Ok(h.publications.into_iter().next())
}

struct Positioned {
    epoch: String,
    offset: u64,
    recovered: bool,
    was_recovering: bool,
    publications: Vec<Publication>,
}

/// Current top, or recovery from the client's position (Centrifugo's history recovery).
async fn position(
    s: &Session,
    channel: &str,
    opts: &crate::config::ChannelOptions,
    spec: &SubscribeSpec,
    recoverable: bool,
) -> Result<(Positioned, u64), CmdError> {
    let meta_ttl = opts.history_meta_ttl.get();
    let internal = |e: crate::engine::EngineError| {
        tracing::warn!(%channel, error = %e, "stream read failed");
        CmdError::Error(error::INTERNAL)
    };
    let top = s
        .node
        .broker
        .stream_top(channel, meta_ttl)
        .await
        .map_err(internal)?;
    if !(spec.recover && recoverable) {
        return Ok((
            Positioned {
                epoch: top.epoch,
                offset: top.offset,
                recovered: false,
                was_recovering: spec.recover,
                publications: vec![],
            },
            top.offset,
        ));
    }
    let mut recovered = false;
    let mut pubs = Vec::new();
    if spec.epoch.is_empty() || spec.epoch == top.epoch {
        if opts.force_recovery_mode == "cache" {
            recovered = true;
            pubs = latest_publication(s, channel, meta_ttl)
                .await
                .map_err(internal)?
                .into_iter()
                .collect();
        } else {
            let h = s
                .node
                .broker
                .history(
                    channel,
                    &HistoryOptions {
                        since: Some(StreamPosition {
                            offset: spec.offset,
                            epoch: top.epoch.clone(),
                        }),
                        limit: Some(s.node.config.client.recovery_max_publication_limit),
                        reverse: false,
                        meta_ttl,
                    },
                )
                .await
                .map_err(internal)?;
            let top_now = h.position.offset;
            recovered = match (h.publications.first(), h.publications.last()) {
                (None, _) => top_now == spec.offset,
                (Some(f), Some(l)) => f.offset == spec.offset + 1 && l.offset == top_now,
                _ => false,
            };
            pubs = h.publications;
        }
    }
    if !recovered {
        if spec.reject_unrecovered {
            return Err(CmdError::Error(error::UNRECOVERABLE_POSITION));
        }
        return Ok((
            Positioned {
                epoch: top.epoch,
                offset: top.offset,
                recovered: false,
                was_recovering: true,
                publications: vec![],
            },
            top.offset,
        ));
    }
    let last = pubs
        .last()
        .map(|p| p.offset)
        .unwrap_or(spec.offset)
        .max(spec.offset);
    Ok((
        Positioned {
            epoch: top.epoch,
            offset: spec.offset,
            recovered: true,
            was_recovering: true,
            publications: pubs,
        },
        last,
    ))
}

/// API `subscribe`: subscribe a live connection server-side and tell it with a Subscribe push.
pub(crate) async fn server_push_subscribe(
    s: &mut Session,
    req: ServerSubscribe,
) -> Result<(), Disconnect> {
    let mut spec = SubscribeSpec {
        server_side: true,
        chan_info: req.info,
        data: req.data,
        expire_at: req.expire_at.filter(|t| *t > 0),
        ..Default::default()
    };
    if let Some(since) = req.recover_since {
        spec.recover = true;
        spec.epoch = since.epoch;
        spec.offset = since.offset;
    }
    let channel = req.channel;
    let (res, sub, last) = match subscribe_channel(s, &channel, spec).await {
        Ok(v) => v,
        Err(CmdError::Disconnect(code)) => return Err(Disconnect::code(code)),
        Err(CmdError::Error(code)) => {
            tracing::debug!(%channel, code, "server-side subscribe skipped");
            return Ok(());
        }
    };
    let push = proto::Push {
        channel: channel.clone(),
        subscribe: Some(proto::Subscribe {
            recoverable: res.recoverable,
            epoch: res.epoch.clone(),
            offset: res.offset,
            positioned: res.positioned,
            data: res.data.clone(),
        }),
        ..Default::default()
    };
    s.send_reply(&Reply {
        push: Some(push),
        ..Default::default()
    })?;
    for p in res.publications {
        let push = proto::Push {
            channel: channel.clone(),
            r#pub: Some(p),
            ..Default::default()
        };
        s.send_reply(&Reply {
            push: Some(push),
            ..Default::default()
        })?;
    }
    sub.flush(last).map_err(Disconnect::code)
}
