//! `POST /api/node/register`: a new key becomes a node, owned (valid claim token) or unowned
//! with a claim code. Registering a known key again returns that node unchanged: a claim token
//! never moves an existing node to another account.

use axum::extract::State;
use axum::Json;

use super::wire::{RegisterRequest, RegisterResponse};
use crate::domain::{NodeId, TokenHash};
use crate::http::signed::Signed;
use crate::http::{ApiError, AppState};
use crate::store::{NewNode, Node, StoreError};

const MAX_SLOTS: u32 = 1024;
const MAX_NAME: usize = 64;

pub(super) async fn handle(
    State(state): State<AppState>,
    req: Signed<RegisterRequest>,
) -> Result<Json<RegisterResponse>, ApiError> {
    let store = state.store();
    if let Some(existing) = store.node_by_public_key(&req.public_key).await? {
        return Ok(Json(response(&state, &existing)));
    }
    let body = req.body;
    if body.cores == 0 || body.cores > MAX_SLOTS {
        return Err(ApiError::BadRequest(format!(
            "cores must be 1..={MAX_SLOTS}"
        )));
    }
    let max_parallel = body.max_parallel.unwrap_or(body.cores);
    if max_parallel == 0 || max_parallel > MAX_SLOTS {
        return Err(ApiError::BadRequest(format!(
            "maxParallel must be 1..={MAX_SLOTS}"
        )));
    }
    let owner = match &body.claim_token {
        Some(t) => Some(
            store
                .user_by_claim_token(&TokenHash::of(t))
                .await?
                .ok_or(ApiError::Forbidden("invalid claim token"))?,
        ),
        None => None,
    };
    let id = NodeId::new();
    let name = body
        .name
        .map(|n| n.trim().chars().take(MAX_NAME).collect::<String>())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("node-{}", &id.to_string()[..8]));
    let version: String = body.version.chars().take(MAX_NAME).collect();
    let now = state.clock().now();
    // A claim code can collide with another pending node's; draw again a few times.
    for _ in 0..3 {
        let claim_code = match owner {
            Some(_) => None,
            None => Some(claim_code().map_err(|e| ApiError::Internal(e.to_string()))?),
        };
        let new = NewNode {
            id,
            owner,
            public_key: req.public_key.clone(),
            name: name.clone(),
            claim_code,
            max_parallel,
            cores: body.cores,
            version: version.clone(),
        };
        match store.insert_node(new, now).await {
            Ok(node) => return Ok(Json(response(&state, &node))),
            Err(StoreError::Conflict(_)) => {
                // Either the same key registered concurrently (answer with that node) or the
                // claim code collided (try another).
                if let Some(node) = store.node_by_public_key(&req.public_key).await? {
                    return Ok(Json(response(&state, &node)));
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Unavailable(
        "could not allocate a claim code".into(),
    ))
}

fn response(state: &AppState, node: &Node) -> RegisterResponse {
    let ttl = state.config().lease_ttl.as_millis() as u64;
    RegisterResponse {
        node_id: node.id,
        owned: node.owner.is_some(),
        claim_code: node.claim_code.clone(),
        lease_ttl_ms: ttl,
        heartbeat_interval_ms: ttl / 3,
    }
}

/// `XXXX-XXXX` from an alphabet without look-alikes (no 0/O, 1/I); 40 bits of entropy.
fn claim_code() -> Result<String, getrandom::Error> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut raw = [0u8; 8];
    getrandom::fill(&mut raw)?;
    let mut code = String::with_capacity(9);
    for (i, b) in raw.iter().enumerate() {
        if i == 4 {
            code.push('-');
        }
        // 256 is a multiple of 32: no modulo bias.
        code.push(ALPHABET[usize::from(*b) % 32] as char);
    }
    Ok(code)
}
