//! Property tests: generated messages round-trip through both codecs; arbitrary bytes never
//! panic the decoders.

use bytes::Bytes;
use proptest::collection::{hash_map, vec};
use proptest::prelude::*;
use wowlab_protocol::codec::{self, Protocol};
use wowlab_protocol::proto::*;

/// JSON-valid payloads (the JSON codec requires `bytes` fields to hold JSON).
fn json_bytes() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        Just(Bytes::new()),
        any::<i64>().prop_map(|n| Bytes::from(n.to_string())),
        ".{0,20}".prop_map(|s| Bytes::from(serde_json::to_string(&s).expect("string"))),
        hash_map("[a-z]{1,5}", any::<u32>(), 0..4)
            .prop_map(|m| Bytes::from(serde_json::to_vec(&m).expect("map"))),
    ]
}

fn client_info() -> impl Strategy<Value = ClientInfo> {
    (".{0,8}", "[a-f0-9-]{0,12}", json_bytes(), json_bytes()).prop_map(
        |(user, client, conn_info, chan_info)| ClientInfo {
            user,
            client,
            conn_info,
            chan_info,
        },
    )
}

fn publication() -> impl Strategy<Value = Publication> {
    (
        json_bytes(),
        proptest::option::of(client_info()),
        any::<u64>(),
        hash_map(".{0,4}", ".{0,4}", 0..3),
        any::<bool>(),
        any::<i64>(),
        ".{0,6}",
    )
        .prop_map(
            |(data, info, offset, tags, delta, time, channel)| Publication {
                data,
                info,
                offset,
                tags,
                delta,
                time,
                channel,
            },
        )
}

fn push() -> impl Strategy<Value = Push> {
    let body = prop_oneof![
        publication().prop_map(|p| Push {
            r#pub: Some(p),
            ..Default::default()
        }),
        proptest::option::of(client_info()).prop_map(|info| Push {
            join: Some(Join { info }),
            ..Default::default()
        }),
        proptest::option::of(client_info()).prop_map(|info| Push {
            leave: Some(Leave { info }),
            ..Default::default()
        }),
        (any::<u32>(), ".{0,10}").prop_map(|(code, reason)| Push {
            unsubscribe: Some(Unsubscribe { code, reason }),
            ..Default::default()
        }),
        json_bytes().prop_map(|data| Push {
            message: Some(Message { data }),
            ..Default::default()
        }),
        (any::<u32>(), ".{0,10}", any::<bool>()).prop_map(|(code, reason, reconnect)| Push {
            disconnect: Some(Disconnect {
                code,
                reason,
                reconnect
            }),
            ..Default::default()
        }),
    ];
    (body, any::<i64>(), ".{0,10}").prop_map(|(mut p, id, channel)| {
        p.id = id;
        p.channel = channel;
        p
    })
}

fn subscribe_result() -> impl Strategy<Value = SubscribeResult> {
    (
        any::<bool>(),
        any::<u32>(),
        any::<bool>(),
        "[a-zA-Z]{0,8}",
        vec(publication(), 0..3),
        any::<bool>(),
        any::<u64>(),
        json_bytes(),
    )
        .prop_map(
            |(expires, ttl, recoverable, epoch, publications, recovered, offset, data)| {
                SubscribeResult {
                    expires,
                    ttl,
                    recoverable,
                    epoch,
                    publications,
                    recovered,
                    offset,
                    data,
                    ..Default::default()
                }
            },
        )
}

fn reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        push().prop_map(|p| Reply {
            push: Some(p),
            ..Default::default()
        }),
        (any::<u32>(), subscribe_result()).prop_map(|(id, s)| Reply {
            id,
            subscribe: Some(s),
            ..Default::default()
        }),
        (any::<u32>(), any::<u32>(), ".{0,10}", any::<bool>()).prop_map(
            |(id, code, message, temporary)| Reply {
                id,
                error: Some(Error {
                    code,
                    message,
                    temporary
                }),
                ..Default::default()
            }
        ),
        (any::<u32>(), hash_map(".{0,6}", client_info(), 0..3)).prop_map(|(id, presence)| Reply {
            id,
            presence: Some(PresenceResult { presence }),
            ..Default::default()
        }),
        Just(Reply::default()),
    ]
}

fn subscribe_request() -> impl Strategy<Value = SubscribeRequest> {
    (
        ".{0,10}",
        ".{0,10}",
        any::<bool>(),
        ".{0,8}",
        any::<u64>(),
        json_bytes(),
        any::<i64>(),
    )
        .prop_map(
            |(channel, token, recover, epoch, offset, data, flag)| SubscribeRequest {
                channel,
                token,
                recover,
                epoch,
                offset,
                data,
                flag,
                ..Default::default()
            },
        )
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        (
            any::<u32>(),
            ".{0,10}",
            json_bytes(),
            hash_map(".{0,6}", subscribe_request(), 0..2)
        )
            .prop_map(|(id, token, data, subs)| Command {
                id,
                connect: Some(ConnectRequest {
                    token,
                    data,
                    subs,
                    name: "rs".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        (any::<u32>(), subscribe_request()).prop_map(|(id, s)| Command {
            id,
            subscribe: Some(s),
            ..Default::default()
        }),
        (any::<u32>(), ".{0,10}", json_bytes()).prop_map(|(id, channel, data)| Command {
            id,
            publish: Some(PublishRequest { channel, data }),
            ..Default::default()
        }),
        (
            any::<u32>(),
            ".{0,10}",
            any::<i32>(),
            proptest::option::of((any::<u64>(), ".{0,5}")),
            any::<bool>()
        )
            .prop_map(|(id, channel, limit, since, reverse)| Command {
                id,
                history: Some(HistoryRequest {
                    channel,
                    limit,
                    since: since.map(|(offset, epoch)| StreamPosition { offset, epoch }),
                    reverse
                }),
                ..Default::default()
            }),
        (any::<u32>(), ".{0,10}", json_bytes()).prop_map(|(id, method, data)| Command {
            id,
            rpc: Some(RpcRequest { data, method }),
            ..Default::default()
        }),
        Just(Command::default()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn replies_round_trip(replies in vec(reply(), 1..5)) {
        for p in [Protocol::Json, Protocol::Protobuf] {
            let mut frame = Vec::new();
            for r in &replies {
                codec::append_to_frame(p, &mut frame, &codec::encode_reply(p, r).expect("encode"));
            }
            prop_assert_eq!(&codec::decode_replies(p, &frame).expect("decode"), &replies);
        }
    }

    #[test]
    fn commands_round_trip(cmds in vec(command(), 1..5)) {
        for p in [Protocol::Json, Protocol::Protobuf] {
            let mut frame = Vec::new();
            for c in &cmds {
                codec::append_to_frame(p, &mut frame, &codec::encode_command(p, c).expect("encode"));
            }
            prop_assert_eq!(&codec::decode_commands(p, &frame).expect("decode"), &cmds);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(frame in vec(any::<u8>(), 0..256)) {
        for p in [Protocol::Json, Protocol::Protobuf] {
            let _ = codec::decode_commands(p, &frame);
            let _ = codec::decode_replies(p, &frame);
        }
    }

    #[test]
    fn arbitrary_text_never_panics(frame in "[{}\\[\\]\":,a-z0-9\\n ]{0,200}") {
        let _ = codec::decode_commands(Protocol::Json, frame.as_bytes());
        let _ = codec::decode_replies(Protocol::Json, frame.as_bytes());
    }
}
