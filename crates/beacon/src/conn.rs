//! The shared half of a connection: identity and the bounded outgoing queue that the hub,
//! the HTTP API and the session itself push into, drained by the connection's own task.

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use wowlab_protocol::codec::Protocol;

/// A request from outside the session task (HTTP API, shutdown) for the session to act on.
#[derive(Debug, Clone)]
pub(crate) enum Control {
    /// Close with this code and reason.
    Disconnect(u32, String),
    /// Server-side subscribe (API `subscribe`).
    Subscribe(Box<ServerSubscribe>),
    /// Server unsubscribe with code 2000.
    Unsubscribe(String),
    /// The channel's stream has a gap this connection cannot bridge: recover (2500 / 3010).
    InsufficientState(String),
    /// API refresh: new expiry (None: never) and optional new info.
    Refresh {
        expired: bool,
        expire_at: Option<i64>,
        info: Option<Bytes>,
    },
}

/// Parameters of an API-initiated subscription.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServerSubscribe {
    pub channel: String,
    pub info: Option<Bytes>,
    pub data: Option<Bytes>,
    pub expire_at: Option<i64>,
    pub recover_since: Option<crate::engine::StreamPosition>,
}

/// One queued item: encoded bytes for the wire, or a control request.
#[derive(Debug)]
pub(crate) enum Item {
    Data(Bytes),
    Control(Control),
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Item>,
    bytes: usize,
}

/// Shared connection state.
pub(crate) struct ConnShared {
    /// Client id (UUID v4), fixed for the life of the connection.
    pub client: String,
    /// Wire flavour.
    pub protocol: Protocol,
    /// User id, set once the connect command succeeds.
    pub user: Mutex<String>,
    /// Session id for emulation transports ("" for WebSocket).
    pub session: String,
    queue: Mutex<Queue>,
    max_bytes: usize,
    /// The connection task's waker; woken once per batch of pushes (and, inside
    /// `wake::with_deferred_wakes`, once per burst).
    waker: AtomicWaker,
    /// Set by producers, cleared by the consumer: coalesces wake-ups while a wake is pending.
    pending: AtomicBool,
    /// Set when the queue overflowed: the session must close with 3008.
    slow: AtomicBool,
    closed: AtomicBool,
}

impl ConnShared {
    pub(crate) fn new(protocol: Protocol, max_bytes: usize, session: String) -> Self {
        ConnShared {
            client: uuid::Uuid::new_v4().to_string(),
            protocol,
            user: Mutex::new(String::new()),
            session,
            queue: Mutex::new(Queue::default()),
            max_bytes,
            waker: AtomicWaker::new(),
            pending: AtomicBool::new(false),
            slow: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        }
    }

    /// Queues encoded bytes; overflowing the byte budget marks the connection slow.
    pub(crate) fn push(&self, data: Bytes) {
        if self.closed.load(Ordering::Relaxed) {
            return;
        }
        {
            let mut q = self.queue.lock();
            if q.bytes + data.len() > self.max_bytes {
                drop(q);
                self.slow.store(true, Ordering::Relaxed);
                self.wake();
                return;
            }
            q.bytes += data.len();
            q.items.push_back(Item::Data(data));
        }
        self.wake();
    }

    /// Queues a control request for the session task.
    pub(crate) fn control(&self, c: Control) {
        if self.closed.load(Ordering::Relaxed) {
            return;
        }
        self.queue.lock().items.push_back(Item::Control(c));
        self.wake();
    }

    fn wake(&self) {
        if !self.pending.swap(true, Ordering::AcqRel) {
            crate::wake::wake(&self.waker);
        }
    }

    /// Waits until something was queued since the last wait (cancel-safe).
    pub(crate) async fn wait(&self) {
        std::future::poll_fn(|cx| {
            if self.pending.swap(false, Ordering::AcqRel) {
                return std::task::Poll::Ready(());
            }
            self.waker.register(cx.waker());
            if self.pending.swap(false, Ordering::AcqRel) {
                return std::task::Poll::Ready(());
            }
            std::task::Poll::Pending
        })
        .await
    }

    /// True when the queue overflowed.
    pub(crate) fn is_slow(&self) -> bool {
        self.slow.load(Ordering::Relaxed)
    }

    /// Swaps the queue with `out` (which must be empty): `out` gets everything queued.
    pub(crate) fn drain(&self, out: &mut VecDeque<Item>) {
        let mut q = self.queue.lock();
        q.bytes = 0;
        std::mem::swap(&mut q.items, out);
    }

    /// Stops accepting new items (connection is going away).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        let mut q = self.queue.lock();
        q.items = VecDeque::new();
        q.bytes = 0;
    }

    /// The user id.
    pub(crate) fn user(&self) -> String {
        self.user.lock().clone()
    }
}
