//! Identifiers: the UUID v4 newtypes of `wowlab-api` (a job id can never be passed where a node
//! id is expected) and the chunk index.

use std::fmt;

use serde::{Deserialize, Serialize};

// The id newtypes are the wire contract's, so a sentinel id is a node id.
pub use wowlab_api::ids::{IdParseError, JobId, NodeId, UserId};

/// Position of a chunk within its job, `0..chunk_count`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct ChunkIndex(pub u32);

impl ChunkIndex {
    /// The index as a `usize`, for slice and bitmap addressing.
    pub const fn as_usize(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for ChunkIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text_and_serde() {
        let j = JobId::new();
        assert_eq!(j.to_string().parse::<JobId>().unwrap(), j);
        let json = serde_json_like(&j);
        assert_eq!(json, format!("\"{j}\""));
        assert_ne!(JobId::new(), JobId::new());
        assert_eq!(j.as_uuid().get_version_num(), 4);
    }

    fn serde_json_like(j: &JobId) -> String {
        // serde_json is not a dependency; the Display form is what `transparent` serializes.
        format!("\"{}\"", j.as_uuid().hyphenated())
    }

    #[test]
    fn bad_ids_are_typed_errors() {
        let e = "not-a-uuid".parse::<NodeId>().unwrap_err();
        assert_eq!(e.kind, "node");
        assert!(e.to_string().starts_with("invalid node id"));
    }

    #[test]
    fn chunk_index_orders_numerically() {
        assert!(ChunkIndex(2) < ChunkIndex(10));
        assert_eq!(ChunkIndex(7).as_usize(), 7);
    }
}
