//! The signed-request extractors: verify the Ed25519 signature over the exact bytes received
//! (body capped), refuse a reused nonce through the coordinator's replay cache (shared by every
//! sentinel instance), then parse the JSON body. [`SignedNode`] also resolves the registered node.

use axum::extract::{FromRequest, OriginalUri, Request};
use axum::http::header::HOST;
use serde::de::DeserializeOwned;
use wowlab_api::signing::{self, ReceivedHeaders, NONCE_TTL};

use super::{ApiError, Context};
use crate::store::Node;

/// A verified request: who signed it and its parsed body.
#[derive(Debug)]
pub struct Signed<T> {
    /// Base64 public key that signed the request.
    pub public_key: String,
    /// The JSON body (`()` for an empty body).
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
        // Only a correctly signed request may consume a nonce, so nobody can burn others'.
        let nonce_key = format!("nonce:{}:{}", verified.public_key, verified.nonce);
        if !state
            .coordinator()
            .remember_nonce(&nonce_key, NONCE_TTL, now)
            .await?
        {
            return Err(ApiError::Replay);
        }
        let raw: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        let body = serde_json::from_slice(raw)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
        Ok(Self {
            public_key: verified.public_key,
            body,
        })
    }
}

impl<T: DeserializeOwned + Send> FromRequest<Context> for SignedNode<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Context) -> Result<Self, Self::Rejection> {
        let signed = Signed::<T>::from_request(req, state).await?;
        let node = state
            .store()
            .node_by_public_key(&signed.public_key)
            .await?
            .ok_or(ApiError::UnknownNode)?;
        Ok(Self {
            node,
            body: signed.body,
        })
    }
}
