//! The simulation engine behind the control plane's traits: [`SimEngine`] validates and prices
//! profiles ([`ProfileEngine`]); [`SimMerger`] merges chunk results exactly ([`ResultMerger`]).
//! Chunk results are `wowlab-sim`'s binary encoding, as nodes post them.

use wowlab_sim::{compile_str, estimate_cost, ChunkResult};

use crate::engine::{ProfileEngine, ValidatedProfile};
use crate::projector::{Estimate, ResultMerger};
use crate::store::Job;

/// Validation by compiling the profile; its cost is measured on this core.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimEngine;

impl ProfileEngine for SimEngine {
    fn validate(&self, profile: &str) -> Result<ValidatedProfile, String> {
        let compiled = compile_str(profile).map_err(|e| e.to_string())?;
        // A profile whose iterations exceed the engine's event bound fails here, before any
        // chunk is leased.
        let cost = estimate_cost(&compiled).map_err(|e| e.to_string())?;
        Ok(ValidatedProfile {
            content_hash: compiled.hash().to_owned(),
            iteration_cost_ns: u64::try_from(cost.as_nanos()).unwrap_or(u64::MAX).max(1),
        })
    }
}

/// The report of a stored job result as JSON: JSON results as they are, `wowlab-sim`'s binary
/// aggregate decoded and summarized; `None` if the bytes are neither.
pub fn report_json(bytes: &[u8]) -> Option<serde_json::Value> {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) {
        return Some(v);
    }
    let merged = ChunkResult::decode(bytes).ok()?;
    serde_json::to_value(merged.report()).ok()
}

/// Exact merge of `wowlab-sim` chunk results (order-independent integer sums).
#[derive(Debug, Clone, Copy, Default)]
pub struct SimMerger;

/// A job's running aggregate: the first chunk's result, then every other one merged in.
#[derive(Debug, Default)]
pub struct SimAcc {
    merged: Option<ChunkResult>,
    profile_hash: String,
}

impl ResultMerger for SimMerger {
    type Acc = SimAcc;

    fn empty(&self, job: &Job) -> SimAcc {
        SimAcc {
            merged: None,
            profile_hash: job.config_hash.clone(),
        }
    }

    fn merge(&self, acc: &mut SimAcc, chunk: &[u8]) -> Result<(), String> {
        let part = ChunkResult::decode(chunk).map_err(|e| e.to_string())?;
        if part.profile_hash != acc.profile_hash {
            return Err(format!(
                "result is for profile {}, the job's is {}",
                short(&part.profile_hash),
                short(&acc.profile_hash)
            ));
        }
        match &mut acc.merged {
            Some(m) => m.merge(&part).map_err(|e| e.to_string()),
            None => {
                acc.merged = Some(part);
                Ok(())
            }
        }
    }

    fn progress(&self, acc: &SimAcc) -> Estimate {
        let Some(m) = &acc.merged else {
            return Estimate::default();
        };
        let r = m.report();
        Estimate {
            iterations_done: m.iterations,
            mean: r.mean_dps,
            ci95: r.ci95_half_width,
        }
    }

    fn finish(&self, acc: &SimAcc) -> Result<Vec<u8>, String> {
        acc.merged
            .as_ref()
            .map(ChunkResult::encode)
            .ok_or_else(|| "no chunk results".to_owned())
    }

    fn report(&self, acc: &SimAcc) -> Option<serde_json::Value> {
        let m = acc.merged.as_ref()?;
        serde_json::to_value(m.report()).ok()
    }
}

fn short(h: &str) -> &str {
    h.get(..12).unwrap_or(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{JobId, JobStatus, UnixMillis, UserId};

    const PROFILE: &str = include_str!("../../../examples/profiles/pet-procs.toml");

    fn job(hash: &str) -> Job {
        Job {
            id: JobId::new(),
            owner: UserId::new(),
            config_hash: hash.to_owned(),
            iterations: 300,
            seed: 9,
            chunk_size: 100,
            chunk_count: 3,
            chunk_wall_limit_ms: 0,
            status: JobStatus::Running,
            version: 0,
            result: None,
            failure_reason: None,
            public: false,
            created_at: UnixMillis(0),
            started_at: None,
            finished_at: None,
        }
    }

    #[test]
    fn merge_in_any_order_equals_one_run() {
        let v = SimEngine.validate(PROFILE).unwrap();
        assert!(v.iteration_cost_ns > 0);
        let p = compile_str(PROFILE).unwrap();
        assert_eq!(v.content_hash, p.hash());
        let whole = wowlab_sim::run_chunk(&p, 9, 0..300).unwrap();
        let mut acc = SimMerger.empty(&job(&v.content_hash));
        for r in [200..300, 0..100, 100..200] {
            let part = wowlab_sim::run_chunk(&p, 9, r).unwrap();
            SimMerger.merge(&mut acc, &part.encode()).unwrap();
        }
        assert_eq!(SimMerger.finish(&acc).unwrap(), whole.encode());
        let e = SimMerger.progress(&acc);
        assert_eq!(e.iterations_done, 300);
        assert_eq!(e.mean, whole.report().mean_dps);
        assert!(SimMerger.report(&acc).unwrap()["mean_dps"].is_number());
    }

    #[test]
    fn bad_profiles_and_foreign_results_are_refused() {
        assert!(SimEngine.validate("not = [valid").is_err());
        let p = compile_str(PROFILE).unwrap();
        let part = wowlab_sim::run_chunk(&p, 1, 0..5).unwrap();
        let mut acc = SimMerger.empty(&job("other"));
        assert!(SimMerger
            .merge(&mut acc, &part.encode())
            .unwrap_err()
            .contains("profile"));
        assert!(SimMerger.merge(&mut acc, b"garbage").is_err());
        assert!(SimMerger.finish(&acc).is_err());
    }

    #[test]
    fn hostile_profiles_are_refused_by_validation_with_the_reason() {
        // Exponential variable inlining: refused at compile time, located.
        let mut vars = String::from("[variables]\nv0 = \"fight.time\"\n");
        for i in 1..=40 {
            vars += &format!("v{i} = \"variable.v{} * variable.v{}\"\n", i - 1, i - 1);
        }
        let src = format!(
            "version = 1\n[fight]\nduration = 60\n[player]\nprimary = 1\n\
             [[spells]]\nname = \"s\"\n{vars}[[apl]]\nspell = \"s\"\nif = \"variable.v40\"\n"
        );
        let err = SimEngine.validate(&src).unwrap_err();
        assert!(err.starts_with("line "), "{err}");
        assert!(err.contains("more than 10000 nodes"), "{err}");
        // An event storm compiles but its cost measurement stops at the event bound.
        let storm = "version = 1\n[fight]\nduration = 3600\n\
                     [ratings]\nhaste = 0.000001\ndiminishing_returns = false\n\
                     [player]\nprimary = 1\nhaste_rating = 1000000000\n\
                     auto_attack = { coefficient = 1.0, speed = 0.05 }\n\
                     [[spells]]\nname = \"s\"\ncooldown = 10\n[[apl]]\nspell = \"s\"\n";
        let err = SimEngine.validate(storm).unwrap_err();
        assert!(err.contains("exceeded 1000000 events"), "{err}");
    }
}
