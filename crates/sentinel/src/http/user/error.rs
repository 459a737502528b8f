//! Errors of the user API: any [`ApiError`], or bad input naming the body field it concerns.
//! Both answer with the stable shape `{"error": {"code", "message"}}`; a field error adds
//! `"field"` (the JSON name, e.g. `iterations`) so the studio shows it next to that input.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::coordinator::CoordinatorError;
use crate::http::error::ErrorResponse;
use crate::http::ApiError;
use crate::store::StoreError;

/// What a user API handler answers with besides success.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UserError {
    /// Any API error, in its usual shape.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A body (or query) field has a bad value (400 `bad_request` with `field`).
    #[error("{message}")]
    Field {
        /// JSON name of the field.
        field: String,
        /// What is wrong, for the user.
        message: String,
    },
}

impl UserError {
    /// A bad value of `field`.
    pub(crate) fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Field {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl From<StoreError> for UserError {
    fn from(e: StoreError) -> Self {
        Self::Api(e.into())
    }
}

impl From<CoordinatorError> for UserError {
    fn from(e: CoordinatorError) -> Self {
        Self::Api(e.into())
    }
}

/// Answer to a known `/api` path with a method it does not take (405, in the error shape).
pub(super) async fn method_not_allowed() -> Response {
    let body = ErrorResponse::new(
        "method_not_allowed",
        "this endpoint does not take that method",
    );
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}

impl IntoResponse for UserError {
    fn into_response(self) -> Response {
        match self {
            Self::Api(e) => e.into_response(),
            Self::Field { field, message } => {
                metrics::counter!("sentinel_http_errors_total", "code" => "bad_request")
                    .increment(1);
                tracing::debug!(%field, %message, "request refused");
                let mut body = ErrorResponse::new("bad_request", message);
                body.error.field = Some(field);
                (StatusCode::BAD_REQUEST, Json(body)).into_response()
            }
        }
    }
}
