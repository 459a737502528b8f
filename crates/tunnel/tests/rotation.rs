//! `RotatingTransport` against a real nats-server: while messages stream both ways, the
//! transport moves onto new connections several times, and a subscription and the publishes
//! lose, repeat and reorder nothing (a queue subscription repeats nothing). Reconnecting in
//! place, as the credentials refresh did before, loses what the server routes meanwhile.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::unique;
use wowlab_tunnel::transport::{Headers, Subscription};
use wowlab_tunnel::{NatsTransport, RotatingTransport, Transport};

const MESSAGES: u64 = 20_000;
const ROTATIONS: usize = 6;

fn number(payload: &[u8]) -> u64 {
    std::str::from_utf8(payload).unwrap().parse().unwrap()
}

/// Publishes 0..MESSAGES on `subject`, yielding now and then so rotations interleave.
async fn publish_all(t: Arc<dyn Transport>, subject: String) {
    for i in 0..MESSAGES {
        t.publish(&subject, Headers::new(), Bytes::from(i.to_string()))
            .await
            .unwrap();
        if i % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// The numbers `sub` delivers until `MESSAGES` arrived or 2 s pass without one.
async fn collect(mut sub: Subscription) -> Vec<u64> {
    let mut got = Vec::new();
    while (got.len() as u64) < MESSAGES {
        match tokio::time::timeout(Duration::from_secs(2), sub.next()).await {
            Ok(Some(m)) => got.push(number(&m.payload)),
            _ => break,
        }
    }
    // Nothing beyond the last number (a repeat would show here).
    if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(300), sub.next()).await {
        got.push(number(&m.payload));
    }
    got
}

/// Rotates `t` onto fresh connections until `done`, at least `ROTATIONS` times.
async fn keep_rotating(url: String, t: RotatingTransport, done: Arc<AtomicBool>) -> usize {
    let mut n = 0;
    while n < ROTATIONS || !done.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(40)).await;
        let next = async_nats::connect(&url).await.expect("connect");
        t.rotate(next).await.expect("rotate");
        n += 1;
        if n > 1000 {
            break;
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotations_lose_repeat_and_reorder_nothing() {
    let Some(url) = common::nats_url() else {
        return;
    };
    let base = unique("rot");
    let peer: Arc<dyn Transport> = Arc::new(NatsTransport::connect(&url).await.unwrap());
    let rotating = RotatingTransport::new(async_nats::connect(&url).await.unwrap());
    let inbound = format!("{base}.in");
    let queued = format!("{base}.queued");
    let outbound = format!("{base}.out");
    let sub = rotating.subscribe(&inbound).await.unwrap();
    let qsub = rotating.queue_subscribe(&queued, "q").await.unwrap();
    let peer_sub = peer.subscribe(&outbound).await.unwrap();
    rotating.flush().await.unwrap();
    peer.flush().await.unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let rotator = tokio::spawn(keep_rotating(url.clone(), rotating.clone(), done.clone()));
    let readers = (
        tokio::spawn(collect(sub)),
        tokio::spawn(collect(qsub)),
        tokio::spawn(collect(peer_sub)),
    );
    let publishers = (
        tokio::spawn(publish_all(peer.clone(), inbound)),
        tokio::spawn(publish_all(peer.clone(), queued)),
        tokio::spawn(publish_all(Arc::new(rotating.clone()), outbound)),
    );
    publishers.0.await.unwrap();
    publishers.1.await.unwrap();
    publishers.2.await.unwrap();
    done.store(true, Ordering::SeqCst);
    let rotations = rotator.await.unwrap();
    let all: Vec<u64> = (0..MESSAGES).collect();

    let got = readers.0.await.unwrap();
    assert_eq!(
        got.len(),
        all.len(),
        "subscription across {rotations} rotations"
    );
    assert!(got == all, "subscription: lost, repeated or reordered");
    let got = readers.2.await.unwrap();
    assert_eq!(
        got.len(),
        all.len(),
        "publishes across {rotations} rotations"
    );
    assert!(got == all, "publishes: lost, repeated or reordered");
    // A queue group hands each message to one of the two connections while both are
    // subscribed, so order across the change is not kept, and async-nats may drop what was
    // in flight to the old connection when it drains (see `RotatingTransport`): no repeats.
    let got = readers.1.await.unwrap();
    let distinct = got.iter().copied().collect::<BTreeSet<_>>().len();
    assert_eq!(distinct, got.len(), "queue subscription: repeated messages");
    eprintln!(
        "queue subscription: {} of {MESSAGES} across {rotations} rotations",
        got.len()
    );
    assert!(rotations >= ROTATIONS, "{rotations} rotations");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_skips_dropped_subscriptions_and_keeps_the_rest() {
    let Some(url) = common::nats_url() else {
        return;
    };
    let subject = format!("{}.x", unique("rot-drop"));
    let rotating = RotatingTransport::new(async_nats::connect(&url).await.unwrap());
    let sub = rotating.subscribe(&subject).await.unwrap();
    drop(sub);
    let mut kept = rotating
        .subscribe(&format!("{subject}.kept"))
        .await
        .unwrap();
    rotating
        .rotate(async_nats::connect(&url).await.unwrap())
        .await
        .unwrap();
    let peer = NatsTransport::connect(&url).await.unwrap();
    peer.publish(&format!("{subject}.kept"), Headers::new(), Bytes::from("1"))
        .await
        .unwrap();
    let m = tokio::time::timeout(Duration::from_secs(5), kept.next())
        .await
        .expect("delivered after the rotation")
        .expect("open");
    assert_eq!(&m.payload[..], b"1");
}
