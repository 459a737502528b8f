//! Connect and connection-token refresh.

use super::raw_json::{self, is_default};
use super::{SubscribeRequest, SubscribeResult};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// First command of every connection.
#[derive(Clone, PartialEq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectRequest {
    /// Connection JWT.
    #[prost(string, tag = "1")]
    #[serde(skip_serializing_if = "is_default")]
    pub token: String,
    /// Custom connect data (raw JSON in JSON mode).
    #[prost(bytes = "bytes", tag = "2")]
    #[serde(with = "raw_json", skip_serializing_if = "Bytes::is_empty")]
    pub data: Bytes,
    /// Server-side subscriptions to recover, by channel.
    #[prost(map = "string, message", tag = "3")]
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub subs: HashMap<String, SubscribeRequest>,
    /// Client name (centrifuge-js sends "js").
    #[prost(string, tag = "4")]
    #[serde(skip_serializing_if = "is_default")]
    pub name: String,
    /// Client version.
    #[prost(string, tag = "5")]
    #[serde(skip_serializing_if = "is_default")]
    pub version: String,
    /// Emulated headers.
    #[prost(map = "string, string", tag = "6")]
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub headers: HashMap<String, String>,
    /// Connection feature flags.
    #[prost(int64, tag = "7")]
    #[serde(skip_serializing_if = "is_default")]
    pub flag: i64,
}

/// Answer to a successful connect.
#[derive(Clone, PartialEq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectResult {
    /// Client id (UUID).
    #[prost(string, tag = "1")]
    #[serde(skip_serializing_if = "is_default")]
    pub client: String,
    /// Server version.
    #[prost(string, tag = "2")]
    #[serde(skip_serializing_if = "is_default")]
    pub version: String,
    /// Connection expires and must be refreshed.
    #[prost(bool, tag = "3")]
    #[serde(skip_serializing_if = "is_default")]
    pub expires: bool,
    /// Seconds until expiry.
    #[prost(uint32, tag = "4")]
    #[serde(skip_serializing_if = "is_default")]
    pub ttl: u32,
    /// Custom connect data (raw JSON in JSON mode).
    #[prost(bytes = "bytes", tag = "5")]
    #[serde(with = "raw_json", skip_serializing_if = "Bytes::is_empty")]
    pub data: Bytes,
    /// Server-side subscriptions, by channel.
    #[prost(map = "string, message", tag = "6")]
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub subs: HashMap<String, SubscribeResult>,
    /// Ping interval, seconds.
    #[prost(uint32, tag = "7")]
    #[serde(skip_serializing_if = "is_default")]
    pub ping: u32,
    /// Server expects pongs.
    #[prost(bool, tag = "8")]
    #[serde(skip_serializing_if = "is_default")]
    pub pong: bool,
    /// Session id (emulation transports).
    #[prost(string, tag = "9")]
    #[serde(skip_serializing_if = "is_default")]
    pub session: String,
    /// Node id (emulation transports).
    #[prost(string, tag = "10")]
    #[serde(skip_serializing_if = "is_default")]
    pub node: String,
    /// Server time, Unix milliseconds.
    #[prost(int64, tag = "11")]
    #[serde(skip_serializing_if = "is_default")]
    pub time: i64,
}

/// Connection token refresh.
#[derive(Clone, PartialEq, Eq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct RefreshRequest {
    /// New connection JWT.
    #[prost(string, tag = "1")]
    #[serde(skip_serializing_if = "is_default")]
    pub token: String,
}

/// Answer to a refresh.
#[derive(Clone, PartialEq, Eq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct RefreshResult {
    /// Client id.
    #[prost(string, tag = "1")]
    #[serde(skip_serializing_if = "is_default")]
    pub client: String,
    /// Server version.
    #[prost(string, tag = "2")]
    #[serde(skip_serializing_if = "is_default")]
    pub version: String,
    /// Connection still expires.
    #[prost(bool, tag = "3")]
    #[serde(skip_serializing_if = "is_default")]
    pub expires: bool,
    /// Seconds until expiry.
    #[prost(uint32, tag = "4")]
    #[serde(skip_serializing_if = "is_default")]
    pub ttl: u32,
}
