//! `publish` from a client: permission by namespace options, history per namespace.

use crate::engine::Publication;
use crate::session::{CmdError, CmdResult, Session};
use wowlab_protocol::codes::error;
use wowlab_protocol::proto::{PublishRequest, PublishResult, Reply};

pub(crate) async fn handle(s: &mut Session, req: PublishRequest) -> CmdResult {
    let opts = super::channel_options(s, &req.channel)?;
    let ok = super::allowed(
        s,
        &req.channel,
        opts.allow_publish_for_client,
        opts.allow_publish_for_subscriber,
        opts.allow_publish_for_anonymous,
    );
    if !ok {
        return Err(CmdError::Error(error::PERMISSION_DENIED));
    }
    if req.data.is_empty() {
        return Err(CmdError::Error(error::BAD_REQUEST));
    }
    let chan_info = s.subs.get(&req.channel).and_then(|x| x.chan_info.clone());
    let publication = Publication {
        data: req.data,
        info: Some(s.client_info(chan_info)),
        ..Default::default()
    };
    crate::api::publish_to(&s.node, &req.channel, &opts, publication)
        .await
        .map_err(|_| CmdError::Error(error::INTERNAL))?;
    Ok(Some(Reply {
        publish: Some(PublishResult {}),
        ..Default::default()
    }))
}
