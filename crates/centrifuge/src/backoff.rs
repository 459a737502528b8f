//! Full-jitter exponential backoff (same formula as centrifuge-js).

use rand::Rng;
use std::time::Duration;

/// Delay before reconnect attempt `step` (0-based): `min + rand(0, min(max, min·2^step))`,
/// capped at `max`.
pub fn delay(step: u32, min: Duration, max: Duration) -> Duration {
    let step = step.min(31);
    let ceiling = min.saturating_mul(1u32 << step).min(max);
    let jitter_ms = rand::rng().random_range(0..=ceiling.as_millis() as u64);
    (min + Duration::from_millis(jitter_ms)).min(max)
}

/// A uniformly random duration in `[lo, hi]` (used for refresh retries).
pub fn between(lo: Duration, hi: Duration) -> Duration {
    let span = hi.saturating_sub(lo).as_millis() as u64;
    lo + Duration::from_millis(rand::rng().random_range(0..=span))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_stays_within_bounds_and_grows() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(5));
        for step in 0..40 {
            for _ in 0..50 {
                let d = delay(step, min, max);
                assert!(d >= min && d <= max, "step {step}: {d:?}");
                let ceiling = min.saturating_mul(1u32 << step.min(31)).min(max);
                assert!(d <= min + ceiling, "step {step}: {d:?}");
            }
        }
        // Late steps reach far beyond the early ceiling at least sometimes.
        assert!((0..200).any(|_| delay(10, min, max) > Duration::from_millis(400)));
    }

    #[test]
    fn between_is_inclusive_range() {
        for _ in 0..100 {
            let d = between(Duration::from_secs(5), Duration::from_secs(10));
            assert!(d >= Duration::from_secs(5) && d <= Duration::from_secs(10));
        }
    }
}
