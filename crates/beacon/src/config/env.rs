//! Environment overrides: `WOWLAB_BEACON_<KEY_PATH>` where the key path is the JSON path in
//! upper case joined by `_`. The path is resolved against the schema (the serialized defaults),
//! so keys that themselves contain `_` (`http_server`, `hmac_secret_key`) resolve unambiguously.
//! Namespaces: `WOWLAB_BEACON_CHANNEL_NAMESPACES` holds a JSON array or space/comma-separated
//! names; `WOWLAB_BEACON_CHANNEL_NAMESPACES_<NAME>_<OPTION>` then sets an option of one of them.

use super::{catalog, ChannelOptions, Config, ConfigError, ENV_PREFIX};
use serde_json::{Map, Value};

/// Variables with the prefix that are not config keys (used by the binary).
const NOT_KEYS: &[&str] = &["CONFIG", "NATS_URL", "REDIS_URL"];

/// Applies the overrides; returns the Centrifugo keys that were set but beacon does not
/// implement (reported with the config file's, not refused).
pub(super) fn apply(
    root: &mut Value,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<String>, ConfigError> {
    let schema =
        serde_json::to_value(Config::default()).map_err(|e| ConfigError::Invalid(e.to_string()))?;
    let ns_schema = serde_json::to_value(ChannelOptions::default())
        .map_err(|e| ConfigError::Invalid(e.to_string()))?;
    let centrifugo = catalog::centrifugo_tree("");
    let centrifugo_ns = catalog::centrifugo_tree("channel.namespaces[]");
    let mut unsupported = Vec::new();
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect();
    // The namespace list must exist before per-namespace options are applied.
    vars.sort_by_key(|(k, _)| k.len());
    for (var, raw) in vars {
        let key = &var[ENV_PREFIX.len()..];
        if NOT_KEYS.contains(&key) {
            continue;
        }
        let err = |message: String| ConfigError::Env {
            var: var.clone(),
            message,
        };
        if key == "CHANNEL_NAMESPACES" {
            set_namespaces(root, &raw).map_err(err)?;
            continue;
        }
        if let Some(rest) = key.strip_prefix("CHANNEL_NAMESPACES_") {
            if let Some(path) =
                set_namespace_option(root, &ns_schema, &centrifugo_ns, rest, &raw).map_err(err)?
            {
                unsupported.push(format!("{path} ({var})"));
            }
            continue;
        }
        let Some((path, kind)) = resolve(&schema, key) else {
            match resolve(&centrifugo, key) {
                Some((path, _)) => {
                    unsupported.push(format!("{} ({var})", path.join(".")));
                    continue;
                }
                None => return Err(err("no such config key".into())),
            }
        };
        let value = parse_as(kind, &raw).map_err(err)?;
        set_path(root, &path, value).map_err(err)?;
    }
    Ok(unsupported)
}

/// Finds the key path for `KEY_PATH` in the schema; returns it with the schema's leaf value.
fn resolve<'a>(schema: &'a Value, key: &str) -> Option<(Vec<String>, &'a Value)> {
    let obj = schema.as_object()?;
    // Longest key first so `history_meta_ttl` wins over a hypothetical `history`.
    let mut names: Vec<&String> = obj.keys().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for name in names {
        let upper = name.to_ascii_uppercase();
        let child = &obj[name.as_str()];
        if key == upper {
            return Some((vec![name.clone()], child));
        }
        if let Some(rest) = key.strip_prefix(&upper).and_then(|r| r.strip_prefix('_')) {
            if child.is_object() {
                if let Some((mut path, leaf)) = resolve(child, rest) {
                    path.insert(0, name.clone());
                    return Some((path, leaf));
                }
            }
        }
    }
    None
}

/// Parses an env string the way the schema's default value is typed.
fn parse_as(kind: &Value, raw: &str) -> Result<Value, String> {
    match kind {
        Value::Bool(_) => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Value::Bool(true)),
            "false" | "0" | "no" | "off" | "" => Ok(Value::Bool(false)),
            _ => Err(format!("`{raw}` is not a boolean")),
        },
        Value::Number(_) => raw
            .trim()
            .parse::<u64>()
            .map(Value::from)
            .or_else(|_| raw.trim().parse::<i64>().map(Value::from))
            .map_err(|_| format!("`{raw}` is not an integer")),
        Value::Array(_) => {
            if raw.trim_start().starts_with('[') {
                serde_json::from_str(raw).map_err(|e| format!("invalid JSON array: {e}"))
            } else {
                Ok(Value::Array(
                    raw.split([' ', ','])
                        .filter(|s| !s.is_empty())
                        .map(|s| Value::String(s.to_string()))
                        .collect(),
                ))
            }
        }
        Value::Object(_) => {
            serde_json::from_str(raw).map_err(|e| format!("invalid JSON object: {e}"))
        }
        _ => Ok(Value::String(raw.to_string())),
    }
}

fn set_path(root: &mut Value, path: &[String], value: Value) -> Result<(), String> {
    let mut cur = root;
    for (i, seg) in path.iter().enumerate() {
        let obj = cur
            .as_object_mut()
            .ok_or_else(|| format!("config key `{}` is not an object", path[..i].join(".")))?;
        if i + 1 == path.len() {
            obj.insert(seg.clone(), value);
            return Ok(());
        }
        cur = obj
            .entry(seg.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    Ok(())
}

fn namespaces_mut(root: &mut Value) -> Result<&mut Vec<Value>, String> {
    let channel = root
        .as_object_mut()
        .ok_or("config root is not an object")?
        .entry("channel")
        .or_insert_with(|| Value::Object(Map::new()));
    let list = channel
        .as_object_mut()
        .ok_or("config key `channel` is not an object")?
        .entry("namespaces")
        .or_insert_with(|| Value::Array(Vec::new()));
    list.as_array_mut()
        .ok_or_else(|| "config key `channel.namespaces` is not an array".to_string())
}

fn set_namespaces(root: &mut Value, raw: &str) -> Result<(), String> {
    let list = namespaces_mut(root)?;
    if raw.trim_start().starts_with('[') {
        let parsed: Vec<Value> =
            serde_json::from_str(raw).map_err(|e| format!("invalid JSON array: {e}"))?;
        *list = parsed;
        return Ok(());
    }
    for name in raw.split([' ', ',']).filter(|s| !s.is_empty()) {
        let exists = list
            .iter()
            .any(|ns| ns.get("name").and_then(Value::as_str) == Some(name));
        if !exists {
            let mut obj = Map::new();
            obj.insert("name".into(), Value::String(name.to_string()));
            list.push(Value::Object(obj));
        }
    }
    Ok(())
}

/// Sets one namespace option; `Some(path)` when it is a Centrifugo option beacon lacks.
fn set_namespace_option(
    root: &mut Value,
    ns_schema: &Value,
    centrifugo_ns: &Value,
    rest: &str,
    raw: &str,
) -> Result<Option<String>, String> {
    let list = namespaces_mut(root)?;
    // Longest matching name first: `a_b` must win over `a` for `A_B_PRESENCE`.
    let mut best: Option<(usize, &str)> = None;
    for (i, ns) in list.iter().enumerate() {
        if let Some(name) = ns.get("name").and_then(Value::as_str) {
            let upper = name.to_ascii_uppercase().replace(['-', '.'], "_");
            if rest
                .strip_prefix(&upper)
                .is_some_and(|r| r.starts_with('_'))
                && best.is_none_or(|(_, b)| b.len() < name.len())
            {
                best = Some((i, name));
            }
        }
    }
    let (idx, name) =
        best.ok_or("namespace not listed in WOWLAB_BEACON_CHANNEL_NAMESPACES or the config file")?;
    let opt_key = &rest[name.len() + 1..];
    let Some((path, kind)) = resolve(ns_schema, opt_key) else {
        return match resolve(centrifugo_ns, opt_key) {
            Some((path, _)) => Ok(Some(format!(
                "channel.namespaces[{idx}].{}",
                path.join(".")
            ))),
            None => Err(format!("no namespace option `{opt_key}`")),
        };
    };
    let value = parse_as(kind, raw)?;
    set_path(&mut list[idx], &path, value).map(|()| None)
}
