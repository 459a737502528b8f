//! New simulation: pick an example profile or paste/upload one, iterations, seed, chunk size
//! and optionally a target error (then the iterations are the maximum). The form posts to `/api/jobs`; each bad value is shown under its field, profile errors
//! with line and column.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::assets::PROFILES;
use super::{layout, to_signin, viewer};
use crate::domain::JobId;
use crate::http::user::jobs::{MAX_CHUNKS, MAX_ITERATIONS, MAX_NAME_CHARS};
use crate::http::Context;
use crate::store::User;

/// `?from=<job id>`: start from one of my jobs (re-run, or edit and resubmit).
#[derive(Debug, Deserialize)]
pub(super) struct From {
    from: Option<String>,
}

/// What the form starts with.
struct Start {
    profile: String,
    iterations: u64,
    chunk_size: Option<u64>,
    /// Target error of a target-error job, percent.
    target_error: Option<f64>,
    name: String,
    /// The job it comes from.
    from: Option<JobId>,
}

/// The form's starting values: one of `user`'s own jobs (profile, iterations, chunk size, name)
/// or the first example.
async fn start(state: &Context, user: &User, from: Option<&str>) -> Start {
    let first = Start {
        profile: PROFILES.first().map_or("", |(_, text)| text).to_owned(),
        iterations: 100_000,
        chunk_size: None,
        target_error: None,
        name: String::new(),
        from: None,
    };
    let Some(id) = from.and_then(|f| f.parse::<JobId>().ok()) else {
        return first;
    };
    let store = state.store();
    let Ok(Some(job)) = store.job(id).await else {
        return first;
    };
    if job.owner != user.id {
        return first;
    }
    let Ok(Some(profile)) = store.config(&job.config_hash).await else {
        return first;
    };
    Start {
        profile,
        iterations: job.iterations,
        chunk_size: Some(job.chunk_size),
        target_error: store
            .job_target(id)
            .await
            .ok()
            .flatten()
            .map(|t| t.target_error),
        name: store.job_name(id).await.ok().flatten().unwrap_or_default(),
        from: Some(id),
    }
}

pub(super) async fn page(
    State(state): State<Context>,
    headers: HeaderMap,
    Query(q): Query<From>,
) -> Response {
    let Some(user) = viewer(&state, &headers).await else {
        return to_signin("/jobs/new");
    };
    let start = start(&state, &user, q.from.as_deref()).await;
    let lines = start.profile.lines().count().max(1);
    let main = html! {
        h1 { "New simulation" }
        @if let Some(id) = start.from {
            p #from-job { "Starting from " a href={ "/jobs/" (id) } { "an earlier run" } ": change what you like and run it again." }
        }
        form.card.stack id="new-job" data-api="/api/jobs" data-redirect="job" novalidate {
            div.field {
                label for="name" { "Name (optional)" }
                input id="name" name="name" type="text" maxlength=(MAX_NAME_CHARS) value=(start.name)
                    aria-describedby="name-hint name-error";
                p.hint id="name-hint" { "Empty: the profile's own name (its top-level " code { "name" } ")." }
                p.error id="name-error" role="alert" {}
            }
            div.field {
                label for="example" { "Example profile" }
                select id="example" aria-describedby="example-hint" {
                    @if start.from.is_some() { option value="" { "(keep the profile below)" } }
                    @for (file, text) in PROFILES { option value=(file) { (example_title(file, text)) } }
                }
                p.hint id="example-hint" { "Choosing an example replaces the profile text." }
            }
            @for (file, text) in PROFILES {
                template data-profile=(file) { (text) }
            }
            div.field {
                div.row {
                    label for="profile" { "Profile (TOML)" }
                    a href="/static/profile-format.md" target="_blank" rel="noopener" { "Profile format reference" }
                }
                div.editor #profile-editor {
                    pre.gutter #profile-gutter aria-hidden="true" {
                        @for i in 1..=lines { span { (i) } "\n" }
                    }
                    textarea id="profile" name="profile" rows="18" spellcheck="false" wrap="off" required
                        autocapitalize="off" autocomplete="off" aria-describedby="profile-error" { (start.profile) }
                }
                p.error id="profile-error" role="alert" {}
            }
            div.field {
                label for="upload" { "…or upload a profile file" }
                input id="upload" type="file" accept=".toml,text/plain";
            }
            div.cols {
                div.field {
                    label for="iterations" { "Iterations" }
                    input id="iterations" name="iterations" type="number" min="1" max=(MAX_ITERATIONS) step="1" value=(start.iterations) required
                        inputmode="numeric" aria-describedby="iterations-error";
                    p.error id="iterations-error" role="alert" {}
                }
                div.field {
                    label for="seed" { "Seed (optional)" }
                    input id="seed" name="seed" type="number" min="0" max=(u64::MAX) step="1" inputmode="numeric"
                        aria-describedby="seed-hint seed-error";
                    p.hint id="seed-hint" { "Same seed, same result. Empty picks a random one." }
                    p.error id="seed-error" role="alert" {}
                }
                div.field {
                    label for="chunk-size" { "Chunk size (optional)" }
                    input id="chunk-size" name="chunkSize" type="number" min="1" max=(MAX_ITERATIONS) step="1" inputmode="numeric"
                        value=[start.chunk_size] aria-describedby="chunk-size-hint chunk-size-error";
                    p.hint id="chunk-size-hint" { "Iterations per chunk; at most " (MAX_CHUNKS) " chunks per job. Empty sizes chunks to about a second each." }
                    p.error id="chunk-size-error" role="alert" {}
                }
                div.field {
                    label for="target-error" { "Target error % (optional)" }
                    input id="target-error" name="targetError" type="text" inputmode="decimal" data-decimal
                        placeholder="e.g. 0.05" value=[start.target_error] aria-describedby="target-error-hint target-error-error";
                    p.hint id="target-error-hint" { "Run until the 95% CI half-width is at most this percent of the mean DPS, in waves of 1,024, 2,048, 4,096… iterations; the iterations above are then the maximum. With it, a chunk size must be a power of two up to 1,024." }
                    p.error id="target-error-error" role="alert" {}
                }
            }
            div.field.check {
                input id="public" name="public" type="checkbox";
                label for="public" { "Public (anyone with the link can view the result)" }
            }
            p.error.form-error role="alert" {}
            button type="submit" { "Run simulation" }
        }
    };
    layout::page(
        "New simulation",
        Some(&user),
        &["/static/editor.js", "/static/new_job.js"],
        main,
    )
    .into_response()
}

/// An example's own title (its top-level `name`), else its file name.
fn example_title(file: &str, text: &str) -> String {
    wowlab_sim::parse_profile(text)
        .ok()
        .map(|p| p.name)
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| file.to_owned())
}
