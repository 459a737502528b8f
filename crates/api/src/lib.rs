//! Wire contracts shared by the sentinel (control plane) and compute nodes: typed ids, the
//! node API's request and response bodies, the realtime channel payloads and the Ed25519
//! request-signing scheme (`docs/architecture.md`, "Identity and security" and "How a chunk
//! flows").
//!
//! All JSON uses snake_case field names; unknown fields are ignored on read so either side can
//! gain fields without breaking the other.

pub mod channels;
pub mod ids;
pub mod node;
pub mod signing;

pub use ids::{IdParseError, JobId, NodeId, UserId};
