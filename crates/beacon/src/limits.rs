//! Connection limits as Centrifugo names them: `client.connection_limit` (open client
//! connections on this node) and `client.user_connection_limit` (connections of one user on
//! this node), plus the `beacon_connections_refused{reason}` counter.

use axum::http::StatusCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// `reason` label for connections refused by `client.connection_limit`.
pub(crate) const NODE_LIMIT: &str = "connection_limit";
/// `reason` label for connects refused by `client.user_connection_limit`.
pub(crate) const USER_LIMIT: &str = "user_connection_limit";

/// Warnings about a reached node limit are logged at most this often (a flood must not flood
/// the log as well).
const WARN_EVERY_MS: u64 = 3000;

/// Counts one refused connection.
pub(crate) fn refused(reason: &'static str) {
    metrics::counter!("beacon_connections_refused", "reason" => reason).increment(1);
}

/// Open client connections of the node, from the transport handshake to the end of the
/// connection task (authenticated or not, so a flood of idle sockets is limited too).
pub(crate) struct ConnectionSlots {
    open: Arc<AtomicUsize>,
    /// Milliseconds since `created` of the last "limit reached" warning (0: never).
    last_warn_ms: AtomicU64,
    created: std::time::Instant,
}

/// One taken slot; dropping it frees the slot.
pub(crate) struct ConnSlot(Arc<AtomicUsize>);

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ConnectionSlots {
    /// Slots counted from now.
    pub(crate) fn new() -> Self {
        ConnectionSlots {
            open: Arc::new(AtomicUsize::new(0)),
            last_warn_ms: AtomicU64::new(0),
            created: std::time::Instant::now(),
        }
    }

    /// Takes a slot unless `limit` (0: unlimited) are taken; a refusal answers 503 like
    /// Centrifugo's connection endpoints, is counted and logged (throttled).
    pub(crate) fn acquire(&self, limit: usize) -> Result<ConnSlot, StatusCode> {
        let taken = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (limit == 0 || n < limit).then_some(n + 1)
            });
        match taken {
            Ok(_) => Ok(ConnSlot(self.open.clone())),
            Err(_) => {
                refused(NODE_LIMIT);
                self.warn(limit);
                Err(StatusCode::SERVICE_UNAVAILABLE)
            }
        }
    }

    /// Slots in use.
    #[cfg(test)]
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    fn warn(&self, limit: usize) {
        let now = self.created.elapsed().as_millis() as u64 + 1;
        let last = self.last_warn_ms.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= WARN_EVERY_MS)
            && self
                .last_warn_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                limit,
                "node connection limit reached (client.connection_limit)"
            );
        }
    }
}

/// A connect refused by `client.user_connection_limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UserLimitReached;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_limited_and_freed_on_drop() {
        let slots = ConnectionSlots::new();
        let a = slots.acquire(2).unwrap();
        let _b = slots.acquire(2).unwrap();
        assert_eq!(
            slots.acquire(2).err(),
            Some(StatusCode::SERVICE_UNAVAILABLE)
        );
        assert_eq!(slots.open(), 2);
        drop(a);
        assert_eq!(slots.open(), 1);
        assert!(slots.acquire(2).is_ok());
    }

    #[test]
    fn zero_means_unlimited() {
        let slots = ConnectionSlots::new();
        let held: Vec<_> = (0..100).map(|_| slots.acquire(0).unwrap()).collect();
        assert_eq!(slots.open(), 100);
        drop(held);
        assert_eq!(slots.open(), 0);
    }
}
