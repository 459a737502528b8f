//! Holding a named leader lock across ticks: acquire when free, renew while held, notice loss.
//! Each acquisition carries a larger fence token, so work stamped by a deposed leader is
//! recognisable.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;

use crate::coordinator::{Coordinator, CoordinatorError};
use crate::domain::{Clock, FenceToken, UnixMillis};
use crate::store::{LeaderFence, StoreError};

/// One participant in the election for lock `name`.
pub struct Leadership {
    coordinator: Arc<dyn Coordinator>,
    name: String,
    holder: String,
    ttl: Duration,
    token: Option<FenceToken>,
    /// When the lock was last acquired or renewed (caller's clock).
    renewed_at: UnixMillis,
}

impl Leadership {
    /// A participant identified by `holder` (unique per process, e.g. a random id).
    pub fn new(
        coordinator: Arc<dyn Coordinator>,
        name: impl Into<String>,
        holder: impl Into<String>,
        ttl: Duration,
    ) -> Self {
        Self {
            coordinator,
            name: name.into(),
            holder: holder.into(),
            ttl,
            token: None,
            renewed_at: UnixMillis(0),
        }
    }

    /// Renews or acquires the lock; `Some(token)` while this participant leads.
    ///
    /// A renewal that fails (the coordinator slow or briefly unreachable, as under heavy load)
    /// keeps the term while less than half the lock's lifetime has passed since the last
    /// successful renewal: the lock is still this participant's, and dropping the term would
    /// cost a hand-over for nothing. Past that it is given up. Writes of a term that outlived
    /// its lock are refused by the store's fence anyway.
    pub async fn tick(&mut self, now: UnixMillis) -> Result<Option<FenceToken>, CoordinatorError> {
        if let Some(token) = self.token {
            match self
                .coordinator
                .renew_leader(&self.name, &self.holder, token, self.ttl, now)
                .await
            {
                Ok(true) => {
                    self.renewed_at = now;
                    return Ok(Some(token));
                }
                Ok(false) => {}
                Err(e) if now < self.renewed_at.plus(self.ttl / 2) => {
                    tracing::debug!(lock = %self.name, error = %e, "renewal failed; the lock is still ours");
                    return Ok(Some(token));
                }
                Err(e) => {
                    tracing::info!(lock = %self.name, error = %e, "leadership given up: renewals fail");
                    self.token = None;
                    return Err(e);
                }
            }
            tracing::info!(lock = %self.name, "leadership lost");
            self.token = None;
        }
        self.token = self
            .coordinator
            .try_acquire_leader(&self.name, &self.holder, self.ttl, now)
            .await?;
        if let Some(t) = self.token {
            self.renewed_at = now;
            tracing::info!(lock = %self.name, token = %t, "leadership acquired");
        }
        Ok(self.token)
    }

    /// Gives the lock up (graceful shutdown) so another sentinel takes over at once.
    pub async fn release(&mut self) -> Result<(), CoordinatorError> {
        if let Some(token) = self.token.take() {
            self.coordinator
                .release_leader(&self.name, &self.holder, token)
                .await?;
        }
        Ok(())
    }
}

/// The work of a periodic leader task, one round at a time ([`LeaderLoop`]).
#[async_trait]
pub trait LeaderRound: Send {
    /// One round, run only while this participant holds the lock; `fence` is its token, for
    /// the store to refuse the writes of a round that outlived its term.
    async fn round(&mut self, fence: &LeaderFence, now: UnixMillis) -> Result<(), StoreError>;
    /// This participant does not lead this tick (never did, or lost the lock).
    fn not_leading(&mut self) {}
}

/// A periodic task under a named leader lock: every `interval` it renews or acquires the lock
/// and, while leading, runs one round. A round the store refused as a stale leader's ends the
/// term (counted in `sentinel_stale_leader_writes_total`); the next tick campaigns again.
pub struct LeaderLoop {
    /// Leader locks.
    pub coordinator: Arc<dyn Coordinator>,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Lock (and fence) name.
    pub lock: &'static str,
    /// This sentinel's leader-election identity.
    pub holder: String,
    /// Round interval.
    pub interval: Duration,
    /// Lifetime of the lock: a few intervals, so one slow round does not lose it.
    pub lock_ttl: Duration,
}

impl LeaderLoop {
    /// Runs `task` until `shutdown` turns true; releases the lock on the way out.
    pub async fn run(self, task: &mut impl LeaderRound, mut shutdown: watch::Receiver<bool>) {
        let mut leader = Leadership::new(
            self.coordinator.clone(),
            self.lock,
            self.holder.clone(),
            self.lock_ttl,
        );
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
            let now = self.clock.now();
            let token = match leader.tick(now).await {
                Ok(Some(token)) => token,
                Ok(None) => {
                    task.not_leading();
                    continue;
                }
                Err(e) => {
                    tracing::warn!(lock = self.lock, error = %e, "leader election failed");
                    task.not_leading();
                    continue;
                }
            };
            let fence = LeaderFence {
                lock: self.lock.into(),
                token,
            };
            match task.round(&fence, now).await {
                Ok(()) => {}
                Err(e @ StoreError::StaleLeader { .. }) => {
                    tracing::warn!(lock = self.lock, error = %e, "leader write refused as stale; stepping down");
                    metrics::counter!("sentinel_stale_leader_writes_total", "lock" => self.lock)
                        .increment(1);
                    task.not_leading();
                    if let Err(e) = leader.release().await {
                        tracing::debug!(lock = self.lock, error = %e, "could not release the lock");
                    }
                }
                Err(e) => tracing::warn!(lock = self.lock, error = %e, "leader round failed"),
            }
        }
        let _ = leader.release().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::MemoryCoordinator;

    #[tokio::test]
    async fn one_leader_and_takeover_after_release_or_expiry() {
        let c: Arc<dyn Coordinator> = Arc::new(MemoryCoordinator::new());
        let ttl = Duration::from_secs(3);
        let mut a = Leadership::new(c.clone(), "reclaim", "a", ttl);
        let mut b = Leadership::new(c.clone(), "reclaim", "b", ttl);
        let t0 = UnixMillis(1_000_000);
        let ta = a.tick(t0).await.unwrap().unwrap();
        assert_eq!(b.tick(t0).await.unwrap(), None);
        assert_eq!(
            a.tick(t0.plus(Duration::from_secs(2))).await.unwrap(),
            Some(ta)
        );
        // `a` stalls past its TTL: `b` takes over with a larger token, `a` notices.
        let later = t0.plus(Duration::from_secs(6));
        let tb = b.tick(later).await.unwrap().unwrap();
        assert!(tb > ta);
        assert_eq!(a.tick(later).await.unwrap(), None);
        b.release().await.unwrap();
        assert!(a.tick(later).await.unwrap().unwrap() > tb);
    }
}
