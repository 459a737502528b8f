//! Secrets of the embedded grid, generated on first start and kept in `secrets.json` (0600) in
//! the data directory so tokens and the beacon API key survive restarts.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// The generated secrets.
#[derive(Clone, Serialize, Deserialize)]
pub struct Secrets {
    /// HMAC key of beacon connection and subscription tokens.
    pub token_hmac_secret: String,
    /// Key of beacon's server API.
    pub beacon_api_key: String,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(..)")
    }
}

const FILE: &str = "secrets.json";

impl Secrets {
    /// Reads `dir/secrets.json`, or creates it with fresh random secrets (mode 0600).
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                return serde_json::from_slice(&bytes)
                    .with_context(|| format!("{} is not valid", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        }
        let s = Self {
            token_hmac_secret: random_hex()?,
            beacon_api_key: random_hex()?,
        };
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        f.write_all(&serde_json::to_vec_pretty(&s)?)?;
        f.sync_all()?;
        Ok(s)
    }
}

fn random_hex() -> anyhow::Result<String> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(raw.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_private_and_reloaded() {
        let dir = std::env::temp_dir().join(format!("wowlab-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = Secrets::load_or_create(&dir).unwrap();
        let b = Secrets::load_or_create(&dir).unwrap();
        assert_eq!(a.token_hmac_secret, b.token_hmac_secret);
        assert_eq!(a.token_hmac_secret.len(), 64);
        assert_ne!(a.token_hmac_secret, a.beacon_api_key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.join(FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
