//! Beacon tokens (HS256, Centrifugo claims): node connection tokens with server-side
//! subscriptions to the node's own channels, and the browser's 10-minute connection +
//! `jobs:{id}` subscription pair. The secret is the token HMAC secret (`docs/architecture.md`,
//! "Beacon tokens and channel rules"), distinct from the beacon API key.

use std::time::Duration;

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

use crate::domain::{JobId, NodeId, UnixMillis, UserId};

/// Default lifetime of a node connection token.
pub const NODE_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);
/// Lifetime of browser job tokens.
pub const JOB_TOKEN_TTL: Duration = Duration::from_secs(600);

/// A token could not be produced.
#[derive(Debug, thiserror::Error)]
#[error("token signing failed: {0}")]
pub struct TokenError(#[from] jsonwebtoken::errors::Error);

/// Connection token claims (the subset we mint).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConnectionClaims {
    /// Node or user id.
    pub sub: String,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Server-side subscriptions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
}

/// Subscription token claims.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SubscriptionClaims {
    /// User id (must match the connection's).
    pub sub: String,
    /// The one channel this token opens.
    pub channel: String,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issued at, Unix seconds.
    pub iat: i64,
}

/// A signed token and when it stops working.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MintedToken {
    /// The JWT.
    pub token: String,
    /// Expiry.
    pub expires_at: UnixMillis,
}

/// Signs beacon tokens with the HMAC secret.
pub struct TokenMinter {
    key: EncodingKey,
}

impl std::fmt::Debug for TokenMinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenMinter(..)")
    }
}

impl TokenMinter {
    /// A minter for `secret`.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: EncodingKey::from_secret(secret),
        }
    }

    fn sign<C: Serialize>(&self, claims: &C) -> Result<String, TokenError> {
        Ok(encode(&Header::new(Algorithm::HS256), claims, &self.key)?)
    }

    /// A node's connection token: subscribed server-side to its work and config channels and
    /// to the `nodes:online` presence roster.
    pub fn node_connection(
        &self,
        node: NodeId,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<MintedToken, TokenError> {
        let expires_at = now.plus(ttl);
        let token = self.sign(&ConnectionClaims {
            sub: node.to_string(),
            exp: secs(expires_at),
            iat: secs(now),
            channels: vec![
                format!("chunks:{node}"),
                format!("nodes:{node}"),
                "nodes:online".to_owned(),
            ],
        })?;
        Ok(MintedToken { token, expires_at })
    }

    /// A browser's connection token (no server-side subscriptions).
    pub fn user_connection(
        &self,
        user: Option<UserId>,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<MintedToken, TokenError> {
        let expires_at = now.plus(ttl);
        let token = self.sign(&ConnectionClaims {
            sub: subject(user),
            exp: secs(expires_at),
            iat: secs(now),
            channels: Vec::new(),
        })?;
        Ok(MintedToken { token, expires_at })
    }

    /// A subscription token for exactly `jobs:{job}`.
    pub fn job_subscription(
        &self,
        user: Option<UserId>,
        job: JobId,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<MintedToken, TokenError> {
        self.subscription(user, &format!("jobs:{job}"), ttl, now)
    }

    /// A read-only subscription token for the grid-wide `nodes:all` (totals, status flips).
    pub fn grid_subscription(
        &self,
        user: UserId,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<MintedToken, TokenError> {
        self.subscription(Some(user), wowlab_api::channels::NODES_ALL, ttl, now)
    }

    fn subscription(
        &self,
        user: Option<UserId>,
        channel: &str,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<MintedToken, TokenError> {
        let expires_at = now.plus(ttl);
        let token = self.sign(&SubscriptionClaims {
            sub: subject(user),
            channel: channel.to_owned(),
            exp: secs(expires_at),
            iat: secs(now),
        })?;
        Ok(MintedToken { token, expires_at })
    }
}

/// The token subject: the user id, or empty for an anonymous viewer (Centrifugo's anonymous
/// user), who may only read what a subscription token names.
fn subject(user: Option<UserId>) -> String {
    user.map(|u| u.to_string()).unwrap_or_default()
}

fn secs(t: UnixMillis) -> i64 {
    t.as_i64() / 1000
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{decode, DecodingKey, Validation};

    use super::*;

    fn check<C: serde::de::DeserializeOwned>(token: &str, secret: &[u8]) -> C {
        let mut v = Validation::new(Algorithm::HS256);
        // Fixed test times lie in the past; expiry is checked by value below.
        v.validate_exp = false;
        v.required_spec_claims.clear();
        decode::<C>(token, &DecodingKey::from_secret(secret), &v)
            .unwrap()
            .claims
    }

    #[test]
    fn node_token_subscribes_to_its_own_channels_only() {
        let m = TokenMinter::new(b"secret");
        let node = NodeId::new();
        let now = UnixMillis(1_800_000_000_000);
        let t = m.node_connection(node, NODE_TOKEN_TTL, now).unwrap();
        let c: ConnectionClaims = check(&t.token, b"secret");
        assert_eq!(c.sub, node.to_string());
        assert_eq!(c.exp, 1_800_000_000 + 86_400);
        assert_eq!(
            c.channels,
            [
                format!("chunks:{node}"),
                format!("nodes:{node}"),
                "nodes:online".into()
            ]
        );
        assert_eq!(t.expires_at, now.plus(NODE_TOKEN_TTL));
        let mut v = Validation::new(Algorithm::HS256);
        v.validate_exp = false;
        assert!(
            decode::<ConnectionClaims>(&t.token, &DecodingKey::from_secret(b"other"), &v).is_err()
        );
    }

    #[test]
    fn job_tokens_name_exactly_one_channel() {
        let m = TokenMinter::new(b"k");
        let (user, job) = (UserId::new(), JobId::new());
        let now = UnixMillis(1_800_000_000_000);
        let sub: SubscriptionClaims = check(
            &m.job_subscription(Some(user), job, JOB_TOKEN_TTL, now)
                .unwrap()
                .token,
            b"k",
        );
        assert_eq!(sub.channel, format!("jobs:{job}"));
        assert_eq!(sub.sub, user.to_string());
        assert_eq!(sub.exp - sub.iat, 600);
        let conn: ConnectionClaims = check(
            &m.user_connection(Some(user), JOB_TOKEN_TTL, now)
                .unwrap()
                .token,
            b"k",
        );
        assert!(conn.channels.is_empty());
        assert_eq!(format!("{m:?}"), "TokenMinter(..)");
    }
}
