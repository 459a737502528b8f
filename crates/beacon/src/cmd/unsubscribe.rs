//! `unsubscribe`: leave a channel (no error when not subscribed, like Centrifugo).

use crate::session::{CmdError, CmdResult, Session};
use wowlab_protocol::codes::disconnect;
use wowlab_protocol::proto::{Reply, UnsubscribeRequest, UnsubscribeResult};

pub(crate) async fn handle(s: &mut Session, req: UnsubscribeRequest) -> CmdResult {
    if req.channel.is_empty() {
        return Err(CmdError::Disconnect(disconnect::BAD_REQUEST));
    }
    s.remove_subscription(&req.channel).await;
    Ok(Some(Reply {
        unsubscribe: Some(UnsubscribeResult {}),
        ..Default::default()
    }))
}
