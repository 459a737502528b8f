//! The one number format of WowLab, shared by the CLI (`wowlab sim`, `wowlab run`) and the
//! studio: comma thousands separators and a point ("17,296.6", "1,195"), the same as
//! `toLocaleString("en-US")` in the studio's scripts, so a figure reads the same everywhere.

/// `x` with `decimals` decimals and comma thousands groups; "—" when it is not a number.
pub fn grouped(x: f64, decimals: usize) -> String {
    if !x.is_finite() {
        return "—".into();
    }
    let plain = format!("{:.*}", decimals, x.abs());
    let (int, frac) = plain.split_once('.').unwrap_or((&plain, ""));
    let mut out = String::with_capacity(plain.len() + int.len() / 3 + 1);
    // "-0.0" reads as "0.0": a sign only when something non-zero is shown.
    if x < 0.0 && plain.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
        out.push('-');
    }
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// A whole number with comma thousands groups.
pub fn int(n: u64) -> String {
    grouped(n as f64, 0)
}

/// A DPS figure: one decimal.
pub fn dps(x: f64) -> String {
    grouped(x, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands_with_commas() {
        assert_eq!(grouped(17_298.84, 1), "17,298.8");
        assert_eq!(grouped(1_195.4, 0), "1,195");
        assert_eq!(grouped(999.96, 1), "1,000.0");
        assert_eq!(grouped(1_234_567.0, 0), "1,234,567");
        assert_eq!(grouped(12.0, 2), "12.00");
        assert_eq!(grouped(-4_321.5, 1), "-4,321.5");
        assert_eq!(grouped(-0.01, 1), "0.0");
        assert_eq!(grouped(f64::NAN, 1), "—");
        assert_eq!(int(60_000), "60,000");
        assert_eq!(int(7), "7");
        assert_eq!(dps(1_234_567.89), "1,234,567.9");
    }
}
