//! When API tokens were last used, recorded cheaply: this process remembers when it last wrote
//! each token's use and writes again only after [`TOKEN_USE_GRANULARITY`], off the request
//! path; the store's guarded UPDATE keeps several sentinels to about one write a minute too.

use std::collections::HashMap;

use parking_lot::Mutex;

use crate::domain::{TokenHash, UnixMillis};
use crate::store::TOKEN_USE_GRANULARITY;

/// Tokens remembered before old entries are dropped (a bound, not a cache size to tune).
const MAX_REMEMBERED: usize = 10_000;

/// Per-token time of the last recorded use.
#[derive(Debug, Default)]
pub struct TokenUse {
    written: Mutex<HashMap<TokenHash, UnixMillis>>,
}

impl TokenUse {
    /// Whether a use of `hash` at `now` should be written (and, if so, notes it as written).
    pub fn due(&self, hash: &TokenHash, now: UnixMillis) -> bool {
        let gap = TOKEN_USE_GRANULARITY.as_millis() as u64;
        let mut w = self.written.lock();
        if w.get(hash).is_some_and(|&t| now.0 < t.0 + gap) {
            return false;
        }
        if w.len() >= MAX_REMEMBERED {
            w.retain(|_, t| now.0 < t.0 + gap);
        }
        w.insert(hash.clone(), now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_write_per_token_per_minute() {
        let u = TokenUse::default();
        let (a, b) = (TokenHash::of("a"), TokenHash::of("b"));
        assert!(u.due(&a, UnixMillis(1_000)));
        assert!(!u.due(&a, UnixMillis(1_000 + 59_999)));
        assert!(u.due(&b, UnixMillis(2_000)), "tokens are apart");
        assert!(u.due(&a, UnixMillis(61_000)));
        assert!(!u.due(&a, UnixMillis(61_001)));
    }
}
