//! `sub_refresh`: a new subscription token extends a subscription's expiry (Centrifugo's
//! subscription refresh flow, `centrifugal/centrifuge` `client.go`).

use crate::auth::{now_unix, TokenError};
use crate::session::{CmdError, CmdResult, Session};
use wowlab_protocol::codes::{disconnect, error};
use wowlab_protocol::proto::{Reply, SubRefreshRequest, SubRefreshResult};

pub(crate) async fn handle(s: &mut Session, req: SubRefreshRequest) -> CmdResult {
    if req.channel.is_empty() || req.token.is_empty() {
        return Err(CmdError::Disconnect(disconnect::BAD_REQUEST));
    }
    if !s.subs.contains_key(&req.channel) {
        return Err(CmdError::Error(error::PERMISSION_DENIED));
    }
    let claims = match s.node.sub_verifier.verify_subscription(&req.token) {
        Ok(c) => c,
        Err(TokenError::Expired) => {
            return Err(CmdError::Disconnect(disconnect::SUBSCRIPTION_EXPIRED))
        }
        Err(TokenError::Invalid(_)) => return Err(CmdError::Disconnect(disconnect::INVALID_TOKEN)),
    };
    if claims.channel != req.channel
        || claims.sub != s.user
        || (!claims.client.is_empty() && claims.client != s.conn.client)
    {
        return Err(CmdError::Disconnect(disconnect::INVALID_TOKEN));
    }
    let expire_at = match claims.expire_at {
        Some(0) => None,
        Some(t) => Some(t),
        None => claims.exp,
    };
    if expire_at.is_some_and(|t| t <= now_unix()) {
        return Err(CmdError::Disconnect(disconnect::SUBSCRIPTION_EXPIRED));
    }
    if let Some(sub) = s.subs.get_mut(&req.channel) {
        sub.expire_at = expire_at;
    }
    let mut r = SubRefreshResult::default();
    if let Some(t) = expire_at {
        r.expires = true;
        r.ttl = crate::session::ttl_secs(t);
    }
    Ok(Some(Reply {
        sub_refresh: Some(r),
        ..Default::default()
    }))
}
