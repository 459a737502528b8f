//! Client and subscription options, token callbacks.

use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use wowlab_protocol::codec::Protocol;
use wowlab_protocol::proto::StreamPosition;

/// Future returned by a token callback.
pub type TokenFuture = Pin<Box<dyn Future<Output = Result<String, TokenError>> + Send>>;
pub(crate) type GetToken = Arc<dyn Fn() -> TokenFuture + Send + Sync>;
pub(crate) type GetSubToken = Arc<dyn Fn(String) -> TokenFuture + Send + Sync>;

/// Failure of a token callback.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No credentials for this user: the client (or subscription) stops for good.
    #[error("unauthorized")]
    Unauthorized,
    /// Transient failure: retried with backoff.
    #[error("token callback failed: {0}")]
    Failed(String),
}

/// Options of a [`crate::Client`]. Build with [`ClientConfig::new`] and the setters.
#[derive(Clone)]
pub struct ClientConfig {
    pub(crate) url: String,
    pub(crate) protocol: Protocol,
    pub(crate) token: Option<String>,
    pub(crate) get_token: Option<GetToken>,
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) data: Bytes,
    pub(crate) min_reconnect_delay: Duration,
    pub(crate) max_reconnect_delay: Duration,
    pub(crate) stable_after: Duration,
    pub(crate) timeout: Duration,
    pub(crate) max_server_ping_delay: Duration,
    pub(crate) max_message_size: usize,
    pub(crate) event_capacity: usize,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("url", &self.url)
            .field("protocol", &self.protocol)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("get_token", &self.get_token.as_ref().map(|_| "<callback>"))
            .field("name", &self.name)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ClientConfig {
    /// Options for `url` (e.g. `ws://localhost:8000/connection/websocket`) with defaults:
    /// protobuf, reconnect delay 500 ms..20 s, call timeout 5 s, max server ping delay 10 s.
    pub fn new(url: impl Into<String>) -> Self {
        ClientConfig {
            url: url.into(),
            protocol: Protocol::Protobuf,
            token: None,
            get_token: None,
            name: "rust".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            data: Bytes::new(),
            min_reconnect_delay: Duration::from_millis(500),
            max_reconnect_delay: Duration::from_secs(20),
            stable_after: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            max_server_ping_delay: Duration::from_secs(10),
            max_message_size: 16 << 20,
            event_capacity: 1024,
        }
    }

    /// Wire flavour (protobuf by default).
    pub fn protocol(mut self, p: Protocol) -> Self {
        self.protocol = p;
        self
    }

    /// Initial connection token. With [`ClientConfig::get_token`] it is used first and
    /// the callback supplies the next ones.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Callback fetching a connection token (at connect when none is cached, after a
    /// "token expired" answer, and before the connection expires).
    pub fn get_token<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, TokenError>> + Send + 'static,
    {
        self.get_token = Some(Arc::new(move || Box::pin(f()) as TokenFuture));
        self
    }

    /// Client name sent in connect.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Client version sent in connect.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Custom connect data (must be JSON in JSON mode).
    pub fn data(mut self, data: impl Into<Bytes>) -> Self {
        self.data = data.into();
        self
    }

    /// Reconnect backoff bounds.
    pub fn reconnect_delay(mut self, min: Duration, max: Duration) -> Self {
        self.min_reconnect_delay = min;
        self.max_reconnect_delay = max.max(min);
        self
    }

    /// A connection that lived this long resets the backoff step.
    pub fn stable_after(mut self, d: Duration) -> Self {
        self.stable_after = d;
        self
    }

    /// Timeout of connect, subscribe and every call.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Extra time to wait for a server ping beyond the announced interval.
    pub fn max_server_ping_delay(mut self, d: Duration) -> Self {
        self.max_server_ping_delay = d;
        self
    }

    /// Largest incoming WebSocket message accepted.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Capacity of the event broadcast channels (slow listeners see `Lagged`).
    pub fn event_capacity(mut self, n: usize) -> Self {
        self.event_capacity = n.max(1);
        self
    }
}

/// Options of a client-side [`crate::Subscription`].
#[derive(Clone, Default)]
pub struct SubscriptionConfig {
    pub(crate) token: Option<String>,
    pub(crate) get_token: Option<GetSubToken>,
    pub(crate) data: Bytes,
    pub(crate) recoverable: bool,
    pub(crate) positioned: bool,
    pub(crate) join_leave: bool,
    pub(crate) since: Option<StreamPosition>,
}

impl std::fmt::Debug for SubscriptionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriptionConfig")
            .field("recoverable", &self.recoverable)
            .field("positioned", &self.positioned)
            .field("join_leave", &self.join_leave)
            .field("since", &self.since)
            .finish_non_exhaustive()
    }
}

impl SubscriptionConfig {
    /// Subscription token (private channels).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Callback fetching a subscription token for the channel (also used for `sub_refresh`).
    pub fn get_token<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, TokenError>> + Send + 'static,
    {
        self.get_token = Some(Arc::new(move |ch| Box::pin(f(ch)) as TokenFuture));
        self
    }

    /// Custom subscribe data.
    pub fn data(mut self, data: impl Into<Bytes>) -> Self {
        self.data = data.into();
        self
    }

    /// Ask for recovery: missed publications are recovered on resubscribe.
    pub fn recoverable(mut self, on: bool) -> Self {
        self.recoverable = on;
        self
    }

    /// Ask for positioning.
    pub fn positioned(mut self, on: bool) -> Self {
        self.positioned = on;
        self
    }

    /// Ask for join/leave pushes.
    pub fn join_leave(mut self, on: bool) -> Self {
        self.join_leave = on;
        self
    }

    /// Recover from this position on the first subscribe.
    pub fn since(mut self, pos: StreamPosition) -> Self {
        self.since = Some(pos);
        self
    }
}
