//! Profiles: the schema ([`schema`]) and reading it from TOML or JSON with error positions
//! ([`load`]).

pub mod load;
pub mod schema;

pub use load::{parse_json, parse_profile, parse_toml, Format, SourceMap};
pub use schema::*;
