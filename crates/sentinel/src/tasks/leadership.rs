//! Holding a named leader lock across ticks: acquire when free, renew while held, notice loss.
//! Each acquisition carries a larger fence token, so work stamped by a deposed leader is
//! recognisable.

use std::sync::Arc;
use std::time::Duration;

use crate::coordinator::{Coordinator, CoordinatorError};
use crate::domain::{FenceToken, UnixMillis};

/// One participant in the election for lock `name`.
pub struct Leadership {
    coordinator: Arc<dyn Coordinator>,
    name: String,
    holder: String,
    ttl: Duration,
    token: Option<FenceToken>,
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
        }
    }

    /// Renews or acquires the lock; `Some(token)` while this participant leads.
    pub async fn tick(&mut self, now: UnixMillis) -> Result<Option<FenceToken>, CoordinatorError> {
        if let Some(token) = self.token {
            if self
                .coordinator
                .renew_leader(&self.name, &self.holder, token, self.ttl, now)
                .await?
            {
                return Ok(Some(token));
            }
            tracing::info!(lock = %self.name, "leadership lost");
            self.token = None;
        }
        self.token = self
            .coordinator
            .try_acquire_leader(&self.name, &self.holder, self.ttl, now)
            .await?;
        if let Some(t) = self.token {
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
