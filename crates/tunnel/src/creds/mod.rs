//! Scoped NATS credentials for the tunnel (NATS operator / decentralized-JWT mode).
//!
//! The grid's NATS server trusts an operator; the tunnel's account lists a *signing key*
//! that the sentinel holds. With it the sentinel mints short-lived user JWTs:
//! [`AccountSigner::mint`] with [`Permissions::responder`] for a node (its own host's subjects
//! only) and [`Permissions::client`] for itself. [`connect`] opens a NATS connection whose
//! credentials come from a [`CredentialSource`] and are refreshed before they expire.
//!
//! The JWTs are *bearer* tokens (`bearer_token: true`): async-nats signs the server nonce
//! only through its `nkeys` feature, which pulls a second major version of ed25519-dalek.
//! They are short-lived, scoped to one host, and delivered only over the node's signed API —
//! like the beacon connection tokens.

mod connect;
pub mod jwt;
pub mod nkey;
mod operator;

use serde_json::{json, Map};

use crate::subject::{HostSubjects, PREFIX};

pub use connect::{connect, CredentialSource, ScopedConnection, ScopedOptions};
pub use nkey::{KeyKind, KeyPair};
pub use operator::OperatorSetup;

/// What can go wrong with keys and credentials.
#[derive(Debug, thiserror::Error)]
pub enum CredsError {
    /// A seed or public key that does not decode (the text itself is never included).
    #[error("bad nkey: {0}")]
    BadKey(String),
    /// The system random source failed.
    #[error("random source: {0}")]
    Random(String),
    /// The credential source could not produce credentials.
    #[error("fetching credentials: {0}")]
    Fetch(String),
    /// Connecting with the credentials failed.
    #[error("connecting: {0}")]
    Connect(String),
}

/// A minted user JWT and its validity (Unix milliseconds, the minter's clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user JWT (a bearer secret).
    pub jwt: String,
    /// When it was issued.
    pub issued_at_ms: u64,
    /// When the server stops accepting it.
    pub expires_at_ms: u64,
}

impl Credentials {
    /// Lifetime as issued.
    pub fn lifetime(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.expires_at_ms.saturating_sub(self.issued_at_ms))
    }
}

/// Subjects a user may publish and subscribe to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    /// Publish allow list.
    pub publish: Vec<String>,
    /// Subscribe allow list.
    pub subscribe: Vec<String>,
}

/// Inbox prefix of the sentinel side (async-nats' default).
const CLIENT_INBOX: &str = "_INBOX";

impl Permissions {
    /// A responder of `host`: its start and up subjects, its down subjects, and its own inbox
    /// (the transport's flush round trip) — nothing of any other host.
    pub fn responder(host: &HostSubjects) -> Self {
        let inbox = format!("{}.>", host.inbox_prefix());
        let mut publish = host.responder_publish_allow().to_vec();
        publish.push(inbox.clone());
        let mut subscribe = host.responder_subscribe_allow().to_vec();
        subscribe.push(inbox);
        Self { publish, subscribe }
    }

    /// A tunnel client (the sentinel): every host's tunnel subjects and its inbox.
    pub fn client() -> Self {
        let all = vec![format!("{PREFIX}.>"), format!("{CLIENT_INBOX}.>")];
        Self {
            publish: all.clone(),
            subscribe: all,
        }
    }
}

/// The tunnel account's signing key: mints user JWTs.
#[derive(Debug, Clone)]
pub struct AccountSigner {
    account: String,
    key: KeyPair,
}

impl AccountSigner {
    /// `account` is the account's public key (`A…`), `signing_seed` the seed (`SA…`) of a
    /// signing key the account JWT lists.
    pub fn new(account: &str, signing_seed: &str) -> Result<Self, CredsError> {
        nkey::decode_public(account, KeyKind::Account)?;
        let key = KeyPair::from_seed(signing_seed)?;
        if key.kind() != KeyKind::Account {
            return Err(CredsError::BadKey(
                "the signing seed is not an account key (SA…)".into(),
            ));
        }
        Ok(Self {
            account: account.to_owned(),
            key,
        })
    }

    /// The account's public key.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// A user JWT named `name` with `perms`, valid from `now_ms` for `lifetime`.
    pub fn mint(
        &self,
        name: &str,
        perms: &Permissions,
        now_ms: u64,
        lifetime: std::time::Duration,
    ) -> Result<Credentials, CredsError> {
        let user = KeyPair::generate(KeyKind::User)?;
        let iat_s = now_ms / 1000;
        // Whole seconds on the wire: expiry rounds up so the lifetime is never shorter.
        let exp_s = (now_ms + lifetime.as_millis() as u64).div_ceil(1000);
        let mut claims = Map::new();
        claims.insert("sub".into(), json!(user.public_key()));
        claims.insert("name".into(), json!(name));
        claims.insert("exp".into(), json!(exp_s));
        claims.insert(
            "nats".into(),
            json!({
                "pub": { "allow": perms.publish },
                "sub": { "allow": perms.subscribe },
                "subs": jwt::NO_LIMIT, "data": jwt::NO_LIMIT, "payload": jwt::NO_LIMIT,
                "bearer_token": true,
                "allowed_connection_types": ["STANDARD"],
                "issuer_account": self.account,
                "type": "user",
                "version": 2
            }),
        );
        Ok(Credentials {
            jwt: jwt::encode(claims, &self.key, iat_s),
            issued_at_ms: now_ms,
            expires_at_ms: exp_s * 1000,
        })
    }
}

/// Credentials minted locally with the account signing key (the sentinel's own connection).
#[derive(Debug, Clone)]
pub struct SelfSigned {
    /// The signer.
    pub signer: AccountSigner,
    /// User name in the JWT.
    pub name: String,
    /// What the user may do.
    pub permissions: Permissions,
    /// JWT lifetime.
    pub lifetime: std::time::Duration,
}

#[async_trait::async_trait]
impl CredentialSource for SelfSigned {
    async fn fetch(&self) -> Result<Credentials, CredsError> {
        self.signer
            .mint(&self.name, &self.permissions, now_ms(), self.lifetime)
    }
}

/// Wall clock, Unix milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn node_jwt_is_scoped_to_its_host() {
        let setup = OperatorSetup::generate(1_700_000_000_000).unwrap();
        let signer = AccountSigner::new(&setup.account, &setup.signing_seed).unwrap();
        let host = HostSubjects::new("n1").unwrap();
        let c = signer
            .mint(
                "node n1",
                &Permissions::responder(&host),
                1_700_000_000_500,
                Duration::from_secs(60),
            )
            .unwrap();
        assert_eq!(c.expires_at_ms, 1_700_000_061_000);
        let claims = jwt::decode_claims(&c.jwt).unwrap();
        assert_eq!(claims["nats"]["issuer_account"], json!(setup.account));
        assert_eq!(claims["exp"], json!(1_700_000_061u64));
        assert_eq!(
            claims["nats"]["sub"]["allow"],
            json!([
                "tunnel.v1.bjE.start",
                "tunnel.v1.bjE.*.up",
                "_TUNNEL_INBOX.bjE.>"
            ])
        );
        assert_eq!(
            claims["nats"]["pub"]["allow"],
            json!(["tunnel.v1.bjE.*.down", "_TUNNEL_INBOX.bjE.>"])
        );
        assert!(claims["sub"].as_str().unwrap().starts_with('U'));
    }

    #[test]
    fn signer_refuses_wrong_keys() {
        let setup = OperatorSetup::generate(0).unwrap();
        let user = KeyPair::generate(KeyKind::User).unwrap();
        assert!(AccountSigner::new(&setup.account, &user.seed()).is_err());
        assert!(AccountSigner::new(&user.public_key(), &setup.signing_seed).is_err());
        assert!(AccountSigner::new(&setup.account, "nonsense").is_err());
    }
}
