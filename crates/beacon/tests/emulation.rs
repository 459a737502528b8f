//! HTTP-streaming and SSE bidirectional emulation.

mod common;
use common::*;
use prost::Message as _;
use serde_json::json;
use wowlab_protocol::codec::{encode_command, Protocol, StreamDecoder};
use wowlab_protocol::proto::*;

fn cfg() -> serde_json::Value {
    json!({"sse": {"enabled": true}, "http_stream": {"enabled": true}})
}

/// Reads a streaming body until `n` replies (pings excluded) were decoded.
async fn read_replies(
    resp: &mut reqwest::Response,
    dec: &mut StreamDecoder,
    n: usize,
) -> Vec<Reply> {
    let mut out = Vec::new();
    while out.len() < n {
        while let Some(r) = dec.next_reply().expect("decode") {
            if !r.is_ping() {
                out.push(r);
            }
        }
        if out.len() >= n {
            break;
        }
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), resp.chunk())
            .await
            .expect("timeout")
            .expect("chunk")
            .expect("stream ended");
        dec.push(&chunk);
    }
    out
}

#[tokio::test]
async fn http_stream_json_and_protobuf() {
    let s = start(cfg()).await;
    for p in BOTH {
        let connect = encode_command(
            p,
            &Command {
                id: 1,
                ..connect_cmd(&token("42", None))
            },
        )
        .unwrap();
        let mut req = reqwest::Client::new()
            .post(s.http("/connection/http_stream"))
            .body(connect.to_vec());
        if p == Protocol::Protobuf {
            req = req.header("Content-Type", "application/octet-stream");
        }
        let mut resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let mut dec = StreamDecoder::new(p, 1 << 20);
        let r = read_replies(&mut resp, &mut dec, 1).await;
        let res = r[0].connect.clone().expect("connect result");
        assert!(!res.session.is_empty() && !res.node.is_empty());
        // Further commands through /emulation.
        let cmd = encode_command(
            p,
            &Command {
                id: 2,
                ..subscribe_cmd("news")
            },
        )
        .unwrap();
        let status = post_emulation(&s, p, &res.node, &res.session, &cmd).await;
        assert_eq!(status, 204);
        let r = read_replies(&mut resp, &mut dec, 1).await;
        assert_eq!(r[0].id, 2);
        assert!(r[0].subscribe.is_some());
        s.beacon.publish("news", "{\"v\":1}").await.unwrap();
        let r = read_replies(&mut resp, &mut dec, 1).await;
        assert_eq!(
            &r[0].push.as_ref().unwrap().r#pub.as_ref().unwrap().data[..],
            b"{\"v\":1}"
        );
        // Disconnect arrives as a push with code and reason.
        s.beacon.disconnect("42", &res.client, None).unwrap();
        let r = read_replies(&mut resp, &mut dec, 1).await;
        let d = r[0]
            .push
            .as_ref()
            .unwrap()
            .disconnect
            .clone()
            .expect("disconnect push");
        assert_eq!((d.code, d.reason.as_str()), (3503, "force disconnect"));
        // Unknown session → 404.
        assert_eq!(post_emulation(&s, p, &res.node, "nope", &cmd).await, 404);
    }
    s.stop().await;
}

async fn post_emulation(s: &Server, p: Protocol, node: &str, session: &str, cmd: &[u8]) -> u16 {
    let req = reqwest::Client::new().post(s.http("/emulation"));
    let req = match p {
        Protocol::Json => req.body(
            json!({"node": node, "session": session, "data": String::from_utf8(cmd.to_vec()).unwrap()}).to_string(),
        ),
        Protocol::Protobuf => req.header("Content-Type", "application/octet-stream").body(
            EmulationRequest { node: node.into(), session: session.into(), data: cmd.to_vec().into() }.encode_to_vec(),
        ),
    };
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn sse_transport() {
    let s = start(cfg()).await;
    let connect = encode_command(
        Protocol::Json,
        &Command {
            id: 1,
            ..connect_cmd(&token("42", None))
        },
    )
    .unwrap();
    let url = format!(
        "{}?cf_connect={}",
        s.http("/connection/sse"),
        urlencode(std::str::from_utf8(&connect).unwrap())
    );
    let mut resp = reqwest::get(url).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut buf = String::new();
    let next_event = |buf: &mut String| -> Option<Reply> {
        let end = buf.find("\n\n")?;
        let ev: String = buf.drain(..end + 2).collect();
        let data = ev.trim().strip_prefix("data: ").expect("data line");
        Some(serde_json::from_str(data).expect("json reply"))
    };
    let mut read = async |buf: &mut String| -> Reply {
        loop {
            if let Some(r) = next_event(buf) {
                if !r.is_ping() {
                    return r;
                }
                continue;
            }
            let chunk = resp.chunk().await.unwrap().expect("stream");
            buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    };
    let res = read(&mut buf).await.connect.expect("connect");
    let cmd = encode_command(
        Protocol::Json,
        &Command {
            id: 2,
            ..subscribe_cmd("news")
        },
    )
    .unwrap();
    assert_eq!(
        post_emulation(&s, Protocol::Json, &res.node, &res.session, &cmd).await,
        204
    );
    assert!(read(&mut buf).await.subscribe.is_some());
    s.beacon.publish("news", "[1,2]").await.unwrap();
    let r = read(&mut buf).await;
    assert_eq!(&r.push.unwrap().r#pub.unwrap().data[..], b"[1,2]");
    s.stop().await;
}

#[tokio::test]
async fn emulation_disabled_by_default() {
    let s = start(json!({})).await;
    let r = reqwest::Client::new()
        .post(s.http("/connection/http_stream"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    s.stop().await;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn cors_for_allowed_origins() {
    let mut c = cfg();
    c["client"] =
        json!({"token": {"hmac_secret_key": SECRET}, "allowed_origins": ["http://studio.example"]});
    let s = start(c).await;
    let http = reqwest::Client::new();
    let r = http
        .request(reqwest::Method::OPTIONS, s.http("/emulation"))
        .header("Origin", "http://studio.example")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "http://studio.example"
    );
    assert_eq!(r.headers()["access-control-allow-headers"], "content-type");
    let r = http
        .post(s.http("/emulation"))
        .header("Origin", "http://evil.example")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    s.stop().await;
}
