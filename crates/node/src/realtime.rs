//! The beacon connection: a centrifuge client whose tokens come from the sentinel
//! ([`wowlab_api::node::PATH_TOKEN`]), with server-side subscriptions to `chunks:{node}` and
//! `nodes:{node}` (and `nodes:online` presence) granted by that token.
//!
//! Every (re)connect and every lagged event stream triggers a lease resync, so a push lost
//! while disconnected costs nothing.

use std::sync::Arc;

use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;
use wowlab_api::channels::{self, ChunkMessage, NodeMessage};
use wowlab_api::node::TokenResponse;
use wowlab_api::NodeId;
use wowlab_centrifuge::{Client, ClientConfig, ClientEvent, TokenError};

use crate::client::SentinelClient;
use crate::pool::Pool;

/// Builds the client: the first token is used at once, later ones are fetched on demand
/// (before expiry and after a "token expired" answer).
pub fn connect(sentinel: &SentinelClient, first: &TokenResponse) -> Client {
    let s = sentinel.clone();
    let cfg = ClientConfig::new(first.beacon_url.clone())
        .name("wowlab-node")
        .version(env!("CARGO_PKG_VERSION"))
        .token(first.token.clone())
        .get_token(move || {
            let s = s.clone();
            async move {
                match s.token().await {
                    Ok(t) => Ok(t.token),
                    // A refused key or an unclaimed node cannot get a token by retrying.
                    Err(e) if matches!(e.status(), Some(401 | 403 | 404)) || e.is_not_claimed() => {
                        tracing::error!(error = %e, "beacon token refused");
                        Err(TokenError::Unauthorized)
                    }
                    Err(e) => Err(TokenError::Failed(e.to_string())),
                }
            }
        });
    let client = Client::new(cfg);
    client.connect();
    client
}

/// Routes beacon events into the pool until `stop` is cancelled; `resync` is notified on
/// every (re)connect and `unlinked` cancelled when the owner unlinks the node.
pub async fn run(
    client: Client,
    node: NodeId,
    pool: Pool,
    resync: Arc<Notify>,
    unlinked: CancellationToken,
    stop: CancellationToken,
) {
    let chunks = channels::chunks(node);
    let settings = channels::node(node);
    let mut events = client.events();
    loop {
        let ev = tokio::select! {
            ev = events.recv() => ev,
            _ = stop.cancelled() => break,
        };
        match ev {
            Ok(ClientEvent::Connected { .. }) => {
                tracing::info!("connected to beacon");
                resync.notify_one();
            }
            Ok(ClientEvent::Publication {
                channel,
                publication,
            }) => {
                if channel == chunks {
                    on_chunk_message(&pool, &publication.data);
                } else if channel == settings {
                    on_node_message(&pool, &publication.data, &unlinked);
                }
            }
            Ok(ClientEvent::Disconnected { code, reason }) => {
                tracing::error!(code, %reason, "beacon connection ended; leases continue by polling");
            }
            Ok(ClientEvent::Connecting { code, reason }) => {
                tracing::debug!(code, %reason, "beacon reconnecting");
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "beacon events lagged; resyncing leases");
                resync.notify_one();
            }
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
    client.disconnect().await;
}

fn on_chunk_message(pool: &Pool, data: &[u8]) {
    match serde_json::from_slice::<ChunkMessage>(data) {
        Ok(ChunkMessage::Lease(lease)) => {
            pool.offer(lease);
        }
        Ok(ChunkMessage::Leases { leases }) => {
            for lease in leases {
                pool.offer(lease);
            }
        }
        Ok(ChunkMessage::Cancel { lease, reason }) => {
            pool.cancel(&lease, &reason);
        }
        Err(e) => tracing::warn!(error = %e, "ignoring unreadable chunks message"),
    }
}

fn on_node_message(pool: &Pool, data: &[u8], unlinked: &CancellationToken) {
    match serde_json::from_slice::<NodeMessage>(data) {
        Ok(NodeMessage::Settings(s)) => pool.apply_settings(&s),
        Ok(NodeMessage::Status { status }) if status == "unlinked" => {
            tracing::warn!("this node was unlinked by its owner");
            unlinked.cancel();
        }
        Ok(NodeMessage::Status { status }) => tracing::debug!(%status, "node status"),
        Err(e) => tracing::debug!(error = %e, "ignoring unknown nodes message"),
    }
}
