//! The fetch side: sends a request to whoever serves a host and streams the response back.

use std::sync::Arc;
use std::time::Duration;

use axum_core::body::Body;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::{ErrorCode, TunnelError};
use crate::flow::{FlowStats, Inbound, Outbound};
use crate::subject::HostSubjects;
use crate::timer::{closed_opt, recv_opt, run_opt, sleep_opt, BoxFut};
use crate::transport::{Headers, Subscription, Transport};
use crate::wire::{self, Frame, Kind};

/// Client-wide settings.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Largest request body frame.
    pub frame_bytes: usize,
    /// Response bytes the responder may send ahead of the reader.
    pub window_bytes: u64,
    /// How often an unanswered start frame is re-sent (a start published before the
    /// responder subscribed is lost on core NATS).
    pub republish_interval: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            frame_bytes: 64 * 1024,
            window_bytes: 1024 * 1024,
            republish_interval: Duration::from_secs(1),
        }
    }
}

/// Per-request settings.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Longest wait for the first frame of any kind (→ `tunnel_no_first_frame`).
    pub first_frame_timeout: Duration,
    /// Longest silence from the responder while this side waits for it: for the response
    /// head, and for body frames once everything received was read (→ `tunnel_idle_timeout`).
    pub idle_timeout: Option<Duration>,
    /// Overall deadline, also enforced by the responder (→ `tunnel_timeout`).
    pub timeout: Option<Duration>,
    /// Cancelling it aborts the exchange on both sides (→ `tunnel_aborted`).
    pub abort: Option<CancellationToken>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            first_frame_timeout: Duration::from_secs(30),
            idle_timeout: None,
            timeout: None,
            abort: None,
        }
    }
}

/// A tunnel client; cheap to clone.
#[derive(Clone)]
pub struct Client {
    transport: Arc<dyn Transport>,
    opts: ClientOptions,
    stats: Arc<FlowStats>,
}

type HeadResult = Result<Response<Body>, TunnelError>;

impl Client {
    /// A client with default options.
    pub fn new(transport: Arc<dyn Transport>) -> Self {
        Self::with_options(transport, ClientOptions::default())
    }

    /// A client with `opts`.
    pub fn with_options(transport: Arc<dyn Transport>, mut opts: ClientOptions) -> Self {
        opts.frame_bytes = opts.frame_bytes.max(1);
        opts.window_bytes = opts.window_bytes.max(4);
        Self {
            transport,
            opts,
            stats: Arc::default(),
        }
    }

    /// Flow counters over this client's requests.
    pub fn stats(&self) -> &FlowStats {
        &self.stats
    }

    /// Sends `req` (path and query of its URI are used) to `host` with default options.
    pub async fn fetch(&self, host: &str, req: Request<Body>) -> HeadResult {
        self.fetch_with(host, req, FetchOptions::default()).await
    }

    /// Sends `req` to `host`; returns once the response head arrived. The response body
    /// streams; its read errors carry a [`TunnelError`] (see [`TunnelError::from_body_error`]).
    pub async fn fetch_with(
        &self,
        host: &str,
        req: Request<Body>,
        opts: FetchOptions,
    ) -> HeadResult {
        let result = self.start(host, req, opts).await;
        if let Err(e) = &result {
            metrics::counter!("tunnel_client_errors_total", "code" => e.code().as_str())
                .increment(1);
        }
        result
    }

    async fn start(&self, host: &str, req: Request<Body>, opts: FetchOptions) -> HeadResult {
        let subjects = HostSubjects::new(host)?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (parts, body) = req.into_parts();
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .filter(|p| p.starts_with('/'))
            .unwrap_or("/")
            .to_owned();
        let has_body = !http_body::Body::is_end_stream(&body);
        let deadline = opts.timeout.map(|d| Instant::now() + d);

        let mut start = wire::headers(Kind::Start, &id);
        start.insert(wire::H_METHOD.into(), parts.method.as_str().into());
        start.insert(wire::H_PATH.into(), path);
        start.insert(wire::H_BODY.into(), if has_body { "1" } else { "0" }.into());
        start.insert(wire::H_WINDOW.into(), self.opts.window_bytes.to_string());
        if let Some(d) = opts.timeout {
            start.insert(wire::H_DEADLINE_MS.into(), d.as_millis().to_string());
        }
        let payload = wire::encode_http_headers(&parts.headers);

        // Subscribe before publishing: frames sent back after the start must find us.
        let down = self.transport.subscribe(&subjects.down(&id)).await?;
        self.transport
            .publish(&subjects.start(), start.clone(), payload.clone())
            .await?;
        metrics::counter!("tunnel_client_requests_total").increment(1);

        let (head_tx, head_rx) = oneshot::channel();
        let driver = Driver {
            transport: self.transport.clone(),
            subjects,
            id,
            start: (start, payload),
            client: self.opts.clone(),
            opts,
            deadline,
            stats: self.stats.clone(),
            responder: None,
        };
        tokio::spawn(driver.run(down, has_body.then_some(body), head_tx));
        head_rx
            .await
            .unwrap_or_else(|_| Err(TunnelError::new(ErrorCode::Aborted, "exchange ended")))
    }
}

/// One exchange on the client side; owns the reply subscription.
struct Driver {
    transport: Arc<dyn Transport>,
    subjects: HostSubjects,
    id: String,
    start: (Headers, Bytes),
    client: ClientOptions,
    opts: FetchOptions,
    deadline: Option<Instant>,
    stats: Arc<FlowStats>,
    /// The responder that answered first; frames of any other are ignored.
    responder: Option<String>,
}

/// How an exchange ended badly, and whether the responder should be told.
struct Failure {
    err: TunnelError,
    tell_peer: bool,
}

impl Failure {
    fn local(err: TunnelError) -> Self {
        Self {
            err,
            tell_peer: true,
        }
    }
    fn remote(err: TunnelError) -> Self {
        Self {
            err,
            tell_peer: false,
        }
    }
}

impl Driver {
    fn up_headers(&self, kind: Kind) -> Headers {
        let mut h = wire::headers(kind, &self.id);
        if let Some(r) = &self.responder {
            h.insert(wire::H_RESPONDER.into(), r.clone());
        }
        h
    }

    async fn run(
        mut self,
        mut down: Subscription,
        body: Option<Body>,
        head_tx: oneshot::Sender<HeadResult>,
    ) {
        let mut body = body;
        let mut head_tx = Some(head_tx);
        let mut inbound: Option<Inbound> = None;
        let mut consumed_rx = None;
        let (credit_tx, credit_rx) = watch::channel(0u64);
        let mut pump: Option<BoxFut<Result<(), TunnelError>>> = None;
        let began = Instant::now();
        let first_by = began + self.opts.first_frame_timeout;
        let mut republish = tokio::time::interval_at(
            began + self.client.republish_interval,
            self.client.republish_interval,
        );
        let mut last_activity = began;
        let abort = self.opts.abort.clone().unwrap_or_default();
        let up = self.subjects.up(&self.id);

        let outcome: Result<(), Failure> = loop {
            let waiting_first = self.responder.is_none();
            let idle_at = self.opts.idle_timeout.filter(|_| {
                !waiting_first
                    && (head_tx.is_some()
                        || inbound
                            .as_ref()
                            .is_some_and(|i| i.buffered() == 0 && !i.is_closed()))
            });
            tokio::select! {
                msg = down.next() => {
                    let Some(msg) = msg else {
                        break Err(Failure::local(TunnelError::new(ErrorCode::Transport, "reply subscription ended")));
                    };
                    let frame = match Frame::decode(msg) {
                        Ok(f) => f,
                        Err(e) => break Err(Failure::local(e)),
                    };
                    if frame.id != self.id {
                        continue;
                    }
                    match (&self.responder, frame.responder()) {
                        (None, r) => self.responder = Some(r.unwrap_or_default().to_owned()),
                        (Some(pinned), r) if Some(pinned.as_str()) != r => continue,
                        _ => {}
                    }
                    last_activity = Instant::now();
                    match frame.kind {
                        Kind::Ack => {
                            if let (Some(b), None) = (body.take(), &pump) {
                                let window = match frame.number(wire::H_WINDOW) {
                                    Ok(w) if w > 0 => w,
                                    _ => break Err(Failure::local(TunnelError::new(ErrorCode::Protocol, "ack without a window"))),
                                };
                                let out = Outbound {
                                    transport: self.transport.clone(),
                                    subject: up.clone(),
                                    id: self.id.clone(),
                                    responder: self.responder.clone(),
                                    frame_bytes: self.client.frame_bytes,
                                    window,
                                    credit: credit_rx.clone(),
                                    stats: self.stats.clone(),
                                    idle: None,
                                    body_error: ErrorCode::RequestBody,
                                };
                                pump = Some(Box::pin(out.pump(b)));
                            }
                        }
                        Kind::Head => {
                            let Some(tx) = head_tx.take() else {
                                break Err(Failure::local(TunnelError::new(ErrorCode::Protocol, "second response head")));
                            };
                            let response = match head_response(&frame) {
                                Ok(r) => r,
                                Err(e) => {
                                    head_tx = Some(tx);
                                    break Err(Failure::local(e));
                                }
                            };
                            let (i, stream, crx) = Inbound::new(self.client.window_bytes, self.stats.clone());
                            inbound = Some(i);
                            consumed_rx = Some(crx);
                            let (parts, ()) = response.into_parts();
                            if tx.send(Ok(Response::from_parts(parts, Body::from_stream(stream)))).is_err() {
                                break Err(Failure::local(TunnelError::new(ErrorCode::Aborted, "fetch dropped")));
                            }
                        }
                        Kind::Data | Kind::End => {
                            let Some(i) = inbound.as_mut() else {
                                break Err(Failure::local(TunnelError::new(ErrorCode::Protocol, "body frame before the response head")));
                            };
                            let res = if frame.kind == Kind::Data { i.on_data(&frame) } else { i.on_end(&frame) };
                            if let Err(e) = res {
                                break Err(Failure::local(e));
                            }
                            if i.is_closed() {
                                break Ok(());
                            }
                        }
                        Kind::Credit => match frame.number(wire::H_CREDIT) {
                            Ok(c) => { credit_tx.send_replace(c); }
                            Err(e) => break Err(Failure::local(e)),
                        },
                        Kind::Error => break Err(Failure::remote(frame.error())),
                        // Only proves the responder is alive (resets the idle clock above).
                        Kind::Ping => {}
                        Kind::Start | Kind::Abort => {
                            break Err(Failure::local(TunnelError::new(ErrorCode::Protocol, "unexpected frame from the responder")));
                        }
                    }
                }
                _ = republish.tick(), if waiting_first => {
                    let (h, p) = self.start.clone();
                    let start = self.subjects.start();
                    if let Err(e) = self.transport.publish(&start, h, p).await {
                        break Err(Failure::local(e.into()));
                    }
                }
                _ = tokio::time::sleep_until(first_by), if waiting_first => {
                    break Err(Failure::local(TunnelError::new(
                        ErrorCode::NoFirstFrame,
                        format!("no responder answered within {:?}", self.opts.first_frame_timeout),
                    )));
                }
                _ = sleep_opt(idle_at.map(|d| last_activity + d)) => {
                    break Err(Failure::local(TunnelError::new(
                        ErrorCode::IdleTimeout,
                        format!("responder silent for {:?}", self.opts.idle_timeout.unwrap_or_default()),
                    )));
                }
                _ = sleep_opt(self.deadline) => {
                    break Err(Failure::local(TunnelError::new(
                        ErrorCode::Timeout,
                        format!("deadline of {:?} passed", self.opts.timeout.unwrap_or_default()),
                    )));
                }
                _ = abort.cancelled() => {
                    break Err(Failure::local(TunnelError::new(ErrorCode::Aborted, "aborted by the caller")));
                }
                n = recv_opt(&mut consumed_rx) => match n {
                    Some(n) => {
                        last_activity = Instant::now();
                        if let Some(credit) = inbound.as_mut().and_then(|i| i.on_consumed(n)) {
                            let mut h = self.up_headers(Kind::Credit);
                            h.insert(wire::H_CREDIT.into(), credit.to_string());
                            if let Err(e) = self.transport.publish(&up, h, Bytes::new()).await {
                                break Err(Failure::local(e.into()));
                            }
                        }
                    }
                    None => break Err(Failure::local(TunnelError::new(ErrorCode::Aborted, "response body dropped"))),
                },
                _ = closed_opt(&mut head_tx) => {
                    break Err(Failure::local(TunnelError::new(ErrorCode::Aborted, "fetch dropped")));
                }
                res = run_opt(&mut pump) => {
                    pump = None;
                    match res {
                        Ok(()) => {}
                        // The pump already sent the error frame.
                        Err(e) if e.code() == ErrorCode::RequestBody => break Err(Failure::remote(e)),
                        Err(e) => break Err(Failure::local(e)),
                    }
                }
            }
        };
        drop(pump);
        if let Err(Failure { err, tell_peer }) = outcome {
            tracing::debug!(id = %self.id, error = %err, "tunnel fetch failed");
            if tell_peer {
                let h = {
                    let mut h = wire::error_headers(Kind::Abort, &self.id, &err);
                    if let Some(r) = &self.responder {
                        h.insert(wire::H_RESPONDER.into(), r.clone());
                    }
                    h
                };
                let _ = self.transport.publish(&up, h, Bytes::new()).await;
            }
            metrics::counter!("tunnel_client_errors_total", "code" => err.code().as_str())
                .increment(u64::from(head_tx.is_none()));
            match head_tx {
                Some(tx) => {
                    let _ = tx.send(Err(err));
                }
                None => {
                    if let Some(i) = inbound.as_mut() {
                        i.fail(err);
                    }
                }
            }
        }
    }
}

/// The response head of a head frame (body attached by the caller).
fn head_response(frame: &Frame) -> Result<Response<()>, TunnelError> {
    let status = frame
        .number(wire::H_STATUS)
        .ok()
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| {
            TunnelError::new(ErrorCode::Protocol, "head frame without a valid status")
        })?;
    let headers = wire::decode_http_headers(frame.payload.clone())?;
    let mut response = Response::new(());
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}
