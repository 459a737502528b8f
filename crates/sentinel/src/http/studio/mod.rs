//! The studio: server-rendered pages (one module per page) plus the embedded static assets under
//! `web/`. Pages read the store directly so they show real content without JavaScript; the
//! live parts and forms use the JSON user API from `web/static/*.js`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use maud::html;

use super::auth::credential;
use super::{ApiError, Context};
use crate::domain::TokenHash;
use crate::store::User;

mod assets;
mod charts;
mod compare;
mod dashboard;
mod grid;
mod job;
mod layout;
mod new_job;
mod nodes;
mod numbers;
mod sign;
mod tokens;

/// Studio pages and `/static/*`.
pub fn router(state: Context) -> Router {
    Router::new()
        .route("/", get(dashboard::page))
        .route("/signin", get(sign::signin))
        .route("/signup", get(sign::signup))
        .route("/jobs/new", get(new_job::page))
        .route("/jobs/{id}", get(job::page))
        .route("/jobs/{id}/report.json", get(job::report_download))
        .route("/jobs/{id}/convergence", get(job::convergence_fragment))
        .route("/compare", get(compare::page))
        .route("/nodes", get(nodes::list_page))
        .route("/nodes/{id}", get(nodes::detail_page))
        .route("/nodes/{id}/unlink", axum::routing::post(nodes::unlink))
        .route("/grid", get(grid::page))
        .route("/tokens", get(tokens::page))
        .route("/static/{*file}", get(assets::serve))
        .fallback(not_found)
        .with_state(state)
}

/// Any unknown path: the API's JSON 404 under `/api/`, a page elsewhere.
async fn not_found(State(state): State<Context>, uri: Uri, headers: HeaderMap) -> Response {
    if uri.path().starts_with("/api/") {
        return ApiError::NotFound("no such endpoint").into_response();
    }
    let user = viewer(&state, &headers).await;
    let main = html! {
        h1 { "Page not found" }
        p { "Nothing lives at " code { (uri.path()) } ". " a href="/" { "Go to the dashboard." } }
    };
    (
        StatusCode::NOT_FOUND,
        layout::page("Not found", user.as_ref(), &[], main),
    )
        .into_response()
}

/// The signed-in user of a page request, if any. Store trouble reads as signed out: a page
/// must still render.
pub(super) async fn viewer(state: &Context, headers: &HeaderMap) -> Option<User> {
    let (secret, kind) = credential(headers)?;
    match state
        .store()
        .user_by_auth_token(&TokenHash::of(&secret), kind, state.clock().now())
        .await
    {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, "studio session lookup failed");
            None
        }
    }
}

/// Redirect to sign-in, coming back to `next` afterwards.
fn to_signin(next: &str) -> Response {
    Redirect::to(&format!("/signin?next={}", urlencode(next))).into_response()
}

/// Minimal percent-encoding for a same-site path in a query value.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub(super) fn fmt_time(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests;
