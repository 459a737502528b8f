//! The seam under the tunnel: subject-addressed publish/subscribe with headers. Three
//! implementations — [`NatsTransport`] (core NATS, distributed), [`RotatingTransport`] (core
//! NATS moving onto new connections, for short-lived credentials) and [`MemoryTransport`]
//! (in-process, embedded mode) — pass one conformance suite (`tests/transport.rs`).

mod memory;
mod nats;
mod rotating;
mod subject_match;

use std::collections::BTreeMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;

pub use memory::MemoryTransport;
pub use nats::NatsTransport;
pub use rotating::RotatingTransport;

/// Message headers: distinct names, one value each (names and values without CR/LF).
pub type Headers = BTreeMap<String, String>;

/// One delivered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The subject it was published on.
    pub subject: String,
    /// Its headers.
    pub headers: Headers,
    /// Its payload, raw bytes.
    pub payload: Bytes,
}

/// Transport failures.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Connecting to the server failed.
    #[error("connect: {0}")]
    Connect(String),
    /// Publishing failed.
    #[error("publish on {subject}: {reason}")]
    Publish {
        /// Subject.
        subject: String,
        /// Why.
        reason: String,
    },
    /// Subscribing failed.
    #[error("subscribe to {subject}: {reason}")]
    Subscribe {
        /// Subject.
        subject: String,
        /// Why.
        reason: String,
    },
    /// A subject, queue or header is not valid on the wire.
    #[error("invalid {what}: {value:?}")]
    Invalid {
        /// Which kind of value.
        what: &'static str,
        /// The offending value.
        value: String,
    },
    /// Flushing failed.
    #[error("flush: {0}")]
    Flush(String),
}

/// Subject-addressed messaging. Subjects are dot-separated tokens; subscriptions may use `*`
/// (one token) and `>` (the rest). Messages from one publisher to one subscription arrive in
/// publish order. Dropping a [`Subscription`] unsubscribes.
#[async_trait::async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Publishes `payload` with `headers` on `subject`.
    async fn publish(
        &self,
        subject: &str,
        headers: Headers,
        payload: Bytes,
    ) -> Result<(), TransportError>;
    /// Every message matching `subject`.
    async fn subscribe(&self, subject: &str) -> Result<Subscription, TransportError>;
    /// Messages matching `subject`, each delivered to one member of `queue`.
    async fn queue_subscribe(
        &self,
        subject: &str,
        queue: &str,
    ) -> Result<Subscription, TransportError>;
    /// Returns once everything published and subscribed before reached the server.
    async fn flush(&self) -> Result<(), TransportError>;
}

/// A live subscription: a stream of [`Message`]s; dropping it unsubscribes.
pub struct Subscription {
    inner: Pin<Box<dyn Stream<Item = Message> + Send>>,
}

impl Subscription {
    pub(crate) fn new(inner: impl Stream<Item = Message> + Send + 'static) -> Self {
        Self {
            inner: Box::pin(inner),
        }
    }

    /// The next message; `None` once the subscription ended.
    pub async fn next(&mut self) -> Option<Message> {
        futures_util::StreamExt::next(&mut self.inner).await
    }
}

impl Stream for Subscription {
    type Item = Message;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// Checks a subject (publish: no wildcards) the same way for both implementations.
pub(crate) fn validate_subject(subject: &str, wildcards: bool) -> Result<(), TransportError> {
    let bad = || TransportError::Invalid {
        what: "subject",
        value: subject.to_owned(),
    };
    if subject.is_empty() || subject.len() > 1024 {
        return Err(bad());
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    for (i, t) in tokens.iter().enumerate() {
        if t.is_empty() || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let wild = *t == "*" || *t == ">";
        if (t.contains('*') || t.contains('>')) && !(wildcards && wild) {
            return Err(bad());
        }
        if *t == ">" && i + 1 != tokens.len() {
            return Err(bad());
        }
    }
    Ok(())
}

/// Checks header names and values (printable ASCII names without `:`; values without CR/LF).
pub(crate) fn validate_headers(headers: &Headers) -> Result<(), TransportError> {
    for (k, v) in headers {
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            return Err(TransportError::Invalid {
                what: "header name",
                value: k.clone(),
            });
        }
        if v.contains(['\r', '\n']) {
            return Err(TransportError::Invalid {
                what: "header value",
                value: v.clone(),
            });
        }
    }
    Ok(())
}
