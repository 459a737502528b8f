//! Configuration in the Centrifugo v6 JSON layout.
//!
//! Every key of Centrifugo v6's configuration is recognised: the ones beacon supports work, the
//! others are ignored and named in one start-up warning ([`Config::unsupported_keys`]); unknown
//! keys (typos) are rejected with the key path and the nearest valid name. Every key can be overridden from the
//! environment with the prefix `WOWLAB_BEACON_` (Centrifugo's `CENTRIFUGO_` convention:
//! `WOWLAB_BEACON_HTTP_SERVER_PORT=8123`, `WOWLAB_BEACON_CHANNEL_NAMESPACES="a b"` followed by
//! `WOWLAB_BEACON_CHANNEL_NAMESPACES_A_PRESENCE=true`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::Path;

mod catalog;
mod duration;
mod engines;
mod env;
mod keys;

pub use duration::Duration;
pub use engines::{
    BrokerChoice, BrokerSection, Engine, NatsOptions, NatsOptionsRef, PresenceChoice,
    PresenceManagerSection, RedisOptions, RedisOptionsRef,
};

/// Prefix of environment variables that override config keys.
pub const ENV_PREFIX: &str = "WOWLAB_BEACON_";

/// Errors while loading or validating a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("reading config file {path}: {source}")]
    Read {
        /// File path.
        path: String,
        /// IO error.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("config is not valid JSON: {0}")]
    Json(serde_json::Error),
    /// A key is unknown or a value has the wrong type; `path` names the key.
    #[error("config key `{path}`: {message}")]
    Key {
        /// Dotted key path, e.g. `client.token.hmac_secret_key`.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// An environment override could not be applied.
    #[error("environment variable {var}: {message}")]
    Env {
        /// Variable name.
        var: String,
        /// What is wrong.
        message: String,
    },
    /// The values are individually fine but do not make sense together.
    #[error("invalid config: {0}")]
    Invalid(String),
}

/// Root of the beacon configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Listener settings.
    pub http_server: HttpServer,
    /// Log settings (level is applied by the binary through `RUST_LOG` when unset).
    pub log: Log,
    /// Client connection settings.
    pub client: Client,
    /// Channel and namespace settings.
    pub channel: Channel,
    /// RPC settings.
    pub rpc: Rpc,
    /// Server HTTP API settings.
    pub http_api: HttpApi,
    /// WebSocket transport settings.
    pub websocket: WebSocket,
    /// SSE emulation transport.
    pub sse: Toggle,
    /// HTTP-streaming emulation transport.
    pub http_stream: Toggle,
    /// Engine selection: `memory` or `redis`.
    pub engine: Engine,
    /// Separate broker (when `enabled`): `memory`, `redis` or `nats`.
    pub broker: BrokerSection,
    /// Separate presence manager (when `enabled`): `memory` or `redis`.
    pub presence_manager: PresenceManagerSection,
    /// `/health` and `/readyz` endpoints.
    pub health: EnabledByDefault,
    /// Prometheus `/metrics` endpoint.
    pub prometheus: EnabledByDefault,
    /// Keys of the loaded document that Centrifugo v6 knows but beacon does not implement
    /// (ignored; see [`Config::warn_unsupported`]).
    #[serde(skip)]
    pub unsupported_keys: Vec<String>,
}

/// `http_server` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpServer {
    /// Bind address.
    pub address: String,
    /// Bind port.
    pub port: u16,
}

impl Default for HttpServer {
    fn default() -> Self {
        Self {
            address: "127.0.0.1".into(),
            port: 8000,
        }
    }
}

/// `log` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Log {
    /// Level: trace, debug, info, warn, error, none.
    pub level: String,
}

impl Default for Log {
    fn default() -> Self {
        Self {
            level: "info".into(),
        }
    }
}

/// `client` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Client {
    /// Connection token verification.
    pub token: Token,
    /// Separate subscription token key (else `client.token` verifies subscription tokens).
    pub subscription_token: SubscriptionToken,
    /// Origin patterns allowed to connect (empty: only requests without `Origin`).
    pub allowed_origins: Vec<String>,
    /// Accept connections without a token as anonymous.
    pub allow_anonymous_connect_without_token: bool,
    /// Reject tokens with an empty `sub`.
    pub disallow_anonymous_connection_tokens: bool,
    /// Disable every auth and permission check (test setups only).
    pub insecure: bool,
    /// Interval between server pings.
    pub ping_interval: Duration,
    /// How long to wait for a pong after a ping.
    pub pong_timeout: Duration,
    /// Grace period after connection expiry before disconnect 3005.
    pub expired_close_delay: Duration,
    /// Grace period after subscription expiry.
    pub expired_sub_close_delay: Duration,
    /// Time allowed to send `connect` before disconnect 3502.
    pub stale_close_delay: Duration,
    /// Max channels per connection.
    pub channel_limit: usize,
    /// Max open client connections on this node (0: unlimited); beyond it the connection
    /// endpoints answer 503 before the upgrade, as Centrifugo does.
    pub connection_limit: usize,
    /// Max connections of one user on this node (0: unlimited; anonymous connections are not
    /// counted); a connect over it gets disconnect 3504 "connection limit".
    pub user_connection_limit: usize,
    /// Max bytes queued for one connection before disconnect 3008.
    pub queue_max_size: usize,
    /// How often presence entries are refreshed.
    pub presence_update_interval: Duration,
    /// How often each node compares what it delivered on a channel with the stream top in the
    /// shared history (NATS/Redis brokers) and delivers what it missed.
    pub channel_position_check_delay: Duration,
    /// Cap for client history requests.
    pub history_max_publication_limit: usize,
    /// Cap for publications returned by recovery.
    pub recovery_max_publication_limit: usize,
    /// Include `time` (ms) in the connect result.
    pub connect_include_server_time: bool,
    /// Automatic subscription to `#<user>`.
    pub subscribe_to_user_personal_channel: PersonalChannel,
}

impl Default for Client {
    fn default() -> Self {
        Self {
            token: Token::default(),
            subscription_token: SubscriptionToken::default(),
            allowed_origins: Vec::new(),
            allow_anonymous_connect_without_token: false,
            disallow_anonymous_connection_tokens: false,
            insecure: false,
            ping_interval: Duration::from_secs(25),
            pong_timeout: Duration::from_secs(8),
            expired_close_delay: Duration::from_secs(25),
            expired_sub_close_delay: Duration::from_secs(25),
            stale_close_delay: Duration::from_secs(10),
            channel_limit: 128,
            connection_limit: 0,
            user_connection_limit: 0,
            queue_max_size: 1_048_576,
            presence_update_interval: Duration::from_secs(27),
            channel_position_check_delay: Duration::from_secs(40),
            history_max_publication_limit: 300,
            recovery_max_publication_limit: 300,
            connect_include_server_time: false,
            subscribe_to_user_personal_channel: PersonalChannel::default(),
        }
    }
}

/// `client.token` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Token {
    /// HS256/384/512 secret.
    pub hmac_secret_key: String,
    /// Required `aud` claim (checked when non-empty).
    pub audience: String,
    /// Required `iss` claim (checked when non-empty).
    pub issuer: String,
}

/// `client.subscription_token` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubscriptionToken {
    /// Use this section's key for subscription tokens.
    pub enabled: bool,
    /// HMAC secret for subscription tokens.
    pub hmac_secret_key: String,
    /// Required `aud` claim (checked when non-empty).
    pub audience: String,
    /// Required `iss` claim (checked when non-empty).
    pub issuer: String,
}

/// `client.subscribe_to_user_personal_channel` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PersonalChannel {
    /// Subscribe every authenticated connection to its personal channel.
    pub enabled: bool,
    /// Namespace of the personal channel (`ns:#user`), empty for `#user`.
    pub personal_channel_namespace: String,
}

/// `channel` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Channel {
    /// Options for channels without a namespace.
    pub without_namespace: ChannelOptions,
    /// Named namespaces.
    pub namespaces: Vec<ChannelOptions>,
    /// Prefix of private channels needing a subscription token.
    pub private_prefix: String,
    /// Separator between namespace and channel name.
    pub namespace_boundary: String,
    /// Marker of user-limited channels.
    pub user_boundary: String,
    /// Separator of users in user-limited channels.
    pub user_separator: String,
    /// Max channel name length.
    pub max_length: usize,
}

impl Default for Channel {
    fn default() -> Self {
        Self {
            without_namespace: ChannelOptions::default(),
            namespaces: Vec::new(),
            private_prefix: "$".into(),
            namespace_boundary: ":".into(),
            user_boundary: "#".into(),
            user_separator: ",".into(),
            max_length: 255,
        }
    }
}

/// Options of a namespace (`name` set) or of channels without a namespace (`name` empty).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelOptions {
    /// Namespace name (only in `channel.namespaces`).
    pub name: String,
    /// Keep presence for subscribers.
    pub presence: bool,
    /// Emit join/leave messages.
    pub join_leave: bool,
    /// Push join/leave to every subscriber.
    pub force_push_join_leave: bool,
    /// Number of publications kept in history (0: off).
    pub history_size: usize,
    /// How long history is kept after the last publication (0: off).
    pub history_ttl: Duration,
    /// How long the stream position outlives the data.
    pub history_meta_ttl: Duration,
    /// Position every subscription.
    pub force_positioning: bool,
    /// Let clients ask for positioning.
    pub allow_positioning: bool,
    /// Make every subscription recoverable.
    pub force_recovery: bool,
    /// Let clients ask for recovery.
    pub allow_recovery: bool,
    /// Recovery mode: `stream` (default) or `cache`.
    pub force_recovery_mode: String,
    /// Anonymous users may subscribe where clients may.
    pub allow_subscribe_for_anonymous: bool,
    /// Any authenticated client may subscribe.
    pub allow_subscribe_for_client: bool,
    /// Anonymous users may publish where clients/subscribers may.
    pub allow_publish_for_anonymous: bool,
    /// Subscribers may publish.
    pub allow_publish_for_subscriber: bool,
    /// Any client may publish.
    pub allow_publish_for_client: bool,
    /// Anonymous users get presence where clients/subscribers do.
    pub allow_presence_for_anonymous: bool,
    /// Subscribers may read presence.
    pub allow_presence_for_subscriber: bool,
    /// Any client may read presence.
    pub allow_presence_for_client: bool,
    /// Anonymous users get history where clients/subscribers do.
    pub allow_history_for_anonymous: bool,
    /// Subscribers may read history.
    pub allow_history_for_subscriber: bool,
    /// Any client may read history.
    pub allow_history_for_client: bool,
    /// Allow `#user1,user2` channels.
    pub allow_user_limited_channels: bool,
    /// Regex the part after the namespace must match (empty: any).
    pub channel_regex: String,
    /// Delta types subscribers may negotiate (only `fossil` exists).
    pub allowed_delta_types: Vec<String>,
    /// Publications go out as deltas to subscribers that negotiated delta compression.
    pub delta_publish: bool,
}

impl Default for ChannelOptions {
    fn default() -> Self {
        Self {
            name: String::new(),
            presence: false,
            join_leave: false,
            force_push_join_leave: false,
            history_size: 0,
            history_ttl: Duration::ZERO,
            history_meta_ttl: Duration::from_secs(720 * 3600),
            force_positioning: false,
            allow_positioning: false,
            force_recovery: false,
            allow_recovery: false,
            force_recovery_mode: String::new(),
            allow_subscribe_for_anonymous: false,
            allow_subscribe_for_client: false,
            allow_publish_for_anonymous: false,
            allow_publish_for_subscriber: false,
            allow_publish_for_client: false,
            allow_presence_for_anonymous: false,
            allow_presence_for_subscriber: false,
            allow_presence_for_client: false,
            allow_history_for_anonymous: false,
            allow_history_for_subscriber: false,
            allow_history_for_client: false,
            allow_user_limited_channels: false,
            channel_regex: String::new(),
            allowed_delta_types: Vec::new(),
            delta_publish: false,
        }
    }
}

impl ChannelOptions {
    /// Subscribers may negotiate fossil delta compression.
    pub fn allows_fossil(&self) -> bool {
        self.allowed_delta_types.iter().any(|t| t == "fossil")
    }

    /// History is kept when both size and ttl are set.
    pub fn history_enabled(&self) -> bool {
        self.history_size > 0 && !self.history_ttl.is_zero()
    }
}

/// `rpc` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rpc {
    /// Built-in `ping` RPC method.
    pub ping: RpcPing,
}

/// `rpc.ping` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RpcPing {
    /// Answer the ping method with empty data.
    pub enabled: bool,
    /// Method name.
    pub method: String,
}

impl Default for RpcPing {
    fn default() -> Self {
        Self {
            enabled: false,
            method: "ping".into(),
        }
    }
}

/// `http_api` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpApi {
    /// API key (empty: every request is refused unless `insecure`).
    pub key: String,
    /// Disable API key checks.
    pub insecure: bool,
    /// Beacon extension (not a Centrifugo key): also accept the key as `?api_key=`. Off by
    /// default because query strings end up in access logs, proxies and browser history.
    pub allow_key_in_query: bool,
    /// `""` (HTTP 200 + error body) or `"transport"` (HTTP status codes).
    pub error_mode: String,
}

/// `websocket` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebSocket {
    /// Max incoming message size; larger closes with 1009.
    pub message_size_limit: usize,
    /// Write timeout per frame.
    pub write_timeout: Duration,
    /// Read buffer size per connection (bytes).
    pub read_buffer_size: usize,
}

impl Default for WebSocket {
    fn default() -> Self {
        Self {
            message_size_limit: 65536,
            write_timeout: Duration::from_secs(1),
            read_buffer_size: 1024,
        }
    }
}

/// A transport switched off by default.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Toggle {
    /// Turn it on.
    pub enabled: bool,
}

/// An endpoint switched on by default.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnabledByDefault {
    /// Turn it off with `false`.
    pub enabled: bool,
}

impl Default for EnabledByDefault {
    fn default() -> Self {
        Self { enabled: true }
    }
}

impl Config {
    /// Defaults plus environment overrides.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_value(Value::Object(Map::new()), std::env::vars())
    }

    /// Reads a JSON file, then applies environment overrides.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json_str_with_env(&text, std::env::vars())
    }

    /// Parses a JSON document without environment overrides.
    pub fn from_json_str(text: &str) -> Result<Self, ConfigError> {
        Self::from_json_str_with_env(text, std::iter::empty())
    }

    /// Parses a JSON document and applies the given `(name, value)` environment pairs.
    pub fn from_json_str_with_env(
        text: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let value: Value = serde_json::from_str(text).map_err(ConfigError::Json)?;
        Self::from_value(value, vars)
    }

    fn from_value(
        mut value: Value,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        if !value.is_object() {
            return Err(ConfigError::Key {
                path: ".".into(),
                message: "the config must be a JSON object".into(),
            });
        }
        let mut unsupported = env::apply(&mut value, vars)?;
        unsupported.extend(keys::strip_unsupported(&mut value)?);
        let mut cfg: Config = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            ConfigError::Key {
                path,
                message: e.into_inner().to_string(),
            }
        })?;
        cfg.unsupported_keys = unsupported;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Logs the recognised-but-unsupported keys, all in one warning (nothing when none).
    pub fn warn_unsupported(&self) {
        if !self.unsupported_keys.is_empty() {
            tracing::warn!(
                keys = %self.unsupported_keys.join(", "),
                "config keys of Centrifugo v6 that beacon does not implement are ignored"
            );
        }
    }

    /// Checks cross-field rules.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_engines()?;
        if !self.channel.without_namespace.name.is_empty() {
            return Err(ConfigError::Invalid(
                "channel.without_namespace.name must not be set".into(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for ns in &self.channel.namespaces {
            if ns.name.is_empty() {
                return Err(ConfigError::Invalid(
                    "every channel.namespaces entry needs a name".into(),
                ));
            }
            if !ns
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
            {
                return Err(ConfigError::Invalid(format!(
                    "namespace name `{}` has invalid characters",
                    ns.name
                )));
            }
            if !seen.insert(ns.name.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "namespace `{}` is defined twice",
                    ns.name
                )));
            }
        }
        for ns in self
            .channel
            .namespaces
            .iter()
            .chain(std::iter::once(&self.channel.without_namespace))
        {
            if !matches!(ns.force_recovery_mode.as_str(), "" | "stream" | "cache") {
                return Err(ConfigError::Invalid(format!(
                    "force_recovery_mode `{}` must be `stream` or `cache`",
                    ns.force_recovery_mode
                )));
            }
            if let Some(t) = ns
                .allowed_delta_types
                .iter()
                .find(|t| t.as_str() != "fossil")
            {
                return Err(ConfigError::Invalid(format!(
                    "allowed_delta_types: unknown delta type `{t}` (only `fossil` exists)"
                )));
            }
            if !ns.channel_regex.is_empty() {
                return Err(ConfigError::Invalid(
                    "channel_regex is not supported yet".into(),
                ));
            }
        }
        if self.client.ping_interval.is_zero() {
            return Err(ConfigError::Invalid(
                "client.ping_interval must be > 0".into(),
            ));
        }
        if self.client.channel_position_check_delay.is_zero() {
            return Err(ConfigError::Invalid(
                "client.channel_position_check_delay must be > 0".into(),
            ));
        }
        if !matches!(self.http_api.error_mode.as_str(), "" | "transport") {
            return Err(ConfigError::Invalid(
                "http_api.error_mode must be \"\" or \"transport\"".into(),
            ));
        }
        if self.websocket.message_size_limit == 0 {
            return Err(ConfigError::Invalid(
                "websocket.message_size_limit must be > 0".into(),
            ));
        }
        Ok(())
    }

    /// `address:port` to bind.
    pub fn listen_addr(&self) -> String {
        if self.http_server.address.contains(':') {
            format!("[{}]:{}", self.http_server.address, self.http_server.port)
        } else {
            format!("{}:{}", self.http_server.address, self.http_server.port)
        }
    }
}

#[cfg(test)]
mod tests;
