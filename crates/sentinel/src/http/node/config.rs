//! `POST /api/node/config`: a job's profile by content hash, fetched once per profile by each
//! node and cached there; only while the node holds a lease of a job with that profile.

use axum::extract::State;
use axum::Json;
use wowlab_api::node::{ConfigRequest, ConfigResponse};

use crate::http::signed::ClaimedNode;
use crate::http::{ApiError, Context};

#[utoipa::path(
    post,
    path = wowlab_api::node::PATH_CONFIG,
    tag = "node",
    summary = "Fetch a job profile by hash",
    security(("nodeKey" = [], "nodeSignature" = [], "nodeTimestamp" = [], "nodeNonce" = [])),
    request_body = ConfigRequest,
    responses(
        (status = 200, description = "The profile", body = ConfigResponse),
        (status = 400, description = "Malformed body or headers"),
        (status = 401, description = "Bad signature, unknown key, replayed or stale request"),
        (status = 403, description = "The node is not claimed yet (`not_claimed`)"),
        (status = 404, description = "No profile with that hash")
    )
)]
pub(super) async fn handle(
    State(state): State<Context>,
    req: ClaimedNode<ConfigRequest>,
) -> Result<Json<ConfigResponse>, ApiError> {
    let hash = req.body.config_hash;
    // Profiles are private to their jobs: only a node holding a lease of a job with this
    // profile gets it.
    let held = state
        .coordinator()
        .current_leases(req.node.id, state.clock().now())
        .await?;
    let mut leased = false;
    for l in &held {
        if state
            .job_facts(l.job)
            .await?
            .is_some_and(|j| j.config_hash == hash)
        {
            leased = true;
            break;
        }
    }
    if !leased {
        return Err(ApiError::Forbidden(
            "this node holds no lease of a job with that profile",
        ));
    }
    let profile = state
        .store()
        .config(&hash)
        .await?
        .ok_or(ApiError::NotFound("no profile with that hash"))?;
    Ok(Json(ConfigResponse {
        config_hash: hash,
        profile,
    }))
}
