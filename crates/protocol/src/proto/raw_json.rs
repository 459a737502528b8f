//! Serde adapter for protobuf `bytes` fields, which the JSON protocol carries as raw
//! embedded JSON values (not base64).

use bytes::Bytes;
use serde::de::Deserialize;
use serde::ser::{Error as _, Serialize};
use serde::{Deserializer, Serializer};
use serde_json::value::RawValue;

/// Marker text of the serialization error raised for non-JSON bytes (see `EncodeError::NotJson`).
pub(crate) const NOT_JSON: &str = "bytes field does not hold valid JSON";

/// Writes the bytes verbatim as a JSON value, after checking they are one valid JSON value.
pub fn serialize<S: Serializer>(bytes: &Bytes, s: S) -> Result<S::Ok, S::Error> {
    let raw: &RawValue = serde_json::from_slice(bytes)
        .map_err(|e| S::Error::custom(format_args!("{NOT_JSON}: {e}")))?;
    raw.serialize(s)
}

/// Reads the raw JSON text of the value; `null` reads as empty (absent).
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
    let raw: Box<RawValue> = Box::<RawValue>::deserialize(d)?;
    let text: Box<str> = raw.into();
    if &*text == "null" {
        return Ok(Bytes::new());
    }
    Ok(Bytes::from(String::from(text)))
}

/// `skip_serializing_if` predicate for scalar zero values.
pub(crate) fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}
