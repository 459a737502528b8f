//! Grid totals (nodes online, cores, sims/s) and the public grid page.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

use super::{layout, viewer};
use crate::domain::JobStatus;
use crate::http::AppState;
use crate::store::NodeStatus;

/// What the whole grid is doing now.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Totals {
    pub nodes_online: usize,
    pub nodes_total: usize,
    pub cores: u64,
    pub running_jobs: usize,
    /// Iterations per second over all running jobs (merged iterations / running time).
    pub sims_per_sec: f64,
}

/// Reads the totals; parts that fail to load stay zero (a dashboard must render).
pub(super) async fn totals(state: &AppState) -> Totals {
    let mut t = Totals::default();
    match state.store().list_nodes(None).await {
        Ok(nodes) => {
            t.nodes_total = nodes.len();
            for n in nodes.iter().filter(|n| n.status == NodeStatus::Online) {
                t.nodes_online += 1;
                t.cores += u64::from(n.cores);
            }
        }
        Err(e) => tracing::warn!(error = %e, "grid totals: nodes"),
    }
    let now = state.clock().now().0;
    match state.store().jobs_with_status(JobStatus::Running).await {
        Ok(jobs) => {
            t.running_jobs = jobs.len();
            for j in jobs {
                let Ok(p) = state.coordinator().job_progress(j.id).await else {
                    continue;
                };
                let started = j.started_at.map_or(j.created_at.0, |s| s.0);
                let secs = now.saturating_sub(started) as f64 / 1000.0;
                if secs > 0.0 {
                    let done = (u64::from(p.done) * j.chunk_size).min(j.iterations);
                    t.sims_per_sec += done as f64 / secs;
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "grid totals: jobs"),
    }
    t
}

/// The totals as a definition list of stat cards.
pub(super) fn stats(t: &Totals) -> Markup {
    html! {
        section.stats aria-label="Grid totals" {
            div.stat { span.stat-label { "Nodes online" } span.stat-value data-stat="nodes-online" { (t.nodes_online) " / " (t.nodes_total) } }
            div.stat { span.stat-label { "Cores" } span.stat-value data-stat="cores" { (t.cores) } }
            div.stat { span.stat-label { "Running jobs" } span.stat-value data-stat="running" { (t.running_jobs) } }
            div.stat { span.stat-label { "Sims/s" } span.stat-value data-stat="sims" { (format!("{:.0}", t.sims_per_sec)) } }
        }
    }
}

pub(super) async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let user = viewer(&state, &headers).await;
    let t = totals(&state).await;
    let main = html! {
        h1 { "The grid" }
        p { "Every machine contributing to this grid, and what they are computing right now." }
        (stats(&t))
        p { "Contribute a machine: sign in, open " a href="/nodes" { "Nodes" } " and run the one-line command shown there." }
    };
    layout::page("Grid", user.as_ref(), &[], main).into_response()
}
