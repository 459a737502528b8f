//! User authentication: argon2 password hashes, random bearer secrets (stored hashed), and the
//! [`CurrentUser`] extractor that accepts a session cookie (studio) or a bearer API token (CLI).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use axum::http::HeaderMap;

use super::{ApiError, Context};
use crate::domain::TokenHash;
use crate::store::{AuthTokenKind, User};

/// Name of the studio session cookie.
pub const SESSION_COOKIE: &str = "wowlab_session";
/// Session lifetime.
pub const SESSION_TTL: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// Argon2id hash (PHC string) of a password; CPU-heavy, so off the async threads.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
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

/// Whether `password` matches the stored PHC string.
pub async fn verify_password(password: String, phc: String) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&phc)
            .map_err(|e| ApiError::Internal(format!("stored hash unreadable: {e}")))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
}

/// A fresh bearer secret: `prefix` + 64 hex characters (256 bits).
pub fn new_secret(prefix: &str) -> Result<String, ApiError> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(format!("{prefix}{}", hex::encode(raw)))
}

/// `Set-Cookie` value for a session (empty secret and zero age to clear it).
pub fn session_cookie(secret: &str, max_age_secs: u64) -> String {
    format!("{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}")
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
        state
            .store()
            .user_by_auth_token(&TokenHash::of(&secret), kind, state.clock().now())
            .await?
            .map(CurrentUser)
            .ok_or(ApiError::SignInRequired)
    }
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
        let phc = hash_password("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(!phc.contains("correct horse"));
        assert!(verify_password("correct horse".into(), phc.clone())
            .await
            .unwrap());
        assert!(!verify_password("wrong".into(), phc).await.unwrap());
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
