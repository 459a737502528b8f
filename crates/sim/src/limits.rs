//! Bounds that keep a hostile profile from stalling whoever compiles or runs it (the sentinel
//! validating a submission, a node running a chunk). Each is far above what a real profile
//! reaches (the examples are 3–4 KB, with conditions of at most a few dozen nodes, 300 s fights
//! and a few thousand events per iteration) and is refused with a typed error.

use std::fmt;

use serde::Serialize;

/// Largest profile text accepted, in bytes (checked before parsing).
pub const MAX_PROFILE_BYTES: usize = 1 << 20;

/// Deepest expression tree (and parser nesting) in a condition, after variables are inlined.
pub const MAX_EXPR_DEPTH: usize = 64;

/// Most nodes of one condition or variable, after variables are inlined.
pub const MAX_EXPR_NODES: usize = 10_000;

/// Most tokens in one condition's text (parentheses and commas are tokens but not nodes).
pub const MAX_EXPR_TOKENS: usize = 4 * MAX_EXPR_NODES;

/// Most expression nodes of a whole profile: every variable and condition after inlining.
pub const MAX_PROFILE_EXPR_NODES: usize = 100_000;

/// Longest fight in seconds, including `fight.variance` (one hour).
pub const MAX_FIGHT_SECS: f64 = 3_600.0;

/// Most queue events one iteration may process (superseded ones included; a cooldown
/// reduction moves its recharge event rather than superseding it, and a new decision, auto
/// attack swing, dot tick, aura expiry or recharge replaces its owner's outdated one in
/// place) before it stops
/// with [`RunError::EventLimit`](crate::RunError::EventLimit).
pub const MAX_EVENTS_PER_ITERATION: u64 = 1_000_000;

/// Which bound a profile exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// [`MAX_PROFILE_BYTES`].
    ProfileBytes,
    /// [`MAX_EXPR_DEPTH`].
    ExprDepth,
    /// [`MAX_EXPR_NODES`] or [`MAX_EXPR_TOKENS`].
    ExprNodes,
    /// [`MAX_PROFILE_EXPR_NODES`].
    ProfileExprNodes,
    /// [`MAX_FIGHT_SECS`].
    FightDuration,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ProfileBytes => "profile size",
            Self::ExprDepth => "expression depth",
            Self::ExprNodes => "expression size",
            Self::ProfileExprNodes => "total expression size",
            Self::FightDuration => "fight duration",
        })
    }
}
