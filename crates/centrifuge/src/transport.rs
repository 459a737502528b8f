//! WebSocket transport: opening the connection and classifying incoming frames.

use crate::config::ClientConfig;
use crate::Error;
use bytes::Bytes;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wowlab_protocol::codec::Protocol;

/// The WebSocket stream type used by the client.
pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens the WebSocket, asking for the protobuf subprotocol when needed.
pub(crate) async fn open(cfg: &ClientConfig) -> Result<Ws, Error> {
    let mut req = cfg
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| Error::Transport(format!("bad url {:?}: {e}", cfg.url)))?;
    #[cfg(feature = "tls")]
    if cfg.url.starts_with("wss:") {
        // Pick ring explicitly so rustls never has to guess a provider; an error only means
        // a provider is already installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    if let Some(sp) = cfg.protocol.subprotocol() {
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(sp));
    }
    // Small read buffer: clients are many and mostly idle.
    let ws_cfg = WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .max_message_size(Some(cfg.max_message_size))
        .max_frame_size(Some(cfg.max_message_size));
    let connecting = tokio_tungstenite::connect_async_with_config(req, Some(ws_cfg), true);
    match tokio::time::timeout(cfg.timeout, connecting).await {
        Err(_) => Err(Error::Transport("websocket handshake timed out".into())),
        Ok(Err(e)) => Err(Error::Transport(e.to_string())),
        Ok(Ok((ws, _resp))) => Ok(ws),
    }
}

/// Wraps an encoded frame in the WebSocket message type of the protocol.
pub(crate) fn frame_message(p: Protocol, frame: Vec<u8>) -> Result<Message, Error> {
    match p {
        Protocol::Protobuf => Ok(Message::Binary(Bytes::from(frame))),
        Protocol::Json => String::from_utf8(frame)
            .map(Message::text)
            .map_err(|e| Error::Encode(format!("JSON frame is not UTF-8: {e}"))),
    }
}

/// What an incoming WebSocket event means to the client.
pub(crate) enum Incoming {
    /// A data frame holding one or more replies.
    Data(Bytes),
    /// The server closed the connection (with a close frame, or the stream ended).
    Closed {
        /// Close code, `None` without a close frame.
        code: Option<u16>,
        /// Close reason.
        reason: String,
    },
    /// The read failed (oversized message, protocol violation, reset).
    Failed(Error),
    /// Control frames handled by tungstenite itself.
    Ignore,
}

/// Classifies the next item of the WebSocket stream.
pub(crate) fn classify(item: Option<Result<Message, tungstenite::Error>>) -> Incoming {
    match item {
        None => Incoming::Closed {
            code: None,
            reason: "connection closed".into(),
        },
        Some(Ok(Message::Binary(b))) => Incoming::Data(b),
        Some(Ok(Message::Text(t))) => Incoming::Data(Bytes::from(t)),
        Some(Ok(Message::Close(frame))) => match frame {
            Some(f) => Incoming::Closed {
                code: Some(u16::from(f.code)),
                reason: f.reason.to_string(),
            },
            None => Incoming::Closed {
                code: None,
                reason: "closed without code".into(),
            },
        },
        Some(Ok(_)) => Incoming::Ignore,
        Some(Err(tungstenite::Error::ConnectionClosed)) => Incoming::Closed {
            code: None,
            reason: "connection closed".into(),
        },
        Some(Err(e)) => Incoming::Failed(Error::Transport(e.to_string())),
    }
}
