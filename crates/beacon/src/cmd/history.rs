//! `history`: read a channel stream (limit, since, reverse).

use crate::engine::{EngineError, HistoryOptions, StreamPosition};
use crate::hub::wire_publication;
use crate::session::{CmdError, CmdResult, Session};
use wowlab_protocol::codes::error;
use wowlab_protocol::proto::{HistoryRequest, HistoryResult, Reply};

pub(crate) async fn handle(s: &mut Session, req: HistoryRequest) -> CmdResult {
    let opts = super::channel_options(s, &req.channel)?;
    if !opts.history_enabled() {
        return Err(CmdError::Error(error::NOT_AVAILABLE));
    }
    if !super::allowed(
        s,
        &req.channel,
        opts.allow_history_for_client,
        opts.allow_history_for_subscriber,
        opts.allow_history_for_anonymous,
    ) {
        return Err(CmdError::Error(error::PERMISSION_DENIED));
    }
    let max = s.node.config.client.history_max_publication_limit;
    let limit = if req.limit == 0 {
        Some(0)
    } else if req.limit < 0 || req.limit as usize > max {
        Some(max)
    } else {
        Some(req.limit as usize)
    };
    if req.reverse && req.since.as_ref().is_some_and(|p| p.offset == 0) {
        return Err(CmdError::Error(error::BAD_REQUEST));
    }
    let since = req.since.map(|p| StreamPosition {
        offset: p.offset,
        epoch: p.epoch,
    });
    let h = s
        .node
        .broker
        .history(
            &req.channel,
            &HistoryOptions {
                since,
                limit,
                reverse: req.reverse,
                meta_ttl: opts.history_meta_ttl.get(),
            },
        )
        .await
        .map_err(|e| match e {
            EngineError::UnrecoverablePosition => CmdError::Error(error::UNRECOVERABLE_POSITION),
            EngineError::NotAvailable => CmdError::Error(error::NOT_AVAILABLE),
            _ => CmdError::Error(error::INTERNAL),
        })?;
    Ok(Some(Reply {
        history: Some(HistoryResult {
            publications: h.publications.iter().map(wire_publication).collect(),
            epoch: h.position.epoch,
            offset: h.position.offset,
        }),
        ..Default::default()
    }))
}
