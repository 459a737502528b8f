//! wowlab-centrifuge: a Rust counterpart of centrifuge-js for beacon and Centrifugo v6.
//!
//! A [`Client`] owns one background task that keeps a WebSocket session (protobuf by
//! default, or JSON) alive: it connects with a static token or a `get_token` callback,
//! refreshes the token before expiry, answers pings, detects a silent server, reconnects
//! with full-jitter backoff unless the server sent a terminal code, and re-subscribes
//! client-side [`Subscription`]s recovering missed publications from their offset/epoch.
//! Calls (publish, presence, history, rpc, ...) issued while connecting are buffered and
//! several commands are batched into one frame.

mod actor;
mod backoff;
mod client;
pub mod codes;
mod config;
mod error;
mod event;
mod subscription;
mod transport;

pub use client::{Client, HistoryOptions};
pub use config::{ClientConfig, SubscriptionConfig, TokenError, TokenFuture};
pub use error::Error;
pub use event::{ClientEvent, State, SubscribedInfo, SubscriptionEvent, SubscriptionState};
pub use subscription::Subscription;
pub use wowlab_protocol::codec::Protocol;
pub use wowlab_protocol::proto::{
    ClientInfo, HistoryResult, PresenceResult, PresenceStatsResult, Publication, StreamPosition,
};
