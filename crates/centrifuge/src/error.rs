//! Typed client errors.

use std::sync::Arc;
use wowlab_protocol::error::DecodeError;

/// Error of a client call or an error event.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// No reply within the configured timeout.
    #[error("timeout")]
    Timeout,
    /// The server answered with an error.
    #[error("server error {code}: {message}")]
    Server {
        /// Error code (see `wowlab_protocol::codes::error`).
        code: u32,
        /// Message.
        message: String,
        /// Server says the call may be retried.
        temporary: bool,
    },
    /// The client is disconnected (call `connect()` first).
    #[error("client is disconnected")]
    Disconnected,
    /// The connection went away before the reply arrived.
    #[error("connection closed before the reply arrived")]
    ConnectionClosed,
    /// The client task is gone (every handle dropped or it panicked).
    #[error("client closed")]
    ClientClosed,
    /// A subscription to this channel already exists in the client.
    #[error("subscription to {0:?} already exists")]
    DuplicateSubscription(String),
    /// The subscription was removed from the client.
    #[error("subscription to {0:?} was removed")]
    SubscriptionRemoved(String),
    /// WebSocket failure (connect, read or write).
    #[error("transport: {0}")]
    Transport(String),
    /// The server sent a frame that does not decode.
    #[error("bad frame from server: {0}")]
    Decode(Arc<DecodeError>),
    /// A command could not be encoded (e.g. non-JSON data in JSON mode).
    #[error("encode: {0}")]
    Encode(String),
    /// A token callback failed.
    #[error("token: {0}")]
    Token(String),
    /// The server answered with a reply of the wrong kind.
    #[error("unexpected reply: expected {0}")]
    UnexpectedReply(&'static str),
}

impl Error {
    /// Error code of a server error, `None` for local errors.
    pub fn server_code(&self) -> Option<u32> {
        match self {
            Error::Server { code, .. } => Some(*code),
            _ => None,
        }
    }

    pub(crate) fn from_proto(e: &wowlab_protocol::proto::Error) -> Self {
        Error::Server {
            code: e.code,
            message: e.message.clone(),
            temporary: e.temporary,
        }
    }
}
