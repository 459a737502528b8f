//! In-process transport for embedded mode: subscriptions are bounded channels in a shared
//! registry. Like NATS, a subscriber that falls 65 536 messages behind loses messages (the
//! tunnel's credit window keeps it far below that).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::subject_match::matches;
use super::{
    validate_headers, validate_subject, Headers, Message, Subscription, Transport, TransportError,
};

/// Pending messages per subscription before new ones are dropped (NATS's default).
const SUBSCRIPTION_CAPACITY: usize = 65_536;

/// The in-process transport; clones share one registry.
#[derive(Clone, Default)]
pub struct MemoryTransport {
    registry: Arc<Mutex<Registry>>,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    subs: HashMap<u64, Sub>,
    /// Round-robin position per queue group.
    rotation: HashMap<String, usize>,
}

struct Sub {
    pattern: String,
    queue: Option<String>,
    tx: mpsc::Sender<Message>,
}

/// Removes the subscription from the registry when the [`Subscription`] is dropped.
struct Unsubscribe {
    registry: Arc<Mutex<Registry>>,
    id: u64,
}

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        if let Ok(mut r) = self.registry.lock() {
            r.subs.remove(&self.id);
        }
    }
}

impl MemoryTransport {
    /// An empty transport.
    pub fn new() -> Self {
        Self::default()
    }

    fn add(&self, subject: &str, queue: Option<&str>) -> Result<Subscription, TransportError> {
        validate_subject(subject, true)?;
        if let Some(q) = queue {
            validate_queue(q)?;
        }
        let (tx, mut rx) = mpsc::channel(SUBSCRIPTION_CAPACITY);
        let mut r = self
            .registry
            .lock()
            .map_err(|_| TransportError::Subscribe {
                subject: subject.to_owned(),
                reason: "registry poisoned".into(),
            })?;
        r.next_id += 1;
        let id = r.next_id;
        r.subs.insert(
            id,
            Sub {
                pattern: subject.to_owned(),
                queue: queue.map(str::to_owned),
                tx,
            },
        );
        drop(r);
        let guard = Unsubscribe {
            registry: self.registry.clone(),
            id,
        };
        let stream = futures_util::stream::poll_fn(move |cx| {
            let _keep = &guard;
            rx.poll_recv(cx)
        });
        Ok(Subscription::new(stream))
    }
}

fn validate_queue(q: &str) -> Result<(), TransportError> {
    if q.is_empty() || q.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(TransportError::Invalid {
            what: "queue group",
            value: q.to_owned(),
        });
    }
    Ok(())
}

#[async_trait::async_trait]
impl Transport for MemoryTransport {
    async fn publish(
        &self,
        subject: &str,
        headers: Headers,
        payload: Bytes,
    ) -> Result<(), TransportError> {
        validate_subject(subject, false)?;
        validate_headers(&headers)?;
        let targets: Vec<mpsc::Sender<Message>> = {
            let mut r = self.registry.lock().map_err(|_| TransportError::Publish {
                subject: subject.to_owned(),
                reason: "registry poisoned".into(),
            })?;
            let mut plain = Vec::new();
            let mut groups: HashMap<String, Vec<(u64, mpsc::Sender<Message>)>> = HashMap::new();
            for (id, s) in &r.subs {
                if !matches(&s.pattern, subject) {
                    continue;
                }
                match &s.queue {
                    None => plain.push(s.tx.clone()),
                    Some(q) => groups
                        .entry(q.clone())
                        .or_default()
                        .push((*id, s.tx.clone())),
                }
            }
            for (q, mut members) in groups {
                members.sort_by_key(|(id, _)| *id);
                let turn = r.rotation.entry(q).or_insert(0);
                let pick = *turn % members.len();
                *turn = turn.wrapping_add(1);
                plain.push(members.swap_remove(pick).1);
            }
            plain
        };
        let msg = Message {
            subject: subject.to_owned(),
            headers,
            payload,
        };
        for tx in targets {
            if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(msg.clone()) {
                tracing::warn!(subject, "in-process subscriber is full: message dropped");
            }
        }
        Ok(())
    }

    async fn subscribe(&self, subject: &str) -> Result<Subscription, TransportError> {
        self.add(subject, None)
    }

    async fn queue_subscribe(
        &self,
        subject: &str,
        queue: &str,
    ) -> Result<Subscription, TransportError> {
        self.add(subject, Some(queue))
    }

    async fn flush(&self) -> Result<(), TransportError> {
        // Delivery is synchronous with `publish`: nothing is ever in flight.
        Ok(())
    }
}
