//! Static files from `web/static`, compiled into the binary so it is self-contained.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// (name, content type, body).
const FILES: &[(&str, &str, &str)] = &[
    (
        "studio.css",
        "text/css; charset=utf-8",
        include_str!("../../../../../web/static/studio.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../../web/static/app.js"),
    ),
    (
        "realtime.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../../web/static/realtime.js"),
    ),
    (
        "job.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../../web/static/job.js"),
    ),
    (
        "nodes.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../../web/static/nodes.js"),
    ),
    (
        "node_live.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../../web/static/node_live.js"),
    ),
    (
        "tokens.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../../web/static/tokens.js"),
    ),
    (
        "new_job.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../../web/static/new_job.js"),
    ),
    // --- find and manage (dashboard, live grid totals, profile editor) ---
    (
        "dashboard.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../../web/static/dashboard.js"),
    ),
    (
        "grid_live.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../../web/static/grid_live.js"),
    ),
    (
        "editor.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../../web/static/editor.js"),
    ),
    // --- end find and manage ---
    // The profile format reference, linked from the profile editor.
    (
        "profile-format.md",
        "text/plain; charset=utf-8",
        include_str!("../../../../../crates/sim/README.md"),
    ),
];

/// Example profiles offered on the new-simulation page: (file name, text).
pub(super) const PROFILES: &[(&str, &str)] = &[
    (
        "burst-cooldowns.toml",
        include_str!("../../../../../examples/profiles/burst-cooldowns.toml"),
    ),
    (
        "dot-builder.toml",
        include_str!("../../../../../examples/profiles/dot-builder.toml"),
    ),
    (
        "pet-procs.toml",
        include_str!("../../../../../examples/profiles/pet-procs.toml"),
    ),
];

pub(super) async fn serve(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, ty, body)) => {
            ([(CONTENT_TYPE, *ty), (CACHE_CONTROL, "no-cache")], *body).into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}
