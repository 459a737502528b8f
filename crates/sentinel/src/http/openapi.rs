//! The OpenAPI 3.1 document of the user and node APIs, served at `GET /api/openapi.json`.
//!
//! Nothing here is written by hand but the frame (title, security schemes): the API routers
//! are `OpenApiRouter`s that register each handler with `routes!`, which takes the method and
//! path from the handler's `#[utoipa::path]`, so a route cannot be served undocumented and
//! the document cannot name a route that is not served. Request and response schemas come from
//! the handlers' types (`ToSchema`).

use std::sync::OnceLock;

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, RefOr};
use utoipa::{Modify, OpenApi};
use wowlab_api::signing;

use super::error::ErrorResponse;

/// Where the document is served.
pub const PATH: &str = "/api/openapi.json";

/// Security scheme of the studio's session cookie.
pub const SESSION: &str = "session";
/// Security scheme of a CLI API token (`Authorization: Bearer wl_…`).
pub const API_TOKEN: &str = "apiToken";
/// Security schemes of a signed node request: all four headers together.
pub const NODE_SIGNATURE: [(&str, &str, &str); 4] = [
    (
        "nodeKey",
        signing::HEADER_KEY,
        "Standard base64 of the node's Ed25519 public key (its identity).",
    ),
    (
        "nodeSignature",
        signing::HEADER_SIGNATURE,
        "Base64 Ed25519 signature of the canonical request (timestamp, nonce, method, host, \
         path, SHA-256 of the body).",
    ),
    (
        "nodeTimestamp",
        signing::HEADER_TIMESTAMP,
        "Signing time, Unix milliseconds; refused outside the allowed clock skew.",
    ),
    (
        "nodeNonce",
        signing::HEADER_NONCE,
        "Single-use random nonce; a replayed one is refused (401 `replayed`).",
    ),
];

/// The frame of the document; the routers add the paths and schemas.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "WowLab Grid API",
        description = "The user API (session cookie or API token) and the signed node API of a \
                       WowLab Grid sentinel. User API JSON fields are camelCase; node API JSON \
                       fields are snake_case. Every error answers `{\"error\": {\"code\", \
                       \"message\", \"field\"?}}`.",
        license(name = "Apache-2.0")
    ),
    components(schemas(ErrorResponse)),
    tags(
        (name = "account", description = "Sign-up, sign-in, sessions"),
        (name = "tokens", description = "API tokens and claim tokens"),
        (name = "nodes", description = "A user's compute nodes"),
        (name = "jobs", description = "Simulation jobs"),
        (name = "admin", description = "Grid-wide settings"),
        (name = "realtime", description = "Tokens for the realtime (beacon) connection"),
        (name = "node", description = "The signed API compute nodes call"),
        (name = "meta", description = "This document")
    )
)]
struct Base;

/// Adds the security schemes and the error body every failure answers with.
struct Frame;

impl Modify for Frame {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                super::auth::SESSION_COOKIE,
                "The studio's session cookie, set by sign-up and sign-in.",
            ))),
        );
        components.add_security_scheme(
            API_TOKEN,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token made with `POST /api/tokens` (`wl_…`)."))
                    .build(),
            ),
        );
        for (name, header, what) in NODE_SIGNATURE {
            components.add_security_scheme(
                name,
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(header, what))),
            );
        }
        for (path, item) in doc.paths.paths.iter_mut() {
            let ops = [
                ("get", &mut item.get),
                ("post", &mut item.post),
                ("put", &mut item.put),
                ("patch", &mut item.patch),
                ("delete", &mut item.delete),
            ];
            for (method, op) in ops {
                if let Some(op) = op {
                    op.operation_id = Some(operation_id(method, path));
                    add_common_failures(op);
                }
            }
        }
    }
}

/// A unique operation id from method and path (handler names repeat across modules):
/// `GET /api/jobs/{id}/result` is `getJobsByIdResult`.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_owned();
    for segment in path.trim_start_matches("/api/").split(['/', '-', '.']) {
        let word = match segment.strip_prefix('{') {
            Some(param) => format!("by_{}", param.trim_end_matches('}')),
            None => segment.to_owned(),
        };
        for part in word.split('_').filter(|p| !p.is_empty()) {
            let mut chars = part.chars();
            if let Some(first) = chars.next() {
                id.extend(first.to_uppercase());
                id.push_str(chars.as_str());
            }
        }
    }
    id
}

/// A body of raw bytes (`application/octet-stream`).
pub struct Binary;

impl utoipa::PartialSchema for Binary {
    fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .content_media_type("application/octet-stream")
            .into()
    }
}

impl utoipa::ToSchema for Binary {}

/// Failures any route may answer with (the security layer's and the backends'), and the error
/// body on every documented 4xx/5xx that names none.
fn add_common_failures(op: &mut Operation) {
    let common = [
        (
            "429",
            "Rate limited or over a fair-use quota (`Retry-After` says when to retry)",
        ),
        ("500", "Internal error"),
        ("503", "A backend is unavailable or busy; retry shortly"),
    ];
    for (status, what) in common {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| ResponseBuilder::new().description(what).into());
    }
    if op.request_body.is_some() {
        op.responses
            .responses
            .entry("413".to_owned())
            .or_insert_with(|| ResponseBuilder::new().description("Body too large").into());
    }
    let error_body = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorResponse")))
        .build();
    for (status, response) in op.responses.responses.iter_mut() {
        if let (false, RefOr::T(r)) = (status.starts_with(['1', '2', '3']), response) {
            r.content
                .entry("application/json".to_owned())
                .or_insert_with(|| error_body.clone());
        }
    }
}

/// The whole document: the frame plus what the API routers collected.
pub fn document() -> Document {
    let mut doc = Base::openapi();
    doc.merge(super::node::api().into_openapi());
    doc.merge(super::user::api().into_openapi());
    Frame.modify(&mut doc);
    doc
}

/// `GET /api/openapi.json`: this document (built once).
#[utoipa::path(
    get,
    path = PATH,
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = serde_json::Value))
)]
pub(super) async fn serve() -> impl IntoResponse {
    static JSON: OnceLock<String> = OnceLock::new();
    let json = JSON.get_or_init(|| {
        document()
            .to_json()
            .unwrap_or_else(|e| format!(r#"{{"error":"{e}"}}"#))
    });
    (
        [
            (CONTENT_TYPE, "application/json"),
            (CACHE_CONTROL, "no-cache"),
        ],
        json.as_str(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_is_openapi_3_1_with_both_apis_and_their_security() {
        let doc = serde_json::to_value(document()).unwrap();
        if let Ok(out) = std::env::var("WOWLAB_OPENAPI_DUMP") {
            std::fs::write(out, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
        }
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let paths = doc["paths"].as_object().unwrap();
        for p in ["/api/jobs/{id}", "/api/node/heartbeat", PATH] {
            assert!(paths.contains_key(p), "{p} missing");
        }
        let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
        assert_eq!(schemes.len(), 2 + NODE_SIGNATURE.len());
        let hb = &paths["/api/node/heartbeat"]["post"];
        assert_eq!(hb["security"][0].as_object().unwrap().len(), 4, "{hb}");
        assert_eq!(
            hb["responses"]["401"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorResponse"
        );
    }
}
