//! `presence_stats`: client and distinct user counts.

use crate::session::{CmdError, CmdResult, Session};
use wowlab_protocol::codes::error;
use wowlab_protocol::proto::{PresenceStatsRequest, PresenceStatsResult, Reply};

pub(crate) async fn handle(s: &mut Session, req: PresenceStatsRequest) -> CmdResult {
    super::presence::check(s, &req.channel)?;
    let st = s
        .node
        .presence
        .presence_stats(&req.channel)
        .await
        .map_err(|_| CmdError::Error(error::INTERNAL))?;
    Ok(Some(Reply {
        presence_stats: Some(PresenceStatsResult {
            num_clients: st.num_clients,
            num_users: st.num_users,
        }),
        ..Default::default()
    }))
}
