//! One module per client protocol command: parsing, permission checks and the reply.

pub(crate) mod connect;
pub(crate) mod history;
pub(crate) mod presence;
pub(crate) mod presence_stats;
pub(crate) mod publish;
pub(crate) mod refresh;
pub(crate) mod rpc;
pub(crate) mod send;
pub(crate) mod sub_refresh;
pub(crate) mod subscribe;
pub(crate) mod unsubscribe;

use crate::channel::ChannelError;
use crate::config::ChannelOptions;
use crate::session::{CmdError, Session};
use std::sync::Arc;
use wowlab_protocol::codes::{disconnect, error};

/// Resolves channel options; empty channel → 3501, bad name → 107, unknown namespace → 102.
pub(crate) fn channel_options(s: &Session, channel: &str) -> Result<Arc<ChannelOptions>, CmdError> {
    if channel.is_empty() {
        return Err(CmdError::Disconnect(disconnect::BAD_REQUEST));
    }
    s.node.rules.options(channel).map_err(|e| match e {
        ChannelError::UnknownNamespace => CmdError::Error(error::UNKNOWN_CHANNEL),
        ChannelError::BadName => CmdError::Error(error::BAD_REQUEST),
    })
}

/// The "for_client / for_subscriber / for_anonymous" permission pattern shared by publish,
/// presence and history.
pub(crate) fn allowed(
    s: &Session,
    channel: &str,
    for_client: bool,
    for_subscriber: bool,
    for_anonymous: bool,
) -> bool {
    let user_ok = !s.user.is_empty() || for_anonymous;
    (for_client && user_ok)
        || (for_subscriber && user_ok && s.subs.contains_key(channel))
        || s.node.config.client.insecure
}
