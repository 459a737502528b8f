//! Go-style duration strings (`"25s"`, `"300ms"`, `"1h30m"`, `"720h"`) as used by Centrifugo.

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A duration read from and written as a Go-style string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    /// Zero duration.
    pub const ZERO: Duration = Duration(std::time::Duration::ZERO);

    /// Whole seconds.
    pub const fn from_secs(s: u64) -> Self {
        Duration(std::time::Duration::from_secs(s))
    }

    /// Milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Duration(std::time::Duration::from_millis(ms))
    }

    /// True when zero.
    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// The std duration.
    pub fn get(&self) -> std::time::Duration {
        self.0
    }

    /// Parses `"1h2m3.5s"`, `"250ms"`, `"0"`; units ns, us, µs, ms, s, m, h.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "0" {
            return Ok(Duration::ZERO);
        }
        if s.is_empty() {
            return Err("empty duration".into());
        }
        let mut total_ns: f64 = 0.0;
        let mut rest = s;
        while !rest.is_empty() {
            let num_end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            if num_end == 0 {
                return Err(format!("invalid duration `{s}`: expected a number"));
            }
            let n: f64 = rest[..num_end]
                .parse()
                .map_err(|_| format!("invalid duration `{s}`"))?;
            rest = &rest[num_end..];
            let unit_end = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let unit = &rest[..unit_end];
            rest = &rest[unit_end..];
            let mult = match unit {
                "ns" => 1.0,
                "us" | "µs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                "" => {
                    return Err(format!(
                        "invalid duration `{s}`: missing unit (use e.g. \"25s\")"
                    ))
                }
                u => return Err(format!("invalid duration `{s}`: unknown unit `{u}`")),
            };
            total_ns += n * mult;
        }
        if !total_ns.is_finite() || total_ns > u64::MAX as f64 {
            return Err(format!("invalid duration `{s}`: out of range"));
        }
        Ok(Duration(std::time::Duration::from_nanos(total_ns as u64)))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.is_zero() {
            return write!(f, "0s");
        }
        if d.subsec_nanos() == 0 {
            let s = d.as_secs();
            if s.is_multiple_of(3600) {
                return write!(f, "{}h", s / 3600);
            }
            if s.is_multiple_of(60) {
                return write!(f, "{}m", s / 60);
            }
            return write!(f, "{s}s");
        }
        if d.subsec_nanos().is_multiple_of(1_000_000) {
            return write!(f, "{}ms", d.as_millis());
        }
        write!(f, "{}ns", d.as_nanos())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string like \"25s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                if v == 0 {
                    Ok(Duration::ZERO)
                } else {
                    Err(E::custom(format!("bare number {v}: write the duration as a string with a unit, e.g. \"{v}s\"")))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "bare number {v}: write the duration as a string with a unit"
                )))
            }
        }
        d.deserialize_any(V)
    }
}
