//! Connection limits (`client.connection_limit`, `client.user_connection_limit`) through a real
//! server, on WebSocket and HTTP-streaming, and the refusal counter on `/metrics`.

mod common;
use common::*;
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite;
use wowlab_protocol::codec::{encode_command, Protocol, StreamDecoder};
use wowlab_protocol::proto::*;

/// Status of a WebSocket handshake that the server refused (panics if it was accepted).
async fn refused_ws_status(s: &Server) -> u16 {
    match tokio_tungstenite::connect_async(s.ws_url()).await {
        Err(tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("unexpected handshake error: {e}"),
        Ok(_) => panic!("handshake accepted over the limit"),
    }
}

/// Retries `attempt` until it succeeds: a closed connection frees its slot once the server's
/// connection task has finished, which is asynchronous to the client's close.
async fn eventually<T, F, Fut>(what: &str, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(v) = attempt().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} never succeeded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Opens an HTTP-streaming connection sending `connect` with `token`.
async fn http_stream(s: &Server, token: &str) -> reqwest::Response {
    let connect = encode_command(
        Protocol::Json,
        &Command {
            id: 1,
            ..connect_cmd(token)
        },
    )
    .unwrap();
    reqwest::Client::new()
        .post(s.http("/connection/http_stream"))
        .body(connect.to_vec())
        .send()
        .await
        .unwrap()
}

/// First non-ping reply of an HTTP-streaming body.
async fn first_reply(resp: &mut reqwest::Response) -> Reply {
    let mut dec = StreamDecoder::new(Protocol::Json, 1 << 20);
    loop {
        while let Some(r) = dec.next_reply().expect("decode") {
            if !r.is_ping() {
                return r;
            }
        }
        let chunk = tokio::time::timeout(Duration::from_secs(5), resp.chunk())
            .await
            .expect("timeout")
            .expect("chunk")
            .expect("stream ended");
        dec.push(&chunk);
    }
}

async fn metrics(s: &Server) -> String {
    reqwest::get(s.http("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn node_limit_refuses_websocket_with_503_and_frees_slots() {
    let s = start(json!({"client": {"token": {"hmac_secret_key": SECRET}, "connection_limit": 2}}))
        .await;
    // Sockets count from the handshake, authenticated or not.
    let (mut a, _) = Client::connected(&s, Protocol::Json, &token("u1", None)).await;
    let _b = Client::open(&s.ws_url(), Protocol::Json).await;
    assert_eq!(refused_ws_status(&s).await, 503);
    assert_eq!(refused_ws_status(&s).await, 503);
    // The connected clients keep working.
    assert!(a.call(subscribe_cmd("news")).await.subscribe.is_some());
    drop(a);
    let (c, _) = eventually("connect after a slot was freed", || async {
        match tokio_tungstenite::connect_async(s.ws_url()).await {
            Ok(c) => Some(c),
            Err(tungstenite::Error::Http(r)) if r.status() == 503 => None,
            Err(e) => panic!("unexpected handshake error: {e}"),
        }
    })
    .await;
    drop(c);
    let m = metrics(&s).await;
    assert!(
        m.contains(r#"beacon_connections_refused{reason="connection_limit"}"#),
        "refusal counter missing:\n{m}"
    );
    s.stop().await;
}

#[tokio::test]
async fn node_limit_counts_http_stream_and_websocket_together() {
    let s = start(json!({
        "client": {"token": {"hmac_secret_key": SECRET}, "connection_limit": 1},
        "http_stream": {"enabled": true},
        "sse": {"enabled": true}
    }))
    .await;
    let mut ws = Client::open(&s.ws_url(), Protocol::Json).await;
    assert_eq!(http_stream(&s, &token("u1", None)).await.status(), 503);
    ws.send_raw(tungstenite::Message::Close(None)).await;
    let mut resp = eventually("http_stream after the socket closed", || async {
        let r = http_stream(&s, &token("u1", None)).await;
        (r.status() != 503).then_some(r)
    })
    .await;
    assert_eq!(resp.status(), 200);
    assert!(first_reply(&mut resp).await.connect.is_some());
    // The stream now holds the only slot: WebSocket and SSE are refused.
    assert_eq!(refused_ws_status(&s).await, 503);
    let connect = encode_command(Protocol::Json, &connect_cmd(&token("u1", None))).unwrap();
    let sse = reqwest::Client::new()
        .get(s.http("/connection/sse"))
        .query(&[("cf_connect", String::from_utf8(connect.to_vec()).unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 503);
    // A client that goes away frees it.
    drop(resp);
    let c = eventually("websocket after the stream closed", || async {
        match tokio_tungstenite::connect_async(s.ws_url()).await {
            Ok(c) => Some(c),
            Err(tungstenite::Error::Http(r)) if r.status() == 503 => None,
            Err(e) => panic!("unexpected handshake error: {e}"),
        }
    })
    .await;
    drop(c);
    s.stop().await;
}

#[tokio::test]
async fn user_limit_disconnects_with_3504_and_frees_on_disconnect() {
    let s = start(json!({"client": {
        "token": {"hmac_secret_key": SECRET},
        "user_connection_limit": 2,
        "allow_anonymous_connect_without_token": true
    }}))
    .await;
    let (a, _) = Client::connected(&s, Protocol::Json, &token("u1", None)).await;
    let (_b, _) = Client::connected(&s, Protocol::Protobuf, &token("u1", None)).await;
    for p in BOTH {
        let mut c = Client::open(&s.ws_url(), p).await;
        let closed = c
            .try_call(connect_cmd(&token("u1", None)))
            .await
            .expect_err("third connection of u1 must be refused");
        assert_eq!(
            (closed.code, closed.reason.as_str()),
            (3504, "connection limit")
        );
    }
    // Other users are not affected; anonymous connections are not limited (as Centrifugo).
    let (_other, _) = Client::connected(&s, Protocol::Json, &token("u2", None)).await;
    let mut anon = Vec::new();
    for _ in 0..3 {
        let mut c = Client::open(&s.ws_url(), Protocol::Json).await;
        assert!(c.call(connect_cmd("")).await.connect.is_some());
        anon.push(c);
    }
    // A closed connection gives its place back.
    drop(a);
    let _c = eventually("u1 connect after one of its connections closed", || async {
        let mut c = Client::open(&s.ws_url(), Protocol::Json).await;
        c.try_call(connect_cmd(&token("u1", None)))
            .await
            .ok()
            .and_then(|r| r.connect)
            .map(|_| c)
    })
    .await;
    // A server-side disconnect frees it too.
    s.beacon.disconnect("u1", "", None).unwrap();
    let (_d, _) = eventually("u1 connect after the server disconnected it", || async {
        let mut c = Client::open(&s.ws_url(), Protocol::Json).await;
        let r = c.try_call(connect_cmd(&token("u1", None))).await.ok()?;
        r.connect.map(|res| (c, res))
    })
    .await;
    let m = metrics(&s).await;
    assert!(
        m.contains(r#"beacon_connections_refused{reason="user_connection_limit"}"#),
        "refusal counter missing:\n{m}"
    );
    s.stop().await;
}

#[tokio::test]
async fn user_limit_on_http_stream_is_a_disconnect_push() {
    let s = start(json!({
        "client": {"token": {"hmac_secret_key": SECRET}, "user_connection_limit": 1},
        "http_stream": {"enabled": true}
    }))
    .await;
    let (_ws, _) = Client::connected(&s, Protocol::Json, &token("u1", None)).await;
    let mut resp = http_stream(&s, &token("u1", None)).await;
    assert_eq!(resp.status(), 200);
    let d = first_reply(&mut resp)
        .await
        .push
        .and_then(|p| p.disconnect)
        .expect("disconnect push");
    assert_eq!((d.code, d.reason.as_str()), (3504, "connection limit"));
    // Another user connects over the same transport.
    let mut ok = http_stream(&s, &token("u2", None)).await;
    assert!(first_reply(&mut ok).await.connect.is_some());
    s.stop().await;
}
