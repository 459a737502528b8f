//! Typed errors for reading and checking profiles.

use std::fmt;

use serde::Serialize;

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
}

impl ProfileError {
    /// The location, when known.
    pub fn location(&self) -> Option<Location> {
        match self {
            Self::Syntax { location, .. } | Self::Invalid { location, .. } => *location,
        }
    }
}
