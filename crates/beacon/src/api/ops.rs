//! Server API operations shared by the HTTP API and the in-process Rust API.

use super::ApiError;
use crate::config::ChannelOptions;
use crate::control::{ControlCommand, Target};
use crate::engine::{
    ClientInfo, EngineError, HistoryOptions, HistoryResult, PresenceStats, Publication,
    PublishOptions, StreamPosition,
};
use crate::node::Node;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use wowlab_protocol::codes::{disconnect, error};

/// Publishes through the broker with the channel's history options, recording latency.
pub(crate) async fn publish_to(
    node: &Node,
    channel: &str,
    opts: &ChannelOptions,
    publication: Publication,
) -> Result<StreamPosition, EngineError> {
    let started = Instant::now();
    let popts = PublishOptions {
        history_size: opts.history_size,
        history_ttl: opts.history_ttl.get(),
        history_meta_ttl: opts.history_meta_ttl.get(),
    };
    let r = node.broker.publish(channel, publication, &popts).await;
    metrics::histogram!("beacon_publish_duration_seconds").record(started.elapsed().as_secs_f64());
    metrics::counter!("beacon_publications").increment(1);
    r
}

fn options(node: &Node, channel: &str) -> Result<Arc<ChannelOptions>, ApiError> {
    if channel.is_empty() {
        return Err(ApiError::new(error::BAD_REQUEST));
    }
    node.rules.options(channel).map_err(|e| match e {
        crate::channel::ChannelError::UnknownNamespace => ApiError::new(error::UNKNOWN_CHANNEL),
        crate::channel::ChannelError::BadName => ApiError::new(error::BAD_REQUEST),
    })
}

fn engine_err(e: EngineError) -> ApiError {
    match e {
        EngineError::UnrecoverablePosition => ApiError::new(error::UNRECOVERABLE_POSITION),
        EngineError::NotAvailable => ApiError::new(error::NOT_AVAILABLE),
        _ => ApiError::new(error::INTERNAL),
    }
}

/// Publish options of the API.
#[derive(Debug, Clone, Default)]
pub struct PublishParams {
    /// Do not save into history.
    pub skip_history: bool,
    /// Publication tags.
    pub tags: HashMap<String, String>,
    /// Send as a fossil delta to subscribers that negotiated delta compression.
    pub delta: bool,
}

pub(crate) async fn publish(
    node: &Node,
    channel: &str,
    data: Bytes,
    params: PublishParams,
) -> Result<StreamPosition, ApiError> {
    let opts = options(node, channel)?;
    if data.is_empty() {
        return Err(ApiError::new(error::BAD_REQUEST));
    }
    let publication = Publication {
        data,
        tags: params.tags,
        delta: params.delta,
        ..Default::default()
    };
    let opts = if params.skip_history {
        Arc::new(ChannelOptions {
            history_size: 0,
            ..(*opts).clone()
        })
    } else {
        opts
    };
    publish_to(node, channel, &opts, publication)
        .await
        .map_err(engine_err)
}

pub(crate) async fn presence(
    node: &Node,
    channel: &str,
) -> Result<HashMap<String, ClientInfo>, ApiError> {
    let opts = options(node, channel)?;
    if !opts.presence {
        return Err(ApiError::new(error::NOT_AVAILABLE));
    }
    node.presence.presence(channel).await.map_err(engine_err)
}

pub(crate) async fn presence_stats(node: &Node, channel: &str) -> Result<PresenceStats, ApiError> {
    let opts = options(node, channel)?;
    if !opts.presence {
        return Err(ApiError::new(error::NOT_AVAILABLE));
    }
    node.presence
        .presence_stats(channel)
        .await
        .map_err(engine_err)
}

pub(crate) async fn history(
    node: &Node,
    channel: &str,
    limit: i64,
    since: Option<StreamPosition>,
    reverse: bool,
) -> Result<HistoryResult, ApiError> {
    let opts = options(node, channel)?;
    if !opts.history_enabled() {
        return Err(ApiError::new(error::NOT_AVAILABLE));
    }
    let limit = if limit < 0 {
        None
    } else {
        Some(limit as usize)
    };
    node.broker
        .history(
            channel,
            &HistoryOptions {
                since,
                limit,
                reverse,
                meta_ttl: opts.history_meta_ttl.get(),
            },
        )
        .await
        .map_err(engine_err)
}

pub(crate) async fn history_remove(node: &Node, channel: &str) -> Result<(), ApiError> {
    let opts = options(node, channel)?;
    if !opts.history_enabled() {
        return Err(ApiError::new(error::NOT_AVAILABLE));
    }
    node.broker
        .remove_history(channel)
        .await
        .map_err(engine_err)
}

fn target(user: &str, client: &str, session: &str) -> Target {
    Target {
        user: user.to_string(),
        client: client.to_string(),
        session: session.to_string(),
    }
}

/// Parameters of an API subscribe.
#[derive(Debug, Clone, Default)]
pub struct SubscribeParams {
    /// Channel info attached to the subscription.
    pub info: Option<Bytes>,
    /// Data sent in the Subscribe push.
    pub data: Option<Bytes>,
    /// Subscription expiry (Unix s).
    pub expire_at: Option<i64>,
    /// Recover from this position.
    pub recover_since: Option<StreamPosition>,
}

pub(crate) fn subscribe(
    node: &Node,
    channel: &str,
    user: &str,
    client: &str,
    session: &str,
    p: SubscribeParams,
) -> Result<(), ApiError> {
    options(node, channel)?;
    if user.is_empty() && client.is_empty() {
        return Err(ApiError::new(error::BAD_REQUEST));
    }
    ControlCommand::Subscribe {
        target: target(user, client, session),
        channel: channel.to_string(),
        info: p.info.map(|b| b.to_vec()),
        data: p.data.map(|b| b.to_vec()),
        expire_at: p.expire_at,
        recover_since: p.recover_since.map(|s| (s.offset, s.epoch)),
    }
    .run(node);
    Ok(())
}

pub(crate) fn unsubscribe(
    node: &Node,
    channel: &str,
    user: &str,
    client: &str,
    session: &str,
) -> Result<(), ApiError> {
    options(node, channel)?;
    if user.is_empty() && client.is_empty() {
        return Err(ApiError::new(error::BAD_REQUEST));
    }
    ControlCommand::Unsubscribe {
        target: target(user, client, session),
        channel: channel.to_string(),
    }
    .run(node);
    Ok(())
}

pub(crate) fn disconnect_clients(
    node: &Node,
    user: &str,
    client: &str,
    session: &str,
    whitelist: &[String],
    code: Option<(u32, String)>,
) -> Result<(), ApiError> {
    if user.is_empty() && client.is_empty() {
        return Err(ApiError::new(error::BAD_REQUEST));
    }
    let (code, reason) = code.unwrap_or_else(|| {
        (
            disconnect::FORCE_DISCONNECT,
            disconnect::reason(disconnect::FORCE_DISCONNECT).to_string(),
        )
    });
    ControlCommand::Disconnect {
        target: target(user, client, session),
        whitelist: whitelist.to_vec(),
        code,
        reason,
    }
    .run(node);
    Ok(())
}

pub(crate) fn refresh(
    node: &Node,
    user: &str,
    client: &str,
    session: &str,
    expired: bool,
    expire_at: Option<i64>,
    info: Option<Bytes>,
) -> Result<(), ApiError> {
    if user.is_empty() && client.is_empty() {
        return Err(ApiError::new(error::BAD_REQUEST));
    }
    ControlCommand::Refresh {
        target: target(user, client, session),
        expired,
        expire_at: expire_at.filter(|t| *t > 0),
        info: info.map(|b| b.to_vec()),
    }
    .run(node);
    Ok(())
}

pub(crate) fn channels(node: &Node, pattern: &str) -> Vec<(String, usize)> {
    let m = (!pattern.is_empty()).then(|| wildmatch::WildMatch::new(pattern));
    node.hub
        .channels()
        .into_iter()
        .filter(|(c, _)| m.as_ref().is_none_or(|m| m.matches(c)))
        .collect()
}
