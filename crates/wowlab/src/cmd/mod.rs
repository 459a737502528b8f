//! One module per subcommand; each exposes `run` taking its parsed arguments.

pub mod beacon;
pub mod completions;
pub mod keygen;
pub mod listen;
pub mod node;
pub mod run;
pub mod sentinel;
pub mod sim;
pub mod token;
pub mod tunnel_nats_init;
pub mod up;
pub mod version;
