//! Node configuration: defaults, then an optional TOML file, then `WOWLAB_NODE_*` environment
//! variables, then command-line overrides (applied by the caller on the returned struct).
//!
//! Every value is parsed by a typed accessor whose error names the offending key, so a typo in
//! `WOWLAB_NODE_MAX_PARALLEL=eight` fails at start-up with that name, not later with a panic.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

/// Prefix of every environment variable the node reads.
pub const ENV_PREFIX: &str = "WOWLAB_NODE_";

/// A configuration value that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A value does not parse or is out of range.
    #[error("invalid {key}={value:?}: {reason}")]
    Invalid {
        /// Environment variable or file key.
        key: String,
        /// The raw value (never a secret: secrets are not validated this way).
        value: String,
        /// What was expected.
        reason: String,
    },
    /// A required value is absent.
    #[error("missing {key}: {hint}")]
    Missing {
        /// Which key.
        key: &'static str,
        /// How to provide it.
        hint: &'static str,
    },
    /// The config file could not be read or parsed.
    #[error("config file {path}: {reason}")]
    File {
        /// Which file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err("expected `text` or `json`".into()),
        }
    }
}

/// A secret string that never shows up in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Everything the node needs to run.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Base URL of the sentinel, e.g. `https://grid.example.org`, or of several sentinels of
    /// one grid, comma-separated (calls fail over to the next one).
    pub sentinel_url: Option<String>,
    /// A user's claim token (never logged, never persisted).
    pub claim_token: Option<Secret>,
    /// Display name proposed at registration (host name by default).
    pub name: Option<String>,
    /// Parallel chunks at most; defaults to the number of physical cores.
    pub max_parallel: u32,
    /// Directory holding the key and the registration.
    pub data_dir: PathBuf,
    /// Fixed heartbeat interval instead of a third of the lease TTL.
    pub heartbeat: Option<Duration>,
    /// Log line format.
    pub log_format: LogFormat,
    /// Address to serve `/status` on; off when `None`.
    pub status_addr: Option<SocketAddr>,
    /// Timeout of one HTTP request to the sentinel.
    pub request_timeout: Duration,
    /// Attempts of one sentinel call on transient errors (≥ 1).
    pub attempts: u32,
    /// Lower bound of the idle lease-poll backoff. Work is pushed on `chunks:{node}` and
    /// refilled in completion replies; the poll is a safety net.
    pub poll_min: Duration,
    /// Upper bound of the idle lease-poll backoff.
    pub poll_max: Duration,
    /// How long a drain waits for running chunks before failing them.
    pub drain_timeout: Duration,
    /// Wall-time limit of one chunk: a chunk running longer is cancelled and reported failed
    /// (a safety limit for shared machines); `None` = unlimited.
    pub chunk_timeout: Option<Duration>,
}

impl NodeConfig {
    /// Defaults for this machine (data dir from XDG, one slot per physical core).
    pub fn defaults() -> Self {
        Self {
            sentinel_url: None,
            claim_token: None,
            name: None,
            max_parallel: physical_cores(),
            data_dir: default_data_dir(),
            heartbeat: None,
            log_format: LogFormat::Text,
            status_addr: None,
            request_timeout: Duration::from_secs(30),
            attempts: 5,
            poll_min: Duration::from_secs(1),
            poll_max: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(60),
            chunk_timeout: None,
        }
    }

    /// Defaults, then the file named by `WOWLAB_NODE_CONFIG` (if set), then the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_sources(None, |k| std::env::var(k).ok())
    }

    /// Defaults, then `file` (or the one named by `WOWLAB_NODE_CONFIG`), then variables from
    /// `env` (a lookup so tests need not touch the process environment).
    pub fn from_sources(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut cfg = Self::defaults();
        let env_file = env(&format!("{ENV_PREFIX}CONFIG")).map(PathBuf::from);
        if let Some(path) = file.map(Path::to_path_buf).or(env_file) {
            let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::File {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            cfg.apply_file(&path, &text)?;
        }
        cfg.apply_env(env)?;
        Ok(cfg)
    }

    fn apply_file(&mut self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let f: FileConfig = toml::from_str(text).map_err(|e| ConfigError::File {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let mut set = |key: &str, v: Option<String>| -> Result<(), ConfigError> {
            match v {
                Some(v) => self.set(key, &v),
                None => Ok(()),
            }
        };
        set("sentinel_url", f.sentinel_url)?;
        set("claim_token", f.claim_token)?;
        set("name", f.name)?;
        set("max_parallel", f.max_parallel.map(|v| v.to_string()))?;
        set("data_dir", f.data_dir)?;
        set("heartbeat_ms", f.heartbeat_ms.map(|v| v.to_string()))?;
        set("log_format", f.log_format)?;
        set("status_addr", f.status_addr)?;
        set(
            "request_timeout_ms",
            f.request_timeout_ms.map(|v| v.to_string()),
        )?;
        set("attempts", f.attempts.map(|v| v.to_string()))?;
        set("poll_min_ms", f.poll_min_ms.map(|v| v.to_string()))?;
        set("poll_max_ms", f.poll_max_ms.map(|v| v.to_string()))?;
        set(
            "drain_timeout_ms",
            f.drain_timeout_ms.map(|v| v.to_string()),
        )?;
        set(
            "chunk_timeout_ms",
            f.chunk_timeout_ms.map(|v| v.to_string()),
        )?;
        self.check_poll_bounds("poll_max_ms")
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        for key in KEYS {
            let var = format!("{ENV_PREFIX}{}", key.to_ascii_uppercase());
            if let Some(v) = env(&var) {
                self.set_named(key, &var, &v)?;
            }
        }
        self.check_poll_bounds("WOWLAB_NODE_POLL_MAX_MS")
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        self.set_named(key, key, value)
    }

    /// Sets `key` from `value`; errors name `shown` (the env var or file key).
    fn set_named(&mut self, key: &str, shown: &str, value: &str) -> Result<(), ConfigError> {
        let bad = |reason: &str| ConfigError::Invalid {
            key: shown.to_owned(),
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        let ms = |v: &str| -> Result<Duration, ConfigError> {
            v.trim()
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| bad("expected milliseconds as an integer"))
        };
        match key {
            "sentinel_url" => {
                // One URL, or several sentinels of one grid, comma-separated.
                let mut urls = Vec::new();
                for v in value.split(',') {
                    let v = v.trim().trim_end_matches('/');
                    if !(v.starts_with("http://") || v.starts_with("https://")) || v.len() < 9 {
                        return Err(bad(
                            "expected an http:// or https:// URL (or several, comma-separated)",
                        ));
                    }
                    urls.push(v);
                }
                self.sentinel_url = Some(urls.join(","));
            }
            "claim_token" => {
                let v = value.trim();
                if v.is_empty() {
                    // Never echo the value, even a broken one.
                    return Err(ConfigError::Invalid {
                        key: shown.to_owned(),
                        value: String::new(),
                        reason: "empty claim token".into(),
                    });
                }
                self.claim_token = Some(Secret::new(v));
            }
            "name" => {
                let v = value.trim();
                if v.is_empty() || v.chars().count() > 64 {
                    return Err(bad("expected 1-64 characters"));
                }
                self.name = Some(v.to_owned());
            }
            "max_parallel" => {
                let n: u32 = value
                    .trim()
                    .parse()
                    .map_err(|_| bad("expected a positive integer"))?;
                if n == 0 || n > 1024 {
                    return Err(bad("expected 1..=1024"));
                }
                self.max_parallel = n;
            }
            "data_dir" => {
                if value.trim().is_empty() {
                    return Err(bad("expected a path"));
                }
                self.data_dir = PathBuf::from(value.trim());
            }
            "heartbeat_ms" => {
                let d = ms(value)?;
                if d < Duration::from_millis(100) {
                    return Err(bad("expected at least 100 ms"));
                }
                self.heartbeat = Some(d);
            }
            "log_format" => self.log_format = value.parse().map_err(|e: String| bad(&e))?,
            "status_addr" => {
                self.status_addr = Some(
                    value
                        .trim()
                        .parse()
                        .map_err(|_| bad("expected host:port, e.g. 127.0.0.1:9100"))?,
                )
            }
            "request_timeout_ms" => {
                let d = ms(value)?;
                if d.is_zero() {
                    return Err(bad("expected more than 0"));
                }
                self.request_timeout = d;
            }
            "attempts" => {
                let n: u32 = value
                    .trim()
                    .parse()
                    .map_err(|_| bad("expected a positive integer"))?;
                if n == 0 || n > 100 {
                    return Err(bad("expected 1..=100"));
                }
                self.attempts = n;
            }
            "poll_min_ms" => self.poll_min = ms(value)?.max(Duration::from_millis(10)),
            "poll_max_ms" => self.poll_max = ms(value)?,
            "drain_timeout_ms" => self.drain_timeout = ms(value)?,
            // 0 means no limit, so a deployment can switch an inherited limit off.
            "chunk_timeout_ms" => self.chunk_timeout = Some(ms(value)?).filter(|d| !d.is_zero()),
            other => {
                return Err(ConfigError::Invalid {
                    key: other.to_owned(),
                    value: value.to_owned(),
                    reason: "unknown key".into(),
                })
            }
        }
        Ok(())
    }

    fn check_poll_bounds(&self, key: &str) -> Result<(), ConfigError> {
        if self.poll_max < self.poll_min {
            return Err(ConfigError::Invalid {
                key: key.to_owned(),
                value: self.poll_max.as_millis().to_string(),
                reason: format!("must be ≥ poll_min_ms ({})", self.poll_min.as_millis()),
            });
        }
        Ok(())
    }

    /// The sentinel URL, or a clear error when none was configured.
    pub fn require_sentinel(&self) -> Result<&str, ConfigError> {
        self.sentinel_url.as_deref().ok_or(ConfigError::Missing {
            key: "WOWLAB_NODE_SENTINEL_URL",
            hint: "pass --sentinel URL or set WOWLAB_NODE_SENTINEL_URL",
        })
    }
}

/// Keys settable from the environment (`WOWLAB_NODE_` + upper case) and the file.
const KEYS: [&str; 14] = [
    "sentinel_url",
    "claim_token",
    "name",
    "max_parallel",
    "data_dir",
    "heartbeat_ms",
    "log_format",
    "status_addr",
    "request_timeout_ms",
    "attempts",
    "poll_min_ms",
    "poll_max_ms",
    "drain_timeout_ms",
    "chunk_timeout_ms",
];

/// The TOML file's shape; unknown keys are refused so typos surface.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    sentinel_url: Option<String>,
    claim_token: Option<String>,
    name: Option<String>,
    max_parallel: Option<u32>,
    data_dir: Option<String>,
    heartbeat_ms: Option<u64>,
    log_format: Option<String>,
    status_addr: Option<String>,
    request_timeout_ms: Option<u64>,
    attempts: Option<u32>,
    poll_min_ms: Option<u64>,
    poll_max_ms: Option<u64>,
    drain_timeout_ms: Option<u64>,
    chunk_timeout_ms: Option<u64>,
}

/// Physical cores of this machine (at least 1).
pub fn physical_cores() -> u32 {
    num_cpus::get_physical().clamp(1, 1024) as u32
}

/// `$XDG_DATA_HOME/wowlab/node`, else `~/.local/share/wowlab/node`, else `./wowlab-node`.
pub fn default_data_dir() -> PathBuf {
    data_dir_from(|k| std::env::var_os(k).map(PathBuf::from))
}

fn data_dir_from(env: impl Fn(&str) -> Option<PathBuf>) -> PathBuf {
    if let Some(x) = env("XDG_DATA_HOME").filter(|p| p.is_absolute()) {
        return x.join("wowlab").join("node");
    }
    if let Some(home) = env("HOME").filter(|p| p.is_absolute()) {
        return home.join(".local/share/wowlab/node");
    }
    PathBuf::from("wowlab-node")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn defaults_are_sane() {
        let c = NodeConfig::from_sources(None, env(&[])).unwrap();
        assert!(c.max_parallel >= 1);
        assert_eq!(c.max_parallel, physical_cores());
        assert!(c.sentinel_url.is_none());
        assert!(c.require_sentinel().is_err());
        assert_eq!(c.log_format, LogFormat::Text);
        assert!(c.status_addr.is_none());
    }

    #[test]
    fn env_overrides_and_errors_name_the_variable() {
        let c = NodeConfig::from_sources(
            None,
            env(&[
                ("WOWLAB_NODE_SENTINEL_URL", "http://127.0.0.1:8080/"),
                ("WOWLAB_NODE_MAX_PARALLEL", "3"),
                ("WOWLAB_NODE_HEARTBEAT_MS", "1500"),
                ("WOWLAB_NODE_LOG_FORMAT", "JSON"),
                ("WOWLAB_NODE_CLAIM_TOKEN", "ct_secret_value"),
            ]),
        )
        .unwrap();
        assert_eq!(c.sentinel_url.as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(c.max_parallel, 3);
        assert_eq!(c.heartbeat, Some(Duration::from_millis(1500)));
        assert_eq!(c.log_format, LogFormat::Json);
        assert!(!format!("{c:?}").contains("ct_secret_value"));

        let err = NodeConfig::from_sources(None, env(&[("WOWLAB_NODE_MAX_PARALLEL", "eight")]))
            .unwrap_err();
        assert!(
            err.to_string().contains("WOWLAB_NODE_MAX_PARALLEL"),
            "{err}"
        );
        let err = NodeConfig::from_sources(None, env(&[("WOWLAB_NODE_SENTINEL_URL", "ftp://x")]))
            .unwrap_err();
        assert!(
            err.to_string().contains("WOWLAB_NODE_SENTINEL_URL"),
            "{err}"
        );
        let err =
            NodeConfig::from_sources(None, env(&[("WOWLAB_NODE_CLAIM_TOKEN", " ")])).unwrap_err();
        assert!(err.to_string().contains("WOWLAB_NODE_CLAIM_TOKEN"), "{err}");
    }

    #[test]
    fn several_sentinel_urls_are_kept_as_a_list_and_each_is_checked() {
        let mut c = NodeConfig::defaults();
        c.set("sentinel_url", " http://a:1/ , https://b:2").unwrap();
        assert_eq!(c.sentinel_url.as_deref(), Some("http://a:1,https://b:2"));
        assert!(matches!(
            c.set("sentinel_url", "http://a:1,ftp://b"),
            Err(ConfigError::Invalid { .. })
        ));
    }

    #[test]
    fn file_then_env() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(
            &path,
            "sentinel_url = \"https://grid.example.org\"\nmax_parallel = 2\nname = \"box\"\n",
        )
        .unwrap();
        let c = NodeConfig::from_sources(Some(&path), env(&[("WOWLAB_NODE_MAX_PARALLEL", "5")]))
            .unwrap();
        assert_eq!(c.sentinel_url.as_deref(), Some("https://grid.example.org"));
        assert_eq!(c.name.as_deref(), Some("box"));
        assert_eq!(c.max_parallel, 5);

        std::fs::write(&path, "max_paralel = 2\n").unwrap();
        let err = NodeConfig::from_sources(Some(&path), env(&[])).unwrap_err();
        assert!(err.to_string().contains("max_paralel"), "{err}");
        std::fs::write(&path, "max_parallel = 0\n").unwrap();
        let err = NodeConfig::from_sources(Some(&path), env(&[])).unwrap_err();
        assert!(err.to_string().contains("max_parallel"), "{err}");
    }

    #[test]
    fn chunk_timeout_from_file_and_env_zero_is_unlimited() {
        assert_eq!(NodeConfig::defaults().chunk_timeout, None);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, "chunk_timeout_ms = 5000\n").unwrap();
        let c = NodeConfig::from_sources(Some(&path), env(&[])).unwrap();
        assert_eq!(c.chunk_timeout, Some(Duration::from_millis(5000)));
        let c =
            NodeConfig::from_sources(Some(&path), env(&[("WOWLAB_NODE_CHUNK_TIMEOUT_MS", "0")]))
                .unwrap();
        assert_eq!(c.chunk_timeout, None);
        let err = NodeConfig::from_sources(None, env(&[("WOWLAB_NODE_CHUNK_TIMEOUT_MS", "1s")]))
            .unwrap_err();
        assert!(
            err.to_string().contains("WOWLAB_NODE_CHUNK_TIMEOUT_MS"),
            "{err}"
        );
    }

    #[test]
    fn data_dir_follows_xdg_then_home() {
        let e = |pairs: Vec<(&'static str, &'static str)>| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| PathBuf::from(v))
            }
        };
        assert_eq!(
            data_dir_from(e(vec![("XDG_DATA_HOME", "/x"), ("HOME", "/h")])),
            PathBuf::from("/x/wowlab/node")
        );
        assert_eq!(
            data_dir_from(e(vec![("HOME", "/h")])),
            PathBuf::from("/h/.local/share/wowlab/node")
        );
    }
}
