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

/// Target run time of one chunk on a typical core (ARCHITECTURE.md §6: about 0.5–2 s).
pub const TARGET_CHUNK_NS: u64 = 1_000_000_000;

/// Iterations per chunk so that a chunk lasts about [`TARGET_CHUNK_NS`], within `1..=iterations`.
pub fn chunk_size_for(iteration_cost_ns: u64, iterations: u64) -> u64 {
    (TARGET_CHUNK_NS / iteration_cost_ns.max(1)).clamp(1, iterations.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_size_targets_one_second() {
        assert_eq!(chunk_size_for(100_000, 1_000_000), 10_000);
        assert_eq!(chunk_size_for(0, 1_000_000), 1_000_000);
        assert_eq!(chunk_size_for(5_000_000_000, 10), 1);
        assert_eq!(chunk_size_for(10, 50), 50);
    }
}
