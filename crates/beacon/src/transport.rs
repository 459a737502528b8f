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

/// CORS for the HTTP transports: allowed origins get `Access-Control-Allow-*` headers and
/// preflight answers (WebSocket and the server API are not affected: no Origin, or no preflight).
pub(crate) async fn cors(
    axum::extract::State(node): axum::extract::State<Arc<crate::node::Node>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{header, HeaderValue, Method, StatusCode};
    use axum::response::IntoResponse;
    let path = req.uri().path();
    let emulation =
        path == "/emulation" || path == "/connection/http_stream" || path == "/connection/sse";
    let origin = req.headers().get(header::ORIGIN).cloned();
    let Some(origin) =
        origin.filter(|_| emulation && websocket::origin_allowed(&node, req.headers()))
    else {
        return next.run(req).await;
    };
    let preflight = req.method() == Method::OPTIONS;
    let requested = req
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned();
    let mut resp = if preflight {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    if preflight {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        if let Some(r) = requested {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, r);
        }
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
    resp
}

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
    /// True when one encoded message is a valid frame as is (WebSocket).
    fn single_message_frames(&self) -> bool {
        false
    }
    /// Writes one batched frame.
    fn send(&mut self, frame: Bytes) -> impl Future<Output = Result<(), ()>> + Send;
    /// Signals a disconnect (close frame or disconnect push) and ends the transport.
    fn close(&mut self, d: Disconnect) -> impl Future<Output = ()> + Send;
}

/// Drives a session until it ends.
pub(crate) async fn run<T: Transport>(mut session: Session, mut t: T) {
    let conn: Arc<ConnShared> = session.conn.clone();
    let node = session.node.clone();
    let write_timeout = node.config.websocket.write_timeout.get();
    let mut buf: VecDeque<Item> = VecDeque::new();
    // One timer per connection, re-armed only when the session's deadline changes.
    let sleep = tokio::time::sleep_until(session.next_deadline());
    tokio::pin!(sleep);
    let outcome: Option<Disconnect> = loop {
        if node
            .shutting_down
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            break Some(Disconnect::code(disconnect::SHUTDOWN));
        }
        if session.take_deadline_changed() {
            sleep.as_mut().reset(session.next_deadline());
        }
        let step: Result<(), Disconnect> = tokio::select! {
            biased;
            _ = conn.wait() => flush(&mut session, &mut t, &mut buf, write_timeout).await,
            incoming = t.recv() => match incoming {
                // Boxed so the idle connection future stays small: the command handlers'
                // state machines exist only while they run.
                Incoming::Frame(data) => match Box::pin(crate::wake::with_deferred_wakes(
                    handle_burst(&mut session, &mut t, data),
                ))
                .await
                {
                    Ok(Burst::Closed) => break None,
                    Ok(Burst::Done) => Ok(()),
                    Err(d) => Err(d),
                },
                Incoming::TooBig => Err(too_big()),
                Incoming::Closed => break None,
            },
            _ = &mut sleep => {
                let r = Box::pin(session.on_timer()).await;
                session.mark_deadline_changed();
                r
            }
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
            let _ = flush(&mut session, &mut t, &mut buf, write_timeout).await;
        }
        tracing::debug!(client = %conn.client, code = d.code, reason = %d.reason, "disconnect");
        metrics::counter!("beacon_disconnects", "code" => d.code.to_string()).increment(1);
        if d.code != disconnect::WRITE_ERROR {
            Box::pin(t.close(d)).await;
        }
    }
    Box::pin(session.cleanup()).await;
}

/// Most frames handled in one burst before the loop turns to writing and timers again.
const MAX_BURST: usize = 64;

/// How a burst of incoming frames ended.
enum Burst {
    /// No further frame was ready (or the burst reached `MAX_BURST`).
    Done,
    /// The peer went away.
    Closed,
}

fn too_big() -> Disconnect {
    Disconnect {
        code: 1009,
        reason: "message too big".into(),
    }
}

/// Handles `first` and then every further frame the transport has ready without waiting (up
/// to `MAX_BURST`), so that, run under `with_deferred_wakes`, subscribers are woken once per
/// burst of publications rather than once per publication.
async fn handle_burst<T: Transport>(
    s: &mut Session,
    t: &mut T,
    first: Bytes,
) -> Result<Burst, Disconnect> {
    s.handle_frame(&first).await?;
    for _ in 1..MAX_BURST {
        match poll_once(std::pin::pin!(t.recv())).await {
            std::task::Poll::Ready(Incoming::Frame(data)) => s.handle_frame(&data).await?,
            std::task::Poll::Ready(Incoming::TooBig) => return Err(too_big()),
            std::task::Poll::Ready(Incoming::Closed) => return Ok(Burst::Closed),
            std::task::Poll::Pending => break,
        }
    }
    Ok(Burst::Done)
}

/// Writes everything queued as one frame, running control requests in order. `buf` is the
/// connection's spare queue buffer, swapped with the live one to avoid reallocating.
async fn flush<T: Transport>(
    s: &mut Session,
    t: &mut T,
    buf: &mut VecDeque<Item>,
    write_timeout: std::time::Duration,
) -> Result<(), Disconnect> {
    s.conn.drain(buf);
    let result = write_items(s, t, buf, write_timeout).await;
    buf.clear();
    if buf.capacity() > 64 {
        *buf = VecDeque::new();
    }
    result
}

async fn write_items<T: Transport>(
    s: &mut Session,
    t: &mut T,
    items: &mut VecDeque<Item>,
    write_timeout: std::time::Duration,
) -> Result<(), Disconnect> {
    // Common case on a busy channel: one message, sent without copying.
    if items.len() == 1 && t.single_message_frames() && matches!(items.front(), Some(Item::Data(_)))
    {
        if let Some(Item::Data(b)) = items.pop_front() {
            return write(t, b, write_timeout).await;
        }
    }
    let mut frame: Vec<u8> = Vec::new();
    while let Some(item) = items.pop_front() {
        match item {
            Item::Data(b) => {
                if frame.is_empty() {
                    let total: usize = items
                        .iter()
                        .map(|i| match i {
                            Item::Data(b) => b.len() + 8,
                            Item::Control(_) => 0,
                        })
                        .sum();
                    frame.reserve(b.len() + total + 8);
                }
                t.append(&mut frame, &b)
            }
            Item::Control(c) => {
                if !frame.is_empty() {
                    write(t, Bytes::from(std::mem::take(&mut frame)), write_timeout).await?;
                }
                Box::pin(s.handle_control(c)).await?;
                s.mark_deadline_changed();
            }
        }
    }
    if !frame.is_empty() {
        write(t, Bytes::from(frame), write_timeout).await?;
    }
    Ok(())
}

/// Polls `fut` once with the task's own waker and reports what it returned, so the caller can
/// tell "ready now" from "would wait".
async fn poll_once<F: Future>(mut fut: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx))).await
}

/// Sends a frame; the write timeout is armed only if the socket is not ready at once.
async fn write<T: Transport>(
    t: &mut T,
    frame: Bytes,
    timeout: std::time::Duration,
) -> Result<(), Disconnect> {
    let fut = t.send(frame);
    tokio::pin!(fut);
    let first = poll_once(fut.as_mut()).await;
    let result = match first {
        std::task::Poll::Ready(r) => r,
        std::task::Poll::Pending => match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(()),
        },
    };
    result.map_err(|_| Disconnect::code(disconnect::WRITE_ERROR))
}
