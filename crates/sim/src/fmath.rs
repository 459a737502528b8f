//! Rounding and remainder for the simulation path, from the pure-Rust `libm` crate.
//!
//! Honest nodes must produce identical bytes for the same chunk on every platform, because a
//! spot check compares results byte for byte. `f64::floor`/`ceil`/`round` and the `%`
//! operator may compile to calls into the platform's C math library (x86_64 without SSE4.1
//! has no rounding instruction; `%` is always the libm `fmod`). These operations are exact
//! by specification, but routing them through one Rust implementation removes any platform
//! library from the path. The simulation uses no transcendental functions (`exp`, `ln`,
//! `pow`, `sin`...); `+ - * /` and `sqrt` are correctly rounded IEEE-754 operations, and
//! Rust never contracts `a * b + c` into a fused multiply-add unless `mul_add` is called.

/// `x` rounded toward negative infinity.
#[inline]
pub fn floor(x: f64) -> f64 {
    libm::floor(x)
}

/// `x` rounded toward positive infinity.
#[inline]
pub fn ceil(x: f64) -> f64 {
    libm::ceil(x)
}

/// `x` rounded to the nearest integer, ties away from zero (as `f64::round`).
#[inline]
pub fn round(x: f64) -> f64 {
    libm::round(x)
}

/// The remainder of `a / b` with the sign of `a` (as the `%` operator).
#[inline]
pub fn rem(a: f64, b: f64) -> f64 {
    libm::fmod(a, b)
}

/// `x as u64` (truncation toward zero, saturating, NaN to 0), computed through the signed
/// conversion below 2^63, which x86-64 does in one instruction where the unsigned one needs
/// a range split. Equal to `x as u64` for every `x`: below 2^63 both truncate (negatives and
/// −∞ clamp to 0 by the `max`), and NaN and values from 2^63 up take `x as u64` itself.
#[inline]
pub fn to_u64(x: f64) -> u64 {
    if x < 9_223_372_036_854_775_808.0 {
        (x as i64).max(0) as u64
    } else {
        x as u64
    }
}

/// `us as f64` for a time or duration of the simulation (µs), converted through the signed
/// conversion: x86-64 does that in one instruction where the unsigned one takes a sequence of
/// six. The two agree on every value below 2^63, and the simulation's times stay far below
/// that: a fight lasts at most an hour ([`crate::limits::MAX_FIGHT_SECS`]), every duration in
/// a profile (cooldown, aura, dot, tick, cast, pet) at most a day, and queued times below
/// 2^37 µs (the event queue's keys rely on it).
#[inline]
pub fn us_f64(us: u64) -> f64 {
    debug_assert!(us < 1 << 63);
    us as i64 as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_std_on_ordinary_values() {
        let xs = [
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.5,
            2.5,
            -2.5,
            1e15 + 0.5,
            123.456,
            -7.999,
            1e300,
        ];
        for x in xs {
            assert_eq!(floor(x).to_bits(), x.floor().to_bits(), "{x}");
            assert_eq!(ceil(x).to_bits(), x.ceil().to_bits(), "{x}");
            assert_eq!(round(x).to_bits(), x.round().to_bits(), "{x}");
            for y in [1.0, -3.0, 0.1, 7.25] {
                assert_eq!(rem(x, y).to_bits(), (x % y).to_bits(), "{x} % {y}");
            }
        }
    }

    #[test]
    fn to_u64_equals_the_saturating_cast_everywhere() {
        let two63 = 9_223_372_036_854_775_808.0;
        let mut xs = vec![
            0.0,
            -0.0,
            0.5,
            0.999_999,
            1.0,
            -0.5,
            -1.0,
            -1e300,
            1e300,
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            two63,
            two63 * 2.0,
            f64::from_bits(two63.to_bits() - 1),
            f64::from_bits((two63 * 2.0).to_bits() - 1),
            -two63,
            f64::from_bits((-two63).to_bits() + 1),
        ];
        let mut rng = crate::rng::Xoshiro256pp::seed_from_u64(3);
        // Random bit patterns cover every exponent, sign and NaN payload.
        xs.extend((0..100_000).map(|_| f64::from_bits(rng.next_u64())));
        for x in xs {
            assert_eq!(to_u64(x), x as u64, "{x:e} ({:#x})", x.to_bits());
        }
    }

    #[test]
    fn us_f64_equals_the_cast_below_2_63() {
        let mut xs = vec![0, 1, (1 << 63) - 1, 1 << 53, (1 << 53) + 1, 3_600_000_000];
        xs.extend((0..63).flat_map(|b| {
            let x = 1u64 << b;
            [x - 1, x, x + 1, x | (x >> 1) | 1]
        }));
        let mut rng = crate::rng::Xoshiro256pp::seed_from_u64(4);
        // Random values at every magnitude, including ones that round (above 2^53).
        xs.extend((0..100_000).map(|i| rng.next_u64() >> (1 + i % 63)));
        for x in xs {
            assert_eq!(us_f64(x).to_bits(), (x as f64).to_bits(), "{x}");
        }
    }
}
