//! Bidirectional emulation over HTTP (as Centrifugo's `handler_http_stream.go`,
//! `handler_sse.go` and `emulation.go`): HTTP-streaming
//! (`POST /connection/http_stream`) and SSE (`GET|POST /connection/sse`) carry replies; further
//! commands arrive as `POST /emulation` with an `EmulationRequest{node, session, data}`.

use super::{Incoming, Transport};
use crate::conn::ConnShared;
use crate::node::Node;
use crate::session::{Disconnect, Session};
use axum::body::{Body, Bytes as AxumBytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use prost::Message as _;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::mpsc;
use wowlab_protocol::codec::{encode_reply, Protocol};
use wowlab_protocol::proto::{self, EmulationRequest, Reply};

/// Frames buffered toward a slow HTTP reader before writes block (then time out → 3009).
const BODY_BUFFER: usize = 32;
/// Commands buffered from `/emulation` posts.
const COMMAND_BUFFER: usize = 16;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    HttpStream,
    Sse,
}

fn is_protobuf(q: &HashMap<String, String>, headers: &HeaderMap) -> bool {
    super::websocket::query_protocol(q) == Some(Protocol::Protobuf)
        || headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/octet-stream"))
}

/// `POST /connection/http_stream`.
pub(crate) async fn http_stream(
    State(node): State<Arc<Node>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: AxumBytes,
) -> Response {
    if !super::websocket::origin_allowed(&node, &headers) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let protocol = if is_protobuf(&q, &headers) {
        Protocol::Protobuf
    } else {
        Protocol::Json
    };
    start(node, Kind::HttpStream, protocol, body)
}

/// `GET /connection/sse?cf_connect=...` or `POST /connection/sse` with the command as body.
pub(crate) async fn sse(
    State(node): State<Arc<Node>>,
    method: Method,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: AxumBytes,
) -> Response {
    if !super::websocket::origin_allowed(&node, &headers) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let first = if method == Method::GET {
        match q.get("cf_connect") {
            Some(c) => Bytes::from(c.clone()),
            None => {
                return (
                    StatusCode::BAD_REQUEST,
                    "cf_connect query parameter required",
                )
                    .into_response()
            }
        }
    } else {
        body
    };
    start(node, Kind::Sse, Protocol::Json, first)
}

fn start(node: Arc<Node>, kind: Kind, protocol: Protocol, first: Bytes) -> Response {
    if first.len() > node.config.websocket.message_size_limit {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    let slot = match node.slots.acquire(node.config.client.connection_limit) {
        Ok(slot) => slot,
        Err(status) => return status.into_response(),
    };
    let session_id = uuid::Uuid::new_v4().to_string();
    let (cmd_tx, cmd_rx) = mpsc::channel::<Bytes>(COMMAND_BUFFER);
    let (body_tx, mut body_rx) = mpsc::channel::<Bytes>(BODY_BUFFER);
    node.emulation.write().insert(session_id.clone(), cmd_tx);
    let conn = Arc::new(ConnShared::new(
        protocol,
        node.config.client.queue_max_size,
        session_id,
    ));
    let session = Session::new(node, conn, true, slot);
    let transport = EmuTransport {
        kind,
        protocol,
        first: Some(first),
        commands: cmd_rx,
        body: body_tx,
    };
    tokio::spawn(super::run(session, transport));
    let stream = futures_util::stream::poll_fn(move |cx| {
        body_rx.poll_recv(cx).map(|o| o.map(Ok::<_, Infallible>))
    });
    let content_type = match (kind, protocol) {
        (Kind::Sse, _) => "text/event-stream; charset=utf-8",
        (Kind::HttpStream, Protocol::Json) => "application/json",
        (Kind::HttpStream, Protocol::Protobuf) => "application/octet-stream",
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(
            header::CACHE_CONTROL,
            "private, no-cache, no-store, must-revalidate, max-age=0",
        )
        .header("X-Accel-Buffering", "no")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// `POST /emulation`: routes encoded commands to the session's task.
pub(crate) async fn emulation(
    State(node): State<Arc<Node>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: AxumBytes,
) -> Response {
    if body.len() > node.config.websocket.message_size_limit {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    let req: EmulationRequest = if is_protobuf(&q, &headers) {
        match EmulationRequest::decode(body) {
            Ok(r) => r,
            Err(_) => return StatusCode::BAD_REQUEST.into_response(),
        }
    } else {
        match serde_json::from_slice::<EmulationRequest>(&body) {
            Ok(mut r) => {
                // JSON: `data` is a JSON string holding the encoded commands.
                match serde_json::from_slice::<String>(&r.data) {
                    Ok(s) => r.data = Bytes::from(s),
                    Err(_) => return StatusCode::BAD_REQUEST.into_response(),
                }
                r
            }
            Err(_) => return StatusCode::BAD_REQUEST.into_response(),
        }
    };
    if !req.node.is_empty() && req.node != node.id {
        return StatusCode::NOT_FOUND.into_response();
    }
    let tx = node.emulation.read().get(&req.session).cloned();
    match tx {
        Some(tx) => match tx.send(req.data).await {
            Ok(()) => StatusCode::NO_CONTENT.into_response(),
            Err(_) => StatusCode::NOT_FOUND.into_response(),
        },
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

struct EmuTransport {
    kind: Kind,
    protocol: Protocol,
    first: Option<Bytes>,
    commands: mpsc::Receiver<Bytes>,
    body: mpsc::Sender<Bytes>,
}

impl Transport for EmuTransport {
    async fn recv(&mut self) -> Incoming {
        if let Some(f) = self.first.take() {
            return Incoming::Frame(f);
        }
        tokio::select! {
            c = self.commands.recv() => match c {
                Some(b) => Incoming::Frame(b),
                None => Incoming::Closed,
            },
            // The HTTP client went away (the server dropped the response body): end the
            // session now rather than at the next failed write.
            _ = self.body.closed() => Incoming::Closed,
        }
    }

    fn append(&self, frame: &mut Vec<u8>, msg: &[u8]) {
        match (self.kind, self.protocol) {
            (Kind::Sse, _) => {
                frame.extend_from_slice(b"data: ");
                frame.extend_from_slice(msg);
                frame.extend_from_slice(b"\n\n");
            }
            (Kind::HttpStream, Protocol::Json) => {
                frame.extend_from_slice(msg);
                frame.push(b'\n');
            }
            (Kind::HttpStream, Protocol::Protobuf) => frame.extend_from_slice(msg),
        }
    }

    async fn send(&mut self, frame: Bytes) -> Result<(), ()> {
        self.body.send(frame).await.map_err(|_| ())
    }

    async fn close(&mut self, d: Disconnect) {
        let push = proto::Push {
            disconnect: Some(proto::Disconnect {
                code: d.code,
                reason: d.reason,
                reconnect: false,
            }),
            ..Default::default()
        };
        if let Ok(b) = encode_reply(
            self.protocol,
            &Reply {
                push: Some(push),
                ..Default::default()
            },
        ) {
            let mut frame = Vec::new();
            self.append(&mut frame, &b);
            let _ = self.body.send(Bytes::from(frame)).await;
        }
    }
}
