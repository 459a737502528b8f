//! Waiting for events with a deadline.
#![allow(dead_code)]

use std::time::Duration;
use tokio::sync::broadcast;

/// Waits for the first event matching `f` (panics after 10 s).
pub async fn wait_for<E: Clone, R>(
    rx: &mut broadcast::Receiver<E>,
    mut f: impl FnMut(&E) -> Option<R>,
) -> R {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match rx.recv().await {
                Ok(ev) => {
                    if let Some(r) = f(&ev) {
                        return r;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(e) => panic!("event channel closed: {e}"),
            }
        }
    })
    .await
    .expect("event within 10 s")
}

/// Collects every event received within `d`.
pub async fn drain_for<E: Clone>(rx: &mut broadcast::Receiver<E>, d: Duration) -> Vec<E> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + d;
    while let Ok(Ok(ev)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        out.push(ev);
    }
    out
}
