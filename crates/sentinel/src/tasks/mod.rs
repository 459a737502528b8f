//! Background work of a sentinel: leader-elected loops that run until shut down.

mod leadership;
pub mod presence;
mod reclaim;
pub mod webhook;

pub use leadership::Leadership;
pub use reclaim::run_reclaim;
