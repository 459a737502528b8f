//! Pushes (server-initiated messages) and the payloads they share with results.

use super::raw_json::{self, is_default};
use super::SubscribeResult;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A push: channel-scoped event delivered inside a Reply with `id == 0`.
#[derive(Clone, PartialEq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Push {
    /// Numeric channel id (channel compaction); 0 when the channel name is used.
    #[prost(int64, tag = "1")]
    #[serde(skip_serializing_if = "is_default")]
    pub id: i64,
    /// Channel the push belongs to (empty for connection-level pushes).
    #[prost(string, tag = "2")]
    #[serde(skip_serializing_if = "is_default")]
    pub channel: String,
    /// Publication.
    #[prost(message, optional, tag = "4")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r#pub: Option<Publication>,
    /// Join of a client to the channel.
    #[prost(message, optional, tag = "5")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub join: Option<Join>,
    /// Leave of a client from the channel.
    #[prost(message, optional, tag = "6")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leave: Option<Leave>,
    /// Server unsubscribed the client from the channel.
    #[prost(message, optional, tag = "7")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsubscribe: Option<Unsubscribe>,
    /// Asynchronous message to the connection.
    #[prost(message, optional, tag = "8")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    /// Server-side subscription was added.
    #[prost(message, optional, tag = "9")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscribe: Option<Subscribe>,
    /// Connect (unidirectional transports).
    #[prost(message, optional, tag = "10")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect: Option<Connect>,
    /// Disconnect (emulation and unidirectional transports).
    #[prost(message, optional, tag = "11")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disconnect: Option<Disconnect>,
    /// Refresh (unidirectional transports).
    #[prost(message, optional, tag = "12")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh: Option<Refresh>,
}

/// Information about a connected client. `user` and `client` are always written in JSON.
#[derive(Clone, PartialEq, Eq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientInfo {
    /// User id (empty for anonymous).
    #[prost(string, tag = "1")]
    pub user: String,
    /// Client (connection) id.
    #[prost(string, tag = "2")]
    pub client: String,
    /// Connection info from the token (raw JSON in JSON mode).
    #[prost(bytes = "bytes", tag = "3")]
    #[serde(with = "raw_json", skip_serializing_if = "Bytes::is_empty")]
    pub conn_info: Bytes,
    /// Channel info from the subscription token (raw JSON in JSON mode).
    #[prost(bytes = "bytes", tag = "4")]
    #[serde(with = "raw_json", skip_serializing_if = "Bytes::is_empty")]
    pub chan_info: Bytes,
}

/// A message published into a channel.
#[derive(Clone, PartialEq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Publication {
    /// Payload (raw JSON in JSON mode).
    #[prost(bytes = "bytes", tag = "4")]
    #[serde(with = "raw_json", skip_serializing_if = "Bytes::is_empty")]
    pub data: Bytes,
    /// Publisher, when published by a client.
    #[prost(message, optional, tag = "5")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<ClientInfo>,
    /// Stream offset (channels with history); 0 when not positioned.
    #[prost(uint64, tag = "6")]
    #[serde(skip_serializing_if = "is_default")]
    pub offset: u64,
    /// Publication tags.
    #[prost(map = "string, string", tag = "7")]
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub tags: HashMap<String, String>,
    /// Whether `data` is a delta against the previous publication.
    #[prost(bool, tag = "8")]
    #[serde(skip_serializing_if = "is_default")]
    pub delta: bool,
    /// Publish time, Unix milliseconds.
    #[prost(int64, tag = "9")]
    #[serde(skip_serializing_if = "is_default")]
    pub time: i64,
    /// Concrete channel (wildcard subscriptions).
    #[prost(string, tag = "10")]
    #[serde(skip_serializing_if = "is_default")]
    pub channel: String,
}

/// A client joined the channel.
#[derive(Clone, PartialEq, Eq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Join {
    /// Who joined.
    #[prost(message, optional, tag = "1")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<ClientInfo>,
}

/// A client left the channel.
#[derive(Clone, PartialEq, Eq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Leave {
    /// Who left.
    #[prost(message, optional, tag = "1")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<ClientInfo>,
}

/// The server unsubscribed the client (code < 2500 terminal, ≥ 2500 resubscribe).
#[derive(Clone, PartialEq, Eq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Unsubscribe {
    /// Unsubscribe code (see `codes::unsubscribe`).
    #[prost(uint32, tag = "2")]
    #[serde(skip_serializing_if = "is_default")]
    pub code: u32,
    /// Reason text.
    #[prost(string, tag = "3")]
    #[serde(skip_serializing_if = "is_default")]
    pub reason: String,
}

/// A server-side subscription was added to the connection.
#[derive(Clone, PartialEq, Eq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Subscribe {
    /// Channel supports recovery.
    #[prost(bool, tag = "1")]
    #[serde(skip_serializing_if = "is_default")]
    pub recoverable: bool,
    /// Stream epoch.
    #[prost(string, tag = "4")]
    #[serde(skip_serializing_if = "is_default")]
    pub epoch: String,
    /// Stream top offset.
    #[prost(uint64, tag = "5")]
    #[serde(skip_serializing_if = "is_default")]
    pub offset: u64,
    /// Channel is positioned.
    #[prost(bool, tag = "6")]
    #[serde(skip_serializing_if = "is_default")]
    pub positioned: bool,
    /// Custom subscribe data (raw JSON in JSON mode).
    #[prost(bytes = "bytes", tag = "7")]
    #[serde(with = "raw_json", skip_serializing_if = "Bytes::is_empty")]
    pub data: Bytes,
}

/// An asynchronous message to one connection.
#[derive(Clone, PartialEq, Eq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Message {
    /// Payload (raw JSON in JSON mode).
    #[prost(bytes = "bytes", tag = "1")]
    #[serde(with = "raw_json", skip_serializing_if = "Bytes::is_empty")]
    pub data: Bytes,
}

/// Connect push (unidirectional transports).
#[derive(Clone, PartialEq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Connect {
    /// Client id.
    #[prost(string, tag = "1")]
    #[serde(skip_serializing_if = "is_default")]
    pub client: String,
    /// Server version.
    #[prost(string, tag = "2")]
    #[serde(skip_serializing_if = "is_default")]
    pub version: String,
    /// Custom connect data (raw JSON in JSON mode).
    #[prost(bytes = "bytes", tag = "3")]
    #[serde(with = "raw_json", skip_serializing_if = "Bytes::is_empty")]
    pub data: Bytes,
    /// Server-side subscriptions.
    #[prost(map = "string, message", tag = "4")]
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub subs: HashMap<String, SubscribeResult>,
    /// Connection expires.
    #[prost(bool, tag = "5")]
    #[serde(skip_serializing_if = "is_default")]
    pub expires: bool,
    /// Seconds until expiry.
    #[prost(uint32, tag = "6")]
    #[serde(skip_serializing_if = "is_default")]
    pub ttl: u32,
    /// Ping interval, seconds.
    #[prost(uint32, tag = "7")]
    #[serde(skip_serializing_if = "is_default")]
    pub ping: u32,
    /// Server expects pongs.
    #[prost(bool, tag = "8")]
    #[serde(skip_serializing_if = "is_default")]
    pub pong: bool,
    /// Session id.
    #[prost(string, tag = "9")]
    #[serde(skip_serializing_if = "is_default")]
    pub session: String,
    /// Node id.
    #[prost(string, tag = "10")]
    #[serde(skip_serializing_if = "is_default")]
    pub node: String,
    /// Server time, Unix milliseconds.
    #[prost(int64, tag = "11")]
    #[serde(skip_serializing_if = "is_default")]
    pub time: i64,
}

/// Disconnect push (emulation/unidirectional transports; WebSocket uses close frames).
#[derive(Clone, PartialEq, Eq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Disconnect {
    /// Disconnect code (see `codes::disconnect`).
    #[prost(uint32, tag = "1")]
    #[serde(skip_serializing_if = "is_default")]
    pub code: u32,
    /// Reason; always written because centrifuge-python reads it unconditionally.
    #[prost(string, tag = "2")]
    pub reason: String,
    /// Legacy reconnect advice.
    #[prost(bool, tag = "3")]
    #[serde(skip_serializing_if = "is_default")]
    pub reconnect: bool,
}

/// Refresh push (unidirectional transports).
#[derive(Clone, PartialEq, Eq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Refresh {
    /// Connection expires.
    #[prost(bool, tag = "1")]
    #[serde(skip_serializing_if = "is_default")]
    pub expires: bool,
    /// Seconds until expiry.
    #[prost(uint32, tag = "2")]
    #[serde(skip_serializing_if = "is_default")]
    pub ttl: u32,
}
