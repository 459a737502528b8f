//! Compare page (`/compare?jobs=a,b,…`): two or more finished runs side by side. The first
//! run is the baseline; every other one gets its DPS difference with the 95 % CI of that
//! difference and whether it is significant (Welch's t-test), per-ability deltas, and the
//! convergence and distribution charts overlaid. A picker (your finished runs) chooses them.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use wowlab_sim::Report;

use super::charts::{self, Convergence, Distribution, Mark};
use super::job::{convergence_points, display_name, visible};
use super::{layout, numbers, viewer};
use crate::domain::{JobId, JobStatus};
use crate::http::Context;
use crate::sim::report_json;
use crate::store::{ConvergencePoint, Job};

/// Most runs compared at once (the charts stay legible).
const MAX_RUNS: usize = 6;

/// How many of the viewer's finished runs the picker lists.
const PICKER_RUNS: u32 = 100;

/// A run on the page.
struct Run {
    job: Job,
    name: String,
    report: Report,
    points: Vec<ConvergencePoint>,
}

/// The difference of a run's mean DPS from the baseline's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Difference {
    /// Mean of the run minus mean of the baseline.
    pub diff: f64,
    /// Half-width of the difference's 95 % confidence interval.
    pub half_width: f64,
    /// Two-sided p-value of Welch's t-test.
    pub p: f64,
}

impl Difference {
    /// Significant at the 5 % level (the CI of the difference excludes 0).
    pub fn significant(&self) -> bool {
        self.p < 0.05
    }
}

/// Welch's t-test of `b` against `a`, with the normal approximation of the t distribution
/// (runs have hundreds to millions of iterations, where the two agree to three decimals).
pub(super) fn difference(a: &Report, b: &Report) -> Difference {
    let var = |r: &Report| {
        if r.iterations > 1 {
            r.stddev * r.stddev / r.iterations as f64
        } else {
            0.0
        }
    };
    let se = (var(a) + var(b)).sqrt();
    let diff = b.mean_dps - a.mean_dps;
    let p = if se > 0.0 {
        erfc((diff / se).abs() / std::f64::consts::SQRT_2)
    } else if diff == 0.0 {
        1.0
    } else {
        0.0
    };
    Difference {
        diff,
        half_width: 1.96 * se,
        p,
    }
}

/// The complementary error function (Numerical Recipes' Chebyshev fit, relative error below
/// 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// Job ids from `jobs=a,b&jobs=c`, in order, without repeats.
fn requested(query: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for pair in query.unwrap_or_default().split('&') {
        let Some(("jobs", v)) = pair.split_once('=') else {
            continue;
        };
        for id in v.split([',', '+']).flat_map(|s| s.split("%2C")) {
            let id = id.trim();
            if !id.is_empty() && !out.iter().any(|o| o == id) {
                out.push(id.to_owned());
            }
        }
    }
    out
}

/// `GET /compare`.
pub(super) async fn page(
    State(state): State<Context>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let user = viewer(&state, &headers).await;
    let ids = requested(query.as_deref());
    let mut runs = Vec::new();
    let mut problems = Vec::new();
    if ids.len() > MAX_RUNS {
        problems.push(format!(
            "At most {MAX_RUNS} runs can be compared at once; the first {MAX_RUNS} are shown."
        ));
    }
    for id in ids.iter().take(MAX_RUNS) {
        let Some(job) = visible(&state, user.as_ref(), id).await else {
            problems.push(format!("No run {id} that you can open."));
            continue;
        };
        let report = job
            .result
            .as_deref()
            .filter(|_| job.status == JobStatus::Completed)
            .and_then(report_json)
            .and_then(|v| serde_json::from_value::<Report>(v).ok());
        let name = display_name(&state, &job).await;
        let Some(report) = report else {
            problems.push(format!(
                "“{name}” has not completed, so it has no result to compare."
            ));
            continue;
        };
        let points = convergence_points(&state, &job).await;
        runs.push(Run {
            job,
            name,
            report,
            points,
        });
    }
    let picker = match &user {
        Some(u) => match state.store().list_jobs(u.id, PICKER_RUNS).await {
            Ok(mut jobs) => {
                // The runs compared first, in their order, so the baseline stays on top (a
                // form submits its checked boxes in page order).
                jobs.sort_by_key(|j| {
                    ids.iter()
                        .position(|i| *i == j.id.to_string())
                        .unwrap_or(usize::MAX)
                });
                let mut finished = Vec::new();
                for j in jobs
                    .into_iter()
                    .filter(|j| j.status == JobStatus::Completed)
                {
                    let name = display_name(&state, &j).await;
                    finished.push((j.id, name));
                }
                finished
            }
            Err(e) => {
                tracing::warn!(error = %e, "compare picker");
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    let chosen: Vec<JobId> = runs.iter().map(|r| r.job.id).collect();
    let main = html! {
        h1 { "Compare runs" }
        @for p in &problems { p.error role="alert" { (p) } }
        @if runs.len() >= 2 {
            (comparison(&runs))
        } @else {
            p #compare-empty { "Select two or more finished runs to compare their DPS, abilities and charts." }
        }
        @if !picker.is_empty() {
            form.card #compare-picker method="get" action="/compare" {
                fieldset {
                    legend { "Your finished runs (the topmost checked run is the baseline)" }
                    ul.picker {
                        @for (id, name) in &picker {
                            li { label {
                                input type="checkbox" name="jobs" value=(id) checked[chosen.contains(id)];
                                " " (name) " " span.muted { code { (id.to_string().get(..8).unwrap_or_default()) } }
                            } }
                        }
                    }
                }
                button type="submit" { "Compare" }
            }
        }
    };
    layout::page("Compare runs", user.as_ref(), &[], main).into_response()
}

/// The comparison of at least two runs, the first as the baseline.
fn comparison(runs: &[Run]) -> Markup {
    let base = &runs[0];
    let x_max = runs.iter().map(|r| r.job.iterations).max().unwrap_or(0);
    let conv: Vec<Convergence<'_>> = runs
        .iter()
        .map(|r| Convergence {
            label: &r.name,
            points: &r.points,
        })
        .collect();
    let dist: Vec<Distribution<'_>> = runs
        .iter()
        .map(|r| Distribution {
            label: &r.name,
            bins: &r.report.distribution,
            mean: r.report.mean_dps,
            median: r
                .report
                .percentiles
                .iter()
                .find(|p| p.p == 50.0)
                .map_or(r.report.mean_dps, |p| p.dps),
        })
        .collect();
    // Abilities in the baseline's order (largest first), then any only the others have.
    let mut abilities: Vec<&str> = Vec::new();
    for r in runs {
        for a in &r.report.abilities {
            if !abilities.contains(&a.name.as_str()) {
                abilities.push(&a.name);
            }
        }
    }
    let dps_of = |r: &Run, name: &str| {
        r.report
            .abilities
            .iter()
            .find(|a| a.name == name)
            .map_or(0.0, |a| a.dps)
    };
    html! {
        section aria-labelledby="cmp-dps-h" {
            h2 #cmp-dps-h { "DPS" }
            div.table-wrap { table #compare-dps {
                thead { tr {
                    th scope="col" { "Run" } th scope="col" { "Mean DPS ± 95% CI" } th scope="col" { "Iterations" }
                    th scope="col" { "Difference vs baseline" } th scope="col" { "Significant?" }
                } }
                tbody {
                    @for (i, r) in runs.iter().enumerate() {
                        tr data-job=(r.job.id) {
                            th scope="row" {
                                span class={ "swatch s" (i % 6) } aria-hidden="true" {} " "
                                a href={ "/jobs/" (r.job.id) } { (r.name) }
                                " " span.muted { "seed " (r.job.seed) @if i == 0 { " (baseline)" } }
                            }
                            td.num { (numbers::dps(r.report.mean_dps)) " ± " (numbers::dps(r.report.ci95_half_width)) }
                            td.num { (numbers::int(r.report.iterations)) }
                            @if i == 0 {
                                td.num { "—" } td { "baseline" }
                            } @else {
                                @let d = difference(&base.report, &r.report);
                                td.num.diff data-diff=(d.diff) data-half-width=(d.half_width) {
                                    (signed(d.diff)) " ± " (numbers::dps(d.half_width))
                                    " (" (signed_pct(d.diff, base.report.mean_dps)) ")"
                                }
                                td.significance data-significant=(d.significant()) {
                                    @if d.significant() { strong { "Yes" } } @else { "No" }
                                    " " span.muted { "(p " (p_text(d.p)) ")" }
                                }
                            }
                        }
                    }
                }
            } }
            p.muted { "Difference: the run's mean minus the baseline's, with the 95% confidence interval of the difference (Welch's t-test). Significant when that interval excludes 0 (p < 0.05)." }
        }
        section aria-labelledby="cmp-charts-h" {
            h2 #cmp-charts-h { "Charts" }
            ul.legend {
                @for (i, r) in runs.iter().enumerate() {
                    li { span class={ "swatch s" (i % 6) } aria-hidden="true" {} " " (r.name) " " span.muted { "seed " (r.job.seed) } }
                }
            }
            div.cols {
                figure.chart {
                    figcaption { "Running mean DPS with 95% bands" }
                    (charts::convergence("compare-convergence", &conv, x_max, &[Mark::Horizontal(
                        base.report.mean_dps,
                        format!("baseline {}", numbers::dps(base.report.mean_dps)),
                        "mark-baseline".into(),
                    )]))
                }
                figure.chart {
                    figcaption { "DPS distribution (mean and median marked)" }
                    (charts::distribution("compare-histogram", &dist))
                }
            }
        }
        section aria-labelledby="cmp-ab-h" {
            h2 #cmp-ab-h { "Damage by ability" }
            div.table-wrap { table #compare-abilities {
                thead { tr {
                    th scope="col" { "Ability" }
                    th scope="col" { (base.name) " DPS" }
                    @for r in &runs[1..] { th scope="col" { (r.name) " DPS" } th scope="col" { "Δ" } }
                } }
                tbody {
                    @for name in &abilities {
                        @let b = dps_of(base, name);
                        tr {
                            th scope="row" { (name) }
                            td.num { (numbers::dps(b)) }
                            @for r in &runs[1..] {
                                @let v = dps_of(r, name);
                                td.num { (numbers::dps(v)) }
                                td.num.delta { (signed(v - b)) }
                            }
                        }
                    }
                }
            } }
        }
    }
}

/// A difference with its sign ("+12.3", "-4.0", "0.0").
fn signed(x: f64) -> String {
    let s = numbers::dps(x);
    if x > 0.0 && s != "0.0" {
        format!("+{s}")
    } else {
        s
    }
}

/// A difference as a signed percentage of `base`.
fn signed_pct(diff: f64, base: f64) -> String {
    if base == 0.0 {
        return "—".into();
    }
    let pct = diff * 100.0 / base;
    let s = numbers::grouped(pct, 2);
    if pct > 0.0 && s != "0.00" {
        format!("+{s} %")
    } else {
        format!("{s} %")
    }
}

/// A p-value for people.
fn p_text(p: f64) -> String {
    if p < 0.001 {
        "< 0.001".into()
    } else {
        format!("= {p:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(mean: f64, stddev: f64, n: u64) -> Report {
        Report {
            iterations: n,
            mean_dps: mean,
            stddev,
            ci95_half_width: 1.96 * stddev / (n as f64).sqrt(),
            min_dps: 0.0,
            max_dps: 0.0,
            mean_fight_secs: 0.0,
            events_per_iteration: 0.0,
            percentiles: Vec::new(),
            abilities: Vec::new(),
            distribution: Vec::new(),
        }
    }

    #[test]
    fn welch_difference_and_significance() {
        let a = report(17_000.0, 1_000.0, 10_000);
        // se = sqrt(2 * 100) = 14.14; 1.96 se = 27.7.
        let b = report(17_050.0, 1_000.0, 10_000);
        let d = difference(&a, &b);
        assert_eq!(d.diff, 50.0);
        assert!((d.half_width - 27.72).abs() < 0.01, "{d:?}");
        // z = 3.54 → p ≈ 0.0004.
        assert!(d.significant() && d.p < 0.001, "{d:?}");
        let c = report(17_010.0, 1_000.0, 10_000);
        let d = difference(&a, &c);
        // z = 0.707 → p ≈ 0.4795.
        assert!(!d.significant() && (d.p - 0.4795).abs() < 0.001, "{d:?}");
        assert!((difference(&a, &a).p - 1.0).abs() < 1e-6);
    }

    #[test]
    fn erfc_matches_known_values() {
        assert!((erfc(0.0) - 1.0).abs() < 1e-7);
        assert!((erfc(1.0) - 0.157_299_2).abs() < 1e-6);
        assert!((erfc(-1.0) - 1.842_700_8).abs() < 1e-6);
        // 1.96 / sqrt(2): the two-sided 5 % point.
        assert!((erfc(1.96 / std::f64::consts::SQRT_2) - 0.05).abs() < 1e-4);
    }

    #[test]
    fn ids_are_read_from_lists_and_repeats() {
        assert_eq!(
            requested(Some("jobs=a,b&jobs=c&jobs=a&x=1")),
            ["a", "b", "c"]
        );
        assert_eq!(requested(Some("jobs=a%2Cb")), ["a", "b"]);
        assert!(requested(None).is_empty());
    }

    #[test]
    fn signs_and_p_values_read_naturally() {
        assert_eq!(signed(1234.56), "+1,234.6");
        assert_eq!(signed(-4.0), "-4.0");
        assert_eq!(signed(0.01), "0.0");
        assert_eq!(signed_pct(50.0, 17_000.0), "+0.29 %");
        assert_eq!(p_text(0.0001), "< 0.001");
        assert_eq!(p_text(0.4796), "= 0.480");
    }
}
