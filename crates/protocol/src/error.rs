//! Typed codec errors. Messages name the message index within the frame and what failed.

/// A frame could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// A JSON line is not valid JSON for the expected message.
    #[error("JSON message {index}: {source}")]
    Json {
        /// Zero-based index of the message within the frame.
        index: usize,
        /// Parser error (line/column are relative to the message).
        #[source]
        source: serde_json::Error,
    },
    /// A JSON line is valid JSON but not an object.
    #[error("JSON message {index}: expected a JSON object")]
    NotAnObject {
        /// Zero-based index of the message within the frame.
        index: usize,
    },
    /// A protobuf length prefix is truncated or malformed.
    #[error("protobuf message {index}: truncated or invalid varint length prefix at byte {at}")]
    BadLengthPrefix {
        /// Zero-based index of the message within the frame.
        index: usize,
        /// Byte position of the prefix in the frame.
        at: usize,
    },
    /// A protobuf length prefix points beyond the end of the frame.
    #[error(
        "protobuf message {index}: length {len} exceeds the {remaining} bytes left in the frame"
    )]
    LengthOverFrame {
        /// Zero-based index of the message within the frame.
        index: usize,
        /// Declared length.
        len: u64,
        /// Bytes remaining after the prefix.
        remaining: usize,
    },
    /// A protobuf message body is malformed.
    #[error("protobuf message {index}: {source}")]
    Protobuf {
        /// Zero-based index of the message within the frame.
        index: usize,
        /// prost decode error.
        #[source]
        source: prost::DecodeError,
    },
}

impl DecodeError {
    /// Index of the offending message within the frame.
    pub fn index(&self) -> usize {
        match self {
            DecodeError::Json { index, .. }
            | DecodeError::NotAnObject { index }
            | DecodeError::BadLengthPrefix { index, .. }
            | DecodeError::LengthOverFrame { index, .. }
            | DecodeError::Protobuf { index, .. } => *index,
        }
    }
}

/// A message could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// JSON mode: a `bytes` field does not hold valid JSON (servers answer with 3506).
    #[error("JSON encoding: {0}")]
    NotJson(#[source] serde_json::Error),
}
