//! Which results get a spot check: decided on the sentinel, after the result arrived, from a
//! CSPRNG draw, so nothing a node sees or sends tells it whether a chunk is (or will be)
//! checked.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::store::NodeTrust;

/// Spot-check settings (README "Trusting volunteer results").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VerifyConfig {
    /// Fraction of results sampled for a second run, `0.0..=1.0` (default 0.02). Zero turns
    /// spot checks off.
    pub rate: f64,
    /// Every result of a node is checked until this many of its results were (default 10).
    pub first_results: u32,
}

/// Default sample fraction.
pub const DEFAULT_RATE: f64 = 0.02;
/// Default number of a node's first results that are all checked.
pub const DEFAULT_FIRST_RESULTS: u32 = 10;
/// Confirmed results after which a clean node's rate is halved (it keeps falling, to a floor).
pub const CONFIRMED_HALF_RATE: u32 = 100;
/// A clean history lowers a node's rate to at most this divisor of the configured one.
pub const MIN_RATE_DIVISOR: f64 = 4.0;
/// How long the sentinel trusts its cached copy of node records.
pub const TRUST_CACHE_TTL: Duration = Duration::from_secs(1);

impl Default for VerifyConfig {
    fn default() -> Self {
        Self {
            rate: DEFAULT_RATE,
            first_results: DEFAULT_FIRST_RESULTS,
        }
    }
}

impl VerifyConfig {
    /// The defaults, overridden by `WOWLAB_SPOT_CHECK_RATE` (a fraction, e.g. `0.02`) and
    /// `WOWLAB_SPOT_CHECK_FIRST` (a count).
    pub fn from_env() -> Result<Self, String> {
        let mut c = Self::default();
        if let Ok(v) = std::env::var("WOWLAB_SPOT_CHECK_RATE") {
            c.rate = v
                .trim()
                .parse()
                .map_err(|e| format!("WOWLAB_SPOT_CHECK_RATE={v:?}: {e}"))?;
        }
        if let Ok(v) = std::env::var("WOWLAB_SPOT_CHECK_FIRST") {
            c.first_results = v
                .trim()
                .parse()
                .map_err(|e| format!("WOWLAB_SPOT_CHECK_FIRST={v:?}: {e}"))?;
        }
        c.validate()?;
        Ok(c)
    }

    /// Refuses a rate outside `0..=1`.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.rate) {
            return Err(format!(
                "spot-check rate {} is not a fraction between 0 and 1",
                self.rate
            ));
        }
        Ok(())
    }

    /// Whether the node is still in its all-checked start.
    pub fn is_new(&self, trust: &NodeTrust) -> bool {
        self.rate > 0.0 && trust.checked < self.first_results
    }

    /// The sampling probability of a node past its start: the configured rate, lowered by a
    /// clean record (halved after [`CONFIRMED_HALF_RATE`] confirmed results, and so on) but
    /// never below a quarter of it, so no node is ever unchecked. Zero only if the rate is;
    /// a rate of 1 checks every result whatever the record.
    pub fn rate_for(&self, trust: &NodeTrust) -> f64 {
        if self.rate <= 0.0 {
            return 0.0;
        }
        if trust.failed > 0 || self.rate >= 1.0 {
            return self.rate;
        }
        let half = f64::from(CONFIRMED_HALF_RATE);
        let lowered = self.rate * half / (half + f64::from(trust.confirmed));
        lowered.max(self.rate / MIN_RATE_DIVISOR)
    }
}

/// A draw that is true with probability `p` (CSPRNG; true for `p >= 1`, false for `p <= 0`).
pub fn draw(p: f64) -> bool {
    if p >= 1.0 {
        return true;
    }
    if p <= 0.0 {
        return false;
    }
    let Some(raw) = os_random_u64() else {
        // No randomness: check rather than skip.
        return true;
    };
    // 53 random bits as a fraction in [0, 1).
    let u = (raw >> 11) as f64 / (1u64 << 53) as f64;
    u < p
}

/// Eight bytes of the OS's CSPRNG, taken from a per-thread buffer filled 32 draws at a time:
/// every result is drawn for, and a `getrandom` call each was a visible share of a tiny
/// chunk's cost. Each byte is used once.
fn os_random_u64() -> Option<u64> {
    use std::cell::RefCell;
    const WORDS: usize = 32;
    thread_local! {
        static BUF: RefCell<([u8; WORDS * 8], usize)> = const { RefCell::new(([0; WORDS * 8], WORDS)) };
    }
    BUF.with_borrow_mut(|(bytes, next)| {
        if *next == WORDS {
            getrandom::fill(bytes).ok()?;
            *next = 0;
        }
        let word: [u8; 8] = bytes[*next * 8..*next * 8 + 8].try_into().ok()?;
        *next += 1;
        Some(u64::from_le_bytes(word))
    })
}

/// Hex SHA-256 of a result's exact bytes: two runs agree iff these are equal.
pub fn result_hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust(checked: u32, confirmed: u32, failed: u32) -> NodeTrust {
        NodeTrust {
            checked,
            confirmed,
            failed,
            quarantined_at: None,
        }
    }

    #[test]
    fn new_nodes_are_all_checked_then_sampled_at_the_rate() {
        let c = VerifyConfig::default();
        assert!(c.is_new(&trust(0, 0, 0)));
        assert!(c.is_new(&trust(9, 9, 0)));
        assert!(!c.is_new(&trust(10, 10, 0)));
        assert_eq!(c.rate_for(&trust(10, 0, 0)), 0.02);
        let off = VerifyConfig { rate: 0.0, ..c };
        assert!(!off.is_new(&trust(0, 0, 0)));
        assert_eq!(off.rate_for(&trust(0, 0, 0)), 0.0);
    }

    #[test]
    fn a_clean_record_lowers_the_rate_to_a_floor_never_zero() {
        let c = VerifyConfig::default();
        assert_eq!(c.rate_for(&trust(110, 100, 0)), 0.01);
        let floor = c.rate_for(&trust(1_000_010, 1_000_000, 0));
        assert_eq!(floor, 0.005);
        assert!(c.rate_for(&trust(u32::MAX, u32::MAX - 1, 0)) >= 0.005);
        // A failure on record: back to the full rate.
        assert_eq!(c.rate_for(&trust(1000, 999, 1)), 0.02);
        // Everything checked stays everything.
        let all = VerifyConfig { rate: 1.0, ..c };
        assert_eq!(all.rate_for(&trust(1000, 1000, 0)), 1.0);
    }

    #[test]
    fn draws_follow_their_probability() {
        assert!(draw(1.0) && !draw(0.0));
        let hits = (0..20_000).filter(|_| draw(0.1)).count();
        assert!((1_600..2_400).contains(&hits), "{hits}");
    }

    #[test]
    fn bad_rates_are_refused() {
        for rate in [-0.1, 1.5, f64::NAN] {
            assert!(VerifyConfig {
                rate,
                ..VerifyConfig::default()
            }
            .validate()
            .is_err());
        }
    }

    #[test]
    fn hashes_are_of_the_exact_bytes() {
        assert_eq!(
            result_hash(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_ne!(result_hash(&[1, 2]), result_hash(&[2, 1]));
    }
}
