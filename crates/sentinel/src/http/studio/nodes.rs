//! Nodes page (claim token, claim code, my nodes with settings) and node detail. Settings
//! forms PATCH `/api/nodes/{id}` through `nodes.js`.

use axum::extract::{Path, State};
use axum::http::header::HOST;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

use super::{fmt_time, layout, numbers, to_signin, viewer};
use crate::domain::NodeId;
use crate::domain::UserId;
use crate::http::auth::CurrentUser;
use crate::http::user::nodes::{MAX_NAME_CHARS, MAX_PARALLEL};
use crate::http::{ApiError, Context};
use crate::local::SYSTEM_EMAIL;
use crate::store::{Node, User};

/// The sentinel URL as the browser reached it, for the node command line.
pub(super) fn sentinel_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".:-[]".contains(c))
        })
        .unwrap_or("127.0.0.1:8080");
    format!("http://{host}")
}

fn last_seen(n: &Node) -> String {
    n.last_seen_at
        .map_or_else(|| "never".into(), |t| fmt_time(t.0))
}

/// "in use / cores", e.g. `1 / 4`.
fn cores_in_use(n: &Node) -> String {
    format!("{} / {}", n.cores_in_use(), n.cores)
}

/// The node's own cap, when it is below what the owner allows (so the setting has no effect
/// beyond it).
fn local_limit(n: &Node) -> Option<u32> {
    n.local_max_parallel.filter(|&l| l < n.max_parallel)
}

/// Bytes as GiB with one decimal.
fn gib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / f64::from(1u32 << 30))
}

fn settings_form(n: &Node) -> Markup {
    let id = n.id.to_string();
    html! {
        form.stack.node-settings data-api={ "/api/nodes/" (id) } data-method="PATCH" data-redirect="reload" novalidate {
            div.cols {
                div.field {
                    label for={ "name-" (id) } { "Name" }
                    input id={ "name-" (id) } name="name" type="text" value=(n.name) maxlength=(MAX_NAME_CHARS) required
                        aria-describedby={ "name-" (id) "-error" };
                    p.error id={ "name-" (id) "-error" } data-field="name" role="alert" {}
                }
                div.field {
                    label for={ "cap-" (id) } { "Capacity (parallel chunks)" }
                    input id={ "cap-" (id) } name="maxParallel" type="number" min="1" max=(MAX_PARALLEL) step="1" value=(n.max_parallel) required
                        inputmode="numeric" aria-describedby={ "cap-" (id) "-hint cap-" (id) "-error" };
                    p.hint id={ "cap-" (id) "-hint" } data-k="local-cap" {
                        @if let Some(l) = n.local_max_parallel {
                            "The node limits itself to " (l) " (" code { "--max-parallel" } "); a higher setting has no effect."
                        } @else {
                            "At most this many chunks at once."
                        }
                    }
                    p.error id={ "cap-" (id) "-error" } data-field="maxParallel" role="alert" {}
                }
            }
            p.error.form-error role="alert" {}
            div.row.wrap {
                button type="submit" { "Save" }
                button type="button" class="secondary" data-drain=(!n.draining) {
                    @if n.draining { "Resume" } @else { "Drain" }
                }
            }
        }
    }
}

/// The embedded grid's own user (owner of the in-process nodes of `wowlab up`), if there is one.
async fn system_user(state: &Context) -> Option<UserId> {
    match state.store().user_by_email(SYSTEM_EMAIL).await {
        Ok(u) => u.map(|u| u.id),
        Err(e) => {
            tracing::warn!(error = %e, "system user lookup");
            None
        }
    }
}

/// The "system" pill of a node the grid runs itself.
fn system_pill() -> Markup {
    html! { span.pill.pill-system title="Run by this grid itself (wowlab up); no account owns it" { "system" } }
}

fn node_row(n: &Node, system: bool) -> Markup {
    html! {
        tr data-node=(n.id) data-system[system] {
            th scope="row" { a href={ "/nodes/" (n.id) } { (n.name) } @if system { " " (system_pill()) } }
            td data-k="status" { (layout::status(n.status.as_str())) @if n.draining { " " span.pill.pill-draining { "draining" } } }
            td data-k="last-seen" { (last_seen(n)) }
            td.num data-k="cores-in-use" { (cores_in_use(n)) }
            td.num data-k="sims" { (numbers::rate(n.sims_per_sec())) }
            td.num data-k="capacity" title=[local_limit(n).map(|l| format!("limited by the node's own --max-parallel {l}"))] { (n.capacity()) }
            td data-k="version" { (n.version) }
        }
    }
}

pub(super) async fn list_page(State(state): State<Context>, headers: HeaderMap) -> Response {
    let Some(user) = viewer(&state, &headers).await else {
        return to_signin("/nodes");
    };
    // One list of every node: the same the dashboard counts, split by who runs them.
    let nodes = state.store().list_nodes(None).await;
    let system = system_user(&state).await;
    let totals = super::grid::totals(&state).await;
    let url = sentinel_url(&headers);
    let main = html! {
        h1 { "Nodes" }
        (super::grid::stats(&totals))
        section.card aria-labelledby="claim-h" {
            h2 id="claim-h" { "Add a machine" }
            p { "Generate a claim token, then run this on the machine to contribute:" }
            div.token-box {
                code #node-command data-sentinel=(url) { "wowlab node --sentinel " (url) " --claim-token " span #claim-token-text { "<generate a token>" } }
            }
            div.row.wrap {
                button #claim-token-new type="button" { "Generate claim token" }
                button #claim-token-reveal type="button" class="secondary" aria-pressed="false" hidden { "Reveal" }
                button #claim-token-copy type="button" class="secondary" hidden { "Copy command" }
            }
            p.hint { "A token is shown once and attaches machines for 7 days. Generating a new one gives a fresh secret; earlier tokens keep working until they expire or you revoke them on the " a href="/tokens#claim-h" { "Tokens page" } "." }
            p.error #claim-token-error role="alert" {}
            form.stack #claim-code data-api="/api/nodes/claim" data-redirect="reload" novalidate {
                div.field {
                    label for="code" { "Or enter the claim code an unowned node shows" }
                    input id="code" name="code" type="text" autocomplete="off" required maxlength="32"
                        aria-describedby="code-hint code-error";
                    p.hint id="code-hint" { "Like " code { "ABCD-EFGH" } "; the node prints it when it starts without a claim token." }
                    p.error id="code-error" role="alert" {}
                }
                p.error.form-error role="alert" {}
                button type="submit" { "Claim node" }
            }
        }
        section #node-lists aria-labelledby="mine-h" {
            @match &nodes {
                Err(_) => { h2 id="mine-h" { "My nodes" } p.error { "Nodes could not be loaded; try again shortly." } }
                Ok(all) => {
                    @let mine: Vec<&Node> = all.iter().filter(|n| n.owner == Some(user.id)).collect();
                    @let grid: Vec<&Node> = all.iter().filter(|n| system.is_some() && n.owner == system).collect();
                    @let others = all.len() - mine.len() - grid.len();
                    h2 id="mine-h" { "My nodes" }
                    @if mine.is_empty() { p #no-nodes { "No nodes of yours yet." } }
                    @else { (node_table("my-nodes", "My nodes, what each is doing now", &mine, false)) }
                    @if !grid.is_empty() {
                        h2 id="grid-nodes-h" { "This grid's own nodes" }
                        p.muted { "Started in-process by " code { "wowlab up" } "; they belong to no account, so nobody changes or unlinks them here." }
                        (node_table("grid-nodes", "This grid's own nodes", &grid, true))
                    }
                    p.muted #node-summary {
                        "The grid has " (all.len()) " " (if all.len() == 1 { "node" } else { "nodes" })
                        " (" (totals.nodes_online) " online): " (mine.len()) " yours, " (grid.len()) " run by the grid itself"
                        @if others > 0 { ", " (others) " of other accounts" } "."
                    }
                }
            }
        }
    };
    layout::page(
        "Nodes",
        Some(&user),
        &[
            "/static/nodes.js",
            "/static/realtime.js",
            "/static/grid_live.js",
        ],
        main,
    )
    .into_response()
}

/// A table of nodes (the list page's sections).
fn node_table(id: &str, caption: &str, nodes: &[&Node], system: bool) -> Markup {
    html! {
        div.table-wrap { table id=(id) {
            caption.sr-only { (caption) }
            thead { tr {
                th scope="col" { "Name" } th scope="col" { "Status" } th scope="col" { "Last heartbeat" }
                th scope="col" { "Cores in use" } th scope="col" { "Sims/s" } th scope="col" { "Capacity" }
                th scope="col" { "Version" }
            } }
            tbody { @for node in nodes { (node_row(node, system)) } }
        } }
    }
}

/// How the viewer may see a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Its owner or an admin: settings, unlink, live status.
    Manage,
    /// One of the grid's own nodes, for a signed-in user who is not an admin: read only.
    Read,
}

/// The node if `user` may see it: their own, any for an admin, the grid's own for anyone
/// signed in. A node of the grid's own is never managed here (it has no owner to act).
async fn visible_node(state: &Context, user: &User, id: &str) -> Option<(Node, Access, bool)> {
    let id: NodeId = id.parse().ok()?;
    let n = state.store().node_by_id(id).await.ok()??;
    let system = n.owner.is_some() && n.owner == system_user(state).await;
    if n.owner == Some(user.id) || user.is_admin {
        Some((n, Access::Manage, system))
    } else if system {
        Some((n, Access::Read, system))
    } else {
        None
    }
}

pub(super) async fn detail_page(
    State(state): State<Context>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Some(user) = viewer(&state, &headers).await else {
        return to_signin(&format!("/nodes/{id}"));
    };
    let Some((n, access, system)) = visible_node(&state, &user, &id).await else {
        let main = html! { h1 { "Node not found" } p { "No node with this id belongs to you." } };
        return (
            StatusCode::NOT_FOUND,
            layout::page("Not found", Some(&user), &[], main),
        )
            .into_response();
    };
    let trust = state
        .store()
        .node_trust()
        .await
        .ok()
        .and_then(|all| all.into_iter().find(|(id, _)| *id == n.id))
        .map(|(_, t)| t)
        .unwrap_or_default();
    let main = html! {
        p { a href="/nodes" { "← All nodes" } }
        h1 { (n.name) @if system { " " (system_pill()) } }
        @if system {
            p #system-node { "This node runs inside this grid's own process (" code { "wowlab up" } "). It belongs to no account: it has no settings to change and cannot be unlinked; stopping the grid stops it." }
        }
        @if let Some(at) = trust.quarantined_at {
            p.notice #node-quarantined role="alert" {
                "Quarantined since " (fmt_time(at.0)) ": a spot check found one of this node's \
                 results wrong. It gets no work; its results are being recomputed on other \
                 owners' nodes, and jobs that had already finished with them are under review \
                 until their results are corrected. An administrator must release it."
            }
        }
        dl.facts #node-facts data-node=(n.id) {
            div { dt { "Status" } dd data-k="status" { (layout::status(n.status.as_str())) @if n.draining { " draining" } } }
            div { dt { "Last heartbeat" } dd data-k="last-seen" { (last_seen(&n)) } }
            div { dt { "Cores in use" } dd data-k="cores-in-use" { (cores_in_use(&n)) } }
            div { dt { "Sims/s" } dd data-k="sims" { (numbers::rate(n.sims_per_sec())) } }
            div { dt { "Capacity" } dd data-k="capacity" {
                (n.capacity()) " parallel chunks"
                @if let Some(l) = local_limit(&n) { " (the node's own limit " (l) ", your setting " (n.max_parallel) ")" }
            } }
            div { dt { "Load (1 min)" } dd data-k="load1" { (format!("{:.2}", n.load.load1)) } }
            div { dt { "Memory" } dd data-k="memory" { (gib(n.load.mem_used_bytes)) " / " (gib(n.load.mem_total_bytes)) " GiB" } }
            div { dt { "Spot checks" } dd data-k="spot-checks" {
                (trust.checked) " checked, " (trust.confirmed) " confirmed, " (trust.failed) " wrong"
            } }
            div { dt { "Version" } dd { (n.version) } }
            div { dt { "Registered" } dd { (fmt_time(n.created_at.0)) } }
            div { dt { "Id" } dd { code { (n.id) } } }
        }
        @if access == Access::Manage {
            // Asked of the node itself through the tunnel (nodes/node_live.js); the facts above
            // are its last heartbeat.
            section.card #node-live aria-labelledby="live-h"
                data-live={ "/api/nodes/" (n.id) "/live" }
                data-logs={ "/api/nodes/" (n.id) "/logs?follow=1&lines=200" } {
                h2 id="live-h" { "Live" }
                p data-k="live-state" role="status" { "Asking the node…" }
                dl.facts {
                    div { dt { "Active chunks" } dd data-k="live-active" { "—" } }
                    div { dt { "Sims/s (node)" } dd data-k="live-sims" { "—" } }
                    div { dt { "Uptime" } dd data-k="live-uptime" { "—" } }
                    div { dt { "Host" } dd data-k="live-host" { "—" } }
                }
                h3 { "Log tail" }
                pre #node-log .log-tail tabindex="0" aria-label="Node log tail" {}
                p.muted data-k="log-state" {}
            }
        }
        @if access == Access::Manage && !system {
            section.card aria-labelledby="settings-h" {
                h2 id="settings-h" { "Settings" }
                (settings_form(&n))
            }
            section.card aria-labelledby="unlink-h" {
                h2 id="unlink-h" { "Unlink" }
                p { "Removes the node from your account; it stops taking work and must be claimed again." }
                button #unlink type="button" class="danger" data-url={ "/nodes/" (n.id) "/unlink" } { "Unlink node" }
                p.error #unlink-error role="alert" {}
            }
        }
    };
    layout::page(
        &n.name,
        Some(&user),
        &["/static/nodes.js", "/static/node_live.js"],
        main,
    )
    .into_response()
}

/// `POST /nodes/{id}/unlink`: removes one of the caller's nodes and tells it on `nodes:{id}`.
/// Answers in the API's JSON error shape.
pub(super) async fn unlink(
    State(state): State<Context>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: NodeId = id.parse().map_err(|_| ApiError::NotFound("no such node"))?;
    if !state.store().delete_node(id, user.id).await? {
        return Err(ApiError::NotFound("no such node"));
    }
    let push = wowlab_api::channels::NodeMessage::Status {
        status: "unlinked".into(),
    };
    if let Err(e) = state.funnel().publish(&format!("nodes:{id}"), &push).await {
        tracing::warn!(error = %e, "unlink not pushed to the node");
    }
    Ok(StatusCode::NO_CONTENT)
}
