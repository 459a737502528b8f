//! Channel operations (publish, presence, history), RPC, send and the legacy ping.

use super::raw_json::{self, is_default};
use super::{ClientInfo, Publication};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Publish into a channel.
#[derive(Clone, PartialEq, Eq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct PublishRequest {
    /// Channel name.
    #[prost(string, tag = "1")]
    #[serde(skip_serializing_if = "is_default")]
    pub channel: String,
    /// Payload (raw JSON in JSON mode).
    #[prost(bytes = "bytes", tag = "2")]
    #[serde(with = "raw_json", skip_serializing_if = "Bytes::is_empty")]
    pub data: Bytes,
}

/// Answer to a publish (empty).
#[derive(Clone, PartialEq, Eq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct PublishResult {}

/// Ask for the channel presence.
#[derive(Clone, PartialEq, Eq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct PresenceRequest {
    /// Channel name.
    #[prost(string, tag = "1")]
    #[serde(skip_serializing_if = "is_default")]
    pub channel: String,
}

/// Channel presence, by client id.
#[derive(Clone, PartialEq, Eq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct PresenceResult {
    /// Client id → client info; always written in JSON (`{}` when empty), as Centrifugo does.
    #[prost(map = "string, message", tag = "1")]
    pub presence: HashMap<String, ClientInfo>,
}

/// Ask for presence counters.
#[derive(Clone, PartialEq, Eq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct PresenceStatsRequest {
    /// Channel name.
    #[prost(string, tag = "1")]
    #[serde(skip_serializing_if = "is_default")]
    pub channel: String,
}

/// Presence counters.
#[derive(Clone, PartialEq, Eq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct PresenceStatsResult {
    /// Connections in the channel (always written in JSON, zero included, as Centrifugo does).
    #[prost(uint32, tag = "1")]
    pub num_clients: u32,
    /// Distinct users in the channel (always written in JSON).
    #[prost(uint32, tag = "2")]
    pub num_users: u32,
}

/// Position in a channel stream.
#[derive(Clone, PartialEq, Eq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamPosition {
    /// Offset.
    #[prost(uint64, tag = "1")]
    #[serde(skip_serializing_if = "is_default")]
    pub offset: u64,
    /// Epoch.
    #[prost(string, tag = "2")]
    #[serde(skip_serializing_if = "is_default")]
    pub epoch: String,
}

/// Ask for channel history.
#[derive(Clone, PartialEq, Eq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct HistoryRequest {
    /// Channel name.
    #[prost(string, tag = "1")]
    #[serde(skip_serializing_if = "is_default")]
    pub channel: String,
    /// Max publications (0 → position only, -1 → server maximum).
    #[prost(int32, tag = "7")]
    #[serde(skip_serializing_if = "is_default")]
    pub limit: i32,
    /// Return publications after (or before, with reverse) this position.
    #[prost(message, optional, tag = "8")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<StreamPosition>,
    /// Newest first.
    #[prost(bool, tag = "9")]
    #[serde(skip_serializing_if = "is_default")]
    pub reverse: bool,
}

/// Channel history.
#[derive(Clone, PartialEq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct HistoryResult {
    /// Publications (always written in JSON, `[]` when none, as Centrifugo does).
    #[prost(message, repeated, tag = "1")]
    pub publications: Vec<Publication>,
    /// Stream epoch (always written in JSON).
    #[prost(string, tag = "2")]
    pub epoch: String,
    /// Stream top offset (always written in JSON).
    #[prost(uint64, tag = "3")]
    pub offset: u64,
}

/// Legacy ping request (empty).
#[derive(Clone, PartialEq, Eq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct PingRequest {}

/// Legacy ping result (empty).
#[derive(Clone, PartialEq, Eq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct PingResult {}

/// RPC call.
#[derive(Clone, PartialEq, Eq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct RpcRequest {
    /// Payload (raw JSON in JSON mode).
    #[prost(bytes = "bytes", tag = "1")]
    #[serde(with = "raw_json", skip_serializing_if = "Bytes::is_empty")]
    pub data: Bytes,
    /// Method name.
    #[prost(string, tag = "2")]
    #[serde(skip_serializing_if = "is_default")]
    pub method: String,
}

/// RPC answer.
#[derive(Clone, PartialEq, Eq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct RpcResult {
    /// Payload (raw JSON in JSON mode).
    #[prost(bytes = "bytes", tag = "1")]
    #[serde(with = "raw_json", skip_serializing_if = "Bytes::is_empty")]
    pub data: Bytes,
}

/// Asynchronous message to the server (no reply).
#[derive(Clone, PartialEq, Eq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct SendRequest {
    /// Payload (raw JSON in JSON mode).
    #[prost(bytes = "bytes", tag = "1")]
    #[serde(with = "raw_json", skip_serializing_if = "Bytes::is_empty")]
    pub data: Bytes,
}
