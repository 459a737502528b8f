//! Minimal beacon client over WebSocket with the protobuf protocol: handshake, connect with an
//! HS256 token, subscribe, publish, answer pings.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wowlab_protocol::codec::{self, Protocol};
use wowlab_protocol::proto::{Command, ConnectRequest, PublishRequest, Reply, SubscribeRequest};

/// A client WebSocket stream.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const P: Protocol = Protocol::Protobuf;

/// Small buffers: the idle bench holds 10k of these in one process.
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
}

/// HS256 connection token for `sub`, valid one hour.
pub fn token(secret: &str, sub: &str) -> Result<String> {
    #[derive(serde::Serialize)]
    struct Claims<'a> {
        sub: &'a str,
        exp: u64,
    }
    let exp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() + 3600;
    let t = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &Claims { sub, exp },
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )?;
    Ok(t)
}

/// One protobuf frame holding the encoded commands.
pub fn frame(cmds: &[Command]) -> Result<Message> {
    let mut buf = Vec::with_capacity(128);
    for c in cmds {
        let enc = codec::encode_command(P, c)?;
        codec::append_to_frame(P, &mut buf, &enc);
    }
    Ok(Message::Binary(Bytes::from(buf)))
}

/// The pong frame (an empty command).
pub fn pong() -> Result<Message> {
    frame(&[Command::default()])
}

/// A publish command.
pub fn publish_cmd(id: u32, channel: &str, data: Bytes) -> Command {
    Command {
        id,
        publish: Some(PublishRequest {
            channel: channel.to_string(),
            data,
        }),
        ..Default::default()
    }
}

/// True for a server ping (id 0, no push, nothing else).
pub fn is_ping(r: &Reply) -> bool {
    r.id == 0 && r.push.is_none() && r.error.is_none()
}

/// Open a WebSocket with subprotocol `centrifuge-protobuf`, send connect (id 1) and, when given,
/// subscribe (id 2) in one frame, and wait until both replied OK.
pub async fn open(url: &str, token: &str, channel: Option<&str>) -> Result<Ws> {
    let mut req = url.into_client_request()?;
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("centrifuge-protobuf"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(req, Some(ws_config()), true)
        .await
        .with_context(|| format!("WebSocket handshake with {url}"))?;
    let mut cmds = vec![Command {
        id: 1,
        connect: Some(ConnectRequest {
            token: token.to_string(),
            name: "bench".into(),
            ..Default::default()
        }),
        ..Default::default()
    }];
    if let Some(ch) = channel {
        cmds.push(Command {
            id: 2,
            subscribe: Some(SubscribeRequest {
                channel: ch.to_string(),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    ws.send(frame(&cmds)?).await?;
    let want = cmds.len();
    let mut got = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while got < want {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .context("timed out waiting for connect/subscribe replies")?;
        match msg {
            Some(Ok(Message::Binary(b))) => {
                for r in codec::decode_replies(P, &b)? {
                    if let Some(e) = r.error {
                        bail!("command {} failed: {} {}", r.id, e.code, e.message);
                    }
                    if r.id == 1 && r.connect.is_some() || r.id == 2 && r.subscribe.is_some() {
                        got += 1;
                    } else if is_ping(&r) {
                        ws.send(pong()?).await?;
                    }
                }
            }
            Some(Ok(Message::Close(f))) => bail!("server closed the connection: {f:?}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => bail!("connection ended before connect reply"),
        }
    }
    Ok(ws)
}
