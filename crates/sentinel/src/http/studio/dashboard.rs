//! Dashboard: my jobs with their status, and grid totals.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::{fmt_time, grid, layout, to_signin, viewer};
use crate::http::Context;

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
                            thead { tr { th scope="col" { "Job" } th scope="col" { "Status" } th scope="col" { "Iterations" } th scope="col" { "Submitted" } } }
                            tbody {
                                @for j in jobs {
                                    tr {
                                        td { a href={ "/jobs/" (j.id) } { code { (j.id.to_string().get(..8).unwrap_or_default()) } } }
                                        td { (layout::status(j.status.as_str())) }
                                        td.num { (j.iterations) }
                                        td { (fmt_time(j.created_at.0)) }
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
