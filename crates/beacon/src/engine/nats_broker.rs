//! NATS broker: publications, join/leave and control messages fan out to every beacon over
//! NATS core pub/sub (`<prefix>.client.<channel>`, `<prefix>.control`, `<prefix>.node.<id>`).
//! Centrifugo's NATS broker has no history; ours keeps the streams in Redis
//! ([`RedisHistory`]): the offset is allocated there atomically, then the publication goes out
//! on NATS carrying it, and each receiving node restores stream order ([`super::ordering`]).
//! Without Redis, history answers [`EngineError::NotAvailable`] as in Centrifugo.
//!
//! async-nats reconnects and re-subscribes by itself; client connections stay up meanwhile and
//! what NATS dropped is repaired from history when the next publication reveals the gap.

use super::ordering;
use super::redis_history::RedisHistory;
use super::wire::{self, NodeMessage};
use super::{
    Broker, BrokerEventHandler, ClientInfo, EngineError, HistoryOptions, HistoryResult,
    Publication, PublishOptions, StreamPosition,
};
use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::task::JoinHandle;

/// A NATS-backed [`Broker`] (history in Redis when configured).
pub struct NatsBroker {
    url: String,
    prefix: String,
    node_id: String,
    history: Option<RedisHistory>,
    position_check: Duration,
    running: OnceLock<Running>,
}

struct Running {
    client: async_nats::Client,
    handler: Arc<dyn BrokerEventHandler>,
    channels: Mutex<HashMap<String, JoinHandle<()>>>,
    control: Vec<JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.control {
            t.abort();
        }
        for (_, t) in self.channels.lock().drain() {
            t.abort();
        }
    }
}

fn backend(e: impl std::fmt::Display) -> EngineError {
    EngineError::Backend(format!("nats: {e}"))
}

/// True when `channel` can be used as subject tokens as is (no wildcards, whitespace or
/// empty tokens); other names are carried base64url-encoded.
fn subject_safe(channel: &str) -> bool {
    !channel.is_empty()
        && !channel
            .bytes()
            .any(|b| b <= b' ' || b == b'*' || b == b'>' || b == 0x7f)
        && !channel.split('.').any(str::is_empty)
}

impl NatsBroker {
    /// A broker for `url` with subjects under `prefix`; `node_id` names this node's control
    /// subject; `history` (Redis) enables history and recovery.
    pub fn new(url: &str, prefix: &str, node_id: &str, history: Option<RedisHistory>) -> Self {
        NatsBroker {
            url: url.to_string(),
            prefix: prefix.to_string(),
            node_id: node_id.to_string(),
            history,
            position_check: ordering::POSITION_CHECK,
            running: OnceLock::new(),
        }
    }

    /// How often each subscribed channel is compared with its stream top (tail-gap repair);
    /// zero keeps the default.
    pub fn with_position_check(mut self, every: Duration) -> Self {
        if !every.is_zero() {
            self.position_check = every;
        }
        self
    }

    fn running(&self) -> Result<&Running, EngineError> {
        self.running.get().ok_or(EngineError::NotRunning)
    }

    fn subject(&self, channel: &str) -> String {
        if subject_safe(channel) {
            format!("{}.client.{channel}", self.prefix)
        } else {
            let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(channel);
            format!("{}.client_b64.{b64}", self.prefix)
        }
    }

    fn streams(&self) -> Result<&RedisHistory, EngineError> {
        self.history.as_ref().ok_or(EngineError::NotAvailable)
    }

    /// Returns once the server has processed everything this connection sent before (the SUBs
    /// just made), so that whatever any node publishes afterwards reaches us; without it a
    /// client told "subscribed" could miss the next publication. async-nats' `flush` only
    /// writes to the socket. The server handles one connection's commands in order and itself
    /// answers a request nobody listens to ("no responders"): that answer is the round trip.
    async fn server_round_trip(&self, client: &async_nats::Client) -> Result<(), EngineError> {
        let subject = format!("{}.sync.{}", self.prefix, self.node_id);
        let request = async_nats::Request::new().timeout(Some(SYNC_TIMEOUT));
        match client.send_request(subject, request).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == async_nats::RequestErrorKind::NoResponders => Ok(()),
            Err(e) => Err(backend(format!(
                "waiting for the server to take our subscriptions: {e}"
            ))),
        }
    }
}

/// How long `subscribe` waits for the server's round trip before failing.
const SYNC_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads one channel subject until aborted, delivering in stream order.
async fn channel_loop(
    mut sub: async_nats::Subscriber,
    handler: Arc<dyn BrokerEventHandler>,
    history: Option<RedisHistory>,
    channel: String,
    position_check: Duration,
) {
    let mut last = None;
    let mut check = tokio::time::interval(position_check);
    check.tick().await;
    loop {
        let msg = tokio::select! {
            m = sub.next() => match m {
                Some(m) => m,
                None => break,
            },
            _ = check.tick() => {
                if let Some(h) = history.as_ref() {
                    ordering::catch_up(&mut last, h, &*handler, &channel).await;
                }
                continue;
            }
        };
        match wire::decode(&msg.payload) {
            Ok(NodeMessage::Publication(ch, p, pos)) => {
                ordering::deliver(&mut last, history.as_ref(), &*handler, &ch, p, pos).await
            }
            Ok(NodeMessage::Join(ch, info)) => handler.handle_join(&ch, info),
            Ok(NodeMessage::Leave(ch, info)) => handler.handle_leave(&ch, info),
            Ok(NodeMessage::Control(_)) => {}
            Err(e) => tracing::warn!(subject = %msg.subject, error = %e, "dropped NATS message"),
        }
    }
}

async fn control_loop(mut sub: async_nats::Subscriber, handler: Arc<dyn BrokerEventHandler>) {
    while let Some(msg) = sub.next().await {
        match wire::decode(&msg.payload) {
            Ok(NodeMessage::Control(data)) => handler.handle_control(data),
            Ok(_) => {
                tracing::warn!(subject = %msg.subject, "unexpected message on control subject")
            }
            Err(e) => tracing::warn!(subject = %msg.subject, error = %e, "dropped NATS message"),
        }
    }
}

#[async_trait]
impl Broker for NatsBroker {
    async fn run(&self, handler: Arc<dyn BrokerEventHandler>) -> Result<(), EngineError> {
        let client = async_nats::ConnectOptions::new()
            .name(format!("wowlab-beacon {}", self.node_id))
            .connection_timeout(Duration::from_secs(5))
            .max_reconnects(None)
            .event_callback(|e| async move { tracing::info!(event = %e, "nats connection") })
            .connect(self.url.as_str())
            .await
            .map_err(backend)?;
        let mut control = Vec::new();
        for subject in [
            format!("{}.control", self.prefix),
            format!("{}.node.{}", self.prefix, self.node_id),
        ] {
            let sub = client.subscribe(subject).await.map_err(backend)?;
            control.push(tokio::spawn(control_loop(sub, handler.clone())));
        }
        self.server_round_trip(&client).await?;
        self.running
            .set(Running {
                client,
                handler,
                channels: Mutex::new(HashMap::new()),
                control,
            })
            .map_err(|_| EngineError::Backend("broker already running".into()))
    }

    async fn subscribe(&self, channels: &[String]) -> Result<(), EngineError> {
        let r = self.running()?;
        for ch in channels {
            if r.channels.lock().contains_key(ch) {
                continue;
            }
            let sub = r
                .client
                .subscribe(self.subject(ch))
                .await
                .map_err(backend)?;
            // Every message already received is delivered in one poll, waking each subscriber
            // once for all of them.
            let task = tokio::spawn(crate::wake::with_deferred_wakes(channel_loop(
                sub,
                r.handler.clone(),
                self.history.clone(),
                ch.clone(),
                self.position_check,
            )));
            if let Some(old) = r.channels.lock().insert(ch.clone(), task) {
                old.abort();
            }
        }
        self.server_round_trip(&r.client).await
    }

    async fn unsubscribe(&self, channels: &[String]) -> Result<(), EngineError> {
        let r = self.running()?;
        for ch in channels {
            // Dropping the subscriber (with its task) sends UNSUB.
            if let Some(task) = r.channels.lock().remove(ch) {
                task.abort();
            }
        }
        r.client.flush().await.map_err(backend)
    }

    async fn publish(
        &self,
        channel: &str,
        publication: Publication,
        opts: &PublishOptions,
    ) -> Result<StreamPosition, EngineError> {
        let r = self.running()?;
        let position = if opts.uses_history() {
            self.streams()?
                .append(channel, &publication, opts, None)
                .await?
        } else {
            StreamPosition::default()
        };
        let msg = wire::encode_publication(channel, &publication, &position);
        r.client
            .publish(self.subject(channel), Bytes::from(msg))
            .await
            .map_err(backend)?;
        Ok(position)
    }

    async fn publish_join(&self, channel: &str, info: ClientInfo) -> Result<(), EngineError> {
        let r = self.running()?;
        let msg = wire::encode_join_leave(channel, &info, true);
        r.client
            .publish(self.subject(channel), Bytes::from(msg))
            .await
            .map_err(backend)
    }

    async fn publish_leave(&self, channel: &str, info: ClientInfo) -> Result<(), EngineError> {
        let r = self.running()?;
        let msg = wire::encode_join_leave(channel, &info, false);
        r.client
            .publish(self.subject(channel), Bytes::from(msg))
            .await
            .map_err(backend)
    }

    async fn publish_control(&self, data: Bytes, node_id: Option<&str>) -> Result<(), EngineError> {
        let r = self.running()?;
        let subject = match node_id {
            Some(id) => format!("{}.node.{id}", self.prefix),
            None => format!("{}.control", self.prefix),
        };
        r.client
            .publish(subject, Bytes::from(wire::encode_control(&data)))
            .await
            .map_err(backend)
    }

    async fn history(
        &self,
        channel: &str,
        opts: &HistoryOptions,
    ) -> Result<HistoryResult, EngineError> {
        self.streams()?.read(channel, opts).await
    }

    async fn remove_history(&self, channel: &str) -> Result<(), EngineError> {
        self.streams()?.remove(channel).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::conformance::{broker_suite, Collector, Delivered};
    use crate::engine::test_services::{nats_url, redis_url};
    use crate::engine::wire::random_epoch;

    async fn broker(nats: &str, redis: &str, prefix: &str) -> NatsBroker {
        let h = RedisHistory::connect(redis, prefix).await.unwrap();
        NatsBroker::new(nats, prefix, &random_epoch(), Some(h))
    }

    #[test]
    fn odd_channel_names_get_safe_subjects() {
        let b = NatsBroker::new("nats://x", "p", "n", None);
        assert_eq!(b.subject("news:1"), "p.client.news:1");
        assert_eq!(b.subject("a.b"), "p.client.a.b");
        for odd in ["a b", "a.*", "x>", "a..b", ".a", ""] {
            assert!(b.subject(odd).starts_with("p.client_b64."), "{odd}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nats_broker_conformance() {
        let (Some(nats), Some(redis)) = (nats_url(), redis_url()) else {
            return;
        };
        let mut brokers = Vec::new();
        for _ in 0..2 {
            brokers.push(broker(&nats, &redis, &format!("test{}", random_epoch())).await);
        }
        let brokers = std::sync::Mutex::new(brokers);
        broker_suite(|| brokers.lock().unwrap().pop().expect("two brokers")).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_nodes_share_delivery_history_and_control() {
        let (Some(nats), Some(redis)) = (nats_url(), redis_url()) else {
            return;
        };
        let prefix = format!("test{}", random_epoch());
        let a = broker(&nats, &redis, &prefix).await;
        let b = broker(&nats, &redis, &prefix).await;
        let (ca, cb) = (
            Arc::new(Collector::default()),
            Arc::new(Collector::default()),
        );
        a.run(ca.clone()).await.unwrap();
        b.run(cb.clone()).await.unwrap();
        b.subscribe(&["ch".into()]).await.unwrap();
        let opts = PublishOptions {
            history_size: 100,
            history_ttl: Duration::from_secs(60),
            history_meta_ttl: Duration::from_secs(60),
        };
        // Both nodes publish into one stream: one offset sequence, B sees it in order.
        for i in 0..20 {
            let from = if i % 2 == 0 { &a } else { &b };
            from.publish(
                "ch",
                Publication {
                    data: Bytes::from(i.to_string()),
                    ..Default::default()
                },
                &opts,
            )
            .await
            .unwrap();
        }
        a.publish_control(Bytes::from_static(b"hello"), None)
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while cb.events.lock().len() < 21 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let ev = cb.events.lock().clone();
        let offsets: Vec<u64> = ev
            .iter()
            .filter_map(|e| match e {
                Delivered::Publication(_, p, _) => Some(p.offset),
                _ => None,
            })
            .collect();
        assert_eq!(offsets, (1..=20).collect::<Vec<_>>());
        assert!(ev.contains(&Delivered::Control(Bytes::from_static(b"hello"))));
        // A's history is B's history.
        let h = a.history("ch", &HistoryOptions::default()).await.unwrap();
        assert_eq!(h.position.offset, 20);
        assert_eq!(h.publications.len(), 20);
        // A publication that never made it to NATS (appended to Redis only) is a gap: B
        // repairs it from history when the next one arrives, in order, once.
        let hist = RedisHistory::connect(&redis, &prefix).await.unwrap();
        hist.append(
            "ch",
            &Publication {
                data: Bytes::from_static(b"lost"),
                ..Default::default()
            },
            &opts,
            None,
        )
        .await
        .unwrap();
        a.publish("ch", Publication::default(), &opts)
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while cb.events.lock().len() < 23 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let ev = cb.events.lock().clone();
        let tail: Vec<(u64, Vec<u8>)> = ev[21..]
            .iter()
            .filter_map(|e| match e {
                Delivered::Publication(_, p, _) => Some((p.offset, p.data.to_vec())),
                _ => None,
            })
            .collect();
        assert_eq!(tail, vec![(21, b"lost".to_vec()), (22, vec![])]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_publication_right_after_subscribe_returns_is_delivered() {
        let (Some(nats), Some(redis)) = (nats_url(), redis_url()) else {
            return;
        };
        let prefix = format!("test{}", random_epoch());
        let a = broker(&nats, &redis, &prefix).await;
        let b = broker(&nats, &redis, &prefix).await;
        crate::engine::conformance::delivered_right_after_subscribe(&a, &b).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_gap_at_the_end_of_the_stream_is_repaired_by_the_position_check() {
        let (Some(nats), Some(redis)) = (nats_url(), redis_url()) else {
            return;
        };
        let prefix = format!("test{}", random_epoch());
        let b = broker(&nats, &redis, &prefix)
            .await
            .with_position_check(Duration::from_millis(100));
        let cb = Arc::new(Collector::default());
        b.run(cb.clone()).await.unwrap();
        b.subscribe(&["ch".into()]).await.unwrap();
        let opts = PublishOptions {
            history_size: 10,
            history_ttl: Duration::from_secs(60),
            history_meta_ttl: Duration::from_secs(60),
        };
        b.publish("ch", Publication::default(), &opts)
            .await
            .unwrap();
        // The last two never make it to NATS and nothing is published after them.
        let hist = RedisHistory::connect(&redis, &prefix).await.unwrap();
        for _ in 0..2 {
            hist.append("ch", &Publication::default(), &opts, None)
                .await
                .unwrap();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while cb.events.lock().len() < 3 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        let offsets: Vec<u64> = cb
            .events
            .lock()
            .iter()
            .filter_map(|e| match e {
                Delivered::Publication(_, p, _) => Some(p.offset),
                _ => None,
            })
            .collect();
        assert_eq!(offsets, vec![1, 2, 3]);
    }

    #[tokio::test]
    async fn without_redis_history_is_not_available() {
        let Some(nats) = nats_url() else { return };
        let b = NatsBroker::new(&nats, &format!("test{}", random_epoch()), "n", None);
        b.run(Arc::new(Collector::default())).await.unwrap();
        assert_eq!(
            b.history("x", &HistoryOptions::default()).await,
            Err(EngineError::NotAvailable)
        );
        let no_hist = b
            .publish("x", Publication::default(), &PublishOptions::default())
            .await
            .unwrap();
        assert_eq!(no_hist.offset, 0);
    }
}
