//! Fence tokens: monotonically increasing numbers that let the receiver of a write tell a
//! current holder from a superseded one.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The fence of one chunk lease. Every lease gets a fresh, larger fence than any lease issued
/// before it by the same coordinator, so a later lease of the same chunk always carries a larger
/// fence and a result presented with an older fence is refused.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct Fence(pub u64);

impl fmt::Display for Fence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The fence of one leader-lock acquisition; larger on every new acquisition of the same lock,
/// so writes by a deposed leader can be told apart.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct FenceToken(pub u64);

impl fmt::Display for FenceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
