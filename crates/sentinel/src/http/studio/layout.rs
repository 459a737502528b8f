//! The page shell: landmarks, navigation, skip link, stylesheet and optional scripts.

use axum::response::Html;
use maud::{html, Markup, DOCTYPE};

use crate::store::User;

/// A full HTML page around `main`.
pub(super) fn page(
    title: &str,
    user: Option<&User>,
    scripts: &[&str],
    main: Markup,
) -> Html<String> {
    let doc = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · WowLab Studio" }
                link rel="stylesheet" href="/static/studio.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    nav aria-label="Main" {
                        a.brand href="/" { "WowLab Studio" }
                        ul {
                            @if user.is_some() {
                                li { a href="/" { "Dashboard" } }
                                li { a href="/jobs/new" { "New simulation" } }
                                li { a href="/nodes" { "Nodes" } }
                                li { a href="/tokens" { "Tokens" } }
                            }
                            li { a href="/grid" { "Grid" } }
                            @match user {
                                Some(u) => {
                                    li.who { span.muted { (u.email) } }
                                    li { button.linkish type="button" id="signout" { "Sign out" } }
                                }
                                None => {
                                    li { a href="/signin" { "Sign in" } }
                                    li { a href="/signup" { "Sign up" } }
                                }
                            }
                        }
                    }
                }
                main id="main" tabindex="-1" { (main) }
                footer.foot { p.muted { "WowLab Grid — distributed simulation" } }
                script src="/static/app.js" defer {}
                @for s in scripts {
                    script src=(s) defer {}
                }
            }
        }
    };
    Html(doc.into_string())
}

/// A status pill.
pub(super) fn status(s: &str) -> Markup {
    html! { span class={ "pill pill-" (s) } { (s) } }
}
