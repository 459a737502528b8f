//! One module per subcommand; each exposes `run` taking its parsed arguments.

pub mod beacon;
pub mod listen;
pub mod sim;
pub mod token;
pub mod version;
