//! Client behaviour against a scripted fake server: batching, pings/pongs, reconnect rules,
//! tokens, calls, and a misbehaving server (garbage, truncated frames, unknown pushes,
//! oversized messages) that must give typed errors and a reconnect, never a panic or hang.

mod support;

use bytes::Bytes;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::fake::{connect_result, FakeServer};
use tokio::sync::broadcast;
use wowlab_centrifuge::{
    codes, Client, ClientConfig, ClientEvent, Error, Protocol, State, SubscriptionConfig,
    SubscriptionEvent, SubscriptionState, TokenError,
};
use wowlab_protocol::proto::*;

const T: Duration = Duration::from_secs(5);

fn cfg(url: &str) -> ClientConfig {
    ClientConfig::new(url)
        .token("tok")
        .reconnect_delay(Duration::from_millis(20), Duration::from_millis(100))
        .timeout(Duration::from_secs(2))
}

/// Waits for the first event matching `f` (panics after 5 s).
async fn wait_for<E: Clone, R>(
    rx: &mut broadcast::Receiver<E>,
    mut f: impl FnMut(&E) -> Option<R>,
) -> R {
    tokio::time::timeout(T, async {
        loop {
            match rx.recv().await {
                Ok(ev) => {
                    if let Some(r) = f(&ev) {
                        return r;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(e) => panic!("event channel closed: {e}"),
            }
        }
    })
    .await
    .expect("event within 5 s")
}

fn pub_push(channel: &str, offset: u64, data: &str) -> Reply {
    Reply {
        push: Some(Push {
            channel: channel.into(),
            r#pub: Some(Publication {
                data: Bytes::copy_from_slice(data.as_bytes()),
                offset,
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn connect_and_subscribes_share_the_first_frame() {
    for protocol in [Protocol::Protobuf, Protocol::Json] {
        let mut srv = FakeServer::start().await;
        let client = Client::new(cfg(&srv.url).protocol(protocol).name("test"));
        let a = client
            .new_subscription("a", SubscriptionConfig::default())
            .expect("sub");
        let b = client
            .new_subscription("b", SubscriptionConfig::default())
            .expect("sub");
        a.subscribe().expect("subscribe");
        b.subscribe().expect("subscribe");
        client.connect();
        let mut conn = srv.accept().await;
        assert_eq!(conn.protocol, protocol);
        let cmds = conn.recv().await;
        assert_eq!(cmds.len(), 3, "{cmds:?}");
        let connect = cmds[0].connect.as_ref().expect("connect");
        assert_eq!(
            (connect.token.as_str(), connect.name.as_str()),
            ("tok", "test")
        );
        let mut channels: Vec<_> = cmds[1..]
            .iter()
            .map(|c| c.subscribe.as_ref().expect("subscribe").channel.clone())
            .collect();
        channels.sort();
        assert_eq!(channels, ["a", "b"]);
        let mut replies = vec![Reply {
            id: cmds[0].id,
            connect: Some(connect_result()),
            ..Default::default()
        }];
        for c in &cmds[1..] {
            replies.push(Reply {
                id: c.id,
                subscribe: Some(SubscribeResult::default()),
                ..Default::default()
            });
        }
        conn.send(&replies).await;
        a.ready(T).await.expect("a subscribed");
        b.ready(T).await.expect("b subscribed");
        assert_eq!(client.state(), State::Connected);
        assert_eq!(
            client.subscription("a").map(|s| s.state()),
            Some(SubscriptionState::Subscribed)
        );
    }
}

#[tokio::test]
async fn answers_pings_with_pongs_and_calls_buffer_while_connecting() {
    let mut srv = FakeServer::start().await;
    let client = Client::new(cfg(&srv.url));
    client.connect();
    // Issued before the server answered connect: must be buffered, then batched.
    let c1 = client.clone();
    let publish = tokio::spawn(async move { c1.publish("chat", &b"{}"[..]).await });
    let c2 = client.clone();
    let stats = tokio::spawn(async move { c2.presence_stats("chat").await });
    let mut conn = srv.accept().await;
    let first = conn.recv().await;
    assert_eq!(
        first.len(),
        1,
        "only connect before the connect reply: {first:?}"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    conn.send(&[Reply {
        id: first[0].id,
        connect: Some(connect_result()),
        ..Default::default()
    }])
    .await;
    let calls = conn.recv().await;
    assert_eq!(
        calls.len(),
        2,
        "queued calls go out in one frame: {calls:?}"
    );
    let (p, s) = if calls[0].publish.is_some() {
        (&calls[0], &calls[1])
    } else {
        (&calls[1], &calls[0])
    };
    conn.send(&[
        Reply {
            id: p.id,
            publish: Some(PublishResult {}),
            ..Default::default()
        },
        Reply {
            id: s.id,
            presence_stats: Some(PresenceStatsResult {
                num_clients: 2,
                num_users: 1,
            }),
            ..Default::default()
        },
    ])
    .await;
    publish.await.expect("join").expect("publish ok");
    assert_eq!(stats.await.expect("join").expect("stats").num_clients, 2);

    // Ping → pong (empty command).
    conn.send(&[Reply::default()]).await;
    let pong = conn.recv().await;
    assert_eq!(pong, vec![Command::default()]);
}

#[tokio::test]
async fn calls_report_server_errors_and_timeouts() {
    let mut srv = FakeServer::start().await;
    let client = Client::new(cfg(&srv.url).timeout(Duration::from_millis(300)));
    client.connect();
    let mut conn = srv.accept().await;
    conn.handshake(connect_result()).await;
    client.ready(T).await.expect("connected");

    let c = client.clone();
    let rpc = tokio::spawn(async move { c.rpc("m", &b"1"[..]).await });
    let cmd = conn.recv().await.remove(0);
    assert_eq!(cmd.rpc.as_ref().map(|r| r.method.as_str()), Some("m"));
    conn.send(&[Reply {
        id: cmd.id,
        error: Some(wowlab_protocol::codes::error::to_error(108)),
        ..Default::default()
    }])
    .await;
    let err = rpc.await.expect("join").expect_err("error");
    assert!(
        matches!(err, Error::Server { code: 108, ref message, temporary: false } if message == "not available"),
        "{err}"
    );

    // No reply → Timeout.
    let err = client
        .history("chat", Default::default())
        .await
        .expect_err("timeout");
    assert!(matches!(err, Error::Timeout), "{err}");

    // Disconnected client fails fast.
    client.disconnect().await;
    assert_eq!(client.state(), State::Disconnected);
    assert!(matches!(
        client.publish("x", &b"1"[..]).await,
        Err(Error::Disconnected)
    ));
}

#[tokio::test]
async fn missing_pings_trigger_reconnect() {
    let mut srv = FakeServer::start().await;
    let client = Client::new(cfg(&srv.url).max_server_ping_delay(Duration::from_millis(200)));
    let mut events = client.events();
    client.connect();
    let mut conn = srv.accept().await;
    conn.handshake(ConnectResult {
        ping: 1,
        ..connect_result()
    })
    .await;
    // Stay silent: the client expects a ping within 1 s + 200 ms.
    let code = wait_for(&mut events, |e| match e {
        ClientEvent::Connecting { code, .. } if *code == codes::connecting::NO_PING => Some(*code),
        _ => None,
    })
    .await;
    assert_eq!(code, codes::connecting::NO_PING);
    let mut conn2 = srv.accept().await;
    conn2.handshake(connect_result()).await;
    client.ready(T).await.expect("reconnected");
    drop(conn);
}

#[tokio::test]
async fn reconnect_codes_reconnect_and_terminal_codes_stop() {
    let mut srv = FakeServer::start().await;
    let client = Client::new(cfg(&srv.url));
    let mut events = client.events();
    client.connect();
    let mut conn = srv.accept().await;
    conn.handshake(connect_result()).await;
    client.ready(T).await.expect("connected");

    conn.close(3001, "shutdown").await;
    wait_for(&mut events, |e| {
        matches!(e, ClientEvent::Connecting { code: 3001, .. }).then_some(())
    })
    .await;
    let mut conn = srv.accept().await;
    conn.handshake(connect_result()).await;
    client.ready(T).await.expect("reconnected");

    conn.close(3500, "invalid token").await;
    wait_for(&mut events, |e| {
        matches!(e, ClientEvent::Disconnected { code: 3500, .. }).then_some(())
    })
    .await;
    assert_eq!(client.state(), State::Disconnected);
    assert!(
        srv.try_accept(Duration::from_millis(500)).await.is_none(),
        "no reconnect after 3500"
    );

    // Terminal connect error (not temporary) stops too.
    client.connect();
    let mut conn = srv.accept().await;
    let cmds = conn.recv().await;
    conn.send(&[Reply {
        id: cmds[0].id,
        error: Some(wowlab_protocol::codes::error::to_error(103)),
        ..Default::default()
    }])
    .await;
    wait_for(&mut events, |e| {
        matches!(e, ClientEvent::Disconnected { code: 103, .. }).then_some(())
    })
    .await;
    assert!(srv.try_accept(Duration::from_millis(300)).await.is_none());

    // 1009 is terminal (message size limit).
    client.connect();
    let mut conn = srv.accept().await;
    conn.handshake(connect_result()).await;
    conn.close(1009, "too big").await;
    wait_for(&mut events, |e| {
        matches!(e, ClientEvent::Disconnected { code, .. } if *code == codes::disconnected::MESSAGE_SIZE_LIMIT).then_some(())
    })
    .await;
}

#[tokio::test]
async fn garbage_and_truncated_frames_give_decode_errors_and_reconnect() {
    let bad_frames: Vec<(Protocol, Vec<u8>)> = vec![
        (Protocol::Protobuf, vec![0xff, 0xff, 0xff]), // truncated varint
        (Protocol::Protobuf, vec![0x20, 0x0a, 0x01]), // length over frame
        (Protocol::Protobuf, vec![0x03, 0x22, 0x09, 0x00]), // bad inner message
        (Protocol::Json, b"{\"push\":{\"channel\":".to_vec()), // truncated JSON
        (Protocol::Json, b"\x00\x01garbage".to_vec()), // garbage
        (Protocol::Json, b"[1,2,3]".to_vec()),        // not an object
    ];
    for (protocol, frame) in bad_frames {
        let mut srv = FakeServer::start().await;
        let client = Client::new(cfg(&srv.url).protocol(protocol));
        let mut events = client.events();
        client.connect();
        let mut conn = srv.accept().await;
        conn.handshake(connect_result()).await;
        client.ready(T).await.expect("connected");
        if protocol == Protocol::Json && frame.starts_with(b"\x00") {
            conn.send_binary(frame.clone()).await;
        } else {
            conn.send_raw(frame.clone()).await;
        }
        let err = wait_for(&mut events, |e| match e {
            ClientEvent::Error(e @ Error::Decode(_)) => Some(e.clone()),
            _ => None,
        })
        .await;
        assert!(!err.to_string().is_empty());
        wait_for(&mut events, |e| {
            matches!(e, ClientEvent::Connecting { code, .. } if *code == codes::connecting::BAD_FRAME).then_some(())
        })
        .await;
        let mut conn2 = srv.accept().await;
        conn2.handshake(connect_result()).await;
        client.ready(T).await.expect("reconnected after bad frame");
    }
}

#[tokio::test]
async fn oversized_messages_are_transport_errors_and_reconnect() {
    let mut srv = FakeServer::start().await;
    let client = Client::new(cfg(&srv.url).max_message_size(1024));
    let mut events = client.events();
    client.connect();
    let mut conn = srv.accept().await;
    conn.handshake(connect_result()).await;
    client.ready(T).await.expect("connected");
    let big = pub_push("c", 1, &format!("\"{}\"", "x".repeat(4096)));
    conn.send(&[big]).await;
    wait_for(&mut events, |e| {
        matches!(e, ClientEvent::Error(Error::Transport(_))).then_some(())
    })
    .await;
    let mut conn2 = srv.accept().await;
    conn2.handshake(connect_result()).await;
    client.ready(T).await.expect("reconnected");
}

#[tokio::test]
async fn unknown_push_types_are_ignored_without_dropping_the_connection() {
    let mut srv = FakeServer::start().await;
    let client = Client::new(cfg(&srv.url));
    let mut events = client.events();
    let sub = client
        .new_subscription("chat", SubscriptionConfig::default())
        .expect("sub");
    let mut sub_events = sub.events();
    sub.subscribe().expect("subscribe");
    client.connect();
    let mut conn = srv.accept().await;
    let cmds = conn.recv().await;
    conn.send(&[
        Reply {
            id: cmds[0].id,
            connect: Some(connect_result()),
            ..Default::default()
        },
        Reply {
            id: cmds[1].id,
            subscribe: Some(SubscribeResult::default()),
            ..Default::default()
        },
    ])
    .await;
    sub.ready(T).await.expect("subscribed");
    // Reply{push:{channel:"chat", <field 20: bytes "x">}} — a push kind from the future.
    let push_body = [0x12, 0x04, b'c', b'h', b'a', b't', 0xa2, 0x01, 0x01, b'x'];
    let mut reply = vec![0x22, push_body.len() as u8];
    reply.extend_from_slice(&push_body);
    let mut frame = vec![reply.len() as u8];
    frame.extend_from_slice(&reply);
    conn.send_binary(frame).await;
    conn.send(&[pub_push("chat", 0, "{\"after\":true}")]).await;
    let data = wait_for(&mut sub_events, |e| match e {
        SubscriptionEvent::Publication(p) => Some(p.data.clone()),
        _ => None,
    })
    .await;
    assert_eq!(&data[..], b"{\"after\":true}");
    assert_eq!(client.state(), State::Connected);
    while let Ok(e) = events.try_recv() {
        assert!(
            !matches!(e, ClientEvent::Error(_)),
            "unexpected error event {e:?}"
        );
    }
}

#[tokio::test]
async fn expired_token_is_replaced_through_the_callback_and_refreshed_before_expiry() {
    let mut srv = FakeServer::start().await;
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let client = Client::new(cfg(&srv.url).get_token(move || {
        let n = c.fetch_add(1, Ordering::SeqCst) + 1;
        async move { Ok(format!("fresh-{n}")) }
    }));
    client.connect();
    let mut conn = srv.accept().await;
    let cmds = conn.recv().await;
    assert_eq!(
        cmds[0].connect.as_ref().map(|c| c.token.as_str()),
        Some("tok"),
        "static token first"
    );
    conn.send(&[Reply {
        id: cmds[0].id,
        error: Some(wowlab_protocol::codes::error::to_error(109)),
        ..Default::default()
    }])
    .await;
    let mut conn = srv.accept().await;
    let cmds = conn.recv().await;
    assert_eq!(
        cmds[0].connect.as_ref().map(|c| c.token.as_str()),
        Some("fresh-1")
    );
    conn.send(&[Reply {
        id: cmds[0].id,
        connect: Some(ConnectResult {
            expires: true,
            ttl: 1,
            ..connect_result()
        }),
        ..Default::default()
    }])
    .await;
    client.ready(T).await.expect("connected");
    let started = tokio::time::Instant::now();
    let refresh = conn.recv().await.remove(0);
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "refresh before the 1 s expiry"
    );
    assert_eq!(
        refresh.refresh.as_ref().map(|r| r.token.as_str()),
        Some("fresh-2")
    );
    conn.send(&[Reply {
        id: refresh.id,
        refresh: Some(RefreshResult {
            expires: true,
            ttl: 1,
            ..Default::default()
        }),
        ..Default::default()
    }])
    .await;
    let again = conn.recv().await.remove(0);
    assert_eq!(
        again.refresh.as_ref().map(|r| r.token.as_str()),
        Some("fresh-3")
    );
}

#[tokio::test]
async fn unauthorized_token_callback_stops_the_client() {
    let mut srv = FakeServer::start().await;
    let client = Client::new(
        ClientConfig::new(&srv.url)
            .reconnect_delay(Duration::from_millis(20), Duration::from_millis(50))
            .get_token(|| async { Err(TokenError::Unauthorized) }),
    );
    let mut events = client.events();
    client.connect();
    wait_for(&mut events, |e| {
        matches!(e, ClientEvent::Disconnected { code, .. } if *code == codes::disconnected::UNAUTHORIZED).then_some(())
    })
    .await;
    assert!(srv.try_accept(Duration::from_millis(200)).await.is_none());
}

#[tokio::test]
async fn failing_token_callback_is_retried_with_backoff() {
    let mut srv = FakeServer::start().await;
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let client = Client::new(
        ClientConfig::new(&srv.url)
            .reconnect_delay(Duration::from_millis(20), Duration::from_millis(50))
            .get_token(move || {
                let n = c.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 2 {
                        Err(TokenError::Failed("auth service down".into()))
                    } else {
                        Ok("ok".to_string())
                    }
                }
            }),
    );
    client.connect();
    let mut conn = srv.accept().await;
    let cmds = conn.handshake(connect_result()).await;
    assert_eq!(
        cmds[0].connect.as_ref().map(|c| c.token.as_str()),
        Some("ok")
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    client.ready(T).await.expect("connected");
}

#[tokio::test]
async fn subscription_recovers_from_last_offset_after_reconnect() {
    let mut srv = FakeServer::start().await;
    let client = Client::new(cfg(&srv.url));
    let sub = client
        .new_subscription("chat", SubscriptionConfig::default().recoverable(true))
        .expect("sub");
    let mut ev = sub.events();
    sub.subscribe().expect("subscribe");
    client.connect();
    let mut conn = srv.accept().await;
    let cmds = conn.recv().await;
    let s = cmds[1].subscribe.as_ref().expect("subscribe");
    assert!(s.recoverable && !s.recover);
    conn.send(&[
        Reply {
            id: cmds[0].id,
            connect: Some(connect_result()),
            ..Default::default()
        },
        Reply {
            id: cmds[1].id,
            subscribe: Some(SubscribeResult {
                recoverable: true,
                epoch: "E".into(),
                offset: 7,
                positioned: true,
                ..Default::default()
            }),
            ..Default::default()
        },
        pub_push("chat", 8, "8"),
    ])
    .await;
    let off = wait_for(&mut ev, |e| match e {
        SubscriptionEvent::Publication(p) => Some(p.offset),
        _ => None,
    })
    .await;
    assert_eq!(off, 8);
    conn.close(3001, "shutdown").await;
    wait_for(&mut ev, |e| {
        matches!(e, SubscriptionEvent::Subscribing { .. }).then_some(())
    })
    .await;

    let mut conn = srv.accept().await;
    let cmds = conn.recv().await;
    let s = cmds[1].subscribe.as_ref().expect("resubscribe");
    assert!(s.recover, "{s:?}");
    assert_eq!((s.epoch.as_str(), s.offset), ("E", 8));
    conn.send(&[
        Reply {
            id: cmds[0].id,
            connect: Some(connect_result()),
            ..Default::default()
        },
        Reply {
            id: cmds[1].id,
            subscribe: Some(SubscribeResult {
                recoverable: true,
                positioned: true,
                epoch: "E".into(),
                offset: 8,
                was_recovering: true,
                recovered: true,
                publications: vec![
                    Publication {
                        data: Bytes::from_static(b"9"),
                        offset: 9,
                        ..Default::default()
                    },
                    Publication {
                        data: Bytes::from_static(b"10"),
                        offset: 10,
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }),
            ..Default::default()
        },
    ])
    .await;
    let info = wait_for(&mut ev, |e| match e {
        SubscriptionEvent::Subscribed(i) => Some(i.clone()),
        _ => None,
    })
    .await;
    assert!(info.recovered && info.was_recovering);
    let mut got = Vec::new();
    while got.len() < 2 {
        got.push(
            wait_for(&mut ev, |e| match e {
                SubscriptionEvent::Publication(p) => Some(p.offset),
                _ => None,
            })
            .await,
        );
    }
    assert_eq!(got, [9, 10]);
    // Next resubscribe would recover from 10.
    conn.send(&[Reply {
        push: Some(Push {
            channel: "chat".into(),
            unsubscribe: Some(Unsubscribe {
                code: 2500,
                reason: "insufficient state".into(),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }])
    .await;
    let cmd = conn.recv().await.remove(0);
    let s = cmd.subscribe.expect("resubscribe after 2500");
    assert_eq!((s.recover, s.offset), (true, 10));
    // 2000 is terminal.
    conn.send(&[Reply {
        push: Some(Push {
            channel: "chat".into(),
            unsubscribe: Some(Unsubscribe {
                code: 2000,
                reason: "server unsubscribe".into(),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }])
    .await;
    wait_for(&mut ev, |e| {
        matches!(e, SubscriptionEvent::Unsubscribed { code: 2000, .. }).then_some(())
    })
    .await;
    assert_eq!(sub.state(), SubscriptionState::Unsubscribed);
}

#[tokio::test]
async fn subscription_token_callback_and_sub_refresh() {
    let mut srv = FakeServer::start().await;
    let client = Client::new(cfg(&srv.url));
    let n = Arc::new(AtomicU32::new(0));
    let n2 = n.clone();
    let sub = client
        .new_subscription(
            "$private",
            SubscriptionConfig::default().get_token(move |ch| {
                let k = n2.fetch_add(1, Ordering::SeqCst) + 1;
                async move { Ok(format!("{ch}-{k}")) }
            }),
        )
        .expect("sub");
    sub.subscribe().expect("subscribe");
    client.connect();
    let mut conn = srv.accept().await;
    let cmds = conn.recv().await;
    assert_eq!(cmds.len(), 1, "token fetched after connect: {cmds:?}");
    conn.send(&[Reply {
        id: cmds[0].id,
        connect: Some(connect_result()),
        ..Default::default()
    }])
    .await;
    let cmd = conn.recv().await.remove(0);
    let s = cmd.subscribe.as_ref().expect("subscribe");
    assert_eq!(s.token, "$private-1");
    conn.send(&[Reply {
        id: cmd.id,
        subscribe: Some(SubscribeResult {
            expires: true,
            ttl: 1,
            ..Default::default()
        }),
        ..Default::default()
    }])
    .await;
    sub.ready(T).await.expect("subscribed");
    let r = conn.recv().await.remove(0);
    let sr = r.sub_refresh.as_ref().expect("sub_refresh");
    assert_eq!(
        (sr.channel.as_str(), sr.token.as_str()),
        ("$private", "$private-2")
    );
    // Non-temporary refresh error → unsubscribed + unsubscribe command.
    let mut ev = sub.events();
    conn.send(&[Reply {
        id: r.id,
        error: Some(wowlab_protocol::codes::error::to_error(103)),
        ..Default::default()
    }])
    .await;
    wait_for(&mut ev, |e| {
        matches!(e, SubscriptionEvent::Unsubscribed { code: 103, .. }).then_some(())
    })
    .await;
    let u = conn.recv().await.remove(0);
    assert_eq!(
        u.unsubscribe.map(|u| u.channel),
        Some("$private".to_string())
    );
}

#[tokio::test]
async fn server_side_subscriptions_get_events_and_recover() {
    let mut srv = FakeServer::start().await;
    let client = Client::new(cfg(&srv.url));
    let mut events = client.events();
    client.connect();
    let mut conn = srv.accept().await;
    let mut res = connect_result();
    res.subs.insert(
        "#42".into(),
        SubscribeResult {
            recoverable: true,
            epoch: "X".into(),
            offset: 3,
            ..Default::default()
        },
    );
    conn.handshake(res).await;
    let info = wait_for(&mut events, |e| match e {
        ClientEvent::Subscribed(i) => Some(i.clone()),
        _ => None,
    })
    .await;
    assert_eq!(info.channel, "#42");
    conn.send(&[pub_push("#42", 4, "{\"n\":4}")]).await;
    let (ch, off) = wait_for(&mut events, |e| match e {
        ClientEvent::Publication {
            channel,
            publication,
        } => Some((channel.clone(), publication.offset)),
        _ => None,
    })
    .await;
    assert_eq!((ch.as_str(), off), ("#42", 4));
    conn.close(3001, "shutdown").await;
    let mut conn = srv.accept().await;
    let cmds = conn.recv().await;
    let subs = &cmds[0].connect.as_ref().expect("connect").subs;
    let s = subs.get("#42").expect("server sub recovery request");
    assert!(s.recover);
    assert_eq!((s.epoch.as_str(), s.offset), ("X", 4));
}

#[tokio::test]
async fn subscribe_timeout_restarts_the_connection() {
    let mut srv = FakeServer::start().await;
    let client = Client::new(cfg(&srv.url).timeout(Duration::from_millis(300)));
    let mut events = client.events();
    let sub = client
        .new_subscription("slow", SubscriptionConfig::default())
        .expect("sub");
    sub.subscribe().expect("subscribe");
    client.connect();
    let mut conn = srv.accept().await;
    let cmds = conn.recv().await;
    conn.send(&[Reply {
        id: cmds[0].id,
        connect: Some(connect_result()),
        ..Default::default()
    }])
    .await;
    wait_for(&mut events, |e| {
        matches!(e, ClientEvent::Connecting { code, .. } if *code == codes::connecting::SUBSCRIBE_TIMEOUT).then_some(())
    })
    .await;
    assert!(srv.try_accept(Duration::from_secs(2)).await.is_some());
}

#[tokio::test]
async fn duplicate_subscription_is_rejected_and_remove_allows_again() {
    let srv = FakeServer::start().await;
    let client = Client::new(cfg(&srv.url));
    let s = client
        .new_subscription("x", SubscriptionConfig::default())
        .expect("sub");
    assert!(matches!(
        client.new_subscription("x", SubscriptionConfig::default()),
        Err(Error::DuplicateSubscription(_))
    ));
    client.remove_subscription(&s);
    client
        .new_subscription("x", SubscriptionConfig::default())
        .expect("after remove");
}

#[tokio::test]
async fn send_goes_out_without_id_and_is_buffered_while_connecting() {
    let mut srv = FakeServer::start().await;
    let client = Client::new(cfg(&srv.url).protocol(Protocol::Json));
    client.connect();
    let c = client.clone();
    let sent = tokio::spawn(async move { c.send(&br#"{"hello":1}"#[..]).await });
    let mut conn = srv.accept().await;
    conn.handshake(connect_result()).await;
    sent.await.expect("join").expect("send ok");
    let cmds = conn.recv().await;
    assert_eq!(cmds.len(), 1);
    assert_eq!(cmds[0].id, 0, "send has no id");
    assert_eq!(
        cmds[0].send.as_ref().map(|s| &s.data[..]),
        Some(&br#"{"hello":1}"#[..])
    );
    // Non-JSON data cannot be sent in JSON mode: typed encode error, connection kept.
    let err = client.send(&b"\xff\x00"[..]).await.expect_err("not JSON");
    assert!(matches!(err, Error::Encode(_)), "{err}");
    assert_eq!(client.state(), State::Connected);
}

#[tokio::test]
async fn server_message_push_is_an_event() {
    let mut srv = FakeServer::start().await;
    let client = Client::new(cfg(&srv.url));
    let mut events = client.events();
    client.connect();
    let mut conn = srv.accept().await;
    conn.handshake(connect_result()).await;
    conn.send(&[Reply {
        push: Some(Push {
            message: Some(Message {
                data: Bytes::from_static(b"{\"m\":1}"),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }])
    .await;
    let data = wait_for(&mut events, |e| match e {
        ClientEvent::Message(d) => Some(d.clone()),
        _ => None,
    })
    .await;
    assert_eq!(&data[..], b"{\"m\":1}");
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn wss_urls_use_tls() {
    // A plain TCP server that never speaks TLS: the handshake must fail as a transport
    // error (not "TLS support not compiled in") and the client keeps retrying.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            use tokio::io::AsyncWriteExt;
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        }
    });
    let client = Client::new(cfg(&format!(
        "wss://localhost:{}/connection/websocket",
        addr.port()
    )));
    let mut events = client.events();
    client.connect();
    let msg = wait_for(&mut events, |e| match e {
        ClientEvent::Error(Error::Transport(m)) => Some(m.clone()),
        _ => None,
    })
    .await;
    assert!(!msg.contains("not compiled"), "{msg}");
    assert_eq!(client.state(), State::Connecting);
}

#[tokio::test]
async fn state_invalidated_3014_drops_token_and_positions() {
    let mut srv = FakeServer::start().await;
    let n = Arc::new(AtomicU32::new(0));
    let n2 = n.clone();
    let client = Client::new(cfg(&srv.url).get_token(move || {
        let k = n2.fetch_add(1, Ordering::SeqCst) + 1;
        async move { Ok(format!("t{k}")) }
    }));
    let sub = client
        .new_subscription("chat", SubscriptionConfig::default().recoverable(true))
        .expect("sub");
    sub.subscribe().expect("subscribe");
    client.connect();
    let mut conn = srv.accept().await;
    let cmds = conn.recv().await;
    assert_eq!(
        cmds[0].connect.as_ref().map(|c| c.token.as_str()),
        Some("tok")
    );
    conn.send(&[
        Reply {
            id: cmds[0].id,
            connect: Some(connect_result()),
            ..Default::default()
        },
        Reply {
            id: cmds[1].id,
            subscribe: Some(SubscribeResult {
                recoverable: true,
                epoch: "E".into(),
                offset: 5,
                ..Default::default()
            }),
            ..Default::default()
        },
    ])
    .await;
    sub.ready(T).await.expect("subscribed");
    conn.close(3014, "state invalidated").await;
    let mut conn = srv.accept().await;
    let cmds = conn.recv().await;
    assert_eq!(
        cmds[0].connect.as_ref().map(|c| c.token.as_str()),
        Some("t1"),
        "token fetched anew"
    );
    let s = cmds[1].subscribe.as_ref().expect("resubscribe");
    assert!(
        !s.recover && s.epoch.is_empty() && s.offset == 0,
        "positions dropped: {s:?}"
    );
}
