//! Server HTTP API, health, readiness and metrics endpoints.

mod common;
use common::*;
use serde_json::json;
use wowlab_protocol::codec::Protocol;

async fn raw_api(
    s: &Server,
    method: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> reqwest::Response {
    let mut r = reqwest::Client::new()
        .post(s.http(&format!("/api/{method}")))
        .body(body.to_string());
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.send().await.unwrap()
}

/// `POST /api/{method}` with the key in the query string only; returns the status.
async fn query_api(s: &Server, key: &str, body: &str) -> u16 {
    reqwest::Client::new()
        .post(s.http("/api/publish"))
        .query(&[("api_key", key)])
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn api_auth() {
    let s = start(json!({})).await;
    let body = r#"{"channel":"news","data":{}}"#;
    assert_eq!(raw_api(&s, "publish", &[], body).await.status(), 401);
    let r = raw_api(&s, "publish", &[("X-API-Key", "wrong")], body).await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().is_empty());
    assert_eq!(
        raw_api(&s, "publish", &[("X-API-Key", API_KEY)], body)
            .await
            .status(),
        200
    );
    assert_eq!(
        raw_api(&s, "publish", &[("Authorization", "apikey api-key")], body)
            .await
            .status(),
        200
    );
    assert_eq!(
        raw_api(&s, "publish", &[("Authorization", "Bearer api-key")], body)
            .await
            .status(),
        401
    );
    // Keys of any length that are not the key are refused (compared as digests).
    for wrong in [
        "api-kez",
        "api-ke",
        "api-key-",
        "",
        "x".repeat(4096).as_str(),
    ] {
        let r = raw_api(&s, "publish", &[("X-API-Key", wrong)], body).await;
        assert_eq!(r.status(), 401, "key {wrong:?}");
    }
    // The query-string key is off by default, even when it is the right key.
    assert_eq!(query_api(&s, "api-key", body).await, 401);
    // Malformed JSON → plain 400.
    assert_eq!(
        raw_api(&s, "publish", &[("X-API-Key", API_KEY)], "{nope")
            .await
            .status(),
        400
    );
    s.stop().await;
    // Switched on (beacon's `http_api.allow_key_in_query`), it works as in Centrifugo.
    let s = start(json!({"http_api": {"key": API_KEY, "allow_key_in_query": true}})).await;
    assert_eq!(query_api(&s, "api-key", body).await, 200);
    assert_eq!(query_api(&s, "api-kez", body).await, 401);
    assert_eq!(query_api(&s, "", body).await, 401);
    s.stop().await;
    // Empty key → everything 401.
    let s = start(json!({"http_api": {"key": ""}})).await;
    assert_eq!(
        raw_api(&s, "info", &[("X-API-Key", "")], "{}")
            .await
            .status(),
        401
    );
    s.stop().await;
}

#[tokio::test]
async fn api_errors_both_modes() {
    let s = start(json!({})).await;
    let v = s
        .api("publish", json!({"channel": "nope:x", "data": {}}))
        .await;
    assert_eq!(
        v,
        json!({"error": {"code": 102, "message": "unknown channel"}})
    );
    let v = s.api("nosuchmethod", json!({})).await;
    assert_eq!(v["error"]["code"], 104);
    let v = s.api("publish", json!({"channel": "news"})).await;
    assert_eq!(v["error"]["code"], 107);
    let v = s.api("history", json!({"channel": "news"})).await;
    assert_eq!(v["error"]["code"], 108);
    let r = raw_api(
        &s,
        "publish",
        &[
            ("X-API-Key", API_KEY),
            ("X-Centrifugo-Error-Mode", "transport"),
        ],
        r#"{"channel":"nope:x","data":1}"#,
    )
    .await;
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        json!({"code": 102, "message": "unknown channel"})
    );
    s.stop().await;
}

#[tokio::test]
async fn api_publish_history_broadcast_batch() {
    let s = start(json!({})).await;
    let v = s
        .api(
            "publish",
            json!({"channel": "hist:a", "data": {"x": 1}, "tags": {"k": "v"}}),
        )
        .await;
    assert_eq!(v["result"]["offset"], 1);
    let epoch = v["result"]["epoch"].as_str().unwrap().to_string();
    assert_eq!(epoch.len(), 8);
    let v = s
        .api(
            "broadcast",
            json!({"channels": ["hist:a", "hist:b", "nope:c"], "data": {"x": 2}}),
        )
        .await;
    let responses = v["result"]["responses"].as_array().unwrap();
    assert_eq!(responses[0]["result"]["offset"], 2);
    assert_eq!(responses[1]["result"]["offset"], 1);
    assert_eq!(responses[2]["error"]["code"], 102);
    let v = s
        .api("history", json!({"channel": "hist:a", "limit": 10}))
        .await;
    assert_eq!(v["result"]["offset"], 2);
    assert_eq!(v["result"]["epoch"], epoch);
    let pubs = v["result"]["publications"].as_array().unwrap();
    assert_eq!(
        pubs[0],
        json!({"data": {"x": 1}, "offset": 1, "tags": {"k": "v"}})
    );
    let v = s
        .api(
            "history",
            json!({"channel": "hist:a", "limit": 1, "reverse": true}),
        )
        .await;
    assert_eq!(v["result"]["publications"][0]["offset"], 2);
    let v = s
        .api(
            "history",
            json!({"channel": "hist:a", "limit": 10, "since": {"offset": 1, "epoch": "zzzzzzzz"}}),
        )
        .await;
    assert_eq!(v["error"]["code"], 112);
    let v = s.api("history_remove", json!({"channel": "hist:a"})).await;
    assert_eq!(v, json!({"result": {}}));
    let v = s
        .api("history", json!({"channel": "hist:a", "limit": 10}))
        .await;
    assert_eq!(v["result"]["publications"], json!([]));
    assert_eq!(v["result"]["offset"], 2);
    let v = s
        .api(
            "batch",
            json!({"commands": [
                {"publish": {"channel": "hist:a", "data": 1}},
                {"publish": {"channel": "nope:x", "data": 1}},
                {"presence_stats": {"channel": "news"}}
            ]}),
        )
        .await;
    let replies = v["result"]["replies"].as_array().unwrap();
    assert_eq!(replies[0]["publish"]["offset"], 3);
    assert_eq!(replies[1]["error"]["code"], 102);
    assert_eq!(
        replies[2]["presence_stats"],
        json!({"num_clients": 0, "num_users": 0})
    );
    s.stop().await;
}

#[tokio::test]
async fn api_connection_management() {
    let s = start(json!({})).await;
    let (mut a, _) = Client::connected(&s, Protocol::Json, &token("u1", None)).await;
    let (mut b, _) = Client::connected(&s, Protocol::Protobuf, &token("u1", None)).await;
    // subscribe: both connections of u1 get a Subscribe push, then publications.
    let v = s
        .api(
            "subscribe",
            json!({"channel": "hist:srv", "user": "u1", "data": {"welcome": 1}}),
        )
        .await;
    assert_eq!(v, json!({"result": {}}));
    for c in [&mut a, &mut b] {
        let p = c.next_push().await;
        assert_eq!(p.channel, "hist:srv");
        let sp = p.subscribe.expect("subscribe push");
        assert!(sp.recoverable && sp.positioned);
        assert_eq!(&sp.data[..], b"{\"welcome\":1}");
    }
    s.api("publish", json!({"channel": "hist:srv", "data": "x"}))
        .await;
    assert_eq!(a.next_push().await.r#pub.unwrap().offset, 1);
    assert_eq!(b.next_push().await.r#pub.unwrap().offset, 1);
    // channels + info.
    let v = s.api("channels", json!({"pattern": "hist:*"})).await;
    assert_eq!(v["result"]["channels"]["hist:srv"]["num_clients"], 2);
    let v = s.api("info", json!({})).await;
    let node = &v["result"]["nodes"][0];
    assert_eq!(node["num_clients"], 2);
    assert_eq!(node["num_users"], 1);
    assert_eq!(node["num_subs"], 2);
    // unsubscribe one client → push 2000.
    s.api(
        "unsubscribe",
        json!({"channel": "hist:srv", "client": a.client_id}),
    )
    .await;
    let p = a.next_push().await;
    assert_eq!(p.unsubscribe.unwrap().code, 2000);
    // refresh with expired → 3005.
    s.api("refresh", json!({"client": b.client_id, "expired": true}))
        .await;
    assert_eq!(b.closed().await.code, 3005);
    // disconnect default 3503 and custom code; whitelist spares a client.
    let (mut c, _) = Client::connected(&s, Protocol::Json, &token("u2", None)).await;
    let (mut d, _) = Client::connected(&s, Protocol::Json, &token("u2", None)).await;
    s.api(
        "disconnect",
        json!({"user": "u2", "whitelist": [d.client_id]}),
    )
    .await;
    let e = c.closed().await;
    assert_eq!((e.code, e.reason.as_str()), (3503, "force disconnect"));
    s.api(
        "disconnect",
        json!({"user": "u2", "disconnect": {"code": 4501, "reason": "bye now"}}),
    )
    .await;
    assert_eq!(
        d.closed().await,
        Closed {
            code: 4501,
            reason: "bye now".into()
        }
    );
    s.api("disconnect", json!({"user": "u1"})).await;
    assert_eq!(a.closed().await.code, 3503);
    s.stop().await;
}

#[tokio::test]
async fn in_process_api() {
    let s = start(json!({})).await;
    let (mut a, _) = Client::connected(&s, Protocol::Json, &token("u1", None)).await;
    a.call(subscribe_cmd("news")).await;
    let pos = s.beacon.publish("news", "{\"a\":1}").await.unwrap();
    assert_eq!(pos.offset, 0);
    assert_eq!(&a.next_push().await.r#pub.unwrap().data[..], b"{\"a\":1}");
    assert_eq!(
        s.beacon.presence_stats("news").await.unwrap().num_clients,
        1
    );
    assert_eq!(s.beacon.publish("nope:x", "1").await.unwrap_err().code, 102);
    assert_eq!(s.beacon.num_clients(), 1);
    s.beacon.disconnect("u1", "", None).unwrap();
    assert_eq!(a.closed().await.code, 3503);
    s.stop().await;
}

#[tokio::test]
async fn health_ready_metrics() {
    let s = start(json!({})).await;
    let (mut a, _) = Client::connected(&s, Protocol::Json, &token("u1", None)).await;
    a.call(subscribe_cmd("news")).await;
    s.beacon.publish("news", "1").await.unwrap();
    a.next_push().await;
    let get = |p: &str| reqwest::get(s.http(p));
    assert_eq!(get("/health").await.unwrap().status(), 200);
    assert_eq!(get("/readyz").await.unwrap().status(), 200);
    let m = get("/metrics").await.unwrap().text().await.unwrap();
    for name in [
        "beacon_connections",
        "beacon_subscriptions",
        "beacon_messages_sent",
        "beacon_messages_received",
        "beacon_publish_duration_seconds_bucket",
    ] {
        assert!(m.contains(name), "{name} missing from /metrics:\n{m}");
    }
    s.stop().await;
}
