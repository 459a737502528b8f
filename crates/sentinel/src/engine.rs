//! What the sentinel needs from the simulation engine before accepting a job: validation, the
//! profile's content hash and its measured cost, from which the chunk size follows. The sim
//! crate provides the implementation; this layer only sees the trait.

/// A profile the engine accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedProfile {
    /// Content hash identifying the profile (dedup key of `configs`).
    pub content_hash: String,
    /// Measured cost of one iteration on a typical core, in nanoseconds.
    pub iteration_cost_ns: u64,
}

/// Validates profiles (the sim engine, behind a trait so the control plane does not depend on it).
pub trait ProfileEngine: Send + Sync + 'static {
    /// Compiles and measures a profile; the error is shown to the user.
    fn validate(&self, profile: &str) -> Result<ValidatedProfile, String>;
}

/// Target run time of one chunk on a typical core (`docs/architecture.md`, "How a chunk flows").
pub const TARGET_CHUNK_NS: u64 = 1_000_000_000;

/// Shortest chunk the sizing aims for when it shrinks chunks to spread a small job: the
/// per-chunk cost of the whole stack is about half a millisecond, so 250 ms keeps it ≤ 0.2 %.
pub const MIN_CHUNK_NS: u64 = 250_000_000;

/// Chunks per slot a job should have at least, so that slots finishing at slightly different
/// speeds still end together.
pub const MIN_CHUNKS_PER_SLOT: u64 = 4;

/// Iterations per chunk for a job of `iterations` costing `iteration_cost_ns` each, on a grid
/// with `slots` live worker slots. A chunk lasts about [`TARGET_CHUNK_NS`]; a job too small to
/// give every slot [`MIN_CHUNKS_PER_SLOT`] such chunks gets shorter ones (down to
/// [`MIN_CHUNK_NS`]), and the chunk count is rounded up to a multiple of `slots` so no slot
/// idles through a last lone round. Result bytes do not depend on the chunking.
pub fn chunk_size_for(iteration_cost_ns: u64, iterations: u64, slots: u32) -> u64 {
    let iterations = iterations.max(1);
    let cost = iteration_cost_ns.max(1);
    let slots = u64::from(slots.max(1));
    let total_ns = cost.saturating_mul(iterations);
    let spread = MIN_CHUNKS_PER_SLOT.saturating_mul(slots);
    let mut chunks = if total_ns / TARGET_CHUNK_NS >= spread {
        total_ns.div_ceil(TARGET_CHUNK_NS)
    } else {
        spread.min(total_ns / MIN_CHUNK_NS).max(1)
    };
    if chunks >= slots {
        chunks = chunks.div_ceil(slots) * slots;
    }
    iterations
        .div_ceil(chunks.min(iterations))
        .clamp(1, iterations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_jobs_get_one_second_chunks() {
        // 100 s of work on 2 slots: 100 chunks of 1 s (already a multiple of 2).
        assert_eq!(chunk_size_for(100_000, 1_000_000, 2), 10_000);
        // Free iterations: one chunk; huge ones: one iteration per chunk.
        assert_eq!(chunk_size_for(0, 1_000_000, 1), 1_000_000);
        assert_eq!(chunk_size_for(5_000_000_000, 10, 1), 1);
    }

    #[test]
    fn chunk_counts_are_multiples_of_the_slots() {
        // 11 s of work on 2 slots: 11 one-second chunks would leave a lone last round; 12.
        let size = chunk_size_for(55_000, 200_000, 2);
        assert_eq!(200_000u64.div_ceil(size), 12);
        // 3 slots, 10 s: 12 chunks of ~0.83 s (4 per slot).
        let size = chunk_size_for(1_000_000, 10_000, 3);
        assert_eq!(10_000u64.div_ceil(size), 12);
    }

    #[test]
    fn small_jobs_are_spread_over_the_slots_but_not_below_the_floor() {
        // 4 s of work on 2 slots: 8 chunks of 0.5 s instead of 4 of 1 s.
        assert_eq!(chunk_size_for(1_000_000, 4_000, 2), 500);
        // 0.6 s of work on 8 slots: chunks stay ≥ 250 ms, so 2 chunks (fewer than slots).
        assert_eq!(chunk_size_for(1_000_000, 600, 8), 300);
        // Never more chunks than iterations, never an empty chunk.
        assert_eq!(chunk_size_for(10, 50, 64), 50);
        assert_eq!(chunk_size_for(2_000_000_000, 3, 64), 1);
    }
}
