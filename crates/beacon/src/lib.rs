//! Beacon: a Centrifugo-v6-wire-compatible realtime server. Real `centrifuge` (npm) and
//! `centrifuge-python` clients work against it unchanged.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let beacon = wowlab_beacon::Beacon::new(wowlab_beacon::config::Config::default())?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! beacon.serve(listener).await?;
//! # Ok(()) }
//! ```

pub mod api;
pub mod auth;
pub mod channel;
mod cmd;
pub mod config;
mod conn;
mod control;
mod delta;
pub mod engine;
mod hub;
mod limits;
mod node;
mod server;
mod session;
mod transport;
mod wake;

pub use api::ApiError;
pub use node::VERSION;
pub use server::{prometheus_handle, Beacon, BeaconError};
