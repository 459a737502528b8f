//! `presence`: who is in a channel.

use crate::hub::wire_info;
use crate::session::{CmdError, CmdResult, Session};
use wowlab_protocol::codes::error;
use wowlab_protocol::proto::{PresenceRequest, PresenceResult, Reply};

/// Shared check for presence and presence_stats: 108 when off, 103 when not allowed.
pub(crate) fn check(s: &Session, channel: &str) -> Result<(), CmdError> {
    let opts = super::channel_options(s, channel)?;
    if !opts.presence {
        return Err(CmdError::Error(error::NOT_AVAILABLE));
    }
    if !super::allowed(
        s,
        channel,
        opts.allow_presence_for_client,
        opts.allow_presence_for_subscriber,
        opts.allow_presence_for_anonymous,
    ) {
        return Err(CmdError::Error(error::PERMISSION_DENIED));
    }
    Ok(())
}

pub(crate) async fn handle(s: &mut Session, req: PresenceRequest) -> CmdResult {
    check(s, &req.channel)?;
    let p = s
        .node
        .presence
        .presence(&req.channel)
        .await
        .map_err(|_| CmdError::Error(error::INTERNAL))?;
    let presence = p.iter().map(|(k, v)| (k.clone(), wire_info(v))).collect();
    Ok(Some(Reply {
        presence: Some(PresenceResult { presence }),
        ..Default::default()
    }))
}
