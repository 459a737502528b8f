//! States and events of clients and subscriptions.

use bytes::Bytes;
use wowlab_protocol::proto::{ClientInfo, Publication, StreamPosition};

use crate::Error;

/// Connection state of a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not connected and not trying to.
    Disconnected,
    /// Connecting or waiting to reconnect.
    Connecting,
    /// Connected and authenticated.
    Connected,
}

/// State of a client-side subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionState {
    /// Not subscribed.
    Unsubscribed,
    /// Subscribing (or waiting for the client to connect).
    Subscribing,
    /// Subscribed.
    Subscribed,
}

/// Details of a successful subscribe (client-side or server-side).
#[derive(Debug, Clone, PartialEq)]
pub struct SubscribedInfo {
    /// Channel.
    pub channel: String,
    /// Channel supports recovery.
    pub recoverable: bool,
    /// Channel is positioned.
    pub positioned: bool,
    /// Stream position after subscribe (when positioned or recoverable).
    pub stream_position: Option<StreamPosition>,
    /// The subscribe asked for recovery.
    pub was_recovering: bool,
    /// Recovery succeeded (all missed publications delivered).
    pub recovered: bool,
    /// Custom data from the server.
    pub data: Bytes,
}

/// Client-level events.
#[derive(Debug, Clone)]
pub enum ClientEvent {
    /// The client is (re)connecting; `code` from [`crate::codes::connecting`] or a
    /// server disconnect code.
    Connecting {
        /// Reason code.
        code: u32,
        /// Reason text.
        reason: String,
    },
    /// Connected.
    Connected {
        /// Client id assigned by the server.
        client: String,
        /// Server version.
        version: String,
        /// Custom connect data.
        data: Bytes,
    },
    /// Disconnected for good; `code` from [`crate::codes::disconnected`] or the server.
    Disconnected {
        /// Reason code.
        code: u32,
        /// Reason text.
        reason: String,
    },
    /// Something failed (transport, decode, token, refresh); the client handles it itself.
    Error(Error),
    /// Asynchronous message from the server.
    Message(Bytes),
    /// Server-side subscription established (connect result or subscribe push).
    Subscribed(SubscribedInfo),
    /// Server-side subscription being restored after a reconnect.
    Subscribing {
        /// Channel.
        channel: String,
    },
    /// Server-side subscription removed.
    Unsubscribed {
        /// Channel.
        channel: String,
        /// Unsubscribe code.
        code: u32,
        /// Reason.
        reason: String,
    },
    /// Publication in a server-side subscription.
    Publication {
        /// Channel.
        channel: String,
        /// The publication.
        publication: Publication,
    },
    /// Join in a server-side subscription.
    Join {
        /// Channel.
        channel: String,
        /// Who joined.
        info: ClientInfo,
    },
    /// Leave in a server-side subscription.
    Leave {
        /// Channel.
        channel: String,
        /// Who left.
        info: ClientInfo,
    },
}

/// Events of one client-side subscription.
#[derive(Debug, Clone)]
pub enum SubscriptionEvent {
    /// Subscribing (code from [`crate::codes::subscription`] or an unsubscribe push code).
    Subscribing {
        /// Reason code.
        code: u32,
        /// Reason text.
        reason: String,
    },
    /// Subscribed.
    Subscribed(SubscribedInfo),
    /// Unsubscribed for good (until `subscribe()` is called again).
    Unsubscribed {
        /// Reason code.
        code: u32,
        /// Reason text.
        reason: String,
    },
    /// A publication (recovered ones come first, in offset order).
    Publication(Publication),
    /// A client joined.
    Join(ClientInfo),
    /// A client left.
    Leave(ClientInfo),
    /// Something failed (subscribe or refresh error); the subscription handles it itself.
    Error(Error),
}
