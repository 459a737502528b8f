//! Typed errors for reading and checking profiles.

use std::fmt;

use serde::Serialize;

use crate::limits::Limit;

/// A 1-based position in the profile text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Location {
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` in `src`.
    pub fn of_offset(src: &str, offset: usize) -> Self {
        let offset = offset.min(src.len());
        let before = &src[..floor_char_boundary(src, offset)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Self { line, column }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

fn at(location: &Option<Location>) -> String {
    location.map_or_else(String::new, |l| format!("{l}: "))
}

fn in_field(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

/// Why a profile could not be read or compiled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProfileError {
    /// The text is not valid TOML/JSON or does not match the schema.
    #[error("{}{format} error: {message}", at(.location))]
    Syntax {
        /// `TOML` or `JSON`.
        format: &'static str,
        /// The parser's message.
        message: String,
        /// Where, when known.
        location: Option<Location>,
    },
    /// The profile parses but is inconsistent (unknown names, bad values, bad expressions).
    #[error("{}{path}: {message}", at(.location))]
    Invalid {
        /// Field path such as `apl[2].if` or `spells[0].cooldown`.
        path: String,
        /// What is wrong.
        message: String,
        /// Where, when known.
        location: Option<Location>,
    },
    /// The profile exceeds one of the [bounds](crate::limits) that keep compiling and running
    /// it cheap.
    #[error("{}{}{message}", at(.location), in_field(.path))]
    Limit {
        /// Which bound.
        limit: Limit,
        /// Field path (empty for the whole text).
        path: String,
        /// What is too large, and the bound.
        message: String,
        /// Where, when known.
        location: Option<Location>,
    },
}

impl ProfileError {
    /// The location, when known.
    pub fn location(&self) -> Option<Location> {
        match self {
            Self::Syntax { location, .. }
            | Self::Invalid { location, .. }
            | Self::Limit { location, .. } => *location,
        }
    }

    /// The bound exceeded, if that is why the profile was refused.
    pub fn limit(&self) -> Option<Limit> {
        match self {
            Self::Limit { limit, .. } => Some(*limit),
            _ => None,
        }
    }
}

/// Why iterations could not be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// An iteration processed more than [`MAX_EVENTS_PER_ITERATION`] events: the profile
    /// schedules too much for one fight, so the chunk stops instead of running on.
    ///
    /// [`MAX_EVENTS_PER_ITERATION`]: crate::limits::MAX_EVENTS_PER_ITERATION
    #[error(
        "iteration {iteration} exceeded {limit} events after {:.3} s of the fight; the profile \
         schedules too much per fight (fast ticks, swings or procs over a long fight)",
        *.at_us as f64 / 1e6
    )]
    EventLimit {
        /// The iteration that stopped.
        iteration: u64,
        /// The bound.
        limit: u64,
        /// Fight time reached, in microseconds.
        at_us: u64,
    },
}
