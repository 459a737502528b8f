//! One module per subcommand; each exposes `run` taking its parsed arguments.

pub mod beacon;
pub mod version;
