//! Idle-connection memory: open N authenticated connections, read the server's VmRSS and its
//! anonymous part (RssAnon: heap and stacks, without the executable's pages that serving the
//! first connections faults in) before and after, report bytes per connection. Connections
//! answer pings while held.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use wowlab_protocol::codec::{self, Protocol};

use crate::{beacon_ws, procs};

/// What one idle run measured.
#[derive(Debug, Serialize)]
pub struct IdleResult {
    pub connections: usize,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub bytes_per_connection: u64,
    pub anon_before_kib: u64,
    pub anon_after_kib: u64,
    /// Growth of anonymous resident memory per connection.
    pub anon_bytes_per_connection: u64,
}

/// Open `n` connections to `url` (JWT-authenticated), measure beacon (`pid`) RSS, close them.
pub async fn run(url: &str, secret: &str, n: usize, pid: u32) -> Result<IdleResult> {
    let before = procs::rss_kib(pid)?;
    let anon_before = procs::rss_anon_kib(pid)?;
    let token = beacon_ws::token(secret, "idle")?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut handles = Vec::with_capacity(n);
    let mut opening = futures_util::stream::iter(0..n)
        .map(|_| beacon_ws::open(url, &token, None))
        .buffer_unordered(128);
    let mut opened = 0usize;
    while let Some(ws) = opening.next().await {
        let ws = ws.with_context(|| format!("opening idle connection {}", opened + 1))?;
        opened += 1;
        handles.push(tokio::spawn(hold(ws, stop_rx.clone())));
    }
    drop(opening);
    // Let the server settle (buffers shrink, deferred work runs) before reading RSS.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = procs::rss_kib(pid)?;
    let anon_after = procs::rss_anon_kib(pid)?;
    let _ = stop_tx.send(true);
    let mut lost = 0;
    for h in handles {
        if !matches!(h.await, Ok(Ok(()))) {
            lost += 1;
        }
    }
    if lost > 0 {
        bail!("{lost} of {n} idle connections were closed by the server during the measurement");
    }
    Ok(IdleResult {
        connections: n,
        rss_before_kib: before,
        rss_after_kib: after,
        bytes_per_connection: after.saturating_sub(before) * 1024 / n.max(1) as u64,
        anon_before_kib: anon_before,
        anon_after_kib: anon_after,
        anon_bytes_per_connection: anon_after.saturating_sub(anon_before) * 1024 / n.max(1) as u64,
    })
}

/// Keep one connection open, answering pings, until told to stop.
async fn hold(mut ws: beacon_ws::Ws, mut stop: watch::Receiver<bool>) -> Result<()> {
    loop {
        let msg = tokio::select! {
            _ = stop.changed() => {
                let _ = ws.close(None).await;
                return Ok(());
            }
            m = ws.next() => m,
        };
        match msg {
            Some(Ok(Message::Binary(b))) => {
                for r in codec::decode_replies(Protocol::Protobuf, &b)? {
                    if beacon_ws::is_ping(&r) {
                        ws.send(beacon_ws::pong()?).await?;
                    }
                }
            }
            Some(Ok(Message::Close(f))) => bail!("server closed an idle connection: {f:?}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => bail!("idle connection ended"),
        }
    }
}
