//! Reading profiles from text, and mapping field paths back to line/column for error messages.

use toml::de::{DeTable, DeValue};

use crate::error::{Location, ProfileError};
use crate::profile::schema::Profile;

/// Text format of a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// TOML.
    Toml,
    /// JSON.
    Json,
}

impl Format {
    /// JSON when the first non-blank character is `{`, TOML otherwise.
    pub fn sniff(src: &str) -> Self {
        if src.trim_start().starts_with('{') {
            Self::Json
        } else {
            Self::Toml
        }
    }
}

/// Parses a TOML profile.
pub fn parse_toml(src: &str) -> Result<Profile, ProfileError> {
    toml::from_str(src).map_err(|e| ProfileError::Syntax {
        format: "TOML",
        message: e.message().trim().to_string(),
        location: e.span().map(|s| Location::of_offset(src, s.start)),
    })
}

/// Parses a JSON profile.
pub fn parse_json(src: &str) -> Result<Profile, ProfileError> {
    serde_json::from_str(src).map_err(|e| {
        let full = e.to_string();
        // serde_json appends " at line L column C"; keep the message and report the position apart.
        let message = match full.rfind(" at line ") {
            Some(i) => full[..i].to_string(),
            None => full,
        };
        ProfileError::Syntax {
            format: "JSON",
            message,
            location: (e.line() > 0).then(|| Location {
                line: e.line(),
                column: e.column(),
            }),
        }
    })
}

/// Parses a profile in either format (see [`Format::sniff`]).
pub fn parse_profile(src: &str) -> Result<Profile, ProfileError> {
    match Format::sniff(src) {
        Format::Toml => parse_toml(src),
        Format::Json => parse_json(src),
    }
}

/// Maps field paths (`apl[2].if`) to positions in the source text, for semantic errors.
///
/// Only consulted when an error is reported, so the document is re-parsed lazily.
#[derive(Debug, Clone, Copy)]
pub struct SourceMap<'a> {
    src: &'a str,
    format: Format,
}

impl<'a> SourceMap<'a> {
    /// A map over `src`.
    pub fn new(src: &'a str, format: Format) -> Self {
        Self { src, format }
    }

    /// Position of the value at `path`, plus `inner` bytes into a string value's content.
    ///
    /// A missing field (say, a required key that is absent) is located at its nearest
    /// enclosing value that exists.
    pub fn locate(&self, path: &str, inner: Option<usize>) -> Option<Location> {
        match self.format {
            Format::Toml => {
                let mut p = path;
                let mut inner = inner;
                loop {
                    if let Some(loc) = self.locate_toml(p, inner) {
                        return Some(loc);
                    }
                    inner = None;
                    p = &p[..p.rfind(['.', '['])?];
                }
            }
            // JSON errors carry the field path; serde_json exposes no value spans to map it.
            Format::Json => None,
        }
    }

    fn locate_toml(&self, path: &str, inner: Option<usize>) -> Option<Location> {
        let doc = DeTable::parse(self.src).ok()?;
        let segments = split_path(path)?;
        let mut span = doc.span();
        let mut table: Option<&DeTable> = Some(doc.get_ref());
        let mut value: Option<&DeValue> = None;
        for seg in segments {
            let next = match seg {
                Seg::Key(k) => {
                    let t = match value {
                        None => table?,
                        Some(DeValue::Table(t)) => t,
                        _ => return None,
                    };
                    t.iter()
                        .find(|(key, _)| key.get_ref().as_ref() == k)
                        .map(|(_, v)| v)?
                }
                Seg::Index(i) => match value? {
                    DeValue::Array(a) => a.get(i)?,
                    _ => return None,
                },
            };
            span = next.span();
            value = Some(next.get_ref());
            table = None;
        }
        let mut offset = span.start;
        if let (Some(inner), Some(DeValue::String(_))) = (inner, value) {
            let raw = &self.src[span.clone()];
            let skip = if raw.starts_with("\"\"\"") || raw.starts_with("'''") {
                let after = &raw[3..];
                3 + if after.starts_with("\r\n") {
                    2
                } else if after.starts_with('\n') {
                    1
                } else {
                    0
                }
            } else {
                1
            };
            offset += skip + inner;
        }
        Some(Location::of_offset(self.src, offset))
    }
}

enum Seg<'p> {
    Key(&'p str),
    Index(usize),
}

fn split_path(path: &str) -> Option<Vec<Seg<'_>>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Seg::Key(key));
        }
        while let Some(stripped) = rest.strip_prefix('[') {
            let end = stripped.find(']')?;
            out.push(Seg::Index(stripped[..end].parse().ok()?));
            rest = &stripped[end + 1..];
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "version = 1\n[fight]\nduration = 300\n\n[[apl]]\nspell = \"a\"\n\n[[apl]]\nspell = \"b\"\nif = \"buff.x.up and y\"\n";

    #[test]
    fn locates_nested_values_and_string_offsets() {
        let map = SourceMap::new(SRC, Format::Toml);
        assert_eq!(
            map.locate("fight.duration", None),
            Some(Location {
                line: 3,
                column: 12
            })
        );
        assert_eq!(
            map.locate("apl[1].spell", None),
            Some(Location { line: 9, column: 9 })
        );
        // Offset 15 of the condition is `y`: column 6 (`"`) + 1 + 15.
        assert_eq!(
            map.locate("apl[1].if", Some(15)),
            Some(Location {
                line: 10,
                column: 22
            })
        );
        // A missing element falls back to the nearest enclosing value (the `apl` array).
        assert_eq!(
            map.locate("apl[7].if", None),
            Some(Location { line: 5, column: 1 })
        );
    }

    #[test]
    fn toml_syntax_errors_have_positions() {
        let err = parse_toml("version = 1\n[fight]\nduration = \n").unwrap_err();
        let loc = err.location().expect("location");
        assert_eq!(loc.line, 3);
        let err = parse_toml("version = 1\nbogus = 2\n").unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
        assert_eq!(err.location().map(|l| l.line), Some(2));
    }

    #[test]
    fn json_syntax_errors_have_positions() {
        let err =
            parse_json("{\"version\": 1,\n \"fight\": {\"duration\": \"long\"}}").unwrap_err();
        let loc = err.location().expect("location");
        assert_eq!(loc.line, 2);
        assert!(err.to_string().contains("invalid type"), "{err}");
    }
}
