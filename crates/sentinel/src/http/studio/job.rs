//! Job page: status and progress rendered from the store; `job.js` adds the live progress bar,
//! rate, convergence chart and contributing nodes from beacon. The final report (stats,
//! percentiles, histogram, abilities) is rendered here and swapped in by the script on finish.

use axum::extract::{Path, State};
use axum::http::header::CONTENT_DISPOSITION;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde_json::Value;

use super::charts::{self, Convergence, Distribution};
use super::{fmt_time, layout, numbers, viewer};
use crate::domain::{JobId, JobStatus, NodeId};
use crate::http::user::jobs::MAX_NAME_CHARS;
use crate::http::{ApiError, Context};
use crate::projector::ResultMerger;
use crate::sim::{report_json, SimMerger};
use crate::store::{ChunkResult, ConvergencePoint, Job, User};
use wowlab_sim::stats::Bin;

/// The job if `user` (or an anonymous visitor, for public jobs) may read it.
pub(super) async fn visible(state: &Context, user: Option<&User>, id: &str) -> Option<Job> {
    let id: JobId = id.parse().ok()?;
    let job = state.store().job(id).await.ok()??;
    let ok = job.public || user.is_some_and(|u| u.id == job.owner || u.is_admin);
    ok.then_some(job)
}

pub(super) async fn page(
    State(state): State<Context>,
    headers: HeaderMap,
    uri: Uri,
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
    let outcome = outcome(&state, &job).await;
    let terminal = job.status.is_terminal();
    let name = display_name(&state, &job).await;
    let target = state.store().job_target(job.id).await.ok().flatten();
    let points = convergence_points(&state, &job).await;
    let contributors = contributors(&state, &job).await;
    let simulated = simulated(&state, &job).await;
    let share = share_url(&headers, &uri, &job);
    let review = state
        .store()
        .job_reviews(job.id)
        .await
        .ok()
        .and_then(|r| r.into_iter().last());
    let main = html! {
        div #job data-job-id=(job.id) data-status=(job.status.as_str()) data-chunks=(job.chunk_count)
            data-chunk-size=(job.chunk_size) data-iterations=(job.iterations) data-live=(user.is_some() || job.public)
            data-target-error=[target.map(|t| t.target_error)] {
            div.row {
                h1 #job-name { (name) }
                span #status { (layout::status(job.status.as_str())) }
            }
            @if let Some(r) = &review { (review_notice(&job, r)) }
            // The answer first; empty (hidden) while the job runs, swapped in by job.js on finish.
            div #answer { @if terminal { (answer(&job, &outcome)) } }
            // Always present (empty until then) so a live ending can fill it in.
            p.error #failure role="alert" { @if let Some(r) = &job.failure_reason { (r) } }
            @if !terminal {
                section #progress-section aria-labelledby="progress-h" {
                    h2 id="progress-h" { "Progress" }
                    div.progress-row {
                        progress #progress max="100" value=(format!("{pct:.1}")) aria-labelledby="progress-h" { (format!("{pct:.0}%")) }
                        span #progress-text aria-live="polite" { (numbers::int(done.into())) " / " (numbers::int(job.chunk_count.into())) " chunks" }
                    }
                    dl.facts #live-facts {
                        div { dt { "Rate" } dd #rate { "—" } }
                        div { dt { "Running mean" } dd #mean { "—" } }
                        div { dt { "95% CI ±" } dd #ci { "—" } }
                        @if let Some(t) = target {
                            div { dt { "Half-width" } dd #halfwidth { "— (target " (t.target_error) " %)" } }
                        }
                        div { dt { "Live" } dd #live { "connecting…" } }
                    }
                    figure.chart #live-chart {
                        figcaption { "Running mean DPS with its 95% confidence band" }
                        // Drawn from the stored progress; job.js redraws it as chunks merge.
                        div #chart data-src={ "/jobs/" (job.id) "/convergence" } { (convergence_chart(&job, &points)) }
                    }
                    @if let Some(t) = target {
                        figure.chart {
                            figcaption { "95% CI half-width, percent of the mean, shrinking toward the target of " (t.target_error) " % (dashed)" }
                            div #halfwidth-chart role="img" aria-label="Half-width chart" { p.muted { "Fills in while chunks arrive (needs JavaScript)." } }
                        }
                    }
                    div #live-nodes {
                        h3 { "Contributing nodes" }
                        (contributors_list(&contributors, user.is_some()))
                    }
                }
            }
            @if terminal && !matches!(outcome, Outcome::Nothing) {
                figure.chart #convergence-figure {
                    figcaption { "Running mean DPS with its 95% confidence band, as the chunks merged" }
                    (convergence_chart(&job, &points))
                }
            }
            section #report aria-labelledby="report-h" {
                @match &outcome {
                    Outcome::Final(r) => (report(r, false)),
                    Outcome::Partial(r) => (report(r, true)),
                    Outcome::Nothing | Outcome::Pending => {}
                }
                @if terminal {
                    h3 { "Contributing nodes" }
                    (contributors_list(&contributors, user.is_some()))
                }
            }
            @if owner || job.public {
                section.actions aria-label="Job actions" {
                    @if owner && !terminal {
                        button #cancel type="button" class="danger" { "Cancel job" }
                    }
                    div.row.wrap {
                        @if job.status == JobStatus::Completed {
                            a.button href={ "/jobs/" (job.id) "/report.json" } download={ "job-" (job.id) ".json" } { "Download JSON" }
                        }
                        a.button.secondary href={ "/api/jobs/" (job.id) "/profile" } { "View profile" }
                        a.button.secondary href={ "/api/jobs/" (job.id) "/profile" } download={ "job-" (job.id) ".toml" } { "Download profile" }
                        @if is_owner {
                            a.button.secondary href={ "/jobs/new?from=" (job.id) } { "Re-run or edit" }
                        }
                        @if job.status == JobStatus::Completed {
                            a.button.secondary #compare-link href={ "/compare?jobs=" (job.id) } { "Compare with other runs" }
                        }
                        @if is_owner && terminal {
                            button #delete type="button" class="danger" { "Delete job" }
                        }
                    }
                    @if job.public {
                        div.share {
                            p { "Public read-only link:" }
                            div.share-row {
                                a #share href=(share) { (share) }
                                button.secondary #copy-share type="button" data-copy=(share) { "Copy link" }
                                span #copy-status role="status" {}
                            }
                            @if let Some(what) = &simulated { p.muted #share-what { (what) } }
                        }
                    } @else if owner {
                        p.muted { "Private job: only you can open it." }
                    }
                    @if is_owner {
                        form.inline-form #rename data-api={ "/api/jobs/" (job.id) } data-method="PATCH" data-redirect="reload" novalidate {
                            label for="rename-name" { "Name" }
                            input #rename-name name="name" type="text" required maxlength=(MAX_NAME_CHARS) value=(name)
                                aria-describedby="rename-name-error";
                            button.secondary type="submit" { "Rename" }
                            p.error #rename-name-error role="alert" {}
                        }
                        button #visibility type="button" data-public=(job.public) {
                            @if job.public { "Make private" } @else { "Make public" }
                        }
                    }
                    p.error #action-error role="alert" {}
                }
            }
            section aria-labelledby="details-h" {
                h2 id="details-h" { "Run details" }
                dl.facts #details {
                    @if let Some(t) = target {
                        div { dt { "Target error" } dd #target-facts {
                            "± " (t.target_error) " % of the mean, at most " (numbers::int(t.max_iterations)) " iterations; "
                            (if job.status == JobStatus::Completed { t.waves } else { t.waves - 1 }) " waves done"
                        } }
                    } @else {
                        div { dt { "Iterations" } dd { (numbers::int(job.iterations)) } }
                    }
                    div { dt { "Seed" } dd { (job.seed) } }
                    div { dt { "Chunks" } dd { (numbers::int(job.chunk_count.into())) " × " (numbers::int(job.chunk_size)) } }
                    div { dt { "Submitted" } dd { (fmt_time(job.created_at.0)) } }
                    @if let Some(f) = job.finished_at { div { dt { "Finished" } dd { (fmt_time(f.0)) } } }
                }
            }
        }
    };
    // A public job is followed live by anyone holding its link.
    let scripts: &[&str] = if owner || job.public {
        &["/static/realtime.js", "/static/job.js"]
    } else {
        &[]
    };
    layout::page(&name, user.as_ref(), scripts, main).into_response()
}

/// The stored convergence of a job (empty when it cannot be read: the page still renders).
/// What the job's last review means for its result (README "Trusting volunteer results").
fn review_notice(job: &Job, r: &crate::store::JobReview) -> Markup {
    let chunks = r.chunks.len();
    let plural = if chunks == 1 { "" } else { "s" };
    html! {
        @if r.is_open() {
            p.notice #review role="status" data-under-review="true" {
                strong { "Under review. " }
                (chunks) " chunk" (plural) " of this job came from a node a spot check found wrong; "
                "they are being recomputed on other owners' nodes"
                @if job.status == JobStatus::Completed { ", and the result below will be corrected" }
                "."
            }
        } @else if r.new_result_hash.is_some() {
            p.notice #review role="status" data-under-review="false" {
                strong { "Corrected. " }
                (chunks) " chunk" (plural) " that came from a node a spot check found wrong were "
                "recomputed on other owners' nodes; the result below is the corrected one."
            }
        }
    }
}

pub(super) async fn convergence_points(state: &Context, job: &Job) -> Vec<ConvergencePoint> {
    state.store().convergence(job.id).await.unwrap_or_else(|e| {
        tracing::warn!(job = %job.id, error = %e, "convergence points");
        Vec::new()
    })
}

/// The convergence chart of one job, x up to its iteration count.
fn convergence_chart(job: &Job, points: &[ConvergencePoint]) -> Markup {
    charts::convergence(
        "convergence",
        &[Convergence {
            label: "this run",
            points,
        }],
        job.iterations,
        &[],
    )
}

/// The job for a request of its data (JSON, chart): 404 when the viewer may not read it.
async fn visible_or_404(state: &Context, headers: &HeaderMap, id: &str) -> Result<Job, ApiError> {
    let user = viewer(state, headers).await;
    visible(state, user.as_ref(), id)
        .await
        .ok_or(ApiError::NotFound("no such job"))
}

/// `GET /jobs/{id}/convergence`: the convergence chart alone, for `job.js` to redraw.
pub(super) async fn convergence_fragment(
    State(state): State<Context>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = visible_or_404(&state, &headers, &id).await?;
    let points = convergence_points(&state, &job).await;
    Ok(axum::response::Html(convergence_chart(&job, &points).into_string()).into_response())
}

/// A node that contributed results to a job: id, name for people, chunks merged.
struct Contributor {
    id: NodeId,
    name: String,
    chunks: u32,
}

/// The nodes whose results a job stored, from the store (so finished jobs list them too).
async fn contributors(state: &Context, job: &Job) -> Vec<Contributor> {
    let nodes = match state.store().job_nodes(job.id).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(job = %job.id, error = %e, "contributing nodes");
            return Vec::new();
        }
    };
    let mut out = Vec::with_capacity(nodes.len());
    for (id, chunks) in nodes {
        let name = match state.store().node_by_id(id).await {
            Ok(Some(n)) if !n.name.is_empty() => n.name,
            _ => format!("node {}", id.to_string().get(..8).unwrap_or_default()),
        };
        out.push(Contributor { id, name, chunks });
    }
    out
}

/// The contributing nodes as a list (linked to their pages for signed-in viewers).
fn contributors_list(nodes: &[Contributor], linked: bool) -> Markup {
    html! {
        ul #nodes {
            @for n in nodes {
                li data-node=(n.id) {
                    @if linked { a href={ "/nodes/" (n.id) } { (n.name) } } @else { (n.name) }
                    span.muted { " · " (numbers::int(n.chunks.into())) (if n.chunks == 1 { " chunk" } else { " chunks" }) }
                }
            }
            @if nodes.is_empty() { li.muted { "No results merged yet." } }
        }
    }
}

/// One line saying what was simulated: profile title, iterations, seed.
async fn simulated(state: &Context, job: &Job) -> Option<String> {
    let text = state.store().config(&job.config_hash).await.ok()??;
    let title = wowlab_sim::parse_profile(&text)
        .ok()
        .map(|p| p.name)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "an unnamed profile".into());
    Some(format!(
        "Simulates {title}: {} iterations, seed {}.",
        numbers::int(job.iterations),
        job.seed
    ))
}

/// The job's absolute URL as the viewer reached the studio (scheme from a proxy's
/// `X-Forwarded-Proto`, else http).
fn share_url(headers: &HeaderMap, uri: &Uri, job: &Job) -> String {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_graphic()))
    };
    let scheme = match header("x-forwarded-proto") {
        Some("https") => "https",
        _ => "http",
    };
    // HTTP/2 carries the host in the URI's authority instead of a Host header.
    let authority = uri.authority().map(|a| a.as_str());
    let host = header("host").or(authority).unwrap_or("localhost");
    format!("{scheme}://{host}/jobs/{}", job.id)
}

/// A job's name for people: the one it was given, else "Simulation" and its short id.
pub(super) fn name_or_default(job: &Job, name: Option<String>) -> String {
    name.filter(|n| !n.is_empty()).unwrap_or_else(|| {
        let id = job.id.to_string();
        format!("Simulation {}", id.get(..8).unwrap_or_default())
    })
}

pub(super) async fn display_name(state: &Context, job: &Job) -> String {
    let name = match state.store().job_name(job.id).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(job = %job.id, error = %e, "job name");
            None
        }
    };
    name_or_default(job, name)
}

/// `GET /jobs/{id}/report.json`: the final report as JSON (download), for whoever may see the job.
pub(super) async fn report_download(
    State(state): State<Context>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = visible_or_404(&state, &headers, &id).await?;
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
    x.map_or_else(|| "—".into(), numbers::dps)
}

/// What a job has to show for itself.
enum Outcome {
    /// Still pending or running.
    Pending,
    /// Completed: the report of the stored result.
    Final(Value),
    /// Cancelled or failed after some chunks were merged: the report of those.
    Partial(Value),
    /// Cancelled or failed before any chunk was merged (or its chunks cannot be read).
    Nothing,
}

/// The report of a finished job: the stored result of a completed one, or the stored chunk
/// results of a cancelled or failed one merged now (the lifecycle stores no result for them).
async fn outcome(state: &Context, job: &Job) -> Outcome {
    match job.status {
        JobStatus::Pending | JobStatus::Running => Outcome::Pending,
        JobStatus::Completed => job
            .result
            .as_deref()
            .and_then(report_json)
            .map_or(Outcome::Nothing, Outcome::Final),
        JobStatus::Cancelled | JobStatus::Failed => {
            let chunks = match state.store().chunk_results(job.id).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(job = %job.id, error = %e, "partial result: chunk results");
                    return Outcome::Nothing;
                }
            };
            match partial_report(job, &chunks) {
                Ok(Some(r)) => Outcome::Partial(r),
                Ok(None) => Outcome::Nothing,
                Err(e) => {
                    tracing::warn!(job = %job.id, error = %e, "partial result: merge");
                    Outcome::Nothing
                }
            }
        }
    }
}

/// The merged report of `chunks` (in any order: the merge is exact), `None` when there are none.
fn partial_report(job: &Job, chunks: &[ChunkResult]) -> Result<Option<Value>, String> {
    let mut acc = SimMerger.empty(job);
    for c in chunks {
        SimMerger.merge(&mut acc, &c.result)?;
    }
    Ok(SimMerger.report(&acc))
}

/// The headline of a finished job: mean DPS ± its 95 % CI, what it rests on, and whether it is
/// partial; or that nothing was merged.
fn answer(job: &Job, outcome: &Outcome) -> Markup {
    let (r, partial) = match outcome {
        Outcome::Final(r) => (r, false),
        Outcome::Partial(r) => (r, true),
        Outcome::Pending => return html! {},
        Outcome::Nothing => {
            let why = match job.status {
                JobStatus::Cancelled => "the job was cancelled",
                JobStatus::Failed => "the job failed",
                _ => "the job ended",
            };
            return html! {
                section.answer.answer-none aria-label="Result" {
                    p #answer-none { "No result: nothing was merged before " (why) "." }
                }
            };
        }
    };
    let mean = num(r, "mean_dps");
    let ci = num(r, "ci95_half_width");
    let iterations = r.get("iterations").and_then(Value::as_u64).unwrap_or(0);
    html! {
        section.answer aria-label="Result" data-partial=(partial) {
            p.answer-dps {
                span #answer-mean data-k="mean_dps" { (f1(mean)) }
                span.unit { " DPS" }
                @if partial { " " span.pill.pill-partial { "partial" } }
            }
            p.answer-ci {
                "± " span #answer-ci data-k="ci95_half_width" { (f1(ci)) }
                " (95% CI"
                @if let (Some(m), Some(c)) = (mean, ci) { ": " (numbers::dps(m - c)) " – " (numbers::dps(m + c)) }
                ") over " span data-k="iterations" { (numbers::int(iterations)) } " iterations"
            }
            @if partial {
                p.answer-partial {
                    strong { "Partial result:" } " "
                    (numbers::int(iterations)) " of " (numbers::int(job.iterations))
                    " iterations were merged before the job "
                    (if job.status == JobStatus::Cancelled { "was cancelled" } else { "failed" }) "."
                }
            }
        }
    }
}

/// The report as an HTML string (for tests).
#[cfg(test)]
pub(super) fn report_markup(r: &Value) -> String {
    report(r, false).into_string()
}

/// The report of a job (the sim's `Report` JSON): final, or `partial` (what was merged of a
/// cancelled or failed job).
fn report(r: &Value, partial: bool) -> Markup {
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
        h2 id="report-h" { "Report" @if partial { " (partial)" } }
        dl.facts.report #report-stats {
            div { dt { "Mean DPS" } dd data-k="mean_dps" { (f1(mean)) } }
            div { dt { "Std dev" } dd data-k="stddev" { (f1(num(r, "stddev"))) } }
            div { dt { "95% CI" } dd data-k="ci95" {
                @if let (Some(m), Some(c)) = (mean, ci) { (numbers::dps(m - c)) " – " (numbers::dps(m + c)) } @else { "—" } } }
            div { dt { "Min" } dd data-k="min_dps" { (f1(num(r, "min_dps"))) } }
            div { dt { "Max" } dd data-k="max_dps" { (f1(num(r, "max_dps"))) } }
            div { dt { "Iterations" } dd data-k="iterations" { (numbers::int(r.get("iterations").and_then(Value::as_u64).unwrap_or(0))) } }
            div { dt { "Mean fight" } dd { (f1(num(r, "mean_fight_secs"))) " s" } }
        }
        div.cols {
            div {
                h3 { "Percentiles" }
                div.table-wrap { table #percentiles {
                    thead { tr { th scope="col" { "Percentile" } th scope="col" { "DPS" } } }
                    tbody { @for (p, d) in &percentiles { tr { td { (format!("{p}%")) } td.num { (numbers::dps(*d)) } } } }
                } }
            }
            div {
                h3 { "Distribution" }
                (distribution(r, &percentiles))
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

/// The distribution chart from the report's exact bins, mean and median marked.
fn distribution(r: &Value, percentiles: &[(f64, f64)]) -> Markup {
    let bins: Vec<Bin> = r
        .get("distribution")
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let median = percentiles
        .iter()
        .find(|(p, _)| *p == 50.0)
        .map_or(0.0, |(_, d)| *d);
    charts::distribution(
        "histogram",
        &[Distribution {
            label: "this run",
            bins: &bins,
            mean: num(r, "mean_dps").unwrap_or(0.0),
            median,
        }],
    )
}
