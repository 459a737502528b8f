//! Claim codes: what an unowned node shows so its owner can claim it in the studio. A code
//! works for an hour and is stored only as its SHA-256, so a database dump reveals no valid
//! code. The node asks again (it polls registration until claimed), so the sentinel must be
//! able to repeat the code without storing it: the code is derived from a per-process random
//! key, the node id and the expiry. After a restart (new key) or the expiry, the node is given
//! a fresh code on its next poll and shows that one.

use std::sync::OnceLock;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::domain::{NodeId, TokenHash, UnixMillis};
use crate::http::ApiError;
use crate::store::{Node, PendingClaim, Store};

/// How long a claim code works.
pub const CLAIM_CODE_TTL: Duration = Duration::from_secs(3600);

static KEY: OnceLock<[u8; 32]> = OnceLock::new();

fn key() -> Result<&'static [u8; 32], ApiError> {
    if let Some(k) = KEY.get() {
        return Ok(k);
    }
    let mut k = [0u8; 32];
    getrandom::fill(&mut k).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(KEY.get_or_init(|| k))
}

/// The code of `node` expiring at `expires_at`: `XXXX-XXXX` from an alphabet without
/// look-alikes (no 0/O, 1/I); 40 bits.
fn derive(node: NodeId, expires_at: UnixMillis) -> Result<String, ApiError> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let digest = Sha256::new()
        .chain_update(key()?)
        .chain_update(node.to_string().as_bytes())
        .chain_update(expires_at.as_i64().to_be_bytes())
        .finalize();
    let mut code = String::with_capacity(9);
    for (i, b) in digest.iter().take(8).enumerate() {
        if i == 4 {
            code.push('-');
        }
        // 256 is a multiple of 32: no modulo bias.
        code.push(ALPHABET[usize::from(*b) % 32] as char);
    }
    Ok(code)
}

/// A fresh code for `node` (expiring [`CLAIM_CODE_TTL`] after `now`) and what to store.
/// `attempt` shifts the expiry by that many milliseconds so a retry after a (rare) collision
/// yields another code.
pub fn fresh(
    node: NodeId,
    now: UnixMillis,
    attempt: u32,
) -> Result<(String, PendingClaim), ApiError> {
    let expires_at = now.plus(CLAIM_CODE_TTL + Duration::from_millis(u64::from(attempt)));
    let code = derive(node, expires_at)?;
    Ok((
        code.clone(),
        PendingClaim {
            hash: TokenHash::of(&code),
            expires_at,
        },
    ))
}

/// The code an unowned `node` shows now: its stored one while it works and this process can
/// repeat it, else a fresh one (stored). `None` for an owned node.
pub async fn current(
    store: &dyn Store,
    node: &Node,
    now: UnixMillis,
) -> Result<Option<String>, ApiError> {
    if node.owner.is_some() {
        return Ok(None);
    }
    if let Some(pending) = &node.claim_code {
        if pending.expires_at > now {
            let code = derive(node.id, pending.expires_at)?;
            if TokenHash::of(&code) == pending.hash {
                return Ok(Some(code));
            }
        }
    }
    for attempt in 0..3 {
        let (code, pending) = fresh(node.id, now, attempt)?;
        match store.renew_claim_code(node.id, &pending).await {
            Ok(true) => return Ok(Some(code)),
            // Claimed meanwhile: no code to show.
            Ok(false) => return Ok(None),
            Err(crate::store::StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Unavailable(
        "could not allocate a claim code".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_repeatable_per_node_and_expiry_and_look_right() {
        let (a, b) = (NodeId::new(), NodeId::new());
        let t = UnixMillis(1_800_000_000_000);
        let code = derive(a, t).unwrap();
        assert_eq!(code, derive(a, t).unwrap());
        assert_ne!(code, derive(b, t).unwrap());
        assert_ne!(code, derive(a, t.plus(Duration::from_millis(1))).unwrap());
        assert_eq!(code.len(), 9);
        assert_eq!(&code[4..5], "-");
        assert!(code
            .chars()
            .all(|c| c == '-' || (c.is_ascii_alphanumeric() && !"01IO".contains(c))));
        let (shown, stored) = fresh(a, t, 0).unwrap();
        assert_eq!(stored.hash, TokenHash::of(&shown));
        assert_ne!(stored.hash.as_str(), shown);
        assert_eq!(stored.expires_at, t.plus(CLAIM_CODE_TTL));
    }
}
