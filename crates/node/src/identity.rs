//! The node's Ed25519 identity and its persisted registration, both in the data dir.
//!
//! The key file holds the raw 32-byte secret seed with mode 0600. An existing key is never
//! replaced: a corrupt, short or world-readable key file is an error the operator must resolve,
//! because a new key would silently turn the machine into a different (unclaimed) node.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use wowlab_api::signing::NodeKey;
use wowlab_api::NodeId;

/// File name of the secret seed inside the data dir.
pub const KEY_FILE: &str = "node.key";
/// File name of the persisted registration inside the data dir.
pub const STATE_FILE: &str = "node.json";

/// Why the identity could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Filesystem failure (creating the dir, reading or writing a file).
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// Which path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The key file exists but is not exactly 32 bytes.
    #[error("key file {path} is corrupt: expected 32 bytes, found {len}; move it away to create a new identity (the node will need to be claimed again)")]
    Corrupt {
        /// Which file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// The key file is readable by group or others.
    #[error("key file {path} has mode {mode:o}; it must be 0600 (run `chmod 600 {path}`)")]
    Permissions {
        /// Which file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The operating system RNG failed.
    #[error("generating a key: {0}")]
    Rng(String),
    /// The state file is not valid JSON of the expected shape.
    #[error("state file {path} is corrupt: {reason}")]
    BadState {
        /// Which file.
        path: PathBuf,
        /// Parse error.
        reason: String,
    },
}

fn io<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> IdentityError + 'a {
    move |source| IdentityError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Loads the key from `data_dir`, creating the dir (0700) and a fresh key (0600) on first run.
/// Returns the key and whether it was just created.
pub fn load_or_create_key(data_dir: &Path) -> Result<(NodeKey, bool), IdentityError> {
    let path = data_dir.join(KEY_FILE);
    match load_key(&path) {
        Ok(key) => return Ok((key, false)),
        Err(IdentityError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    create_dir(data_dir)?;
    let key = NodeKey::generate().map_err(|e| IdentityError::Rng(e.to_string()))?;
    write_new_key(&path, &key.seed())?;
    tracing::info!(path = %path.display(), public_key = %key.public_base64(), "created node identity");
    Ok((key, true))
}

/// Loads an existing key file, checking its length and (on Unix) its mode.
pub fn load_key(path: &Path) -> Result<NodeKey, IdentityError> {
    let meta = fs::metadata(path).map_err(io("reading", path))?;
    check_mode(path, &meta)?;
    let bytes = fs::read(path).map_err(io("reading", path))?;
    let seed: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| IdentityError::Corrupt {
            path: path.to_path_buf(),
            len: bytes.len() as u64,
        })?;
    Ok(NodeKey::from_seed(&seed))
}

#[cfg(unix)]
fn check_mode(path: &Path, meta: &fs::Metadata) -> Result<(), IdentityError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(IdentityError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_path: &Path, _meta: &fs::Metadata) -> Result<(), IdentityError> {
    Ok(())
}

fn create_dir(dir: &Path) -> Result<(), IdentityError> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        b.mode(0o700);
    }
    b.create(dir).map_err(io("creating", dir))
}

/// Writes the seed with `create_new` so a concurrent first run never overwrites a key.
fn write_new_key(path: &Path, seed: &[u8; 32]) -> Result<(), IdentityError> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(io("creating", path))?;
    f.write_all(seed).map_err(io("writing", path))?;
    f.sync_all().map_err(io("syncing", path))
}

/// What the node remembers about its registration (never the claim token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeState {
    /// Id the sentinel assigned.
    pub node_id: NodeId,
    /// Sentinel that assigned it; another sentinel means another registration.
    pub sentinel_url: String,
}

/// Reads the persisted registration, `None` when there is none yet.
pub fn load_state(data_dir: &Path) -> Result<Option<NodeState>, IdentityError> {
    let path = data_dir.join(STATE_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("reading", &path)(e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| IdentityError::BadState {
            path,
            reason: e.to_string(),
        })
}

/// Persists the registration atomically (write to a temp file, then rename).
pub fn save_state(data_dir: &Path, state: &NodeState) -> Result<(), IdentityError> {
    create_dir(data_dir)?;
    let path = data_dir.join(STATE_FILE);
    let tmp = data_dir.join(format!("{STATE_FILE}.tmp"));
    let json = serde_json::to_vec_pretty(state).map_err(|e| IdentityError::BadState {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    fs::write(&tmp, json).map_err(io("writing", &tmp))?;
    fs::rename(&tmp, &path).map_err(io("renaming", &path))
}

/// Forgets the registration (after an unlink or when the sentinel no longer knows the node).
pub fn clear_state(data_dir: &Path) -> Result<(), IdentityError> {
    let path = data_dir.join(STATE_FILE);
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io("removing", &path)(e)),
    }
}
