//! A real beacon served in-process on 127.0.0.1, restartable on the same port.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;
use wowlab_beacon::auth::{mint_hs256, now_unix, ConnectionClaims, SubscriptionClaims};
use wowlab_beacon::config::Config;
use wowlab_beacon::Beacon;

pub const SECRET: &str = "secret";

pub struct Srv {
    pub beacon: Beacon,
    pub addr: SocketAddr,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Test config: Centrifugo v6 layout, `extra` keys of `client` merged in.
pub fn config(client_extra: serde_json::Value) -> Config {
    let mut client = serde_json::json!({"token": {"hmac_secret_key": SECRET}});
    if let (Some(c), Some(e)) = (client.as_object_mut(), client_extra.as_object()) {
        for (k, v) in e {
            c.insert(k.clone(), v.clone());
        }
    }
    let cfg = serde_json::json!({
        "client": client,
        "http_api": {"key": "api-key"},
        "channel": {
            "without_namespace": {
                "presence": true, "join_leave": true, "force_push_join_leave": true,
                "history_size": 100, "history_ttl": "300s", "force_recovery": true,
                "allow_subscribe_for_client": true, "allow_publish_for_subscriber": true,
                "allow_presence_for_subscriber": true, "allow_history_for_subscriber": true
            },
            "namespaces": [{"name": "priv", "history_size": 10, "history_ttl": "300s"}]
        }
    });
    Config::from_json_str(&cfg.to_string()).expect("test config")
}

impl Srv {
    pub async fn start(cfg: Config) -> Srv {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let beacon = Beacon::new(cfg).expect("beacon");
        let mut s = Srv {
            beacon,
            addr,
            task: None,
        };
        s.serve(listener);
        s
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let router = self.beacon.router();
        self.task = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        }));
    }

    pub fn url(&self) -> String {
        format!("ws://{}/connection/websocket", self.addr)
    }

    /// Stops accepting connections and drops `user`'s sessions with 3001 (history kept).
    pub async fn go_down(&mut self, user: &str) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
        self.beacon
            .disconnect(user, "", Some((3001, "shutdown".into())))
            .expect("disconnect");
    }

    /// Serves the same beacon node again on the same port.
    pub async fn come_back(&mut self) {
        let listener = bind_retry(self.addr).await;
        self.serve(listener);
    }

    /// Replaces the node with a fresh one (memory history gone) on the same port.
    pub async fn restart_fresh(&mut self, cfg: Config, user: &str) {
        self.go_down(user).await;
        self.beacon.shutdown();
        self.beacon = Beacon::new(cfg).expect("beacon");
        self.come_back().await;
    }
}

async fn bind_retry(addr: SocketAddr) -> tokio::net::TcpListener {
    for _ in 0..50 {
        if let Ok(l) = tokio::net::TcpListener::bind(addr).await {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("could not rebind {addr}");
}

pub fn conn_token(user: &str, ttl: Option<i64>) -> String {
    conn_token_with(ConnectionClaims {
        sub: user.into(),
        exp: ttl.map(|t| now_unix() + t),
        ..Default::default()
    })
}

pub fn conn_token_with(claims: ConnectionClaims) -> String {
    mint_hs256(&claims, SECRET).expect("mint")
}

pub fn sub_token(user: &str, channel: &str, ttl: Option<i64>) -> String {
    mint_hs256(
        &SubscriptionClaims {
            sub: user.into(),
            channel: channel.into(),
            exp: ttl.map(|t| now_unix() + t),
            ..Default::default()
        },
        SECRET,
    )
    .expect("mint")
}
