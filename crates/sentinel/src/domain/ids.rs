//! Identifiers: UUID v4 newtypes so a job id can never be passed where a node id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A string that is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} id: {reason}")]
pub struct IdParseError {
    /// Which id kind was being parsed.
    pub kind: &'static str,
    /// Why it was refused.
    pub reason: String,
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random (v4) id.
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }

            /// Wraps an existing UUID.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self).map_err(|e| IdParseError {
                    kind: $kind,
                    reason: e.to_string(),
                })
            }
        }
    };
}

uuid_id!(
    /// A simulation job.
    JobId,
    "job"
);
uuid_id!(
    /// A compute node.
    NodeId,
    "node"
);
uuid_id!(
    /// A user account.
    UserId,
    "user"
);

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
