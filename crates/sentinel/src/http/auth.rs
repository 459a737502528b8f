//! User authentication: argon2 password hashes, random bearer secrets (stored hashed), and the
//! [`CurrentUser`] extractor that accepts a session cookie (studio) or a bearer API token (CLI).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use axum::http::HeaderMap;

use super::security::hashing::{Hashers, HashersBusy};
use super::{ApiError, Context};
use crate::domain::TokenHash;
use crate::store::{AuthTokenKind, User};

/// Name of the studio session cookie.
pub const SESSION_COOKIE: &str = "wowlab_session";
/// Session lifetime.
pub const SESSION_TTL: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// Argon2id hash (PHC string) of a password; CPU-heavy, so off the async threads and at most
/// as many at once as `hashers` allows (503 `busy` with `Retry-After` when none frees in time).
pub async fn hash_password(hashers: &Hashers, password: String) -> Result<String, ApiError> {
    let permit = hashers.permit().await.map_err(busy)?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let mut raw = [0u8; 16];
        getrandom::fill(&mut raw).map_err(|e| ApiError::Internal(e.to_string()))?;
        let salt =
            SaltString::encode_b64(&raw).map_err(|e| ApiError::Internal(format!("salt: {e}")))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ApiError::Internal(format!("argon2: {e}")))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
}

/// Whether `password` matches the stored PHC string (bounded like [`hash_password`]).
pub async fn verify_password(
    hashers: &Hashers,
    password: String,
    phc: String,
) -> Result<bool, ApiError> {
    let permit = hashers.permit().await.map_err(busy)?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let parsed = PasswordHash::new(&phc)
            .map_err(|e| ApiError::Internal(format!("stored hash unreadable: {e}")))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
}

fn busy(_: HashersBusy) -> ApiError {
    ApiError::Busy { retry_after: 1 }
}

/// A fresh bearer secret: `prefix` + 64 hex characters (256 bits).
pub fn new_secret(prefix: &str) -> Result<String, ApiError> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(format!("{prefix}{}", hex::encode(raw)))
}

/// `Set-Cookie` value for a session (empty secret and zero age to clear it); `Secure` when the
/// studio is served over https, so the cookie never travels in clear text.
pub fn session_cookie(secret: &str, max_age_secs: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    )
}

/// The signed-in user, from the session cookie or an `Authorization: Bearer` API token.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub User);

/// The raw credential of a request, if any: (secret, kind).
pub fn credential(headers: &HeaderMap) -> Option<(String, AuthTokenKind)> {
    if let Some(bearer) = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some((bearer.trim().to_owned(), AuthTokenKind::Api));
    }
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| (v.to_owned(), AuthTokenKind::Session))
}

impl FromRequestParts<Context> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Context) -> Result<Self, ApiError> {
        let (secret, kind) = credential(&parts.headers).ok_or(ApiError::SignInRequired)?;
        let hash = TokenHash::of(&secret);
        let now = state.clock().now();
        if let Some(user) = state.store().user_by_auth_token(&hash, kind, now).await? {
            if kind == AuthTokenKind::Api {
                record_use(state, hash, now);
            }
            return Ok(CurrentUser(user));
        }
        // An expired API token says so (a script's owner must make a new one); an expired
        // session just asks to sign in again.
        if kind == AuthTokenKind::Api
            && state
                .store()
                .auth_token_expired_at(&hash, kind, now)
                .await?
                .is_some()
        {
            return Err(ApiError::TokenExpired);
        }
        Err(ApiError::SignInRequired)
    }
}

/// Notes an API token's use (at most once a minute per token; the write runs in the
/// background so a request never waits for it).
fn record_use(state: &Context, hash: TokenHash, now: crate::domain::UnixMillis) {
    if !state.token_use().due(&hash, now) {
        return;
    }
    let store = state.store_arc();
    tokio::spawn(async move {
        if let Err(e) = store.touch_auth_token(&hash, now).await {
            tracing::warn!(error = %e, "token last use not recorded");
        }
    });
}

/// The signed-in user if there is one: reads of public jobs are open to anyone holding the
/// link, so a missing or stale credential is an anonymous visitor, not an error.
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<User>);

impl FromRequestParts<Context> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Context) -> Result<Self, ApiError> {
        match CurrentUser::from_request_parts(parts, state).await {
            Ok(CurrentUser(u)) => Ok(Self(Some(u))),
            Err(ApiError::SignInRequired) => Ok(Self(None)),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_hash_and_verify() {
        let h = Hashers::new(2, std::time::Duration::from_secs(5));
        let phc = hash_password(&h, "correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(!phc.contains("correct horse"));
        assert!(verify_password(&h, "correct horse".into(), phc.clone())
            .await
            .unwrap());
        assert!(!verify_password(&h, "wrong".into(), phc).await.unwrap());
        assert_eq!(h.available(), 2, "permits are given back");
    }

    #[tokio::test]
    async fn hashing_is_bounded_and_busy_when_full() {
        let h = Hashers::new(1, std::time::Duration::from_millis(50));
        let _held = h.permit().await.unwrap();
        let e = hash_password(&h, "correct horse".into()).await.unwrap_err();
        assert!(matches!(e, ApiError::Busy { retry_after: 1 }), "{e:?}");
        let resp = axum::response::IntoResponse::into_response(e);
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers()["retry-after"], "1");
    }

    #[test]
    fn session_cookie_is_secure_over_https() {
        let c = session_cookie("s", 60, true);
        assert!(c.ends_with("; Secure") && c.contains("HttpOnly"), "{c}");
        assert!(!session_cookie("s", 60, false).contains("Secure"));
    }

    #[test]
    fn secrets_are_random_and_prefixed() {
        let a = new_secret("ct_").unwrap();
        assert!(a.starts_with("ct_") && a.len() == 67);
        assert_ne!(a, new_secret("ct_").unwrap());
    }

    #[test]
    fn credentials_from_cookie_or_bearer() {
        let req = axum::http::Request::builder()
            .header(COOKIE, format!("a=b; {SESSION_COOKIE}=s3cret; c=d"))
            .body(())
            .unwrap();
        let (parts, _) = req.into_parts();
        assert_eq!(
            credential(&parts.headers),
            Some(("s3cret".into(), AuthTokenKind::Session))
        );
        let req = axum::http::Request::builder()
            .header(AUTHORIZATION, "Bearer tok")
            .body(())
            .unwrap();
        let (parts, _) = req.into_parts();
        assert_eq!(
            credential(&parts.headers),
            Some(("tok".into(), AuthTokenKind::Api))
        );
    }
}
