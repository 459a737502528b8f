//! The server API key check. Both keys are hashed with SHA-256 and the digests compared in
//! constant time, so response timing reveals neither the key's bytes nor its length.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The configured `http_api.key`, kept only as its digest.
pub(crate) struct ApiKey {
    /// None when no key is configured: every presented key is refused.
    digest: Option<[u8; 32]>,
}

fn digest(key: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&Sha256::digest(key.as_bytes()));
    out
}

impl ApiKey {
    /// Prepares the check for `key` (empty: nothing matches).
    pub(crate) fn new(key: &str) -> Self {
        ApiKey {
            digest: (!key.is_empty()).then(|| digest(key)),
        }
    }

    /// True when `presented` is the configured key.
    pub(crate) fn matches(&self, presented: &str) -> bool {
        match &self.digest {
            Some(expected) => expected[..].ct_eq(&digest(presented)[..]).into(),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_key_matches() {
        let k = ApiKey::new("api-key");
        assert!(k.matches("api-key"));
        assert!(!k.matches("api-kez"));
        assert!(!k.matches("api-key "));
        assert!(!k.matches("api-ke"));
        assert!(!k.matches(""));
    }

    #[test]
    fn an_empty_configured_key_matches_nothing() {
        let k = ApiKey::new("");
        assert!(!k.matches(""));
        assert!(!k.matches("anything"));
    }
}
