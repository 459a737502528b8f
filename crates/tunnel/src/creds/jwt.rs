//! NATS JWT v2: `b64url(header).b64url(claims).b64url(ed25519 signature)` with header
//! `{"typ":"JWT","alg":"ed25519-nkey"}`; `jti` is base32 (no padding) of SHA-512/256 of the
//! claims serialized without it, as the Go `jwt/v2` library computes it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use data_encoding::BASE32_NOPAD;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha512_256};

use super::nkey::KeyPair;

const HEADER: &str = r#"{"typ":"JWT","alg":"ed25519-nkey"}"#;

/// Signs `claims` (an object without `jti`/`iss`) as `issuer`; `iat` is seconds.
pub fn encode(mut claims: Map<String, Value>, issuer: &KeyPair, iat_s: u64) -> String {
    claims.insert("iat".into(), json!(iat_s));
    claims.insert("iss".into(), json!(issuer.public_key()));
    claims.remove("jti");
    let unsigned = serde_json::to_vec(&claims).expect("JSON values serialize");
    let jti = BASE32_NOPAD.encode(&Sha512_256::digest(&unsigned));
    claims.insert("jti".into(), json!(jti));
    let body = serde_json::to_vec(&claims).expect("JSON values serialize");
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(HEADER),
        URL_SAFE_NO_PAD.encode(body)
    );
    let sig = issuer.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// The claims of a JWT, without checking its signature (tests and diagnostics).
pub fn decode_claims(jwt: &str) -> Option<Value> {
    let body = jwt.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()
}

/// No limit, as NATS writes it.
pub const NO_LIMIT: i64 = -1;

/// Account limits with nothing capped (JetStream stays off: its limits are absent).
pub fn unlimited_account() -> Value {
    json!({
        "subs": NO_LIMIT, "data": NO_LIMIT, "payload": NO_LIMIT, "imports": NO_LIMIT,
        "exports": NO_LIMIT, "wildcards": true, "conn": NO_LIMIT, "leaf": NO_LIMIT
    })
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};

    use super::super::nkey::{decode_public, KeyKind};
    use super::*;

    #[test]
    fn signed_by_issuer_with_content_jti() {
        let kp = KeyPair::generate(KeyKind::Account).unwrap();
        let mut c = Map::new();
        c.insert("sub".into(), json!("UXYZ"));
        let jwt = encode(c.clone(), &kp, 1_700_000_000);
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[0]).unwrap(), HEADER.as_bytes());
        let key =
            VerifyingKey::from_bytes(&decode_public(&kp.public_key(), KeyKind::Account).unwrap())
                .unwrap();
        let sig = Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();
        key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .unwrap();
        let claims = decode_claims(&jwt).unwrap();
        assert_eq!(claims["iss"], json!(kp.public_key()));
        assert_eq!(claims["iat"], json!(1_700_000_000u64));
        // The same claims give the same jti; other claims another.
        let again = decode_claims(&encode(c.clone(), &kp, 1_700_000_000)).unwrap();
        assert_eq!(claims["jti"], again["jti"]);
        let other = decode_claims(&encode(c, &kp, 1_700_000_001)).unwrap();
        assert_ne!(claims["jti"], other["jti"]);
        assert_eq!(claims["jti"].as_str().unwrap().len(), 52);
    }
}
