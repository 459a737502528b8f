//! Scoped NATS credentials for the node tunnel: with the tunnel account's signing key the
//! sentinel mints each claimed node a short-lived user JWT that allows only that node's own
//! tunnel subjects (`tunnel.v1.<node>.start`/`.*.up` in, `.*.down` out, and its own inbox),
//! so a node cannot read another node's requests nor answer for it. Served by
//! `POST /api/node/tunnel-credentials`; the node refetches before expiry.

use std::time::Duration;

use wowlab_api::node::TunnelCredentialsResponse;
use wowlab_api::NodeId;
use wowlab_tunnel::creds::{AccountSigner, CredsError, Permissions};
use wowlab_tunnel::subject::HostSubjects;

/// Default lifetime of a node's tunnel JWT.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Mints node tunnel credentials.
#[derive(Debug, Clone)]
pub struct NodeCredsMinter {
    signer: AccountSigner,
    lifetime: Duration,
}

impl NodeCredsMinter {
    /// Mints with `signer` for `lifetime` (at least one second).
    pub fn new(signer: AccountSigner, lifetime: Duration) -> Self {
        Self {
            signer,
            lifetime: lifetime.max(Duration::from_secs(1)),
        }
    }

    /// The JWT lifetime.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// The signer (the sentinel's own connection mints with it too).
    pub fn signer(&self) -> &AccountSigner {
        &self.signer
    }

    /// Credentials for `node` at `now_ms`.
    pub fn mint(&self, node: NodeId, now_ms: u64) -> Result<TunnelCredentialsResponse, CredsError> {
        let subjects =
            HostSubjects::new(&node.to_string()).map_err(|e| CredsError::BadKey(e.to_string()))?;
        let c = self.signer.mint(
            &format!("node {node}"),
            &Permissions::responder(&subjects),
            now_ms,
            self.lifetime,
        )?;
        Ok(TunnelCredentialsResponse {
            node_id: node,
            jwt: Some(c.jwt),
            issued_at_ms: c.issued_at_ms,
            expires_at_ms: c.expires_at_ms,
            inbox_prefix: subjects.inbox_prefix(),
        })
    }
}

/// The answer when no signing key is configured: the node connects without credentials.
pub fn open(node: NodeId) -> TunnelCredentialsResponse {
    let inbox_prefix = HostSubjects::new(&node.to_string())
        .map(|s| s.inbox_prefix())
        .unwrap_or_else(|_| "_INBOX".into());
    TunnelCredentialsResponse {
        node_id: node,
        jwt: None,
        issued_at_ms: 0,
        expires_at_ms: 0,
        inbox_prefix,
    }
}

#[cfg(test)]
mod tests {
    use wowlab_tunnel::creds::{jwt, OperatorSetup};

    use super::*;

    #[test]
    fn node_jwt_names_only_its_own_subjects() {
        let setup = OperatorSetup::generate(0).unwrap();
        let m = NodeCredsMinter::new(
            AccountSigner::new(&setup.account, &setup.signing_seed).unwrap(),
            Duration::from_secs(600),
        );
        let node = NodeId::new();
        let r = m.mint(node, 1_000_000).unwrap();
        assert_eq!(r.expires_at_ms, 1_600_000);
        let token = HostSubjects::new(&node.to_string()).unwrap();
        let claims = jwt::decode_claims(r.jwt.as_deref().unwrap()).unwrap();
        let text = claims["nats"].to_string();
        assert!(text.contains(&token.start()), "{text}");
        assert_eq!(r.inbox_prefix, token.inbox_prefix());
        // Nothing but this node's subjects and inbox.
        for list in ["pub", "sub"] {
            for s in claims["nats"][list]["allow"].as_array().unwrap() {
                let s = s.as_str().unwrap();
                assert!(
                    s.starts_with(&format!(
                        "tunnel.v1.{}",
                        token.start().split('.').nth(2).unwrap()
                    )) || s.starts_with(&token.inbox_prefix()),
                    "{s}"
                );
            }
        }
    }
}
