//! Keyed token buckets: each key (a client address or an account) holds `burst` tokens that
//! refill evenly over `per`; a request takes one or is refused with the wait until the next.
//! A small map of our own rather than `governor`/`tower_governor`: four limited actions need
//! no extra dependency tree, and the buckets run on tokio's clock so tests can pause time.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

/// One limit: `burst` requests at once, refilled at `burst` per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed back to back.
    pub burst: u32,
    /// Time to refill all of them.
    pub per: Duration,
}

impl RateLimit {
    /// `burst` requests per `per`.
    pub const fn new(burst: u32, per: Duration) -> Self {
        Self { burst, per }
    }

    fn refill_per_sec(&self) -> f64 {
        f64::from(self.burst) / self.per.as_secs_f64().max(1e-3)
    }
}

/// The actions that strangers could repeat to guess secrets or fill the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `POST /api/auth/login`.
    SignIn,
    /// `POST /api/auth/signup`.
    SignUp,
    /// `POST /api/nodes/claim` (entering a node's claim code).
    ClaimCode,
    /// `POST /api/tokens` and `POST /api/claim-tokens`.
    CreateToken,
    /// `GET /api/realtime/job-token` (open to anonymous visitors of public jobs).
    JobToken,
}

impl Action {
    /// Name in logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign_in",
            Self::SignUp => "sign_up",
            Self::ClaimCode => "claim_code",
            Self::CreateToken => "create_token",
            Self::JobToken => "job_token",
        }
    }
}

/// What a bucket is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// A client address (IPv6 by its /64).
    Address(String),
    /// An account: a user id, or the normalized email a sign-in or sign-up names.
    Account(String),
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Buckets kept at most; past it the least recently used tenth is dropped (an attacker with
/// that many addresses gains a fresh bucket for some of them, nobody is locked out).
const MAX_BUCKETS: usize = 100_000;

/// Every bucket of one process.
#[derive(Debug, Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<(Action, Subject), Bucket>>,
}

impl Limiter {
    /// Takes one token of `subject`'s bucket for `action`; `Err(wait)` when empty.
    pub fn take(&self, action: Action, subject: Subject, limit: RateLimit) -> Result<(), Duration> {
        if limit.burst == 0 {
            return Err(limit.per);
        }
        let now = Instant::now();
        let mut map = self.buckets.lock();
        if map.len() >= MAX_BUCKETS && !map.contains_key(&(action, subject.clone())) {
            evict(&mut map);
        }
        let b = map.entry((action, subject)).or_insert(Bucket {
            tokens: f64::from(limit.burst),
            last: now,
        });
        let rate = limit.refill_per_sec();
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(f64::from(limit.burst));
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / rate))
        }
    }

    /// Buckets held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.buckets.lock().len()
    }

    /// Whether no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn evict(map: &mut HashMap<(Action, Subject), Bucket>) {
    let mut ages: Vec<Instant> = map.values().map(|b| b.last).collect();
    let cut = ages.len() / 10;
    ages.select_nth_unstable(cut);
    let oldest_kept = ages[cut];
    map.retain(|_, b| b.last >= oldest_kept);
    tracing::warn!(
        kept = map.len(),
        "rate-limit buckets full; dropped the oldest"
    );
}

/// Whole seconds to announce in `Retry-After` (at least 1).
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: RateLimit = RateLimit::new(3, Duration::from_secs(30));

    fn addr(s: &str) -> Subject {
        Subject::Address(s.into())
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_passes_then_waits_for_refill() {
        let l = Limiter::default();
        for _ in 0..3 {
            assert_eq!(l.take(Action::SignIn, addr("a"), LIMIT), Ok(()));
        }
        let wait = l.take(Action::SignIn, addr("a"), LIMIT).unwrap_err();
        assert!(
            (wait.as_secs_f64() - 10.0).abs() < 0.01,
            "one token per 10 s: {wait:?}"
        );
        // Other keys and other actions have their own buckets.
        assert_eq!(l.take(Action::SignIn, addr("b"), LIMIT), Ok(()));
        assert_eq!(l.take(Action::SignUp, addr("a"), LIMIT), Ok(()));
        assert_eq!(
            l.take(Action::SignIn, Subject::Account("a".into()), LIMIT),
            Ok(())
        );
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(l.take(Action::SignIn, addr("a"), LIMIT).is_err());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(l.take(Action::SignIn, addr("a"), LIMIT), Ok(()));
        assert!(l.take(Action::SignIn, addr("a"), LIMIT).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_burst_refuses_everything() {
        let l = Limiter::default();
        let none = RateLimit::new(0, Duration::from_secs(5));
        assert_eq!(
            l.take(Action::CreateToken, addr("a"), none),
            Err(Duration::from_secs(5))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_map_stays_bounded() {
        let l = Limiter::default();
        for i in 0..MAX_BUCKETS + 10 {
            let _ = l.take(Action::SignIn, addr(&i.to_string()), LIMIT);
            if i % 1000 == 0 {
                tokio::time::advance(Duration::from_millis(1)).await;
            }
        }
        assert!(l.len() <= MAX_BUCKETS, "{}", l.len());
        assert!(l.len() > MAX_BUCKETS / 2);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(100)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(10)), 10);
        assert_eq!(retry_after_secs(Duration::from_millis(10_001)), 11);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
