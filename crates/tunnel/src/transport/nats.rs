//! Core NATS transport (async-nats). No JetStream: the tunnel is request/response traffic.

use std::str::FromStr;

use async_nats::header::{HeaderName, HeaderValue};
use async_nats::HeaderMap;
use bytes::Bytes;
use futures_util::StreamExt;

/// Longest wait for a flush round trip.
pub(super) const FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

use super::{
    validate_headers, validate_subject, Headers, Message, Subscription, Transport, TransportError,
};

/// A transport over one NATS connection.
#[derive(Clone)]
pub struct NatsTransport {
    client: async_nats::Client,
}

impl NatsTransport {
    /// Wraps a connected client (its credentials and options are the caller's).
    pub fn new(client: async_nats::Client) -> Self {
        Self { client }
    }

    /// Connects to `url` (`nats://host:port`, comma-separated for several servers).
    pub async fn connect(url: &str) -> Result<Self, TransportError> {
        let client = async_nats::ConnectOptions::new()
            .name("wowlab-tunnel")
            .connect(url)
            .await
            .map_err(|e| TransportError::Connect(e.to_string()))?;
        Ok(Self { client })
    }

    /// The underlying client.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }
}

fn to_header_map(headers: Headers) -> Result<HeaderMap, TransportError> {
    validate_headers(&headers)?;
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        let name = HeaderName::from_str(&k).map_err(|_| TransportError::Invalid {
            what: "header name",
            value: k.clone(),
        })?;
        let value = HeaderValue::from_str(&v).map_err(|_| TransportError::Invalid {
            what: "header value",
            value: v.clone(),
        })?;
        map.insert(name, value);
    }
    Ok(map)
}

pub(super) fn from_nats(m: async_nats::Message) -> Message {
    let mut headers = Headers::new();
    if let Some(h) = &m.headers {
        for (name, values) in h.iter() {
            if let Some(v) = values.first() {
                headers.insert(name.to_string(), v.as_str().to_owned());
            }
        }
    }
    Message {
        subject: m.subject.to_string(),
        headers,
        payload: m.payload,
    }
}

#[async_trait::async_trait]
impl Transport for NatsTransport {
    async fn publish(
        &self,
        subject: &str,
        headers: Headers,
        payload: Bytes,
    ) -> Result<(), TransportError> {
        publish_on(&self.client, subject, headers, payload).await
    }

    async fn subscribe(&self, subject: &str) -> Result<Subscription, TransportError> {
        validate_subject(subject, true)?;
        let sub = subscribe_on(&self.client, subject, None).await?;
        Ok(Subscription::new(sub.map(from_nats)))
    }

    async fn queue_subscribe(
        &self,
        subject: &str,
        queue: &str,
    ) -> Result<Subscription, TransportError> {
        validate_subject(subject, true)?;
        let sub = subscribe_on(&self.client, subject, Some(queue)).await?;
        Ok(Subscription::new(sub.map(from_nats)))
    }

    async fn flush(&self) -> Result<(), TransportError> {
        echo_flush(&self.client, FLUSH_TIMEOUT).await
    }
}

/// Publishes on `client` after checking the subject and headers.
pub(super) async fn publish_on(
    client: &async_nats::Client,
    subject: &str,
    headers: Headers,
    payload: Bytes,
) -> Result<(), TransportError> {
    validate_subject(subject, false)?;
    let map = to_header_map(headers)?;
    client
        .publish_with_headers(subject.to_owned(), map, payload)
        .await
        .map_err(|e| TransportError::Publish {
            subject: subject.to_owned(),
            reason: e.to_string(),
        })
}

/// A subscription on `client` (in `queue` when given); the subject is the caller's to check.
pub(super) async fn subscribe_on(
    client: &async_nats::Client,
    subject: &str,
    queue: Option<&str>,
) -> Result<async_nats::Subscriber, TransportError> {
    let sub = match queue {
        Some(q) => {
            client
                .queue_subscribe(subject.to_owned(), q.to_owned())
                .await
        }
        None => client.subscribe(subject.to_owned()).await,
    };
    sub.map_err(|e| TransportError::Subscribe {
        subject: subject.to_owned(),
        reason: e.to_string(),
    })
}

/// Returns once the server processed everything `client` sent before. async-nats's flush
/// only writes the socket; a message to ourselves coming back proves the server processed
/// everything sent before it (subscriptions included).
pub(super) async fn echo_flush(
    client: &async_nats::Client,
    within: std::time::Duration,
) -> Result<(), TransportError> {
    let inbox = client.new_inbox();
    let mut echo = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| TransportError::Flush(e.to_string()))?;
    client
        .publish(inbox, Bytes::new())
        .await
        .map_err(|e| TransportError::Flush(e.to_string()))?;
    match tokio::time::timeout(within, echo.next()).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(TransportError::Flush("connection closed".into())),
        Err(_) => Err(TransportError::Flush(format!(
            "no round trip within {within:?}"
        ))),
    }
}
