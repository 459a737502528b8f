//! HS256/384/512 JWT verification for connection and subscription tokens, and the claim types
//! other crates use to mint tokens.

use base64::Engine as _;
use bytes::Bytes;
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Claims of a connection token.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ConnectionClaims {
    /// User id; empty for anonymous.
    #[serde(default)]
    pub sub: String,
    /// Expiry, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Not valid before, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Issued at, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Connection info (JSON) attached to ClientInfo.conn_info.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<serde_json::Value>,
    /// Base64 binary connection info (wins over `info`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b64info: Option<String>,
    /// Channels to subscribe server-side.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    /// Server-side subscriptions with options (wins over `channels`).
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub subs: HashMap<String, SubOptions>,
    /// Server-only metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<serde_json::Value>,
    /// Connection expiry independent of `exp` (0: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_at: Option<i64>,
}

/// Options of one server-side subscription in the `subs` claim.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SubOptions {
    /// Channel info (JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<serde_json::Value>,
    /// Base64 channel info.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b64info: Option<String>,
    /// Data sent in the subscribe result/push (JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    /// Base64 data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b64data: Option<String>,
    /// Per-subscription overrides of namespace options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#override: Option<Override>,
}

/// Namespace option overrides (`{"presence": {"value": true}}`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Override {
    /// Presence override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<BoolValue>,
    /// Join/leave emit override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_leave: Option<BoolValue>,
    /// Force push join/leave override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_push_join_leave: Option<BoolValue>,
    /// Force recovery override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_recovery: Option<BoolValue>,
    /// Force positioning override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_positioning: Option<BoolValue>,
}

/// A boxed bool as Centrifugo writes overrides.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BoolValue {
    /// The value.
    pub value: bool,
}

/// Claims of a subscription token.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SubscriptionClaims {
    /// User id; must equal the connection's user.
    #[serde(default)]
    pub sub: String,
    /// Channel; must equal the subscribed channel.
    #[serde(default)]
    pub channel: String,
    /// Client id; if set must equal the connection's client id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client: String,
    /// Expiry, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Not valid before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Issued at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Channel info (JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<serde_json::Value>,
    /// Base64 channel info.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b64info: Option<String>,
    /// Data for the subscribe result (JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    /// Base64 data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b64data: Option<String>,
    /// Subscription expiry independent of `exp` (0: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_at: Option<i64>,
    /// Per-subscription overrides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#override: Option<Override>,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Bad signature, malformed, wrong alg/aud/iss, forbidden claim.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// `exp` passed or `nbf` not reached.
    #[error("token expired")]
    Expired,
}

/// Verifies tokens with one HMAC key.
#[derive(Clone)]
pub struct TokenVerifier {
    key: Option<DecodingKey>,
    audience: String,
    issuer: String,
}

#[derive(Deserialize)]
struct RawConnectionClaims {
    #[serde(flatten)]
    claims: ConnectionClaims,
    #[serde(default)]
    channel: Option<serde_json::Value>,
}

/// Current Unix time in seconds.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl TokenVerifier {
    /// A verifier for `secret` (empty: every token is invalid) with optional aud/iss checks.
    pub fn new(secret: &str, audience: &str, issuer: &str) -> Self {
        TokenVerifier {
            key: (!secret.is_empty()).then(|| DecodingKey::from_secret(secret.as_bytes())),
            audience: audience.to_string(),
            issuer: issuer.to_string(),
        }
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, token: &str) -> Result<T, TokenError> {
        let key = self
            .key
            .as_ref()
            .ok_or_else(|| TokenError::Invalid("no token secret configured".into()))?;
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| TokenError::Invalid(e.to_string()))?;
        if !matches!(
            header.alg,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            return Err(TokenError::Invalid(format!(
                "unsupported algorithm {:?}",
                header.alg
            )));
        }
        let mut v = Validation::new(header.alg);
        // exp/nbf are checked by the caller so expiry can be told apart from invalidity.
        v.validate_exp = false;
        v.validate_nbf = false;
        v.validate_aud = false;
        v.required_spec_claims.clear();
        decode::<T>(token, key, &v)
            .map(|d| d.claims)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }

    fn check_common(
        &self,
        exp: Option<i64>,
        nbf: Option<i64>,
        aud: &Option<String>,
        iss: &Option<String>,
    ) -> Result<(), TokenError> {
        if !self.audience.is_empty() && aud.as_deref() != Some(self.audience.as_str()) {
            return Err(TokenError::Invalid("audience mismatch".into()));
        }
        if !self.issuer.is_empty() && iss.as_deref() != Some(self.issuer.as_str()) {
            return Err(TokenError::Invalid("issuer mismatch".into()));
        }
        let now = now_unix();
        if exp.is_some_and(|e| e <= now) || nbf.is_some_and(|n| n > now) {
            return Err(TokenError::Expired);
        }
        Ok(())
    }

    /// Verifies a connection token.
    pub fn verify_connection(&self, token: &str) -> Result<ConnectionClaims, TokenError> {
        let raw: RawConnectionClaims = self.decode(token)?;
        if raw.channel.is_some() {
            return Err(TokenError::Invalid(
                "`channel` claim is not allowed in a connection token".into(),
            ));
        }
        let c = raw.claims;
        self.check_common(c.exp, c.nbf, &c.aud, &c.iss)?;
        Ok(c)
    }

    /// Verifies a subscription token (channel/user/client matching is the caller's job).
    pub fn verify_subscription(&self, token: &str) -> Result<SubscriptionClaims, TokenError> {
        let c: SubscriptionClaims = self.decode(token)?;
        if c.channel.is_empty() {
            return Err(TokenError::Invalid(
                "subscription token without `channel`".into(),
            ));
        }
        self.check_common(c.exp, c.nbf, &c.aud, &c.iss)?;
        Ok(c)
    }
}

/// Turns `info`/`b64info` claim pairs into raw bytes (b64 wins). Invalid base64 is an error.
pub fn info_bytes(
    json: &Option<serde_json::Value>,
    b64: &Option<String>,
) -> Result<Option<Bytes>, TokenError> {
    if let Some(b) = b64 {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(|e| TokenError::Invalid(format!("bad base64: {e}")))?;
        return Ok(Some(Bytes::from(raw)));
    }
    Ok(json.as_ref().map(|v| Bytes::from(v.to_string())))
}

/// Mints an HS256 token for any serializable claims (tests, sentinel, CLI).
pub fn mint_hs256<T: Serialize>(
    claims: &T,
    secret: &str,
) -> Result<String, jsonwebtoken::errors::Error> {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_token_outcomes() {
        let v = TokenVerifier::new("secret", "", "");
        let good = mint_hs256(
            &ConnectionClaims {
                sub: "42".into(),
                exp: Some(now_unix() + 60),
                info: Some(serde_json::json!({"a": 1})),
                ..Default::default()
            },
            "secret",
        )
        .unwrap();
        let c = v.verify_connection(&good).unwrap();
        assert_eq!(c.sub, "42");
        assert_eq!(
            info_bytes(&c.info, &c.b64info).unwrap().unwrap(),
            Bytes::from_static(b"{\"a\":1}")
        );

        let expired = mint_hs256(
            &ConnectionClaims {
                sub: "42".into(),
                exp: Some(now_unix() - 1),
                ..Default::default()
            },
            "secret",
        )
        .unwrap();
        assert_eq!(v.verify_connection(&expired), Err(TokenError::Expired));
        let nbf = mint_hs256(
            &ConnectionClaims {
                nbf: Some(now_unix() + 100),
                ..Default::default()
            },
            "secret",
        )
        .unwrap();
        assert_eq!(v.verify_connection(&nbf), Err(TokenError::Expired));

        let wrong_key = mint_hs256(&ConnectionClaims::default(), "other").unwrap();
        assert!(matches!(
            v.verify_connection(&wrong_key),
            Err(TokenError::Invalid(_))
        ));
        assert!(matches!(
            v.verify_connection("garbage"),
            Err(TokenError::Invalid(_))
        ));
        let with_channel =
            mint_hs256(&serde_json::json!({"sub": "1", "channel": "x"}), "secret").unwrap();
        assert!(matches!(
            v.verify_connection(&with_channel),
            Err(TokenError::Invalid(_))
        ));
        // alg none is refused.
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiI0MiJ9.";
        assert!(matches!(
            v.verify_connection(none),
            Err(TokenError::Invalid(_))
        ));
        assert!(matches!(
            TokenVerifier::new("", "", "").verify_connection(&good),
            Err(TokenError::Invalid(_))
        ));
    }

    #[test]
    fn audience_and_issuer() {
        let v = TokenVerifier::new("s", "aud1", "iss1");
        let ok = mint_hs256(
            &serde_json::json!({"sub": "1", "aud": "aud1", "iss": "iss1"}),
            "s",
        )
        .unwrap();
        assert!(v.verify_connection(&ok).is_ok());
        let bad = mint_hs256(
            &serde_json::json!({"sub": "1", "aud": "x", "iss": "iss1"}),
            "s",
        )
        .unwrap();
        assert!(matches!(
            v.verify_connection(&bad),
            Err(TokenError::Invalid(_))
        ));
    }

    #[test]
    fn subscription_token() {
        let v = TokenVerifier::new("s", "", "");
        let t = mint_hs256(
            &SubscriptionClaims {
                sub: "1".into(),
                channel: "$x".into(),
                b64info: Some("AAE=".into()),
                ..Default::default()
            },
            "s",
        )
        .unwrap();
        let c = v.verify_subscription(&t).unwrap();
        assert_eq!(c.channel, "$x");
        assert_eq!(
            info_bytes(&c.info, &c.b64info).unwrap().unwrap(),
            Bytes::from_static(&[0, 1])
        );
        let no_channel = mint_hs256(&serde_json::json!({"sub": "1"}), "s").unwrap();
        assert!(matches!(
            v.verify_subscription(&no_channel),
            Err(TokenError::Invalid(_))
        ));
    }
}
