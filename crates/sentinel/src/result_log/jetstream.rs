//! The result log on NATS JetStream, shared by every sentinel of a grid: entries go to one
//! subject of a file-backed stream (retention by age and size, dedup window on the
//! `Nats-Msg-Id` header `job:chunk:fence`); one durable pull consumer with explicit acks feeds
//! the leader's projector. A new leader opening the same consumer resumes after the last
//! acknowledged entry; entries a dead leader held unacknowledged come back after the ack wait.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, message::PublishMessage, stream, AckKind};
use async_trait::async_trait;
use futures_util::{FutureExt as _, StreamExt as _};

use super::{Acker, Delivery, LogEntry, LogError, LogSubscription, ResultLog};

/// Settings of the JetStream log.
#[derive(Debug, Clone)]
pub struct JetStreamOptions {
    /// NATS server URL (`nats://host:port`).
    pub url: String,
    /// Stream name.
    pub stream: String,
    /// Subject the entries are published on.
    pub subject: String,
    /// Durable consumer name (the projector's).
    pub consumer: String,
    /// How long entries are kept (acknowledged or not).
    pub max_age: Duration,
    /// Largest size of the stream in bytes; the oldest entries go first beyond it.
    pub max_bytes: i64,
    /// Window within which a result appended twice with one id is stored once.
    pub duplicate_window: Duration,
    /// How long a delivered entry may stay unacknowledged before it is delivered again (a
    /// crashed leader's entries come back after this).
    pub ack_wait: Duration,
}

impl JetStreamOptions {
    /// Defaults for `url`: stream `WOWLAB_RESULTS` on `wowlab.results`, kept 24 h and at most
    /// 1 GiB, 2 min dedup window, 5 s ack wait.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            stream: "WOWLAB_RESULTS".into(),
            subject: "wowlab.results".into(),
            consumer: "projector".into(),
            max_age: Duration::from_secs(24 * 3600),
            max_bytes: 1 << 30,
            duplicate_window: Duration::from_secs(120),
            ack_wait: Duration::from_secs(5),
        }
    }
}

/// The JetStream implementation of [`ResultLog`].
#[derive(Clone)]
pub struct JetStreamLog {
    client: async_nats::Client,
    js: jetstream::Context,
    opts: JetStreamOptions,
}

fn unavailable(e: impl std::fmt::Display) -> LogError {
    LogError::Unavailable(e.to_string())
}

impl JetStreamLog {
    /// Connects and creates (or updates) the stream.
    pub async fn connect(opts: JetStreamOptions) -> Result<Self, LogError> {
        let client = async_nats::connect(opts.url.as_str())
            .await
            .map_err(unavailable)?;
        let js = jetstream::new(client.clone());
        js.create_or_update_stream(stream::Config {
            name: opts.stream.clone(),
            subjects: vec![opts.subject.clone()],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            max_age: opts.max_age,
            max_bytes: opts.max_bytes,
            duplicate_window: opts.duplicate_window,
            ..Default::default()
        })
        .await
        .map_err(unavailable)?;
        Ok(Self { client, js, opts })
    }

    /// The settings in use.
    pub fn options(&self) -> &JetStreamOptions {
        &self.opts
    }

    /// Deletes the stream (tests clean up after themselves).
    pub async fn delete_stream(&self) -> Result<(), LogError> {
        self.js
            .delete_stream(&self.opts.stream)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}

#[async_trait]
impl ResultLog for JetStreamLog {
    async fn append(&self, entry: LogEntry) -> Result<(), LogError> {
        let payload = serde_json::to_vec(&entry).map_err(unavailable)?;
        let mut msg = PublishMessage::build().payload(payload.into());
        if let Some(id) = entry.message_id() {
            msg = msg.message_id(id);
        }
        // The second await is the server's acknowledgement: the entry is stored.
        self.js
            .send_publish(self.opts.subject.clone(), msg)
            .await
            .map_err(unavailable)?
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn subscribe(&self) -> Result<Box<dyn LogSubscription>, LogError> {
        let stream = self
            .js
            .get_stream(&self.opts.stream)
            .await
            .map_err(unavailable)?;
        let consumer: consumer::PullConsumer = stream
            .get_or_create_consumer(
                &self.opts.consumer,
                consumer::pull::Config {
                    durable_name: Some(self.opts.consumer.clone()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: self.opts.ack_wait,
                    deliver_policy: consumer::DeliverPolicy::All,
                    ..Default::default()
                },
            )
            .await
            .map_err(unavailable)?;
        let messages = consumer
            .stream()
            .max_messages_per_batch(256)
            // Idle heartbeats make a consumer cut off by a NATS restart fail (and resubscribe)
            // instead of waiting forever.
            .expires(Duration::from_secs(10))
            .heartbeat(Duration::from_secs(3))
            .messages()
            .await
            .map_err(unavailable)?;
        Ok(Box::new(Subscription { messages }))
    }

    fn durable(&self) -> bool {
        true
    }

    async fn ready(&self) -> Result<(), LogError> {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            s => Err(LogError::Unavailable(format!("NATS connection {s}"))),
        }
    }
}

struct Subscription {
    messages: consumer::pull::Stream,
}

impl Subscription {
    /// Decodes one message; an undecodable one is terminated (never redelivered) and skipped.
    async fn decode(msg: jetstream::Message) -> Option<Delivery> {
        match serde_json::from_slice::<LogEntry>(&msg.payload) {
            Ok(entry) => Some(Delivery::new(entry, JetStreamAck(msg))),
            Err(e) => {
                tracing::error!(error = %e, "undecodable result log entry dropped");
                if let Err(e) = msg.ack_with(AckKind::Term).await {
                    tracing::warn!(error = %e, "could not drop an undecodable entry");
                }
                None
            }
        }
    }
}

#[async_trait]
impl LogSubscription for Subscription {
    async fn next(&mut self) -> Result<Delivery, LogError> {
        loop {
            match self.messages.next().await {
                Some(Ok(msg)) => {
                    if let Some(d) = Self::decode(msg).await {
                        return Ok(d);
                    }
                }
                Some(Err(e)) => return Err(unavailable(e)),
                None => return Err(LogError::Closed),
            }
        }
    }

    async fn try_next(&mut self) -> Result<Option<Delivery>, LogError> {
        loop {
            match self.messages.next().now_or_never() {
                Some(Some(Ok(msg))) => {
                    if let Some(d) = Self::decode(msg).await {
                        return Ok(Some(d));
                    }
                }
                Some(Some(Err(e))) => return Err(unavailable(e)),
                Some(None) => return Err(LogError::Closed),
                None => return Ok(None),
            }
        }
    }
}

struct JetStreamAck(jetstream::Message);

#[async_trait]
impl Acker for JetStreamAck {
    async fn ack(self: Box<Self>) -> Result<(), LogError> {
        self.0.ack().await.map_err(unavailable)
    }

    async fn nak(self: Box<Self>) -> Result<(), LogError> {
        self.0
            .ack_with(AckKind::Nak(Some(Duration::from_millis(500))))
            .await
            .map_err(unavailable)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::{ChunkIndex, Fence, JobId};

    /// Options for a stream of its own, so parallel runs never share one.
    pub(crate) fn fresh_options(url: &str) -> JetStreamOptions {
        let id = JobId::new().to_string().replace('-', "");
        let mut opts = JetStreamOptions::new(url);
        opts.stream = format!("WOWLAB_TEST_{id}");
        opts.subject = format!("wowlab-test.{id}");
        opts.ack_wait = Duration::from_secs(1);
        opts
    }

    #[tokio::test]
    async fn jetstream_log_passes_conformance() {
        let Some(url) = crate::test_services::nats_url() else {
            return;
        };
        let made = parking_lot::Mutex::new(Vec::new());
        super::super::conformance::run_all(|| async {
            let log = JetStreamLog::connect(fresh_options(&url)).await.unwrap();
            made.lock().push(log.clone());
            log
        })
        .await;
        for log in made.into_inner() {
            log.delete_stream().await.unwrap();
        }
    }

    #[tokio::test]
    async fn another_process_resumes_after_the_last_acknowledged_entry() {
        let Some(url) = crate::test_services::nats_url() else {
            return;
        };
        let opts = fresh_options(&url);
        let a = JetStreamLog::connect(opts.clone()).await.unwrap();
        let job = JobId::new();
        let result = |c: u32| LogEntry::Result {
            job,
            chunk: ChunkIndex(c),
            fence: Fence(1),
            bytes: vec![c as u8],
            node: None,
        };
        for c in 0..3 {
            a.append(result(c)).await.unwrap();
        }
        let mut sub = a.subscribe().await.unwrap();
        sub.next().await.unwrap().ack().await.unwrap();
        // The second is taken but its consumer dies before acknowledging it.
        let _held = sub.next().await.unwrap();
        drop(sub);
        drop(a);
        // A fresh connection (another sentinel) opens the same durable consumer.
        let b = JetStreamLog::connect(opts).await.unwrap();
        let mut sub = b.subscribe().await.unwrap();
        let mut got = Vec::new();
        for _ in 0..2 {
            let d = sub.next().await.unwrap();
            got.push(d.entry.clone());
            d.ack().await.unwrap();
        }
        got.sort_by_key(|e| match e {
            LogEntry::Result { chunk, .. } => chunk.0,
            _ => u32::MAX,
        });
        assert_eq!(got, vec![result(1), result(2)]);
        b.delete_stream().await.unwrap();
    }
}
