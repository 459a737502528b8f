//! Framing and codecs for both protocol flavours.
//!
//! JSON: a frame holds 1..N JSON objects joined by `\n`. Protobuf: a frame holds 1..N
//! varint-length-delimited messages, concatenated (as `centrifugal/protocol` encodes them).

use crate::error::{DecodeError, EncodeError};
use crate::proto::{Command, Reply};
use bytes::Bytes;
use prost::Message;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Wire flavour of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// JSON objects, newline-batched, text frames.
    Json,
    /// Varint-delimited protobuf, binary frames.
    Protobuf,
}

impl Protocol {
    /// WebSocket subprotocol name selecting this flavour (`None` for JSON, which needs none).
    pub fn subprotocol(self) -> Option<&'static str> {
        match self {
            Protocol::Json => None,
            Protocol::Protobuf => Some("centrifuge-protobuf"),
        }
    }
}

/// Decodes every command in one frame.
pub fn decode_commands(p: Protocol, frame: &[u8]) -> Result<Vec<Command>, DecodeError> {
    decode_all(p, frame)
}

/// Decodes every reply in one frame.
pub fn decode_replies(p: Protocol, frame: &[u8]) -> Result<Vec<Reply>, DecodeError> {
    decode_all(p, frame)
}

/// Encodes one reply, ready to be put in a frame with [`append_to_frame`].
pub fn encode_reply(p: Protocol, r: &Reply) -> Result<Bytes, EncodeError> {
    if p == Protocol::Json {
        // Fan-out hot path: publication/join/leave pushes skip serde.
        let mut out = Vec::with_capacity(r.encoded_len() + 96);
        if let Some(res) = crate::json_fast::try_write_reply(r, &mut out) {
            return res.map(|()| Bytes::from(out));
        }
    }
    encode_one(p, r)
}

/// Encodes one command, ready to be put in a frame with [`append_to_frame`].
pub fn encode_command(p: Protocol, c: &Command) -> Result<Bytes, EncodeError> {
    encode_one(p, c)
}

/// Appends a pre-encoded message to a frame (JSON joins with `\n`, protobuf concatenates).
pub fn append_to_frame(p: Protocol, frame: &mut Vec<u8>, encoded: &[u8]) {
    if p == Protocol::Json && !frame.is_empty() {
        frame.push(b'\n');
    }
    frame.extend_from_slice(encoded);
}

/// Wraps one encoded JSON message as a Server-Sent Events `data:` event.
pub fn sse_event(encoded_json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_json.len() + 8);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(encoded_json);
    out.extend_from_slice(b"\n\n");
    out
}

fn encode_one<M: Message + Serialize>(p: Protocol, m: &M) -> Result<Bytes, EncodeError> {
    match p {
        Protocol::Json => {
            // JSON is rarely more than the protobuf size plus field names; one allocation.
            let mut out = Vec::with_capacity(m.encoded_len() + 96);
            serde_json::to_writer(&mut out, m).map_err(EncodeError::NotJson)?;
            Ok(Bytes::from(out))
        }
        Protocol::Protobuf => Ok(Bytes::from(m.encode_length_delimited_to_vec())),
    }
}

fn decode_all<M: Message + Default + DeserializeOwned>(
    p: Protocol,
    frame: &[u8],
) -> Result<Vec<M>, DecodeError> {
    match p {
        Protocol::Json => decode_json(frame),
        Protocol::Protobuf => decode_protobuf(frame),
    }
}

fn decode_json<M: DeserializeOwned>(frame: &[u8]) -> Result<Vec<M>, DecodeError> {
    let mut out = Vec::new();
    for line in frame.split(|b| *b == b'\n') {
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let index = out.len();
        if line[0] != b'{' {
            return Err(DecodeError::NotAnObject { index });
        }
        let msg =
            serde_json::from_slice(line).map_err(|source| DecodeError::Json { index, source })?;
        out.push(msg);
    }
    Ok(out)
}

fn decode_protobuf<M: Message + Default>(frame: &[u8]) -> Result<Vec<M>, DecodeError> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < frame.len() {
        let index = out.len();
        let (len, prefix) =
            read_varint(&frame[pos..]).ok_or(DecodeError::BadLengthPrefix { index, at: pos })?;
        pos += prefix;
        let remaining = frame.len() - pos;
        if len > remaining as u64 {
            return Err(DecodeError::LengthOverFrame {
                index,
                len,
                remaining,
            });
        }
        // len ≤ remaining, so it fits in usize.
        let end = pos + len as usize;
        let msg = M::decode(&frame[pos..end])
            .map_err(|source| DecodeError::Protobuf { index, source })?;
        out.push(msg);
        pos = end;
    }
    Ok(out)
}

/// Reads a base-128 varint; returns (value, bytes consumed), `None` if truncated or over 10 bytes.
fn read_varint(buf: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, &b) in buf.iter().enumerate().take(10) {
        let part = u64::from(b & 0x7f);
        if i == 9 && b > 1 {
            return None; // would overflow 64 bits
        }
        value |= part << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Incremental decoder for byte streams (HTTP-streaming bodies) where messages may be split
/// across chunks: feed chunks with [`StreamDecoder::push`], take whole replies with
/// [`StreamDecoder::next_reply`].
#[derive(Debug)]
pub struct StreamDecoder {
    protocol: Protocol,
    buf: Vec<u8>,
    max_message: usize,
}

impl StreamDecoder {
    /// New decoder; a single message longer than `max_message` bytes is an error.
    pub fn new(protocol: Protocol, max_message: usize) -> Self {
        StreamDecoder {
            protocol,
            buf: Vec::new(),
            max_message,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// Returns the next complete reply, `Ok(None)` when more bytes are needed.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, DecodeError> {
        loop {
            match self.protocol {
                Protocol::Json => {
                    let Some(nl) = self.buf.iter().position(|b| *b == b'\n') else {
                        if self.buf.len() > self.max_message {
                            return Err(DecodeError::LengthOverFrame {
                                index: 0,
                                len: self.buf.len() as u64,
                                remaining: self.max_message,
                            });
                        }
                        return Ok(None);
                    };
                    let line: Vec<u8> = self.buf.drain(..=nl).collect();
                    let mut replies = decode_json::<Reply>(&line)?;
                    if let Some(r) = replies.pop() {
                        return Ok(Some(r));
                    }
                    // blank line: keep scanning
                }
                Protocol::Protobuf => {
                    if self.buf.is_empty() {
                        return Ok(None);
                    }
                    let Some((len, prefix)) = read_varint(&self.buf) else {
                        if self.buf.len() >= 10 {
                            return Err(DecodeError::BadLengthPrefix { index: 0, at: 0 });
                        }
                        return Ok(None);
                    };
                    if len > self.max_message as u64 {
                        return Err(DecodeError::LengthOverFrame {
                            index: 0,
                            len,
                            remaining: self.max_message,
                        });
                    }
                    let end = prefix + len as usize;
                    if self.buf.len() < end {
                        return Ok(None);
                    }
                    let msg = Reply::decode(&self.buf[prefix..end])
                        .map_err(|source| DecodeError::Protobuf { index: 0, source });
                    self.buf.drain(..end);
                    return msg.map(Some);
                }
            }
        }
    }
}
