//! Exact big integers in JSON: written as decimal strings, read from strings or plain numbers.
//!
//! A `u128` sum (the sum of squared milli-DPS passes 2^64 after a few tens of thousands of
//! iterations) does not fit a JSON number most readers accept, and JavaScript reads every
//! number as a double, exact only up to 2^53. So sums, and `u64` values not bounded by the
//! iteration count, are written as strings such as `"340282366920938463463374607431768211455"`.
//! Reading accepts those strings and, for results written before, plain non-negative integer
//! numbers that fit; fractions, signs, exponents and out-of-range values are refused.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

/// An unsigned integer that round-trips through its decimal text.
pub trait Exact: Copy + fmt::Display + TryFrom<u128> + Sized {
    /// Name for error messages.
    const NAME: &'static str;
}

impl Exact for u128 {
    const NAME: &'static str = "u128";
}

impl Exact for u64 {
    const NAME: &'static str = "u64";
}

/// Writes `v` as a decimal string.
pub fn serialize<T: Exact, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// Reads a decimal string or a plain non-negative integer number.
pub fn deserialize<'de, T: Exact, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
    d.deserialize_any(ExactVisitor(PhantomData))
}

/// Parses strict decimal text: ASCII digits only, at least one, no sign or spaces.
pub fn parse<T: Exact>(s: &str) -> Result<T, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("expected a decimal {} string, got {s:?}", T::NAME));
    }
    s.parse::<u128>()
        .ok()
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| format!("{s} does not fit a {}", T::NAME))
}

struct ExactVisitor<T>(PhantomData<T>);

impl<T: Exact> ExactVisitor<T> {
    fn fit<E: de::Error>(v: u128) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::custom(format!("{v} does not fit a {}", T::NAME)))
    }
}

impl<T: Exact> Visitor<'_> for ExactVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a {} as a decimal string or a non-negative integer",
            T::NAME
        )
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
        parse(s).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        Self::fit(u128::from(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<T, E> {
        Self::fit(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        u128::try_from(v)
            .map_err(|_| E::custom(format!("{v} is negative")))
            .and_then(Self::fit)
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<T, E> {
        u128::try_from(v)
            .map_err(|_| E::custom(format!("{v} is negative")))
            .and_then(Self::fit)
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Both {
        #[serde(with = "super")]
        big: u128,
        #[serde(with = "super")]
        small: u64,
    }

    #[test]
    fn extremes_round_trip_as_strings() {
        let v = Both {
            big: u128::MAX,
            small: u64::MAX,
        };
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(
            json,
            r#"{"big":"340282366920938463463374607431768211455","small":"18446744073709551615"}"#
        );
        assert_eq!(serde_json::from_str::<Both>(&json).unwrap(), v);
        // Through serde_json::Value too (what `json!` and HTTP handlers use).
        let value = serde_json::to_value(&v).unwrap();
        assert_eq!(serde_json::from_value::<Both>(value).unwrap(), v);
    }

    #[test]
    fn plain_numbers_that_fit_are_accepted() {
        let v: Both = serde_json::from_str(r#"{"big":18446744073709551615,"small":7}"#).unwrap();
        assert_eq!((v.big, v.small), (u64::MAX as u128, 7));
    }

    #[test]
    fn anything_inexact_is_refused() {
        for bad in [
            r#"{"big":"-1","small":"1"}"#,
            r#"{"big":"+1","small":"1"}"#,
            r#"{"big":" 1","small":"1"}"#,
            r#"{"big":"","small":"1"}"#,
            r#"{"big":"1e3","small":"1"}"#,
            r#"{"big":1.5,"small":"1"}"#,
            r#"{"big":-1,"small":"1"}"#,
            r#"{"big":"1","small":"18446744073709551616"}"#,
            r#"{"big":"340282366920938463463374607431768211456","small":"1"}"#,
            r#"{"big":null,"small":"1"}"#,
        ] {
            assert!(serde_json::from_str::<Both>(bad).is_err(), "{bad}");
        }
    }
}
