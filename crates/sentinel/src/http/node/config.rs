//! `POST /api/node/config`: a job's profile by content hash, fetched once per profile by each
//! node and cached there.

use axum::extract::State;
use axum::Json;
use wowlab_api::node::{ConfigRequest, ConfigResponse};

use crate::http::signed::SignedNode;
use crate::http::{ApiError, Context};

pub(super) async fn handle(
    State(state): State<Context>,
    req: SignedNode<ConfigRequest>,
) -> Result<Json<ConfigResponse>, ApiError> {
    let hash = req.body.config_hash;
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
