//! Mergeable, exact per-chunk statistics.
//!
//! Per iteration the engine produces integer damage and an integer fight length; its DPS is
//! kept in milli-DPS (`damage * 10^9 / duration_us`, integer division). Everything in a
//! [`ChunkResult`] is then an integer sum, min, max or count over iterations, so
//! [`ChunkResult::merge`] is associative, commutative and exact: any chunking in any order
//! gives bit-identical results.
//!
//! In JSON, sums and other integers that can pass 2^53 are decimal strings ([`json_int`]);
//! `iterations` and histogram counts (at most the job's iteration limit, 2^40) are numbers.

pub mod codec;
pub mod distribution;
pub mod histogram;
pub mod json_int;
pub mod report;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::compile::CompiledProfile;

pub use distribution::Bin;
pub use report::{AbilityReport, Percentile, Report};

/// Per-ability totals over all iterations of a chunk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbilityStats {
    /// Ability name (spell, dot, proc or `auto_attack`).
    pub name: String,
    /// Damage dealt.
    #[serde(with = "json_int")]
    pub damage: u128,
    /// Times cast (spells only).
    #[serde(with = "json_int")]
    pub casts: u64,
    /// Damage events (hits and ticks).
    #[serde(with = "json_int")]
    pub hits: u64,
    /// Damage events that crit.
    #[serde(with = "json_int")]
    pub crits: u64,
}

/// The aggregate of a range of iterations of one profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkResult {
    /// Content hash of the profile that produced it; merging across profiles is refused.
    pub profile_hash: String,
    /// Iterations aggregated.
    pub iterations: u64,
    /// Sum of per-iteration milli-DPS.
    #[serde(with = "json_int")]
    pub sum_dps: u128,
    /// Sum of squared per-iteration milli-DPS.
    #[serde(with = "json_int")]
    pub sum_dps_sq: u128,
    /// Smallest per-iteration milli-DPS (`u64::MAX` when empty).
    #[serde(with = "json_int")]
    pub min_dps: u64,
    /// Largest per-iteration milli-DPS (0 when empty).
    #[serde(with = "json_int")]
    pub max_dps: u64,
    /// Total damage.
    #[serde(with = "json_int")]
    pub sum_damage: u128,
    /// Total simulated time in microseconds.
    #[serde(with = "json_int")]
    pub sum_duration_us: u128,
    /// Total events processed (a cost measure).
    #[serde(with = "json_int")]
    pub events: u128,
    /// Histogram of per-iteration milli-DPS: bucket index (see [`histogram`]) to count.
    pub histogram: BTreeMap<u32, u64>,
    /// Per-ability totals, in the profile's ability order.
    pub abilities: Vec<AbilityStats>,
}

/// Why two chunk results cannot be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// They come from different profiles.
    #[error("chunk results come from different profiles ({0} vs {1})")]
    ProfileMismatch(String, String),
    /// Same hash but different ability tables (corrupt input).
    #[error("chunk results have different ability tables")]
    AbilityMismatch,
    /// A sum would overflow.
    #[error("merged statistics overflow")]
    Overflow,
}

impl ChunkResult {
    /// The identity element for `profile`: zero iterations.
    pub fn empty(profile: &CompiledProfile) -> Self {
        Self {
            profile_hash: profile.hash().to_string(),
            iterations: 0,
            sum_dps: 0,
            sum_dps_sq: 0,
            min_dps: u64::MAX,
            max_dps: 0,
            sum_damage: 0,
            sum_duration_us: 0,
            events: 0,
            histogram: BTreeMap::new(),
            abilities: profile
                .abilities()
                .iter()
                .map(|n| AbilityStats {
                    name: n.clone(),
                    ..AbilityStats::default()
                })
                .collect(),
        }
    }

    /// Records one finished iteration.
    pub(crate) fn record_iteration(&mut self, damage: u64, duration_us: u64, events: u64) {
        let duration_us = duration_us.max(1);
        let dps =
            (damage as u128 * 1_000_000_000 / duration_us as u128).min(u64::MAX as u128) as u64;
        self.iterations += 1;
        self.sum_dps += dps as u128;
        self.sum_dps_sq += dps as u128 * dps as u128;
        self.min_dps = self.min_dps.min(dps);
        self.max_dps = self.max_dps.max(dps);
        self.sum_damage += damage as u128;
        self.sum_duration_us += duration_us as u128;
        self.events += events as u128;
        *self.histogram.entry(histogram::bucket_of(dps)).or_insert(0) += 1;
    }

    /// Adds `other` into `self`. Exact, associative and commutative.
    pub fn merge(&mut self, other: &ChunkResult) -> Result<(), MergeError> {
        if self.profile_hash != other.profile_hash {
            return Err(MergeError::ProfileMismatch(
                self.profile_hash.clone(),
                other.profile_hash.clone(),
            ));
        }
        if self.abilities.len() != other.abilities.len()
            || self
                .abilities
                .iter()
                .zip(&other.abilities)
                .any(|(a, b)| a.name != b.name)
        {
            return Err(MergeError::AbilityMismatch);
        }
        // Compute everything first so a failed merge leaves `self` untouched.
        let add128 = |a: u128, b: u128| a.checked_add(b).ok_or(MergeError::Overflow);
        let add64 = |a: u64, b: u64| a.checked_add(b).ok_or(MergeError::Overflow);
        let iterations = add64(self.iterations, other.iterations)?;
        let sum_dps = add128(self.sum_dps, other.sum_dps)?;
        let sum_dps_sq = add128(self.sum_dps_sq, other.sum_dps_sq)?;
        let sum_damage = add128(self.sum_damage, other.sum_damage)?;
        let sum_duration_us = add128(self.sum_duration_us, other.sum_duration_us)?;
        let events = add128(self.events, other.events)?;
        let mut histogram = self.histogram.clone();
        for (&b, &c) in &other.histogram {
            let e = histogram.entry(b).or_insert(0);
            *e = add64(*e, c)?;
        }
        let mut abilities = self.abilities.clone();
        for (a, b) in abilities.iter_mut().zip(&other.abilities) {
            a.damage = add128(a.damage, b.damage)?;
            a.casts = add64(a.casts, b.casts)?;
            a.hits = add64(a.hits, b.hits)?;
            a.crits = add64(a.crits, b.crits)?;
        }
        self.iterations = iterations;
        self.sum_dps = sum_dps;
        self.sum_dps_sq = sum_dps_sq;
        self.min_dps = self.min_dps.min(other.min_dps);
        self.max_dps = self.max_dps.max(other.max_dps);
        self.sum_damage = sum_damage;
        self.sum_duration_us = sum_duration_us;
        self.events = events;
        self.histogram = histogram;
        self.abilities = abilities;
        Ok(())
    }

    /// Canonical JSON.
    pub fn to_json(&self) -> String {
        // Plain data with string keys only: serialization cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses the JSON form, refusing results that fail [`check`](Self::check).
    pub fn from_json(s: &str) -> Result<Self, serde_json::Error> {
        let r: Self = serde_json::from_str(s)?;
        r.check().map_err(serde::de::Error::custom)?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A result at the grid's limits: 2^40 iterations and every sum at `u128::MAX`.
    fn extreme() -> ChunkResult {
        ChunkResult {
            profile_hash: "f".repeat(64),
            iterations: 1 << 40,
            sum_dps: u128::MAX,
            sum_dps_sq: u128::MAX,
            min_dps: u64::MAX,
            max_dps: u64::MAX,
            sum_damage: u128::MAX,
            sum_duration_us: u128::MAX,
            events: u128::MAX,
            histogram: BTreeMap::from([(0, (1 << 40) - 1), (histogram::MAX_BUCKET, 1)]),
            abilities: vec![AbilityStats {
                name: "a".into(),
                damage: u128::MAX,
                casts: u64::MAX,
                hits: u64::MAX,
                crits: u64::MAX,
            }],
        }
    }

    #[test]
    fn json_at_the_limits_round_trips_with_sums_as_strings() {
        let r = extreme();
        let json = r.to_json();
        assert_eq!(ChunkResult::from_json(&json).unwrap(), r);
        // Through serde_json::Value (the CLI's `json!` document) as well.
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["sum_dps_sq"], u128::MAX.to_string());
        assert_eq!(v["min_dps"], u64::MAX.to_string());
        assert_eq!(v["abilities"][0]["damage"], u128::MAX.to_string());
        assert_eq!(v["abilities"][0]["hits"], u64::MAX.to_string());
        // Counts bounded by the iteration limit stay numbers.
        assert_eq!(v["iterations"], 1u64 << 40);
        assert_eq!(v["histogram"]["0"], (1u64 << 40) - 1);
        assert_eq!(serde_json::from_value::<ChunkResult>(v).unwrap(), r);
        // The report of such a result is plain floats.
        let report = serde_json::to_value(r.report()).unwrap();
        assert!(report["stddev"].is_number(), "{report}");
    }

    #[test]
    fn json_written_with_plain_numbers_is_still_read() {
        let r = extreme();
        let mut v = serde_json::to_value(&r).unwrap();
        v["sum_dps"] = serde_json::json!(12345u64);
        v["min_dps"] = serde_json::json!(7u64);
        v["abilities"][0]["casts"] = serde_json::json!(3u64);
        let back: ChunkResult = serde_json::from_value(v).unwrap();
        assert_eq!((back.sum_dps, back.min_dps), (12345, 7));
        assert_eq!(back.abilities[0].casts, 3);
    }
}
