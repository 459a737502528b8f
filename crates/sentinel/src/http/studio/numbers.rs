//! The studio's number format: [`wowlab_sim::numbers`] (the CLI's too: comma thousands
//! separators and a point, "17,298.8", "1,195", the same as `wowlabFmt` in
//! `web/static/app.js`), plus rates and durations for people.

pub(crate) use wowlab_sim::numbers::{dps, grouped, int};

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
