//! Sorting the keys of a config document before it is deserialized: keys beacon supports stay,
//! keys Centrifugo v6 knows but beacon lacks are removed and reported (one start-up warning),
//! anything else is a typo and an error naming the path and the nearest valid name.

use super::{catalog, ChannelOptions, Config, ConfigError};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// The key sets a document is checked against.
struct Known {
    /// Keys beacon's schema has.
    beacon: BTreeSet<String>,
    /// Keys of Centrifugo v6's configuration.
    centrifugo: BTreeSet<String>,
}

impl Known {
    fn new() -> Result<Self, ConfigError> {
        let schema = serde_json::to_value(Config::default())
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let ns = serde_json::to_value(ChannelOptions::default())
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let mut beacon = BTreeSet::new();
        collect(&schema, "", &mut beacon);
        collect(&ns, "channel.namespaces[]", &mut beacon);
        beacon.insert("channel.namespaces[]".into());
        Ok(Known {
            beacon,
            centrifugo: catalog::centrifugo_keys(),
        })
    }

    fn has_children(&self, pattern: &str) -> bool {
        let prefix = format!("{pattern}.");
        let starts = |set: &BTreeSet<String>| {
            set.range(prefix.clone()..)
                .next()
                .is_some_and(|k| k.starts_with(&prefix))
        };
        starts(&self.beacon) || starts(&self.centrifugo)
    }

    fn is_array_of_objects(&self, pattern: &str) -> bool {
        self.has_children(&format!("{pattern}[]"))
    }

    /// The valid key names directly under `pattern` ("" for the root).
    fn children(&self, pattern: &str) -> BTreeSet<&str> {
        let prefix = if pattern.is_empty() {
            String::new()
        } else {
            format!("{pattern}.")
        };
        self.beacon
            .iter()
            .chain(self.centrifugo.iter())
            .filter_map(|k| k.strip_prefix(prefix.as_str()))
            .map(|rest| rest.split('.').next().unwrap_or(rest))
            .filter(|name| !name.is_empty())
            .map(|name| name.trim_end_matches("[]"))
            .collect()
    }
}

/// Adds the key paths of a serialized default config.
fn collect(v: &Value, pattern: &str, out: &mut BTreeSet<String>) {
    if let Value::Object(m) = v {
        for (k, child) in m {
            let p = join(pattern, k);
            out.insert(p.clone());
            collect(child, &p, out);
        }
    }
}

fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_string()
    } else {
        format!("{base}.{key}")
    }
}

/// Removes the recognised-but-unsupported keys from `root` and returns the paths of those that
/// ask for something (values other than false / 0 / "" / empty, sections not `enabled: false`).
/// Unknown keys are an error.
pub(super) fn strip_unsupported(root: &mut Value) -> Result<Vec<String>, ConfigError> {
    let known = Known::new()?;
    let mut unsupported = Vec::new();
    normalize_redis_addresses(root, &mut unsupported);
    if let Value::Object(m) = root {
        walk(m, "", "", &known, Some(&mut unsupported))?;
    }
    Ok(unsupported)
}

/// Checks every key of `obj`; with `report`, also removes and records unsupported ones (without
/// it, inside an unsupported section, only typos are looked for).
fn walk(
    obj: &mut Map<String, Value>,
    path: &str,
    pattern: &str,
    known: &Known,
    mut report: Option<&mut Vec<String>>,
) -> Result<(), ConfigError> {
    let keys: Vec<String> = obj.keys().cloned().collect();
    for key in keys {
        let pat = join(pattern, &key);
        let disp = join(path, &key);
        let supported = known.beacon.contains(&pat);
        if !supported && !known.centrifugo.contains(&pat) {
            return Err(unknown_key(&disp, &key, pattern, known));
        }
        let Some(value) = obj.get_mut(&key) else {
            continue;
        };
        match report.as_deref_mut() {
            Some(unsupported) if supported => {
                descend(value, &disp, &pat, known, Some(unsupported))?
            }
            Some(unsupported) => {
                descend(value, &disp, &pat, known, None)?;
                if is_set(value) {
                    unsupported.push(disp);
                }
                obj.remove(&key);
            }
            None => descend(value, &disp, &pat, known, None)?,
        }
    }
    Ok(())
}

fn descend(
    value: &mut Value,
    path: &str,
    pattern: &str,
    known: &Known,
    mut report: Option<&mut Vec<String>>,
) -> Result<(), ConfigError> {
    match value {
        Value::Object(m) if known.has_children(pattern) => {
            // A switched-off section asks for nothing: its unsupported keys are dropped quietly.
            let mut quiet = Vec::new();
            let report = match report {
                Some(_) if m.get("enabled") == Some(&Value::Bool(false)) => Some(&mut quiet),
                r => r,
            };
            walk(m, path, pattern, known, report)
        }
        Value::Array(items) if known.is_array_of_objects(pattern) => {
            let item_pattern = format!("{pattern}[]");
            for (i, item) in items.iter_mut().enumerate() {
                if let Value::Object(m) = item {
                    let item_path = format!("{path}[{i}]");
                    walk(m, &item_path, &item_pattern, known, report.as_deref_mut())?;
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn unknown_key(path: &str, key: &str, parent: &str, known: &Known) -> ConfigError {
    let nearest = known
        .children(parent)
        .into_iter()
        .min_by_key(|c| strsim::levenshtein(c, key));
    let message = match nearest {
        Some(n) => format!("unknown key; did you mean `{}`?", join(parent, n)),
        None => "unknown key".to_string(),
    };
    ConfigError::Key {
        path: path.to_string(),
        message,
    }
}

/// Whether a value asks for something (a switched-off or empty setting does not).
fn is_set(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !(s.is_empty() || is_zero_duration(s)),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => {
            if m.get("enabled") == Some(&Value::Bool(false)) {
                return false;
            }
            m.values().any(is_set)
        }
    }
}

/// "0", "0s", "0ms": a duration of zero.
fn is_zero_duration(s: &str) -> bool {
    s.starts_with('0')
        && s.trim_start_matches('0')
            .chars()
            .all(|c| c.is_ascii_alphabetic())
}

/// Centrifugo's `redis.address` is a list of shards; beacon talks to one Redis. A one-item list
/// becomes that address; further shards are reported as unsupported (sharding).
fn normalize_redis_addresses(root: &mut Value, unsupported: &mut Vec<String>) {
    for section in ["engine", "broker", "presence_manager"] {
        let Some(addr) = root
            .get_mut(section)
            .and_then(|s| s.get_mut("redis"))
            .and_then(|r| r.get_mut("address"))
        else {
            continue;
        };
        let Value::Array(items) = addr else {
            continue;
        };
        if items.len() > 1 {
            unsupported.push(format!("{section}.redis.address[1..] (Redis sharding)"));
        }
        if let Some(first) = items.first().cloned() {
            *addr = first;
        }
    }
}
