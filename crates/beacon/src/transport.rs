//! Transports and the per-connection loop shared by all of them: one task per connection
//! selecting over incoming frames, the outgoing queue and the session timer.

pub(crate) mod emulation;
pub(crate) mod websocket;

use crate::conn::{ConnShared, Item};
use crate::session::{Disconnect, Session};
use bytes::Bytes;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use wowlab_protocol::codes::disconnect;

/// What a transport read produced.
pub(crate) enum Incoming {
    /// One frame of 1..N commands.
    Frame(Bytes),
    /// The peer sent more than the size limit (WebSocket closes with 1009).
    TooBig,
    /// The peer went away.
    Closed,
}

/// A bidirectional transport as the connection loop sees it.
pub(crate) trait Transport: Send {
    /// Next incoming frame; must be cancel-safe.
    fn recv(&mut self) -> impl Future<Output = Incoming> + Send;
    /// Adds one encoded message to the frame being batched.
    fn append(&self, frame: &mut Vec<u8>, msg: &[u8]);
    /// Writes one batched frame.
    fn send(&mut self, frame: Vec<u8>) -> impl Future<Output = Result<(), ()>> + Send;
    /// Signals a disconnect (close frame or disconnect push) and ends the transport.
    fn close(&mut self, d: Disconnect) -> impl Future<Output = ()> + Send;
}

/// Drives a session until it ends.
pub(crate) async fn run<T: Transport>(mut session: Session, mut t: T) {
    let conn: Arc<ConnShared> = session.conn.clone();
    let write_timeout = session.node.config.websocket.write_timeout.get();
    let outcome: Option<Disconnect> = loop {
        let deadline = session.next_deadline();
        let node = session.node.clone();
        let shutdown = node.shutdown_notify.notified();
        if node
            .shutting_down
            .load(std::sync::atomic::Ordering::Acquire)
        {
            break Some(Disconnect::code(disconnect::SHUTDOWN));
        }
        let step: Result<(), Disconnect> = tokio::select! {
            biased;
            _ = shutdown => Err(Disconnect::code(disconnect::SHUTDOWN)),
            // Handlers are boxed so the idle connection future stays small (their state
            // machines are only allocated while they run).
            _ = conn.wait() => Box::pin(flush(&mut session, &mut t, write_timeout)).await,
            incoming = t.recv() => match incoming {
                Incoming::Frame(data) => Box::pin(session.handle_frame(&data)).await,
                Incoming::TooBig => Err(Disconnect { code: 1009, reason: "message too big".into() }),
                Incoming::Closed => break None,
            },
            _ = tokio::time::sleep_until(deadline) => Box::pin(session.on_timer()).await,
        };
        if let Err(d) = step {
            break Some(d);
        }
        if conn.is_slow() {
            break Some(Disconnect::code(disconnect::SLOW));
        }
    };
    if let Some(d) = outcome {
        // Whatever was queued before the decision (e.g. the reply that caused it) goes first.
        if d.code != disconnect::SLOW && d.code != disconnect::WRITE_ERROR {
            let _ = Box::pin(flush(&mut session, &mut t, write_timeout)).await;
        }
        tracing::debug!(client = %conn.client, code = d.code, reason = %d.reason, "disconnect");
        metrics::counter!("beacon_disconnects", "code" => d.code.to_string()).increment(1);
        if d.code != disconnect::WRITE_ERROR {
            Box::pin(t.close(d)).await;
        }
    }
    Box::pin(session.cleanup()).await;
}

/// Writes everything queued as one frame, running control requests in order.
async fn flush<T: Transport>(
    s: &mut Session,
    t: &mut T,
    write_timeout: std::time::Duration,
) -> Result<(), Disconnect> {
    let mut items = VecDeque::new();
    s.conn.drain(&mut items);
    let mut frame: Vec<u8> = Vec::new();
    for item in items {
        match item {
            Item::Data(b) => t.append(&mut frame, &b),
            Item::Control(c) => {
                if !frame.is_empty() {
                    write(t, std::mem::take(&mut frame), write_timeout).await?;
                }
                s.handle_control(c).await?;
            }
        }
    }
    if !frame.is_empty() {
        write(t, frame, write_timeout).await?;
    }
    Ok(())
}

async fn write<T: Transport>(
    t: &mut T,
    frame: Vec<u8>,
    timeout: std::time::Duration,
) -> Result<(), Disconnect> {
    match tokio::time::timeout(timeout, t.send(frame)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(Disconnect::code(disconnect::WRITE_ERROR)),
    }
}
