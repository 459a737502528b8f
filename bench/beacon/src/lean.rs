//! What a subscriber of the load generator decodes from beacon's protobuf frames: only the
//! fields it measures. prost skips every other field (channel, client info, offset, tags), and
//! the payload is a slice of the received frame, so a delivery costs no allocation. The NATS
//! parser (`nats_ws`) is held to the same standard, so the generator's own cost per delivery
//! stays small and alike for both servers.

use bytes::{Buf, Bytes};

/// A reply with the fields the bench reads (Centrifugo v6 `Reply` field numbers).
#[derive(Clone, PartialEq, prost::Message)]
pub struct LeanReply {
    #[prost(uint32, tag = "1")]
    pub id: u32,
    #[prost(message, optional, tag = "2")]
    pub error: Option<LeanError>,
    #[prost(message, optional, tag = "4")]
    pub push: Option<LeanPush>,
}

/// `Error`: code and message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LeanError {
    #[prost(uint32, tag = "1")]
    pub code: u32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// `Push` with only its publication.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LeanPush {
    #[prost(message, optional, tag = "4")]
    pub publication: Option<LeanPublication>,
}

/// `Publication` with only its data.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LeanPublication {
    #[prost(bytes = "bytes", tag = "4")]
    pub data: Bytes,
}

/// Calls `each` for every length-delimited reply in a protobuf frame.
pub fn for_each_reply(
    mut frame: Bytes,
    mut each: impl FnMut(LeanReply) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    use prost::Message;
    while frame.has_remaining() {
        each(LeanReply::decode_length_delimited(&mut frame)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wowlab_protocol::codec::{self, Protocol};
    use wowlab_protocol::proto::{ClientInfo, Publication, Push, Reply};

    #[test]
    fn lean_decoding_reads_what_the_full_decoder_reads() {
        let mut frame = Vec::new();
        let full = [
            Reply {
                push: Some(Push {
                    channel: "bench:hot".into(),
                    r#pub: Some(Publication {
                        data: Bytes::from_static(b"payload-1"),
                        info: Some(ClientInfo {
                            user: "publisher".into(),
                            client: "c1".into(),
                            ..Default::default()
                        }),
                        offset: 7,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
            Reply::default(),
            Reply {
                id: 12,
                error: Some(wowlab_protocol::proto::Error {
                    code: 103,
                    message: "permission denied".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ];
        for r in &full {
            let enc = codec::encode_reply(Protocol::Protobuf, r).unwrap();
            codec::append_to_frame(Protocol::Protobuf, &mut frame, &enc);
        }
        let mut seen = Vec::new();
        for_each_reply(Bytes::from(frame), |r| {
            seen.push(r);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen.len(), 3);
        let data = &seen[0]
            .push
            .as_ref()
            .unwrap()
            .publication
            .as_ref()
            .unwrap()
            .data;
        assert_eq!(&data[..], b"payload-1");
        assert_eq!((seen[1].id, seen[1].push.is_none()), (0, true));
        assert_eq!(seen[2].error.as_ref().unwrap().code, 103);
        assert!(for_each_reply(Bytes::from_static(&[5, 1, 2]), |_| Ok(())).is_err());
    }
}
