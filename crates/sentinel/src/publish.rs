//! The publish funnel: every message the sentinel sends to beacon goes through
//! [`Funnel::publish`] — serialized once, up to 3 attempts, backoff only on temporary errors.
//! The transport behind it is a [`Publisher`]: an in-process call in embedded mode, beacon's
//! HTTP server API otherwise.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Bytes;
use parking_lot::Mutex;
use serde::Serialize;

/// Why one publish attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// Worth retrying (connection refused, 5xx, beacon's temporary error codes).
    #[error("temporary: {0}")]
    Temporary(String),
    /// Retrying cannot help (bad channel, permission, payload refused).
    #[error("permanent: {0}")]
    Permanent(String),
}

/// A transport that delivers one publication to a channel.
#[async_trait]
pub trait Publisher: Send + Sync + 'static {
    /// One attempt to publish `data` (JSON) on `channel`.
    async fn publish(&self, channel: &str, data: Bytes) -> Result<(), PublishError>;
}

/// Why the funnel gave up.
#[derive(Debug, thiserror::Error)]
pub enum FunnelError {
    /// The payload could not be serialized (a bug in the caller's type).
    #[error("serialize: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The last attempt's error, after `attempts` tries.
    #[error("publish to {channel} failed after {attempts} attempt(s): {last}")]
    Failed {
        /// Channel.
        channel: String,
        /// Attempts made.
        attempts: u32,
        /// The final error.
        last: PublishError,
    },
}

/// Retrying front of a [`Publisher`].
#[derive(Clone)]
pub struct Funnel {
    publisher: Arc<dyn Publisher>,
    attempts: u32,
    backoff: Duration,
}

impl Funnel {
    /// A funnel with 3 attempts and 100 ms base backoff (doubling).
    pub fn new(publisher: Arc<dyn Publisher>) -> Self {
        Self {
            publisher,
            attempts: 3,
            backoff: Duration::from_millis(100),
        }
    }

    /// Serializes `payload` once and publishes it on `channel`.
    pub async fn publish<T: Serialize + ?Sized>(
        &self,
        channel: &str,
        payload: &T,
    ) -> Result<(), FunnelError> {
        let data = Bytes::from(serde_json::to_vec(payload)?);
        let mut delay = self.backoff;
        let mut attempt = 1;
        loop {
            match self.publisher.publish(channel, data.clone()).await {
                Ok(()) => return Ok(()),
                Err(PublishError::Temporary(e)) if attempt < self.attempts => {
                    metrics::counter!("sentinel_publish_retries_total").increment(1);
                    tracing::debug!(channel, attempt, error = %e, "publish failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                Err(last) => {
                    metrics::counter!("sentinel_publish_failures_total").increment(1);
                    return Err(FunnelError::Failed {
                        channel: channel.to_owned(),
                        attempts: attempt,
                        last,
                    });
                }
            }
        }
    }
}

/// A [`Publisher`] that keeps every publication in memory (tests, and a grid without beacon).
#[derive(Default)]
pub struct RecordingPublisher {
    sent: Mutex<Vec<(String, Bytes)>>,
}

impl RecordingPublisher {
    /// Everything published so far, in order.
    pub fn sent(&self) -> Vec<(String, Bytes)> {
        self.sent.lock().clone()
    }
}

#[async_trait]
impl Publisher for RecordingPublisher {
    async fn publish(&self, channel: &str, data: Bytes) -> Result<(), PublishError> {
        self.sent.lock().push((channel.to_owned(), data));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    /// Fails with the scripted errors, then succeeds; counts attempts.
    struct Scripted {
        errors: Mutex<VecDeque<PublishError>>,
        calls: Mutex<Vec<Bytes>>,
    }

    impl Scripted {
        fn new(errors: Vec<PublishError>) -> Arc<Self> {
            Arc::new(Self {
                errors: Mutex::new(errors.into()),
                calls: Mutex::new(Vec::new()),
            })
        }
    }

    #[async_trait]
    impl Publisher for Scripted {
        async fn publish(&self, _channel: &str, data: Bytes) -> Result<(), PublishError> {
            self.calls.lock().push(data);
            match self.errors.lock().pop_front() {
                Some(e) => Err(e),
                None => Ok(()),
            }
        }
    }

    fn temp() -> PublishError {
        PublishError::Temporary("503".into())
    }

    #[tokio::test(start_paused = true)]
    async fn temporary_errors_are_retried_with_backoff() {
        let p = Scripted::new(vec![temp(), temp()]);
        let f = Funnel::new(p.clone());
        let start = tokio::time::Instant::now();
        f.publish("jobs:1", &serde_json::json!({"a": 1}))
            .await
            .unwrap();
        assert_eq!(p.calls.lock().len(), 3);
        // 100 ms + 200 ms of backoff.
        assert_eq!(start.elapsed(), Duration::from_millis(300));
        // Serialized once: every attempt carries the same bytes.
        let calls = p.calls.lock();
        assert!(calls.iter().all(|c| c == &calls[0]));
        assert_eq!(&calls[0][..], br#"{"a":1}"#);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_three_temporary_errors() {
        let p = Scripted::new(vec![temp(), temp(), temp(), temp()]);
        let err = Funnel::new(p.clone()).publish("c", &1).await.unwrap_err();
        assert!(
            matches!(err, FunnelError::Failed { attempts: 3, .. }),
            "{err}"
        );
        assert_eq!(p.calls.lock().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_are_not_retried() {
        let p = Scripted::new(vec![PublishError::Permanent("103".into())]);
        let err = Funnel::new(p.clone()).publish("c", &1).await.unwrap_err();
        assert!(matches!(
            err,
            FunnelError::Failed {
                attempts: 1,
                last: PublishError::Permanent(_),
                ..
            }
        ));
        assert_eq!(p.calls.lock().len(), 1);
    }
}
