//! `refresh`: a new connection token extends the connection's expiry (Centrifugo's refresh
//! flow, `centrifugal/centrifuge` `client.go`).

use crate::auth::{info_bytes, now_unix, TokenError};
use crate::session::{CmdError, CmdResult, Session};
use wowlab_protocol::codes::{disconnect, error};
use wowlab_protocol::proto::{RefreshRequest, RefreshResult, Reply};

pub(crate) async fn handle(s: &mut Session, req: RefreshRequest) -> CmdResult {
    if req.token.is_empty() {
        return Err(CmdError::Disconnect(disconnect::BAD_REQUEST));
    }
    let claims = match s.node.conn_verifier.verify_connection(&req.token) {
        Ok(c) => c,
        Err(TokenError::Expired) => {
            return Err(CmdError::Disconnect(disconnect::CONNECTION_EXPIRED))
        }
        Err(TokenError::Invalid(_)) => return Err(CmdError::Disconnect(disconnect::INVALID_TOKEN)),
    };
    if claims.sub != s.user {
        return Err(CmdError::Disconnect(disconnect::INVALID_TOKEN));
    }
    let expire_at = match claims.expire_at {
        Some(0) => None,
        Some(t) => Some(t),
        None => claims.exp,
    };
    if expire_at.is_some_and(|t| t <= now_unix()) {
        return Err(CmdError::Error(error::EXPIRED));
    }
    if let Ok(Some(info)) = info_bytes(&claims.info, &claims.b64info) {
        s.conn_info = Some(info);
    }
    s.expire_at = expire_at;
    let mut r = RefreshResult {
        client: s.conn.client.clone(),
        version: crate::node::VERSION.into(),
        ..Default::default()
    };
    if let Some(t) = expire_at {
        r.expires = true;
        r.ttl = crate::session::ttl_secs(t);
    }
    Ok(Some(Reply {
        refresh: Some(r),
        ..Default::default()
    }))
}
