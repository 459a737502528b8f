//! The signed-request extractors: verify the Ed25519 signature over the exact bytes received
//! (body capped), parse the JSON body, and refuse a reused nonce through the coordinator's
//! replay cache (shared by every sentinel instance). Only registered keys' nonces enter the
//! cache, so strangers cannot fill it: [`SignedNode`] resolves the node first, and
//! registration remembers its nonce once the key is registered ([`Signed::remember_nonce`]).
//! [`ClaimedNode`] further requires an owner: an unclaimed node may register, heartbeat and
//! show its claim code, nothing else.

use axum::extract::{FromRequest, OriginalUri, Request};
use axum::http::header::HOST;
use serde::de::DeserializeOwned;
use wowlab_api::signing::{self, ReceivedHeaders, NONCE_TTL};

use super::{ApiError, Context};
use crate::store::Node;

/// A verified request: who signed it and its parsed body. Its nonce is not yet remembered.
#[derive(Debug)]
pub struct Signed<T> {
    /// Base64 public key that signed the request.
    pub public_key: String,
    /// The JSON body (`()` for an empty body).
    pub body: T,
    nonce: String,
}

impl<T> Signed<T> {
    /// Records the nonce in the replay cache; a nonce seen before is a replay.
    pub async fn remember_nonce(&self, state: &Context) -> Result<(), ApiError> {
        remember(state, &self.public_key, &self.nonce).await
    }
}

/// Records `nonce` of `public_key` in the replay cache; a nonce seen before is a replay.
async fn remember(state: &Context, public_key: &str, nonce: &str) -> Result<(), ApiError> {
    let key = format!("nonce:{public_key}:{nonce}");
    if state
        .coordinator()
        .remember_nonce(&key, NONCE_TTL, state.clock().now())
        .await?
    {
        Ok(())
    } else {
        Err(ApiError::Replay)
    }
}

/// A verified request from a registered node that has an owner.
#[derive(Debug)]
pub struct ClaimedNode<T> {
    /// The node, as stored.
    pub node: Node,
    /// The JSON body.
    pub body: T,
}

/// A verified request from a registered node.
#[derive(Debug)]
pub struct SignedNode<T> {
    /// The node, as stored.
    pub node: Node,
    /// The JSON body.
    pub body: T,
}

impl<T: DeserializeOwned + Send> FromRequest<Context> for Signed<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Context) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        // Under a nested router `uri` lost its prefix; the signature covers the full path.
        let path = parts
            .extensions
            .get::<OriginalUri>()
            .map(|u| u.path().to_owned())
            .unwrap_or_else(|| parts.uri.path().to_owned());
        let host = parts
            .headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.host())
            .unwrap_or_default()
            .to_owned();
        let bytes = axum::body::to_bytes(body, state.config().body_limit)
            .await
            .map_err(|_| ApiError::TooLarge)?;
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let received = ReceivedHeaders {
            key: header(signing::HEADER_KEY),
            signature: header(signing::HEADER_SIGNATURE),
            timestamp: header(signing::HEADER_TIMESTAMP),
            nonce: header(signing::HEADER_NONCE),
        };
        let now = state.clock().now();
        let verified =
            signing::verify(received, parts.method.as_str(), &host, &path, &bytes, now.0)?;
        // A replay cache that lives in memory died with the previous process; what was signed
        // before this one started could be such a replay.
        if verified.timestamp_ms < state.started_at().0 {
            return Err(ApiError::SignedBeforeStart);
        }
        let raw: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        let body = serde_json::from_slice(raw)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
        Ok(Self {
            public_key: verified.public_key,
            body,
            nonce: verified.nonce,
        })
    }
}

impl<T: DeserializeOwned + Send> FromRequest<Context> for SignedNode<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Context) -> Result<Self, Self::Rejection> {
        let Signed {
            public_key,
            body,
            nonce,
        } = Signed::<T>::from_request(req, state).await?;
        let node = state
            .store()
            .node_by_public_key(&public_key)
            .await?
            .ok_or(ApiError::UnknownNode)?;
        remember(state, &public_key, &nonce).await?;
        Ok(Self { node, body })
    }
}

impl<T: DeserializeOwned + Send> FromRequest<Context> for ClaimedNode<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Context) -> Result<Self, Self::Rejection> {
        let SignedNode { node, body } = SignedNode::<T>::from_request(req, state).await?;
        if node.owner.is_none() {
            return Err(ApiError::NotClaimed);
        }
        Ok(Self { node, body })
    }
}
