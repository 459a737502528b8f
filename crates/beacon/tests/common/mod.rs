//! Test harness: a real beacon on 127.0.0.1:0 and a raw WebSocket client speaking the wire
//! protocol through the wowlab-protocol codecs.
#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wowlab_beacon::auth::{mint_hs256, now_unix, ConnectionClaims, SubscriptionClaims};
use wowlab_beacon::config::Config;
use wowlab_beacon::Beacon;
use wowlab_protocol::codec::{decode_replies, encode_command, Protocol};
use wowlab_protocol::proto::*;

pub const SECRET: &str = "secret";
pub const API_KEY: &str = "api-key";

pub struct Server {
    pub beacon: Beacon,
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub fn ws_url(&self) -> String {
        format!("ws://{}/connection/websocket", self.addr)
    }
    pub fn http(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
    /// Server API call; returns the JSON body.
    pub async fn api(&self, method: &str, body: serde_json::Value) -> serde_json::Value {
        let r = reqwest::Client::new()
            .post(self.http(&format!("/api/{method}")))
            .header("X-API-Key", API_KEY)
            .json(&body)
            .send()
            .await
            .expect("api request");
        assert_eq!(r.status(), 200, "api {method}");
        r.json().await.expect("api json")
    }
    pub async fn stop(self) {
        self.beacon.shutdown();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

/// Base test config merged with `extra` (top-level keys of `extra` replace the base's).
pub fn config(extra: serde_json::Value) -> Config {
    let mut base = serde_json::json!({
        "http_server": {"port": 0},
        "client": {"token": {"hmac_secret_key": SECRET}},
        "http_api": {"key": API_KEY},
        "channel": {
            "without_namespace": {"presence": true, "join_leave": true, "allow_subscribe_for_client": true,
                                  "allow_publish_for_subscriber": true, "allow_presence_for_subscriber": true,
                                  "allow_history_for_subscriber": true},
            "namespaces": [
                {"name": "hist", "history_size": 10, "history_ttl": "300s", "force_recovery": true,
                 "allow_subscribe_for_client": true, "allow_history_for_subscriber": true,
                 "allow_publish_for_subscriber": true},
                {"name": "small", "history_size": 2, "history_ttl": "300s", "force_recovery": true,
                 "allow_subscribe_for_client": true},
                {"name": "priv", "presence": true},
                {"name": "dm", "allow_user_limited_channels": true},
                {"name": "jl", "presence": true, "join_leave": true, "force_push_join_leave": true,
                 "allow_subscribe_for_client": true},
                {"name": "closed"},
                {"name": "anon", "allow_subscribe_for_client": true, "allow_subscribe_for_anonymous": true,
                 "allow_publish_for_client": true, "allow_publish_for_anonymous": true}
            ]
        }
    });
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            match (b.get_mut(k), v) {
                (Some(serde_json::Value::Object(bo)), serde_json::Value::Object(eo)) => {
                    for (k2, v2) in eo {
                        bo.insert(k2.clone(), v2.clone());
                    }
                }
                _ => {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
    }
    Config::from_json_str(&base.to_string()).expect("test config")
}

pub async fn start(extra: serde_json::Value) -> Server {
    start_with(config(extra)).await
}

pub async fn start_with(cfg: Config) -> Server {
    let beacon = Beacon::new(cfg).expect("beacon");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let b = beacon.clone();
    let task = tokio::spawn(async move {
        b.serve(listener).await.expect("serve");
    });
    Server { beacon, addr, task }
}

pub fn token(sub: &str, ttl: Option<i64>) -> String {
    mint_hs256(
        &ConnectionClaims {
            sub: sub.into(),
            exp: ttl.map(|t| now_unix() + t),
            ..Default::default()
        },
        SECRET,
    )
    .expect("mint")
}

pub fn token_with(claims: ConnectionClaims) -> String {
    mint_hs256(&claims, SECRET).expect("mint")
}

pub fn sub_token(sub: &str, channel: &str, ttl: Option<i64>) -> String {
    mint_hs256(
        &SubscriptionClaims {
            sub: sub.into(),
            channel: channel.into(),
            exp: ttl.map(|t| now_unix() + t),
            ..Default::default()
        },
        SECRET,
    )
    .expect("mint")
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub protocol: Protocol,
    pending: VecDeque<Reply>,
    next_id: u32,
    pub client_id: String,
}

/// How the client ended.
#[derive(Debug, PartialEq, Eq)]
pub struct Closed {
    pub code: u16,
    pub reason: String,
}

impl Client {
    pub async fn open(url: &str, protocol: Protocol) -> Client {
        let mut req = url.into_client_request().expect("request");
        if protocol == Protocol::Protobuf {
            req.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                "centrifuge-protobuf".parse().unwrap(),
            );
        }
        let (ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("ws connect");
        Client {
            ws,
            protocol,
            pending: VecDeque::new(),
            next_id: 1,
            client_id: String::new(),
        }
    }

    /// Opens and connects with a token; panics unless the connect succeeds.
    pub async fn connected(s: &Server, protocol: Protocol, token: &str) -> (Client, ConnectResult) {
        let mut c = Client::open(&s.ws_url(), protocol).await;
        let r = c.call(connect_cmd(token)).await;
        let res = r
            .connect
            .unwrap_or_else(|| panic!("connect failed: {:?}", r.error));
        c.client_id = res.client.clone();
        (c, res)
    }

    pub async fn send_raw(&mut self, msg: Message) {
        self.ws.send(msg).await.expect("send");
    }

    /// Sends several WebSocket messages in one write, so the server finds them all ready.
    pub async fn send_raw_together(&mut self, msgs: Vec<Message>) {
        for m in msgs {
            self.ws.feed(m).await.expect("feed");
        }
        self.ws.flush().await.expect("flush");
    }

    /// Sends commands in one frame, assigning ids to those without one.
    pub async fn send(&mut self, cmds: Vec<Command>) -> Vec<u32> {
        let mut frame = Vec::new();
        let mut ids = Vec::new();
        for mut c in cmds {
            if c.id == 0 && c != Command::default() && c.send.is_none() {
                c.id = self.next_id;
                self.next_id += 1;
            }
            ids.push(c.id);
            let b = encode_command(self.protocol, &c).expect("encode");
            wowlab_protocol::codec::append_to_frame(self.protocol, &mut frame, &b);
        }
        let msg = match self.protocol {
            Protocol::Json => Message::Text(String::from_utf8(frame).unwrap().into()),
            Protocol::Protobuf => Message::Binary(frame.into()),
        };
        self.send_raw(msg).await;
        ids
    }

    async fn read_frame(&mut self) -> Result<Vec<Reply>, Closed> {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(5), self.ws.next())
                .await
                .map_err(|_| Closed {
                    code: 0,
                    reason: "timeout".into(),
                })?;
            match msg {
                Some(Ok(Message::Text(t))) => {
                    assert_eq!(
                        self.protocol,
                        Protocol::Json,
                        "text frame on protobuf connection"
                    );
                    return Ok(decode_replies(Protocol::Json, t.as_bytes()).expect("decode"));
                }
                Some(Ok(Message::Binary(b))) => {
                    assert_eq!(
                        self.protocol,
                        Protocol::Protobuf,
                        "binary frame on JSON connection"
                    );
                    return Ok(decode_replies(Protocol::Protobuf, &b).expect("decode"));
                }
                Some(Ok(Message::Close(f))) => {
                    return Err(f
                        .map(|f| Closed {
                            code: u16::from(f.code),
                            reason: f.reason.to_string(),
                        })
                        .unwrap_or(Closed {
                            code: u16::from(CloseCode::Status),
                            reason: String::new(),
                        }));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => {
                    return Err(Closed {
                        code: 1,
                        reason: e.to_string(),
                    })
                }
                None => {
                    return Err(Closed {
                        code: 2,
                        reason: "eof".into(),
                    })
                }
            }
        }
    }

    /// Next reply or push (pings included).
    pub async fn next(&mut self) -> Result<Reply, Closed> {
        loop {
            if let Some(r) = self.pending.pop_front() {
                return Ok(r);
            }
            let replies = self.read_frame().await?;
            self.pending.extend(replies);
        }
    }

    /// Next push, skipping pings.
    pub async fn next_push(&mut self) -> Push {
        loop {
            let r = self.next().await.expect("push expected");
            if let Some(p) = r.push {
                return p;
            }
            assert!(r.is_ping(), "unexpected reply {r:?}");
        }
    }

    /// Sends a command and returns its reply, keeping pushes for later.
    pub async fn call(&mut self, cmd: Command) -> Reply {
        self.try_call(cmd).await.expect("reply expected")
    }

    pub async fn try_call(&mut self, cmd: Command) -> Result<Reply, Closed> {
        let id = self.send(vec![cmd]).await[0];
        loop {
            if let Some(pos) = self.pending.iter().position(|r| r.id == id) {
                return Ok(self.pending.remove(pos).expect("present"));
            }
            let replies = self.read_frame().await?;
            self.pending.extend(replies);
        }
    }

    /// Waits for the close frame.
    pub async fn closed(&mut self) -> Closed {
        loop {
            match self.read_frame().await {
                Ok(_) => continue,
                Err(c) => return c,
            }
        }
    }
}

pub fn connect_cmd(token: &str) -> Command {
    Command {
        connect: Some(ConnectRequest {
            token: token.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn subscribe_cmd(channel: &str) -> Command {
    Command {
        subscribe: Some(SubscribeRequest {
            channel: channel.into(),
            flag: 1,
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn sub_req(req: SubscribeRequest) -> Command {
    Command {
        subscribe: Some(req),
        ..Default::default()
    }
}

pub fn publish_cmd(channel: &str, data: &str) -> Command {
    Command {
        publish: Some(PublishRequest {
            channel: channel.into(),
            data: data.to_string().into(),
        }),
        ..Default::default()
    }
}

pub fn err_code(r: &Reply) -> u32 {
    r.error.as_ref().map(|e| e.code).unwrap_or(0)
}

pub const BOTH: [Protocol; 2] = [Protocol::Json, Protocol::Protobuf];

/// Like [`start_with`], for configs that select Redis/NATS engines.
pub async fn start_engines(cfg: Config) -> Server {
    let beacon = Beacon::start(cfg).await.expect("beacon with engines");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let b = beacon.clone();
    let task = tokio::spawn(async move {
        b.serve(listener).await.expect("serve");
    });
    Server { beacon, addr, task }
}

/// A backing service URL from `scripts/test` (`WOWLAB_TEST_NATS_URL`, `WOWLAB_TEST_REDIS_URL`):
/// missing under CI fails the test, otherwise it is skipped with the reason printed.
pub fn service_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ if std::env::var_os("CI").is_some() => panic!("{var} is not set (required under CI)"),
        _ => {
            eprintln!("skipped: {var} is not set (scripts/test sets it)");
            None
        }
    }
}
