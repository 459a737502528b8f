//! Frames of `tunnel.v1`. Every frame is one transport message: its kind, request id and
//! numbers travel in headers, body bytes travel raw in the payload. Start and head frames
//! carry the HTTP header list in the payload ([`encode_http_headers`]), so any header value
//! (also non-UTF-8) survives.
//!
//! | kind | direction | headers (besides kind and id) | payload |
//! | --- | --- | --- | --- |
//! | `start` | client → `start` | method, path, body, window, deadline-ms? | HTTP headers |
//! | `ack` | responder → `down` | responder, window | — |
//! | `head` | responder → `down` | responder, status | HTTP headers |
//! | `data` | either, on `up`/`down` | seq (0-based per direction) | raw bytes |
//! | `end` | either | seq (= number of data frames) | — |
//! | `credit` | either | credit (cumulative bytes consumed) | — |
//! | `error` | responder → `down`, client → `up` (request body failed) | code, message | — |
//! | `abort` | client → `up` | code, message | — |
//! | `ping` | responder → `down`, every keep-alive interval while a response body is open | — | — |
//!
//! Frames a client sends after the ack name the responder it pinned (`Tunnel-Responder`), so a
//! second responder that also got a re-sent start ignores them.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::error::{ErrorCode, TunnelError};
use crate::subject::valid_request_id;
use crate::transport::{Headers, Message};

/// Header: frame kind.
pub const H_FRAME: &str = "Tunnel-Frame";
/// Header: request id.
pub const H_ID: &str = "Tunnel-Id";
/// Header: body frame sequence number (data) or frame count (end).
pub const H_SEQ: &str = "Tunnel-Seq";
/// Header: cumulative bytes consumed by the receiver (credit).
pub const H_CREDIT: &str = "Tunnel-Credit";
/// Header: the sender's receive window in bytes (start, ack).
pub const H_WINDOW: &str = "Tunnel-Window";
/// Header: responder instance id (ack and later frames).
pub const H_RESPONDER: &str = "Tunnel-Responder";
/// Header: HTTP method (start).
pub const H_METHOD: &str = "Tunnel-Method";
/// Header: path and query (start).
pub const H_PATH: &str = "Tunnel-Path";
/// Header: `1` when request body frames follow (start).
pub const H_BODY: &str = "Tunnel-Body";
/// Header: milliseconds left until the client's deadline (start).
pub const H_DEADLINE_MS: &str = "Tunnel-Deadline-Ms";
/// Header: HTTP status (head).
pub const H_STATUS: &str = "Tunnel-Status";
/// Header: error code (error, abort).
pub const H_CODE: &str = "Tunnel-Code";
/// Header: error detail (error, abort).
pub const H_MESSAGE: &str = "Tunnel-Message";

/// Frame kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Request start.
    Start,
    /// Responder accepted the start.
    Ack,
    /// Response status and headers.
    Head,
    /// Body bytes.
    Data,
    /// Body complete.
    End,
    /// Flow-control credit.
    Credit,
    /// Failure.
    Error,
    /// Client gave up.
    Abort,
    /// Responder keep-alive while a response body is open but quiet.
    Ping,
}

impl Kind {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Ack => "ack",
            Self::Head => "head",
            Self::Data => "data",
            Self::End => "end",
            Self::Credit => "credit",
            Self::Error => "error",
            Self::Abort => "abort",
            Self::Ping => "ping",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Self::Start,
            Self::Ack,
            Self::Head,
            Self::Data,
            Self::End,
            Self::Credit,
            Self::Error,
            Self::Abort,
            Self::Ping,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A decoded frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Kind.
    pub kind: Kind,
    /// Request id.
    pub id: String,
    /// All headers (kind-specific ones read with the accessors).
    pub headers: Headers,
    /// Payload.
    pub payload: Bytes,
}

fn protocol(detail: impl Into<String>) -> TunnelError {
    TunnelError::new(ErrorCode::Protocol, detail)
}

impl Frame {
    /// Decodes a transport message.
    pub fn decode(msg: Message) -> Result<Self, TunnelError> {
        let kind = msg
            .headers
            .get(H_FRAME)
            .and_then(|k| Kind::parse(k))
            .ok_or_else(|| protocol("missing or unknown frame kind"))?;
        let id = msg
            .headers
            .get(H_ID)
            .filter(|id| valid_request_id(id))
            .cloned()
            .ok_or_else(|| protocol("missing or invalid request id"))?;
        Ok(Self {
            kind,
            id,
            headers: msg.headers,
            payload: msg.payload,
        })
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// A required numeric header.
    pub fn number(&self, name: &str) -> Result<u64, TunnelError> {
        self.header(name)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                protocol(format!(
                    "{} frame without a valid {name}",
                    self.kind.as_str()
                ))
            })
    }

    /// The responder that sent (or is addressed by) this frame.
    pub fn responder(&self) -> Option<&str> {
        self.header(H_RESPONDER)
    }

    /// The error carried by an error or abort frame.
    pub fn error(&self) -> TunnelError {
        let code = self
            .header(H_CODE)
            .and_then(ErrorCode::parse)
            .unwrap_or(ErrorCode::Protocol);
        TunnelError::new(code, self.header(H_MESSAGE).unwrap_or_default())
    }
}

/// Headers of a new frame of `kind` for request `id`.
pub fn headers(kind: Kind, id: &str) -> Headers {
    let mut h = Headers::new();
    h.insert(H_FRAME.into(), kind.as_str().into());
    h.insert(H_ID.into(), id.into());
    h
}

/// Headers of an error or abort frame.
pub fn error_headers(kind: Kind, id: &str, err: &TunnelError) -> Headers {
    let mut h = headers(kind, id);
    h.insert(H_CODE.into(), err.code().as_str().into());
    // Header values cannot hold line breaks; keep the detail short and on one line.
    let msg: String = err
        .detail()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(512)
        .collect();
    h.insert(H_MESSAGE.into(), msg);
    h
}

/// Encodes an HTTP header list: `u16` count, then per header `u16` name length, name,
/// `u32` value length, value. Repeated names are kept in order.
pub fn encode_http_headers(map: &HeaderMap) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_u16(map.len().min(u16::MAX as usize) as u16);
    for (name, value) in map.iter().take(u16::MAX as usize) {
        buf.put_u16(name.as_str().len() as u16);
        buf.put_slice(name.as_str().as_bytes());
        buf.put_u32(value.len() as u32);
        buf.put_slice(value.as_bytes());
    }
    buf.freeze()
}

/// Decodes [`encode_http_headers`] output.
pub fn decode_http_headers(mut buf: Bytes) -> Result<HeaderMap, TunnelError> {
    let short = || protocol("truncated header list");
    if buf.remaining() < 2 {
        return Err(short());
    }
    let count = buf.get_u16();
    let mut map = HeaderMap::with_capacity(count as usize);
    for _ in 0..count {
        if buf.remaining() < 2 {
            return Err(short());
        }
        let n = buf.get_u16() as usize;
        if buf.remaining() < n {
            return Err(short());
        }
        let name = HeaderName::from_bytes(&buf.split_to(n))
            .map_err(|_| protocol("invalid header name"))?;
        if buf.remaining() < 4 {
            return Err(short());
        }
        let v = buf.get_u32() as usize;
        if buf.remaining() < v {
            return Err(short());
        }
        let value = HeaderValue::from_maybe_shared(buf.split_to(v))
            .map_err(|_| protocol("invalid header value"))?;
        map.append(name, value);
    }
    if buf.has_remaining() {
        return Err(protocol("trailing bytes after header list"));
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_headers_round_trip_with_repeats_and_binary() {
        let mut m = HeaderMap::new();
        m.append("x-a", HeaderValue::from_static("1"));
        m.append("x-a", HeaderValue::from_static("2"));
        m.append(
            "x-bin",
            HeaderValue::from_bytes(&[0xff, b'a', 0x80]).unwrap(),
        );
        let back = decode_http_headers(encode_http_headers(&m)).unwrap();
        assert_eq!(back, m);
        let all: Vec<_> = back.get_all("x-a").iter().collect();
        assert_eq!(all, ["1", "2"]);
    }

    #[test]
    fn bad_header_lists_are_protocol_errors() {
        let good = encode_http_headers(&{
            let mut m = HeaderMap::new();
            m.insert("x", HeaderValue::from_static("y"));
            m
        });
        for cut in 0..good.len() {
            let err = decode_http_headers(good.slice(..cut)).unwrap_err();
            assert_eq!(err.code(), ErrorCode::Protocol);
        }
        let mut extra = BytesMut::from(&good[..]);
        extra.put_u8(0);
        assert!(decode_http_headers(extra.freeze()).is_err());
        // A name with a space is not a header name.
        let mut bad = BytesMut::new();
        bad.put_u16(1);
        bad.put_u16(3);
        bad.put_slice(b"a b");
        bad.put_u32(0);
        assert!(decode_http_headers(bad.freeze()).is_err());
    }

    #[test]
    fn frames_need_kind_and_valid_id() {
        let msg = |h: Headers| Message {
            subject: "s".into(),
            headers: h,
            payload: Bytes::new(),
        };
        assert!(Frame::decode(msg(headers(Kind::Ack, "abc"))).is_ok());
        assert!(Frame::decode(msg(headers(Kind::Ack, "a.b"))).is_err());
        let mut h = headers(Kind::Ack, "abc");
        h.insert(H_FRAME.into(), "bogus".into());
        assert!(Frame::decode(msg(h)).is_err());
        let mut h = headers(Kind::Data, "abc");
        h.insert(H_SEQ.into(), "x".into());
        let f = Frame::decode(msg(h)).unwrap();
        assert_eq!(f.number(H_SEQ).unwrap_err().code(), ErrorCode::Protocol);
    }
}
