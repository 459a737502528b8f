//! WowLab Grid control plane ("sentinel"): scheduling coordination (leases, fences, reclaim,
//! leader locks, nonce cache), the durable store, the signed node API, the user API, the result
//! log + projector and the background tasks.
//!
//! Layers, bottom up: [`domain`] (ids, fences, job lifecycle), [`coordinator`] (fast scheduling
//! state, memory or Redis), [`store`] (durable truth, SQLite or PostgreSQL), [`recovery`]
//! (rebuilding coordination from the store), [`jobs`] (submission), [`projector`] (exact merge
//! and terminal results), [`publish`] (the funnel to beacon), [`http`] (node and user APIs),
//! [`tasks`] (reclaim, presence), [`service`] (one wired instance).

pub mod beacon_http;
pub mod context;
pub mod coordinator;
pub mod domain;
pub mod engine;
pub mod facts;
pub mod http;
pub mod jobs;
pub mod lifecycle;
pub mod local;
pub mod nats_creds;
pub mod projector;
pub mod publish;
pub mod recovery;
pub mod result_log;
pub mod service;
pub mod sim;
pub mod store;
pub mod tasks;
pub mod telemetry;
#[cfg(test)]
mod test_services;
pub mod tokens;
pub mod verify;
pub mod waves;
pub mod wire;
