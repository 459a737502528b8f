//! Connect, auth outcomes, lifecycle rules, pings, origin, size limit, formats.

mod common;
use common::*;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use wowlab_beacon::auth::ConnectionClaims;
use wowlab_protocol::codec::Protocol;
use wowlab_protocol::proto::*;

#[tokio::test]
async fn connect_with_token_json_and_protobuf() {
    let s = start(serde_json::json!({})).await;
    for p in BOTH {
        let (_c, res) = Client::connected(&s, p, &token("42", Some(60))).await;
        assert_eq!(res.client.len(), 36, "uuid client id");
        assert!(res.version.starts_with("wowlab-beacon"));
        assert_eq!(res.ping, 25);
        assert!(res.pong);
        assert!(res.expires);
        assert!(res.ttl > 50 && res.ttl <= 60);
    }
    // ?format=protobuf and ?cf_protocol=protobuf select protobuf without a subprotocol.
    for q in ["format=protobuf", "cf_protocol=protobuf"] {
        let mut c = Client::open(&format!("{}?{q}", s.ws_url()), Protocol::Protobuf).await;
        let r = c.call(connect_cmd(&token("1", None))).await;
        assert!(r.connect.is_some());
    }
    s.stop().await;
}

#[tokio::test]
async fn bad_tokens() {
    let s = start(serde_json::json!({})).await;
    // Invalid signature → close 3500.
    let mut c = Client::open(&s.ws_url(), Protocol::Json).await;
    let bad = wowlab_beacon::auth::mint_hs256(
        &ConnectionClaims {
            sub: "1".into(),
            ..Default::default()
        },
        "nope",
    )
    .unwrap();
    let e = c.try_call(connect_cmd(&bad)).await.unwrap_err();
    assert_eq!(e.code, 3500);
    assert_eq!(e.reason, "invalid token");
    // Garbage → 3500.
    let mut c = Client::open(&s.ws_url(), Protocol::Json).await;
    assert_eq!(
        c.try_call(connect_cmd("not.a.jwt")).await.unwrap_err().code,
        3500
    );
    // `channel` claim forbidden → 3500.
    let mut c = Client::open(&s.ws_url(), Protocol::Json).await;
    let t =
        wowlab_beacon::auth::mint_hs256(&serde_json::json!({"sub": "1", "channel": "x"}), SECRET)
            .unwrap();
    assert_eq!(c.try_call(connect_cmd(&t)).await.unwrap_err().code, 3500);
    // Expired → error 109 (reply), then further commands → 3501.
    let mut c = Client::open(&s.ws_url(), Protocol::Json).await;
    let r = c.call(connect_cmd(&token("1", Some(-10)))).await;
    assert_eq!(err_code(&r), 109);
    assert_eq!(c.try_call(subscribe_cmd("a")).await.unwrap_err().code, 3501);
    // expire_at in the past → 110.
    let mut c = Client::open(&s.ws_url(), Protocol::Json).await;
    let t = token_with(ConnectionClaims {
        sub: "1".into(),
        expire_at: Some(wowlab_beacon::auth::now_unix() - 5),
        ..Default::default()
    });
    assert_eq!(err_code(&c.call(connect_cmd(&t)).await), 110);
    // No token, no anonymous → 3501.
    let mut c = Client::open(&s.ws_url(), Protocol::Json).await;
    assert_eq!(c.try_call(connect_cmd("")).await.unwrap_err().code, 3501);
    s.stop().await;
}

#[tokio::test]
async fn anonymous_and_insecure() {
    let s = start(serde_json::json!({"client": {"token": {"hmac_secret_key": SECRET}, "allow_anonymous_connect_without_token": true}})).await;
    let (mut c, _) = Client::connected(&s, Protocol::Json, "").await;
    // Anonymous may not subscribe where only clients may...
    assert_eq!(err_code(&c.call(subscribe_cmd("news")).await), 103);
    // ...but may where anonymous is allowed.
    assert!(c.call(subscribe_cmd("anon:x")).await.subscribe.is_some());
    s.stop().await;

    let s = start(serde_json::json!({"client": {"insecure": true}})).await;
    let (mut c, _) = Client::connected(&s, Protocol::Json, "").await;
    assert!(c.call(subscribe_cmd("closed:x")).await.subscribe.is_some());
    assert!(c
        .call(publish_cmd("closed:x", "{}"))
        .await
        .publish
        .is_some());
    s.stop().await;

    let s = start(serde_json::json!({"client": {"token": {"hmac_secret_key": SECRET}, "disallow_anonymous_connection_tokens": true}})).await;
    let mut c = Client::open(&s.ws_url(), Protocol::Json).await;
    assert_eq!(
        c.try_call(connect_cmd(&token("", None)))
            .await
            .unwrap_err()
            .code,
        3507
    );
    s.stop().await;
}

#[tokio::test]
async fn lifecycle_rules() {
    let s = start(serde_json::json!({})).await;
    // First command must be connect.
    let mut c = Client::open(&s.ws_url(), Protocol::Json).await;
    assert_eq!(c.try_call(subscribe_cmd("a")).await.unwrap_err().code, 3501);
    // Second connect → 3501.
    let (mut c, _) = Client::connected(&s, Protocol::Json, &token("1", None)).await;
    assert_eq!(
        c.try_call(connect_cmd(&token("1", None)))
            .await
            .unwrap_err()
            .code,
        3501
    );
    // Malformed JSON → 3501 with a non-JSON reason.
    let (mut c, _) = Client::connected(&s, Protocol::Json, &token("1", None)).await;
    c.send_raw(Message::Text("{not json".into())).await;
    let e = c.closed().await;
    assert_eq!(e.code, 3501);
    assert!(!e.reason.is_empty() && serde_json::from_str::<serde_json::Value>(&e.reason).is_err());
    // Malformed protobuf → 3501.
    let (mut c, _) = Client::connected(&s, Protocol::Protobuf, &token("1", None)).await;
    c.send_raw(Message::Binary(vec![0xff, 0xff, 0xff].into()))
        .await;
    assert_eq!(c.closed().await.code, 3501);
    // Unknown command (no request field, id > 0) → 3501.
    let (mut c, _) = Client::connected(&s, Protocol::Json, &token("1", None)).await;
    c.send_raw(Message::Text("{\"id\":5}".into())).await;
    assert_eq!(c.closed().await.code, 3501);
    // send → 3508.
    let (mut c, _) = Client::connected(&s, Protocol::Json, &token("1", None)).await;
    c.send(vec![Command {
        send: Some(SendRequest { data: "{}".into() }),
        ..Default::default()
    }])
    .await;
    assert_eq!(c.closed().await.code, 3508);
    // rpc → 108.
    let (mut c, _) = Client::connected(&s, Protocol::Json, &token("1", None)).await;
    let r = c
        .call(Command {
            rpc: Some(RpcRequest {
                method: "x".into(),
                data: "{}".into(),
            }),
            ..Default::default()
        })
        .await;
    assert_eq!(err_code(&r), 108);
    // Pong without ping → 3501.
    c.send(vec![Command::default()]).await;
    assert_eq!(c.closed().await.code, 3501);
    s.stop().await;
}

#[tokio::test]
async fn oversized_frame_closes_1009() {
    let s = start(serde_json::json!({"websocket": {"message_size_limit": 1024}})).await;
    let (mut c, _) = Client::connected(&s, Protocol::Json, &token("1", None)).await;
    let big = format!(
        "{{\"id\":9,\"publish\":{{\"channel\":\"a\",\"data\":\"{}\"}}}}",
        "x".repeat(2000)
    );
    c.send_raw(Message::Text(big.into())).await;
    assert_eq!(c.closed().await.code, 1009);
    s.stop().await;
}

/// Frames that reach the server together are handled in one go (one wake-up per subscriber
/// for all of them); that must not change what each frame does: the publications before an
/// oversized frame or a close frame take effect, in order, and the oversized one closes 1009.
#[tokio::test]
async fn frames_arriving_together_take_effect_before_an_oversized_frame_or_a_close() {
    let s = start(serde_json::json!({"websocket": {"message_size_limit": 1024}})).await;
    let publish = |n: u32| {
        Message::Text(
            format!(
                "{{\"id\":{},\"publish\":{{\"channel\":\"hist:burst\",\"data\":{{\"n\":{n}}}}}}}",
                n + 10
            )
            .into(),
        )
    };
    let (mut c, _) = Client::connected(&s, Protocol::Json, &token("1", None)).await;
    let r = c.call(subscribe_cmd("hist:burst")).await;
    assert!(r.subscribe.is_some(), "{:?}", r.error);
    let big = format!(
        "{{\"id\":99,\"publish\":{{\"channel\":\"hist:burst\",\"data\":\"{}\"}}}}",
        "x".repeat(2000)
    );
    let mut frames: Vec<Message> = (1..=3).map(publish).collect();
    frames.push(Message::Text(big.into()));
    frames.push(publish(4));
    c.send_raw_together(frames).await;
    assert_eq!(c.closed().await.code, 1009);

    let (mut c, _) = Client::connected(&s, Protocol::Json, &token("1", None)).await;
    c.call(subscribe_cmd("hist:burst")).await;
    let mut frames: Vec<Message> = (5..=7).map(publish).collect();
    frames.push(Message::Close(None));
    c.send_raw_together(frames).await;
    c.closed().await;

    let h = s
        .api(
            "history",
            serde_json::json!({"channel": "hist:burst", "limit": 10}),
        )
        .await;
    let got: Vec<u64> = h["result"]["publications"]
        .as_array()
        .expect("publications")
        .iter()
        .map(|p| p["data"]["n"].as_u64().expect("n"))
        .collect();
    assert_eq!(got, vec![1, 2, 3, 5, 6, 7]);
    s.stop().await;
}

#[tokio::test]
async fn stale_connection_closes_3502() {
    let s = start(serde_json::json!({"client": {"token": {"hmac_secret_key": SECRET}, "stale_close_delay": "200ms"}})).await;
    let mut c = Client::open(&s.ws_url(), Protocol::Json).await;
    assert_eq!(c.closed().await.code, 3502);
    s.stop().await;
}

#[tokio::test]
async fn ping_pong_and_no_pong() {
    let s = start(serde_json::json!({"client": {"token": {"hmac_secret_key": SECRET}, "ping_interval": "1s", "pong_timeout": "300ms"}})).await;
    for p in BOTH {
        let (mut c, res) = Client::connected(&s, p, &token("1", None)).await;
        assert_eq!(res.ping, 1);
        // Answer two pings; connection stays.
        for _ in 0..2 {
            let r = c.next().await.expect("ping");
            assert!(r.is_ping());
            c.send(vec![Command::default()]).await;
        }
        // Ignore the next ping → 3012.
        let r = c.next().await.expect("ping");
        assert!(r.is_ping());
        let e = c.closed().await;
        assert_eq!(e.code, 3012);
        assert_eq!(e.reason, "no pong");
    }
    s.stop().await;
}

#[tokio::test]
async fn origin_check() {
    let s = start(serde_json::json!({})).await;
    let mut req =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(s.ws_url())
            .unwrap();
    req.headers_mut()
        .insert("Origin", "http://evil.example".parse().unwrap());
    assert!(
        tokio_tungstenite::connect_async(req).await.is_err(),
        "empty allowed_origins refuses any Origin"
    );
    s.stop().await;
    let s = start(serde_json::json!({"client": {"token": {"hmac_secret_key": SECRET}, "allowed_origins": ["http://*.good.example"]}})).await;
    let mut ok =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(s.ws_url())
            .unwrap();
    ok.headers_mut()
        .insert("Origin", "http://app.good.example".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(ok).await.is_ok());
    let mut bad =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(s.ws_url())
            .unwrap();
    bad.headers_mut()
        .insert("Origin", "http://bad.example".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(bad).await.is_err());
    s.stop().await;
}

#[tokio::test]
async fn refresh_flow() {
    let s = start(serde_json::json!({"client": {"token": {"hmac_secret_key": SECRET}, "expired_close_delay": "0s"}})).await;
    let (mut c, res) = Client::connected(&s, Protocol::Json, &token("7", Some(2))).await;
    assert!(res.expires);
    let r = c
        .call(Command {
            refresh: Some(RefreshRequest {
                token: token("7", Some(60)),
            }),
            ..Default::default()
        })
        .await;
    let rr = r.refresh.expect("refresh result");
    assert!(rr.expires && rr.ttl > 50);
    assert_eq!(rr.client, c.client_id);
    // Survives the original expiry.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert!(c.call(subscribe_cmd("news")).await.subscribe.is_some());
    // Other user's token → 3500.
    let e = c
        .try_call(Command {
            refresh: Some(RefreshRequest {
                token: token("8", Some(60)),
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code, 3500);
    // Expired token in refresh → 3005.
    let (mut c, _) = Client::connected(&s, Protocol::Json, &token("7", Some(60))).await;
    let e = c
        .try_call(Command {
            refresh: Some(RefreshRequest {
                token: token("7", Some(-5)),
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code, 3005);
    // Not refreshed → 3005 after expiry.
    let (mut c, _) = Client::connected(&s, Protocol::Json, &token("7", Some(1))).await;
    let e = c.closed().await;
    assert_eq!(e.code, 3005);
    assert_eq!(e.reason, "connection expired");
    s.stop().await;
}

#[tokio::test]
async fn shutdown_disconnects_3001() {
    let s = start(serde_json::json!({})).await;
    let (mut c, _) = Client::connected(&s, Protocol::Json, &token("1", None)).await;
    let mut unauth = Client::open(&s.ws_url(), Protocol::Json).await;
    s.beacon.shutdown();
    assert_eq!(c.closed().await.code, 3001);
    assert_eq!(unauth.closed().await.code, 3001);
}
