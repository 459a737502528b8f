//! Fossil delta compression of publications, as Centrifugo does it for subscribers that
//! negotiated `delta: "fossil"`: a publication that directly follows the one the subscriber got
//! before goes out as a fossil delta against it (`delta: true`), anything else in full.
//! Over JSON, once delta is negotiated, every publication's `data` is a JSON *string* holding
//! the payload bytes (full or delta), which is how centrifuge-js decodes it.

use crate::engine::Publication;
use crate::hub::wire_publication;
use bytes::Bytes;
use wowlab_protocol::codec::{encode_reply, Protocol};
use wowlab_protocol::proto;

/// How a subscription takes publications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeltaMode {
    /// No delta negotiated: plain publications.
    Off,
    /// Negotiated; only publications published with `delta` go as deltas (the namespace has
    /// no `delta_publish`), the rest in full (JSON: as strings).
    WhenAsked,
    /// Negotiated, and every publication following the previous one goes as a delta.
    Deltas,
}

impl DeltaMode {
    /// The mode for a subscribe request asking for `requested` in a namespace.
    pub(crate) fn negotiate(requested: &str, opts: &crate::config::ChannelOptions) -> Self {
        if requested != "fossil" || !opts.allows_fossil() {
            DeltaMode::Off
        } else if opts.delta_publish {
            DeltaMode::Deltas
        } else {
            DeltaMode::WhenAsked
        }
    }

    /// Whether a publication (published with `delta` or not) goes as a delta when it can.
    pub(crate) fn sends_delta(self, published_as_delta: bool) -> bool {
        match self {
            DeltaMode::Off => false,
            DeltaMode::WhenAsked => published_as_delta,
            DeltaMode::Deltas => true,
        }
    }
}

/// Fossil delta turning `prev` into `next`; None when it would not be smaller than `next`
/// (Centrifugo then sends the full payload).
pub(crate) fn fossil(prev: &[u8], next: &[u8]) -> Option<Bytes> {
    let d = fossil_delta::delta(next, prev);
    (d.len() < next.len()).then(|| Bytes::from(d))
}

/// `bytes` as a JSON string literal; None if they are not UTF-8 (a JSON string cannot carry
/// them losslessly).
fn json_string(bytes: &[u8]) -> Option<Bytes> {
    let s = std::str::from_utf8(bytes).ok()?;
    serde_json::to_vec(s).ok().map(Bytes::from)
}

/// The full publication for a delta-negotiated subscriber on `protocol` (None: the payload
/// cannot go over JSON).
pub(crate) fn full(p: &proto::Publication, protocol: Protocol) -> Option<proto::Publication> {
    match protocol {
        Protocol::Protobuf => Some(p.clone()),
        Protocol::Json => Some(proto::Publication {
            data: json_string(&p.data)?,
            ..p.clone()
        }),
    }
}

/// `p` as a delta against `prev_data` for `protocol`, when that is smaller and encodable.
pub(crate) fn as_delta(
    p: &proto::Publication,
    delta: &Bytes,
    protocol: Protocol,
) -> Option<proto::Publication> {
    let data = match protocol {
        Protocol::Protobuf => delta.clone(),
        Protocol::Json => json_string(delta)?,
    };
    Some(proto::Publication {
        data,
        delta: true,
        ..p.clone()
    })
}

/// Recovered publications for a delta-negotiated subscriber: the first in full, each next one
/// a delta against the one before it when they are consecutive and `mode` sends it as one.
pub(crate) fn recovered(
    pubs: &[Publication],
    mode: DeltaMode,
    protocol: Protocol,
) -> Vec<proto::Publication> {
    let mut out = Vec::with_capacity(pubs.len());
    let mut prev: Option<&Publication> = None;
    for p in pubs {
        let w = wire_publication(p);
        let as_d = match prev {
            Some(before) if mode.sends_delta(p.delta) && before.offset + 1 == p.offset => {
                fossil(&before.data, &p.data).and_then(|d| as_delta(&w, &d, protocol))
            }
            _ => None,
        };
        out.push(as_d.or_else(|| full(&w, protocol)).unwrap_or(w));
        prev = Some(p);
    }
    out
}

/// The encoded frames of one publication for delta-negotiated subscribers, each built on first
/// use: full over JSON (data as a string; protobuf's full frame is the plain one) and, when the
/// channel's previous publication is the one right before it, the fossil delta against that.
pub(crate) struct DeltaFrames<'a> {
    channel: &'a str,
    reply: &'a proto::Reply,
    prev: Option<(u64, Bytes)>,
    publication: &'a Publication,
    delta: Option<Option<Bytes>>,
    full_json: Option<Option<Bytes>>,
    as_delta: [Option<Option<Bytes>>; 2],
}

impl<'a> DeltaFrames<'a> {
    pub(crate) fn new(
        channel: &'a str,
        reply: &'a proto::Reply,
        prev: Option<(u64, Bytes)>,
        publication: &'a Publication,
    ) -> Self {
        DeltaFrames {
            channel,
            reply,
            prev,
            publication,
            delta: None,
            full_json: None,
            as_delta: [None, None],
        }
    }

    fn slot(p: Protocol) -> usize {
        match p {
            Protocol::Json => 0,
            Protocol::Protobuf => 1,
        }
    }

    fn wire_pub(&self) -> Option<&proto::Publication> {
        self.reply.push.as_ref()?.r#pub.as_ref()
    }

    fn encode(&self, p: Protocol, publication: proto::Publication) -> Option<Bytes> {
        let reply = proto::Reply {
            push: Some(proto::Push {
                channel: self.channel.to_string(),
                r#pub: Some(publication),
                ..Default::default()
            }),
            ..Default::default()
        };
        encode_reply(p, &reply).ok()
    }

    pub(crate) fn full_json(&mut self) -> Option<Bytes> {
        if let Some(b) = &self.full_json {
            return b.clone();
        }
        let b = self
            .wire_pub()
            .and_then(|w| full(w, Protocol::Json))
            .and_then(|w| self.encode(Protocol::Json, w));
        self.full_json = Some(b.clone());
        b
    }

    pub(crate) fn delta(&mut self, p: Protocol) -> Option<Bytes> {
        if let Some(b) = &self.as_delta[Self::slot(p)] {
            return b.clone();
        }
        if self.delta.is_none() {
            self.delta = Some(match &self.prev {
                Some((offset, data)) if offset + 1 == self.publication.offset => {
                    fossil(data, &self.publication.data)
                }
                _ => None,
            });
        }
        let b = match (self.delta.clone().flatten(), self.wire_pub()) {
            (Some(d), Some(w)) => as_delta(w, &d, p).and_then(|w| self.encode(p, w)),
            _ => None,
        };
        self.as_delta[Self::slot(p)] = Some(b.clone());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn json_pub(offset: u64, data: &str) -> Publication {
        Publication {
            offset,
            data: Bytes::from(data.to_string()),
            ..Default::default()
        }
    }

    #[test]
    fn similar_payloads_give_deltas_smaller_than_the_payload() {
        let board: Vec<u32> = (0..100).collect();
        let prev = format!(r#"{{"tick":1,"board":{board:?},"name":"alpha"}}"#);
        let mut changed = board.clone();
        changed[50] = 999;
        let next = format!(r#"{{"tick":2,"board":{changed:?},"name":"alpha"}}"#);
        let (prev, next) = (prev.as_bytes(), next.as_bytes());
        let d = fossil(prev, next).expect("a delta");
        assert!(d.len() * 10 < next.len(), "{} vs {}", d.len(), next.len());
        assert_eq!(fossil_delta::apply(prev, &d).unwrap(), next);
    }

    #[test]
    fn unrelated_payloads_go_in_full() {
        assert!(fossil(b"abcdefgh", b"12345678").is_none());
        assert!(fossil(b"", b"").is_none());
    }

    #[test]
    fn json_wire_form_is_a_string_of_the_bytes() {
        let p = wire_publication(&json_pub(3, r#"{"a":"é"}"#));
        let f = full(&p, Protocol::Json).unwrap();
        assert_eq!(&f.data[..], r#""{\"a\":\"é\"}""#.as_bytes());
        assert!(!f.delta);
        let d = as_delta(&p, &Bytes::from_static(b"1:x"), Protocol::Json).unwrap();
        assert_eq!(&d.data[..], br#""1:x""#);
        assert!(d.delta);
        let d = as_delta(&p, &Bytes::from_static(b"raw"), Protocol::Protobuf).unwrap();
        assert_eq!(&d.data[..], b"raw");
        // Bytes a JSON string cannot carry are not sent as a delta.
        assert!(as_delta(&p, &Bytes::from_static(&[0xff, 0xfe]), Protocol::Json).is_none());
    }

    #[test]
    fn recovery_chain_starts_full_and_breaks_at_gaps() {
        let base = r#"{"counter":0,"padding":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#;
        let pubs = vec![
            json_pub(5, base),
            json_pub(6, &base.replace("0", "1")),
            json_pub(8, &base.replace("0", "2")),
            json_pub(9, &base.replace("0", "3")),
        ];
        let out = recovered(&pubs, DeltaMode::Deltas, Protocol::Protobuf);
        let flags: Vec<bool> = out.iter().map(|p| p.delta).collect();
        assert_eq!(flags, [false, true, false, true]);
        let mut value = out[0].data.to_vec();
        for (i, p) in out.iter().enumerate().skip(1) {
            value = if p.delta {
                fossil_delta::apply(&value, &p.data).unwrap()
            } else {
                p.data.to_vec()
            };
            assert_eq!(value, pubs[i].data.to_vec());
        }
        let out = recovered(&pubs, DeltaMode::WhenAsked, Protocol::Json);
        assert!(out.iter().all(|p| !p.delta && p.data.starts_with(b"\"")));
        // Published with `delta`: a delta even without `delta_publish`.
        let mut asked = pubs.clone();
        asked[1].delta = true;
        let out = recovered(&asked, DeltaMode::WhenAsked, Protocol::Json);
        let flags: Vec<bool> = out.iter().map(|p| p.delta).collect();
        assert_eq!(flags, [false, true, false, false]);
    }

    proptest! {
        /// Whatever the inputs, a delta (when one is produced) rebuilds the target exactly.
        #[test]
        fn deltas_apply_back_to_the_target(
            prev in proptest::collection::vec(any::<u8>(), 0..400),
            edits in proptest::collection::vec((any::<u16>(), any::<u8>()), 0..8),
        ) {
            let mut next = prev.clone();
            for (at, b) in edits {
                if next.is_empty() { next.push(b); continue; }
                let i = at as usize % next.len();
                next[i] = b;
            }
            if let Some(d) = fossil(&prev, &next) {
                prop_assert_eq!(fossil_delta::apply(&prev, &d).unwrap(), next);
            }
        }
    }
}
