//! JSON codec: golden strings from the reference (Appendix A), zero omission, raw embedded
//! JSON, unknown fields and bad input.

mod common;

use common::json;
use wowlab_protocol::codec::{self, Protocol};
use wowlab_protocol::error::{DecodeError, EncodeError};
use wowlab_protocol::proto::*;

fn enc_reply(r: &Reply) -> String {
    String::from_utf8(
        codec::encode_reply(Protocol::Json, r)
            .expect("encode")
            .to_vec(),
    )
    .expect("utf8")
}

fn enc_cmd(c: &Command) -> String {
    String::from_utf8(
        codec::encode_command(Protocol::Json, c)
            .expect("encode")
            .to_vec(),
    )
    .expect("utf8")
}

#[test]
fn centrifuge_js_first_frame_connect_plus_subscribe() {
    let frame = br#"{"connect":{"token":"<jwt>","name":"js"},"id":1}
{"subscribe":{"channel":"chat:1","flag":1},"id":2}"#;
    let cmds = codec::decode_commands(Protocol::Json, frame).expect("decode");
    assert_eq!(
        cmds,
        vec![
            Command {
                id: 1,
                connect: Some(ConnectRequest {
                    token: "<jwt>".into(),
                    name: "js".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            Command {
                id: 2,
                subscribe: Some(SubscribeRequest {
                    channel: "chat:1".into(),
                    flag: 1,
                    ..Default::default()
                }),
                ..Default::default()
            },
        ]
    );
}

#[test]
fn appendix_a_server_messages_encode_exactly() {
    let connect = Reply {
        id: 1,
        connect: Some(ConnectResult {
            client: "<uuid>".into(),
            version: "<server version>".into(),
            ping: 25,
            pong: true,
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        enc_reply(&connect),
        r#"{"id":1,"connect":{"client":"<uuid>","version":"<server version>","ping":25,"pong":true}}"#
    );
    let sub = Reply {
        id: 2,
        subscribe: Some(SubscribeResult {
            recoverable: true,
            epoch: "aBcDeFgH".into(),
            offset: 7,
            positioned: true,
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        enc_reply(&sub),
        r#"{"id":2,"subscribe":{"recoverable":true,"epoch":"aBcDeFgH","offset":7,"positioned":true}}"#
    );
    let publ = Reply {
        push: Some(Push {
            channel: "chat:1".into(),
            r#pub: Some(Publication {
                data: json(r#"{"text":"hi"}"#),
                offset: 8,
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        enc_reply(&publ),
        r#"{"push":{"channel":"chat:1","pub":{"data":{"text":"hi"},"offset":8}}}"#
    );
    assert_eq!(enc_reply(&Reply::default()), "{}");
    let err = Reply {
        id: 3,
        error: Some(wowlab_protocol::codes::error::to_error(103)),
        ..Default::default()
    };
    assert_eq!(
        enc_reply(&err),
        r#"{"id":3,"error":{"code":103,"message":"permission denied"}}"#
    );
    let unsub = Reply {
        push: Some(Push {
            channel: "chat:1".into(),
            unsubscribe: Some(Unsubscribe {
                code: 2000,
                reason: "server unsubscribe".into(),
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        enc_reply(&unsub),
        r#"{"push":{"channel":"chat:1","unsubscribe":{"code":2000,"reason":"server unsubscribe"}}}"#
    );
}

#[test]
fn appendix_a_client_messages_decode() {
    let pong = codec::decode_commands(Protocol::Json, b"{}").expect("decode");
    assert_eq!(pong.len(), 1);
    assert!(pong[0].is_pong());
    let publish = codec::decode_commands(
        Protocol::Json,
        br#"{"publish":{"channel":"chat:1","data":{"text":"yo"}},"id":3}"#,
    )
    .expect("decode");
    assert_eq!(publish[0].id, 3);
    let p = publish[0].publish.as_ref().expect("publish");
    assert_eq!(
        (p.channel.as_str(), &p.data[..]),
        ("chat:1", &br#"{"text":"yo"}"#[..])
    );
    let resub = codec::decode_commands(
        Protocol::Json,
        br#"{"subscribe":{"channel":"chat:1","recover":true,"epoch":"aBcDeFgH","offset":8,"flag":1},"id":2}"#,
    )
    .expect("decode");
    let s = resub[0].subscribe.as_ref().expect("subscribe");
    assert!(s.recover);
    assert_eq!((s.epoch.as_str(), s.offset, s.flag), ("aBcDeFgH", 8, 1));
}

#[test]
fn appendix_a_recovery_reply_decodes() {
    let line = br#"{"id":2,"subscribe":{"recoverable":true,"positioned":true,"epoch":"aBcDeFgH","offset":8,"was_recovering":true,"recovered":true,"publications":[{"data":{"n":9},"offset":9}]}}"#;
    let r = codec::decode_replies(Protocol::Json, line).expect("decode");
    let s = r[0].subscribe.as_ref().expect("subscribe");
    assert!(s.recovered && s.was_recovering && s.recoverable && s.positioned);
    assert_eq!(s.publications.len(), 1);
    assert_eq!(s.publications[0].offset, 9);
    assert_eq!(&s.publications[0].data[..], br#"{"n":9}"#);
}

#[test]
fn ping_reply_and_pong_command_are_empty_objects() {
    assert_eq!(enc_reply(&Reply::default()), "{}");
    assert_eq!(enc_cmd(&Command::default()), "{}");
    let pings = codec::decode_replies(Protocol::Json, b"  {}\n").expect("decode");
    assert!(pings[0].is_ping());
}

#[test]
fn client_info_always_has_user_and_client() {
    let s = serde_json::to_string(&ClientInfo::default()).expect("encode");
    assert_eq!(s, r#"{"user":"","client":""}"#);
}

#[test]
fn disconnect_push_always_has_reason() {
    let s = serde_json::to_string(&Disconnect {
        code: 3001,
        ..Default::default()
    })
    .expect("encode");
    assert_eq!(s, r#"{"code":3001,"reason":""}"#);
}

#[test]
fn raw_data_kept_verbatim_and_offsets_are_numbers() {
    let line = br#"{"push":{"channel":"c","pub":{"data": { "a" : [1, 2] } ,"offset":18446744073709551615}}}"#;
    let r = codec::decode_replies(Protocol::Json, line).expect("decode");
    let p = r[0]
        .push
        .as_ref()
        .and_then(|p| p.r#pub.as_ref())
        .expect("pub");
    assert_eq!(&p.data[..], br#"{ "a" : [1, 2] }"#);
    assert_eq!(p.offset, u64::MAX);
    assert_eq!(
        enc_reply(&r[0]),
        r#"{"push":{"channel":"c","pub":{"data":{ "a" : [1, 2] },"offset":18446744073709551615}}}"#
    );
}

#[test]
fn null_data_reads_as_absent() {
    let c = codec::decode_commands(
        Protocol::Json,
        br#"{"id":1,"publish":{"channel":"c","data":null}}"#,
    )
    .expect("decode");
    assert!(c[0].publish.as_ref().expect("publish").data.is_empty());
}

#[test]
fn unknown_fields_are_ignored() {
    let c = codec::decode_commands(
        Protocol::Json,
        br#"{"id":4,"subscribe":{"channel":"c","type":1,"future":{"x":[1,{"y":null}]}},"new_thing":true}"#,
    )
    .expect("decode");
    assert_eq!(c[0].subscribe.as_ref().expect("sub").channel, "c");
}

#[test]
fn unknown_only_fields_decode_to_command_without_request() {
    let c = codec::decode_commands(Protocol::Json, br#"{"id":9,"fancy":{"a":1}}"#).expect("decode");
    assert_eq!(
        c[0],
        Command {
            id: 9,
            ..Default::default()
        }
    );
    assert!(!c[0].is_pong());
    let c = codec::decode_commands(Protocol::Json, br#"{"fancy":{"a":1}}"#).expect("decode");
    assert!(c[0].is_pong());
}

#[test]
fn blank_lines_and_crlf_are_tolerated() {
    let frame = b"\n{\"id\":1,\"presence\":{\"channel\":\"a\"}}\r\n\n  \n{\"id\":2,\"presence\":{\"channel\":\"b\"}}\n";
    let c = codec::decode_commands(Protocol::Json, frame).expect("decode");
    assert_eq!(c.len(), 2);
    assert!(codec::decode_commands(Protocol::Json, b"")
        .expect("decode")
        .is_empty());
}

#[test]
fn invalid_json_reports_message_index() {
    let frame = b"{\"id\":1}\n{\"id\":2,\"publish\":{\"channel\":";
    let err = codec::decode_commands(Protocol::Json, frame).expect_err("must fail");
    assert!(matches!(err, DecodeError::Json { index: 1, .. }), "{err}");
    assert!(err.to_string().starts_with("JSON message 1: "), "{err}");
}

#[test]
fn non_object_json_is_rejected() {
    for frame in [&b"[1,2]"[..], b"42", b"\"x\"", b"null", b"true"] {
        let err = codec::decode_commands(Protocol::Json, frame).expect_err("must fail");
        assert!(
            matches!(err, DecodeError::NotAnObject { index: 0 }),
            "{err}"
        );
    }
}

#[test]
fn wrong_types_are_rejected() {
    for frame in [
        &br#"{"id":-1}"#[..],
        br#"{"id":"1"}"#,
        br#"{"id":4294967296}"#,
        br#"{"id":1,"subscribe":"chat"}"#,
        br#"{"id":1,"subscribe":{"offset":-3}}"#,
        br#"{"id":1} trailing"#,
        br#"{"id":1,"publish":{"data":}}"#,
    ] {
        assert!(
            codec::decode_commands(Protocol::Json, frame).is_err(),
            "{}",
            String::from_utf8_lossy(frame)
        );
    }
}

#[test]
fn deeply_nested_json_is_an_error_not_a_stack_overflow() {
    for depth in [200usize, 100_000] {
        // Opaque values (raw `data`, unknown fields) are skipped iteratively by serde_json: any
        // depth is accepted without recursion, and `data` is kept verbatim.
        let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let s = format!("{{\"id\":1,\"publish\":{{\"data\":{nested}}}}}");
        let c =
            codec::decode_commands(Protocol::Json, s.as_bytes()).expect("opaque data of any depth");
        assert_eq!(
            c[0].publish.as_ref().expect("publish").data.len(),
            2 * depth
        );
        let s = format!("{{\"unknown\":{nested}}}");
        assert_eq!(
            codec::decode_commands(Protocol::Json, s.as_bytes())
                .expect("unknown field")
                .len(),
            1
        );
        // Unbalanced deep nesting is an error.
        let s = format!(
            "{{\"id\":1,\"publish\":{{\"data\":{}}}}}",
            "[".repeat(depth)
        );
        assert!(
            codec::decode_commands(Protocol::Json, s.as_bytes()).is_err(),
            "depth {depth}"
        );
        // Recursive message type (FilterNode.nodes).
        let mut s = String::from(r#"{"id":1,"subscribe":{"channel":"c","tf":"#);
        s.push_str(&r#"{"nodes":["#.repeat(depth));
        s.push_str(&"]}".repeat(depth));
        s.push_str("}}");
        assert!(
            codec::decode_commands(Protocol::Json, s.as_bytes()).is_err(),
            "depth {depth}"
        );
    }
}

#[test]
fn non_json_bytes_fail_to_encode_in_json_mode() {
    let r = Reply {
        push: Some(Push {
            channel: "c".into(),
            r#pub: Some(Publication {
                data: bytes::Bytes::from_static(&[0xde, 0xad, 0xbe, 0xef]),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let err = codec::encode_reply(Protocol::Json, &r).expect_err("must fail");
    assert!(matches!(err, EncodeError::NotJson(_)));
    assert!(err.to_string().contains("not hold valid JSON"), "{err}");
    // The same publication is fine in protobuf mode.
    assert!(codec::encode_reply(Protocol::Protobuf, &r).is_ok());
    // Two values, or trailing garbage, are not one JSON value either.
    let c = Command {
        publish: Some(PublishRequest {
            channel: "c".into(),
            data: json("1 2"),
        }),
        ..Default::default()
    };
    assert!(codec::encode_command(Protocol::Json, &c).is_err());
}

#[test]
fn append_to_frame_joins_json_with_newlines() {
    let mut frame = Vec::new();
    codec::append_to_frame(Protocol::Json, &mut frame, b"{}");
    codec::append_to_frame(Protocol::Json, &mut frame, b"{\"id\":1}");
    assert_eq!(frame, b"{}\n{\"id\":1}");
    assert_eq!(codec::sse_event(b"{}"), b"data: {}\n\n");
}

/// The fields Centrifugo's client protocol writes without `omitempty` (client.pb.go JSON tags):
/// `PresenceResult.presence`, `PresenceStatsResult.num_clients/num_users` and
/// `HistoryResult.publications/epoch/offset`. Everything else is omitted when zero.
#[test]
fn always_emitted_fields_are_written_when_zero() {
    let r = Reply {
        id: 1,
        presence_stats: Some(PresenceStatsResult::default()),
        ..Default::default()
    };
    assert_eq!(
        enc_reply(&r),
        r#"{"id":1,"presence_stats":{"num_clients":0,"num_users":0}}"#
    );
    let r = Reply {
        id: 2,
        presence: Some(PresenceResult::default()),
        ..Default::default()
    };
    assert_eq!(enc_reply(&r), r#"{"id":2,"presence":{"presence":{}}}"#);
    let r = Reply {
        id: 3,
        history: Some(HistoryResult::default()),
        ..Default::default()
    };
    assert_eq!(
        enc_reply(&r),
        r#"{"id":3,"history":{"publications":[],"epoch":"","offset":0}}"#
    );
    // Omitted-when-zero fields stay omitted.
    let r = Reply {
        id: 4,
        subscribe: Some(SubscribeResult::default()),
        publish: Some(PublishResult::default()),
        ..Default::default()
    };
    assert_eq!(enc_reply(&r), r#"{"id":4,"subscribe":{},"publish":{}}"#);
}
