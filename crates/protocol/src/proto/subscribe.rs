//! Subscribe, unsubscribe and subscription-token refresh.

use super::raw_json::{self, is_default};
use super::Publication;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Tags filter tree node (`SubscribeRequest.tf`).
#[derive(Clone, PartialEq, Eq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct FilterNode {
    /// Logical operator: "", "and", "or", "not".
    #[prost(string, tag = "1")]
    #[serde(skip_serializing_if = "is_default")]
    pub op: String,
    /// Tag key compared by a leaf.
    #[prost(string, tag = "2")]
    #[serde(skip_serializing_if = "is_default")]
    pub key: String,
    /// Comparison: eq, neq, in, nin, ex, nex, sw, ew, ct, lt, lte, gt, gte.
    #[prost(string, tag = "3")]
    #[serde(skip_serializing_if = "is_default")]
    pub cmp: String,
    /// Single comparison value.
    #[prost(string, tag = "4")]
    #[serde(skip_serializing_if = "is_default")]
    pub val: String,
    /// Values for in/nin.
    #[prost(string, repeated, tag = "5")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vals: Vec<String>,
    /// Child nodes of and/or/not.
    #[prost(message, repeated, tag = "6")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<FilterNode>,
}

/// Subscribe to a channel (also used inside `ConnectRequest.subs` for recovery).
#[derive(Clone, PartialEq, Eq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct SubscribeRequest {
    /// Channel name.
    #[prost(string, tag = "1")]
    #[serde(skip_serializing_if = "is_default")]
    pub channel: String,
    /// Subscription JWT.
    #[prost(string, tag = "2")]
    #[serde(skip_serializing_if = "is_default")]
    pub token: String,
    /// Recover missed publications since `epoch`/`offset`.
    #[prost(bool, tag = "3")]
    #[serde(skip_serializing_if = "is_default")]
    pub recover: bool,
    /// Last seen epoch.
    #[prost(string, tag = "6")]
    #[serde(skip_serializing_if = "is_default")]
    pub epoch: String,
    /// Last seen offset.
    #[prost(uint64, tag = "7")]
    #[serde(skip_serializing_if = "is_default")]
    pub offset: u64,
    /// Custom subscribe data (raw JSON in JSON mode).
    #[prost(bytes = "bytes", tag = "8")]
    #[serde(with = "raw_json", skip_serializing_if = "Bytes::is_empty")]
    pub data: Bytes,
    /// Ask for positioning.
    #[prost(bool, tag = "9")]
    #[serde(skip_serializing_if = "is_default")]
    pub positioned: bool,
    /// Ask for recovery.
    #[prost(bool, tag = "10")]
    #[serde(skip_serializing_if = "is_default")]
    pub recoverable: bool,
    /// Ask for join/leave pushes.
    #[prost(bool, tag = "11")]
    #[serde(skip_serializing_if = "is_default")]
    pub join_leave: bool,
    /// Delta compression type (e.g. "fossil").
    #[prost(string, tag = "12")]
    #[serde(skip_serializing_if = "is_default")]
    pub delta: String,
    /// Tags filter.
    #[prost(message, optional, tag = "13")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tf: Option<FilterNode>,
    /// Subscription feature flags (bit 1 channel compaction, bit 2 reject unrecovered).
    #[prost(int64, tag = "14")]
    #[serde(skip_serializing_if = "is_default")]
    pub flag: i64,
}

/// Answer to a subscribe.
#[derive(Clone, PartialEq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct SubscribeResult {
    /// Subscription expires and must be refreshed.
    #[prost(bool, tag = "1")]
    #[serde(skip_serializing_if = "is_default")]
    pub expires: bool,
    /// Seconds until expiry.
    #[prost(uint32, tag = "2")]
    #[serde(skip_serializing_if = "is_default")]
    pub ttl: u32,
    /// Channel supports recovery.
    #[prost(bool, tag = "3")]
    #[serde(skip_serializing_if = "is_default")]
    pub recoverable: bool,
    /// Stream epoch.
    #[prost(string, tag = "6")]
    #[serde(skip_serializing_if = "is_default")]
    pub epoch: String,
    /// Recovered publications, in offset order.
    #[prost(message, repeated, tag = "7")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub publications: Vec<Publication>,
    /// Recovery succeeded.
    #[prost(bool, tag = "8")]
    #[serde(skip_serializing_if = "is_default")]
    pub recovered: bool,
    /// Stream offset (the client's offset when recovered, else the top).
    #[prost(uint64, tag = "9")]
    #[serde(skip_serializing_if = "is_default")]
    pub offset: u64,
    /// Channel is positioned.
    #[prost(bool, tag = "10")]
    #[serde(skip_serializing_if = "is_default")]
    pub positioned: bool,
    /// Custom subscribe data (raw JSON in JSON mode).
    #[prost(bytes = "bytes", tag = "11")]
    #[serde(with = "raw_json", skip_serializing_if = "Bytes::is_empty")]
    pub data: Bytes,
    /// The request asked for recovery.
    #[prost(bool, tag = "12")]
    #[serde(skip_serializing_if = "is_default")]
    pub was_recovering: bool,
    /// Delta compression negotiated.
    #[prost(bool, tag = "13")]
    #[serde(skip_serializing_if = "is_default")]
    pub delta: bool,
    /// Numeric channel id for channel compaction.
    #[prost(int64, tag = "14")]
    #[serde(skip_serializing_if = "is_default")]
    pub id: i64,
}

/// Subscription token refresh.
#[derive(Clone, PartialEq, Eq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct SubRefreshRequest {
    /// Channel name.
    #[prost(string, tag = "1")]
    #[serde(skip_serializing_if = "is_default")]
    pub channel: String,
    /// New subscription JWT.
    #[prost(string, tag = "2")]
    #[serde(skip_serializing_if = "is_default")]
    pub token: String,
}

/// Answer to a sub refresh.
#[derive(Clone, PartialEq, Eq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct SubRefreshResult {
    /// Subscription still expires.
    #[prost(bool, tag = "1")]
    #[serde(skip_serializing_if = "is_default")]
    pub expires: bool,
    /// Seconds until expiry.
    #[prost(uint32, tag = "2")]
    #[serde(skip_serializing_if = "is_default")]
    pub ttl: u32,
}

/// Unsubscribe from a channel.
#[derive(Clone, PartialEq, Eq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct UnsubscribeRequest {
    /// Channel name.
    #[prost(string, tag = "1")]
    #[serde(skip_serializing_if = "is_default")]
    pub channel: String,
}

/// Answer to an unsubscribe (empty).
#[derive(Clone, PartialEq, Eq, ::prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct UnsubscribeResult {}
