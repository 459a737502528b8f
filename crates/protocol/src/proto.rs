//! Every message of `proto/client.proto` (protocol v2), written by hand with prost derives
//! (wire format) and serde derives (JSON protocol). No protoc at build time.
//!
//! JSON conventions: proto field names, zero values omitted (except `ClientInfo.user` and
//! `ClientInfo.client`), unknown fields ignored, `bytes` fields as raw embedded JSON.

mod channel_ops;
mod connect;
mod envelope;
mod push;
pub(crate) mod raw_json;
mod subscribe;

pub use channel_ops::{
    HistoryRequest, HistoryResult, PingRequest, PingResult, PresenceRequest, PresenceResult,
    PresenceStatsRequest, PresenceStatsResult, PublishRequest, PublishResult, RpcRequest,
    RpcResult, SendRequest, StreamPosition,
};
pub use connect::{ConnectRequest, ConnectResult, RefreshRequest, RefreshResult};
pub use envelope::{Command, EmulationRequest, Error, Reply};
pub use push::{
    ClientInfo, Connect, Disconnect, Join, Leave, Message, Publication, Push, Refresh, Subscribe,
    Unsubscribe,
};
pub use subscribe::{
    FilterNode, SubRefreshRequest, SubRefreshResult, SubscribeRequest, SubscribeResult,
    UnsubscribeRequest, UnsubscribeResult,
};

#[cfg(test)]
mod proto_sync;
