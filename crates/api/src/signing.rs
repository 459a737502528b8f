//! Ed25519 signing of node → sentinel HTTP requests.
//!
//! The signed message is `timestamp \0 nonce \0 METHOD \0 host \0 path \0 sha256_hex(body)`:
//! binding the host and path stops a signature being replayed against another endpoint or
//! deployment, the body hash binds the payload, and the nonce (remembered by the server for
//! [`NONCE_TTL`]) makes each signed request usable exactly once within the [`MAX_SKEW`] window.
//! The original system signed without a nonce and verified with plain `verify` and a ±5 min
//! window; this scheme uses a nonce, ±60 s and `verify_strict`.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Header carrying the node's public key (standard base64 of 32 bytes).
pub const HEADER_KEY: &str = "x-node-key";
/// Header carrying the signature (standard base64 of 64 bytes).
pub const HEADER_SIGNATURE: &str = "x-node-sig";
/// Header carrying the signing time in Unix milliseconds.
pub const HEADER_TIMESTAMP: &str = "x-node-ts";
/// Header carrying the single-use nonce.
pub const HEADER_NONCE: &str = "x-node-nonce";

/// How far a request's timestamp may be from the server's clock, either way.
pub const MAX_SKEW: Duration = Duration::from_secs(60);
/// How long a server must remember a nonce: longer than the whole window a timestamp is valid.
pub const NONCE_TTL: Duration = Duration::from_secs(120);

/// Why a signed request was refused. Each variant is a precise, loggable reason that never
/// contains secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A required header is absent.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// The public key header is not base64 of exactly 32 bytes, or not a valid curve point.
    #[error("malformed public key: {0}")]
    BadKey(&'static str),
    /// The signature header is not base64 of exactly 64 bytes.
    #[error("malformed signature: {0}")]
    BadSignatureEncoding(&'static str),
    /// The timestamp header is not a decimal integer.
    #[error("malformed timestamp")]
    BadTimestamp,
    /// The nonce is not 16–64 characters of `[A-Za-z0-9_-]`.
    #[error("malformed nonce: expected 16-64 characters of [A-Za-z0-9_-]")]
    BadNonce,
    /// The timestamp is outside the allowed skew.
    #[error("timestamp {skew_ms} ms away from server time (allowed {} s)", MAX_SKEW.as_secs())]
    Skew {
        /// Signed difference, request minus server, in milliseconds.
        skew_ms: i64,
    },
    /// The signature does not verify for this request.
    #[error("signature does not match the request")]
    Mismatch,
}

/// The canonical bytes that get signed for one request.
pub fn canonical_message(
    timestamp_ms: u64,
    nonce: &str,
    method: &str,
    host: &str,
    path: &str,
    body: &[u8],
) -> Vec<u8> {
    let body_hash = hex::encode(Sha256::digest(body));
    let method = method.to_ascii_uppercase();
    let host = strip_port(host).to_ascii_lowercase();
    let mut msg = Vec::with_capacity(96 + host.len() + path.len());
    for (i, part) in [
        timestamp_ms.to_string().as_str(),
        nonce,
        &method,
        &host,
        path,
        &body_hash,
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            msg.push(0);
        }
        msg.extend_from_slice(part.as_bytes());
    }
    msg
}

/// Host without a trailing `:port` (IPv6 literals keep their brackets).
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.find(']') {
            Some(end) => &host[..end + 2],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// The four headers of a signed request, as names and values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// Base64 public key.
    pub key: String,
    /// Base64 signature.
    pub signature: String,
    /// Unix milliseconds, decimal.
    pub timestamp: String,
    /// Single-use nonce.
    pub nonce: String,
}

impl SignedHeaders {
    /// The headers as `(name, value)` pairs ready to attach to a request.
    pub fn pairs(&self) -> [(&'static str, &str); 4] {
        [
            (HEADER_KEY, &self.key),
            (HEADER_SIGNATURE, &self.signature),
            (HEADER_TIMESTAMP, &self.timestamp),
            (HEADER_NONCE, &self.nonce),
        ]
    }
}

/// A node's Ed25519 identity; signs requests.
pub struct NodeKey {
    key: SigningKey,
}

impl std::fmt::Debug for NodeKey {
    // Never print the secret seed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeKey")
            .field("public", &self.public_base64())
            .finish_non_exhaustive()
    }
}

impl NodeKey {
    /// A fresh random key from the operating system's RNG.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)?;
        Ok(Self::from_seed(&seed))
    }

    /// The key for a stored 32-byte secret seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(seed),
        }
    }

    /// The 32-byte secret seed, for storing with owner-only permissions.
    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Standard base64 of the public key: the node's authentication identity.
    pub fn public_base64(&self) -> String {
        B64.encode(self.key.verifying_key().as_bytes())
    }

    /// Signs one request at `timestamp_ms` with a fresh random nonce.
    pub fn sign(
        &self,
        timestamp_ms: u64,
        method: &str,
        host: &str,
        path: &str,
        body: &[u8],
    ) -> Result<SignedHeaders, getrandom::Error> {
        let mut raw = [0u8; 16];
        getrandom::fill(&mut raw)?;
        Ok(self.sign_with_nonce(timestamp_ms, &hex::encode(raw), method, host, path, body))
    }

    /// Signs one request with a caller-chosen nonce (tests and deterministic fixtures).
    pub fn sign_with_nonce(
        &self,
        timestamp_ms: u64,
        nonce: &str,
        method: &str,
        host: &str,
        path: &str,
        body: &[u8],
    ) -> SignedHeaders {
        let msg = canonical_message(timestamp_ms, nonce, method, host, path, body);
        let sig = self.key.sign(&msg);
        SignedHeaders {
            key: self.public_base64(),
            signature: B64.encode(sig.to_bytes()),
            timestamp: timestamp_ms.to_string(),
            nonce: nonce.to_owned(),
        }
    }
}

/// What a verified request proves: who signed it and which nonce it used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Base64 public key of the signer, as sent.
    pub public_key: String,
    /// The nonce, which the caller must check against its replay cache for [`NONCE_TTL`].
    pub nonce: String,
    /// Signing time in Unix milliseconds.
    pub timestamp_ms: u64,
}

/// Raw header values as received (each `None` when absent).
#[derive(Debug, Clone, Copy, Default)]
pub struct ReceivedHeaders<'a> {
    /// Value of [`HEADER_KEY`].
    pub key: Option<&'a str>,
    /// Value of [`HEADER_SIGNATURE`].
    pub signature: Option<&'a str>,
    /// Value of [`HEADER_TIMESTAMP`].
    pub timestamp: Option<&'a str>,
    /// Value of [`HEADER_NONCE`].
    pub nonce: Option<&'a str>,
}

/// Checks a request's signature, timestamp window and header formats with `verify_strict`.
/// The nonce replay check is the caller's, since the nonce cache lives in the coordinator.
pub fn verify(
    headers: ReceivedHeaders<'_>,
    method: &str,
    host: &str,
    path: &str,
    body: &[u8],
    now_ms: u64,
) -> Result<Verified, SignatureError> {
    let key_b64 = headers
        .key
        .ok_or(SignatureError::MissingHeader(HEADER_KEY))?;
    let sig_b64 = headers
        .signature
        .ok_or(SignatureError::MissingHeader(HEADER_SIGNATURE))?;
    let ts = headers
        .timestamp
        .ok_or(SignatureError::MissingHeader(HEADER_TIMESTAMP))?;
    let nonce = headers
        .nonce
        .ok_or(SignatureError::MissingHeader(HEADER_NONCE))?;

    let timestamp_ms: u64 = ts.parse().map_err(|_| SignatureError::BadTimestamp)?;
    let skew_ms = i128::from(timestamp_ms) - i128::from(now_ms);
    if skew_ms.unsigned_abs() > MAX_SKEW.as_millis() {
        return Err(SignatureError::Skew {
            skew_ms: skew_ms.clamp(i64::MIN.into(), i64::MAX.into()) as i64,
        });
    }
    if !(16..=64).contains(&nonce.len())
        || !nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(SignatureError::BadNonce);
    }

    let key_bytes: [u8; 32] = B64
        .decode(key_b64)
        .map_err(|_| SignatureError::BadKey("not base64"))?
        .try_into()
        .map_err(|_| SignatureError::BadKey("not 32 bytes"))?;
    let key = VerifyingKey::from_bytes(&key_bytes)
        .map_err(|_| SignatureError::BadKey("not a valid Ed25519 point"))?;
    let sig_bytes: [u8; 64] = B64
        .decode(sig_b64)
        .map_err(|_| SignatureError::BadSignatureEncoding("not base64"))?
        .try_into()
        .map_err(|_| SignatureError::BadSignatureEncoding("not 64 bytes"))?;
    let sig = Signature::from_bytes(&sig_bytes);

    let msg = canonical_message(timestamp_ms, nonce, method, host, path, body);
    key.verify_strict(&msg, &sig)
        .map_err(|_| SignatureError::Mismatch)?;
    Ok(Verified {
        public_key: key_b64.to_owned(),
        nonce: nonce.to_owned(),
        timestamp_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_790_000_000_000;
    const NONCE: &str = "0123456789abcdef0123";

    fn key() -> NodeKey {
        NodeKey::from_seed(&[7u8; 32])
    }

    fn received(h: &SignedHeaders) -> ReceivedHeaders<'_> {
        ReceivedHeaders {
            key: Some(&h.key),
            signature: Some(&h.signature),
            timestamp: Some(&h.timestamp),
            nonce: Some(&h.nonce),
        }
    }

    #[test]
    fn canonical_message_layout() {
        let msg = canonical_message(5, "n", "post", "Sentinel.Example:8443", "/a/b", b"");
        let expected = format!(
            "5\0n\0POST\0sentinel.example\0/a/b\0{}",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(msg, expected.as_bytes());
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("host"), "host");
    }

    #[test]
    fn signed_request_verifies() {
        let k = key();
        let h = k.sign_with_nonce(NOW, NONCE, "POST", "127.0.0.1:8080", "/v1/x", b"{}");
        let v = verify(
            received(&h),
            "POST",
            "127.0.0.1",
            "/v1/x",
            b"{}",
            NOW + 59_000,
        )
        .unwrap();
        assert_eq!(v.public_key, k.public_base64());
        assert_eq!(v.nonce, NONCE);
        assert_eq!(v.timestamp_ms, NOW);
    }

    #[test]
    fn any_changed_part_is_refused() {
        let k = key();
        let h = k.sign_with_nonce(NOW, NONCE, "POST", "h", "/p", b"body");
        let cases: [(&str, &str, &str, &[u8]); 4] = [
            ("GET", "h", "/p", b"body"),
            ("POST", "other", "/p", b"body"),
            ("POST", "h", "/q", b"body"),
            ("POST", "h", "/p", b"bodY"),
        ];
        for (m, host, p, b) in cases {
            assert_eq!(
                verify(received(&h), m, host, p, b, NOW),
                Err(SignatureError::Mismatch),
                "{m} {host} {p}"
            );
        }
        let mut other_nonce = h.clone();
        other_nonce.nonce = "fedcba9876543210fedc".into();
        assert_eq!(
            verify(received(&other_nonce), "POST", "h", "/p", b"body", NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn skew_window_is_enforced_both_ways() {
        let k = key();
        let h = k.sign_with_nonce(NOW, NONCE, "GET", "h", "/", b"");
        assert!(verify(received(&h), "GET", "h", "/", b"", NOW - 60_000).is_ok());
        assert_eq!(
            verify(received(&h), "GET", "h", "/", b"", NOW + 60_001),
            Err(SignatureError::Skew { skew_ms: -60_001 })
        );
        assert_eq!(
            verify(received(&h), "GET", "h", "/", b"", NOW - 60_001),
            Err(SignatureError::Skew { skew_ms: 60_001 })
        );
    }

    #[test]
    fn malformed_headers_get_precise_errors() {
        let k = key();
        let good = k.sign_with_nonce(NOW, NONCE, "GET", "h", "/", b"");
        let mut r = received(&good);
        r.nonce = None;
        assert_eq!(
            verify(r, "GET", "h", "/", b"", NOW),
            Err(SignatureError::MissingHeader(HEADER_NONCE))
        );
        let mut r = received(&good);
        r.nonce = Some("short");
        assert_eq!(
            verify(r, "GET", "h", "/", b"", NOW),
            Err(SignatureError::BadNonce)
        );
        let mut r = received(&good);
        r.timestamp = Some("12x");
        assert_eq!(
            verify(r, "GET", "h", "/", b"", NOW),
            Err(SignatureError::BadTimestamp)
        );
        let mut r = received(&good);
        r.key = Some("AAAA");
        assert_eq!(
            verify(r, "GET", "h", "/", b"", NOW),
            Err(SignatureError::BadKey("not 32 bytes"))
        );
        let mut r = received(&good);
        r.signature = Some("!!");
        assert_eq!(
            verify(r, "GET", "h", "/", b"", NOW),
            Err(SignatureError::BadSignatureEncoding("not base64"))
        );
    }

    #[test]
    fn debug_never_shows_the_seed() {
        let k = key();
        let shown = format!("{k:?}");
        assert!(!shown.contains(&hex::encode(k.seed())));
        assert!(!shown.contains(&B64.encode(k.seed())));
    }

    #[test]
    fn generated_keys_differ_and_round_trip_through_seed() {
        let a = NodeKey::generate().unwrap();
        let b = NodeKey::generate().unwrap();
        assert_ne!(a.public_base64(), b.public_base64());
        assert_eq!(
            NodeKey::from_seed(&a.seed()).public_base64(),
            a.public_base64()
        );
    }
}
