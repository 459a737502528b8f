//! Every message round-trips through both codecs, alone and batched in one frame.

mod common;

use common::*;
use wowlab_protocol::codec::{self, Protocol};

const BOTH: [Protocol; 2] = [Protocol::Json, Protocol::Protobuf];

#[test]
fn every_command_round_trips_alone() {
    for p in BOTH {
        for cmd in sample_commands() {
            let enc = codec::encode_command(p, &cmd).expect("encode");
            let dec = codec::decode_commands(p, &enc).expect("decode");
            assert_eq!(dec, vec![cmd], "{p:?}");
        }
    }
}

#[test]
fn every_reply_round_trips_alone() {
    for p in BOTH {
        for reply in sample_replies() {
            let enc = codec::encode_reply(p, &reply).expect("encode");
            let dec = codec::decode_replies(p, &enc).expect("decode");
            assert_eq!(dec, vec![reply], "{p:?}");
        }
    }
}

#[test]
fn batched_frames_round_trip_in_order() {
    for p in BOTH {
        let cmds = sample_commands();
        let mut frame = Vec::new();
        for c in &cmds {
            codec::append_to_frame(p, &mut frame, &codec::encode_command(p, c).expect("encode"));
        }
        assert_eq!(
            codec::decode_commands(p, &frame).expect("decode"),
            cmds,
            "{p:?}"
        );

        let replies = sample_replies();
        let mut frame = Vec::new();
        for r in &replies {
            codec::append_to_frame(p, &mut frame, &codec::encode_reply(p, r).expect("encode"));
        }
        assert_eq!(
            codec::decode_replies(p, &frame).expect("decode"),
            replies,
            "{p:?}"
        );
    }
}

#[test]
fn stream_decoder_handles_split_chunks() {
    for p in BOTH {
        let replies = sample_replies();
        let mut stream = Vec::new();
        for r in &replies {
            stream.extend_from_slice(&codec::encode_reply(p, r).expect("encode"));
            if p == Protocol::Json {
                stream.push(b'\n');
            }
        }
        let mut dec = codec::StreamDecoder::new(p, 1 << 20);
        let mut got = Vec::new();
        for chunk in stream.chunks(7) {
            dec.push(chunk);
            while let Some(r) = dec.next_reply().expect("decode") {
                got.push(r);
            }
        }
        assert_eq!(got, replies, "{p:?}");
    }
}

#[test]
fn stream_decoder_rejects_oversized_message() {
    let big = wowlab_protocol::proto::Reply {
        id: 1,
        ..Default::default()
    };
    let mut enc = codec::encode_reply(Protocol::Protobuf, &big)
        .expect("encode")
        .to_vec();
    enc[0] = 0xff; // length prefix now claims a multi-byte varint
    enc.extend_from_slice(&[0xff, 0x01]);
    let mut dec = codec::StreamDecoder::new(Protocol::Protobuf, 16);
    dec.push(&enc);
    assert!(dec.next_reply().is_err());
}
