//! Mergeable, exact per-chunk statistics.
//!
//! Per iteration the engine produces integer damage and an integer fight length; its DPS is
//! kept in milli-DPS (`damage * 10^9 / duration_us`, integer division). Everything in a
//! [`ChunkResult`] is then an integer sum, min, max or count over iterations, so
//! [`ChunkResult::merge`] is associative, commutative and exact: any chunking in any order
//! gives bit-identical results.

pub mod codec;
pub mod histogram;
pub mod report;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::compile::CompiledProfile;

pub use report::{AbilityReport, Percentile, Report};

/// Per-ability totals over all iterations of a chunk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbilityStats {
    /// Ability name (spell, dot, proc or `auto_attack`).
    pub name: String,
    /// Damage dealt.
    pub damage: u128,
    /// Times cast (spells only).
    pub casts: u64,
    /// Damage events (hits and ticks).
    pub hits: u64,
    /// Damage events that crit.
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
    pub sum_dps: u128,
    /// Sum of squared per-iteration milli-DPS.
    pub sum_dps_sq: u128,
    /// Smallest per-iteration milli-DPS (`u64::MAX` when empty).
    pub min_dps: u64,
    /// Largest per-iteration milli-DPS (0 when empty).
    pub max_dps: u64,
    /// Total damage.
    pub sum_damage: u128,
    /// Total simulated time in microseconds.
    pub sum_duration_us: u128,
    /// Total events processed (a cost measure).
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

    /// Parses the JSON form.
    pub fn from_json(s: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(s)
    }
}
