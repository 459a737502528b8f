//! Dashboard: grid totals (live through `grid_live.js`) and my jobs — name, profile, DPS ± CI,
//! status, iterations, duration — with a status filter and a name/profile search (a plain GET
//! form, so it works without JavaScript), and per job: re-run, edit and resubmit, delete
//! (`dashboard.js`; the server checks ownership and refuses to delete a job still running).

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use super::job::name_or_default;
use super::{fmt_time, grid, layout, numbers, to_signin, viewer};
use crate::domain::JobStatus;
use crate::http::Context;
use crate::sim::report_json;
use crate::store::Job;

/// Jobs listed (newest first) before filtering.
const LISTED: u32 = 100;

/// `?status=&q=`: the filter and search of the job list.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Filter {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    q: Option<String>,
}

impl Filter {
    /// The status asked for, if it names one.
    fn status(&self) -> Option<JobStatus> {
        self.status.as_deref().and_then(|s| s.parse().ok())
    }

    /// The search text, trimmed and lowercased ("" for none).
    fn needle(&self) -> String {
        self.q.as_deref().unwrap_or("").trim().to_lowercase()
    }
}

/// A listed job with what is shown about it.
struct Row {
    job: Job,
    name: String,
    profile: String,
}

/// "mean ± ci" of a completed job, or "—".
fn dps_cell(j: &Job) -> String {
    if j.status != JobStatus::Completed {
        return "—".into();
    }
    let Some(r) = j.result.as_deref().and_then(report_json) else {
        return "—".into();
    };
    match (
        r.get("mean_dps").and_then(Value::as_f64),
        r.get("ci95_half_width").and_then(Value::as_f64),
    ) {
        (Some(m), Some(c)) => format!("{} ± {}", numbers::dps(m), numbers::dps(c)),
        _ => "—".into(),
    }
}

/// How long it ran (from start, or submission if it never started, to its end), once ended.
fn duration_cell(j: &Job) -> String {
    match j.finished_at {
        Some(end) => {
            numbers::duration(end.0.saturating_sub(j.started_at.unwrap_or(j.created_at).0))
        }
        None => "—".into(),
    }
}

/// The title of the profile stored under `hash` (its top-level `name`), or "" if unreadable.
async fn profile_title(state: &Context, hash: &str) -> String {
    match state.store().config(hash).await {
        Ok(Some(text)) => wowlab_sim::parse_profile(&text)
            .map(|p| p.name.trim().to_owned())
            .unwrap_or_default(),
        Ok(None) => String::new(),
        Err(e) => {
            tracing::warn!(error = %e, "dashboard profile title");
            String::new()
        }
    }
}

/// My jobs with names and profile titles, newest first.
async fn rows(state: &Context, user: &crate::store::User) -> Result<Vec<Row>, ()> {
    let jobs = state
        .store()
        .list_jobs(user.id, LISTED)
        .await
        .map_err(|e| tracing::warn!(error = %e, "dashboard jobs"))?;
    let mut names: HashMap<_, _> = match state.store().job_names(user.id).await {
        Ok(n) => n.into_iter().collect(),
        Err(e) => {
            tracing::warn!(error = %e, "dashboard job names");
            HashMap::new()
        }
    };
    // Jobs often share a profile (re-runs): each is read and parsed once per page.
    let mut titles: HashMap<String, String> = HashMap::new();
    let mut out = Vec::with_capacity(jobs.len());
    for job in jobs {
        let name = name_or_default(&job, names.remove(&job.id));
        let profile = match titles.get(&job.config_hash) {
            Some(t) => t.clone(),
            None => {
                let t = profile_title(state, &job.config_hash).await;
                titles.insert(job.config_hash.clone(), t.clone());
                t
            }
        };
        out.push(Row { job, name, profile });
    }
    Ok(out)
}

/// The filter and search form (GET, so the result is a link).
fn filter_form(f: &Filter) -> Markup {
    let status = f.status();
    let q = f.q.as_deref().unwrap_or("");
    html! {
        form.filters #job-filter method="get" action="/" role="search" aria-label="Filter my simulations" {
            div.field {
                label for="filter-status" { "Status" }
                select #filter-status name="status" {
                    option value="" selected[status.is_none()] { "All" }
                    @for s in [JobStatus::Running, JobStatus::Pending, JobStatus::Completed, JobStatus::Cancelled, JobStatus::Failed] {
                        option value=(s.as_str()) selected[status == Some(s)] { (s.as_str()) }
                    }
                }
            }
            div.field.grow {
                label for="filter-q" { "Search name or profile" }
                input #filter-q name="q" type="search" value=(q) maxlength="100" autocomplete="off";
            }
            button type="submit" class="secondary" { "Filter" }
            @if status.is_some() || !q.trim().is_empty() { a href="/" { "Clear" } }
        }
    }
}

fn job_row(r: &Row) -> Markup {
    let j = &r.job;
    html! {
        tr data-job=(j.id) data-status=(j.status.as_str()) data-iterations=(j.iterations)
            data-chunk-size=(j.chunk_size) data-public=(j.public) {
            th scope="row" data-k="name" { a href={ "/jobs/" (j.id) } { (r.name) } }
            td data-k="profile" { @if r.profile.is_empty() { span.muted { "—" } } @else { (r.profile) } }
            td.num data-k="dps" { (dps_cell(j)) }
            td data-k="status" { (layout::status(j.status.as_str())) }
            td.num data-k="iterations" { (numbers::int(j.iterations)) }
            td.num data-k="duration" { (duration_cell(j)) }
            td data-k="submitted" { (fmt_time(j.created_at.0)) }
            td.row-actions {
                button.secondary.small type="button" data-rerun=(j.id) title="Run the same profile and settings again (new seed)" { "Re-run" }
                a.button.secondary.small href={ "/jobs/new?from=" (j.id) } data-edit=(j.id) { "Edit" }
                @if j.status.is_terminal() {
                    button.danger.small type="button" data-delete=(j.id) { "Delete" }
                }
            }
        }
    }
}

pub(super) async fn page(
    State(state): State<Context>,
    headers: HeaderMap,
    q: Result<Query<Filter>, QueryRejection>,
) -> Response {
    // An unreadable query string lists everything rather than failing the page.
    let f = q.map(|Query(f)| f).unwrap_or_default();
    let Some(user) = viewer(&state, &headers).await else {
        return to_signin("/");
    };
    let t = grid::totals(&state).await;
    let all = rows(&state, &user).await;
    let (status, needle) = (f.status(), f.needle());
    let shown: Option<Vec<&Row>> = all.as_ref().ok().map(|rows| {
        rows.iter()
            .filter(|r| status.is_none_or(|s| r.job.status == s))
            .filter(|r| {
                needle.is_empty()
                    || r.name.to_lowercase().contains(&needle)
                    || r.profile.to_lowercase().contains(&needle)
            })
            .collect()
    });
    let main = html! {
        h1 { "Dashboard" }
        (grid::stats(&t))
        section #my-jobs aria-labelledby="jobs-h" {
            div.row {
                h2 id="jobs-h" { "My simulations" }
                a.button href="/jobs/new" { "New simulation" }
            }
            @match (&all, &shown) {
                (Err(()), _) | (_, None) => p.error { "Jobs could not be loaded; try again shortly." }
                (Ok(all), _) if all.is_empty() => p { "No simulations yet. " a href="/jobs/new" { "Start one." } }
                (Ok(all), Some(shown)) => {
                    (filter_form(&f))
                    // Re-rendered live by dashboard.js (the filter form above stays as the user left it).
                    div #jobs-list {
                        p.muted #jobs-count role="status" {
                            @if shown.len() == all.len() { (all.len()) " simulations" }
                            @else { (shown.len()) " of " (all.len()) " simulations match" }
                        }
                        @if shown.is_empty() {
                            p #no-match { "No simulation matches. " a href="/" { "Show all." } }
                        } @else {
                            div.table-wrap {
                                table id="jobs" {
                                    caption.sr-only { "My simulations, newest first" }
                                    thead { tr {
                                        th scope="col" { "Name" } th scope="col" { "Profile" } th scope="col" { "DPS ± 95% CI" }
                                        th scope="col" { "Status" } th scope="col" { "Iterations" } th scope="col" { "Duration" }
                                        th scope="col" { "Submitted" } th scope="col" { span.sr-only { "Actions" } }
                                    } }
                                    tbody { @for r in shown { (job_row(r)) } }
                                }
                            }
                        }
                    }
                    p.error #jobs-error role="alert" {}
                }
            }
        }
    };
    layout::page(
        "Dashboard",
        Some(&user),
        &[
            "/static/realtime.js",
            "/static/grid_live.js",
            "/static/dashboard.js",
        ],
        main,
    )
    .into_response()
}
