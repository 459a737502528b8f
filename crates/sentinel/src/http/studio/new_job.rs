//! New simulation: pick an example profile or paste/upload one, iterations, seed and chunk
//! size. The form posts to `/api/jobs`; each bad value is shown under its field, profile errors
//! with line and column.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::assets::PROFILES;
use super::{layout, to_signin, viewer};
use crate::http::user::jobs::{MAX_CHUNKS, MAX_ITERATIONS};
use crate::http::Context;

pub(super) async fn page(State(state): State<Context>, headers: HeaderMap) -> Response {
    let Some(user) = viewer(&state, &headers).await else {
        return to_signin("/jobs/new");
    };
    let first = PROFILES.first().map_or("", |(_, text)| text);
    let main = html! {
        h1 { "New simulation" }
        form.card.stack id="new-job" data-api="/api/jobs" data-redirect="job" novalidate {
            div.field {
                label for="example" { "Example profile" }
                select id="example" aria-describedby="example-hint" {
                    @for (name, _) in PROFILES { option value=(name) { (name) } }
                }
                p.hint id="example-hint" { "Choosing an example replaces the profile text." }
            }
            @for (name, text) in PROFILES {
                template data-profile=(name) { (text) }
            }
            div.field {
                label for="profile" { "Profile (TOML)" }
                textarea id="profile" name="profile" rows="16" spellcheck="false" required
                    aria-describedby="profile-error" { (first) }
                p.error id="profile-error" role="alert" {}
            }
            div.field {
                label for="upload" { "…or upload a profile file" }
                input id="upload" type="file" accept=".toml,text/plain";
            }
            div.cols {
                div.field {
                    label for="iterations" { "Iterations" }
                    input id="iterations" name="iterations" type="number" min="1" max=(MAX_ITERATIONS) step="1" value="100000" required
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
                        aria-describedby="chunk-size-hint chunk-size-error";
                    p.hint id="chunk-size-hint" { "Iterations per chunk; at most " (MAX_CHUNKS) " chunks per job. Empty sizes chunks to about a second each." }
                    p.error id="chunk-size-error" role="alert" {}
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
    layout::page("New simulation", Some(&user), &["/static/new_job.js"], main).into_response()
}
