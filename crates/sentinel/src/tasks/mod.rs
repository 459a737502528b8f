//! Background work of a sentinel: leader-elected loops that run until shut down.

pub mod dispatch;
mod leadership;
pub mod presence;
pub mod reclaim;
pub mod totals;
pub mod webhook;

pub use dispatch::{Dispatcher, WakeOnWork};
pub use leadership::{LeaderLoop, LeaderRound, Leadership};
pub use reclaim::run_reclaim;
