//! Grid totals (nodes online, cores and cores in use, sims/s now) and the public grid page.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

use super::{layout, numbers, viewer};
use crate::domain::JobStatus;
use crate::http::Context;
use crate::store::{Node, NodeStatus};

/// What the whole grid is doing now, from the figures online nodes sent with their last
/// heartbeat.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Totals {
    pub nodes_online: usize,
    pub nodes_total: usize,
    /// Cores of the online nodes.
    pub cores: u64,
    /// Cores of the online nodes busy with chunks ([`crate::store::Node::cores_in_use`]).
    pub cores_in_use: u64,
    pub running_jobs: usize,
    /// Iterations per second now: the sum of the online nodes' last reported rates.
    pub sims_per_sec: f64,
}

/// Reads the totals; parts that fail to load stay zero (a dashboard must render).
pub(super) async fn totals(state: &Context) -> Totals {
    Totals::of(&all_nodes(state).await, running_jobs(state).await)
}

impl Totals {
    /// The totals over `nodes` (online ones count) with `running_jobs` jobs running.
    fn of(nodes: &[Node], running_jobs: usize) -> Self {
        let mut t = Totals {
            nodes_total: nodes.len(),
            running_jobs,
            ..Totals::default()
        };
        for n in nodes.iter().filter(|n| n.status == NodeStatus::Online) {
            t.nodes_online += 1;
            t.cores += u64::from(n.cores);
            t.cores_in_use += u64::from(n.cores_in_use());
            t.sims_per_sec += n.sims_per_sec();
        }
        t
    }
}

/// Every node; none if the store fails (logged).
async fn all_nodes(state: &Context) -> Vec<Node> {
    state.store().list_nodes(None).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "grid totals: nodes");
        Vec::new()
    })
}

/// Jobs running now; zero if the store fails (logged).
async fn running_jobs(state: &Context) -> usize {
    match state.store().jobs_with_status(JobStatus::Running).await {
        Ok(jobs) => jobs.len(),
        Err(e) => {
            tracing::warn!(error = %e, "grid totals: jobs");
            0
        }
    }
}

/// The totals as stat cards.
pub(super) fn stats(t: &Totals) -> Markup {
    html! {
        section.stats aria-label="Grid totals" {
            div.stat { span.stat-label { "Nodes online" } span.stat-value data-stat="nodes-online" { (t.nodes_online) " / " (t.nodes_total) } }
            div.stat { span.stat-label { "Cores" } span.stat-value data-stat="cores" { (numbers::int(t.cores)) } }
            div.stat { span.stat-label { "Cores in use" } span.stat-value data-stat="cores-in-use" { (t.cores_in_use) } }
            div.stat { span.stat-label { "Running jobs" } span.stat-value data-stat="running" { (t.running_jobs) } }
            div.stat { span.stat-label { "Sims/s now" } span.stat-value data-stat="sims" { (numbers::rate(t.sims_per_sec)) } }
        }
    }
}

pub(super) async fn page(State(state): State<Context>, headers: HeaderMap) -> Response {
    let user = viewer(&state, &headers).await;
    let nodes = all_nodes(&state).await;
    let t = Totals::of(&nodes, running_jobs(&state).await);
    // Machines are numbered, not named: names are their owners' business.
    let online: Vec<&Node> = nodes
        .iter()
        .filter(|n| n.status == NodeStatus::Online)
        .collect();
    let main = html! {
        h1 { "The grid" }
        p { "Every machine contributing to this grid, and what they are computing right now." }
        (stats(&t))
        section aria-labelledby="machines-h" {
            h2 id="machines-h" { "Machines online" }
            @if online.is_empty() {
                p #no-machines { "No machine is online right now." }
            } @else {
                div.table-wrap { table #machines {
                    caption.sr-only { "Online machines, what each is doing now" }
                    thead { tr {
                        th scope="col" { "Machine" } th scope="col" { "Cores in use" }
                        th scope="col" { "Sims/s" } th scope="col" { "Version" }
                    } }
                    tbody { @for (i, n) in online.iter().enumerate() {
                        tr {
                            th scope="row" { "#" (i + 1) }
                            td.num data-k="cores-in-use" { (n.cores_in_use()) " / " (n.cores) }
                            td.num data-k="sims" { (numbers::rate(n.sims_per_sec())) }
                            td data-k="version" { (n.version) }
                        }
                    } }
                } }
            }
        }
        p { "Contribute a machine: sign in, open " a href="/nodes" { "Nodes" } " and run the one-line command shown there." }
    };
    layout::page("Grid", user.as_ref(), &[], main).into_response()
}
