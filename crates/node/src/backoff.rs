//! Full-jitter exponential backoff: delay n is uniform in `[0, min(max, base · 2ⁿ)]`, so many
//! nodes retrying after the same outage spread out instead of arriving together.

use std::time::Duration;

use rand::Rng as _;

/// Backoff state for one retry sequence.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A sequence starting at `base` and capped at `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max: max.max(base),
            attempt: 0,
        }
    }

    /// The cap of the next delay (before jitter).
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32 << self.attempt.min(20);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The next delay: uniform in `[0, ceiling]`, then the ceiling doubles.
    pub fn next_delay(&mut self) -> Duration {
        let cap = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let ms = cap.as_millis().min(u64::MAX as u128) as u64;
        Duration::from_millis(rand::rng().random_range(0..=ms))
    }

    /// A delay in `[min, ceiling]` (for polls, which should not fire back to back).
    pub fn next_delay_at_least(&mut self, min: Duration) -> Duration {
        self.next_delay().max(min)
    }

    /// Back to the first step (after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_within_the_growing_ceiling() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        for n in 0..10u32 {
            let cap = Duration::from_millis(100 * (1u64 << n)).min(Duration::from_secs(1));
            assert_eq!(b.ceiling(), cap);
            assert!(b.next_delay() <= cap);
        }
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(100));
    }
}
