//! The node's routes over the tunnel. Nodes expose no inbound port: while registered, a node
//! answers tunnel requests for host = its node id (subjects `tunnel.v1.<base64url(id)>.…`,
//! see `wowlab_tunnel::subject`) with `GET /status` and `GET /logs[?follow=1]`, for the
//! studio's live status and log tail.
//!
//! Over NATS the node first asks the sentinel for credentials
//! (`POST /api/node/tunnel-credentials`): a JWT that allows only its own subjects, refetched
//! before it expires (`wowlab_tunnel::creds::connect`). A sentinel that answers `jwt: null`
//! (or predates the route) means the NATS server takes no credentials.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use tokio_util::sync::CancellationToken;
use wowlab_api::node::TunnelCredentialsResponse;
use wowlab_api::NodeId;
use wowlab_tunnel::creds::{self, CredentialSource, Credentials, CredsError, ScopedConnection};
use wowlab_tunnel::{NatsTransport, Responder, ResponderOptions, Transport};

use crate::backoff::Backoff;
use crate::client::SentinelClient;
use crate::logs::{self, LogTail};
use crate::status::{self, StatusSource};

/// How the node reaches the tunnel.
#[derive(Clone)]
pub enum TunnelSetup {
    /// A transport ready to use (in-process, or a NATS connection made by the caller).
    Transport(Arc<dyn Transport>),
    /// The grid's NATS server: connect per session with credentials from the sentinel.
    Nats(String),
}

/// The routes served through the tunnel.
pub fn router(status: StatusSource, tail: LogTail) -> Router {
    status::router(status).merge(logs::router(tail))
}

/// Serves `app` for `node_id` until `stop`; connection failures are retried with backoff
/// (work does not depend on the tunnel, so they are only logged).
pub(crate) async fn run(
    setup: TunnelSetup,
    client: SentinelClient,
    node_id: NodeId,
    app: Router,
    stop: CancellationToken,
) {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
    loop {
        let attempt = async {
            let (transport, connection) = connect(&setup, &client, node_id).await?;
            let responder = Responder::serve(
                transport,
                &node_id.to_string(),
                app.clone(),
                ResponderOptions::default(),
            )
            .await
            .map_err(|e| e.to_string())?;
            Ok::<_, String>((responder, connection))
        };
        let outcome = tokio::select! {
            _ = stop.cancelled() => return,
            r = attempt => r,
        };
        match outcome {
            Ok((responder, connection)) => {
                tracing::info!(%node_id, scoped = connection.is_some(), "serving status and logs through the tunnel");
                stop.cancelled().await;
                responder.shutdown().await;
                drop(connection);
                return;
            }
            Err(e) => {
                let wait = backoff.next_delay();
                tracing::warn!(%node_id, error = %e, retry_in = ?wait, "tunnel not reachable: no live status yet");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

/// The transport of one session, and the connection whose credentials are kept fresh.
async fn connect(
    setup: &TunnelSetup,
    client: &SentinelClient,
    node_id: NodeId,
) -> Result<(Arc<dyn Transport>, Option<ScopedConnection>), String> {
    let url = match setup {
        TunnelSetup::Transport(t) => return Ok((t.clone(), None)),
        TunnelSetup::Nats(url) => url,
    };
    let first = match client.tunnel_credentials().await {
        Ok(r) => r,
        // A sentinel from before scoped credentials: the server must be open.
        Err(e) if matches!(e.status(), Some(404 | 405)) => open_response(node_id),
        Err(e) => return Err(format!("tunnel credentials: {e}")),
    };
    let Some(first_creds) = credentials(&first) else {
        let t = NatsTransport::connect(url)
            .await
            .map_err(|e| e.to_string())?;
        return Ok((Arc::new(t), None));
    };
    let source = Arc::new(FromSentinel {
        client: client.clone(),
        first: Mutex::new(Some(first_creds)),
    });
    let conn = creds::connect(
        url,
        source,
        creds::ScopedOptions {
            name: format!("wowlab-node {node_id}"),
            inbox_prefix: Some(first.inbox_prefix),
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok((Arc::new(conn.transport()), Some(conn)))
}

fn open_response(node_id: NodeId) -> TunnelCredentialsResponse {
    TunnelCredentialsResponse {
        node_id,
        jwt: None,
        issued_at_ms: 0,
        expires_at_ms: 0,
        inbox_prefix: String::new(),
    }
}

fn credentials(r: &TunnelCredentialsResponse) -> Option<Credentials> {
    Some(Credentials {
        jwt: r.jwt.clone()?,
        issued_at_ms: r.issued_at_ms,
        expires_at_ms: r.expires_at_ms,
    })
}

/// Credentials from the sentinel's signed node API (the first answer is used once).
struct FromSentinel {
    client: SentinelClient,
    first: Mutex<Option<Credentials>>,
}

#[async_trait::async_trait]
impl CredentialSource for FromSentinel {
    async fn fetch(&self) -> Result<Credentials, CredsError> {
        if let Some(c) = self.first.lock().ok().and_then(|mut f| f.take()) {
            return Ok(c);
        }
        let r = self
            .client
            .tunnel_credentials()
            .await
            .map_err(|e| CredsError::Fetch(e.to_string()))?;
        credentials(&r).ok_or_else(|| {
            CredsError::Fetch("the sentinel no longer issues tunnel credentials".into())
        })
    }
}
