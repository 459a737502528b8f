//! API tokens page: create one (its secret shown once, with the `wowlab run` line that uses
//! it), name it, list and revoke them; claim tokens live on the nodes page (linked).
//! `tokens.js` posts to `/api/tokens` and sends `DELETE /api/tokens/{id}`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::nodes::sentinel_url;
use super::{fmt_time, layout, to_signin, viewer};
use crate::http::user::api_tokens::MAX_EXPIRES_IN_DAYS;
use crate::http::Context;
use crate::store::AuthTokenKind;

pub(super) async fn page(State(state): State<Context>, headers: HeaderMap) -> Response {
    let Some(user) = viewer(&state, &headers).await else {
        return to_signin("/tokens");
    };
    let now = state.clock().now();
    let tokens = state
        .store()
        .list_auth_tokens(user.id, AuthTokenKind::Api)
        .await;
    if let Err(e) = &tokens {
        tracing::warn!(error = %e, "tokens page");
    }
    let url = sentinel_url(&headers);
    let main = html! {
        h1 { "API tokens" }
        p { "An API token lets the command line act as you: "
            code { "wowlab run profile.toml --sentinel " (url) " --token T" }
            " submits a job to this grid. "
            "To attach machines, use a claim token instead: "
            a href="/nodes#tokens-h" { "claim tokens are on the Nodes page" } "." }
        form.card.stack #new-token data-api="/api/tokens" novalidate {
            h2 { "Create a token" }
            div.field {
                label for="token-name" { "Name" }
                input #token-name name="name" type="text" required maxlength="64" autocomplete="off"
                    aria-describedby="token-name-hint token-name-error";
                p.hint #token-name-hint { "Where it is used, e.g. “laptop” or “CI”." }
                p.error #token-name-error role="alert" {}
            }
            div.field {
                label for="token-days" { "Expires after (days, optional)" }
                input #token-days name="expiresInDays" type="number" min="1" max=(MAX_EXPIRES_IN_DAYS) step="1"
                    inputmode="numeric" aria-describedby="token-days-hint token-days-error";
                p.hint #token-days-hint { "Empty: it works until you revoke it." }
                p.error #token-days-error role="alert" {}
            }
            p.error.form-error role="alert" {}
            button type="submit" { "Create token" }
        }
        section.card #token-created hidden aria-live="polite" {
            h2 { "Your new token" }
            p { strong { "Copy it now: " } "it is shown only this once." }
            div.token-box { code #token-secret {} }
            div.token-box { code #token-command data-sentinel=(url) {} }
            div.row.wrap { button #token-copy type="button" class="secondary" { "Copy token" } }
        }
        section aria-labelledby="api-tokens-h" {
            h2 #api-tokens-h { "My API tokens" }
            @match &tokens {
                Err(_) => p.error { "Tokens could not be loaded; try again shortly." }
                Ok(t) => {
                    p #no-api-tokens hidden[!t.is_empty()] { "No API tokens yet." }
                    div.table-wrap hidden[t.is_empty()] { table #api-tokens {
                        caption.sr-only { "My API tokens, newest first" }
                        thead { tr {
                            th scope="col" { "Name" } th scope="col" { "Id" } th scope="col" { "Created" }
                            th scope="col" { "Expires" } th scope="col" { span.sr-only { "Action" } }
                        } }
                        tbody { @for tok in t {
                            @let expired = tok.expires_at.is_some_and(|e| e <= now);
                            tr data-api-token=(tok.hash) {
                                th scope="row" data-k="name" { @if tok.name.is_empty() { span.muted { "(unnamed)" } } @else { (tok.name) } }
                                td { code { (tok.hash.get(..12).unwrap_or(&tok.hash)) "…" } }
                                td { (fmt_time(tok.created_at.0)) }
                                td data-k="expires" {
                                    (tok.expires_at.map_or_else(|| "never".to_owned(), |e| fmt_time(e.0)))
                                    @if expired { " " (layout::status("expired")) }
                                }
                                td { button.secondary type="button" data-revoke-token=(tok.hash) { "Revoke" } }
                            }
                        } }
                    } }
                }
            }
            p.error #token-revoke-error role="alert" {}
        }
    };
    layout::page("API tokens", Some(&user), &["/static/tokens.js"], main).into_response()
}
