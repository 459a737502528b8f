//! `select!` helpers: optional futures that never complete when absent.

use std::future::{pending, Future};
use std::pin::Pin;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// Sleeps until `at`, or forever when `None`.
pub(crate) async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => pending().await,
    }
}

/// The next value of `rx`, or never when `None`.
pub(crate) async fn recv_opt<T>(rx: &mut Option<mpsc::UnboundedReceiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => pending().await,
    }
}

/// Resolves when the receiver of `tx` is gone, or never when `None`.
pub(crate) async fn closed_opt<T>(tx: &mut Option<oneshot::Sender<T>>) {
    match tx {
        Some(tx) => tx.closed().await,
        None => pending().await,
    }
}

/// A boxed, sendable future.
pub(crate) type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Polls `fut` to completion, or never when `None`.
pub(crate) async fn run_opt<T>(fut: &mut Option<BoxFut<T>>) -> T {
    match fut {
        Some(f) => f.as_mut().await,
        None => pending().await,
    }
}
