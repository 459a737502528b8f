//! Keeps `proto/client.proto` and the hand-written Rust types from drifting apart: every
//! message, field name, field number and wire kind must match in both directions.

use std::collections::BTreeMap;

const PROTO: &str = include_str!("../../proto/client.proto");
const RUST: &[&str] = &[
    include_str!("envelope.rs"),
    include_str!("push.rs"),
    include_str!("connect.rs"),
    include_str!("subscribe.rs"),
    include_str!("channel_ops.rs"),
];

/// message (lowercased) → field number → (field name, wire kind)
type Schema = BTreeMap<String, BTreeMap<u32, (String, String)>>;

const SCALARS: &[&str] = &[
    "uint32", "uint64", "int32", "int64", "sint64", "string", "bytes", "bool",
];

fn proto_kind(ty: &str, repeated: bool) -> String {
    let base = if ty.starts_with("map<") {
        "map".to_owned()
    } else if SCALARS.contains(&ty) {
        ty.to_owned()
    } else {
        "message".to_owned()
    };
    if repeated {
        format!("{base} repeated")
    } else {
        base
    }
}

fn parse_proto() -> Schema {
    let mut schema = Schema::new();
    let mut current: Option<String> = None;
    for raw in PROTO.lines() {
        let line = raw.split("//").next().unwrap_or("").trim();
        if let Some(rest) = line.strip_prefix("message ") {
            let name = rest
                .trim_end_matches('{')
                .trim_end_matches("{}")
                .trim()
                .to_lowercase();
            schema.entry(name.clone()).or_default();
            current = if line.ends_with("{}") {
                None
            } else {
                Some(name)
            };
            continue;
        }
        if line == "}" {
            current = None;
            continue;
        }
        let Some(msg) = current.as_ref() else {
            continue;
        };
        if line.is_empty() || line.starts_with("reserved") {
            continue;
        }
        let (decl, num) = line
            .trim_end_matches(';')
            .split_once('=')
            .expect("field line has '='");
        let num: u32 = num.trim().parse().expect("field number");
        let mut words: Vec<&str> = decl.split_whitespace().collect();
        let name = words.pop().expect("field name").to_owned();
        let repeated = words.first() == Some(&"repeated");
        let ty = words
            .join(" ")
            .trim_start_matches("repeated ")
            .replace(' ', "");
        let prev = schema
            .get_mut(msg)
            .expect("message entry")
            .insert(num, (name, proto_kind(&ty, repeated)));
        assert!(prev.is_none(), "duplicate field number {num} in {msg}");
    }
    schema
}

fn parse_rust() -> Schema {
    let mut schema = Schema::new();
    for src in RUST {
        let mut current: Option<String> = None;
        let mut pending: Option<(u32, String)> = None;
        for raw in src.lines() {
            let line = raw.trim();
            if let Some(rest) = line.strip_prefix("pub struct ") {
                let name = rest
                    .split([' ', '{'])
                    .next()
                    .expect("struct name")
                    .to_lowercase();
                schema.entry(name.clone()).or_default();
                current = Some(name);
                continue;
            }
            if let Some(attr) = line.strip_prefix("#[prost(") {
                let tag = attr
                    .split("tag = \"")
                    .nth(1)
                    .and_then(|t| t.split('"').next())
                    .expect("prost attribute has a tag");
                let head = attr.split(", tag").next().expect("kind");
                let kind = if head.starts_with("map") {
                    "map".to_owned()
                } else if head.starts_with("bytes") {
                    "bytes".to_owned()
                } else {
                    head.replace(", optional", "").replace(", ", " ")
                };
                pending = Some((tag.parse().expect("tag number"), kind));
                continue;
            }
            if let (Some(field), Some(msg)) = (line.strip_prefix("pub "), current.as_ref()) {
                if let Some((num, kind)) = pending.take() {
                    let name = field
                        .split(':')
                        .next()
                        .expect("field")
                        .trim_start_matches("r#");
                    let prev = schema
                        .get_mut(msg)
                        .expect("struct entry")
                        .insert(num, (name.to_owned(), kind));
                    assert!(prev.is_none(), "duplicate tag {num} in {msg}");
                }
            }
        }
    }
    schema
}

#[test]
fn proto_file_and_rust_types_agree() {
    let proto = parse_proto();
    let rust = parse_rust();
    assert!(
        proto.len() >= 40,
        "parsed only {} messages from client.proto",
        proto.len()
    );
    for (msg, fields) in &proto {
        let Some(rfields) = rust.get(msg) else {
            panic!("message {msg} of client.proto has no Rust struct");
        };
        assert_eq!(
            fields, rfields,
            "fields of {msg} differ (left: .proto, right: Rust)"
        );
    }
    for msg in rust.keys() {
        assert!(
            proto.contains_key(msg),
            "Rust struct {msg} is not in client.proto"
        );
    }
}
