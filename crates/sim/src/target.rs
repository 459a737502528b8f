//! Target-error runs: iterate in *waves* until the mean DPS is known to a given precision.
//!
//! Wave `w` holds `1024 · 2^w` iterations (the last one cut at the maximum), so after wave `w`
//! the iterations `0..wave_end(w)` are merged. The stopping rule is evaluated on that exact
//! merged result after each complete wave, never on a partial one: the iterations run, and so
//! the bytes of the result, depend only on the profile, the seed, the target and the maximum.
//! `wowlab sim --target-error` and the grid's sentinel both follow this plan.

use std::ops::Range;

use crate::stats::ChunkResult;
#[cfg(doc)]
use crate::stats::Report;

/// Iterations of wave 0; every wave boundary is a multiple of it (or the maximum).
pub const FIRST_WAVE: u64 = 1024;

/// Why a target could not be planned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TargetError {
    /// The target is not a positive finite percentage.
    #[error("target error must be a positive percentage, got {0}")]
    BadTarget(f64),
    /// No iterations allowed.
    #[error("max iterations must be at least 1")]
    NoIterations,
}

/// What to do after a complete wave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The merged result meets the target, or the maximum is reached: finish with it.
    Stop,
    /// Run the next wave.
    Continue,
}

/// A target-error run: the precision asked for and the most iterations allowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WavePlan {
    target_error: f64,
    max_iterations: u64,
}

impl WavePlan {
    /// A plan stopping once the 95 % CI half-width is at most `target_error` percent of the
    /// mean DPS, or after `max_iterations`.
    pub fn new(target_error: f64, max_iterations: u64) -> Result<Self, TargetError> {
        if !(target_error.is_finite() && target_error > 0.0) {
            return Err(TargetError::BadTarget(target_error));
        }
        if max_iterations == 0 {
            return Err(TargetError::NoIterations);
        }
        Ok(Self {
            target_error,
            max_iterations,
        })
    }

    /// The target, in percent of the mean.
    pub fn target_error(&self) -> f64 {
        self.target_error
    }

    /// The most iterations the run may take.
    pub fn max_iterations(&self) -> u64 {
        self.max_iterations
    }

    /// Iterations merged once wave `w` is complete: `1024 · (2^(w+1) − 1)`, at most the maximum.
    pub fn wave_end(&self, w: u32) -> u64 {
        let factor = 1u64
            .checked_shl(w.saturating_add(1))
            .map_or(u64::MAX, |f| f - 1);
        FIRST_WAVE.saturating_mul(factor).min(self.max_iterations)
    }

    /// The iterations wave `w` runs (empty past the last wave).
    pub fn wave_range(&self, w: u32) -> Range<u64> {
        let start = if w == 0 { 0 } else { self.wave_end(w - 1) };
        start..self.wave_end(w)
    }

    /// Whether wave `w` reaches the maximum.
    pub fn is_last(&self, w: u32) -> bool {
        self.wave_end(w) >= self.max_iterations
    }

    /// The decision after wave `w`, given the [`Report`] of the result merged over
    /// `0..wave_end(w)`: its `mean_dps` and `ci95_half_width`.
    pub fn decide(&self, w: u32, mean_dps: f64, ci95_half_width: f64) -> Decision {
        if self.is_last(w) || meets(self.target_error, mean_dps, ci95_half_width) {
            Decision::Stop
        } else {
            Decision::Continue
        }
    }

    /// Runs waves with `run` (which computes the given iteration range) until the plan stops;
    /// returns the merged result and the number of waves run.
    pub fn drive<E: From<crate::MergeError>>(
        &self,
        mut run: impl FnMut(Range<u64>) -> Result<ChunkResult, E>,
    ) -> Result<(ChunkResult, u32), E> {
        let mut w = 0u32;
        let mut merged = run(self.wave_range(0))?;
        loop {
            let r = merged.report();
            if self.decide(w, r.mean_dps, r.ci95_half_width) == Decision::Stop {
                return Ok((merged, w + 1));
            }
            w += 1;
            merged.merge(&run(self.wave_range(w))?)?;
        }
    }
}

/// The 95 % CI half-width as a percent of the mean (infinite for a zero mean with spread;
/// 0 when there is no spread at all).
pub fn half_width_pct(mean: f64, ci95_half_width: f64) -> f64 {
    if ci95_half_width == 0.0 {
        0.0
    } else if mean == 0.0 {
        f64::INFINITY
    } else {
        100.0 * ci95_half_width / mean.abs()
    }
}

/// Whether a mean with this half-width meets `target_error` percent. A single iteration has no
/// spread estimate and never meets a target.
fn meets(target_error: f64, mean: f64, ci95_half_width: f64) -> bool {
    half_width_pct(mean, ci95_half_width) <= target_error
}

/// The chunk size for a target-error job: a power of two at most [`FIRST_WAVE`] (so every wave
/// boundary falls on a chunk boundary) and at most `preferred`.
pub fn wave_chunk_size(preferred: u64) -> u64 {
    let p = preferred.clamp(1, FIRST_WAVE);
    1u64 << (63 - p.leading_zeros())
}

/// Chunks of `chunk_size` iterations covering `0..iterations`.
pub fn chunks_for(iterations: u64, chunk_size: u64) -> u64 {
    iterations.div_ceil(chunk_size.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waves_double_and_stop_at_the_maximum() {
        let p = WavePlan::new(0.1, 10_000).unwrap();
        let ends: Vec<u64> = (0..5).map(|w| p.wave_end(w)).collect();
        assert_eq!(ends, [1024, 3072, 7168, 10_000, 10_000]);
        assert_eq!(p.wave_range(0), 0..1024);
        assert_eq!(p.wave_range(1), 1024..3072);
        assert_eq!(p.wave_range(2).end - p.wave_range(2).start, 4096);
        assert_eq!(p.wave_range(3), 7168..10_000);
        assert!(p.wave_range(4).is_empty());
        assert!(!p.is_last(2) && p.is_last(3));
        // Huge wave numbers saturate instead of overflowing.
        assert_eq!(WavePlan::new(1.0, u64::MAX).unwrap().wave_end(80), u64::MAX);
        // A maximum below the first wave is one wave.
        let small = WavePlan::new(1.0, 300).unwrap();
        assert_eq!(small.wave_range(0), 0..300);
        assert!(small.is_last(0));
    }

    #[test]
    fn stops_when_the_half_width_meets_the_target_or_at_the_maximum() {
        let p = WavePlan::new(0.5, 100_000).unwrap();
        assert_eq!(p.decide(0, 1000.0, 6.0), Decision::Continue);
        assert_eq!(p.decide(0, 1000.0, 5.0), Decision::Stop);
        assert_eq!(p.decide(0, 0.0, 1.0), Decision::Continue);
        assert_eq!(p.decide(0, 0.0, 0.0), Decision::Stop);
        let last = (0..).find(|&w| p.is_last(w)).unwrap();
        assert_eq!(p.decide(last, 1000.0, 900.0), Decision::Stop);
    }

    #[test]
    fn bad_targets_are_refused() {
        assert!(WavePlan::new(0.0, 10).is_err());
        assert!(WavePlan::new(-1.0, 10).is_err());
        assert!(WavePlan::new(f64::NAN, 10).is_err());
        assert!(WavePlan::new(f64::INFINITY, 10).is_err());
        assert!(WavePlan::new(1.0, 0).is_err());
    }

    #[test]
    fn wave_chunk_sizes_divide_every_wave_boundary() {
        assert_eq!(wave_chunk_size(0), 1);
        assert_eq!(wave_chunk_size(3), 2);
        assert_eq!(wave_chunk_size(1000), 512);
        assert_eq!(wave_chunk_size(1 << 20), 1024);
        let p = WavePlan::new(0.1, 1 << 30).unwrap();
        for c in [1, 2, 64, 512, 1024] {
            for w in 0..10 {
                assert_eq!(p.wave_end(w) % wave_chunk_size(c), 0);
            }
        }
        assert_eq!(chunks_for(3072, 512), 6);
        assert_eq!(chunks_for(10_000, 1024), 10);
    }

    #[test]
    fn driven_waves_merge_to_the_plain_run_of_the_stopping_point() {
        let profile = crate::compile_str(
            "version = 1\n[fight]\nduration = 30\n[player]\nprimary = 1000\ncrit_pct = 30\n\
             [[spells]]\nname = \"strike\"\ncoefficient = 1.0\n[[apl]]\nspell = \"strike\"\n",
        )
        .unwrap();
        let p = WavePlan::new(0.4, 50_000).unwrap();
        let mut ran = Vec::new();
        let (merged, waves) = p
            .drive(|r: Range<u64>| {
                ran.push(r.clone());
                crate::run_chunk(&profile, 9, r).map_err(Box::<dyn std::error::Error>::from)
            })
            .unwrap();
        assert_eq!(ran.len() as u32, waves);
        let end = p.wave_end(waves - 1);
        assert_eq!(merged, crate::run_chunk(&profile, 9, 0..end).unwrap());
        let r = merged.report();
        let met = half_width_pct(r.mean_dps, r.ci95_half_width) <= 0.4;
        assert!(met || end == 50_000, "stopped before meeting the target");
        assert!(waves > 1, "the target should need more than one wave");
        {
            // The wave before did not meet it: the run stopped at the first wave that did.
            let before = crate::run_chunk(&profile, 9, 0..p.wave_end(waves - 2)).unwrap();
            let b = before.report();
            assert!(half_width_pct(b.mean_dps, b.ci95_half_width) > 0.4);
        }
    }
}
