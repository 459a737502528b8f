//! Human-facing summary of a [`ChunkResult`].

use serde::{Deserialize, Serialize};

use super::histogram::{bucket_high, bucket_low};
use super::{Bin, ChunkResult};

/// Percentiles reported.
pub const PERCENTILES: [f64; 7] = [1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0];

/// One percentile read from the histogram (bucket midpoint, at most 0.05 % off).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Percentile {
    /// Percent rank.
    pub p: f64,
    /// DPS at that rank.
    pub dps: f64,
}

/// One ability's share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbilityReport {
    /// Name.
    pub name: String,
    /// Damage per second of fight time.
    pub dps: f64,
    /// Percent of all damage.
    pub share_pct: f64,
    /// Average casts per iteration.
    pub casts_per_fight: f64,
    /// Average damage events per iteration.
    pub hits_per_fight: f64,
    /// Percent of damage events that crit.
    pub crit_pct: f64,
    /// Average damage per damage event.
    pub avg_hit: f64,
}

/// The summary printed by `wowlab sim` and shown in the studio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Iterations aggregated.
    pub iterations: u64,
    /// Mean of per-iteration DPS.
    pub mean_dps: f64,
    /// Sample standard deviation of per-iteration DPS.
    pub stddev: f64,
    /// Half-width of the 95 % confidence interval of the mean (1.96 standard errors).
    pub ci95_half_width: f64,
    /// Lowest iteration DPS.
    pub min_dps: f64,
    /// Highest iteration DPS.
    pub max_dps: f64,
    /// Mean fight length in seconds.
    pub mean_fight_secs: f64,
    /// Mean events per iteration.
    pub events_per_iteration: f64,
    /// Percentiles of per-iteration DPS.
    pub percentiles: Vec<Percentile>,
    /// Per-ability breakdown, largest damage first.
    pub abilities: Vec<AbilityReport>,
    /// The DPS distribution in exact, nearly even bins (see [`super::distribution`]).
    #[serde(default)]
    pub distribution: Vec<Bin>,
}

impl ChunkResult {
    /// Summarizes. Deterministic: equal results give equal reports.
    pub fn report(&self) -> Report {
        let n = self.iterations;
        let nf = n.max(1) as f64;
        let mean_milli = self.sum_dps as f64 / nf;
        let variance_milli = if n > 1 {
            // n*Σx² − (Σx)² exactly in integers when it fits, else in floating point.
            let num = (n as u128)
                .checked_mul(self.sum_dps_sq)
                .zip(self.sum_dps.checked_mul(self.sum_dps))
                .map(|(a, b)| a.saturating_sub(b) as f64)
                .unwrap_or_else(|| {
                    (self.sum_dps_sq as f64 * nf - (self.sum_dps as f64) * (self.sum_dps as f64))
                        .max(0.0)
                });
            num / (nf * (nf - 1.0))
        } else {
            0.0
        };
        let stddev = variance_milli.sqrt() / 1000.0;
        let total_secs = self.sum_duration_us as f64 / 1e6;
        let total_damage = self.sum_damage as f64;
        let mut abilities: Vec<AbilityReport> = self
            .abilities
            .iter()
            .filter(|a| a.damage > 0 || a.casts > 0)
            .map(|a| AbilityReport {
                name: a.name.clone(),
                dps: if total_secs > 0.0 {
                    a.damage as f64 / total_secs
                } else {
                    0.0
                },
                share_pct: if total_damage > 0.0 {
                    a.damage as f64 * 100.0 / total_damage
                } else {
                    0.0
                },
                casts_per_fight: a.casts as f64 / nf,
                hits_per_fight: a.hits as f64 / nf,
                crit_pct: if a.hits > 0 {
                    a.crits as f64 * 100.0 / a.hits as f64
                } else {
                    0.0
                },
                avg_hit: if a.hits > 0 {
                    a.damage as f64 / a.hits as f64
                } else {
                    0.0
                },
            })
            .collect();
        // Stable sort on damage keeps the profile order among ties.
        abilities.sort_by(|a, b| b.dps.total_cmp(&a.dps));
        Report {
            iterations: n,
            mean_dps: mean_milli / 1000.0,
            stddev,
            ci95_half_width: if n > 1 {
                1.96 * stddev / nf.sqrt()
            } else {
                0.0
            },
            min_dps: if n > 0 {
                self.min_dps as f64 / 1000.0
            } else {
                0.0
            },
            max_dps: self.max_dps as f64 / 1000.0,
            mean_fight_secs: total_secs / nf,
            events_per_iteration: self.events as f64 / nf,
            percentiles: PERCENTILES
                .iter()
                .map(|&p| Percentile {
                    p,
                    dps: self.percentile(p) / 1000.0,
                })
                .collect(),
            abilities,
            distribution: self.distribution(),
        }
    }

    /// Per-iteration milli-DPS at percent rank `p` (nearest-rank on the histogram, bucket
    /// midpoint clamped to the observed min and max).
    pub fn percentile(&self, p: f64) -> f64 {
        if self.iterations == 0 {
            return 0.0;
        }
        let rank = crate::fmath::ceil((p / 100.0) * self.iterations as f64).max(1.0) as u64;
        let mut seen = 0u64;
        for (&b, &c) in &self.histogram {
            seen = seen.saturating_add(c);
            if seen >= rank {
                let mid = (bucket_low(b) as f64 + bucket_high(b) as f64) / 2.0;
                // Not `clamp`: it panics when min > max, which only a corrupt result holds.
                return mid.max(self.min_dps as f64).min(self.max_dps as f64);
            }
        }
        self.max_dps as f64
    }
}
