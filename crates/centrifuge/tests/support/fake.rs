//! A scriptable fake server: each accepted WebSocket connection is handed to the test, which
//! reads decoded commands and writes replies, raw bytes or close frames at will.
#![allow(dead_code, clippy::result_large_err)]

use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use wowlab_protocol::codec::{self, Protocol};
use wowlab_protocol::proto::{Command, ConnectResult, Reply};

pub struct FakeServer {
    pub url: String,
    conns: mpsc::UnboundedReceiver<FakeConn>,
}

pub struct FakeConn {
    ws: WebSocketStream<TcpStream>,
    pub protocol: Protocol,
}

impl FakeServer {
    pub async fn start() -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, conns) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut protocol = Protocol::Json;
                    let cb = |req: &Request, mut resp: Response| {
                        let wants_pb = req
                            .headers()
                            .get("Sec-WebSocket-Protocol")
                            .and_then(|v| v.to_str().ok())
                            .is_some_and(|v| v.contains("centrifuge-protobuf"));
                        if wants_pb {
                            protocol = Protocol::Protobuf;
                            resp.headers_mut().insert(
                                "Sec-WebSocket-Protocol",
                                HeaderValue::from_static("centrifuge-protobuf"),
                            );
                        }
                        Ok(resp)
                    };
                    if let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, cb).await {
                        let _ = tx.send(FakeConn { ws, protocol });
                    }
                });
            }
        });
        FakeServer {
            url: format!("ws://{addr}/connection/websocket"),
            conns,
        }
    }

    /// Next accepted connection (panics after 5 s).
    pub async fn accept(&mut self) -> FakeConn {
        tokio::time::timeout(Duration::from_secs(5), self.conns.recv())
            .await
            .expect("a connection within 5 s")
            .expect("server alive")
    }

    /// Whether a connection arrives within `d`.
    pub async fn try_accept(&mut self, d: Duration) -> Option<FakeConn> {
        tokio::time::timeout(d, self.conns.recv())
            .await
            .ok()
            .flatten()
    }
}

impl FakeConn {
    /// Next data frame decoded as commands (panics after 5 s or on close).
    pub async fn recv(&mut self) -> Vec<Command> {
        self.try_recv(Duration::from_secs(5))
            .await
            .expect("a frame within 5 s")
    }

    /// Next data frame decoded as commands, `None` on timeout or close.
    pub async fn try_recv(&mut self, d: Duration) -> Option<Vec<Command>> {
        loop {
            let msg = tokio::time::timeout(d, self.ws.next()).await.ok()??.ok()?;
            let data = match msg {
                Message::Binary(b) => b.to_vec(),
                Message::Text(t) => t.as_bytes().to_vec(),
                Message::Close(_) => return None,
                _ => continue,
            };
            return Some(
                codec::decode_commands(self.protocol, &data).expect("client frames decode"),
            );
        }
    }

    pub async fn send(&mut self, replies: &[Reply]) {
        let mut frame = Vec::new();
        for r in replies {
            codec::append_to_frame(
                self.protocol,
                &mut frame,
                &codec::encode_reply(self.protocol, r).expect("encode"),
            );
        }
        self.send_raw(frame).await;
    }

    pub async fn send_raw(&mut self, frame: Vec<u8>) {
        let msg = match self.protocol {
            Protocol::Protobuf => Message::Binary(frame.into()),
            Protocol::Json => Message::text(String::from_utf8_lossy(&frame).into_owned()),
        };
        let _ = self.ws.send(msg).await;
    }

    pub async fn send_binary(&mut self, frame: Vec<u8>) {
        let _ = self.ws.send(Message::Binary(frame.into())).await;
    }

    pub async fn close(&mut self, code: u16, reason: &str) {
        let _ = self
            .ws
            .close(Some(CloseFrame {
                code: code.into(),
                reason: reason.to_owned().into(),
            }))
            .await;
    }

    /// Reads the connect command and answers it with `res`; returns the connect command.
    pub async fn handshake(&mut self, res: ConnectResult) -> Vec<Command> {
        let cmds = self.recv().await;
        let connect = &cmds[0];
        assert!(
            connect.connect.is_some(),
            "first command is connect: {connect:?}"
        );
        self.send(&[Reply {
            id: connect.id,
            connect: Some(res),
            ..Default::default()
        }])
        .await;
        cmds
    }
}

pub fn connect_result() -> ConnectResult {
    ConnectResult {
        client: "c-1".into(),
        version: "fake".into(),
        ping: 25,
        pong: true,
        ..Default::default()
    }
}
