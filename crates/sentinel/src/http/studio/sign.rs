//! Sign-in and sign-up forms (submitted by `app.js` to `/api/auth/*`; errors shown per field).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{html, Markup};

use super::{layout, viewer};
use crate::http::Context;

fn form(action: &str, button: &str, autocomplete: &str) -> Markup {
    html! {
        form.card.stack data-api=(action) data-redirect="next" novalidate {
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

pub(super) async fn signin(State(state): State<Context>, headers: HeaderMap) -> Response {
    if viewer(&state, &headers).await.is_some() {
        return Redirect::to("/").into_response();
    }
    let main = html! {
        h1 { "Sign in" }
        (form("/api/auth/login", "Sign in", "current-password"))
        p { "No account yet? " a href="/signup" { "Sign up" } }
    };
    page("Sign in", main)
}

pub(super) async fn signup(State(state): State<Context>, headers: HeaderMap) -> Response {
    if viewer(&state, &headers).await.is_some() {
        return Redirect::to("/").into_response();
    }
    let main = html! {
        h1 { "Create an account" }
        (form("/api/auth/signup", "Sign up", "new-password"))
        p { "Already registered? " a href="/signin" { "Sign in" } }
    };
    page("Sign up", main)
}

fn page(title: &str, main: Markup) -> Response {
    let h: Html<String> = layout::page(title, None, &[], main);
    h.into_response()
}
