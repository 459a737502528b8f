//! HTTP errors: one enum, one JSON shape `{"error": {"code", "message"}}`, one status per kind.
//! Internal details are logged, never sent.

use axum::http::header::RETRY_AFTER;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use wowlab_api::node::ApiErrorBody;
use wowlab_api::signing::SignatureError;

use crate::coordinator::CoordinatorError;
use crate::lifecycle::LifecycleError;
use crate::store::StoreError;

/// The body of every 4xx/5xx answer: `{"error": {"code", "message", "field"?}}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorResponse {
    /// What went wrong.
    pub error: ApiErrorBody,
}

impl ErrorResponse {
    /// An error with this stable `code` and human-readable `message`.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            error: ApiErrorBody {
                code: code.to_owned(),
                message: message.into(),
                field: None,
            },
        }
    }
}

/// Everything a handler can answer with besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Signature, timestamp or header problem (401).
    #[error("{0}")]
    Signature(#[from] SignatureError),
    /// The nonce was already used (401).
    #[error("replayed request")]
    Replay,
    /// Signed before this instance started: its nonce may have been used with the instance
    /// before, whose replay cache is gone (401; sign again with a fresh timestamp).
    #[error("request signed before this sentinel started; sign it again")]
    SignedBeforeStart,
    /// The replay cache is full of unexpired nonces (503; retry shortly).
    #[error("too many signed requests in flight: the replay cache is full; retry shortly")]
    ReplayCacheFull,
    /// The node has no owner yet, so it gets no beacon token and no work (403).
    #[error("this node is not claimed yet: claim this node first (enter its claim code in the studio or start it with a claim token)")]
    NotClaimed,
    /// The signing key belongs to no registered node (401).
    #[error("unknown node key")]
    UnknownNode,
    /// No valid session cookie or API token (401).
    #[error("sign-in required")]
    SignInRequired,
    /// Wrong email or password (401).
    #[error("wrong email or password")]
    BadCredentials,
    /// The resource exists already (409).
    #[error("{0}")]
    Conflict(&'static str),
    /// A credential in the body was refused (403).
    #[error("{0}")]
    Forbidden(&'static str),
    /// The body exceeds the size cap (413).
    #[error("request body too large")]
    TooLarge,
    /// Malformed input (400).
    #[error("{0}")]
    BadRequest(String),
    /// The referenced resource does not exist (404).
    #[error("{0}")]
    NotFound(&'static str),
    /// The lease is no longer held: drop the work (409).
    #[error("{0}")]
    Stale(&'static str),
    /// A backend is down; retry later (503).
    #[error("service unavailable")]
    Unavailable(String),
    /// Too many attempts from this address or for this account (429 with `Retry-After`).
    #[error("too many attempts; retry in {retry_after} s")]
    RateLimited {
        /// Seconds until the next attempt is let through.
        retry_after: u64,
    },
    /// Every password-hashing slot is taken (503 with `Retry-After`).
    #[error("too many sign-ins at once; retry in {retry_after} s")]
    Busy {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// A browser request that changes state came from another origin (403).
    #[error("{0}")]
    CrossOrigin(String),
    /// The user is over a fair-use quota (429).
    #[error("{0}")]
    QuotaExceeded(String),
    /// The API token expired (401).
    #[error("this API token has expired; create a new one")]
    TokenExpired,
    /// The claim token was revoked by its owner (403).
    #[error("this claim token was revoked; create a new one in the studio")]
    ClaimTokenRevoked,
    /// The claim token is past its expiry (403).
    #[error("this claim token has expired; create a new one in the studio")]
    ClaimTokenExpired,
    /// An administrator's action by someone else (403).
    #[error("only an administrator may do this")]
    AdminOnly,
    /// A bug or corrupt data (500).
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Signature(_) => (StatusCode::UNAUTHORIZED, "bad_signature"),
            Self::Replay => (StatusCode::UNAUTHORIZED, "replayed"),
            Self::SignedBeforeStart => (StatusCode::UNAUTHORIZED, "signed_before_start"),
            Self::ReplayCacheFull => (StatusCode::SERVICE_UNAVAILABLE, "replay_cache_full"),
            Self::NotClaimed => (StatusCode::FORBIDDEN, "not_claimed"),
            Self::UnknownNode => (StatusCode::UNAUTHORIZED, "unknown_node"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::SignInRequired => (StatusCode::UNAUTHORIZED, "sign_in_required"),
            Self::BadCredentials => (StatusCode::UNAUTHORIZED, "bad_credentials"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Stale(_) => (StatusCode::CONFLICT, "stale_lease"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            Self::CrossOrigin(_) => (StatusCode::FORBIDDEN, "cross_origin"),
            Self::QuotaExceeded(_) => (StatusCode::TOO_MANY_REQUESTS, "quota_exceeded"),
            Self::TokenExpired => (StatusCode::UNAUTHORIZED, "token_expired"),
            Self::ClaimTokenRevoked => (StatusCode::FORBIDDEN, "claim_token_revoked"),
            Self::ClaimTokenExpired => (StatusCode::FORBIDDEN, "claim_token_expired"),
            Self::AdminOnly => (StatusCode::FORBIDDEN, "admin_only"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Backend(m) => Self::Unavailable(m),
            StoreError::Closed => Self::Unavailable("store closed".into()),
            StoreError::Invalid(m) => Self::BadRequest(m),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<LifecycleError> for ApiError {
    fn from(e: LifecycleError) -> Self {
        match e {
            LifecycleError::NotFound => Self::NotFound("no such job"),
            LifecycleError::AlreadyFinished(_) => Self::Conflict("the job has already finished"),
            LifecycleError::Contended => Self::Unavailable("the job kept changing".into()),
            LifecycleError::Store(s) => s.into(),
        }
    }
}

impl From<CoordinatorError> for ApiError {
    fn from(e: CoordinatorError) -> Self {
        match e {
            CoordinatorError::Unavailable(m) => Self::Unavailable(m),
            CoordinatorError::Invalid(m) => Self::BadRequest(m),
            CoordinatorError::NonceCacheFull(_) => Self::ReplayCacheFull,
            other => Self::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        metrics::counter!("sentinel_http_errors_total", "code" => code).increment(1);
        match &self {
            Self::Internal(m) | Self::Unavailable(m) => {
                tracing::error!(code, detail = %m, "request failed")
            }
            other => tracing::debug!(code, error = %other, "request refused"),
        }
        let body = ErrorResponse::new(code, self.to_string());
        let mut resp = (status, Json(body)).into_response();
        if let Self::RateLimited { retry_after } | Self::Busy { retry_after } = self {
            resp.headers_mut()
                .insert(RETRY_AFTER, axum::http::HeaderValue::from(retry_after));
        }
        resp
    }
}

impl From<crate::result_log::LogError> for ApiError {
    fn from(e: crate::result_log::LogError) -> Self {
        Self::Unavailable(e.to_string())
    }
}
