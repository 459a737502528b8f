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
        Ok(Self {
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
        })
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
