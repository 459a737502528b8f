//! Secrets (session cookies, API tokens, claim tokens) are stored only as SHA-256 digests, so a
//! leaked database does not leak usable credentials.

use sha2::{Digest, Sha256};

/// Lowercase hex SHA-256 of a bearer secret: the only form in which the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    /// Hashes a secret as presented by a client.
    pub fn of(secret: &str) -> Self {
        Self(hex::encode(Sha256::digest(secret.as_bytes())))
    }

    /// Wraps a digest read back from the store.
    pub fn from_hex(hex: String) -> Self {
        Self(hex)
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_sha256_hex_and_not_the_secret() {
        let h = TokenHash::of("abc");
        assert_eq!(
            h.as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(TokenHash::of("abd"), h);
    }
}
