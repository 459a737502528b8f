//! wowlab-node: the compute node of WowLab Grid.
//!
//! A node owns an Ed25519 identity ([`identity`]), reads its [`config`] from env and file,
//! registers with the sentinel and waits to be claimed ([`register`]), connects to beacon for
//! pushed work and settings ([`realtime`]), computes leased chunks with runners chosen by
//! capability ([`runner`]) in a credit-based worker [`pool`], keeps its leases alive with the
//! [`heartbeat`] driver, posts results (batched, [`report`]) over a signed, retrying HTTP
//! [`client`], drains
//! gracefully on shutdown and serves `/status` ([`status`]) and `/logs` ([`logs`]), also through
//! the [`tunnel`] to the studio. [`Node`] wires it all.

pub mod backoff;
pub mod client;
pub mod config;
pub mod heartbeat;
pub mod identity;
pub mod logs;
mod node;
pub mod pool;
pub mod realtime;
pub mod register;
pub mod report;
pub mod runner;
pub mod status;
pub mod system;
pub mod tunnel;

pub use client::{ClientError, RetryPolicy, SentinelClient};
pub use config::{ConfigError, NodeConfig};
pub use identity::IdentityError;
pub use node::{Node, NodeHandle, Stopper};
pub use runner::{Runner, RunnerError, RunnerRegistry};

/// Why the node stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Key or state file problem.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// A sentinel call failed for good.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The sentinel refused this node (bad claim token, unknown key).
    #[error("{0}")]
    Refused(String),
    /// Binding the status listener failed.
    #[error("status listener on {addr}: {reason}")]
    Status {
        /// Address.
        addr: std::net::SocketAddr,
        /// Why.
        reason: String,
    },
    /// Stopped before registration finished.
    #[error("stopped before the node was ready")]
    Stopped,
}
