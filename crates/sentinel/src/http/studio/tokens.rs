//! Tokens page: API tokens (for `wowlab run`) and claim tokens (for `wowlab node`). Each kind:
//! create one with a name (its secret shown once, with the command line that uses it), list
//! with last use, revoke. `tokens.js` posts to `/api/tokens` / `/api/claim-tokens` and sends
//! `DELETE` for revocation; the server checks ownership.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::nodes::sentinel_url;
use super::{fmt_time, layout, to_signin, viewer};
use crate::domain::UnixMillis;
use crate::http::user::api_tokens::MAX_EXPIRES_IN_DAYS;
use crate::http::Context;
use crate::store::{AuthTokenKind, ClaimTokenInfo};

/// "never" or the time.
fn last_use(t: Option<UnixMillis>) -> String {
    t.map_or_else(|| "never".to_owned(), |t| fmt_time(t.0))
}

/// A claim token's state for its owner.
fn claim_state(t: &ClaimTokenInfo, now: UnixMillis) -> &'static str {
    if t.revoked_at.is_some() {
        "revoked"
    } else if t.expires_at.is_some_and(|e| e <= now) {
        "expired"
    } else {
        "active"
    }
}

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
    let claims = state.store().list_claim_tokens(user.id).await;
    if let Err(e) = &claims {
        tracing::warn!(error = %e, "tokens page: claim tokens");
    }
    let url = sentinel_url(&headers);
    let main = html! {
        h1 { "Tokens" }
        p { "An " strong { "API token" } " lets the command line act as you: "
            code { "wowlab run profile.toml --sentinel " (url) " --token T" }
            " submits a job to this grid. A " a href="#claim-h" { "claim token" }
            " attaches machines to your account: " code { "wowlab node --sentinel " (url) " --claim-token T" } "." }
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
                            th scope="col" { "Expires" } th scope="col" { "Last used" }
                            th scope="col" { span.sr-only { "Action" } }
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
                                td data-k="last-used" { (last_use(tok.last_used_at)) }
                                td { button.secondary type="button" data-revoke-token=(tok.hash) { "Revoke" } }
                            }
                        } }
                    } }
                }
            }
            p.error #token-revoke-error role="alert" {}
        }
        (claim_section(&claims, &url, now))
    };
    layout::page("Tokens", Some(&user), &["/static/tokens.js"], main).into_response()
}

/// Claim tokens: create one (name, shown once with the `wowlab node` line), list with last
/// use and state, revoke the active ones.
fn claim_section(
    claims: &Result<Vec<ClaimTokenInfo>, crate::store::StoreError>,
    url: &str,
    now: UnixMillis,
) -> maud::Markup {
    html! {
        h2 #claim-h { "Claim tokens" }
        p { "A node started with a claim token joins your account at once. Each works for 7 days unless revoked; nodes already attached stay attached." }
        form.card.stack #new-claim data-api="/api/claim-tokens" novalidate {
            h3 { "Create a claim token" }
            div.field {
                label for="claim-name" { "Name (optional)" }
                input #claim-name name="name" type="text" maxlength="64" autocomplete="off"
                    aria-describedby="claim-name-hint claim-name-error";
                p.hint #claim-name-hint { "Which machines it is for, e.g. “rack 2”." }
                p.error #claim-name-error role="alert" {}
            }
            p.error.form-error role="alert" {}
            button type="submit" { "Create claim token" }
        }
        section.card #claim-created hidden aria-live="polite" {
            h3 { "Your new claim token" }
            p { strong { "Copy it now: " } "it is shown only this once." }
            div.token-box { code #claim-secret {} }
            div.token-box { code #claim-command data-sentinel=(url) {} }
            div.row.wrap { button #claim-copy type="button" class="secondary" { "Copy command" } }
        }
        section aria-labelledby="claim-list-h" {
            h3 #claim-list-h { "My claim tokens" }
            @match claims {
                Err(_) => p.error { "Claim tokens could not be loaded; try again shortly." }
                Ok(t) => {
                    p #no-claim-tokens hidden[!t.is_empty()] { "No claim tokens yet." }
                    div.table-wrap hidden[t.is_empty()] { table #claim-tokens {
                        caption.sr-only { "My claim tokens, newest first" }
                        thead { tr {
                            th scope="col" { "Name" } th scope="col" { "Id" } th scope="col" { "Created" }
                            th scope="col" { "Expires" } th scope="col" { "Last used" } th scope="col" { "State" }
                            th scope="col" { span.sr-only { "Action" } }
                        } }
                        tbody { @for tok in t {
                            @let st = claim_state(tok, now);
                            tr data-claim-token=(tok.hash) {
                                th scope="row" data-k="name" { @if tok.name.is_empty() { span.muted { "(unnamed)" } } @else { (tok.name) } }
                                td { code { (tok.hash.get(..12).unwrap_or(&tok.hash)) "…" } }
                                td { (fmt_time(tok.created_at.0)) }
                                td { (tok.expires_at.map_or_else(|| "never".to_owned(), |e| fmt_time(e.0))) }
                                td data-k="last-used" { (last_use(tok.last_used_at)) }
                                td data-k="state" { (layout::status(st)) }
                                td { @if st == "active" {
                                    button.secondary type="button" data-revoke-claim=(tok.hash) { "Revoke" }
                                } }
                            }
                        } }
                    } }
                }
            }
            p.error #claim-revoke-error role="alert" {}
        }
    }
}
