//! Engine sections in Centrifugo v6's layout: `engine` (`memory` | `redis`: broker and
//! presence together), and, when `enabled`, a separate `broker` (`memory` | `redis` | `nats`)
//! and `presence_manager` (`memory` | `redis`), each with its `redis` / `nats` sub-object.
//!
//! Beyond Centrifugo: the NATS broker keeps history and recovery working across beacons when
//! the presence manager (or engine) is Redis, by storing the streams in that Redis.

use super::{ConfigError, Duration};
use serde::{Deserialize, Serialize};

/// `engine` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Engine {
    /// `memory` (single node) or `redis` (broker + presence in Redis).
    #[serde(rename = "type")]
    pub kind: String,
    /// Memory presence entry TTL (entries not refreshed within it disappear).
    pub presence_ttl: Duration,
    /// Redis options of `type: redis`.
    pub redis: RedisOptions,
}

impl Default for Engine {
    fn default() -> Self {
        Self {
            kind: "memory".into(),
            presence_ttl: Duration::from_secs(60),
            redis: RedisOptions::default(),
        }
    }
}

/// A `redis` sub-object.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisOptions {
    /// `redis://[user:password@]host:port[/db]`.
    pub address: String,
    /// Prefix of every key and pub/sub channel.
    pub prefix: String,
    /// Presence entry lifetime without a refresh.
    pub presence_ttl: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            address: "redis://127.0.0.1:6379".into(),
            prefix: "centrifugo".into(),
            presence_ttl: Duration::from_secs(60),
        }
    }
}

/// A `nats` sub-object.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsOptions {
    /// `nats://host:port`.
    pub url: String,
    /// Subject prefix.
    pub prefix: String,
}

impl Default for NatsOptions {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            prefix: "centrifugo".into(),
        }
    }
}

/// `broker` section (used when `enabled`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerSection {
    /// Use this section instead of `engine` for the broker.
    pub enabled: bool,
    /// `memory`, `redis` or `nats`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Options of `type: nats`.
    pub nats: NatsOptions,
    /// Options of `type: redis`.
    pub redis: RedisOptions,
}

impl Default for BrokerSection {
    fn default() -> Self {
        Self {
            enabled: false,
            kind: "nats".into(),
            nats: NatsOptions::default(),
            redis: RedisOptions::default(),
        }
    }
}

/// `presence_manager` section (used when `enabled`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PresenceManagerSection {
    /// Use this section instead of `engine` for presence.
    pub enabled: bool,
    /// `memory` or `redis`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Options of `type: redis`.
    pub redis: RedisOptions,
}

impl Default for PresenceManagerSection {
    fn default() -> Self {
        Self {
            enabled: false,
            kind: "redis".into(),
            redis: RedisOptions::default(),
        }
    }
}

/// The broker a config selects.
#[derive(Debug, Clone, PartialEq)]
pub enum BrokerChoice {
    /// Single node.
    Memory,
    /// Redis pub/sub + history.
    Redis(RedisOptionsRef),
    /// NATS pub/sub; history in Redis when one is given.
    Nats {
        /// NATS server and subject prefix.
        nats: NatsOptionsRef,
        /// Where history streams live (None: history not available).
        history: Option<RedisOptionsRef>,
    },
}

/// The presence manager a config selects.
#[derive(Debug, Clone, PartialEq)]
pub enum PresenceChoice {
    /// Single node, with this TTL.
    Memory(std::time::Duration),
    /// Redis.
    Redis(RedisOptionsRef),
}

/// Resolved Redis options.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisOptionsRef {
    /// Address URL.
    pub address: String,
    /// Key prefix.
    pub prefix: String,
    /// Presence TTL.
    pub presence_ttl: std::time::Duration,
}

/// Resolved NATS options.
#[derive(Debug, Clone, PartialEq)]
pub struct NatsOptionsRef {
    /// Server URL.
    pub url: String,
    /// Subject prefix.
    pub prefix: String,
}

impl From<&RedisOptions> for RedisOptionsRef {
    fn from(r: &RedisOptions) -> Self {
        RedisOptionsRef {
            // Centrifugo also takes a bare `host:port`.
            address: if r.address.contains("://") {
                r.address.clone()
            } else {
                format!("redis://{}", r.address)
            },
            prefix: r.prefix.clone(),
            presence_ttl: r.presence_ttl.get(),
        }
    }
}

impl super::Config {
    /// The presence manager this config selects.
    pub fn presence_choice(&self) -> PresenceChoice {
        let pm = &self.presence_manager;
        if pm.enabled {
            return match pm.kind.as_str() {
                "redis" => PresenceChoice::Redis((&pm.redis).into()),
                _ => PresenceChoice::Memory(self.engine.presence_ttl.get()),
            };
        }
        match self.engine.kind.as_str() {
            "redis" => PresenceChoice::Redis((&self.engine.redis).into()),
            _ => PresenceChoice::Memory(self.engine.presence_ttl.get()),
        }
    }

    /// The broker this config selects.
    pub fn broker_choice(&self) -> BrokerChoice {
        let b = &self.broker;
        if b.enabled {
            return match b.kind.as_str() {
                "redis" => BrokerChoice::Redis((&b.redis).into()),
                "nats" => BrokerChoice::Nats {
                    nats: NatsOptionsRef {
                        url: b.nats.url.clone(),
                        prefix: b.nats.prefix.clone(),
                    },
                    history: match self.presence_choice() {
                        PresenceChoice::Redis(r) => Some(r),
                        PresenceChoice::Memory(_) => None,
                    },
                },
                _ => BrokerChoice::Memory,
            };
        }
        match self.engine.kind.as_str() {
            "redis" => BrokerChoice::Redis((&self.engine.redis).into()),
            _ => BrokerChoice::Memory,
        }
    }

    /// True when both engines are the in-memory ones.
    pub fn is_single_node(&self) -> bool {
        self.broker_choice() == BrokerChoice::Memory
            && matches!(self.presence_choice(), PresenceChoice::Memory(_))
    }

    /// Points the engines at these servers (the `wowlab beacon --nats-url/--redis-url` flags):
    /// NATS → NATS broker; Redis → Redis presence manager, and also the broker when there is
    /// no NATS (Centrifugo's Redis engine). With both, history lives in that Redis.
    pub fn use_servers(&mut self, nats_url: Option<&str>, redis_url: Option<&str>) {
        if let Some(url) = redis_url {
            self.presence_manager.enabled = true;
            self.presence_manager.kind = "redis".into();
            self.presence_manager.redis.address = url.to_string();
            if nats_url.is_none() {
                self.broker.enabled = true;
                self.broker.kind = "redis".into();
                self.broker.redis.address = url.to_string();
            }
        }
        if let Some(url) = nats_url {
            self.broker.enabled = true;
            self.broker.kind = "nats".into();
            self.broker.nats.url = url.to_string();
        }
    }

    pub(super) fn validate_engines(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, v: &str, allowed: &str| {
            Err(ConfigError::Invalid(format!(
                "{key} `{v}` is not supported (one of {allowed})"
            )))
        };
        if !matches!(self.engine.kind.as_str(), "memory" | "redis") {
            return bad("engine.type", &self.engine.kind, "memory, redis");
        }
        if self.broker.enabled && !matches!(self.broker.kind.as_str(), "memory" | "redis" | "nats")
        {
            return bad("broker.type", &self.broker.kind, "memory, redis, nats");
        }
        if self.presence_manager.enabled
            && !matches!(self.presence_manager.kind.as_str(), "memory" | "redis")
        {
            return bad(
                "presence_manager.type",
                &self.presence_manager.kind,
                "memory, redis",
            );
        }
        for (key, r) in [
            ("engine.redis", &self.engine.redis),
            ("broker.redis", &self.broker.redis),
            ("presence_manager.redis", &self.presence_manager.redis),
        ] {
            let scheme = r.address.split_once("://").map(|(s, _)| s);
            if r.address.is_empty()
                || scheme.is_some_and(|s| !matches!(s, "redis" | "rediss" | "unix"))
            {
                return Err(ConfigError::Invalid(format!(
                    "{key}.address `{}` must be a redis:// URL or host:port",
                    r.address
                )));
            }
        }
        let scheme = self.broker.nats.url.split_once("://").map(|(s, _)| s);
        if self.broker.nats.url.is_empty() || scheme.is_some_and(|s| !matches!(s, "nats" | "tls")) {
            return Err(ConfigError::Invalid(format!(
                "broker.nats.url `{}` must be a nats:// URL or host:port",
                self.broker.nats.url
            )));
        }
        Ok(())
    }
}
