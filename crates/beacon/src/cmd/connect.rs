//! `connect`: authenticate (JWT, anonymous, insecure), register, server-side subscriptions.

use super::subscribe::{subscribe_channel, SubscribeSpec};
use crate::auth::{info_bytes, now_unix, TokenError};
use crate::session::{CmdError, CmdResult, Session};
use std::collections::HashMap;
use wowlab_protocol::codes::{disconnect, error};
use wowlab_protocol::proto::{ConnectRequest, ConnectResult, Reply};

pub(crate) async fn handle(s: &mut Session, id: u32, req: ConnectRequest) -> CmdResult {
    let cfg = s.node.config.client.clone();
    let mut server_subs: Vec<(String, SubscribeSpec)> = Vec::new();
    if !req.token.is_empty() {
        let claims = match s.node.conn_verifier.verify_connection(&req.token) {
            Ok(c) => c,
            Err(TokenError::Expired) => return Err(CmdError::Error(error::TOKEN_EXPIRED)),
            Err(TokenError::Invalid(e)) => {
                tracing::info!(client = %s.conn.client, error = %e, "invalid connection token");
                return Err(CmdError::Disconnect(disconnect::INVALID_TOKEN));
            }
        };
        if claims.sub.is_empty() && cfg.disallow_anonymous_connection_tokens {
            return Err(CmdError::Disconnect(disconnect::PERMISSION_DENIED));
        }
        s.conn_info = info_bytes(&claims.info, &claims.b64info)
            .map_err(|_| CmdError::Disconnect(disconnect::INVALID_TOKEN))?;
        let expire_at = match claims.expire_at {
            Some(0) => None,
            Some(t) => Some(t),
            None => claims.exp,
        };
        if expire_at.is_some_and(|t| t <= now_unix()) {
            return Err(CmdError::Error(error::EXPIRED));
        }
        s.expire_at = expire_at;
        s.user = claims.sub;
        if !claims.subs.is_empty() {
            for (channel, o) in claims.subs {
                let spec = SubscribeSpec::from_token_options(&o)
                    .map_err(|_| CmdError::Disconnect(disconnect::INVALID_TOKEN))?;
                server_subs.push((channel, spec));
            }
        } else {
            for channel in claims.channels {
                server_subs.push((channel, SubscribeSpec::default()));
            }
        }
    } else if !(cfg.insecure || cfg.allow_anonymous_connect_without_token) {
        // No credentials at all.
        return Err(CmdError::Disconnect(disconnect::BAD_REQUEST));
    }
    if cfg.subscribe_to_user_personal_channel.enabled && !s.user.is_empty() {
        let ch = s.node.rules.personal_channel(
            &cfg.subscribe_to_user_personal_channel
                .personal_channel_namespace,
            &s.user,
        );
        if !server_subs.iter().any(|(c, _)| *c == ch) {
            server_subs.push((ch, SubscribeSpec::default()));
        }
    }
    // Validate every server-side channel before subscribing anything.
    for (channel, _) in &server_subs {
        super::channel_options(s, channel)?;
    }
    *s.conn.user.lock() = s.user.clone();
    if s.node.register(&s.conn, &s.user).is_err() {
        crate::limits::refused(crate::limits::USER_LIMIT);
        tracing::info!(user = %s.user, client = %s.conn.client,
            limit = cfg.user_connection_limit, "limit of connections for user reached");
        return Err(CmdError::Disconnect(disconnect::CONNECTION_LIMIT));
    }
    s.on_connected();

    let mut result = ConnectResult {
        client: s.conn.client.clone(),
        version: crate::node::VERSION.to_string(),
        ping: cfg.ping_interval.get().as_secs().clamp(1, u32::MAX as u64) as u32,
        pong: true,
        ..Default::default()
    };
    if let Some(exp) = s.expire_at {
        result.expires = true;
        result.ttl = crate::session::ttl_secs(exp);
    }
    if s.emulation {
        result.session = s.conn.session.clone();
        result.node = s.node.id.clone();
    }
    if cfg.connect_include_server_time {
        result.time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
    }
    // The connect reply must precede every publication of server-side channels, so hold
    // their deliveries until it is queued.
    let mut pending = Vec::new();
    let mut subs: HashMap<String, wowlab_protocol::proto::SubscribeResult> = HashMap::new();
    for (channel, mut spec) in server_subs {
        spec.server_side = true;
        if let Some(r) = req.subs.get(&channel) {
            spec.recover = r.recover;
            spec.epoch = r.epoch.clone();
            spec.offset = r.offset;
        }
        match subscribe_channel(s, &channel, spec).await {
            Ok((res, sub, last)) => {
                subs.insert(channel, res);
                pending.push((sub, last));
            }
            Err(CmdError::Error(code)) if code == error::UNRECOVERABLE_POSITION => {}
            Err(e) => return Err(e),
        }
    }
    result.subs = subs;
    let reply = Reply {
        id,
        connect: Some(result),
        ..Default::default()
    };
    s.send_reply(&reply)
        .map_err(|d| CmdError::Disconnect(d.code))?;
    for (sub, last) in pending {
        sub.flush(last).map_err(CmdError::Disconnect)?;
    }
    Ok(None)
}
