//! Accounts the embedded grid makes for itself: a system user that owns the in-process nodes
//! (it cannot sign in, and does not take the "first account becomes admin" slot from the
//! first person who signs up), claim tokens and API tokens minted without an HTTP round trip.

use crate::domain::{TokenHash, UnixMillis, UserId};
use crate::http::auth::new_secret;
use crate::store::{AuthTokenKind, NewAuthToken, Store, StoreError};

/// Email domain of system accounts; sign-up refuses it.
pub const SYSTEM_DOMAIN: &str = "@grid.invalid";
/// The embedded grid's system user.
pub const SYSTEM_EMAIL: &str = "nodes@grid.invalid";
/// A password hash no password matches (not a PHC string).
const NO_PASSWORD: &str = "!";

/// Why a local account could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No randomness.
    #[error("could not draw a secret: {0}")]
    Random(String),
}

/// The user `email` (created without a usable password if missing).
pub async fn ensure_user(
    store: &dyn Store,
    email: &str,
    now: UnixMillis,
) -> Result<UserId, LocalError> {
    if let Some(u) = store.user_by_email(email).await? {
        return Ok(u.id);
    }
    match store.create_user(email, NO_PASSWORD, now).await {
        Ok(u) => Ok(u.id),
        // Created concurrently.
        Err(StoreError::Conflict(_)) => store
            .user_by_email(email)
            .await?
            .map(|u| u.id)
            .ok_or_else(|| LocalError::Store(StoreError::Conflict("user vanished".into()))),
        Err(e) => Err(e.into()),
    }
}

/// A fresh claim token of `user` (nodes registering with it are owned by `user`), valid for
/// an hour: the embedded grid registers its nodes with it right away.
pub async fn claim_token(
    store: &dyn Store,
    user: UserId,
    now: UnixMillis,
) -> Result<String, LocalError> {
    let secret = new_secret("ct_").map_err(|e| LocalError::Random(e.to_string()))?;
    let expires_at = now.plus(std::time::Duration::from_secs(3600));
    store
        .insert_claim_token(user, &TokenHash::of(&secret), now, Some(expires_at))
        .await?;
    Ok(secret)
}

/// A fresh API token of `user`, for `Authorization: Bearer`.
pub async fn api_token(
    store: &dyn Store,
    user: UserId,
    name: &str,
    now: UnixMillis,
) -> Result<String, LocalError> {
    let secret = new_secret("wl_").map_err(|e| LocalError::Random(e.to_string()))?;
    store
        .insert_auth_token(
            NewAuthToken {
                hash: TokenHash::of(&secret),
                user,
                kind: AuthTokenKind::Api,
                name: name.to_owned(),
                expires_at: None,
            },
            now,
        )
        .await?;
    Ok(secret)
}
