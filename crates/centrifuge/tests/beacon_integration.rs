//! The client against a real in-process beacon: every feature end to end, including
//! restarts with recovery, token and subscription-token refresh, and terminal codes.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::beacon::{config, conn_token, conn_token_with, sub_token, Srv};
use support::wait::{drain_for, wait_for};
use wowlab_beacon::auth::ConnectionClaims;
use wowlab_centrifuge::{
    Client, ClientConfig, ClientEvent, Error, HistoryOptions, Protocol, State, SubscriptionConfig,
    SubscriptionEvent, SubscriptionState, TokenError,
};

const T: Duration = Duration::from_secs(10);

fn client_cfg(url: &str, token: String, protocol: Protocol) -> ClientConfig {
    ClientConfig::new(url)
        .token(token)
        .protocol(protocol)
        .reconnect_delay(Duration::from_millis(50), Duration::from_millis(300))
        .timeout(Duration::from_secs(3))
}

async fn next_pub(
    ev: &mut tokio::sync::broadcast::Receiver<SubscriptionEvent>,
) -> wowlab_centrifuge::Publication {
    wait_for(ev, |e| match e {
        SubscriptionEvent::Publication(p) => Some(p.clone()),
        _ => None,
    })
    .await
}

#[tokio::test]
async fn subscribe_publish_presence_history_rpc_in_both_protocols() {
    let srv = Srv::start(config(serde_json::json!({}))).await;
    for protocol in [Protocol::Protobuf, Protocol::Json] {
        let channel = format!("chat-{protocol:?}");
        let client = Client::new(client_cfg(&srv.url(), conn_token("42", None), protocol));
        let sub = client
            .new_subscription(&channel, SubscriptionConfig::default().recoverable(true))
            .expect("sub");
        let mut ev = sub.events();
        sub.subscribe().expect("subscribe");
        client.connect();
        client.ready(T).await.expect("connected");
        sub.ready(T).await.expect("subscribed");
        let info = wait_for(&mut ev, |e| match e {
            SubscriptionEvent::Subscribed(i) => Some(i.clone()),
            _ => None,
        })
        .await;
        assert!(info.recoverable && info.positioned, "{info:?}");
        assert_eq!(info.stream_position.as_ref().map(|p| p.offset), Some(0));

        // Server API publication reaches the client with an offset.
        srv.beacon
            .publish(&channel, r#"{"n":1}"#)
            .await
            .expect("api publish");
        let p = next_pub(&mut ev).await;
        assert_eq!(&p.data[..], br#"{"n":1}"#);
        assert_eq!(p.offset, 1);

        // Client publish (allowed for subscribers) comes back with publisher info.
        sub.publish(&br#"{"n":2}"#[..]).await.expect("publish");
        let p = next_pub(&mut ev).await;
        assert_eq!((&p.data[..], p.offset), (&br#"{"n":2}"#[..], 2));
        assert_eq!(p.info.map(|i| i.user).as_deref(), Some("42"));

        let presence = sub.presence().await.expect("presence");
        assert_eq!(presence.presence.len(), 1);
        assert_eq!(
            presence.presence.values().next().map(|i| i.user.as_str()),
            Some("42")
        );
        let stats = sub.presence_stats().await.expect("presence stats");
        assert_eq!((stats.num_clients, stats.num_users), (1, 1));

        let h = sub
            .history(HistoryOptions {
                limit: 10,
                ..Default::default()
            })
            .await
            .expect("history");
        assert_eq!(
            h.publications.iter().map(|p| p.offset).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(h.offset, 2);
        let h = sub
            .history(HistoryOptions {
                limit: 1,
                reverse: true,
                ..Default::default()
            })
            .await
            .expect("history reverse");
        assert_eq!(
            h.publications.iter().map(|p| p.offset).collect::<Vec<_>>(),
            [2]
        );
        let epoch = info
            .stream_position
            .as_ref()
            .map(|p| p.epoch.clone())
            .expect("positioned");
        let since = wowlab_centrifuge::StreamPosition {
            offset: 1,
            epoch: epoch.clone(),
        };
        let h = sub
            .history(HistoryOptions {
                limit: 10,
                since: Some(since),
                ..Default::default()
            })
            .await
            .expect("history since");
        assert_eq!(
            h.publications.iter().map(|p| p.offset).collect::<Vec<_>>(),
            [2]
        );
        assert_eq!(h.epoch, epoch);
        // A stale epoch cannot be continued: 112 unrecoverable position.
        let stale = wowlab_centrifuge::StreamPosition {
            offset: 1,
            epoch: "stale".into(),
        };
        let err = sub
            .history(HistoryOptions {
                limit: 10,
                since: Some(stale),
                ..Default::default()
            })
            .await
            .expect_err("wrong epoch");
        assert_eq!(err.server_code(), Some(112), "{err}");

        // RPC without a handler → typed server error.
        let err = client
            .rpc("anything", &b"{}"[..])
            .await
            .expect_err("no rpc handler");
        assert!(matches!(err.server_code(), Some(104) | Some(108)), "{err}");

        // Publishing into a channel we may not publish to → 103.
        let err = client
            .publish("priv:x", &b"{}"[..])
            .await
            .expect_err("denied");
        assert_eq!(err.server_code(), Some(103), "{err}");

        sub.unsubscribe().expect("unsubscribe");
        wait_for(&mut ev, |e| {
            matches!(e, SubscriptionEvent::Unsubscribed { .. }).then_some(())
        })
        .await;
        client.disconnect().await;
        assert_eq!(client.state(), State::Disconnected);
    }
}

#[tokio::test]
async fn join_and_leave_events() {
    let srv = Srv::start(config(serde_json::json!({}))).await;
    let a = Client::new(client_cfg(
        &srv.url(),
        conn_token("a", None),
        Protocol::Protobuf,
    ));
    let sa = a
        .new_subscription("room", SubscriptionConfig::default().join_leave(true))
        .expect("sub");
    let mut ev = sa.events();
    sa.subscribe().expect("subscribe");
    a.connect();
    sa.ready(T).await.expect("a subscribed");
    let b = Client::new(client_cfg(
        &srv.url(),
        conn_token("b", None),
        Protocol::Json,
    ));
    let sb = b
        .new_subscription("room", SubscriptionConfig::default())
        .expect("sub");
    sb.subscribe().expect("subscribe");
    b.connect();
    let who = wait_for(&mut ev, |e| match e {
        SubscriptionEvent::Join(i) if i.user == "b" => Some(i.user.clone()),
        _ => None,
    })
    .await;
    assert_eq!(who, "b");
    sb.unsubscribe().expect("unsubscribe");
    let who = wait_for(&mut ev, |e| match e {
        SubscriptionEvent::Leave(i) => Some(i.user.clone()),
        _ => None,
    })
    .await;
    assert_eq!(who, "b");
}

#[tokio::test]
async fn reconnect_after_beacon_restart_recovers_exactly_the_missed_publications() {
    let mut srv = Srv::start(config(serde_json::json!({}))).await;
    let client = Client::new(client_cfg(
        &srv.url(),
        conn_token("42", None),
        Protocol::Protobuf,
    ));
    let mut cev = client.events();
    let sub = client
        .new_subscription("feed", SubscriptionConfig::default().recoverable(true))
        .expect("sub");
    let mut ev = sub.events();
    sub.subscribe().expect("subscribe");
    client.connect();
    sub.ready(T).await.expect("subscribed");
    for n in 1..=3 {
        srv.beacon
            .publish("feed", format!("{n}"))
            .await
            .expect("publish");
    }
    for n in 1..=3u64 {
        assert_eq!(next_pub(&mut ev).await.offset, n);
    }

    srv.go_down("42").await;
    wait_for(&mut cev, |e| {
        matches!(e, ClientEvent::Connecting { code: 3001, .. }).then_some(())
    })
    .await;
    // Published while the client is away.
    for n in 4..=6 {
        srv.beacon
            .publish("feed", format!("{n}"))
            .await
            .expect("publish");
    }
    // Let the client fail a few reconnects against the closed port.
    tokio::time::sleep(Duration::from_millis(400)).await;
    srv.come_back().await;

    let info = wait_for(&mut ev, |e| match e {
        SubscriptionEvent::Subscribed(i) => Some(i.clone()),
        _ => None,
    })
    .await;
    assert!(info.was_recovering && info.recovered, "{info:?}");
    let mut got = Vec::new();
    for _ in 4..=6 {
        let p = next_pub(&mut ev).await;
        got.push((p.offset, String::from_utf8_lossy(&p.data).into_owned()));
    }
    assert_eq!(got, [(4, "4".into()), (5, "5".into()), (6, "6".into())]);
    // Live again, no duplicates: next publication is 7.
    srv.beacon.publish("feed", "7").await.expect("publish");
    assert_eq!(next_pub(&mut ev).await.offset, 7);
}

#[tokio::test]
async fn fresh_beacon_after_restart_reports_unrecovered_and_resumes() {
    let mut srv = Srv::start(config(serde_json::json!({}))).await;
    let client = Client::new(client_cfg(
        &srv.url(),
        conn_token("42", None),
        Protocol::Json,
    ));
    let sub = client
        .new_subscription("feed", SubscriptionConfig::default().recoverable(true))
        .expect("sub");
    let mut ev = sub.events();
    sub.subscribe().expect("subscribe");
    client.connect();
    sub.ready(T).await.expect("subscribed");
    srv.beacon.publish("feed", "1").await.expect("publish");
    let first_epoch = wait_for(&mut ev, |e| match e {
        SubscriptionEvent::Subscribed(i) => i.stream_position.clone().map(|p| p.epoch),
        _ => None,
    })
    .await;
    assert_eq!(next_pub(&mut ev).await.offset, 1);

    srv.restart_fresh(config(serde_json::json!({})), "42").await;
    let info = wait_for(&mut ev, |e| match e {
        SubscriptionEvent::Subscribed(i) => Some(i.clone()),
        _ => None,
    })
    .await;
    assert!(
        info.was_recovering && !info.recovered,
        "new epoch cannot be recovered: {info:?}"
    );
    let new_epoch = info.stream_position.map(|p| p.epoch).expect("position");
    assert_ne!(new_epoch, first_epoch);
    srv.beacon
        .publish("feed", r#""new""#)
        .await
        .expect("publish");
    let p = next_pub(&mut ev).await;
    assert_eq!((&p.data[..], p.offset), (&br#""new""#[..], 1));
}

#[tokio::test]
async fn connection_token_is_refreshed_through_the_callback() {
    let srv = Srv::start(config(serde_json::json!({"expired_close_delay": "500ms"}))).await;
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let client = Client::new(
        ClientConfig::new(srv.url())
            .token(conn_token("42", Some(2)))
            .reconnect_delay(Duration::from_millis(50), Duration::from_millis(300))
            .get_token(move || {
                c.fetch_add(1, Ordering::SeqCst);
                async { Ok(conn_token("42", Some(2))) }
            }),
    );
    client.connect();
    client.ready(T).await.expect("connected");
    let mut events = client.events();
    // Two expiries (2 s each, plus 0.5 s grace) pass without losing the connection.
    let seen = drain_for(&mut events, Duration::from_millis(5500)).await;
    assert!(
        !seen.iter().any(|e| matches!(
            e,
            ClientEvent::Connecting { .. } | ClientEvent::Disconnected { .. }
        )),
        "connection must survive: {seen:?}"
    );
    assert!(
        calls.load(Ordering::SeqCst) >= 2,
        "refreshed through the callback"
    );
    assert_eq!(client.state(), State::Connected);
    assert_eq!(srv.beacon.num_clients(), 1);
}

#[tokio::test]
async fn expired_static_token_without_callback_ends_unauthorized() {
    let srv = Srv::start(config(serde_json::json!({"expired_close_delay": "300ms"}))).await;
    let client = Client::new(client_cfg(
        &srv.url(),
        conn_token("42", Some(1)),
        Protocol::Protobuf,
    ));
    let mut events = client.events();
    client.connect();
    client.ready(T).await.expect("connected");
    // Server closes 3005 (connection expired) → reconnect → 109 → no callback → terminal.
    wait_for(&mut events, |e| {
        matches!(e, ClientEvent::Connecting { code: 3005, .. }).then_some(())
    })
    .await;
    let code = wait_for(&mut events, |e| match e {
        ClientEvent::Disconnected { code, .. } => Some(*code),
        _ => None,
    })
    .await;
    assert_eq!(code, wowlab_centrifuge::codes::disconnected::UNAUTHORIZED);
}

#[tokio::test]
async fn expired_token_at_connect_is_replaced_by_the_callback() {
    let srv = Srv::start(config(serde_json::json!({}))).await;
    let client = Client::new(
        ClientConfig::new(srv.url())
            .token(conn_token("42", Some(-10)))
            .reconnect_delay(Duration::from_millis(50), Duration::from_millis(300))
            .get_token(|| async { Ok(conn_token("42", Some(60))) }),
    );
    let mut events = client.events();
    client.connect();
    let code = wait_for(&mut events, |e| match e {
        ClientEvent::Error(Error::Server { code, .. }) => Some(*code),
        _ => None,
    })
    .await;
    assert_eq!(code, 109);
    client
        .ready(T)
        .await
        .expect("connected with the fresh token");
}

#[tokio::test]
async fn subscription_token_is_refreshed_through_the_callback() {
    let srv = Srv::start(config(
        serde_json::json!({"expired_sub_close_delay": "500ms"}),
    ))
    .await;
    let client = Client::new(client_cfg(
        &srv.url(),
        conn_token("42", None),
        Protocol::Protobuf,
    ));
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let sub = client
        .new_subscription(
            "$priv:room",
            SubscriptionConfig::default().get_token(move |channel| {
                c.fetch_add(1, Ordering::SeqCst);
                async move { Ok(sub_token("42", &channel, Some(2))) }
            }),
        )
        .expect("sub");
    sub.subscribe().expect("subscribe");
    client.connect();
    sub.ready(T).await.expect("subscribed with a sub token");
    let mut ev = sub.events();
    let seen = drain_for(&mut ev, Duration::from_millis(5000)).await;
    assert!(
        !seen.iter().any(|e| matches!(
            e,
            SubscriptionEvent::Subscribing { .. } | SubscriptionEvent::Unsubscribed { .. }
        )),
        "subscription must survive its token expiry: {seen:?}"
    );
    assert!(
        calls.load(Ordering::SeqCst) >= 3,
        "initial + refreshes: {}",
        calls.load(Ordering::SeqCst)
    );
    srv.beacon
        .publish("$priv:room", "{}")
        .await
        .expect("publish");
    next_pub(&mut ev).await;
}

#[tokio::test]
async fn unauthorized_subscription_token_ends_the_subscription() {
    let srv = Srv::start(config(serde_json::json!({}))).await;
    let client = Client::new(client_cfg(
        &srv.url(),
        conn_token("42", None),
        Protocol::Protobuf,
    ));
    let sub = client
        .new_subscription(
            "$priv:x",
            SubscriptionConfig::default().get_token(|_| async { Err(TokenError::Unauthorized) }),
        )
        .expect("sub");
    let mut ev = sub.events();
    sub.subscribe().expect("subscribe");
    client.connect();
    wait_for(&mut ev, |e| {
        matches!(e, SubscriptionEvent::Unsubscribed { code: 1, .. }).then_some(())
    })
    .await;
    assert_eq!(sub.state(), SubscriptionState::Unsubscribed);
    // Without a token the private channel is refused with 103.
    let sub2 = client
        .new_subscription("$priv:y", SubscriptionConfig::default())
        .expect("sub");
    let mut ev2 = sub2.events();
    sub2.subscribe().expect("subscribe");
    wait_for(&mut ev2, |e| {
        matches!(e, SubscriptionEvent::Unsubscribed { code: 103, .. }).then_some(())
    })
    .await;
    assert_eq!(client.state(), State::Connected);
}

#[tokio::test]
async fn terminal_codes_stop_reconnection_and_others_reconnect() {
    let srv = Srv::start(config(serde_json::json!({}))).await;
    let client = Client::new(client_cfg(
        &srv.url(),
        conn_token("42", None),
        Protocol::Protobuf,
    ));
    let mut events = client.events();
    client.connect();
    client.ready(T).await.expect("connected");

    srv.beacon
        .disconnect("42", "", Some((3011, "force reconnect".into())))
        .expect("disconnect");
    wait_for(&mut events, |e| {
        matches!(e, ClientEvent::Connecting { code: 3011, .. }).then_some(())
    })
    .await;
    client.ready(T).await.expect("reconnected after 3011");

    srv.beacon.disconnect("42", "", None).expect("disconnect");
    wait_for(&mut events, |e| {
        matches!(e, ClientEvent::Disconnected { code: 3503, .. }).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(client.state(), State::Disconnected);
    assert_eq!(srv.beacon.num_clients(), 0, "no reconnect after 3503");

    // A token signed with another key → 3500 invalid token, terminal.
    let bad = wowlab_beacon::auth::mint_hs256(
        &ConnectionClaims {
            sub: "42".into(),
            ..Default::default()
        },
        "wrong",
    )
    .expect("mint");
    let c2 = Client::new(client_cfg(&srv.url(), bad, Protocol::Json));
    let mut e2 = c2.events();
    c2.connect();
    wait_for(&mut e2, |e| {
        matches!(e, ClientEvent::Disconnected { code: 3500, .. }).then_some(())
    })
    .await;
}

#[tokio::test]
async fn server_side_subscriptions_from_the_token() {
    let srv = Srv::start(config(serde_json::json!({}))).await;
    let token = conn_token_with(ConnectionClaims {
        sub: "42".into(),
        channels: vec!["news".into()],
        ..Default::default()
    });
    let client = Client::new(client_cfg(&srv.url(), token, Protocol::Json));
    let mut events = client.events();
    client.connect();
    let info = wait_for(&mut events, |e| match e {
        ClientEvent::Subscribed(i) => Some(i.clone()),
        _ => None,
    })
    .await;
    assert_eq!(info.channel, "news");
    srv.beacon
        .publish("news", r#"{"headline":"x"}"#)
        .await
        .expect("publish");
    let (channel, data) = wait_for(&mut events, |e| match e {
        ClientEvent::Publication {
            channel,
            publication,
        } => Some((channel.clone(), publication.data.clone())),
        _ => None,
    })
    .await;
    assert_eq!(
        (channel.as_str(), &data[..]),
        ("news", &br#"{"headline":"x"}"#[..])
    );
}

#[tokio::test]
async fn pings_are_answered_so_the_connection_survives() {
    let srv = Srv::start(config(
        serde_json::json!({"ping_interval": "1s", "pong_timeout": "500ms"}),
    ))
    .await;
    let client = Client::new(client_cfg(
        &srv.url(),
        conn_token("42", None),
        Protocol::Protobuf,
    ));
    client.connect();
    client.ready(T).await.expect("connected");
    let mut events = client.events();
    let seen = drain_for(&mut events, Duration::from_millis(3500)).await;
    assert!(
        !seen.iter().any(|e| matches!(
            e,
            ClientEvent::Connecting { .. } | ClientEvent::Disconnected { .. }
        )),
        "no 3012 no-pong disconnect: {seen:?}"
    );
    assert_eq!(client.state(), State::Connected);
}

#[tokio::test]
async fn send_reaches_beacon_which_has_no_handler_and_closes_3508() {
    // Centrifugo OSS semantics: `send` has no server handler → terminal 3508 "not available".
    let srv = Srv::start(config(serde_json::json!({}))).await;
    let client = Client::new(client_cfg(
        &srv.url(),
        conn_token("42", None),
        Protocol::Json,
    ));
    let mut events = client.events();
    client.connect();
    client.ready(T).await.expect("connected");
    client.send(&br#"{"ping":1}"#[..]).await.expect("written");
    wait_for(&mut events, |e| {
        matches!(e, ClientEvent::Disconnected { code: 3508, .. }).then_some(())
    })
    .await;
    assert_eq!(client.state(), State::Disconnected);
}
