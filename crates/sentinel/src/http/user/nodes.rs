//! A user's nodes: list and change settings (name, capacity, drain). Changes are pushed to the
//! node on `nodes:{id}`.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use wowlab_api::channels::{self, NodeMessage};
use wowlab_api::node::NodeSettings as WireSettings;

use crate::domain::NodeId;
use crate::http::auth::CurrentUser;
use crate::http::{ApiError, AppState};
use crate::store::{Node, NodeSettings};

pub(super) async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Vec<Node>>, ApiError> {
    let owner = if user.is_admin { None } else { Some(user.id) };
    Ok(Json(state.store().list_nodes(owner).await?))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateNode {
    name: Option<String>,
    max_parallel: Option<u32>,
    draining: Option<bool>,
}

pub(super) async fn update(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    Json(body): Json<UpdateNode>,
) -> Result<Json<Node>, ApiError> {
    let id: NodeId = id.parse().map_err(|_| ApiError::NotFound("no such node"))?;
    if let Some(n) = &body.name {
        if n.trim().is_empty() || n.chars().count() > 64 {
            return Err(ApiError::BadRequest(
                "name must be 1 to 64 characters".into(),
            ));
        }
    }
    if body.max_parallel.is_some_and(|m| m == 0 || m > 1024) {
        return Err(ApiError::BadRequest("maxParallel must be 1..=1024".into()));
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
    Ok(Json(node))
}
