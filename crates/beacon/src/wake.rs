//! Deferred wake-ups: while a burst of deliveries is handled in one poll, connection tasks are
//! woken once at its end instead of once per delivery, so each connection's next frame carries
//! the whole burst (nats-server flushes its "pending clients" after a read the same way).

use futures_util::task::AtomicWaker;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::task::Waker;

thread_local! {
    /// Set while a `with_deferred_wakes` future is being polled on this thread.
    static DEFERRING: Cell<bool> = const { Cell::new(false) };
    /// Wake-ups held back until that poll returns.
    static DEFERRED: RefCell<Vec<Waker>> = const { RefCell::new(Vec::new()) };
}

/// Wakes the task registered in `waker`, or, inside `with_deferred_wakes`, at the end of the
/// current poll. Taking the waker and waking it later is a delayed `wake`: the consumer
/// registers again on its next wait.
pub(crate) fn wake(waker: &AtomicWaker) {
    if DEFERRING.get() {
        if let Some(w) = waker.take() {
            DEFERRED.with_borrow_mut(|d| d.push(w));
        }
    } else {
        waker.wake();
    }
}

/// Runs `f`, holding back the connection wake-ups it causes until each of its polls returns:
/// nothing is held across a suspension of `f`.
pub(crate) async fn with_deferred_wakes<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    std::future::poll_fn(|cx| {
        let _guard = DeferGuard::enter();
        f.as_mut().poll(cx)
    })
    .await
}

/// Marks this thread as deferring; on drop (also on panic) wakes what was held back.
struct DeferGuard {
    outer: bool,
}

impl DeferGuard {
    fn enter() -> Self {
        DeferGuard {
            outer: !DEFERRING.replace(true),
        }
    }
}

impl Drop for DeferGuard {
    fn drop(&mut self) {
        if !self.outer {
            return;
        }
        DEFERRING.set(false);
        let mut wakers = DEFERRED.take();
        for w in wakers.drain(..) {
            w.wake();
        }
        // Keep the allocation for the next burst unless it grew unusually large.
        if wakers.capacity() <= 4096 {
            DEFERRED.with_borrow_mut(|d| {
                if d.is_empty() {
                    *d = wakers;
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn registered() -> (Arc<Count>, AtomicWaker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let aw = AtomicWaker::new();
        aw.register(&Waker::from(count.clone()));
        (count, aw)
    }

    #[tokio::test]
    async fn wakes_are_held_until_the_poll_returns() {
        let (count, aw) = registered();
        let seen_inside = with_deferred_wakes(async {
            wake(&aw);
            count.0.load(Ordering::SeqCst)
        })
        .await;
        assert_eq!(seen_inside, 0);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_suspension_releases_the_held_wakes() {
        let (count, aw) = registered();
        with_deferred_wakes(async {
            wake(&aw);
            tokio::task::yield_now().await;
            // The first poll ended at the yield: its wake went out then.
            assert_eq!(count.0.load(Ordering::SeqCst), 1);
        })
        .await;
    }

    #[test]
    fn outside_a_burst_wakes_at_once() {
        let (count, aw) = registered();
        wake(&aw);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }
}
