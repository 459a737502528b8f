//! A bound on concurrent password hashes: argon2 is made to be slow and memory-hungry, so a
//! burst of sign-ins must not take every blocking thread and all memory. A hash waits a moment
//! for a permit, then the request is answered "busy, retry" instead of queueing without end.

use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Permits for password hashing.
#[derive(Debug)]
pub struct Hashers {
    permits: std::sync::Arc<Semaphore>,
    wait: Duration,
}

/// No permit came free in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many sign-ins at once; retry shortly")]
pub struct HashersBusy;

impl Hashers {
    /// At most `concurrent` hashes at once (at least 1); a request waits up to `wait`.
    pub fn new(concurrent: usize, wait: Duration) -> Self {
        Self {
            permits: std::sync::Arc::new(Semaphore::new(concurrent.max(1))),
            wait,
        }
    }

    /// A permit to hash, held for the duration of one hash.
    pub async fn permit(&self) -> Result<OwnedSemaphorePermit, HashersBusy> {
        match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(p),
            // Timed out, or closed (never: the semaphore is not closed).
            _ => Err(HashersBusy),
        }
    }

    /// Permits free now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_briefly_then_reports_busy() {
        let h = Hashers::new(1, Duration::from_millis(200));
        let held = h.permit().await.unwrap();
        assert_eq!(h.available(), 0);
        assert_eq!(h.permit().await.unwrap_err(), HashersBusy);
        // A permit freed while waiting is taken.
        let h = std::sync::Arc::new(h);
        let waiter = tokio::spawn({
            let h = h.clone();
            async move { h.permit().await.map(drop) }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(held);
        assert_eq!(waiter.await.unwrap(), Ok(()));
    }
}
