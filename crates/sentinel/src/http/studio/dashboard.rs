//! Dashboard: my jobs (name, DPS ± CI, status, iterations, duration), and grid totals.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::html;

use std::collections::HashMap;

use serde_json::Value;

use super::job::name_or_default;
use super::{fmt_time, grid, layout, numbers, to_signin, viewer};
use crate::domain::JobStatus;
use crate::http::Context;
use crate::sim::report_json;
use crate::store::Job;

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

pub(super) async fn page(State(state): State<Context>, headers: HeaderMap) -> Response {
    let Some(user) = viewer(&state, &headers).await else {
        return to_signin("/");
    };
    let t = grid::totals(&state).await;
    let jobs = match state.store().list_jobs(user.id, 100).await {
        Ok(j) => Ok(j),
        Err(e) => {
            tracing::warn!(error = %e, "dashboard jobs");
            Err(())
        }
    };
    let mut names: HashMap<_, _> = match state.store().job_names(user.id).await {
        Ok(n) => n.into_iter().collect(),
        Err(e) => {
            tracing::warn!(error = %e, "dashboard job names");
            HashMap::new()
        }
    };
    let main = html! {
        h1 { "Dashboard" }
        (grid::stats(&t))
        section aria-labelledby="jobs-h" {
            div.row {
                h2 id="jobs-h" { "My simulations" }
                a.button href="/jobs/new" { "New simulation" }
            }
            @match &jobs {
                Err(()) => p.error { "Jobs could not be loaded; try again shortly." }
                Ok(jobs) if jobs.is_empty() => p { "No simulations yet. " a href="/jobs/new" { "Start one." } }
                Ok(jobs) => {
                    div.table-wrap {
                        table id="jobs" {
                            caption.sr-only { "My simulations, newest first" }
                            thead { tr {
                                th scope="col" { "Name" } th scope="col" { "DPS ± 95% CI" } th scope="col" { "Status" }
                                th scope="col" { "Iterations" } th scope="col" { "Duration" } th scope="col" { "Submitted" }
                            } }
                            tbody {
                                @for j in jobs {
                                    tr data-job=(j.id) {
                                        th scope="row" data-k="name" { a href={ "/jobs/" (j.id) } { (name_or_default(j, names.remove(&j.id))) } }
                                        td.num data-k="dps" { (dps_cell(j)) }
                                        td data-k="status" { (layout::status(j.status.as_str())) }
                                        td.num data-k="iterations" { (numbers::int(j.iterations)) }
                                        td.num data-k="duration" { (duration_cell(j)) }
                                        td data-k="submitted" { (fmt_time(j.created_at.0)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout::page("Dashboard", Some(&user), &[], main).into_response()
}
