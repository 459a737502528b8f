//! The node's routes over the tunnel. Nodes expose no inbound port: while registered, a node
//! answers tunnel requests for host = its node id (subjects `tunnel.v1.<base64url(id)>.…`,
//! see `wowlab_tunnel::subject`) with `GET /status` and `GET /logs[?follow=1]`, for the
//! studio's live status and log tail.

use std::sync::Arc;

use axum::Router;
use wowlab_api::NodeId;
use wowlab_tunnel::{Responder, ResponderOptions, Transport};

use crate::logs::{self, LogTail};
use crate::status::{self, StatusSource};

/// The routes served through the tunnel.
pub fn router(status: StatusSource, tail: LogTail) -> Router {
    status::router(status).merge(logs::router(tail))
}

/// Serves `app` for `node_id`; a transport failure is logged and the node runs on without
/// live status (work does not depend on the tunnel).
pub(crate) async fn serve(
    transport: Arc<dyn Transport>,
    node_id: NodeId,
    app: Router,
) -> Option<Responder> {
    let host = node_id.to_string();
    match Responder::serve(transport, &host, app, ResponderOptions::default()).await {
        Ok(r) => {
            tracing::info!(%node_id, "serving status and logs through the tunnel");
            Some(r)
        }
        Err(e) => {
            tracing::warn!(%node_id, error = %e, "tunnel responder not started: no live status");
            None
        }
    }
}
