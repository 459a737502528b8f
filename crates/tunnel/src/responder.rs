//! The serving side: answers a host's tunnel requests with any tower service (an axum
//! `Router`, for instance).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum_core::body::Body;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower_service::Service;

use crate::error::{ErrorCode, TunnelError};
use crate::flow::{FlowStats, Inbound, Outbound};
use crate::subject::HostSubjects;
use crate::timer::{recv_opt, run_opt, sleep_opt, BoxFut};
use crate::transport::{Headers, Message, Transport};
use crate::wire::{self, Frame, Kind};

/// Responder settings.
#[derive(Debug, Clone)]
pub struct ResponderOptions {
    /// Largest response body frame.
    pub frame_bytes: usize,
    /// Request bytes the client may send ahead of the handler's reads.
    pub window_bytes: u64,
    /// Longest silence from the client while the responder waits on it (request body
    /// frames, credit) before the exchange is dropped with `tunnel_idle_timeout`.
    pub idle_timeout: Duration,
    /// While a response body is open, a `ping` frame is sent this often, so a client with an
    /// idle timeout can tell a quiet stream (a followed log) from a dead responder.
    pub keepalive: Duration,
    /// How long a request id is remembered so a re-sent start is only acknowledged again.
    pub dedup_ttl: Duration,
    /// Most request ids remembered.
    pub dedup_capacity: usize,
}

impl Default for ResponderOptions {
    fn default() -> Self {
        Self {
            frame_bytes: 64 * 1024,
            window_bytes: 1024 * 1024,
            idle_timeout: Duration::from_secs(30),
            keepalive: Duration::from_secs(10),
            dedup_ttl: Duration::from_secs(60),
            dedup_capacity: 10_000,
        }
    }
}

/// Counters of one responder.
#[derive(Debug, Default)]
pub struct ResponderStats {
    flow: Arc<FlowStats>,
    handled: AtomicU64,
    acks: AtomicU64,
    peer_aborts: AtomicU64,
}

impl ResponderStats {
    /// Body byte counters (request bodies received, response bodies sent).
    pub fn flow(&self) -> &FlowStats {
        &self.flow
    }
    /// Requests handed to the service.
    pub fn handled(&self) -> u64 {
        self.handled.load(Ordering::Relaxed)
    }
    /// Ack frames sent (re-sent starts included).
    pub fn acks(&self) -> u64 {
        self.acks.load(Ordering::Relaxed)
    }
    /// Exchanges the client aborted.
    pub fn peer_aborts(&self) -> u64 {
        self.peer_aborts.load(Ordering::Relaxed)
    }
}

/// Serves one host until [`Responder::shutdown`] (or drop, which stops without waiting).
pub struct Responder {
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
    stats: Arc<ResponderStats>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type HandlerFut = BoxFut<Result<Response<Body>, TunnelError>>;
type CallFn = dyn Fn(Request<Body>) -> HandlerFut + Send + Sync;

struct Ctx {
    transport: Arc<dyn Transport>,
    subjects: HostSubjects,
    opts: ResponderOptions,
    /// This responder instance (clients pin to it).
    me: String,
    stats: Arc<ResponderStats>,
    call: Box<CallFn>,
}

impl Responder {
    /// Starts serving `host` with `service`; returns once the responder is subscribed.
    pub async fn serve<S, B>(
        transport: Arc<dyn Transport>,
        host: &str,
        service: S,
        mut opts: ResponderOptions,
    ) -> Result<Self, TunnelError>
    where
        S: Service<Request<Body>, Response = Response<B>> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        opts.frame_bytes = opts.frame_bytes.max(1);
        opts.window_bytes = opts.window_bytes.max(4);
        opts.keepalive = opts.keepalive.max(Duration::from_millis(10));
        let subjects = HostSubjects::new(host)?;
        let mut starts = transport
            .queue_subscribe(&subjects.start(), &subjects.queue())
            .await?;
        // So a fetch issued right after `serve` returns finds us.
        transport.flush().await?;
        let stats = Arc::new(ResponderStats::default());
        let call: Box<CallFn> = Box::new(move |req| {
            let mut svc = service.clone();
            Box::pin(async move {
                std::future::poll_fn(|cx| svc.poll_ready(cx))
                    .await
                    .map_err(|e| TunnelError::new(ErrorCode::Handler, e.into().to_string()))?;
                let resp = svc
                    .call(req)
                    .await
                    .map_err(|e| TunnelError::new(ErrorCode::Handler, e.into().to_string()))?;
                Ok(resp.map(Body::new))
            })
        });
        let ctx = Arc::new(Ctx {
            transport,
            subjects,
            opts,
            me: uuid::Uuid::new_v4().simple().to_string(),
            stats: stats.clone(),
            call,
        });
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let task = tokio::spawn(async move {
            let mut seen = Seen::new(ctx.opts.dedup_ttl, ctx.opts.dedup_capacity);
            let mut tasks = JoinSet::new();
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    msg = starts.next() => match msg {
                        Some(msg) => on_start(&ctx, &mut seen, &mut tasks, &stop, msg).await,
                        None => break,
                    },
                    Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                }
            }
            drop(starts);
            stop.cancel();
            while tasks.join_next().await.is_some() {}
        });
        Ok(Self {
            shutdown,
            task: Some(task),
            stats,
        })
    }

    /// This responder's counters.
    pub fn stats(&self) -> &ResponderStats {
        &self.stats
    }

    /// Stops taking requests, ends in-flight ones with `tunnel_closed` and waits for them.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Recently seen request ids, bounded in age and count.
struct Seen {
    ttl: Duration,
    cap: usize,
    ids: HashMap<String, Instant>,
    order: VecDeque<(Instant, String)>,
}

impl Seen {
    fn new(ttl: Duration, cap: usize) -> Self {
        Self {
            ttl,
            cap: cap.max(1),
            ids: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Records `id`; false when it was already there (a re-sent start).
    fn insert(&mut self, id: &str) -> bool {
        let now = Instant::now();
        while let Some((at, _)) = self.order.front() {
            if now.duration_since(*at) < self.ttl && self.order.len() < self.cap {
                break;
            }
            if let Some((_, old)) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
        if self.ids.contains_key(id) {
            return false;
        }
        self.ids.insert(id.to_owned(), now);
        self.order.push_back((now, id.to_owned()));
        true
    }
}

impl Ctx {
    fn down_headers(&self, kind: Kind, id: &str) -> Headers {
        let mut h = wire::headers(kind, id);
        h.insert(wire::H_RESPONDER.into(), self.me.clone());
        h
    }

    async fn send_ack(&self, id: &str) {
        let mut h = self.down_headers(Kind::Ack, id);
        h.insert(wire::H_WINDOW.into(), self.opts.window_bytes.to_string());
        // Counted before sending: the client may act on the ack before publish returns.
        self.stats.acks.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self
            .transport
            .publish(&self.subjects.down(id), h, Bytes::new())
            .await
        {
            tracing::warn!(id, error = %e, "tunnel ack failed");
        }
    }

    async fn send_error(&self, id: &str, err: &TunnelError) {
        let mut h = wire::error_headers(Kind::Error, id, err);
        h.insert(wire::H_RESPONDER.into(), self.me.clone());
        metrics::counter!("tunnel_responder_errors_total", "code" => err.code().as_str())
            .increment(1);
        if let Err(e) = self
            .transport
            .publish(&self.subjects.down(id), h, Bytes::new())
            .await
        {
            tracing::warn!(id, error = %e, "tunnel error frame failed");
        }
    }
}

async fn on_start(
    ctx: &Arc<Ctx>,
    seen: &mut Seen,
    tasks: &mut JoinSet<()>,
    stop: &CancellationToken,
    msg: Message,
) {
    let frame = match Frame::decode(msg) {
        Ok(f) if f.kind == Kind::Start => f,
        Ok(f) => {
            tracing::debug!(
                kind = f.kind.as_str(),
                "non-start frame on the start subject"
            );
            return;
        }
        Err(e) => {
            tracing::debug!(error = %e, "undecodable start frame");
            return;
        }
    };
    if !seen.insert(&frame.id) {
        // A re-sent start: the exchange exists (or existed); only acknowledge again.
        ctx.send_ack(&frame.id).await;
        return;
    }
    tasks.spawn(exchange(ctx.clone(), frame, stop.child_token()));
}

/// The request a start frame describes (body attached by the caller).
fn parse_start(frame: &Frame) -> Result<(Request<()>, bool, u64, Option<u64>), TunnelError> {
    let bad = |what: &str| TunnelError::new(ErrorCode::Protocol, format!("start frame: {what}"));
    let method = frame
        .header(wire::H_METHOD)
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .ok_or_else(|| bad("invalid method"))?;
    let uri: http::Uri = frame
        .header(wire::H_PATH)
        .filter(|p| p.starts_with('/'))
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| bad("invalid path"))?;
    let has_body = match frame.header(wire::H_BODY) {
        Some("1") => true,
        Some("0") => false,
        _ => return Err(bad("invalid body flag")),
    };
    let window = frame
        .number(wire::H_WINDOW)
        .ok()
        .filter(|w| *w > 0)
        .ok_or_else(|| bad("invalid window"))?;
    let deadline_ms = match frame.header(wire::H_DEADLINE_MS) {
        None => None,
        Some(v) => Some(v.parse().map_err(|_| bad("invalid deadline"))?),
    };
    let headers = wire::decode_http_headers(frame.payload.clone())?;
    let mut req = Request::new(());
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    Ok((req, has_body, window, deadline_ms))
}

/// One request on the responder side; owns the request-frame subscription.
async fn exchange(ctx: Arc<Ctx>, frame: Frame, stop: CancellationToken) {
    let id = frame.id.clone();
    let (head, has_body, client_window, deadline_ms) = match parse_start(&frame) {
        Ok(v) => v,
        Err(e) => return ctx.send_error(&id, &e).await,
    };
    let mut up = match ctx.transport.subscribe(&ctx.subjects.up(&id)).await {
        Ok(s) => s,
        Err(e) => return ctx.send_error(&id, &e.into()).await,
    };
    // Only now ack: the client sends body frames after the ack, when we listen for them.
    ctx.stats.handled.fetch_add(1, Ordering::Relaxed);
    ctx.send_ack(&id).await;

    let (mut inbound, mut consumed_rx, body) = if has_body {
        let (i, stream, crx) = Inbound::new(ctx.opts.window_bytes, ctx.stats.flow.clone());
        (Some(i), Some(crx), Body::from_stream(stream))
    } else {
        (None, None, Body::empty())
    };
    let (parts, ()) = head.into_parts();
    let is_head = parts.method == Method::HEAD;
    let mut handler: Option<HandlerFut> = Some((ctx.call)(Request::from_parts(parts, body)));
    let (credit_tx, credit_rx) = watch::channel(0u64);
    let mut pump: Option<BoxFut<Result<(), TunnelError>>> = None;
    let deadline = deadline_ms.map(|ms| Instant::now() + Duration::from_millis(ms));
    let mut last_activity = Instant::now();
    let mut next_ping = Instant::now();
    let down = ctx.subjects.down(&id);

    let failure: Option<TunnelError> = loop {
        let waiting_body = handler.is_some()
            && inbound
                .as_ref()
                .is_some_and(|i| !i.is_closed() && i.buffered() == 0);
        let idle_at = waiting_body.then(|| last_activity + ctx.opts.idle_timeout);
        let ping_at = pump.is_some().then_some(next_ping);
        tokio::select! {
            msg = up.next() => {
                let Some(msg) = msg else {
                    break Some(TunnelError::new(ErrorCode::Transport, "request subscription ended"));
                };
                let frame = match Frame::decode(msg) {
                    Ok(f) if f.id == id => f,
                    Ok(_) => continue,
                    Err(e) => break Some(e),
                };
                if frame.responder().is_some_and(|r| r != ctx.me) {
                    continue; // pinned to another responder of the group
                }
                last_activity = Instant::now();
                match frame.kind {
                    Kind::Data | Kind::End => {
                        let Some(i) = inbound.as_mut() else {
                            break Some(TunnelError::new(ErrorCode::Protocol, "body frame for a request without a body"));
                        };
                        let res = if frame.kind == Kind::Data { i.on_data(&frame) } else { i.on_end(&frame) };
                        if let Err(e) = res {
                            i.fail(e.clone());
                            break Some(e);
                        }
                    }
                    Kind::Credit => match frame.number(wire::H_CREDIT) {
                        Ok(c) => { credit_tx.send_replace(c); }
                        Err(e) => break Some(e),
                    },
                    Kind::Abort | Kind::Error => {
                        ctx.stats.peer_aborts.fetch_add(1, Ordering::Relaxed);
                        let err = frame.error();
                        tracing::debug!(id, error = %err, "client aborted");
                        if let Some(i) = inbound.as_mut() {
                            i.fail(TunnelError::new(ErrorCode::PeerAborted, err.to_string()));
                        }
                        // Nobody to tell: drop the handler and the body pump.
                        break None;
                    }
                    _ => break Some(TunnelError::new(ErrorCode::Protocol, "unexpected frame from the client")),
                }
            }
            n = recv_opt(&mut consumed_rx) => match n {
                Some(n) => {
                    last_activity = Instant::now();
                    if let Some(credit) = inbound.as_mut().and_then(|i| i.on_consumed(n)) {
                        let mut h = ctx.down_headers(Kind::Credit, &id);
                        h.insert(wire::H_CREDIT.into(), credit.to_string());
                        if let Err(e) = ctx.transport.publish(&down, h, Bytes::new()).await {
                            break Some(e.into());
                        }
                    }
                }
                // The handler dropped the request body; the client stops when the response ends.
                None => consumed_rx = None,
            },
            res = run_opt(&mut handler) => {
                handler = None;
                let resp = match res {
                    Ok(r) => r,
                    Err(e) => break Some(e),
                };
                let mut h = ctx.down_headers(Kind::Head, &id);
                h.insert(wire::H_STATUS.into(), resp.status().as_u16().to_string());
                let payload = wire::encode_http_headers(resp.headers());
                if let Err(e) = ctx.transport.publish(&down, h, payload).await {
                    break Some(e.into());
                }
                let status = resp.status();
                let body = if is_head || matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED) {
                    Body::empty()
                } else {
                    resp.into_body()
                };
                let out = Outbound {
                    transport: ctx.transport.clone(),
                    subject: down.clone(),
                    id: id.clone(),
                    responder: Some(ctx.me.clone()),
                    frame_bytes: ctx.opts.frame_bytes,
                    window: client_window,
                    credit: credit_rx.clone(),
                    stats: ctx.stats.flow.clone(),
                    idle: Some(ctx.opts.idle_timeout),
                    body_error: ErrorCode::ResponseBody,
                };
                pump = Some(Box::pin(out.pump(body)));
                next_ping = Instant::now() + ctx.opts.keepalive;
            }
            res = run_opt(&mut pump) => {
                pump = None;
                match res {
                    Ok(()) => break None,
                    // The pump already told the client.
                    Err(e) if e.code() == ErrorCode::ResponseBody => break None,
                    Err(e) => break Some(e),
                }
            }
            _ = sleep_opt(ping_at) => {
                next_ping = Instant::now() + ctx.opts.keepalive;
                if let Err(e) = ctx.transport.publish(&down, ctx.down_headers(Kind::Ping, &id), Bytes::new()).await {
                    break Some(e.into());
                }
            }
            _ = sleep_opt(deadline) => {
                break Some(TunnelError::new(ErrorCode::Timeout, "the client's deadline passed"));
            }
            _ = sleep_opt(idle_at) => {
                break Some(TunnelError::new(
                    ErrorCode::IdleTimeout,
                    format!("no request body frame for {:?}", ctx.opts.idle_timeout),
                ));
            }
            _ = stop.cancelled() => {
                break Some(TunnelError::new(ErrorCode::Closed, "responder shutting down"));
            }
        }
    };
    drop(handler);
    drop(pump);
    if let Some(err) = failure {
        tracing::debug!(id, error = %err, "tunnel exchange failed");
        ctx.send_error(&id, &err).await;
    }
}
