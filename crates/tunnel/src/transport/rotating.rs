//! Core NATS over a connection that can be replaced without losing what is in flight
//! (make-before-break). A NATS connection keeps the credentials it connected with, so
//! short-lived credentials need a new connection every lifetime. Reconnecting in place loses
//! whatever the server routes to this client while its subscriptions are gone, and whatever
//! the old socket still held. [`RotatingTransport::rotate`] instead subscribes on the new
//! connection first, moves publishing over once the old connection's publishes have reached
//! the server (one round trip), and only then drains the old connection.
//!
//! While both connections are subscribed, the server routes a message to both. So each
//! subscription remembers what it delivered from the old connection once a rotation began,
//! reads the old one to its end, and then drops the new connection's first messages while
//! they are among those: a plain subscription loses, repeats and reorders nothing.
//!
//! A queue subscription gets each message on one of the two connections, so it has nothing
//! to drop, but across the change its messages may come out of order, and a message routed
//! to the old connection in the instant it is drained can be lost: async-nats forgets a
//! draining subscription without waiting for the server's confirmation. That is core NATS's
//! at-most-once delivery; the tunnel's only queue subscription carries request starts, which
//! a client publishes again until they are acknowledged.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{mpsc, Mutex, RwLock};

use super::nats::{echo_flush, from_nats, publish_on, subscribe_on, FLUSH_TIMEOUT};
use super::{validate_subject, Headers, Message, Subscription, Transport, TransportError};

/// Most messages a subscription remembers from its old connection during a rotation. The
/// overlap lasts about one round trip: a few frames of a tunnel stream.
const OVERLAP_MEMORY: usize = 1024;

/// Longest wait for the old connection's publishes to reach the server while publishing is
/// held: a connection that is down meanwhile has lost them anyway.
const OLD_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// A transport over one NATS connection at a time (see the module documentation).
#[derive(Clone)]
pub struct RotatingTransport {
    inner: Arc<Inner>,
}

struct Inner {
    /// The connection publishes go to. A rotation holds it exclusively while it waits for the
    /// old connection's publishes to reach the server, so they stay ahead of the new one's.
    current: RwLock<async_nats::Client>,
    /// Live subscriptions, made again on the next connection at each rotation. Held through
    /// a rotation, so no subscription is made on a connection that is being left.
    subs: Mutex<Vec<Registered>>,
    /// Rotations begun.
    rotations: Arc<AtomicU64>,
}

/// A rotation in progress: counted as begun until it fails or is dropped half-way (then the
/// subscriptions stop remembering what they deliver).
struct Begun<'a> {
    rotations: &'a AtomicU64,
    done: bool,
}

impl<'a> Begun<'a> {
    fn new(rotations: &'a AtomicU64) -> Self {
        rotations.fetch_add(1, Ordering::SeqCst);
        Self {
            rotations,
            done: false,
        }
    }

    /// Every subscription has its successor: the rotation counts for good.
    fn commit(mut self) {
        self.done = true;
    }
}

impl Drop for Begun<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.rotations.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// A subscription as the rotation sees it.
struct Registered {
    subject: String,
    queue: Option<String>,
    /// Where the subscription on the next connection goes (closed: the subscriber is gone).
    next: mpsc::UnboundedSender<async_nats::Subscriber>,
}

impl RotatingTransport {
    /// Starts on `client` (its credentials and options are the caller's).
    pub fn new(client: async_nats::Client) -> Self {
        Self {
            inner: Arc::new(Inner {
                current: RwLock::new(client),
                subs: Mutex::new(Vec::new()),
                rotations: Arc::new(AtomicU64::new(0)),
            }),
        }
    }

    /// The connection in use.
    pub async fn client(&self) -> async_nats::Client {
        self.inner.current.read().await.clone()
    }

    /// Moves every subscription and all publishing onto `next`, then drains the old
    /// connection. On an error nothing moved, and `next` is the caller's to drop.
    pub async fn rotate(&self, next: async_nats::Client) -> Result<(), TransportError> {
        let mut subs = self.inner.subs.lock().await;
        subs.retain(|r| !r.next.is_closed());
        // From here on, what a subscription delivers may reach it again on `next`.
        let begun = Begun::new(&self.inner.rotations);
        let made = async {
            let mut made = Vec::with_capacity(subs.len());
            for r in subs.iter() {
                made.push(subscribe_on(&next, &r.subject, r.queue.as_deref()).await?);
            }
            // The server holds the new subscriptions before the old ones go.
            echo_flush(&next, FLUSH_TIMEOUT).await?;
            Ok::<_, TransportError>(made)
        }
        .await;
        let made = made?;
        let old = {
            let mut current = self.inner.current.write().await;
            // Publishes wait meanwhile: what the old connection sent is processed before
            // anything sent on the new one.
            if let Err(e) = echo_flush(&current, OLD_FLUSH_TIMEOUT).await {
                tracing::warn!(error = %e, "old tunnel connection not flushed before moving on");
            }
            std::mem::replace(&mut *current, next)
        };
        for (r, sub) in subs.iter().zip(made) {
            // A subscriber that left meanwhile drops it, which unsubscribes.
            let _ = r.next.send(sub);
        }
        begun.commit();
        drop(subs);
        // Unsubscribes at the server, delivers what it sent before, then closes: each
        // subscription reads its old connection to the end and moves on.
        if let Err(e) = old.drain().await {
            tracing::warn!(error = %e, "old tunnel connection not drained");
        }
        Ok(())
    }

    async fn add(
        &self,
        subject: &str,
        queue: Option<&str>,
    ) -> Result<Subscription, TransportError> {
        validate_subject(subject, true)?;
        let mut subs = self.inner.subs.lock().await;
        subs.retain(|r| !r.next.is_closed());
        let client = self.inner.current.read().await.clone();
        let sub = subscribe_on(&client, subject, queue).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        subs.push(Registered {
            subject: subject.to_owned(),
            queue: queue.map(str::to_owned),
            next: tx,
        });
        let feed = Feed {
            current: sub,
            next: rx,
            rotations: self.inner.rotations.clone(),
            epoch: self.inner.rotations.load(Ordering::SeqCst),
            recent: VecDeque::new(),
            skipping: false,
        };
        Ok(Subscription::new(futures_util::stream::unfold(
            feed,
            |mut feed| async move {
                let m = feed.next().await?;
                Some((m, feed))
            },
        )))
    }
}

/// One subscription across rotations.
struct Feed {
    current: async_nats::Subscriber,
    /// The subscriptions on the connections rotated to, in order.
    next: mpsc::UnboundedReceiver<async_nats::Subscriber>,
    rotations: Arc<AtomicU64>,
    /// Rotations begun before `current` was made.
    epoch: u64,
    /// What `current` delivered since a rotation began (at most [`OVERLAP_MEMORY`]).
    recent: VecDeque<Message>,
    /// Just moved on: dropping messages while they are in `recent`.
    skipping: bool,
}

impl Feed {
    async fn next(&mut self) -> Option<Message> {
        loop {
            let Some(m) = self.current.next().await else {
                // Drained by a rotation: its next subscription is queued. None: the transport
                // is gone.
                self.current = self.next.recv().await?;
                self.epoch += 1;
                self.skipping = true;
                continue;
            };
            let m = from_nats(m);
            if self.skipping {
                if self.recent.contains(&m) {
                    continue;
                }
                self.skipping = false;
                self.recent.clear();
            }
            if self.rotations.load(Ordering::SeqCst) > self.epoch {
                if self.recent.len() == OVERLAP_MEMORY {
                    self.recent.pop_front();
                }
                self.recent.push_back(m.clone());
            } else if !self.recent.is_empty() {
                self.recent.clear();
            }
            return Some(m);
        }
    }
}

#[async_trait::async_trait]
impl Transport for RotatingTransport {
    async fn publish(
        &self,
        subject: &str,
        headers: Headers,
        payload: Bytes,
    ) -> Result<(), TransportError> {
        let client = self.inner.current.read().await;
        publish_on(&client, subject, headers, payload).await
    }

    async fn subscribe(&self, subject: &str) -> Result<Subscription, TransportError> {
        self.add(subject, None).await
    }

    async fn queue_subscribe(
        &self,
        subject: &str,
        queue: &str,
    ) -> Result<Subscription, TransportError> {
        self.add(subject, Some(queue)).await
    }

    async fn flush(&self) -> Result<(), TransportError> {
        // Held through the round trip: a rotation meanwhile would drain this connection.
        let client = self.inner.current.read().await;
        echo_flush(&client, FLUSH_TIMEOUT).await
    }
}
