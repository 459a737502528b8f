//! `POST /api/node/register`: a new key becomes a node, owned (valid claim token) or unowned
//! with a claim code. Registering a known key again returns that node with its facts (version,
//! cores, own slot cap) refreshed and nothing else changed: a claim token never moves an
//! existing node to another account.

use axum::extract::State;
use axum::Json;

use crate::domain::{NodeId, TokenHash};
use crate::http::security::claim_code;
use crate::http::signed::Signed;
use crate::http::{ApiError, Context};
use crate::store::{ClaimTokenCheck, NewNode, Node, StoreError};
use wowlab_api::node::{RegisterRequest, RegisterResponse};

const MAX_SLOTS: u32 = 1024;
const MAX_NAME: usize = 64;

/// The answer once `node` is registered: only now does the request's nonce enter the replay
/// cache, so unregistered keys cannot fill it. A replayed registration changes nothing (the
/// same key is the same node) and is refused here.
async fn registered(
    state: &Context,
    req: &Signed<RegisterRequest>,
    node: &Node,
    claim_code: Option<String>,
) -> Result<Json<RegisterResponse>, ApiError> {
    req.remember_nonce(state).await?;
    Ok(Json(response(node, claim_code)))
}

#[utoipa::path(
    post,
    path = wowlab_api::node::PATH_REGISTER,
    tag = "node",
    summary = "Register this key as a node",
    security(("nodeKey" = [], "nodeSignature" = [], "nodeTimestamp" = [], "nodeNonce" = [])),
    request_body = RegisterRequest,
    responses(
        (status = 200, description = "The node (new, or the known one for this key)", body = RegisterResponse),
        (status = 400, description = "Malformed body or headers"),
        (status = 401, description = "Bad signature, unknown key, replayed or stale request"),
        (status = 403, description = "The claim token is invalid, revoked or expired")
    )
)]
pub(super) async fn handle(
    State(state): State<Context>,
    req: Signed<RegisterRequest>,
) -> Result<Json<RegisterResponse>, ApiError> {
    let store = state.store();
    let cores = req.body.facts.cores;
    if cores == 0 || cores > MAX_SLOTS {
        return Err(ApiError::BadRequest(format!(
            "cores must be 1..={MAX_SLOTS}"
        )));
    }
    let local_cap = req.body.facts.local_max_parallel;
    check_local_cap(local_cap)?;
    let version: String = req.body.facts.version.chars().take(MAX_NAME).collect();
    if let Some(existing) = store.node_by_public_key(&req.public_key).await? {
        let node = store
            .update_node_facts(existing.id, &version, cores, local_cap)
            .await?
            .unwrap_or(existing);
        let code = claim_code::current(store, &node, state.clock().now()).await?;
        return registered(&state, &req, &node, code).await;
    }
    let body = &req.body;
    // The owner's setting starts at one per core; the node's own cap applies beneath it.
    let max_parallel = cores;
    let owner = match &body.claim_token {
        Some(t) => match store
            .check_claim_token(&TokenHash::of(t), state.clock().now())
            .await?
        {
            ClaimTokenCheck::Valid(user) => {
                // Registrations are rare (once per machine): written directly.
                store
                    .touch_claim_token(&TokenHash::of(t), state.clock().now())
                    .await?;
                Some(user)
            }
            ClaimTokenCheck::Revoked => return Err(ApiError::ClaimTokenRevoked),
            ClaimTokenCheck::Expired => return Err(ApiError::ClaimTokenExpired),
            ClaimTokenCheck::Unknown => return Err(ApiError::Forbidden("invalid claim token")),
        },
        None => None,
    };
    let id = NodeId::new();
    let name = Some(body.name.trim().chars().take(MAX_NAME).collect::<String>())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("node-{}", &id.to_string()[..8]));
    let now = state.clock().now();
    // A claim code can collide with another pending node's; draw again a few times.
    for attempt in 0..3 {
        let (code, claim_code) = match owner {
            Some(_) => (None, None),
            None => {
                let (code, pending) = claim_code::fresh(id, now, attempt)?;
                (Some(code), Some(pending))
            }
        };
        let new = NewNode {
            id,
            owner,
            public_key: req.public_key.clone(),
            name: name.clone(),
            claim_code,
            max_parallel,
            cores,
            version: version.clone(),
        };
        match store.insert_node(new, now).await {
            Ok(node) => {
                // Version and cores went in with the row; the node's own cap is a fact too.
                if local_cap.is_some() {
                    store
                        .update_node_facts(node.id, &version, cores, local_cap)
                        .await?;
                }
                return registered(&state, &req, &node, code).await;
            }
            Err(StoreError::Conflict(_)) => {
                // Either the same key registered concurrently (answer with that node) or the
                // claim code collided (try another).
                if let Some(node) = store.node_by_public_key(&req.public_key).await? {
                    let code = claim_code::current(store, &node, now).await?;
                    return registered(&state, &req, &node, code).await;
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Unavailable(
        "could not allocate a claim code".into(),
    ))
}

/// A node's own cap, when it reports one, is a slot count like `cores`.
pub(super) fn check_local_cap(cap: Option<u32>) -> Result<(), ApiError> {
    match cap {
        Some(c) if c == 0 || c > MAX_SLOTS => Err(ApiError::BadRequest(format!(
            "local_max_parallel must be 1..={MAX_SLOTS}"
        ))),
        _ => Ok(()),
    }
}

fn response(node: &Node, claim_code: Option<String>) -> RegisterResponse {
    RegisterResponse {
        node_id: node.id,
        owner: node.owner,
        claim_code,
    }
}
