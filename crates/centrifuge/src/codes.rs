//! Client-local codes (never on the wire), numbered like centrifuge-js.

/// Reasons for entering the connecting state.
pub mod connecting {
    /// `connect()` was called.
    pub const CONNECT_CALLED: u32 = 0;
    /// The transport closed (or failed) and the client reconnects.
    pub const TRANSPORT_CLOSED: u32 = 1;
    /// No ping from the server within ping interval + max server ping delay.
    pub const NO_PING: u32 = 2;
    /// A subscribe command timed out; the whole connection is restarted.
    pub const SUBSCRIBE_TIMEOUT: u32 = 3;
    /// An unsubscribe command failed; the connection is restarted to resync state.
    pub const UNSUBSCRIBE_ERROR: u32 = 4;
    /// The server sent bytes the client could not decode.
    pub const BAD_FRAME: u32 = 5;
}

/// Reasons for entering the disconnected state.
pub mod disconnected {
    /// `disconnect()` was called.
    pub const DISCONNECT_CALLED: u32 = 0;
    /// No valid credentials (token callback said unauthorized, or no way to get a new token).
    pub const UNAUTHORIZED: u32 = 1;
    /// Bad protocol (terminal connect error).
    pub const BAD_PROTOCOL: u32 = 2;
    /// The server closed with 1009 (message size limit).
    pub const MESSAGE_SIZE_LIMIT: u32 = 3;
}

/// Reasons for subscription state changes.
pub mod subscription {
    /// `subscribe()` was called.
    pub const SUBSCRIBE_CALLED: u32 = 0;
    /// The client connection went away; resubscribing when it is back.
    pub const TRANSPORT_CLOSED: u32 = 1;
    /// `unsubscribe()` was called.
    pub const UNSUBSCRIBE_CALLED: u32 = 0;
    /// No valid subscription token.
    pub const UNAUTHORIZED: u32 = 1;
    /// The client was disconnected for good.
    pub const CLIENT_CLOSED: u32 = 2;
}
