//! Server-rendered SVG charts: the convergence chart (running mean DPS with its 95 % band
//! against iterations, from stored points) and the DPS distribution (exact bins with mean and
//! median marked). One or several series each, so the compare page overlays runs. Axes carry
//! ticks and units; the plot has one y label. Extra reference lines (a target) are
//! [`Mark`]s, so a chart gains one without changing its drawing.

use maud::{html, Markup};
use wowlab_sim::stats::Bin;

use super::numbers;
use crate::store::ConvergencePoint;

/// ViewBox size and plot margins (the plot scales with the page; text scales with it).
const W: f64 = 560.0;
const H: f64 = 300.0;
const LEFT: f64 = 86.0;
const RIGHT: f64 = 18.0;
const TOP: f64 = 26.0;
const BOTTOM: f64 = 50.0;

/// One run's convergence.
pub(super) struct Convergence<'a> {
    /// Legend text.
    pub label: &'a str,
    /// Points by iterations.
    pub points: &'a [ConvergencePoint],
}

/// One run's distribution.
pub(super) struct Distribution<'a> {
    /// Legend text.
    pub label: &'a str,
    /// Exact bins, lowest first.
    pub bins: &'a [Bin],
    /// Mean DPS (marked).
    pub mean: f64,
    /// Median DPS (marked).
    pub median: f64,
}

/// A labelled reference line across the plot: vertical at an x value, or horizontal at a y
/// value.
pub(super) enum Mark {
    /// At this x (data units), with its label and CSS class.
    Vertical(f64, String, String),
    /// At this y (data units), with its label and CSS class.
    Horizontal(f64, String, String),
}

/// The running mean of each series with its 95 % band, x from 0 to `x_max` iterations.
pub(super) fn convergence(
    id: &str,
    series: &[Convergence<'_>],
    x_max: u64,
    marks: &[Mark],
) -> Markup {
    let all: Vec<&ConvergencePoint> = series.iter().flat_map(|s| s.points.iter()).collect();
    if all.is_empty() {
        return html! { p.muted id=(id) { "No progress was recorded for this job." } };
    }
    // Scale on each series' later 80 % so the wide early band does not flatten the chart.
    let tail = series
        .iter()
        .flat_map(|s| s.points[s.points.len() / 5..].iter())
        .flat_map(|p| [p.mean - p.ci95, p.mean + p.ci95]);
    let (lo, hi) = pad(bounds(tail));
    let x_hi = all
        .iter()
        .map(|p| p.iterations)
        .max()
        .unwrap_or(0)
        .max(x_max)
        .max(1) as f64;
    let axes = Axes::new((0.0, x_hi), (lo, hi));
    let paths = series.iter().enumerate().map(|(i, s)| {
        let band: Vec<String> = s
            .points
            .iter()
            .map(|p| axes.pt(p.iterations as f64, p.mean + p.ci95))
            .chain(
                s.points
                    .iter()
                    .rev()
                    .map(|p| axes.pt(p.iterations as f64, p.mean - p.ci95)),
            )
            .collect();
        let line: Vec<String> = s
            .points
            .iter()
            .map(|p| axes.pt(p.iterations as f64, p.mean))
            .collect();
        html! {
            g class={ "series s" (i % 6) } data-label=(s.label) {
                polygon.band points=(band.join(" ")) {}
                polyline.line points=(line.join(" ")) {}
            }
        }
    });
    let last = series
        .first()
        .and_then(|s| s.points.last())
        .map(|p| {
            format!(
                "Running mean DPS: {} ± {} after {} iterations",
                numbers::dps(p.mean),
                numbers::dps(p.ci95),
                numbers::int(p.iterations)
            )
        })
        .unwrap_or_default();
    frame(
        id,
        &last,
        &axes,
        "Iterations",
        "DPS",
        html! { @for p in paths { (p) } },
        marks,
    )
}

/// The distribution of each series as bars of the share of its iterations per bin, with its
/// mean and median marked.
pub(super) fn distribution(id: &str, series: &[Distribution<'_>]) -> Markup {
    let totals: Vec<f64> = series
        .iter()
        .map(|s| s.bins.iter().map(|b| b.count as f64).sum::<f64>().max(1.0))
        .collect();
    let edges = series
        .iter()
        .flat_map(|s| s.bins.iter())
        .flat_map(|b| [b.low, b.high]);
    let Some((lo, hi)) = bounds(edges) else {
        return html! { p.muted id=(id) { "No distribution data." } };
    };
    let peak = series
        .iter()
        .zip(&totals)
        .flat_map(|(s, t)| s.bins.iter().map(move |b| b.count as f64 * 100.0 / t))
        .fold(0.0, f64::max);
    let hi = if hi > lo { hi } else { lo + 1.0 };
    let axes = Axes::new((lo, hi), (0.0, (peak * 1.1).max(1e-9)));
    let overlay = series.len() > 1;
    // One run: its mean and median. Several: each run's mean in its colour (the legend names
    // them), so the labels stay short enough for a phone.
    let marks: Vec<Mark> = if overlay {
        series
            .iter()
            .enumerate()
            .map(|(i, s)| Mark::Vertical(s.mean, "mean".into(), format!("series s{}", i % 6)))
            .collect()
    } else {
        series
            .iter()
            .flat_map(|s| {
                [
                    Mark::Vertical(s.mean, "mean".into(), "mark-mean".into()),
                    Mark::Vertical(s.median, "median".into(), "mark-median".into()),
                ]
            })
            .collect()
    };
    let bars = series.iter().zip(&totals).enumerate().map(|(i, (s, total))| {
        html! {
            g class=(format!("series s{}{}", i % 6, if overlay { " overlay" } else { "" })) data-label=(s.label) {
                @for b in s.bins {
                    @let share = b.count as f64 * 100.0 / total;
                    @let (x0, y0) = axes.xy(b.low, share);
                    @let (x1, y1) = axes.xy(b.high, 0.0);
                    rect.bar x=(f(x0)) y=(f(y0)) width=(f((x1 - x0).max(0.8))) height=(f(y1 - y0)) data-count=(b.count) {
                        title { (numbers::dps(b.low)) "–" (numbers::dps(b.high)) " DPS: " (numbers::int(b.count)) " iterations (" (numbers::grouped(share, 1)) " %)" }
                    }
                }
            }
        }
    });
    let label = series
        .first()
        .map(|s| {
            format!(
                "DPS distribution: mean {}, median {}",
                numbers::dps(s.mean),
                numbers::dps(s.median)
            )
        })
        .unwrap_or_default();
    frame(
        id,
        &label,
        &axes,
        "DPS",
        "% of iterations",
        html! { @for b in bars { (b) } },
        &marks,
    )
}

/// Maps data to viewBox coordinates and draws the axes.
struct Axes {
    x: (f64, f64),
    y: (f64, f64),
}

impl Axes {
    fn new(x: (f64, f64), y: (f64, f64)) -> Self {
        Self { x, y }
    }

    fn xy(&self, x: f64, y: f64) -> (f64, f64) {
        let px = LEFT + (x - self.x.0) / (self.x.1 - self.x.0) * (W - LEFT - RIGHT);
        let py = TOP + (self.y.1 - y) / (self.y.1 - self.y.0) * (H - TOP - BOTTOM);
        (px, py.clamp(TOP, H - BOTTOM))
    }

    fn pt(&self, x: f64, y: f64) -> String {
        let (px, py) = self.xy(x, y);
        format!("{},{}", f(px), f(py))
    }
}

/// The SVG around a chart's `body`: ticks, grid, axis titles and `marks`.
fn frame(
    id: &str,
    label: &str,
    axes: &Axes,
    x_title: &str,
    y_title: &str,
    body: Markup,
    marks: &[Mark],
) -> Markup {
    let (x0, y0) = (LEFT, H - BOTTOM);
    let (x1, y1) = (W - RIGHT, TOP);
    let x_ticks = ticks(axes.x.0, axes.x.1);
    let y_ticks = ticks(axes.y.0, axes.y.1);
    let x_dec = decimals(&x_ticks);
    let y_dec = decimals(&y_ticks);
    html! {
        svg.plot id=(id) viewBox={ "0 0 " (W) " " (H) } role="img" aria-label=(label) {
            g.grid {
                @for t in &y_ticks {
                    @let (_, py) = axes.xy(axes.x.0, *t);
                    line x1=(f(x0)) x2=(f(x1)) y1=(f(py)) y2=(f(py)) {}
                }
            }
            (body)
            g.axis-lines {
                line x1=(f(x0)) x2=(f(x1)) y1=(f(y0)) y2=(f(y0)) {}
                line x1=(f(x0)) x2=(f(x0)) y1=(f(y0)) y2=(f(y1)) {}
            }
            g.ticks.x-ticks {
                @for t in &x_ticks {
                    @let (px, _) = axes.xy(*t, axes.y.0);
                    line x1=(f(px)) x2=(f(px)) y1=(f(y0)) y2=(f(y0 + 5.0)) {}
                    // The last label ends at its tick rather than past the edge.
                    @let anchor = if px > x1 - 40.0 { "end" } else { "middle" };
                    text.axis x=(f(px)) y=(f(y0 + 19.0)) text-anchor=(anchor) { (numbers::grouped(*t, x_dec)) }
                }
            }
            g.ticks.y-ticks {
                @for t in &y_ticks {
                    @let (_, py) = axes.xy(axes.x.0, *t);
                    line x1=(f(x0 - 5.0)) x2=(f(x0)) y1=(f(py)) y2=(f(py)) {}
                    text.axis x=(f(x0 - 8.0)) y=(f(py + 4.0)) text-anchor="end" { (numbers::grouped(*t, y_dec)) }
                }
            }
            text.axis-title.x-title x=(f((x0 + x1) / 2.0)) y=(f(H - 8.0)) text-anchor="middle" { (x_title) }
            text.axis-title.y-title x="0" y="0" text-anchor="middle"
                transform={ "translate(15 " (f((y0 + y1) / 2.0)) ") rotate(-90)" } { (y_title) }
            @for (i, m) in marks.iter().enumerate() {
                @match m {
                    Mark::Vertical(v, text, class) => {
                        @let (px, _) = axes.xy(*v, axes.y.0);
                        @let px = px.clamp(x0, x1);
                        // Labels alternate rows so mean and median next to each other stay legible.
                        @let ty = y1 - 8.0 + if i % 2 == 1 { 12.0 } else { 0.0 };
                        @let anchor = if px > (x0 + x1) / 2.0 { "end" } else { "start" };
                        @let tx = if anchor == "end" { px - 4.0 } else { px + 4.0 };
                        g class={ "mark " (class) } data-value=(v) {
                            line x1=(f(px)) x2=(f(px)) y1=(f(y0)) y2=(f(y1)) {}
                            text.mark-label x=(f(tx)) y=(f(ty + 8.0)) text-anchor=(anchor) { (text) " " (numbers::dps(*v)) }
                        }
                    }
                    Mark::Horizontal(v, text, class) => {
                        @let (_, py) = axes.xy(axes.x.0, *v);
                        g class={ "mark " (class) } data-value=(v) {
                            line x1=(f(x0)) x2=(f(x1)) y1=(f(py)) y2=(f(py)) {}
                            text.mark-label x=(f(x1 - 4.0)) y=(f(py - 4.0)) text-anchor="end" { (text) }
                        }
                    }
                }
            }
        }
    }
}

/// Coordinates with one decimal.
fn f(x: f64) -> String {
    format!("{x:.1}")
}

/// Smallest and largest finite value.
fn bounds(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

/// A range widened by 10 % each side (or ±1 when flat).
fn pad(b: Option<(f64, f64)>) -> (f64, f64) {
    let (lo, hi) = b.unwrap_or((0.0, 1.0));
    if hi > lo {
        let p = (hi - lo) * 0.1;
        (lo - p, hi + p)
    } else {
        (lo - 1.0, hi + 1.0)
    }
}

/// About five round tick values (steps of 1, 2 or 5 × 10^k) inside `[lo, hi]`.
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = hi - lo;
    if !span.is_finite() || span <= 0.0 {
        return vec![lo];
    }
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= 6.0)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// Decimals the tick labels need to tell neighbours apart.
fn decimals(ticks: &[f64]) -> usize {
    match ticks {
        [a, b, ..] => {
            let step = (b - a).abs();
            if step >= 1.0 {
                0
            } else {
                (-step.log10().floor()).clamp(0.0, 6.0) as usize
            }
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_inside() {
        assert_eq!(
            ticks(0.0, 60_000.0),
            vec![0.0, 10_000.0, 20_000.0, 30_000.0, 40_000.0, 50_000.0, 60_000.0]
        );
        let t = ticks(17_210.0, 17_390.0);
        assert!(t.len() >= 3 && t.len() <= 7, "{t:?}");
        assert!(
            t.iter()
                .all(|v| (17_210.0..=17_390.0).contains(v) && v % 50.0 == 0.0),
            "{t:?}"
        );
        assert_eq!(ticks(5.0, 5.0), vec![5.0]);
        assert_eq!(decimals(&[0.0, 0.5, 1.0]), 1);
        assert_eq!(decimals(&[0.0, 20.0]), 0);
    }

    #[test]
    fn charts_have_ticks_units_and_one_y_label() {
        let pts = [
            ConvergencePoint {
                iterations: 1000,
                mean: 17_250.0,
                ci95: 80.0,
            },
            ConvergencePoint {
                iterations: 2000,
                mean: 17_300.0,
                ci95: 40.0,
            },
        ];
        let svg = convergence(
            "c",
            &[Convergence {
                label: "a",
                points: &pts,
            }],
            2000,
            &[],
        )
        .into_string();
        assert_eq!(svg.matches("y-title").count(), 1, "{svg}");
        assert!(svg.contains(">Iterations</text>") && svg.contains(">DPS</text>"));
        assert!(svg.contains(">2,000</text>"), "{svg}");
        let bins = [
            Bin {
                low: 17_000.0,
                high: 17_100.0,
                count: 3,
            },
            Bin {
                low: 17_100.0,
                high: 17_200.0,
                count: 1,
            },
        ];
        let svg = distribution(
            "d",
            &[Distribution {
                label: "a",
                bins: &bins,
                mean: 17_080.0,
                median: 17_060.0,
            }],
        )
        .into_string();
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains("mark-mean") && svg.contains("mark-median"));
        assert!(svg.contains("75.0 %"), "{svg}");
    }
}
