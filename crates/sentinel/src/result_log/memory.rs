//! The in-process result log: a queue inside the sentinel, for one sentinel per grid. Not
//! durable, so the node API stores each result before appending it and a restart rebuilds the
//! projector from the store. Its dedup window is the backlog: a result id is remembered until
//! its entry is acknowledged, so memory stays bounded by what the projector has not done yet.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::domain::{ChunkIndex, Fence, JobId};

use super::{Acker, Delivery, LogEntry, LogError, LogSubscription, ResultLog};

/// The in-process implementation of [`ResultLog`].
#[derive(Clone, Default)]
pub struct InProcessLog {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    ready: Notify,
}

#[derive(Default)]
struct State {
    next_seq: u64,
    /// Appended, not yet delivered, in order.
    queue: VecDeque<(u64, LogEntry)>,
    /// Delivered, not yet acknowledged: handed to the next subscription again.
    unacked: BTreeMap<u64, LogEntry>,
    /// Message ids of the entries not yet acknowledged, with their sequence numbers.
    known: HashMap<(JobId, ChunkIndex, Fence), u64>,
    subscribed: bool,
}

impl InProcessLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl ResultLog for InProcessLog {
    async fn append(&self, entry: LogEntry) -> Result<(), LogError> {
        let mut st = self.shared.state.lock();
        let seq = st.next_seq;
        if let Some(id) = entry.result_key() {
            if st.known.contains_key(&id) {
                return Ok(());
            }
            st.known.insert(id, seq);
        }
        st.next_seq += 1;
        st.queue.push_back((seq, entry));
        drop(st);
        self.shared.ready.notify_one();
        Ok(())
    }

    async fn subscribe(&self) -> Result<Box<dyn LogSubscription>, LogError> {
        let mut st = self.shared.state.lock();
        if st.subscribed {
            return Err(LogError::Busy);
        }
        st.subscribed = true;
        // Unacknowledged entries come first again, in their original order.
        let unacked = std::mem::take(&mut st.unacked);
        for (seq, e) in unacked.into_iter().rev() {
            st.queue.push_front((seq, e));
        }
        Ok(Box::new(Subscription {
            shared: self.shared.clone(),
        }))
    }

    fn durable(&self) -> bool {
        false
    }
}

struct Subscription {
    shared: Arc<Shared>,
}

impl Subscription {
    fn take(&self) -> Option<Delivery> {
        let mut st = self.shared.state.lock();
        let (seq, entry) = st.queue.pop_front()?;
        st.unacked.insert(seq, entry.clone());
        Some(Delivery::new(
            entry,
            MemoryAck {
                shared: self.shared.clone(),
                seq,
            },
        ))
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.shared.state.lock().subscribed = false;
    }
}

#[async_trait]
impl LogSubscription for Subscription {
    async fn next(&mut self) -> Result<Delivery, LogError> {
        loop {
            if let Some(d) = self.take() {
                return Ok(d);
            }
            // `notify_one` stores a permit when nobody waits, so an append between the check
            // above and this wait is not missed.
            self.shared.ready.notified().await;
        }
    }

    async fn try_next(&mut self) -> Result<Option<Delivery>, LogError> {
        Ok(self.take())
    }
}

struct MemoryAck {
    shared: Arc<Shared>,
    seq: u64,
}

#[async_trait]
impl Acker for MemoryAck {
    async fn ack(self: Box<Self>) -> Result<(), LogError> {
        let mut st = self.shared.state.lock();
        if let Some(id) = st.unacked.remove(&self.seq).and_then(|e| e.result_key()) {
            if st.known.get(&id) == Some(&self.seq) {
                st.known.remove(&id);
            }
        }
        Ok(())
    }

    async fn nak(self: Box<Self>) -> Result<(), LogError> {
        let mut st = self.shared.state.lock();
        if let Some(e) = st.unacked.remove(&self.seq) {
            st.queue.push_back((self.seq, e));
            drop(st);
            self.shared.ready.notify_one();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_process_log_passes_conformance() {
        super::super::conformance::run_all(|| async { InProcessLog::new() }).await;
    }

    #[tokio::test]
    async fn ids_are_forgotten_once_acknowledged() {
        let log = InProcessLog::new();
        let e = LogEntry::Result {
            job: crate::domain::JobId::new(),
            chunk: crate::domain::ChunkIndex(0),
            fence: crate::domain::Fence(1),
            bytes: vec![1],
            node: None,
        };
        log.append(e.clone()).await.unwrap();
        let mut sub = log.subscribe().await.unwrap();
        sub.next().await.unwrap().ack().await.unwrap();
        assert!(log.shared.state.lock().known.is_empty());
        // Acknowledged and forgotten: the same id is a new entry again (the projector dedups).
        log.append(e.clone()).await.unwrap();
        assert_eq!(sub.next().await.unwrap().entry, e);
    }

    #[tokio::test]
    async fn one_subscription_at_a_time() {
        let log = InProcessLog::new();
        let sub = log.subscribe().await.unwrap();
        assert!(matches!(log.subscribe().await, Err(LogError::Busy)));
        drop(sub);
        assert!(log.subscribe().await.is_ok());
    }
}
