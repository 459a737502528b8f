//! The runner-facing API: run a range of iterations, estimate cost, split jobs into chunks.

use std::ops::Range;
use std::time::{Duration, Instant};

use crate::compile::CompiledProfile;
use crate::engine::{IterationOutcome, Sim};
use crate::error::RunError;
use crate::stats::ChunkResult;

/// Runs iterations `iterations` of a job seeded with `seed`.
///
/// Iteration `k` depends on `(seed, k)` only, so results of any split of a job's range merge
/// (with [`ChunkResult::merge`]) into bit-identical totals. An iteration that exceeds the
/// [event bound](crate::limits::MAX_EVENTS_PER_ITERATION) stops the chunk with an error.
pub fn run_chunk(
    profile: &CompiledProfile,
    seed: u64,
    iterations: Range<u64>,
) -> Result<ChunkResult, RunError> {
    let mut out = ChunkResult::empty(profile);
    let mut sim = Sim::new(profile);
    for k in iterations {
        let (damage, duration, events) = sim.run(seed, k)?;
        out.record_iteration(damage, duration, events);
        for (acc, t) in out.abilities.iter_mut().zip(&sim.tally) {
            acc.damage += t.damage as u128;
            acc.casts += t.casts;
            acc.hits += t.hits;
            acc.crits += t.crits;
        }
    }
    Ok(out)
}

/// Runs one iteration and returns its full outcome (for tests and debugging).
pub fn simulate_iteration(
    profile: &CompiledProfile,
    seed: u64,
    k: u64,
) -> Result<IterationOutcome, RunError> {
    let mut sim = Sim::new(profile);
    let (damage, duration_us, events) = sim.run(seed, k)?;
    Ok(IterationOutcome {
        damage,
        duration_us,
        events,
        abilities: sim.tally.clone(),
    })
}

/// Measured wall time of one iteration on this core, for chunk sizing.
///
/// Runs iterations (of a fixed private seed) until about 20 ms have passed or 1000 iterations
/// are done, after one warm-up iteration. A profile whose iterations exceed the event bound
/// fails here already, so it can be refused before any chunk runs.
pub fn estimate_cost(profile: &CompiledProfile) -> Result<Duration, RunError> {
    const SEED: u64 = 0x5EED_C057;
    let mut sim = Sim::new(profile);
    sim.run(SEED, 0)?;
    let start = Instant::now();
    let mut n = 0u32;
    while n < 1000 {
        sim.run(SEED, n as u64 + 1)?;
        n += 1;
        if start.elapsed() >= Duration::from_millis(20) {
            break;
        }
    }
    Ok(start.elapsed() / n)
}

/// Splits `0..total` into consecutive ranges of at most `chunk` iterations.
pub fn chunk_ranges(total: u64, chunk: u64) -> Vec<Range<u64>> {
    let chunk = chunk.max(1);
    let mut out = Vec::with_capacity(total.div_ceil(chunk) as usize);
    let mut start = 0;
    while start < total {
        let end = start.saturating_add(chunk).min(total);
        out.push(start..end);
        start = end;
    }
    out
}

/// Iterations per chunk so one chunk takes about `target` given a per-iteration `cost`.
pub fn chunk_size_for(cost: Duration, target: Duration) -> u64 {
    let per = cost.as_nanos().max(1);
    (target.as_nanos() / per).clamp(1, u32::MAX as u128) as u64
}
