//! Two beacons in one process sharing real NATS and Redis servers (`scripts/test` starts them
//! and sets `WOWLAB_TEST_NATS_URL` / `WOWLAB_TEST_REDIS_URL`), driven by raw protocol clients:
//! publications, presence, join/leave, API control actions and recovery cross instances.
//! Each test runs with both distributed layouts: NATS broker + Redis presence, and the Redis
//! engine.

mod common;

use common::*;
use std::time::Duration;
use wowlab_protocol::codec::Protocol;
use wowlab_protocol::proto::*;

#[derive(Clone, Copy, Debug)]
enum Layout {
    NatsRedis,
    Redis,
}

const LAYOUTS: [Layout; 2] = [Layout::NatsRedis, Layout::Redis];

fn urls() -> Option<(String, String)> {
    Some((
        service_url("WOWLAB_TEST_NATS_URL")?,
        service_url("WOWLAB_TEST_REDIS_URL")?,
    ))
}

/// Two beacons sharing one fresh key/subject prefix.
async fn pair(layout: Layout, nats: &str, redis: &str) -> (Server, Server) {
    let prefix = format!("t{}", uuid_like());
    let engines = match layout {
        Layout::NatsRedis => serde_json::json!({
            "broker": {"enabled": true, "type": "nats", "nats": {"url": nats, "prefix": prefix}},
            "presence_manager": {"enabled": true, "type": "redis",
                                 "redis": {"address": redis, "prefix": prefix}},
        }),
        Layout::Redis => serde_json::json!({
            "engine": {"type": "redis", "redis": {"address": redis, "prefix": prefix}},
        }),
    };
    let a = start_engines(config(engines.clone())).await;
    let b = start_engines(config(engines)).await;
    (a, b)
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{n:x}")
}

async fn push_within(c: &mut Client, what: &str) -> Push {
    tokio::time::timeout(Duration::from_secs(5), c.next_push())
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_publish_on_a_reaches_subscribers_on_b_in_both_codecs() {
    let Some((nats, redis)) = urls() else { return };
    for layout in LAYOUTS {
        let (a, b) = pair(layout, &nats, &redis).await;
        let mut clients = Vec::new();
        for p in BOTH {
            let (mut c, _) = Client::connected(&b, p, &token("u1", None)).await;
            let r = c.call(subscribe_cmd("hist:news")).await;
            assert!(r.subscribe.is_some(), "{layout:?} {r:?}");
            clients.push(c);
        }
        for i in 1..=3 {
            let body = a
                .api(
                    "publish",
                    serde_json::json!({"channel": "hist:news", "data": {"n": i}}),
                )
                .await;
            assert_eq!(body["result"]["offset"], i, "{layout:?} {body}");
        }
        for c in &mut clients {
            for i in 1..=3u64 {
                let p = push_within(c, "publication from A").await;
                let publication = p.r#pub.expect("pub");
                assert_eq!(publication.offset, i, "{layout:?} {:?}", c.protocol);
                let v: serde_json::Value = serde_json::from_slice(&publication.data).unwrap();
                assert_eq!(v["n"], i);
            }
        }
        a.stop().await;
        b.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_and_join_leave_agree_across_instances() {
    let Some((nats, redis)) = urls() else { return };
    for layout in LAYOUTS {
        let (a, b) = pair(layout, &nats, &redis).await;
        let (mut ca, _) = Client::connected(&a, Protocol::Json, &token("ua", None)).await;
        assert!(ca.call(subscribe_cmd("jl:room")).await.subscribe.is_some());
        // Own join first.
        let own = push_within(&mut ca, "own join").await;
        assert_eq!(own.join.unwrap().info.unwrap().user, "ua");
        let (mut cb, _) = Client::connected(&b, Protocol::Protobuf, &token("ub", None)).await;
        assert!(cb.call(subscribe_cmd("jl:room")).await.subscribe.is_some());
        let j = push_within(&mut ca, "join from B").await;
        assert_eq!(j.join.expect("join").info.unwrap().user, "ub", "{layout:?}");
        for s in [&a, &b] {
            let p = s
                .api("presence", serde_json::json!({"channel": "jl:room"}))
                .await;
            let m = p["result"]["presence"]
                .as_object()
                .expect("presence map")
                .clone();
            assert_eq!(m.len(), 2, "{layout:?} {p}");
            assert!(m.contains_key(&ca.client_id) && m.contains_key(&cb.client_id));
            let st = s
                .api("presence_stats", serde_json::json!({"channel": "jl:room"}))
                .await;
            assert_eq!(st["result"]["num_clients"], 2);
            assert_eq!(st["result"]["num_users"], 2);
        }
        drop(cb);
        let l = push_within(&mut ca, "leave from B").await;
        assert_eq!(
            l.leave.expect("leave").info.unwrap().user,
            "ub",
            "{layout:?}"
        );
        let st = a
            .api("presence_stats", serde_json::json!({"channel": "jl:room"}))
            .await;
        assert_eq!(st["result"]["num_clients"], 1, "{layout:?} {st}");
        a.stop().await;
        b.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_control_actions_on_a_reach_connections_on_b() {
    let Some((nats, redis)) = urls() else { return };
    for layout in LAYOUTS {
        let (a, b) = pair(layout, &nats, &redis).await;
        let (mut c, _) = Client::connected(&b, Protocol::Json, &token("victim", None)).await;
        assert!(c.call(subscribe_cmd("hist:x")).await.subscribe.is_some());
        // Server-side subscribe through A.
        a.api(
            "subscribe",
            serde_json::json!({"channel": "hist:server", "user": "victim"}),
        )
        .await;
        let p = push_within(&mut c, "subscribe push").await;
        assert_eq!(p.channel, "hist:server", "{layout:?}");
        assert!(p.subscribe.is_some());
        a.api(
            "unsubscribe",
            serde_json::json!({"channel": "hist:x", "user": "victim"}),
        )
        .await;
        let p = push_within(&mut c, "unsubscribe push").await;
        assert_eq!(p.channel, "hist:x");
        assert_eq!(p.unsubscribe.expect("unsubscribe").code, 2000, "{layout:?}");
        a.api("disconnect", serde_json::json!({"user": "victim"}))
            .await;
        let closed = tokio::time::timeout(Duration::from_secs(5), c.closed())
            .await
            .expect("closed in time");
        assert_eq!(closed.code, 3503, "{layout:?}");
        a.stop().await;
        b.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_moving_from_a_to_b_recovers_what_it_missed() {
    let Some((nats, redis)) = urls() else { return };
    for layout in LAYOUTS {
        let (a, b) = pair(layout, &nats, &redis).await;
        let (mut c, _) = Client::connected(&a, Protocol::Json, &token("u", None)).await;
        let sub = c
            .call(subscribe_cmd("hist:move"))
            .await
            .subscribe
            .expect("sub");
        for i in 1..=2 {
            a.api(
                "publish",
                serde_json::json!({"channel": "hist:move", "data": {"n": i}}),
            )
            .await;
        }
        let mut last = 0;
        for _ in 0..2 {
            last = push_within(&mut c, "live pub").await.r#pub.unwrap().offset;
        }
        drop(c);
        // Published while the client is away, through both nodes.
        b.api(
            "publish",
            serde_json::json!({"channel": "hist:move", "data": {"n": 3}}),
        )
        .await;
        a.api(
            "publish",
            serde_json::json!({"channel": "hist:move", "data": {"n": 4}}),
        )
        .await;
        let (mut c, _) = Client::connected(&b, Protocol::Protobuf, &token("u", None)).await;
        let r = c
            .call(sub_req(SubscribeRequest {
                channel: "hist:move".into(),
                recover: true,
                epoch: sub.epoch.clone(),
                offset: last,
                flag: 1,
                ..Default::default()
            }))
            .await
            .subscribe
            .expect("resubscribed");
        assert!(r.recovered, "{layout:?} {r:?}");
        assert_eq!(r.epoch, sub.epoch);
        assert_eq!(
            r.publications.iter().map(|p| p.offset).collect::<Vec<_>>(),
            vec![3, 4],
            "{layout:?}"
        );
        b.api(
            "publish",
            serde_json::json!({"channel": "hist:move", "data": {"n": 5}}),
        )
        .await;
        assert_eq!(
            push_within(&mut c, "live after recovery")
                .await
                .r#pub
                .unwrap()
                .offset,
            5
        );
        a.stop().await;
        b.stop().await;
    }
}
