//! A JSON Schema validator for the subset the generated OpenAPI document uses: `$ref` to
//! `#/components/schemas/…`, `type` (one or a list), `properties`, `required`,
//! `additionalProperties`, `items`, `allOf`, `oneOf`, `anyOf`, `enum`, `const` and `minimum`.
//! Any other keyword makes validation fail, so a schema the test cannot check is noticed.

use serde_json::Value;

/// Keywords that only describe (nothing to check).
const ANNOTATIONS: [&str; 8] = [
    "description",
    "title",
    "format",
    "example",
    "examples",
    "default",
    "deprecated",
    "contentMediaType",
];

/// Checks `v` against `schema` (resolving references in `doc`); the error names where.
pub fn validate(doc: &Value, schema: &Value, v: &Value) -> Result<(), String> {
    check(doc, schema, v, "$")
}

fn check(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let Some(s) = schema.as_object() else {
        return match schema {
            Value::Bool(true) => Ok(()),
            Value::Bool(false) => Err(format!("{at}: nothing is allowed here")),
            other => Err(format!("{at}: unreadable schema {other}")),
        };
    };
    for (k, x) in s {
        match k.as_str() {
            "$ref" => {
                let name = x
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                    .ok_or_else(|| format!("{at}: unsupported $ref {x}"))?;
                let target = &doc["components"]["schemas"][name];
                if target.is_null() {
                    return Err(format!("{at}: $ref to missing schema {name}"));
                }
                check(doc, target, v, at)?;
            }
            "type" => {
                let types: Vec<&str> = match x {
                    Value::String(t) => vec![t.as_str()],
                    Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                    _ => return Err(format!("{at}: unreadable type {x}")),
                };
                if !types.iter().any(|t| is_type(v, t)) {
                    return Err(format!("{at}: {v} is not of type {x}"));
                }
            }
            "properties" => {
                if let (Some(props), Some(obj)) = (x.as_object(), v.as_object()) {
                    for (name, sub) in props {
                        if let Some(field) = obj.get(name) {
                            check(doc, sub, field, &format!("{at}.{name}"))?;
                        }
                    }
                }
            }
            "required" => {
                if let Some(obj) = v.as_object() {
                    for name in x.as_array().into_iter().flatten().filter_map(Value::as_str) {
                        if !obj.contains_key(name) {
                            return Err(format!("{at}: required field `{name}` missing"));
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Some(obj) = v.as_object() {
                    let known = s.get("properties").and_then(Value::as_object);
                    for (name, field) in obj {
                        if known.is_some_and(|k| k.contains_key(name)) {
                            continue;
                        }
                        check(doc, x, field, &format!("{at}.{name} (undocumented field)"))?;
                    }
                }
            }
            "items" => {
                if let Some(items) = v.as_array() {
                    for (i, item) in items.iter().enumerate() {
                        check(doc, x, item, &format!("{at}[{i}]"))?;
                    }
                }
            }
            "allOf" => {
                for sub in x.as_array().into_iter().flatten() {
                    check(doc, sub, v, at)?;
                }
            }
            "oneOf" | "anyOf" => {
                let subs = x.as_array().cloned().unwrap_or_default();
                let errors: Vec<String> = subs
                    .iter()
                    .filter_map(|sub| check(doc, sub, v, at).err())
                    .collect();
                let matched = subs.len() - errors.len();
                if matched == 0 || (k == "oneOf" && matched > 1) {
                    return Err(format!(
                        "{at}: {matched} of the {k} alternatives match {v} ({})",
                        errors.join("; ")
                    ));
                }
            }
            "enum" => {
                if !x.as_array().is_some_and(|a| a.contains(v)) {
                    return Err(format!("{at}: {v} is not one of {x}"));
                }
            }
            "const" => {
                if x != v {
                    return Err(format!("{at}: {v} is not {x}"));
                }
            }
            "minimum" => {
                if let (Some(min), Some(n)) = (x.as_f64(), v.as_f64()) {
                    if n < min {
                        return Err(format!("{at}: {n} is below the minimum {min}"));
                    }
                }
            }
            other if ANNOTATIONS.contains(&other) => {}
            other => return Err(format!("{at}: schema keyword `{other}` is not supported")),
        }
    }
    Ok(())
}

fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_subset_is_checked() {
        let doc = json!({"components": {"schemas": {
            "Id": {"type": "string"},
            "Job": {"type": "object", "required": ["id"], "additionalProperties": false,
                    "properties": {"id": {"$ref": "#/components/schemas/Id"},
                                   "n": {"type": ["integer", "null"], "minimum": 0},
                                   "s": {"oneOf": [{"type": "null"}, {"enum": ["a", "b"]}]}}}
        }}});
        let job = json!({"$ref": "#/components/schemas/Job"});
        assert!(validate(&doc, &job, &json!({"id": "x", "n": 3, "s": "a"})).is_ok());
        assert!(validate(&doc, &job, &json!({"id": "x", "n": null, "s": null})).is_ok());
        for bad in [
            json!({"n": 3}),
            json!({"id": 1}),
            json!({"id": "x", "n": -1}),
            json!({"id": "x", "n": 1.5}),
            json!({"id": "x", "s": "c"}),
            json!({"id": "x", "extra": true}),
        ] {
            assert!(validate(&doc, &job, &bad).is_err(), "{bad} passed");
        }
        assert!(validate(&doc, &json!({"patternProperties": {}}), &json!({})).is_err());
    }
}
