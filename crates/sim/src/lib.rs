//! `wowlab-sim`: the grid's workload, a deterministic discrete-event combat-rotation simulator.
//!
//! A pure library (no I/O): a data-driven [`profile`] (TOML or JSON, versioned) is validated
//! and [compiled](compile()) once into flat tables and bytecode conditions; [`run_chunk`] runs
//! any range of iterations of a job and returns a [`ChunkResult`] whose [`merge`] is exact, so
//! a job's result is bit-identical however it is split across chunks, threads and nodes.
//!
//! [`merge`]: ChunkResult::merge
//!
//! ```
//! let src = r#"
//! version = 1
//! [fight]
//! duration = 60
//! [player]
//! primary = 1000
//! crit_pct = 20
//! [[spells]]
//! name = "strike"
//! coefficient = 1.0
//! [[apl]]
//! spell = "strike"
//! "#;
//! let profile = wowlab_sim::compile_str(src).unwrap();
//! let mut total = wowlab_sim::run_chunk(&profile, 42, 0..3).unwrap();
//! total.merge(&wowlab_sim::run_chunk(&profile, 42, 3..10).unwrap()).unwrap();
//! assert_eq!(total, wowlab_sim::run_chunk(&profile, 42, 0..10).unwrap());
//! assert!(total.report().mean_dps > 0.0);
//! ```

pub mod compile;
mod engine;
pub mod error;
pub mod expr;
mod fmath;
pub mod limits;
pub mod numbers;
pub mod profile;
pub mod rng;
mod run;
pub mod stats;
pub mod target;
mod wake;

pub use compile::{
    check_size, compile, compile_json, compile_str, compile_toml, profile_hash, validate,
    CompiledProfile,
};
pub use engine::{AbilityTally, IterationOutcome};
pub use error::{Location, ProfileError, RunError};
pub use limits::Limit;
pub use profile::{parse_json, parse_profile, parse_toml, Profile};
pub use run::{chunk_ranges, chunk_size_for, estimate_cost, run_chunk, simulate_iteration};
pub use stats::codec::DecodeError;
pub use stats::{AbilityStats, ChunkResult, MergeError, Report};
pub use target::{Decision, WavePlan};
