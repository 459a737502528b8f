//! Wire contracts shared by the sentinel (control plane) and compute nodes.
//!
//! Today this holds the Ed25519 request-signing scheme of ARCHITECTURE.md §4; the HTTP request
//! and channel payload types join it with the grid.

pub mod signing;
