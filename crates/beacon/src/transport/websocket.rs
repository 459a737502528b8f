//! WebSocket transport at `/connection/websocket` (JSON text frames or protobuf binary frames).

use super::{Incoming, Transport};
use crate::conn::ConnShared;
use crate::node::Node;
use crate::session::{Disconnect, Session};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;
use wowlab_protocol::codec::Protocol;

const PROTOBUF_SUBPROTOCOL: &str = "centrifuge-protobuf";

/// Origin check (as Centrifugo's `internal/app/origin.go`): no Origin header passes; otherwise
/// it must match a pattern.
pub(crate) fn origin_allowed(node: &Node, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(axum::http::header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.to_ascii_lowercase();
    node.config
        .client
        .allowed_origins
        .iter()
        .any(|p| wildmatch::WildMatch::new(&p.to_ascii_lowercase()).matches(&origin))
}

/// Protocol chosen by query parameters (`format` / `cf_protocol`).
pub(crate) fn query_protocol(q: &HashMap<String, String>) -> Option<Protocol> {
    let v = q.get("format").or_else(|| q.get("cf_protocol"))?;
    (v == "protobuf").then_some(Protocol::Protobuf)
}

pub(crate) async fn handler(
    State(node): State<Arc<Node>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !origin_allowed(&node, &headers) {
        tracing::info!(origin = ?headers.get(axum::http::header::ORIGIN), "request Origin is not authorized");
        return StatusCode::FORBIDDEN.into_response();
    }
    // Taken before the upgrade: over the limit the client gets 503 and no socket at all.
    let slot = match node.slots.acquire(node.config.client.connection_limit) {
        Ok(slot) => slot,
        Err(status) => return status.into_response(),
    };
    let ws_cfg = &node.config.websocket;
    let limit = ws_cfg.message_size_limit;
    let ws = ws
        .protocols([PROTOBUF_SUBPROTOCOL, "centrifuge-json"])
        .read_buffer_size(ws_cfg.read_buffer_size.max(256))
        .write_buffer_size(0)
        .max_message_size(limit)
        .max_frame_size(limit);
    let by_query = query_protocol(&q);
    ws.on_upgrade(move |socket| async move {
        let by_subprotocol = socket
            .protocol()
            .and_then(|p| p.to_str().ok())
            .is_some_and(|p| p == PROTOBUF_SUBPROTOCOL);
        let protocol = if by_subprotocol {
            Protocol::Protobuf
        } else {
            by_query.unwrap_or(Protocol::Json)
        };
        let conn = Arc::new(ConnShared::new(
            protocol,
            node.config.client.queue_max_size,
            String::new(),
        ));
        let session = Session::new(node, conn, false, slot);
        super::run(
            session,
            WsTransport {
                ws: socket,
                protocol,
            },
        )
        .await;
    })
}

/// A close reason clients handle correctly: non-empty, not valid JSON (centrifuge-js would
/// read it as legacy advice), at most 123 bytes (close payload limit).
pub(crate) fn close_reason(code: u32, reason: String) -> String {
    let usable = |r: &str| !r.is_empty() && serde_json::from_str::<serde_json::Value>(r).is_err();
    let mut r = if usable(&reason) {
        reason
    } else {
        let std = wowlab_protocol::codes::disconnect::reason(code);
        if usable(std) {
            std.to_string()
        } else {
            "disconnect".to_string()
        }
    };
    if r.len() > 123 {
        let mut cut = 123;
        while !r.is_char_boundary(cut) {
            cut -= 1;
        }
        r.truncate(cut);
    }
    r
}

struct WsTransport {
    ws: WebSocket,
    protocol: Protocol,
}

fn is_capacity_error(e: axum::Error) -> bool {
    match e.into_inner().downcast::<tungstenite::Error>() {
        Ok(e) => matches!(*e, tungstenite::Error::Capacity(_)),
        Err(_) => false,
    }
}

impl Transport for WsTransport {
    fn append(&self, frame: &mut Vec<u8>, msg: &[u8]) {
        wowlab_protocol::codec::append_to_frame(self.protocol, frame, msg);
    }

    async fn recv(&mut self) -> Incoming {
        loop {
            match self.ws.recv().await {
                Some(Ok(Message::Text(t))) => return Incoming::Frame(Bytes::from(t)),
                Some(Ok(Message::Binary(b))) => return Incoming::Frame(b),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Close(_))) | None => return Incoming::Closed,
                Some(Err(e)) => {
                    return if is_capacity_error(e) {
                        Incoming::TooBig
                    } else {
                        Incoming::Closed
                    };
                }
            }
        }
    }

    fn single_message_frames(&self) -> bool {
        true
    }

    async fn send(&mut self, frame: Bytes) -> Result<(), ()> {
        let msg = match self.protocol {
            Protocol::Json => match axum::extract::ws::Utf8Bytes::try_from(frame) {
                Ok(s) => Message::Text(s),
                Err(_) => return Err(()),
            },
            Protocol::Protobuf => Message::Binary(frame),
        };
        self.ws.send(msg).await.map_err(|_| ())
    }

    async fn close(&mut self, d: Disconnect) {
        let reason = close_reason(d.code, d.reason);
        let _ = self
            .ws
            .send(Message::Close(Some(CloseFrame {
                code: d.code as u16,
                reason: reason.into(),
            })))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_reasons_are_never_json_or_empty() {
        assert_eq!(close_reason(3503, "bye".into()), "bye");
        assert_eq!(close_reason(3503, "".into()), "force disconnect");
        assert_eq!(close_reason(3503, "true".into()), "force disconnect");
        assert_eq!(close_reason(4000, "1".into()), "disconnect");
        let long = close_reason(4000, "é".repeat(100));
        assert!(long.len() <= 123 && !long.is_empty());
    }
}
