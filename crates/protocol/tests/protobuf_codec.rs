//! Protobuf codec: golden bytes, varint framing and bad input.

mod common;

use prost::Message;
use wowlab_protocol::codec::{self, Protocol};
use wowlab_protocol::error::DecodeError;
use wowlab_protocol::proto::*;

#[test]
fn ping_and_pong_are_single_zero_byte() {
    assert_eq!(
        &codec::encode_reply(Protocol::Protobuf, &Reply::default()).expect("encode")[..],
        &[0x00]
    );
    assert_eq!(
        &codec::encode_command(Protocol::Protobuf, &Command::default()).expect("encode")[..],
        &[0x00]
    );
    let r = codec::decode_replies(Protocol::Protobuf, &[0x00]).expect("decode");
    assert_eq!(r.len(), 1);
    assert!(r[0].is_ping());
    let c = codec::decode_commands(Protocol::Protobuf, &[0x00, 0x00]).expect("decode");
    assert!(c.len() == 2 && c.iter().all(Command::is_pong));
}

#[test]
fn golden_connect_command_bytes() {
    // Command{id:1, connect:{token:"t", name:"js"}}:
    // 08 01 | 22 07 (field 4, len 7) | 0a 01 't' | 22 02 'j' 's'
    let c = Command {
        id: 1,
        connect: Some(ConnectRequest {
            token: "t".into(),
            name: "js".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let enc = codec::encode_command(Protocol::Protobuf, &c).expect("encode");
    assert_eq!(
        &enc[..],
        &[0x0b, 0x08, 0x01, 0x22, 0x07, 0x0a, 0x01, b't', 0x22, 0x02, b'j', b's']
    );
}

#[test]
fn golden_publication_push_bytes() {
    // Reply{push:{channel:"c", pub:{data:"{}", offset:8}}}
    let r = Reply {
        push: Some(Push {
            channel: "c".into(),
            r#pub: Some(Publication {
                data: bytes::Bytes::from_static(b"{}"),
                offset: 8,
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let enc = codec::encode_reply(Protocol::Protobuf, &r).expect("encode");
    let body = [
        0x12, 0x01, b'c', 0x22, 0x06, 0x22, 0x02, b'{', b'}', 0x30, 0x08,
    ];
    let mut expect = vec![0x22, body.len() as u8];
    expect.extend_from_slice(&body);
    let mut framed = vec![expect.len() as u8];
    framed.extend_from_slice(&expect);
    assert_eq!(&enc[..], &framed[..]);
}

#[test]
fn truncated_varint_is_an_error() {
    for frame in [&[0x80u8][..], &[0xff, 0xff], &[0x00, 0x80]] {
        let err = codec::decode_commands(Protocol::Protobuf, frame).expect_err("must fail");
        assert!(matches!(err, DecodeError::BadLengthPrefix { .. }), "{err}");
    }
    // Over 64 bits.
    let err = codec::decode_commands(Protocol::Protobuf, &[0xff; 11]).expect_err("must fail");
    assert!(
        matches!(err, DecodeError::BadLengthPrefix { index: 0, at: 0 }),
        "{err}"
    );
    let err = codec::decode_commands(Protocol::Protobuf, &[0x00, 0xff]).expect_err("must fail");
    assert_eq!(err.index(), 1);
    assert!(err.to_string().contains("protobuf message 1"), "{err}");
}

#[test]
fn length_over_frame_is_an_error() {
    let err =
        codec::decode_commands(Protocol::Protobuf, &[0x05, 0x08, 0x01]).expect_err("must fail");
    assert!(
        matches!(
            err,
            DecodeError::LengthOverFrame {
                index: 0,
                len: 5,
                remaining: 2
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "protobuf message 0: length 5 exceeds the 2 bytes left in the frame"
    );
    let huge = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    assert!(matches!(
        codec::decode_commands(Protocol::Protobuf, &huge),
        Err(DecodeError::LengthOverFrame { .. })
    ));
}

#[test]
fn malformed_body_is_an_error() {
    // Field 4 (connect) declared as length 10 inside a 2-byte message.
    let err =
        codec::decode_commands(Protocol::Protobuf, &[0x02, 0x22, 0x0a]).expect_err("must fail");
    assert!(
        matches!(err, DecodeError::Protobuf { index: 0, .. }),
        "{err}"
    );
    // Wrong wire type for id (length-delimited instead of varint).
    let err = codec::decode_commands(Protocol::Protobuf, &[0x03, 0x0a, 0x01, 0x00])
        .expect_err("must fail");
    assert!(matches!(err, DecodeError::Protobuf { .. }), "{err}");
}

#[test]
fn unknown_fields_are_skipped() {
    // Command{id:2} plus unknown field 99 (varint) and field 2 (reserved, length-delimited).
    let mut body = vec![0x08, 0x02];
    body.extend_from_slice(&[0x98, 0x06, 0x07]); // field 99 varint 7
    body.extend_from_slice(&[0x12, 0x01, b'x']); // field 2 bytes
    let mut frame = vec![body.len() as u8];
    frame.extend_from_slice(&body);
    let c = codec::decode_commands(Protocol::Protobuf, &frame).expect("decode");
    assert_eq!(
        c,
        vec![Command {
            id: 2,
            ..Default::default()
        }]
    );
}

#[test]
fn deeply_nested_message_is_an_error() {
    let mut node = FilterNode::default();
    for _ in 0..300 {
        node = FilterNode {
            nodes: vec![node],
            ..Default::default()
        };
    }
    let c = Command {
        id: 1,
        subscribe: Some(SubscribeRequest {
            channel: "c".into(),
            tf: Some(node),
            ..Default::default()
        }),
        ..Default::default()
    };
    let enc = c.encode_length_delimited_to_vec();
    assert!(codec::decode_commands(Protocol::Protobuf, &enc).is_err());
}

#[test]
fn binary_data_survives_protobuf() {
    let p = PublishRequest {
        channel: "c".into(),
        data: bytes::Bytes::from_static(&[0, 159, 146, 150, 255]),
    };
    let c = Command {
        id: 1,
        publish: Some(p),
        ..Default::default()
    };
    let enc = codec::encode_command(Protocol::Protobuf, &c).expect("encode");
    assert_eq!(
        codec::decode_commands(Protocol::Protobuf, &enc).expect("decode"),
        vec![c]
    );
}
