//! A complete operator-mode trust chain for the tunnel's NATS server: an operator, a system
//! account, and the tunnel account with one signing key, as a nats-server config fragment
//! (`resolver: MEMORY` with both accounts preloaded). `wowlab tunnel-nats-init`, the
//! cluster script and the tests use it; nothing here needs `nsc`.

use serde_json::{json, Map};

use super::jwt::{self, unlimited_account};
use super::nkey::{KeyKind, KeyPair};
use super::CredsError;

/// Generated trust chain. `server_config` holds only public material (JWTs and public keys);
/// `signing_seed` is the secret the sentinel needs.
#[derive(Debug, Clone)]
pub struct OperatorSetup {
    /// nats-server config lines: `operator`, `system_account`, `resolver`, `resolver_preload`.
    pub server_config: String,
    /// The tunnel account's public key (`A…`).
    pub account: String,
    /// Seed (`SA…`) of the tunnel account's signing key (a secret).
    pub signing_seed: String,
}

impl OperatorSetup {
    /// New random keys; JWTs issued at `now_ms`, never expiring.
    pub fn generate(now_ms: u64) -> Result<Self, CredsError> {
        let iat = now_ms / 1000;
        let operator = KeyPair::generate(KeyKind::Operator)?;
        let system = KeyPair::generate(KeyKind::Account)?;
        let tunnel = KeyPair::generate(KeyKind::Account)?;
        let signing = KeyPair::generate(KeyKind::Account)?;

        let mut op = Map::new();
        op.insert("sub".into(), json!(operator.public_key()));
        op.insert("name".into(), json!("wowlab"));
        op.insert(
            "nats".into(),
            json!({"system_account": system.public_key(), "type": "operator", "version": 2}),
        );
        let operator_jwt = jwt::encode(op, &operator, iat);

        let account_jwt = |kp: &KeyPair, name: &str, signing_keys: Vec<String>| {
            let mut c = Map::new();
            c.insert("sub".into(), json!(kp.public_key()));
            c.insert("name".into(), json!(name));
            c.insert(
                "nats".into(),
                json!({
                    "limits": unlimited_account(),
                    "signing_keys": signing_keys,
                    "type": "account",
                    "version": 2
                }),
            );
            jwt::encode(c, &operator, iat)
        };
        let system_jwt = account_jwt(&system, "SYS", Vec::new());
        let tunnel_jwt = account_jwt(&tunnel, "tunnel", vec![signing.public_key()]);

        let server_config = format!(
            "# Operator mode for the wowlab tunnel (generated; public material only).\n\
             operator: {operator_jwt}\n\
             system_account: {sys}\n\
             resolver: MEMORY\n\
             resolver_preload: {{\n  {sys}: {system_jwt}\n  {acc}: {tunnel_jwt}\n}}\n",
            sys = system.public_key(),
            acc = tunnel.public_key(),
        );
        Ok(Self {
            server_config,
            account: tunnel.public_key(),
            signing_seed: signing.seed(),
        })
    }
}
