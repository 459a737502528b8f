//! HTTP surface of the sentinel. Cross-cutting checks live in extractors ([`signed`]), handlers
//! stay thin: one file per endpoint under [`node`].

pub mod auth;
pub mod error;
pub mod node;
pub mod openapi;
pub mod security;
pub mod signed;
pub mod studio;
pub mod token_use;
pub mod user;

/// Node API and user API on one router, behind the [`security::guard`] layer.
pub fn router(state: Context) -> axum::Router {
    node::router(state.clone())
        .merge(studio::router(state.clone()))
        .merge(user::router(state.clone()))
        .layer(axum::middleware::from_fn_with_state(state, security::guard))
}

pub use crate::domain::{Clock, ManualClock, SystemClock};
pub use error::ApiError;

pub use crate::context::{Context, NodeApiConfig};
