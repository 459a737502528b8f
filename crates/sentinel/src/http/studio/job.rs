//! Job page: status and progress rendered from the store; `job.js` adds the live progress bar,
//! rate, convergence chart and contributing nodes from beacon. The final report (stats,
//! percentiles, histogram, abilities) is rendered here and swapped in by the script on finish.

use axum::extract::{Path, State};
use axum::http::header::CONTENT_DISPOSITION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, PreEscaped};
use serde_json::Value;

use super::{fmt_time, layout, viewer};
use crate::domain::{JobId, JobStatus};
use crate::http::{ApiError, Context};
use crate::sim::report_json;
use crate::store::{Job, User};

/// The job if `user` (or an anonymous visitor, for public jobs) may read it.
async fn visible(state: &Context, user: Option<&User>, id: &str) -> Option<Job> {
    let id: JobId = id.parse().ok()?;
    let job = state.store().job(id).await.ok()??;
    let ok = job.public || user.is_some_and(|u| u.id == job.owner || u.is_admin);
    ok.then_some(job)
}

pub(super) async fn page(
    State(state): State<Context>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let user = viewer(&state, &headers).await;
    let Some(job) = visible(&state, user.as_ref(), &id).await else {
        let main = html! {
            h1 { "Job not found" }
            p { "There is no job with this id, or it is private to another account." }
        };
        return (
            StatusCode::NOT_FOUND,
            layout::page("Not found", user.as_ref(), &[], main),
        )
            .into_response();
    };
    let owner = user
        .as_ref()
        .is_some_and(|u| u.id == job.owner || u.is_admin);
    // Visibility is the owner's alone (the API answers 404 to anyone else, admins included).
    let is_owner = user.as_ref().is_some_and(|u| u.id == job.owner);
    let done = if job.status == JobStatus::Completed {
        job.chunk_count
    } else {
        match state.coordinator().job_progress(job.id).await {
            Ok(p) => p.done,
            Err(_) => 0,
        }
    };
    let pct = if job.chunk_count == 0 {
        0.0
    } else {
        f64::from(done) * 100.0 / f64::from(job.chunk_count)
    };
    let result = job.result.as_deref().and_then(report_json);
    let short = job.id.to_string();
    let short = short.get(..8).unwrap_or_default();
    let main = html! {
        div #job data-job-id=(job.id) data-status=(job.status.as_str()) data-chunks=(job.chunk_count)
            data-chunk-size=(job.chunk_size) data-iterations=(job.iterations) data-live=(user.is_some() || job.public) {
            div.row {
                h1 { "Simulation " code { (short) } }
                span #status { (layout::status(job.status.as_str())) }
            }
            dl.facts {
                div { dt { "Iterations" } dd { (job.iterations) } }
                div { dt { "Seed" } dd { (job.seed) } }
                div { dt { "Chunks" } dd { (job.chunk_count) " × " (job.chunk_size) } }
                div { dt { "Submitted" } dd { (fmt_time(job.created_at.0)) } }
                @if let Some(f) = job.finished_at { div { dt { "Finished" } dd { (fmt_time(f.0)) } } }
            }
            // Always present (empty until then) so a live ending can fill it in.
            p.error #failure role="alert" { @if let Some(r) = &job.failure_reason { (r) } }
            section aria-labelledby="progress-h" {
                h2 id="progress-h" { "Progress" }
                div.progress-row {
                    progress #progress max="100" value=(format!("{pct:.1}")) aria-labelledby="progress-h" { (format!("{pct:.0}%")) }
                    span #progress-text aria-live="polite" { (done) " / " (job.chunk_count) " chunks" }
                }
                dl.facts {
                    div { dt { "Rate" } dd #rate { "—" } }
                    div { dt { "Running mean" } dd #mean { "—" } }
                    div { dt { "95% CI ±" } dd #ci { "—" } }
                    div { dt { "Live" } dd #live { @if job.status.is_terminal() { "finished" } @else { "connecting…" } } }
                }
                figure.chart {
                    figcaption { "Running mean DPS with its 95% confidence band" }
                    div #chart role="img" aria-label="Running mean DPS chart" { p.muted { "The chart fills in while chunks arrive (needs JavaScript)." } }
                }
                h3 { "Contributing nodes" }
                ul #nodes { li.muted { "Shown live while the job runs." } }
            }
            @if owner || job.public {
                section.actions aria-label="Job actions" {
                    @if owner && !job.status.is_terminal() {
                        button #cancel type="button" class="danger" { "Cancel job" }
                    }
                    @if job.status == JobStatus::Completed {
                        a.button href={ "/jobs/" (job.id) "/report.json" } download={ "job-" (job.id) ".json" } { "Download JSON" }
                    }
                    @if job.public {
                        p { "Public read-only link: " a #share href={ "/jobs/" (job.id) } { "/jobs/" (job.id) } }
                    } @else if owner {
                        p.muted { "Private job: only you can open it." }
                    }
                    @if is_owner {
                        button #visibility type="button" data-public=(job.public) {
                            @if job.public { "Make private" } @else { "Make public" }
                        }
                    }
                    p.error #action-error role="alert" {}
                }
            }
            section #report aria-labelledby="report-h" {
                @if let Some(r) = &result { (report(r)) }
            }
        }
    };
    // A public job is followed live by anyone holding its link.
    let scripts: &[&str] = if user.is_some() || job.public {
        &["/static/realtime.js", "/static/job.js"]
    } else {
        &[]
    };
    layout::page(&format!("Job {short}"), user.as_ref(), scripts, main).into_response()
}

/// `GET /jobs/{id}/report.json`: the final report as JSON (download), for whoever may see the job.
pub(super) async fn report_download(
    State(state): State<Context>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let user = viewer(&state, &headers).await;
    let job = visible(&state, user.as_ref(), &id)
        .await
        .ok_or(ApiError::NotFound("no such job"))?;
    let report = job
        .result
        .as_deref()
        .filter(|_| job.status == JobStatus::Completed)
        .and_then(report_json)
        .ok_or(ApiError::NotFound("the job has no result (yet)"))?;
    let disposition = format!("attachment; filename=\"job-{}.json\"", job.id);
    Ok(([(CONTENT_DISPOSITION, disposition)], axum::Json(report)).into_response())
}

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

fn f1(x: Option<f64>) -> String {
    x.map_or_else(|| "—".into(), |x| format!("{x:.1}"))
}

/// The report as an HTML string (for tests).
#[cfg(test)]
pub(super) fn report_markup(r: &Value) -> String {
    report(r).into_string()
}

/// The final report of a completed job (the sim's `Report` JSON).
fn report(r: &Value) -> Markup {
    let percentiles: Vec<(f64, f64)> = r
        .get("percentiles")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| Some((num(p, "p")?, num(p, "dps")?)))
                .collect()
        })
        .unwrap_or_default();
    let abilities = r
        .get("abilities")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mean = num(r, "mean_dps");
    let ci = num(r, "ci95_half_width");
    html! {
        h2 id="report-h" { "Report" }
        dl.facts.report #report-stats {
            div { dt { "Mean DPS" } dd data-k="mean_dps" { (f1(mean)) } }
            div { dt { "Std dev" } dd data-k="stddev" { (f1(num(r, "stddev"))) } }
            div { dt { "95% CI" } dd data-k="ci95" {
                @if let (Some(m), Some(c)) = (mean, ci) { (format!("{:.1} – {:.1}", m - c, m + c)) } @else { "—" } } }
            div { dt { "Min" } dd data-k="min_dps" { (f1(num(r, "min_dps"))) } }
            div { dt { "Max" } dd data-k="max_dps" { (f1(num(r, "max_dps"))) } }
            div { dt { "Iterations" } dd data-k="iterations" { (r.get("iterations").and_then(Value::as_u64).unwrap_or(0)) } }
            div { dt { "Mean fight" } dd { (f1(num(r, "mean_fight_secs"))) " s" } }
        }
        div.cols {
            div {
                h3 { "Percentiles" }
                div.table-wrap { table #percentiles {
                    thead { tr { th scope="col" { "Percentile" } th scope="col" { "DPS" } } }
                    tbody { @for (p, d) in &percentiles { tr { td { (format!("{p}%")) } td.num { (format!("{d:.1}")) } } } }
                } }
            }
            div {
                h3 { "Distribution" }
                (histogram(num(r, "min_dps"), num(r, "max_dps"), &percentiles))
            }
        }
        h3 { "Damage by ability" }
        div.table-wrap { table #abilities {
            thead { tr {
                th scope="col" { "Ability" } th scope="col" { "DPS" } th scope="col" { "Share" }
                th scope="col" { "Casts" } th scope="col" { "Hits" } th scope="col" { "Crit" } th scope="col" { "Avg hit" }
            } }
            tbody { @for a in &abilities { tr {
                th scope="row" { (a.get("name").and_then(Value::as_str).unwrap_or("?")) }
                td.num { (f1(num(a, "dps"))) }
                td.num { (f1(num(a, "share_pct"))) "%" }
                td.num { (f1(num(a, "casts_per_fight"))) }
                td.num { (f1(num(a, "hits_per_fight"))) }
                td.num { (f1(num(a, "crit_pct"))) "%" }
                td.num { (f1(num(a, "avg_hit"))) }
            } } }
        } }
    }
}

/// Density histogram between the reported quantiles (min, p1…p99, max): each bar holds the
/// probability mass between two neighbouring quantiles, so its height is mass / width.
fn histogram(min: Option<f64>, max: Option<f64>, pct: &[(f64, f64)]) -> Markup {
    let (Some(min), Some(max)) = (min, max) else {
        return html! { p.muted { "No distribution data." } };
    };
    let mut edges = vec![(0.0, min)];
    edges.extend(pct.iter().copied());
    edges.push((100.0, max));
    let span = (max - min).max(f64::EPSILON);
    let bars: Vec<(f64, f64, f64)> = edges
        .windows(2)
        .filter(|w| w[1].1 > w[0].1)
        .map(|w| {
            let density = (w[1].0 - w[0].0) / (w[1].1 - w[0].1);
            (w[0].1, w[1].1, density)
        })
        .collect();
    let peak = bars
        .iter()
        .map(|b| b.2)
        .fold(0.0, f64::max)
        .max(f64::EPSILON);
    let (w, h) = (400.0, 160.0);
    let mut svg = String::new();
    for (lo, hi, d) in &bars {
        let x = (lo - min) / span * w;
        let bw = ((hi - lo) / span * w).max(1.0);
        let bh = d / peak * (h - 20.0);
        svg.push_str(&format!(
            "<rect class=\"bar\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"{bh:.1}\"><title>{lo:.0}–{hi:.0} DPS</title></rect>",
            h - 20.0 - bh
        ));
    }
    svg.push_str(&format!(
        "<text x=\"0\" y=\"{h}\" class=\"axis\">{min:.0}</text><text x=\"{w}\" y=\"{h}\" text-anchor=\"end\" class=\"axis\">{max:.0}</text>"
    ));
    html! {
        svg #histogram viewBox=(format!("0 0 {w} {h}")) role="img" aria-label="DPS distribution histogram" preserveAspectRatio="none" {
            (PreEscaped(svg))
        }
    }
}
