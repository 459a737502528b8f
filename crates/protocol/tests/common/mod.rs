//! Populated samples of every message, shared by the codec tests.
#![allow(dead_code)]

use bytes::Bytes;
use std::collections::HashMap;
use wowlab_protocol::proto::*;

pub fn json(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

pub fn client_info(user: &str) -> ClientInfo {
    ClientInfo {
        user: user.into(),
        client: format!("client-{user}"),
        conn_info: json(r#"{"name":"Ann"}"#),
        chan_info: json(r#"[1,2]"#),
    }
}

pub fn publication(offset: u64) -> Publication {
    Publication {
        data: json(r#"{"text":"hi","n":1.5e3,"u":"\u00e9\n"}"#),
        info: Some(client_info("42")),
        offset,
        tags: HashMap::from([("k".into(), "v".into())]),
        delta: true,
        time: 1_700_000_000_123,
        channel: "chat:1".into(),
    }
}

pub fn subscribe_request(channel: &str) -> SubscribeRequest {
    SubscribeRequest {
        channel: channel.into(),
        token: "sub.jwt".into(),
        recover: true,
        epoch: "aBcDeFgH".into(),
        offset: u64::MAX,
        data: json("\"hello\""),
        positioned: true,
        recoverable: true,
        join_leave: true,
        delta: "fossil".into(),
        tf: Some(FilterNode {
            op: "and".into(),
            nodes: vec![
                FilterNode {
                    key: "a".into(),
                    cmp: "eq".into(),
                    val: "1".into(),
                    ..Default::default()
                },
                FilterNode {
                    key: "b".into(),
                    cmp: "in".into(),
                    vals: vec!["x".into(), "y".into()],
                    ..Default::default()
                },
            ],
            ..Default::default()
        }),
        flag: 3,
    }
}

pub fn subscribe_result() -> SubscribeResult {
    SubscribeResult {
        expires: true,
        ttl: 3600,
        recoverable: true,
        epoch: "aBcDeFgH".into(),
        publications: vec![publication(9), publication(10)],
        recovered: true,
        offset: 8,
        positioned: true,
        data: json(r#"{"sub":"data"}"#),
        was_recovering: true,
        delta: true,
        id: -5,
    }
}

/// One command per request kind, plus a pong and a send (id 0).
pub fn sample_commands() -> Vec<Command> {
    vec![
        Command {
            id: 1,
            connect: Some(ConnectRequest {
                token: "conn.jwt".into(),
                data: json(r#"{"hello":"world"}"#),
                subs: HashMap::from([(
                    "#42".into(),
                    SubscribeRequest {
                        recover: true,
                        offset: 3,
                        epoch: "e".into(),
                        ..Default::default()
                    },
                )]),
                name: "js".into(),
                version: "5.8.0".into(),
                headers: HashMap::from([("Authorization".into(), "Bearer x".into())]),
                flag: 1,
            }),
            ..Default::default()
        },
        Command {
            id: 2,
            subscribe: Some(subscribe_request("chat:1")),
            ..Default::default()
        },
        Command {
            id: 3,
            unsubscribe: Some(UnsubscribeRequest {
                channel: "chat:1".into(),
            }),
            ..Default::default()
        },
        Command {
            id: 4,
            publish: Some(PublishRequest {
                channel: "chat:1".into(),
                data: json(r#"{"text":"yo"}"#),
            }),
            ..Default::default()
        },
        Command {
            id: 5,
            presence: Some(PresenceRequest {
                channel: "chat:1".into(),
            }),
            ..Default::default()
        },
        Command {
            id: 6,
            presence_stats: Some(PresenceStatsRequest {
                channel: "chat:1".into(),
            }),
            ..Default::default()
        },
        Command {
            id: 7,
            history: Some(HistoryRequest {
                channel: "chat:1".into(),
                limit: -1,
                since: Some(StreamPosition {
                    offset: 5,
                    epoch: "e".into(),
                }),
                reverse: true,
            }),
            ..Default::default()
        },
        Command {
            id: 8,
            ping: Some(PingRequest {}),
            ..Default::default()
        },
        Command {
            send: Some(SendRequest {
                data: json("[true,false,null]"),
            }),
            ..Default::default()
        },
        Command {
            id: 10,
            rpc: Some(RpcRequest {
                data: json("12.5"),
                method: "sum".into(),
            }),
            ..Default::default()
        },
        Command {
            id: 11,
            refresh: Some(RefreshRequest {
                token: "new.jwt".into(),
            }),
            ..Default::default()
        },
        Command {
            id: 12,
            sub_refresh: Some(SubRefreshRequest {
                channel: "$private".into(),
                token: "s.jwt".into(),
            }),
            ..Default::default()
        },
        Command::default(),
    ]
}

fn push(channel: &str, f: impl FnOnce(&mut Push)) -> Reply {
    let mut p = Push {
        channel: channel.into(),
        ..Default::default()
    };
    f(&mut p);
    Reply {
        push: Some(p),
        ..Default::default()
    }
}

/// One reply per result kind, one per push kind, an error and a ping.
pub fn sample_replies() -> Vec<Reply> {
    vec![
        Reply {
            id: 1,
            connect: Some(ConnectResult {
                client: "c1".into(),
                version: "0.1.0".into(),
                expires: true,
                ttl: 60,
                data: json(r#"{"a":[]}"#),
                subs: HashMap::from([("#42".into(), subscribe_result())]),
                ping: 25,
                pong: true,
                session: "s".into(),
                node: "n".into(),
                time: 1_700_000_000_000,
            }),
            ..Default::default()
        },
        Reply {
            id: 2,
            subscribe: Some(subscribe_result()),
            ..Default::default()
        },
        Reply {
            id: 3,
            unsubscribe: Some(UnsubscribeResult {}),
            ..Default::default()
        },
        Reply {
            id: 4,
            publish: Some(PublishResult {}),
            ..Default::default()
        },
        Reply {
            id: 5,
            presence: Some(PresenceResult {
                presence: HashMap::from([
                    ("c1".into(), client_info("1")),
                    ("c2".into(), ClientInfo::default()),
                ]),
            }),
            ..Default::default()
        },
        Reply {
            id: 6,
            presence_stats: Some(PresenceStatsResult {
                num_clients: 3,
                num_users: 2,
            }),
            ..Default::default()
        },
        Reply {
            id: 7,
            history: Some(HistoryResult {
                publications: vec![publication(1)],
                epoch: "e".into(),
                offset: 1,
            }),
            ..Default::default()
        },
        Reply {
            id: 8,
            ping: Some(PingResult {}),
            ..Default::default()
        },
        Reply {
            id: 9,
            rpc: Some(RpcResult {
                data: json(r#""pong""#),
            }),
            ..Default::default()
        },
        Reply {
            id: 10,
            refresh: Some(RefreshResult {
                client: "c1".into(),
                version: "v".into(),
                expires: true,
                ttl: 10,
            }),
            ..Default::default()
        },
        Reply {
            id: 11,
            sub_refresh: Some(SubRefreshResult {
                expires: true,
                ttl: 20,
            }),
            ..Default::default()
        },
        Reply {
            id: 12,
            error: Some(Error {
                code: 100,
                message: "internal server error".into(),
                temporary: true,
            }),
            ..Default::default()
        },
        push("chat:1", |p| p.r#pub = Some(publication(8))),
        push("chat:1", |p| {
            p.join = Some(Join {
                info: Some(client_info("7")),
            })
        }),
        push("chat:1", |p| {
            p.leave = Some(Leave {
                info: Some(client_info("7")),
            })
        }),
        push("chat:1", |p| {
            p.unsubscribe = Some(Unsubscribe {
                code: 2000,
                reason: "server unsubscribe".into(),
            })
        }),
        push("", |p| {
            p.message = Some(Message {
                data: json(r#"{"m":1}"#),
            })
        }),
        push("news", |p| {
            p.subscribe = Some(Subscribe {
                recoverable: true,
                epoch: "e".into(),
                offset: 4,
                positioned: true,
                data: json("{}"),
            })
        }),
        push("", |p| {
            p.connect = Some(Connect {
                client: "c".into(),
                version: "v".into(),
                data: json("1"),
                subs: HashMap::from([("x".into(), SubscribeResult::default())]),
                expires: true,
                ttl: 5,
                ping: 25,
                pong: true,
                session: "s".into(),
                node: "n".into(),
                time: 9,
            })
        }),
        push("", |p| {
            p.disconnect = Some(Disconnect {
                code: 3001,
                reason: "shutdown".into(),
                reconnect: true,
            })
        }),
        push("", |p| {
            p.refresh = Some(Refresh {
                expires: true,
                ttl: 30,
            })
        }),
        push("chat:1", |p| {
            p.id = 77;
            p.r#pub = Some(Publication {
                data: json("{}"),
                ..Default::default()
            })
        }),
        Reply::default(),
    ]
}
