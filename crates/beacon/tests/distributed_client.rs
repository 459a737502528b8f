//! The Rust client (`wowlab-centrifuge`) behind a switchable loopback proxy (the load balancer)
//! in front of two beacons sharing real NATS and Redis: beacon A goes away mid-stream, the
//! client reconnects through the proxy to B and recovers; every publication arrives once, in
//! order.

mod common;

use common::*;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use wowlab_centrifuge::{Client, ClientConfig, Protocol, SubscriptionConfig, SubscriptionEvent};

/// TCP proxy to `backend`; `cut()` drops every proxied connection.
struct Proxy {
    port: u16,
    backend: Arc<AtomicU16>,
    conns: Arc<parking_lot::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(backend: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let backend = Arc::new(AtomicU16::new(backend));
        let conns = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let (b, c) = (backend.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut down, _)) = listener.accept().await {
                let to = b.load(Ordering::SeqCst);
                c.lock().push(tokio::spawn(async move {
                    if let Ok(mut up) = TcpStream::connect(("127.0.0.1", to)).await {
                        let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                    }
                }));
            }
        });
        Proxy {
            port,
            backend,
            conns,
            accept,
        }
    }
    fn switch_to(&self, port: u16) {
        self.backend.store(port, Ordering::SeqCst);
    }
    fn cut(&self) {
        for t in self.conns.lock().drain(..) {
            t.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_fails_over_from_a_to_b_without_loss_or_duplicates() {
    let (Some(nats), Some(redis)) = (
        service_url("WOWLAB_TEST_NATS_URL"),
        service_url("WOWLAB_TEST_REDIS_URL"),
    ) else {
        return;
    };
    const TOTAL: u64 = 3000;
    let prefix = format!(
        "rc{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let cfg = || {
        config(serde_json::json!({
            "client": {"recovery_max_publication_limit": 10000},
            "channel": {"namespaces": [{
                "name": "big", "history_size": 10000, "history_ttl": "300s",
                "force_recovery": true, "allow_subscribe_for_client": true
            }]},
            "broker": {"enabled": true, "type": "nats", "nats": {"url": nats, "prefix": prefix}},
            "presence_manager": {"enabled": true, "type": "redis",
                                 "redis": {"address": redis, "prefix": prefix}},
        }))
    };
    let a = start_engines(cfg()).await;
    let b = start_engines(cfg()).await;
    let proxy = Proxy::start(a.addr.port()).await;

    let client = Client::new(
        ClientConfig::new(format!(
            "ws://127.0.0.1:{}/connection/websocket",
            proxy.port
        ))
        .protocol(Protocol::Protobuf)
        .token(token("rust", None))
        .reconnect_delay(Duration::from_millis(50), Duration::from_millis(300))
        .event_capacity(20_000),
    );
    let sub = client
        .new_subscription("big:stream", SubscriptionConfig::default())
        .unwrap();
    let mut events = sub.events();
    let got = Arc::new(parking_lot::Mutex::new(Vec::<(u64, u64)>::new()));
    let recovered = Arc::new(parking_lot::Mutex::new(Vec::<bool>::new()));
    let (g, r) = (got.clone(), recovered.clone());
    let collector = tokio::spawn(async move {
        while let Ok(ev) = events.recv().await {
            match ev {
                SubscriptionEvent::Publication(p) => {
                    let v: serde_json::Value = serde_json::from_slice(&p.data).unwrap();
                    g.lock().push((p.offset, v["n"].as_u64().unwrap()));
                }
                SubscriptionEvent::Subscribed(info) => r.lock().push(info.recovered),
                _ => {}
            }
        }
    });
    sub.subscribe().unwrap();
    client.connect();
    sub.ready(Duration::from_secs(5)).await.expect("subscribed");

    // B's in-process API publishes throughout; A goes away after the first 500 arrived.
    let publisher = {
        let beacon = b.beacon.clone();
        tokio::spawn(async move {
            for n in 1..=TOTAL {
                beacon
                    .publish("big:stream", format!("{{\"n\":{n}}}"))
                    .await
                    .expect("publish on B");
                // A steady stream rather than one burst, so the cut lands in the middle.
                if n % 50 == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while got.lock().len() < 500 {
        assert!(tokio::time::Instant::now() < deadline, "first 500 via A");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!publisher.is_finished(), "A must go away mid-stream");
    proxy.switch_to(b.addr.port());
    proxy.cut();
    a.stop().await;
    publisher.await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while (got.lock().len() as u64) < TOTAL {
        assert!(
            tokio::time::Instant::now() < deadline,
            "all {TOTAL} publications, have {}",
            got.lock().len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got = got.lock().clone();
    assert_eq!(got.len() as u64, TOTAL, "no duplicates");
    for (i, (offset, n)) in got.iter().enumerate() {
        assert_eq!((*offset, *n), (i as u64 + 1, i as u64 + 1), "order at {i}");
    }
    let recovered = recovered.lock().clone();
    assert!(
        recovered.len() >= 2,
        "resubscribed after the cut: {recovered:?}"
    );
    assert!(recovered[1..].iter().all(|r| *r), "{recovered:?}");
    client.disconnect().await;
    collector.abort();
    b.stop().await;
}
