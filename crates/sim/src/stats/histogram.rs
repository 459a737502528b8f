//! The fixed log-linear bucket layout shared by every chunk result.
//!
//! Values (milli-DPS) below 1024 get one bucket each; above, every power of two is split into
//! 1024 equal buckets, so a bucket is at most 0.1 % wide. The layout is a pure function of the
//! value, never of the data, so histograms from different chunks merge by adding counts.

/// Sub-bucket bits per octave.
const SUB_BITS: u32 = 10;
const SUB: u64 = 1 << SUB_BITS;

/// Index of the last bucket (that of `u64::MAX`); a histogram holding a larger one is corrupt.
pub const MAX_BUCKET: u32 = ((64 - SUB_BITS) << SUB_BITS) | (SUB as u32 - 1);

/// Bucket index of `v`.
#[inline]
pub fn bucket_of(v: u64) -> u32 {
    if v < SUB {
        v as u32
    } else {
        let e = 63 - v.leading_zeros(); // >= SUB_BITS
        let sub = (v >> (e - SUB_BITS)) & (SUB - 1);
        (((e - SUB_BITS + 1) as u64) << SUB_BITS | sub) as u32
    }
}

/// Smallest value in bucket `i` (`u64::MAX` past [`MAX_BUCKET`]).
pub fn bucket_low(i: u32) -> u64 {
    if i > MAX_BUCKET {
        return u64::MAX;
    }
    let i = i as u64;
    if i < SUB {
        i
    } else {
        let e = (i >> SUB_BITS) + SUB_BITS as u64 - 1;
        let sub = i & (SUB - 1);
        (SUB | sub) << (e - SUB_BITS as u64)
    }
}

/// One past the largest value in bucket `i` (saturating at the top of `u64`).
pub fn bucket_high(i: u32) -> u64 {
    let next = i as u64 + 1;
    // The last bucket of the top octave would be 2^64.
    if (next >> SUB_BITS) + SUB_BITS as u64 > 64 {
        u64::MAX
    } else {
        bucket_low(i + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_bucket_is_that_of_the_largest_value() {
        assert_eq!(bucket_of(u64::MAX), MAX_BUCKET);
        assert!(bucket_low(MAX_BUCKET) < u64::MAX);
        assert_eq!(bucket_high(MAX_BUCKET), u64::MAX);
        // Corrupt indices do not overflow a shift.
        assert_eq!(bucket_low(MAX_BUCKET + 1), u64::MAX);
        assert_eq!(bucket_low(u32::MAX), u64::MAX);
        assert_eq!(bucket_high(u32::MAX), u64::MAX);
    }

    #[test]
    fn buckets_cover_values_in_order() {
        let mut prev = 0;
        for v in (0..5000u64).chain([1 << 20, 123_456_789, 36_845_000, u64::MAX / 3, u64::MAX]) {
            let b = bucket_of(v);
            assert!(bucket_low(b) <= v, "v={v} b={b}");
            assert!(
                v < bucket_high(b) || bucket_high(b) == u64::MAX,
                "v={v} b={b}"
            );
            if v < 5000 {
                assert!(b >= prev);
                prev = b;
            }
        }
    }

    #[test]
    fn buckets_are_narrow() {
        for v in [2_000u64, 36_845_000, 1_000_000_000_000] {
            let b = bucket_of(v);
            let width = (bucket_high(b) - bucket_low(b)) as f64;
            assert!(width / v as f64 <= 1.0 / 1024.0 + 1e-12, "v={v}");
        }
    }
}
