//! Single-node broker: delivers straight to the handler and keeps history streams in memory.

use super::{
    Broker, BrokerEventHandler, ClientInfo, EngineError, HistoryOptions, HistoryResult,
    Publication, PublishOptions, StreamPosition,
};
use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use rand::Rng;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

const SHARDS: usize = 16;

/// In-memory [`Broker`].
pub struct MemoryBroker {
    handler: OnceLock<Arc<dyn BrokerEventHandler>>,
    subscribed: Vec<RwLock<HashSet<String>>>,
    streams: Vec<Mutex<HashMap<String, Arc<Mutex<Stream>>>>>,
}

struct Stream {
    epoch: String,
    top: u64,
    items: VecDeque<Publication>,
    data_expires: Option<Instant>,
    meta_expires: Option<Instant>,
}

impl Stream {
    fn new(meta_ttl: Duration) -> Self {
        let now = Instant::now();
        Stream {
            epoch: random_epoch(),
            top: 0,
            items: VecDeque::new(),
            data_expires: None,
            meta_expires: (!meta_ttl.is_zero()).then(|| now + meta_ttl),
        }
    }

    /// Applies TTLs: expired meta recreates the stream, expired data drops the items.
    fn refresh(&mut self, now: Instant, meta_ttl: Duration) {
        if self.meta_expires.is_some_and(|t| t <= now) {
            *self = Stream::new(meta_ttl);
        }
        if self.data_expires.is_some_and(|t| t <= now) {
            self.items.clear();
            self.data_expires = None;
        }
    }

    fn position(&self) -> StreamPosition {
        StreamPosition {
            offset: self.top,
            epoch: self.epoch.clone(),
        }
    }
}

/// 8 random ASCII letters, like Centrifuge's memory engine.
fn random_epoch() -> String {
    let mut rng = rand::rng();
    (0..8)
        .map(|_| rng.sample(rand::distr::Alphabetic) as char)
        .collect()
}

fn shard_of(channel: &str) -> usize {
    // FNV-1a: cheap and good enough to spread channel names.
    let mut h: u32 = 0x811c9dc5;
    for b in channel.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x01000193);
    }
    h as usize % SHARDS
}

impl Default for MemoryBroker {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBroker {
    /// Creates an idle broker; call [`Broker::run`] to start delivery.
    pub fn new() -> Self {
        MemoryBroker {
            handler: OnceLock::new(),
            subscribed: (0..SHARDS).map(|_| RwLock::new(HashSet::new())).collect(),
            streams: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// Starts delivery synchronously (same as [`Broker::run`]).
    pub fn start(&self, handler: Arc<dyn BrokerEventHandler>) -> Result<(), EngineError> {
        self.handler
            .set(handler)
            .map_err(|_| EngineError::Backend("broker already running".into()))
    }

    fn handler(&self) -> Result<&Arc<dyn BrokerEventHandler>, EngineError> {
        self.handler.get().ok_or(EngineError::NotRunning)
    }

    fn is_subscribed(&self, channel: &str) -> bool {
        self.subscribed[shard_of(channel)].read().contains(channel)
    }

    fn stream(&self, channel: &str, meta_ttl: Duration) -> Arc<Mutex<Stream>> {
        let mut shard = self.streams[shard_of(channel)].lock();
        shard
            .entry(channel.to_string())
            .or_insert_with(|| Arc::new(Mutex::new(Stream::new(meta_ttl))))
            .clone()
    }

    /// Drops streams whose meta TTL passed (called periodically).
    pub fn remove_expired(&self) {
        let now = Instant::now();
        for shard in &self.streams {
            shard.lock().retain(|_, s| {
                let mut s = s.lock();
                if s.data_expires.is_some_and(|t| t <= now) {
                    s.items.clear();
                    s.data_expires = None;
                }
                s.meta_expires.is_none_or(|t| t > now)
            });
        }
    }
}

#[async_trait]
impl Broker for MemoryBroker {
    async fn run(&self, handler: Arc<dyn BrokerEventHandler>) -> Result<(), EngineError> {
        self.start(handler)
    }

    async fn subscribe(&self, channels: &[String]) -> Result<(), EngineError> {
        for ch in channels {
            self.subscribed[shard_of(ch)].write().insert(ch.clone());
        }
        Ok(())
    }

    async fn unsubscribe(&self, channels: &[String]) -> Result<(), EngineError> {
        for ch in channels {
            self.subscribed[shard_of(ch)].write().remove(ch);
        }
        Ok(())
    }

    async fn publish(
        &self,
        channel: &str,
        mut publication: Publication,
        opts: &PublishOptions,
    ) -> Result<StreamPosition, EngineError> {
        let handler = self.handler()?;
        if !opts.uses_history() {
            if self.is_subscribed(channel) {
                handler.handle_publication(channel, publication, StreamPosition::default());
            }
            return Ok(StreamPosition::default());
        }
        let stream = self.stream(channel, opts.history_meta_ttl);
        let mut s = stream.lock();
        let now = Instant::now();
        s.refresh(now, opts.history_meta_ttl);
        s.top += 1;
        publication.offset = s.top;
        s.items.push_back(publication.clone());
        while s.items.len() > opts.history_size {
            s.items.pop_front();
        }
        s.data_expires = Some(now + opts.history_ttl);
        if !opts.history_meta_ttl.is_zero() {
            s.meta_expires = Some(now + opts.history_meta_ttl);
        }
        let position = s.position();
        // Delivered under the stream lock so subscribers see offsets in order.
        if self.is_subscribed(channel) {
            handler.handle_publication(channel, publication, position.clone());
        }
        Ok(position)
    }

    async fn publish_join(&self, channel: &str, info: ClientInfo) -> Result<(), EngineError> {
        let handler = self.handler()?;
        if self.is_subscribed(channel) {
            handler.handle_join(channel, info);
        }
        Ok(())
    }

    async fn publish_leave(&self, channel: &str, info: ClientInfo) -> Result<(), EngineError> {
        let handler = self.handler()?;
        if self.is_subscribed(channel) {
            handler.handle_leave(channel, info);
        }
        Ok(())
    }

    async fn publish_control(
        &self,
        data: Bytes,
        _node_id: Option<&str>,
    ) -> Result<(), EngineError> {
        // A single node: every control message is ours.
        self.handler()?.handle_control(data);
        Ok(())
    }

    async fn history(
        &self,
        channel: &str,
        opts: &HistoryOptions,
    ) -> Result<HistoryResult, EngineError> {
        let stream = self.stream(channel, opts.meta_ttl);
        let mut s = stream.lock();
        s.refresh(Instant::now(), opts.meta_ttl);
        let position = s.position();
        if let Some(since) = &opts.since {
            if !since.epoch.is_empty() && since.epoch != s.epoch {
                return Err(EngineError::UnrecoverablePosition);
            }
        }
        let limit = opts.limit.unwrap_or(usize::MAX);
        if limit == 0 {
            return Ok(HistoryResult {
                publications: Vec::new(),
                position,
            });
        }
        let publications: Vec<Publication> = match (&opts.since, opts.reverse) {
            (None, false) => s.items.iter().take(limit).cloned().collect(),
            (None, true) => s.items.iter().rev().take(limit).cloned().collect(),
            (Some(since), false) => s
                .items
                .iter()
                .filter(|p| p.offset > since.offset)
                .take(limit)
                .cloned()
                .collect(),
            (Some(since), true) => s
                .items
                .iter()
                .rev()
                .filter(|p| p.offset < since.offset)
                .take(limit)
                .cloned()
                .collect(),
        };
        Ok(HistoryResult {
            publications,
            position,
        })
    }

    async fn remove_history(&self, channel: &str) -> Result<(), EngineError> {
        let shard = self.streams[shard_of(channel)].lock();
        if let Some(s) = shard.get(channel) {
            s.lock().items.clear();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_broker_conformance() {
        super::super::conformance::broker_suite(MemoryBroker::new).await;
    }

    #[test]
    fn epoch_is_eight_letters() {
        let e = random_epoch();
        assert_eq!(e.len(), 8);
        assert!(e.chars().all(|c| c.is_ascii_alphabetic()));
        assert_ne!(e, random_epoch());
    }

    #[tokio::test]
    async fn meta_ttl_recreates_the_stream() {
        let b = MemoryBroker::new();
        b.run(Arc::new(super::super::conformance::Collector::default()))
            .await
            .unwrap();
        let opts = PublishOptions {
            history_size: 10,
            history_ttl: Duration::from_millis(20),
            history_meta_ttl: Duration::from_millis(40),
        };
        let p1 = b.publish("a", Publication::default(), &opts).await.unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        b.remove_expired();
        let p2 = b.publish("a", Publication::default(), &opts).await.unwrap();
        assert_eq!(p2.offset, 1);
        assert_ne!(p1.epoch, p2.epoch);
    }
}
