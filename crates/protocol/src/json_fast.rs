//! Hand-written JSON writer for the fan-out hot path: replies that carry one publication,
//! join or leave push. Output is byte-identical to the serde path (same field order, same
//! omissions, same escaping); anything else falls back to serde.

use crate::error::EncodeError;
use crate::proto::raw_json::NOT_JSON;
use crate::proto::{ClientInfo, Publication, Push, Reply};
use serde_json::value::RawValue;

/// Writes `r` if it is a plain publication/join/leave push; `None` means "use serde".
pub(crate) fn try_write_reply(r: &Reply, out: &mut Vec<u8>) -> Option<Result<(), EncodeError>> {
    let push = r.push.as_ref()?;
    let plain_reply = r.id == 0
        && r.error.is_none()
        && r.connect.is_none()
        && r.subscribe.is_none()
        && r.unsubscribe.is_none()
        && r.publish.is_none()
        && r.presence.is_none()
        && r.presence_stats.is_none()
        && r.history.is_none()
        && r.ping.is_none()
        && r.rpc.is_none()
        && r.refresh.is_none()
        && r.sub_refresh.is_none();
    let other_push = push.unsubscribe.is_some()
        || push.message.is_some()
        || push.subscribe.is_some()
        || push.connect.is_some()
        || push.disconnect.is_some()
        || push.refresh.is_some();
    let kinds = usize::from(push.r#pub.is_some())
        + usize::from(push.join.is_some())
        + usize::from(push.leave.is_some());
    if !plain_reply || other_push || kinds != 1 {
        return None;
    }
    Some(write_push(push, out))
}

/// Comma bookkeeping inside one JSON object.
struct Obj<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Obj<'a> {
    fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Obj { out, first: true }
    }

    /// Writes `"name":` (with a leading comma when needed).
    fn key(&mut self, name: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

fn string(out: &mut Vec<u8>, s: &str) -> Result<(), EncodeError> {
    serde_json::to_writer(out, s).map_err(EncodeError::NotJson)
}

fn number<N: serde::Serialize>(out: &mut Vec<u8>, n: N) -> Result<(), EncodeError> {
    serde_json::to_writer(out, &n).map_err(EncodeError::NotJson)
}

/// Validates and writes raw embedded JSON, exactly as the serde adapter does.
fn raw(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), EncodeError> {
    let v: &RawValue = serde_json::from_slice(bytes).map_err(|e| {
        EncodeError::NotJson(<serde_json::Error as serde::ser::Error>::custom(
            format_args!("{NOT_JSON}: {e}"),
        ))
    })?;
    out.extend_from_slice(v.get().as_bytes());
    Ok(())
}

fn write_push(push: &Push, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let mut reply = Obj::open(out);
    let mut p = Obj::open(reply.key("push"));
    if push.id != 0 {
        number(p.key("id"), push.id)?;
    }
    if !push.channel.is_empty() {
        string(p.key("channel"), &push.channel)?;
    }
    if let Some(publication) = &push.r#pub {
        write_publication(p.key("pub"), publication)?;
    } else if let Some(join) = &push.join {
        write_info_holder(p.key("join"), join.info.as_ref())?;
    } else if let Some(leave) = &push.leave {
        write_info_holder(p.key("leave"), leave.info.as_ref())?;
    }
    p.close();
    reply.close();
    Ok(())
}

fn write_info_holder(out: &mut Vec<u8>, info: Option<&ClientInfo>) -> Result<(), EncodeError> {
    let mut o = Obj::open(out);
    if let Some(info) = info {
        write_client_info(o.key("info"), info)?;
    }
    o.close();
    Ok(())
}

fn write_client_info(out: &mut Vec<u8>, info: &ClientInfo) -> Result<(), EncodeError> {
    let mut o = Obj::open(out);
    string(o.key("user"), &info.user)?;
    string(o.key("client"), &info.client)?;
    if !info.conn_info.is_empty() {
        raw(o.key("conn_info"), &info.conn_info)?;
    }
    if !info.chan_info.is_empty() {
        raw(o.key("chan_info"), &info.chan_info)?;
    }
    o.close();
    Ok(())
}

fn write_publication(out: &mut Vec<u8>, p: &Publication) -> Result<(), EncodeError> {
    let mut o = Obj::open(out);
    if !p.data.is_empty() {
        raw(o.key("data"), &p.data)?;
    }
    if let Some(info) = &p.info {
        write_client_info(o.key("info"), info)?;
    }
    if p.offset != 0 {
        number(o.key("offset"), p.offset)?;
    }
    if !p.tags.is_empty() {
        let mut t = Obj::open(o.key("tags"));
        for (k, v) in &p.tags {
            // Keys go through the string escaper too.
            if !t.first {
                t.out.push(b',');
            }
            t.first = false;
            string(t.out, k)?;
            t.out.push(b':');
            string(t.out, v)?;
        }
        t.close();
    }
    if p.delta {
        o.key("delta").extend_from_slice(b"true");
    }
    if p.time != 0 {
        number(o.key("time"), p.time)?;
    }
    if !p.channel.is_empty() {
        string(o.key("channel"), &p.channel)?;
    }
    o.close();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Join, Leave};
    use bytes::Bytes;
    use proptest::collection::hash_map;
    use proptest::prelude::*;

    fn via_serde(r: &Reply) -> Result<Vec<u8>, String> {
        serde_json::to_vec(r).map_err(|e| e.to_string())
    }

    fn via_fast(r: &Reply) -> Option<Result<Vec<u8>, String>> {
        let mut out = Vec::new();
        try_write_reply(r, &mut out).map(|res| {
            res.map(|()| out).map_err(|e| match e {
                EncodeError::NotJson(inner) => inner.to_string(),
            })
        })
    }

    fn payload() -> impl Strategy<Value = Bytes> {
        prop_oneof![
            Just(Bytes::new()),
            Just(Bytes::from_static(b" {\"a\" : [1, 2]} ")),
            Just(Bytes::from_static(b"\xff not json")),
            Just(Bytes::from_static(b"1 2")),
            ".{0,12}".prop_map(|s| Bytes::from(serde_json::to_string(&s).unwrap_or_default())),
            any::<i64>().prop_map(|n| Bytes::from(n.to_string())),
        ]
    }

    fn info() -> impl Strategy<Value = Option<ClientInfo>> {
        proptest::option::of(
            (".{0,6}", "[\\x00-\\x7f]{0,6}", payload(), payload()).prop_map(
                |(user, client, conn_info, chan_info)| ClientInfo {
                    user,
                    client,
                    conn_info,
                    chan_info,
                },
            ),
        )
    }

    fn reply() -> impl Strategy<Value = Reply> {
        let publication = (
            payload(),
            info(),
            any::<u64>(),
            hash_map(".{0,4}", ".{0,4}", 0..3),
            any::<bool>(),
            any::<i64>(),
            ".{0,5}",
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
            );
        let body = prop_oneof![
            publication.prop_map(|p| Push {
                r#pub: Some(p),
                ..Default::default()
            }),
            info().prop_map(|info| Push {
                join: Some(Join { info }),
                ..Default::default()
            }),
            info().prop_map(|info| Push {
                leave: Some(Leave { info }),
                ..Default::default()
            }),
        ];
        (body, prop_oneof![Just(0i64), any::<i64>()], ".{0,8}").prop_map(|(mut p, id, channel)| {
            p.id = id;
            p.channel = channel;
            Reply {
                push: Some(p),
                ..Default::default()
            }
        })
    }

    proptest! {
        #[test]
        fn fast_path_matches_serde_byte_for_byte(r in reply()) {
            let fast = via_fast(&r).expect("fast path applies");
            let slow = via_serde(&r);
            match (fast, slow) {
                (Ok(a), Ok(b)) => prop_assert_eq!(String::from_utf8_lossy(&a), String::from_utf8_lossy(&b)),
                (Err(a), Err(b)) => prop_assert_eq!(a, b),
                (a, b) => prop_assert!(false, "fast {:?} vs serde {:?}", a, b),
            }
        }
    }

    #[test]
    fn other_replies_fall_back() {
        assert!(via_fast(&Reply::default()).is_none());
        assert!(via_fast(&Reply {
            id: 1,
            ..Default::default()
        })
        .is_none());
        let both = Reply {
            push: Some(Push {
                r#pub: Some(Publication::default()),
                join: Some(Join::default()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(via_fast(&both).is_none());
    }
}
