//! A compact, stable binary encoding of [`ChunkResult`] for the grid's wire and store.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! magic     4 bytes  "WLCR"
//! version   u8       1
//! hash      u8 length, then that many UTF-8 bytes
//! iterations u64, sum_dps u128, sum_dps_sq u128, min_dps u64, max_dps u64,
//! sum_damage u128, sum_duration_us u128, events u128
//! buckets   u32 count, then per bucket: index u32, count u64 (strictly increasing index)
//! abilities u32 count, then per ability: u16 name length, name bytes, damage u128,
//!           casts u64, hits u64, crits u64
//! ```
//!
//! The encoding is canonical: equal results encode to equal bytes.

use std::collections::BTreeMap;

use super::histogram::MAX_BUCKET;
use super::{AbilityStats, ChunkResult};

const MAGIC: &[u8; 4] = b"WLCR";
const VERSION: u8 = 1;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not a chunk result.
    #[error("bad magic: not a WowLab chunk result")]
    BadMagic,
    /// Written by an unknown encoder version.
    #[error("unsupported chunk result encoding version {0}")]
    UnsupportedVersion(u8),
    /// Ran out of bytes.
    #[error("truncated chunk result")]
    Truncated,
    /// Bytes left after the end.
    #[error("{0} trailing bytes after the chunk result")]
    Trailing(usize),
    /// A name is not UTF-8.
    #[error("invalid UTF-8 in a name")]
    BadUtf8,
    /// Histogram buckets out of order (not canonical).
    #[error("histogram buckets are not strictly increasing")]
    Unordered,
    /// Well-formed bytes whose statistics contradict each other (see [`ChunkResult::check`]).
    #[error("inconsistent chunk result: {0}")]
    Inconsistent(&'static str),
}

impl ChunkResult {
    /// Encodes to the binary layout above.
    pub fn encode(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(128 + self.histogram.len() * 12 + self.abilities.len() * 48);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        let hash = self.profile_hash.as_bytes();
        let hash = &hash[..hash.len().min(255)];
        out.push(hash.len() as u8);
        out.extend_from_slice(hash);
        out.extend_from_slice(&self.iterations.to_le_bytes());
        out.extend_from_slice(&self.sum_dps.to_le_bytes());
        out.extend_from_slice(&self.sum_dps_sq.to_le_bytes());
        out.extend_from_slice(&self.min_dps.to_le_bytes());
        out.extend_from_slice(&self.max_dps.to_le_bytes());
        out.extend_from_slice(&self.sum_damage.to_le_bytes());
        out.extend_from_slice(&self.sum_duration_us.to_le_bytes());
        out.extend_from_slice(&self.events.to_le_bytes());
        out.extend_from_slice(&(self.histogram.len() as u32).to_le_bytes());
        for (&b, &c) in &self.histogram {
            out.extend_from_slice(&b.to_le_bytes());
            out.extend_from_slice(&c.to_le_bytes());
        }
        out.extend_from_slice(&(self.abilities.len() as u32).to_le_bytes());
        for a in &self.abilities {
            let name = a.name.as_bytes();
            let name = &name[..name.len().min(u16::MAX as usize)];
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(name);
            out.extend_from_slice(&a.damage.to_le_bytes());
            out.extend_from_slice(&a.casts.to_le_bytes());
            out.extend_from_slice(&a.hits.to_le_bytes());
            out.extend_from_slice(&a.crits.to_le_bytes());
        }
        out
    }

    /// Decodes the binary layout, rejecting anything malformed or non-canonical.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader { b: bytes };
        if r.take(4)? != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let version = r.u8()?;
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let hash_len = r.u8()? as usize;
        let profile_hash = r.string(hash_len)?;
        let iterations = r.u64()?;
        let sum_dps = r.u128()?;
        let sum_dps_sq = r.u128()?;
        let min_dps = r.u64()?;
        let max_dps = r.u64()?;
        let sum_damage = r.u128()?;
        let sum_duration_us = r.u128()?;
        let events = r.u128()?;
        let buckets = r.u32()? as usize;
        // Each bucket needs 12 bytes: refuse counts the input cannot hold before allocating.
        if buckets > r.b.len() / 12 {
            return Err(DecodeError::Truncated);
        }
        let mut histogram = BTreeMap::new();
        let mut last: Option<u32> = None;
        for _ in 0..buckets {
            let b = r.u32()?;
            let c = r.u64()?;
            if last.is_some_and(|l| b <= l) {
                return Err(DecodeError::Unordered);
            }
            last = Some(b);
            histogram.insert(b, c);
        }
        let n = r.u32()? as usize;
        if n > r.b.len() / 42 {
            return Err(DecodeError::Truncated);
        }
        let mut abilities = Vec::with_capacity(n);
        for _ in 0..n {
            let len = r.u16()? as usize;
            let name = r.string(len)?;
            abilities.push(AbilityStats {
                name,
                damage: r.u128()?,
                casts: r.u64()?,
                hits: r.u64()?,
                crits: r.u64()?,
            });
        }
        if !r.b.is_empty() {
            return Err(DecodeError::Trailing(r.b.len()));
        }
        let out = Self {
            profile_hash,
            iterations,
            sum_dps,
            sum_dps_sq,
            min_dps,
            max_dps,
            sum_damage,
            sum_duration_us,
            events,
            histogram,
            abilities,
        };
        out.check()?;
        Ok(out)
    }

    /// Checks what every result the engine produces holds: histogram counts add up to the
    /// iterations, buckets exist, and min/max are ordered (or the empty markers). A node may
    /// post anything, so the sentinel must not trust more than this.
    pub fn check(&self) -> Result<(), DecodeError> {
        let mut counted = 0u64;
        for (&b, &c) in &self.histogram {
            if b > MAX_BUCKET {
                return Err(DecodeError::Inconsistent("histogram bucket out of range"));
            }
            if c == 0 {
                return Err(DecodeError::Inconsistent("empty histogram bucket"));
            }
            counted = counted
                .checked_add(c)
                .ok_or(DecodeError::Inconsistent("histogram counts overflow"))?;
        }
        if counted != self.iterations {
            return Err(DecodeError::Inconsistent(
                "histogram counts do not add up to the iterations",
            ));
        }
        let extremes_ok = if self.iterations == 0 {
            self.min_dps == u64::MAX && self.max_dps == 0
        } else {
            self.min_dps <= self.max_dps
        };
        if !extremes_ok {
            return Err(DecodeError::Inconsistent(
                "min and max DPS are out of order",
            ));
        }
        Ok(())
    }
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.b.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.b.split_at(n);
        self.b = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn u128(&mut self) -> Result<u128, DecodeError> {
        Ok(u128::from_le_bytes(self.array()?))
    }
    fn string(&mut self, n: usize) -> Result<String, DecodeError> {
        std::str::from_utf8(self.take(n)?)
            .map(str::to_string)
            .map_err(|_| DecodeError::BadUtf8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_iteration() -> ChunkResult {
        ChunkResult {
            profile_hash: "h".into(),
            iterations: 1,
            sum_dps: 5,
            sum_dps_sq: 25,
            min_dps: 5,
            max_dps: 5,
            sum_damage: 5,
            sum_duration_us: 1,
            events: 1,
            histogram: BTreeMap::from([(5, 1)]),
            abilities: Vec::new(),
        }
    }

    /// Well-formed bytes a hostile node could post: each used to reach a panic in `report()`
    /// (`f64::clamp` with min > max, a shift overflow on a huge bucket, an overflowing count).
    #[test]
    fn inconsistent_results_are_refused_not_reported() {
        type Corrupt = fn(&mut ChunkResult);
        let cases: [(&str, Corrupt); 6] = [
            ("min > max", |r| {
                r.min_dps = 9;
                r.max_dps = 1;
            }),
            ("bucket past the last", |r| {
                r.histogram = BTreeMap::from([(u32::MAX, 1)]);
            }),
            ("counts overflow", |r| {
                r.histogram = BTreeMap::from([(1, u64::MAX), (2, 2)]);
            }),
            ("counts differ from iterations", |r| r.iterations = 2),
            ("empty bucket", |r| {
                r.histogram.insert(7, 0);
            }),
            ("empty with extremes", |r| {
                r.iterations = 0;
                r.histogram.clear();
            }),
        ];
        assert!(ChunkResult::decode(&one_iteration().encode()).is_ok());
        for (what, corrupt) in cases {
            let mut r = one_iteration();
            corrupt(&mut r);
            assert!(
                matches!(
                    ChunkResult::decode(&r.encode()),
                    Err(DecodeError::Inconsistent(_))
                ),
                "{what}"
            );
            assert!(ChunkResult::from_json(&r.to_json()).is_err(), "{what}");
            // Built in memory (the fields are public), the report still does not panic.
            let _ = r.report();
        }
    }
}
