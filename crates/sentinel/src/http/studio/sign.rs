//! Sign-in and sign-up forms (submitted by `app.js` to `/api/auth/*`; errors shown per field).
//! After signing in the browser goes to `next`, checked here to be a path of this site.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{html, Markup};

use super::{layout, viewer};
use crate::http::Context;

/// The `?next=` of a sign-in or sign-up link.
#[derive(Debug, serde::Deserialize)]
pub(super) struct Next {
    next: Option<String>,
}

/// `next` if it is a path of this site, else `/`. A path starts with exactly one `/`; `//host`
/// and `/\host` (browsers read `\` as `/`) lead to another site, and control characters or
/// whitespace could be stripped into such a form, so they are refused too.
pub(super) fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(|c| c.is_control() || c.is_whitespace()) =>
        {
            n
        }
        _ => "/",
    }
}

fn form(action: &str, button: &str, autocomplete: &str, next: &str) -> Markup {
    html! {
        form.card.stack data-api=(action) data-redirect="next" data-next=(next) novalidate {
            div.field {
                label for="email" { "Email" }
                input id="email" name="email" type="email" autocomplete="email" required;
                p.error id="email-error" role="alert" {}
            }
            div.field {
                label for="password" { "Password" }
                input id="password" name="password" type="password" autocomplete=(autocomplete)
                    minlength="8" required aria-describedby="password-hint";
                p.hint id="password-hint" { "At least 8 characters." }
                p.error id="password-error" role="alert" {}
            }
            p.error.form-error role="alert" {}
            button type="submit" { (button) }
        }
    }
}

pub(super) async fn signin(
    State(state): State<Context>,
    headers: HeaderMap,
    Query(q): Query<Next>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    if viewer(&state, &headers).await.is_some() {
        return Redirect::to(next).into_response();
    }
    let main = html! {
        h1 { "Sign in" }
        (form("/api/auth/login", "Sign in", "current-password", next))
        p { "No account yet? " a href="/signup" { "Sign up" } }
    };
    page("Sign in", main)
}

pub(super) async fn signup(
    State(state): State<Context>,
    headers: HeaderMap,
    Query(q): Query<Next>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    if viewer(&state, &headers).await.is_some() {
        return Redirect::to(next).into_response();
    }
    let main = html! {
        h1 { "Create an account" }
        (form("/api/auth/signup", "Sign up", "new-password", next))
        p { "Already registered? " a href="/signin" { "Sign in" } }
    };
    page("Sign up", main)
}

fn page(title: &str, main: Markup) -> Response {
    let h: Html<String> = layout::page(title, None, &[], main);
    h.into_response()
}
