//! The DPS distribution as even display bins, regrouped exactly from the fixed histogram.
//!
//! Every chunk counts its iterations in the same fixed log-linear buckets ([`histogram`]),
//! so the merged histogram is exact for any chunking. For display those fine buckets (at
//! most 0.1 % wide) are grouped into about [`DISPLAY_BINS`] consecutive runs of equal nominal
//! width between the observed min and max. A bin is a whole number of fine buckets, so its
//! count is exact: the number of iterations whose DPS lies in `[low, high)`.
//!
//! [`histogram`]: super::histogram

use serde::{Deserialize, Serialize};

use super::histogram::{bucket_high, bucket_low};
use super::ChunkResult;

/// Target number of display bins.
pub const DISPLAY_BINS: u64 = 32;

/// One bar of the distribution: iterations with DPS in `[low, high)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    /// Lowest DPS of the bin.
    pub low: f64,
    /// One past the highest DPS of the bin.
    pub high: f64,
    /// Iterations in it (exact).
    pub count: u64,
}

impl ChunkResult {
    /// The distribution in about [`DISPLAY_BINS`] exact bins, lowest first; empty bins are
    /// left out. Deterministic: equal results give equal bins.
    pub fn distribution(&self) -> Vec<Bin> {
        if self.iterations == 0 || self.min_dps > self.max_dps {
            return Vec::new();
        }
        let (lo, hi) = (self.min_dps, self.max_dps);
        // Nominal width in milli-DPS; the last nominal bin also holds the maximum.
        let width = ((hi - lo) / DISPLAY_BINS).max(1);
        let slot = |v: u64| ((v.max(lo) - lo) / width).min(DISPLAY_BINS - 1);
        let mut out: Vec<(u64, u64, u64, u64)> = Vec::new(); // (slot, low, high, count)
        for (&b, &c) in &self.histogram {
            let low = bucket_low(b).max(lo);
            let high = bucket_high(b).min(hi.saturating_add(1)).max(low);
            let s = slot(low);
            match out.last_mut() {
                Some(last) if last.0 == s => {
                    last.2 = high;
                    last.3 = last.3.saturating_add(c);
                }
                _ => out.push((s, low, high, c)),
            }
        }
        out.into_iter()
            .map(|(_, low, high, count)| Bin {
                low: low as f64 / 1000.0,
                high: high as f64 / 1000.0,
                count,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::histogram::bucket_of;
    use super::*;

    fn with_values(values: &[u64]) -> ChunkResult {
        let mut histogram = BTreeMap::new();
        for &v in values {
            *histogram.entry(bucket_of(v)).or_insert(0) += 1;
        }
        ChunkResult {
            profile_hash: "h".into(),
            iterations: values.len() as u64,
            sum_dps: values.iter().map(|&v| v as u128).sum(),
            sum_dps_sq: values.iter().map(|&v| v as u128 * v as u128).sum(),
            min_dps: *values.iter().min().unwrap_or(&u64::MAX),
            max_dps: *values.iter().max().unwrap_or(&0),
            sum_damage: 0,
            sum_duration_us: 1,
            events: 0,
            histogram,
            abilities: Vec::new(),
        }
    }

    #[test]
    fn bins_count_every_iteration_once_in_order() {
        let values: Vec<u64> = (0..5000u64)
            .map(|i| 15_000_000 + (i * 7919) % 4_000_000)
            .collect();
        let bins = with_values(&values).distribution();
        assert!(bins.len() >= DISPLAY_BINS as usize - 2 && bins.len() <= DISPLAY_BINS as usize);
        assert_eq!(bins.iter().map(|b| b.count).sum::<u64>(), 5000);
        for w in bins.windows(2) {
            assert!(w[0].high <= w[1].low, "{w:?}");
        }
        // Each bin's count is exactly the values inside its edges.
        for b in &bins {
            let inside = values
                .iter()
                .filter(|&&v| v as f64 / 1000.0 >= b.low && (v as f64 / 1000.0) < b.high)
                .count() as u64;
            assert_eq!(inside, b.count, "{b:?}");
        }
        assert_eq!(bins[0].low, 15_000.0);
    }

    #[test]
    fn one_value_and_nothing() {
        let bins = with_values(&[17_296_600, 17_296_600]).distribution();
        assert_eq!(bins.len(), 1);
        assert_eq!(bins[0].count, 2);
        assert!(with_values(&[]).distribution().is_empty());
    }
}
