//! WowLab Grid control plane ("sentinel"): scheduling coordination (leases, fences, reclaim,
//! leader locks, nonce cache), the durable store, and — on top of them — the node and user APIs.
//!
//! Layers, bottom up: [`domain`] (ids, fences, job lifecycle), [`coordinator`] (fast scheduling
//! state, memory or Redis), [`store`] (durable truth, SQLite or PostgreSQL), [`recovery`]
//! (rebuilding coordination state from the store).

pub mod beacon_http;
pub mod coordinator;
pub mod domain;
pub mod engine;
pub mod http;
pub mod jobs;
pub mod projector;
pub mod publish;
pub mod recovery;
pub mod service;
pub mod store;
pub mod tasks;
pub mod tokens;
