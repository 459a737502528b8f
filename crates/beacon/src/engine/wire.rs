//! What distributed engines put on Redis/NATS: publications, join/leave and control messages
//! between nodes, and the stored form of history entries. Payloads are the client protocol's
//! protobuf messages (`Publication`, `ClientInfo`) behind a small text header, so a Lua script
//! can assemble a message around an offset it just allocated.
//!
//! ```text
//! P<offset>:<epoch>:<channel length>:<channel><Publication>   publication
//! J<channel length>:<channel><ClientInfo>                     join
//! L<channel length>:<channel><ClientInfo>                     leave
//! C<bytes>                                                    control
//! <offset>:<Publication>                                      stored history entry
//! ```

use super::{ClientInfo, EngineError, Publication, StreamPosition};
use bytes::Bytes;
use prost::Message;
use wowlab_protocol::proto;

/// One message between nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NodeMessage {
    /// A publication with its stream position (offset 0: no history).
    Publication(String, Publication, StreamPosition),
    /// A join.
    Join(String, ClientInfo),
    /// A leave.
    Leave(String, ClientInfo),
    /// A control message.
    Control(Bytes),
}

fn bad(what: &str) -> EngineError {
    EngineError::Backend(format!("malformed node message: {what}"))
}

/// Protobuf body of a publication (offset left out: the header carries it).
pub(crate) fn publication_body(p: &Publication) -> Vec<u8> {
    proto::Publication {
        data: p.data.clone(),
        info: p.info.as_ref().map(info_to_wire),
        tags: p.tags.clone(),
        time: p.time,
        // Between nodes the flag means "publish as delta", not "data is a delta".
        delta: p.delta,
        ..Default::default()
    }
    .encode_to_vec()
}

fn info_to_wire(i: &ClientInfo) -> proto::ClientInfo {
    proto::ClientInfo {
        user: i.user.clone(),
        client: i.client.clone(),
        conn_info: i.conn_info.clone().unwrap_or_default(),
        chan_info: i.chan_info.clone().unwrap_or_default(),
    }
}

fn info_from_wire(i: proto::ClientInfo) -> ClientInfo {
    ClientInfo {
        user: i.user,
        client: i.client,
        conn_info: (!i.conn_info.is_empty()).then_some(i.conn_info),
        chan_info: (!i.chan_info.is_empty()).then_some(i.chan_info),
    }
}

/// Encodes a ClientInfo as protobuf (presence entries, join/leave).
pub(crate) fn encode_info(i: &ClientInfo) -> Vec<u8> {
    info_to_wire(i).encode_to_vec()
}

/// Decodes [`encode_info`].
pub(crate) fn decode_info(b: &[u8]) -> Result<ClientInfo, EngineError> {
    proto::ClientInfo::decode(b)
        .map(info_from_wire)
        .map_err(|_| bad("client info"))
}

fn decode_publication(body: &[u8], offset: u64) -> Result<Publication, EngineError> {
    let p = proto::Publication::decode(body).map_err(|_| bad("publication"))?;
    Ok(Publication {
        offset,
        data: p.data,
        info: p.info.map(info_from_wire),
        tags: p.tags,
        time: p.time,
        delta: p.delta,
    })
}

/// `<len>:<channel>` as written in headers.
pub(crate) fn channel_header(channel: &str) -> String {
    format!("{}:{channel}", channel.len())
}

/// A publication message (NATS broker; the Redis broker builds the same bytes in Lua).
pub(crate) fn encode_publication(
    channel: &str,
    p: &Publication,
    position: &StreamPosition,
) -> Vec<u8> {
    let mut out = format!(
        "P{}:{}:{}",
        position.offset,
        position.epoch,
        channel_header(channel)
    )
    .into_bytes();
    out.extend_from_slice(&publication_body(p));
    out
}

/// A join (true) or leave (false) message.
pub(crate) fn encode_join_leave(channel: &str, info: &ClientInfo, join: bool) -> Vec<u8> {
    let mut out = format!(
        "{}{}",
        if join { 'J' } else { 'L' },
        channel_header(channel)
    )
    .into_bytes();
    out.extend_from_slice(&encode_info(info));
    out
}

/// A control message.
pub(crate) fn encode_control(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 1);
    out.push(b'C');
    out.extend_from_slice(data);
    out
}

/// Splits `<digits>:` off the front.
fn take_number(b: &[u8]) -> Result<(u64, &[u8]), EngineError> {
    let colon = b
        .iter()
        .position(|c| *c == b':')
        .ok_or_else(|| bad("header"))?;
    let n = std::str::from_utf8(&b[..colon])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| bad("number"))?;
    Ok((n, &b[colon + 1..]))
}

fn take_channel(b: &[u8]) -> Result<(String, &[u8]), EngineError> {
    let (len, rest) = take_number(b)?;
    let len = usize::try_from(len).map_err(|_| bad("channel length"))?;
    if rest.len() < len {
        return Err(bad("channel"));
    }
    let ch = std::str::from_utf8(&rest[..len]).map_err(|_| bad("channel utf-8"))?;
    Ok((ch.to_string(), &rest[len..]))
}

/// Decodes any node message.
pub(crate) fn decode(b: &[u8]) -> Result<NodeMessage, EngineError> {
    let (&kind, rest) = b.split_first().ok_or_else(|| bad("empty"))?;
    match kind {
        b'P' => {
            let (offset, rest) = take_number(rest)?;
            let colon = rest
                .iter()
                .position(|c| *c == b':')
                .ok_or_else(|| bad("epoch"))?;
            let epoch = std::str::from_utf8(&rest[..colon]).map_err(|_| bad("epoch"))?;
            let (channel, body) = take_channel(&rest[colon + 1..])?;
            let p = decode_publication(body, offset)?;
            Ok(NodeMessage::Publication(
                channel,
                p,
                StreamPosition {
                    offset,
                    epoch: epoch.to_string(),
                },
            ))
        }
        b'J' | b'L' => {
            let (channel, body) = take_channel(rest)?;
            let info = decode_info(body)?;
            Ok(if kind == b'J' {
                NodeMessage::Join(channel, info)
            } else {
                NodeMessage::Leave(channel, info)
            })
        }
        b'C' => Ok(NodeMessage::Control(Bytes::copy_from_slice(rest))),
        _ => Err(bad("kind")),
    }
}

/// Decodes a stored history entry `<offset>:<Publication>`.
pub(crate) fn decode_entry(b: &[u8]) -> Result<Publication, EngineError> {
    let (offset, body) = take_number(b)?;
    decode_publication(body, offset)
}

/// Eight random ASCII letters, the epoch format of Centrifuge's engines.
pub(crate) fn random_epoch() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..8)
        .map(|_| rng.sample(rand::distr::Alphabetic) as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn sample() -> Publication {
        Publication {
            offset: 7,
            data: Bytes::from_static(b"{\"a\":1}"),
            info: Some(ClientInfo {
                user: "u".into(),
                client: "c".into(),
                conn_info: Some(Bytes::from_static(b"{}")),
                chan_info: None,
            }),
            tags: HashMap::from([("k".to_string(), "v".to_string())]),
            time: 42,
            delta: true,
        }
    }

    #[test]
    fn publication_round_trips_with_odd_channel_names() {
        for ch in ["news", "a:b", "x 12:y", "", "ü.*>"] {
            let pos = StreamPosition {
                offset: 7,
                epoch: "abcdEFGH".into(),
            };
            let b = encode_publication(ch, &sample(), &pos);
            assert_eq!(
                decode(&b).unwrap(),
                NodeMessage::Publication(ch.into(), sample(), pos)
            );
        }
    }

    #[test]
    fn join_leave_control_round_trip() {
        let info = sample().info.unwrap();
        assert_eq!(
            decode(&encode_join_leave("c", &info, true)).unwrap(),
            NodeMessage::Join("c".into(), info.clone())
        );
        assert_eq!(
            decode(&encode_join_leave("c", &info, false)).unwrap(),
            NodeMessage::Leave("c".into(), info)
        );
        assert_eq!(
            decode(&encode_control(b"xyz")).unwrap(),
            NodeMessage::Control(Bytes::from_static(b"xyz"))
        );
    }

    #[test]
    fn garbage_is_a_typed_error() {
        for b in [
            &b""[..],
            b"X",
            b"P",
            b"P1:",
            b"P1:e:99:ab",
            b"Jx:",
            b"L3:ab",
        ] {
            assert!(matches!(decode(b), Err(EngineError::Backend(_))), "{b:?}");
        }
        assert!(decode_entry(b"nope").is_err());
        let mut e = b"5:".to_vec();
        e.extend(publication_body(&sample()));
        assert_eq!(decode_entry(&e).unwrap().offset, 5);
    }
}
