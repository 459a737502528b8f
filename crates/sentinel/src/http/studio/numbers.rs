//! The one number format of the studio: comma thousands separators and a point ("17,298.8",
//! "1,195"), the same as `wowlabFmt` in `web/static/app.js` (`toLocaleString("en-US")`), so a
//! figure reads the same whether the server rendered it or a script updated it.

/// `x` with `decimals` decimals and comma thousands groups; "—" when it is not a number.
pub(crate) fn grouped(x: f64, decimals: usize) -> String {
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
pub(crate) fn int(n: u64) -> String {
    grouped(n as f64, 0)
}

/// A DPS figure: one decimal.
pub(crate) fn dps(x: f64) -> String {
    grouped(x, 1)
}

/// A rate for people: one decimal below 10, else whole numbers; 0 for nothing.
pub(crate) fn rate(r: f64) -> String {
    if !r.is_finite() || r <= 0.0 {
        return "0".into();
    }
    grouped(r, if r < 10.0 { 1 } else { 0 })
}

/// A duration in milliseconds as "2 h 5 min", "3 min 12 s" or "4.2 s".
pub(crate) fn duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{:.1} s", ms as f64 / 1000.0),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
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
    }

    #[test]
    fn rates_and_durations_read_naturally() {
        assert_eq!(rate(0.0), "0");
        assert_eq!(rate(-3.0), "0");
        assert_eq!(rate(4.26), "4.3");
        assert_eq!(rate(12_345.6), "12,346");
        assert_eq!(duration(4_200), "4.2 s");
        assert_eq!(duration(192_000), "3 min 12 s");
        assert_eq!(duration(7_500_000), "2 h 5 min");
    }
}
