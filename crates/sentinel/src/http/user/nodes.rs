//! A user's nodes: list and change settings (name, capacity, drain). Changes are pushed to the
//! node on `nodes:{id}`. Each node is shown with what it is doing now (cores in use, sims/s).

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use wowlab_api::channels::{self, NodeMessage};
use wowlab_api::node::NodeSettings as WireSettings;

use super::body::JsonBody;
use super::error::UserError;
use crate::domain::NodeId;
use crate::http::auth::CurrentUser;
use crate::http::{ApiError, Context};
use crate::store::{Node, NodeSettings, NodeTrust};

/// Longest node name.
pub(crate) const MAX_NAME_CHARS: usize = 64;
/// Most parallel chunks a node may be set to.
pub(crate) const MAX_PARALLEL: u32 = 1024;

/// A node as its owner sees it: the stored record (with its last heartbeat's `load`) plus the
/// figures derived from it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeView {
    #[serde(flatten)]
    node: Node,
    /// Parallel chunks it runs at most: the owner's `maxParallel` within the node's own
    /// `localMaxParallel` ([`Node::capacity`]).
    capacity: u32,
    /// Cores busy with chunks now ([`Node::cores_in_use`]).
    cores_in_use: u32,
    /// Iterations per second now ([`Node::sims_per_sec`]).
    sims_per_sec: f64,
    /// Spot-check record: results checked, confirmed and found wrong ([`crate::verify`]).
    trust: NodeTrust,
}

impl NodeView {
    /// The view with the node's spot-check record.
    fn with_trust(mut self, trust: NodeTrust) -> Self {
        self.trust = trust;
        self
    }
}

impl From<Node> for NodeView {
    fn from(node: Node) -> Self {
        Self {
            capacity: node.capacity(),
            cores_in_use: node.cores_in_use(),
            sims_per_sec: node.sims_per_sec(),
            trust: NodeTrust::default(),
            node,
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/nodes",
    tag = "nodes",
    summary = "List nodes (an admin sees every node)",
    security(("session" = []), ("apiToken" = [])),
    responses(
        (status = 200, description = "The nodes", body = [NodeView]),
        (status = 401, description = "Sign-in required (or the API token expired)")
    )
)]
pub(super) async fn list(
    State(state): State<Context>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Vec<NodeView>>, ApiError> {
    let owner = if user.is_admin { None } else { Some(user.id) };
    let nodes = state.store().list_nodes(owner).await?;
    let trust: std::collections::HashMap<_, _> =
        state.store().node_trust().await?.into_iter().collect();
    Ok(Json(
        nodes
            .into_iter()
            .map(|n| {
                let t = trust.get(&n.id).copied().unwrap_or_default();
                NodeView::from(n).with_trust(t)
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateNode {
    /// Display name (1 to 64 characters).
    name: Option<String>,
    /// Parallel chunks at most (1 to 1024), within the node's own cap.
    #[serde(alias = "max_parallel")]
    max_parallel: Option<u32>,
    /// Finish current work and take no more.
    draining: Option<bool>,
}

#[utoipa::path(
    patch,
    path = "/api/nodes/{id}",
    tag = "nodes",
    summary = "Change a node's settings",
    security(("session" = []), ("apiToken" = [])),
    params(("id" = String, Path, description = "Node id")),
    request_body = UpdateNode,
    responses(
        (status = 200, description = "The node", body = NodeView),
        (status = 400, description = "Bad input (`field` names the offending field)"),
        (status = 401, description = "Sign-in required (or the API token expired)"),
        (status = 404, description = "No such node")
    )
)]
pub(super) async fn update(
    State(state): State<Context>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateNode>,
) -> Result<Json<NodeView>, UserError> {
    let id: NodeId = id.parse().map_err(|_| ApiError::NotFound("no such node"))?;
    if let Some(n) = &body.name {
        let n = n.trim();
        if n.is_empty() || n.chars().count() > MAX_NAME_CHARS {
            return Err(UserError::field(
                "name",
                format!("name must be 1 to {MAX_NAME_CHARS} characters"),
            ));
        }
        if n.chars().any(char::is_control) {
            return Err(UserError::field(
                "name",
                "name must not contain control characters",
            ));
        }
    }
    if body
        .max_parallel
        .is_some_and(|m| m == 0 || m > MAX_PARALLEL)
    {
        return Err(UserError::field(
            "maxParallel",
            format!("maxParallel must be from 1 to {MAX_PARALLEL}"),
        ));
    }
    if body.draining == Some(false) {
        let quarantined = state
            .store()
            .node_trust()
            .await?
            .into_iter()
            .any(|(n, t)| n == id && t.quarantined_at.is_some());
        if quarantined {
            return Err(UserError::field(
                "draining",
                "this node is quarantined after a failed spot check; an administrator must \
                 release it first",
            ));
        }
    }
    let node = state
        .store()
        .update_node_settings(
            id,
            user.id,
            NodeSettings {
                name: body.name.map(|n| n.trim().to_owned()),
                max_parallel: body.max_parallel,
                draining: body.draining,
            },
        )
        .await?
        .ok_or(ApiError::NotFound("no such node"))?;
    let push = NodeMessage::Settings(WireSettings {
        name: node.name.clone(),
        max_parallel: node.max_parallel,
        drain: node.draining,
    });
    if let Err(e) = state.funnel().publish(&channels::node(id), &push).await {
        tracing::warn!(error = %e, "node config change not pushed");
    }
    Ok(Json(NodeView::from(node)))
}
