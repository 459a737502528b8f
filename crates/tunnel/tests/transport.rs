//! Transport conformance: the same cases against the in-process transport and a real
//! nats-server.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use common::{unique, Pair};
use wowlab_tunnel::transport::{Headers, Message, Subscription};
use wowlab_tunnel::TransportError;

async fn recv(sub: &mut Subscription) -> Message {
    tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("a message within 10 s")
        .expect("subscription open")
}

/// Whether a message arrives within a short grace period (used only to check absence).
async fn nothing_more(sub: &mut Subscription) -> bool {
    tokio::time::timeout(Duration::from_millis(300), sub.next())
        .await
        .is_err()
}

async fn publish_subscribe_carries_headers_and_raw_payload(p: Pair) {
    let subject = format!("{}.msg", unique("t"));
    let mut sub = p.server.subscribe(&subject).await.unwrap();
    p.server.flush().await.unwrap();
    let mut h = Headers::new();
    h.insert("Tunnel-Frame".into(), "data".into());
    h.insert("X-Two".into(), "a value: with spaces".into());
    let payload = Bytes::from((0..=255u8).cycle().take(70_000).collect::<Vec<_>>());
    p.client
        .publish(&subject, h.clone(), payload.clone())
        .await
        .unwrap();
    let m = recv(&mut sub).await;
    assert_eq!(m.subject, subject);
    assert_eq!(m.headers, h);
    assert_eq!(m.payload, payload);
}

async fn wildcards_match_like_nats(p: Pair) {
    let base = unique("w");
    let mut one = p.server.subscribe(&format!("{base}.*.x")).await.unwrap();
    let mut rest = p.server.subscribe(&format!("{base}.>")).await.unwrap();
    p.server.flush().await.unwrap();
    p.client
        .publish(
            &format!("{base}.a.b.c"),
            Headers::new(),
            Bytes::from_static(b"1"),
        )
        .await
        .unwrap();
    p.client
        .publish(
            &format!("{base}.a.x"),
            Headers::new(),
            Bytes::from_static(b"2"),
        )
        .await
        .unwrap();
    assert_eq!(recv(&mut rest).await.payload, "1");
    assert_eq!(recv(&mut rest).await.payload, "2");
    assert_eq!(recv(&mut one).await.payload, "2");
    assert!(nothing_more(&mut one).await);
}

async fn queue_group_delivers_each_message_once(p: Pair) {
    let subject = format!("{}.q", unique("q"));
    let mut a = p.server.queue_subscribe(&subject, "workers").await.unwrap();
    let mut b = p.server.queue_subscribe(&subject, "workers").await.unwrap();
    let mut all = p.server.subscribe(&subject).await.unwrap();
    p.server.flush().await.unwrap();
    for i in 0..40u32 {
        p.client
            .publish(&subject, Headers::new(), Bytes::from(i.to_string()))
            .await
            .unwrap();
    }
    for _ in 0..40 {
        recv(&mut all).await;
    }
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    while got_a.len() + got_b.len() < 40 {
        tokio::select! {
            m = a.next() => got_a.push(m.unwrap().payload),
            m = b.next() => got_b.push(m.unwrap().payload),
            _ = tokio::time::sleep(Duration::from_secs(10)) => panic!("queue group lost messages"),
        }
    }
    assert!(nothing_more(&mut a).await && nothing_more(&mut b).await);
    let distinct: HashSet<_> = got_a.iter().chain(&got_b).collect();
    assert_eq!(distinct.len(), 40, "each message exactly once");
    assert!(
        !got_a.is_empty() && !got_b.is_empty(),
        "both members served"
    );
}

async fn order_is_kept_per_publisher(p: Pair) {
    let subject = format!("{}.o", unique("o"));
    let mut sub = p.server.subscribe(&subject).await.unwrap();
    p.server.flush().await.unwrap();
    for i in 0..2000u32 {
        p.client
            .publish(
                &subject,
                Headers::new(),
                Bytes::from(i.to_be_bytes().to_vec()),
            )
            .await
            .unwrap();
    }
    for i in 0..2000u32 {
        assert_eq!(
            recv(&mut sub).await.payload,
            Bytes::from(i.to_be_bytes().to_vec())
        );
    }
}

async fn dropping_a_subscription_unsubscribes(p: Pair) {
    let subject = format!("{}.d", unique("d"));
    let gone = p.server.queue_subscribe(&subject, "g").await.unwrap();
    let mut kept = p.server.queue_subscribe(&subject, "g").await.unwrap();
    drop(gone);
    p.server.flush().await.unwrap();
    for i in 0..20u32 {
        p.client
            .publish(&subject, Headers::new(), Bytes::from(i.to_string()))
            .await
            .unwrap();
    }
    // Had the dropped member stayed in the group, about half would be lost to it.
    for i in 0..20u32 {
        assert_eq!(recv(&mut kept).await.payload, Bytes::from(i.to_string()));
    }
}

async fn invalid_subjects_and_headers_are_refused(p: Pair) {
    for bad in ["", "a..b", "a.*", "a.>", "a b"] {
        let err = p
            .client
            .publish(bad, Headers::new(), Bytes::new())
            .await
            .unwrap_err();
        assert!(
            matches!(err, TransportError::Invalid { .. }),
            "{bad:?}: {err}"
        );
    }
    for bad in ["a.>.b", "a..b", "a*.b"] {
        assert!(matches!(
            p.client.subscribe(bad).await,
            Err(TransportError::Invalid { .. })
        ));
    }
    let mut h = Headers::new();
    h.insert("X".into(), "line\r\nbreak".into());
    assert!(matches!(
        p.client.publish("a.b", h, Bytes::new()).await,
        Err(TransportError::Invalid { .. })
    ));
    let mut h = Headers::new();
    h.insert("Bad:Name".into(), "v".into());
    assert!(matches!(
        p.client.publish("a.b", h, Bytes::new()).await,
        Err(TransportError::Invalid { .. })
    ));
}

conformance!(
    publish_subscribe_carries_headers_and_raw_payload,
    wildcards_match_like_nats,
    queue_group_delivers_each_message_once,
    order_is_kept_per_publisher,
    dropping_a_subscription_unsubscribes,
    invalid_subjects_and_headers_are_refused,
);
