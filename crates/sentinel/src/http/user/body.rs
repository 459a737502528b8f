//! [`JsonBody`]: a JSON request body whose rejections answer in the API's error shape (axum's
//! own `Json` answers in plain text, with 415/422), naming the field a bad value was found in.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::Json;
use serde::de::DeserializeOwned;

use super::error::UserError;
use crate::http::ApiError;

/// A deserialized JSON body; a malformed one is a 400 (a too large one a 413) in the API's
/// error shape, with `field` set when serde names it.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = UserError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(r) => Err(rejection(r)),
        }
    }
}

fn rejection(r: JsonRejection) -> UserError {
    match r {
        // The source carries serde's own text ("path: what at line L column C") without
        // axum's prefix.
        JsonRejection::JsonDataError(e) => data_error(
            &std::error::Error::source(&e).map_or_else(|| e.body_text(), ToString::to_string),
        ),
        JsonRejection::JsonSyntaxError(_) => {
            ApiError::BadRequest("the request body is not valid JSON".into()).into()
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::BadRequest(
            "send the request body as JSON (content-type: application/json)".into(),
        )
        .into(),
        JsonRejection::BytesRejection(b) if b.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::TooLarge.into()
        }
        other => {
            ApiError::BadRequest(format!("unreadable request body: {}", other.body_text())).into()
        }
    }
}

/// Turns serde's description of a value that does not fit into an error naming the field.
pub(crate) fn data_error(text: &str) -> UserError {
    let text = without_position(text);
    if let Some(rest) = text.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or_default();
        return UserError::field(name, format!("{name} is required"));
    }
    if let Some((path, what)) = text.split_once(": ") {
        if !path.is_empty() && !path.contains(' ') {
            let top = path.split(['.', '[']).next().unwrap_or(path);
            if let Some(rest) = what.strip_prefix("unknown field `") {
                // A misspelt option: say so, with the names that exist.
                let known = rest.split_once(", expected ").map_or("", |(_, k)| k);
                return UserError::field(
                    top,
                    format!("unknown field `{path}`; expected {}", current_names(known)),
                );
            }
            if !top.is_empty() {
                return UserError::field(top, format!("{path} {}", describe(what)));
            }
        }
    }
    ApiError::BadRequest(text.to_owned()).into()
}

/// serde's list of expected fields without the old snake_case aliases (accepted for one
/// release, never advertised): "one of `a`, `b_c`, `bC`" is "one of `a`, `bC`".
fn current_names(known: &str) -> String {
    let Some(list) = known.strip_prefix("one of ") else {
        return known.to_owned();
    };
    let names: Vec<&str> = list
        .split(", ")
        .filter(|n| !n.trim_matches('`').contains('_'))
        .collect();
    format!("one of {}", names.join(", "))
}

/// `"… at line 1 column 20"` without the position (it points into JSON the user never saw).
fn without_position(text: &str) -> &str {
    match text.rfind(" at line ") {
        Some(i) if text[i..].contains(" column ") => &text[..i],
        _ => text,
    }
}

/// serde's "invalid type: string \"x\", expected u64" as "must be a whole number from 0 to …".
fn describe(what: &str) -> String {
    let Some((_, expected)) = what.rsplit_once(", expected ") else {
        return format!("is invalid: {what}");
    };
    let expected = match expected {
        "u64" => format!("a whole number from 0 to {}", u64::MAX),
        "u32" => format!("a whole number from 0 to {}", u32::MAX),
        "u16" => format!("a whole number from 0 to {}", u16::MAX),
        "a boolean" => "true or false".to_owned(),
        "a string" => "text".to_owned(),
        other => other.to_owned(),
    };
    format!("must be {expected}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(e: UserError) -> (Option<String>, String) {
        match e {
            UserError::Field { field, message } => (Some(field), message),
            UserError::Api(a) => (None, a.to_string()),
        }
    }

    #[test]
    fn serde_texts_become_field_errors() {
        assert_eq!(
            parts(data_error(
                "iterations: invalid type: string \"lots\", expected u64 at line 1 column 24"
            )),
            (
                Some("iterations".into()),
                format!("iterations must be a whole number from 0 to {}", u64::MAX)
            )
        );
        assert_eq!(
            parts(data_error("missing field `public` at line 1 column 2")),
            (Some("public".into()), "public is required".into())
        );
        assert_eq!(
            parts(data_error(
                "maxParallel: invalid value: integer `-1`, expected u32 at line 1 column 17"
            )),
            (
                Some("maxParallel".into()),
                format!("maxParallel must be a whole number from 0 to {}", u32::MAX)
            )
        );
        assert_eq!(
            parts(data_error(
                "settings.name: invalid type: integer `3`, expected a string"
            )),
            (Some("settings".into()), "settings.name must be text".into())
        );
        // No path: a plain 400 with serde's words.
        assert_eq!(
            parts(data_error(
                "invalid type: integer `3`, expected struct Credentials at line 1 column 1"
            )),
            (
                None,
                "invalid type: integer `3`, expected struct Credentials".into()
            )
        );
    }
}
