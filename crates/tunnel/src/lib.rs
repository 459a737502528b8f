//! wowlab-tunnel: HTTP over NATS (or in-process) for hosts without an inbound port.
//!
//! A [`Client`] sends `http::Request`s to a host name with [`Client::fetch`]; a
//! [`Responder`] serves a host with any tower service (an axum `Router`). Both sides stream
//! bodies in bounded raw-byte frames under credit flow control ([`flow`]), check frame order,
//! and fail with a typed [`ErrorCode`] for each failure path. The wire format is in [`wire`],
//! the subject layout in [`subject`], the transport seam in [`transport`].

mod client;
pub mod creds;
mod error;
pub mod flow;
mod responder;
pub mod subject;
mod timer;
pub mod transport;
pub mod wire;

pub use axum_core::body::Body;
pub use client::{Client, ClientOptions, FetchOptions};
pub use error::{ErrorCode, TunnelError};
pub use flow::FlowStats;
pub use responder::{Responder, ResponderOptions, ResponderStats};
pub use tokio_util::sync::CancellationToken;
pub use transport::{MemoryTransport, NatsTransport, RotatingTransport, Transport, TransportError};
