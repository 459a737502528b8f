//! Redis broker, Centrifugo's default distributed engine: Redis pub/sub between beacons
//! (`<prefix>.client.<channel>`, `<prefix>.control`, `<prefix>.node.<id>`) and history streams
//! in the same Redis. A publication with history is allocated, appended and PUBLISHed by one
//! Lua script, so pub/sub order is offset order. The pub/sub connection is re-established (and
//! every channel re-subscribed) when it drops; what was missed meanwhile is repaired from
//! history when the next publication shows the gap.

use super::ordering;
use super::redis_history::RedisHistory;
use super::redis_presence::backend;
use super::wire::{self, NodeMessage};
use super::{
    Broker, BrokerEventHandler, ClientInfo, EngineError, HistoryOptions, HistoryResult,
    Publication, PublishOptions, StreamPosition,
};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use parking_lot::Mutex;
use redis::aio::{ConnectionManager, PubSubSink};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::task::JoinHandle;

/// A Redis-backed [`Broker`].
pub struct RedisBroker {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
    node_id: String,
    history: RedisHistory,
    position_check: Duration,
    running: OnceLock<Running>,
}

#[derive(Default)]
struct Subs {
    /// Redis channel names this node wants.
    wanted: HashSet<String>,
    /// The live pub/sub connection's command half (None while reconnecting).
    sink: Option<PubSubSink>,
}

struct Running {
    subs: Arc<Mutex<Subs>>,
    /// Last delivered position per channel (receive-side ordering).
    last: Arc<Mutex<HashMap<String, StreamPosition>>>,
    task: JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RedisBroker {
    /// Connects to `url`; keys and pub/sub channels start with `prefix`; `node_id` names this
    /// node's control channel.
    pub async fn connect(url: &str, prefix: &str, node_id: &str) -> Result<Self, EngineError> {
        Ok(RedisBroker {
            client: redis::Client::open(url).map_err(backend)?,
            conn: super::redis_presence::connect(url).await?,
            prefix: prefix.to_string(),
            node_id: node_id.to_string(),
            history: RedisHistory::connect(url, prefix).await?,
            position_check: ordering::POSITION_CHECK,
            running: OnceLock::new(),
        })
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

    fn redis_channel(&self, channel: &str) -> String {
        format!("{}.client.{channel}", self.prefix)
    }

    async fn publish_raw(&self, redis_channel: String, msg: Vec<u8>) -> Result<(), EngineError> {
        self.running()?;
        let mut conn = self.conn.clone();
        let _: i64 = redis::cmd("PUBLISH")
            .arg(redis_channel)
            .arg(msg)
            .query_async(&mut conn)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

/// Keeps a pub/sub connection up and delivers what arrives on it, forever.
async fn pubsub_loop(
    client: redis::Client,
    subs: Arc<Mutex<Subs>>,
    last: Arc<Mutex<HashMap<String, StreamPosition>>>,
    history: RedisHistory,
    handler: Arc<dyn BrokerEventHandler>,
    ready: tokio::sync::oneshot::Sender<Result<(), EngineError>>,
    position_check: Duration,
) {
    let mut ready = Some(ready);
    let mut backoff = Duration::from_millis(100);
    loop {
        let (sink, mut stream) = match client.get_async_pubsub().await {
            Ok(ps) => ps.split(),
            Err(e) => {
                if let Some(r) = ready.take() {
                    let _ = r.send(Err(backend(e)));
                    return;
                }
                tracing::warn!(error = %e, "redis pub/sub connect failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        // Store the sink first, then subscribe to a snapshot: a concurrent `subscribe` either
        // is in the snapshot or finds the sink and subscribes itself.
        let wanted: Vec<String> = {
            let mut s = subs.lock();
            s.sink = Some(sink.clone());
            s.wanted.iter().cloned().collect()
        };
        let mut sink2 = sink.clone();
        let resubscribed = if wanted.is_empty() {
            Ok(())
        } else {
            sink2.subscribe(&wanted).await
        };
        if let Err(e) = resubscribed {
            tracing::warn!(error = %e, "redis re-subscribe failed; reconnecting");
            subs.lock().sink = None;
            tokio::time::sleep(backoff).await;
            continue;
        }
        if let Some(r) = ready.take() {
            let _ = r.send(Ok(()));
        } else {
            tracing::info!(channels = wanted.len(), "redis pub/sub reconnected");
        }
        backoff = Duration::from_millis(100);
        let mut check = tokio::time::interval(position_check);
        check.tick().await;
        loop {
            let msg = tokio::select! {
                m = stream.next() => match m {
                    Some(m) => m,
                    None => break,
                },
                _ = check.tick() => {
                    let channels: Vec<String> = last.lock().keys().cloned().collect();
                    for ch in channels {
                        let mut l = last.lock().get(&ch).cloned();
                        ordering::catch_up(&mut l, &history, &*handler, &ch).await;
                        let mut map = last.lock();
                        // Unsubscribed meanwhile: forget it.
                        if let (Some(l), Some(slot)) = (l, map.get_mut(&ch)) {
                            *slot = l;
                        }
                    }
                    continue;
                }
            };
            match wire::decode(msg.get_payload_bytes()) {
                Ok(NodeMessage::Publication(ch, p, pos)) => {
                    let mut l = last.lock().get(&ch).cloned();
                    ordering::deliver(&mut l, Some(&history), &*handler, &ch, p, pos).await;
                    if let Some(l) = l {
                        last.lock().insert(ch, l);
                    }
                }
                Ok(NodeMessage::Join(ch, info)) => handler.handle_join(&ch, info),
                Ok(NodeMessage::Leave(ch, info)) => handler.handle_leave(&ch, info),
                Ok(NodeMessage::Control(data)) => handler.handle_control(data),
                Err(e) => {
                    tracing::warn!(channel = msg.get_channel_name(), error = %e, "dropped redis message")
                }
            }
        }
        subs.lock().sink = None;
        tracing::warn!("redis pub/sub connection lost; reconnecting");
        tokio::time::sleep(backoff).await;
    }
}

#[async_trait]
impl Broker for RedisBroker {
    async fn run(&self, handler: Arc<dyn BrokerEventHandler>) -> Result<(), EngineError> {
        let subs = Arc::new(Mutex::new(Subs::default()));
        subs.lock().wanted.extend([
            format!("{}.control", self.prefix),
            format!("{}.node.{}", self.prefix, self.node_id),
        ]);
        let last = Arc::new(Mutex::new(HashMap::new()));
        let (tx, rx) = tokio::sync::oneshot::channel();
        // Every message already received is delivered in one poll, waking each subscriber once
        // for all of them.
        let task = tokio::spawn(crate::wake::with_deferred_wakes(pubsub_loop(
            self.client.clone(),
            subs.clone(),
            last.clone(),
            self.history.clone(),
            handler,
            tx,
            self.position_check,
        )));
        rx.await
            .map_err(|_| EngineError::Backend("redis pub/sub task ended".into()))??;
        self.running
            .set(Running { subs, last, task })
            .map_err(|_| EngineError::Backend("broker already running".into()))
    }

    async fn subscribe(&self, channels: &[String]) -> Result<(), EngineError> {
        let r = self.running()?;
        let names: Vec<String> = channels.iter().map(|c| self.redis_channel(c)).collect();
        let sink = {
            let mut s = r.subs.lock();
            s.wanted.extend(names.iter().cloned());
            s.sink.clone()
        };
        // Without a sink the reconnect loop subscribes everything wanted.
        if let Some(mut sink) = sink {
            sink.subscribe(&names).await.map_err(backend)?;
        }
        Ok(())
    }

    async fn unsubscribe(&self, channels: &[String]) -> Result<(), EngineError> {
        let r = self.running()?;
        let names: Vec<String> = channels.iter().map(|c| self.redis_channel(c)).collect();
        let sink = {
            let mut s = r.subs.lock();
            for n in &names {
                s.wanted.remove(n);
            }
            s.sink.clone()
        };
        {
            let mut last = r.last.lock();
            for c in channels {
                last.remove(c);
            }
        }
        if let Some(mut sink) = sink {
            sink.unsubscribe(&names).await.map_err(backend)?;
        }
        Ok(())
    }

    async fn publish(
        &self,
        channel: &str,
        publication: Publication,
        opts: &PublishOptions,
    ) -> Result<StreamPosition, EngineError> {
        self.running()?;
        if opts.uses_history() {
            let rc = self.redis_channel(channel);
            return self
                .history
                .append(channel, &publication, opts, Some(&rc))
                .await;
        }
        let position = StreamPosition::default();
        let msg = wire::encode_publication(channel, &publication, &position);
        self.publish_raw(self.redis_channel(channel), msg).await?;
        Ok(position)
    }

    async fn publish_join(&self, channel: &str, info: ClientInfo) -> Result<(), EngineError> {
        let msg = wire::encode_join_leave(channel, &info, true);
        self.publish_raw(self.redis_channel(channel), msg).await
    }

    async fn publish_leave(&self, channel: &str, info: ClientInfo) -> Result<(), EngineError> {
        let msg = wire::encode_join_leave(channel, &info, false);
        self.publish_raw(self.redis_channel(channel), msg).await
    }

    async fn publish_control(&self, data: Bytes, node_id: Option<&str>) -> Result<(), EngineError> {
        let target = match node_id {
            Some(id) => format!("{}.node.{id}", self.prefix),
            None => format!("{}.control", self.prefix),
        };
        self.publish_raw(target, wire::encode_control(&data)).await
    }

    async fn history(
        &self,
        channel: &str,
        opts: &HistoryOptions,
    ) -> Result<HistoryResult, EngineError> {
        self.history.read(channel, opts).await
    }

    async fn remove_history(&self, channel: &str) -> Result<(), EngineError> {
        self.history.remove(channel).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::conformance::{broker_suite, Collector, Delivered};
    use crate::engine::test_services::redis_url;
    use crate::engine::wire::random_epoch;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_broker_conformance() {
        let Some(url) = redis_url() else { return };
        let mut brokers = Vec::new();
        for _ in 0..2 {
            let prefix = format!("test{}", random_epoch());
            brokers.push(RedisBroker::connect(&url, &prefix, "n").await.unwrap());
        }
        let brokers = std::sync::Mutex::new(brokers);
        broker_suite(|| brokers.lock().unwrap().pop().expect("two brokers")).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_publication_right_after_subscribe_returns_is_delivered() {
        let Some(url) = redis_url() else { return };
        let prefix = format!("test{}", random_epoch());
        let a = RedisBroker::connect(&url, &prefix, "node-a").await.unwrap();
        let b = RedisBroker::connect(&url, &prefix, "node-b").await.unwrap();
        crate::engine::conformance::delivered_right_after_subscribe(&a, &b).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_nodes_one_stream_and_targeted_control() {
        let Some(url) = redis_url() else { return };
        let prefix = format!("test{}", random_epoch());
        let a = RedisBroker::connect(&url, &prefix, "node-a").await.unwrap();
        let b = RedisBroker::connect(&url, &prefix, "node-b").await.unwrap();
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
        for i in 0..10 {
            a.publish(
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
        a.publish_control(Bytes::from_static(b"to-b"), Some("node-b"))
            .await
            .unwrap();
        a.publish_control(Bytes::from_static(b"to-a"), Some("node-a"))
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while cb.events.lock().len() < 11 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let ev = cb.events.lock().clone();
        let offsets: Vec<u64> = ev
            .iter()
            .filter_map(|e| match e {
                Delivered::Publication(_, p, _) => Some(p.offset),
                _ => None,
            })
            .collect();
        assert_eq!(offsets, (1..=10).collect::<Vec<_>>());
        assert!(ev.contains(&Delivered::Control(Bytes::from_static(b"to-b"))));
        assert!(!ev.contains(&Delivered::Control(Bytes::from_static(b"to-a"))));
        assert_eq!(
            *ca.events.lock(),
            vec![Delivered::Control(Bytes::from_static(b"to-a"))]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn missed_pubsub_messages_are_repaired_in_order() {
        let Some(url) = redis_url() else { return };
        let prefix = format!("test{}", random_epoch());
        let b = RedisBroker::connect(&url, &prefix, "n")
            .await
            .unwrap()
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
        // Appended without PUBLISH: what a subscriber misses while pub/sub reconnects.
        let hist = RedisHistory::connect(&url, &prefix).await.unwrap();
        hist.append("ch", &Publication::default(), &opts, None)
            .await
            .unwrap();
        // A gap in the middle is repaired by the next publication, one at the end by the
        // periodic position check.
        b.publish("ch", Publication::default(), &opts)
            .await
            .unwrap();
        hist.append("ch", &Publication::default(), &opts, None)
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while cb.events.lock().len() < 4 && tokio::time::Instant::now() < deadline {
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
        assert_eq!(offsets, vec![1, 2, 3, 4]);
    }
}
