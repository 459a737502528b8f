//! Target-error jobs in the projector: when the merged result covers every scheduled wave, the
//! wave plan ([`wowlab_sim::target`]) decides on it whether the job finishes or gets its next
//! wave. The decision sees only whole waves merged in full, so it depends on the profile, seed
//! and target alone, never on which chunk arrived when; results of chunks past the scheduled
//! waves are never merged.

use wowlab_sim::target::half_width_pct;
use wowlab_sim::{Decision, WavePlan};

use crate::jobs::wave_chunks;
use crate::projector::Estimate;
use crate::store::{Job, JobTarget};

/// A target-error job's waves as the projector tracks them.
#[derive(Debug, Clone)]
pub struct Waves {
    plan: WavePlan,
    chunk_size: u64,
    /// Waves scheduled; the last one is in flight until every scheduled chunk is merged.
    scheduled: u32,
    /// Chunks of the scheduled waves (at most the job's chunk count).
    chunks: u32,
    /// The coordinator may hold fewer chunks than the scheduled waves need (an `extend_job`
    /// that failed, or a job loaded after a leader change): the projector's tick retries it.
    pub extend_pending: bool,
}

/// What to do once the scheduled waves are all merged.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The target is met or the maximum reached: end the job with what is merged.
    Finish,
    /// Schedule up to `chunks` chunks (`waves` waves); `half_width_pct` is where the merged
    /// waves stand.
    Extend {
        /// Waves scheduled after this step.
        waves: u32,
        /// Chunks scheduled after this step.
        chunks: u32,
        /// Half-width of the merged waves, percent of the mean.
        half_width_pct: f64,
    },
    /// The merged result does not cover the scheduled waves exactly: a corrupt result.
    Mismatch(String),
}

impl Waves {
    /// The waves of a stored target job; `None` if its stored target cannot be planned.
    pub fn load(job: &Job, target: &JobTarget) -> Option<Self> {
        let plan = WavePlan::new(target.target_error, target.max_iterations).ok()?;
        Some(Self {
            plan,
            chunk_size: job.chunk_size,
            scheduled: target.waves.max(1),
            chunks: target.scheduled_chunks.min(job.chunk_count),
            extend_pending: true,
        })
    }

    /// Chunks of the scheduled waves: the only ones merged.
    pub fn chunks(&self) -> u32 {
        self.chunks
    }

    /// The target, percent of the mean.
    pub fn target_error(&self) -> f64 {
        self.plan.target_error()
    }

    /// Waves merged in full, given whether every scheduled chunk is merged.
    pub fn waves_done(&self, all_merged: bool) -> u32 {
        if all_merged {
            self.scheduled
        } else {
            self.scheduled - 1
        }
    }

    /// The decision once every scheduled chunk is merged into `merged`.
    pub fn after_waves(&self, merged: &Estimate) -> Step {
        let last = self.scheduled - 1;
        let expected = self.plan.wave_end(last);
        if merged.iterations_done != expected {
            return Step::Mismatch(format!(
                "{} iterations merged where waves 0..={last} hold {expected}",
                merged.iterations_done
            ));
        }
        match self.plan.decide(last, merged.mean, merged.ci95) {
            Decision::Stop => Step::Finish,
            Decision::Continue => {
                match wave_chunks(&self.plan, self.scheduled + 1, self.chunk_size) {
                    Ok(chunks) => Step::Extend {
                        waves: self.scheduled + 1,
                        chunks,
                        half_width_pct: half_width_pct(merged.mean, merged.ci95),
                    },
                    Err(e) => Step::Mismatch(e.to_string()),
                }
            }
        }
    }

    /// Records a step to `waves` waves of `chunks` chunks (made in the store already).
    pub fn advanced(&mut self, waves: u32, chunks: u32) {
        self.scheduled = waves;
        self.chunks = chunks;
        self.extend_pending = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{JobId, JobStatus, UnixMillis, UserId};

    fn job(chunk_size: u64, max: u64) -> Job {
        Job {
            id: JobId::new(),
            owner: UserId::new(),
            config_hash: "h".into(),
            iterations: max,
            seed: 1,
            chunk_size,
            chunk_count: max.div_ceil(chunk_size) as u32,
            chunk_wall_limit_ms: 0,
            status: JobStatus::Running,
            version: 1,
            result: None,
            failure_reason: None,
            public: false,
            created_at: UnixMillis(1),
            started_at: None,
            finished_at: None,
        }
    }

    fn estimate(n: u64, mean: f64, ci95: f64) -> Estimate {
        Estimate {
            iterations_done: n,
            mean,
            ci95,
        }
    }

    #[test]
    fn a_complete_wave_short_of_the_target_schedules_the_next_then_stops_when_met() {
        let target = JobTarget {
            target_error: 0.5,
            max_iterations: 10_000,
            waves: 1,
            scheduled_chunks: 4,
            half_width_pct: None,
        };
        let mut w = Waves::load(&job(256, 10_000), &target).unwrap();
        assert_eq!(w.chunks(), 4);
        let Step::Extend {
            waves,
            chunks,
            half_width_pct,
        } = w.after_waves(&estimate(1024, 1000.0, 8.0))
        else {
            panic!("expected the next wave");
        };
        assert_eq!((waves, chunks), (2, 12));
        assert!((half_width_pct - 0.8).abs() < 1e-12);
        w.advanced(waves, chunks);
        assert_eq!(w.waves_done(false), 1);
        assert_eq!(w.after_waves(&estimate(3072, 1000.0, 5.0)), Step::Finish);
        assert!(matches!(
            w.after_waves(&estimate(3000, 1000.0, 5.0)),
            Step::Mismatch(_)
        ));
    }

    #[test]
    fn the_wave_reaching_the_maximum_finishes_whatever_the_half_width() {
        let target = JobTarget {
            target_error: 0.01,
            max_iterations: 2000,
            waves: 2,
            scheduled_chunks: 2,
            half_width_pct: Some(3.0),
        };
        let w = Waves::load(&job(1024, 2000), &target).unwrap();
        assert_eq!(w.after_waves(&estimate(2000, 1000.0, 30.0)), Step::Finish);
    }
}
