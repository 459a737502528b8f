//! NATS nkeys: Ed25519 keys written as base32 (RFC 4648, no padding) of a type prefix byte,
//! the 32 key bytes and a CRC16-XMODEM (little endian). Seeds carry two prefix bytes (`S`
//! plus the key type). Hand-rolled because the `nkeys` crate pulls a second major version of
//! ed25519-dalek.

use data_encoding::BASE32_NOPAD;
use ed25519_dalek::{Signer, SigningKey};

use super::CredsError;

const PREFIX_SEED: u8 = 18 << 3;

/// The role of a key, which is its first letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `O…`: signs account JWTs.
    Operator,
    /// `A…`: an account, or one of its signing keys.
    Account,
    /// `U…`: a user (a connection's identity).
    User,
}

impl KeyKind {
    fn prefix(self) -> u8 {
        match self {
            KeyKind::Operator => 14 << 3,
            KeyKind::Account => 0,
            KeyKind::User => 20 << 3,
        }
    }

    fn from_prefix(b: u8) -> Option<Self> {
        [KeyKind::Operator, KeyKind::Account, KeyKind::User]
            .into_iter()
            .find(|k| k.prefix() == b)
    }
}

/// CRC16-XMODEM (poly 0x1021, init 0), as nkeys checksum their bytes.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn encode(head: &[u8], key: &[u8; 32]) -> String {
    let mut raw = Vec::with_capacity(head.len() + 34);
    raw.extend_from_slice(head);
    raw.extend_from_slice(key);
    let crc = crc16(&raw);
    raw.extend_from_slice(&crc.to_le_bytes());
    BASE32_NOPAD.encode(&raw)
}

fn decode(text: &str, head_len: usize) -> Result<(Vec<u8>, [u8; 32]), CredsError> {
    let bad = |why: &str| CredsError::BadKey(why.to_owned());
    let raw = BASE32_NOPAD
        .decode(text.trim().as_bytes())
        .map_err(|_| bad("not base32"))?;
    if raw.len() != head_len + 34 {
        return Err(bad("wrong length"));
    }
    let (body, crc) = raw.split_at(raw.len() - 2);
    if crc16(body).to_le_bytes() != [crc[0], crc[1]] {
        return Err(bad("checksum mismatch"));
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(&body[head_len..]);
    Ok((body[..head_len].to_vec(), key))
}

/// The public key of `kind` for the raw Ed25519 public key bytes.
pub fn encode_public(kind: KeyKind, key: &[u8; 32]) -> String {
    encode(&[kind.prefix()], key)
}

/// Decodes a public key, checking it is of `kind`.
pub fn decode_public(text: &str, kind: KeyKind) -> Result<[u8; 32], CredsError> {
    let (head, key) = decode(text, 1)?;
    if head[0] != kind.prefix() {
        return Err(CredsError::BadKey(format!("not a {kind:?} public key")));
    }
    Ok(key)
}

/// An nkey with its private half.
#[derive(Clone)]
pub struct KeyPair {
    kind: KeyKind,
    key: SigningKey,
}

impl std::fmt::Debug for KeyPair {
    // The seed never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &self.public_key())
            .finish()
    }
}

impl KeyPair {
    /// A fresh random key of `kind`.
    pub fn generate(kind: KeyKind) -> Result<Self, CredsError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| CredsError::Random(e.to_string()))?;
        Ok(Self {
            kind,
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// Parses a seed (`SO…`, `SA…`, `SU…`).
    pub fn from_seed(text: &str) -> Result<Self, CredsError> {
        let (head, seed) = decode(text, 2)?;
        if head[0] & 0xf8 != PREFIX_SEED {
            return Err(CredsError::BadKey("not a seed".into()));
        }
        let prefix = ((head[0] & 0x07) << 5) | (head[1] >> 3);
        let kind = KeyKind::from_prefix(prefix)
            .ok_or_else(|| CredsError::BadKey("unsupported seed type".into()))?;
        Ok(Self {
            kind,
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// The key's role.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The public key (`O…`, `A…`, `U…`).
    pub fn public_key(&self) -> String {
        encode_public(self.kind, self.key.verifying_key().as_bytes())
    }

    /// The seed (a secret).
    pub fn seed(&self) -> String {
        let p = self.kind.prefix();
        encode(
            &[PREFIX_SEED | (p >> 5), (p & 0x1f) << 3],
            self.key.as_bytes(),
        )
    }

    /// Ed25519 signature of `data`.
    pub fn sign(&self, data: &[u8]) -> [u8; 64] {
        self.key.sign(data).to_bytes()
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    use super::*;

    // The NATS client libraries' shared test user.
    const SEED: &str = "SUAMK2FG4MI6UE3ACF3FK3OIQBCEIEZV7NSWFFEW63UXMRLFM2XLAXK4GY";
    const PUBLIC: &str = "UAT6BWCSCWLUKJT6K6MBJJOEOTXZ5AJDOYKNEVRFC7VNO6OA43N4TRNO";
    const NONCE_SIG: &str =
        "m50It12aTgfbJwsQhucujqhXbsq7tLM-Mf_hSjBQsG_4onm8y2Vkw6JG1bbcDkdxXe-Ng0K-7X9ov4rZ4wFcDg";

    #[test]
    fn published_vector() {
        let kp = KeyPair::from_seed(SEED).unwrap();
        assert_eq!(kp.kind(), KeyKind::User);
        assert_eq!(kp.public_key(), PUBLIC);
        assert_eq!(kp.seed(), SEED);
        assert_eq!(URL_SAFE_NO_PAD.encode(kp.sign(b"nonce")), NONCE_SIG);
        let raw = decode_public(PUBLIC, KeyKind::User).unwrap();
        assert_eq!(&raw, kp.key.verifying_key().as_bytes());
    }

    #[test]
    fn roundtrip_each_kind() {
        for kind in [KeyKind::Operator, KeyKind::Account, KeyKind::User] {
            let kp = KeyPair::generate(kind).unwrap();
            let letter = match kind {
                KeyKind::Operator => 'O',
                KeyKind::Account => 'A',
                KeyKind::User => 'U',
            };
            assert!(kp.public_key().starts_with(letter));
            assert!(kp.seed().starts_with(&format!("S{letter}")));
            let back = KeyPair::from_seed(&kp.seed()).unwrap();
            assert_eq!(back.public_key(), kp.public_key());
            assert_eq!(back.kind(), kind);
        }
    }

    #[test]
    fn bad_keys_are_errors() {
        assert!(KeyPair::from_seed("").is_err());
        assert!(KeyPair::from_seed(PUBLIC).is_err());
        assert!(decode_public(PUBLIC, KeyKind::Account).is_err());
        // One flipped character fails the checksum.
        let mut bad = SEED.to_owned();
        bad.replace_range(10..11, if &SEED[10..11] == "A" { "B" } else { "A" });
        assert!(KeyPair::from_seed(&bad).is_err());
        assert!(KeyPair::from_seed("SUAMK2FG4MI6UE3ACF3F!").is_err());
    }
}
