//! Centrifugo client protocol v2 (the wire protocol of beacon and its clients).
//!
//! - [`proto`]: every message of `proto/client.proto`, with prost and serde derives.
//! - [`codec`]: JSON (newline-batched, raw embedded JSON for `bytes`) and protobuf
//!   (varint-delimited) framing of commands and replies.
//! - [`codes`]: error, disconnect and unsubscribe codes.
//! - [`error`]: typed decode/encode errors.

pub mod codec;
pub mod codes;
pub mod error;
mod json_fast;
pub mod proto;

pub use codec::Protocol;
pub use error::{DecodeError, EncodeError};
