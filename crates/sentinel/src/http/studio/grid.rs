//! Grid totals as stat cards (kept live by `grid_live.js` from `nodes:all`) and the public
//! grid page.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

use super::{layout, numbers, viewer};
use crate::http::Context;
use crate::store::{Node, NodeStatus};
use crate::tasks::totals::{compute, GridTotals};

/// The grid totals now (the same figures the totals cron publishes on `nodes:all`); zeros if
/// the store or coordinator fail (logged): a dashboard must render.
pub(super) async fn totals(state: &Context) -> GridTotals {
    compute(state.store(), state.coordinator(), state.clock().now())
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "grid totals");
            GridTotals::default()
        })
}

/// Every node; none if the store fails (logged).
async fn all_nodes(state: &Context) -> Vec<Node> {
    state.store().list_nodes(None).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "grid totals: nodes");
        Vec::new()
    })
}

/// The totals as stat cards.
pub(super) fn stats(t: &GridTotals) -> Markup {
    html! {
        section.stats #grid-totals aria-label="Grid totals" aria-live="off" {
            div.stat { span.stat-label { "Nodes online" } span.stat-value data-stat="nodes-online" { (t.nodes_online) " / " (t.nodes_total) } }
            div.stat { span.stat-label { "Cores" } span.stat-value data-stat="cores" { (numbers::int(t.cores)) } }
            div.stat { span.stat-label { "Cores in use" } span.stat-value data-stat="cores-in-use" { (numbers::int(t.cores_in_use)) } }
            div.stat { span.stat-label { "Running jobs" } span.stat-value data-stat="running" { (t.running_jobs) } }
            div.stat { span.stat-label { "Sims/s now" } span.stat-value data-stat="sims" { (numbers::rate(t.sims_per_sec)) } }
        }
    }
}

pub(super) async fn page(State(state): State<Context>, headers: HeaderMap) -> Response {
    let user = viewer(&state, &headers).await;
    let nodes = all_nodes(&state).await;
    let t = totals(&state).await;
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
