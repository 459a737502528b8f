//! Presence in Redis, shared by every beacon on the same Redis (Centrifugo's key layout):
//! per channel a hash `<prefix>.presence.data.<ch>` (client → ClientInfo protobuf), a sorted
//! set `<prefix>.presence.expire.<ch>` (client → expiry, ms) and a hash
//! `<prefix>.presence.user.<ch>` (client → user, for distinct-user counts). Entries expire when
//! not re-added within the TTL; every script drops expired entries first, using Redis' clock so
//! beacons with skewed clocks agree. A batch of adds is one script call: one round trip.

use super::wire::{decode_info, encode_info};
use super::{ClientInfo, EngineError, PresenceManager, PresenceStats};
use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::Script;
use std::collections::HashMap;
use std::time::Duration;

/// Shared by the presence scripts: removes entries whose expiry passed. Expects KEYS[1..3]
/// = data, expire, user and leaves `now` (ms, Redis clock) in a global.
const CLEAN: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function clean(data, expire, user)
  local gone = redis.call('ZRANGEBYSCORE', expire, '-inf', now)
  if #gone > 0 then
    redis.call('ZREMRANGEBYSCORE', expire, '-inf', now)
    for i = 1, #gone, 500 do
      local part = {unpack(gone, i, math.min(i + 499, #gone))}
      redis.call('HDEL', data, unpack(part))
      redis.call('HDEL', user, unpack(part))
    end
  end
end
"#;

/// KEYS: 3 per entry (data, expire, user); ARGV[1] = ttl ms, then 3 per entry (client, info, user).
const ADD: &str = r#"
local ttl = tonumber(ARGV[1])
local n = #KEYS / 3
for i = 0, n - 1 do
  local data, expire, user = KEYS[i*3+1], KEYS[i*3+2], KEYS[i*3+3]
  local client = ARGV[i*3+2]
  redis.call('ZADD', expire, now + ttl, client)
  redis.call('HSET', data, client, ARGV[i*3+3])
  redis.call('HSET', user, client, ARGV[i*3+4])
  -- The keys outlive their longest entry by one TTL, then vanish on their own.
  redis.call('PEXPIRE', data, ttl * 2)
  redis.call('PEXPIRE', expire, ttl * 2)
  redis.call('PEXPIRE', user, ttl * 2)
end
return n
"#;

/// KEYS: data, expire, user; ARGV[1] = client.
const REMOVE: &str = r#"
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
"#;

/// KEYS: data, expire, user.
const GET: &str = r#"
clean(KEYS[1], KEYS[2], KEYS[3])
return redis.call('HGETALL', KEYS[1])
"#;

/// KEYS: data, expire, user → {clients, distinct users}.
const STATS: &str = r#"
clean(KEYS[1], KEYS[2], KEYS[3])
local users = redis.call('HVALS', KEYS[3])
local seen, distinct = {}, 0
for _, u in ipairs(users) do
  if not seen[u] then seen[u] = true; distinct = distinct + 1 end
end
return {redis.call('HLEN', KEYS[1]), distinct}
"#;

/// A Redis-backed [`PresenceManager`].
pub struct RedisPresence {
    conn: ConnectionManager,
    prefix: String,
    ttl: Duration,
    add: Script,
    remove: Script,
    get: Script,
    stats: Script,
}

pub(crate) fn backend(e: impl std::fmt::Display) -> EngineError {
    EngineError::Backend(format!("redis: {e}"))
}

/// Opens a reconnecting connection (fails fast if Redis cannot be reached now).
pub(crate) async fn connect(url: &str) -> Result<ConnectionManager, EngineError> {
    let client = redis::Client::open(url).map_err(backend)?;
    let cfg = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(Duration::from_secs(5)))
        .set_max_delay(Duration::from_secs(2));
    client
        .get_connection_manager_with_config(cfg)
        .await
        .map_err(backend)
}

/// Runs an idempotent script once more if the first call failed: after a Redis restart the
/// first call only finds the dead connection (and makes the manager reconnect), so without
/// the retry a presence refresh would be lost for a whole update interval.
pub(crate) async fn invoke_idempotent<T: redis::FromRedisValue>(
    inv: &redis::ScriptInvocation<'_>,
    conn: &ConnectionManager,
) -> Result<T, EngineError> {
    let mut c = conn.clone();
    match inv.invoke_async(&mut c).await {
        Ok(v) => Ok(v),
        Err(e) if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() => {
            tracing::debug!(error = %e, "redis call failed; retrying once");
            let mut c = conn.clone();
            inv.invoke_async(&mut c).await.map_err(backend)
        }
        Err(e) => Err(backend(e)),
    }
}

impl RedisPresence {
    /// Connects to `url`; keys start with `prefix`; entries live `ttl` after their last add.
    pub async fn connect(url: &str, prefix: &str, ttl: Duration) -> Result<Self, EngineError> {
        Ok(RedisPresence {
            conn: connect(url).await?,
            prefix: prefix.to_string(),
            // Zero would expire entries at once; Centrifugo's default instead.
            ttl: if ttl.is_zero() {
                Duration::from_secs(60)
            } else {
                ttl
            },
            add: Script::new(&format!("{CLEAN}{ADD}")),
            remove: Script::new(REMOVE),
            get: Script::new(&format!("{CLEAN}{GET}")),
            stats: Script::new(&format!("{CLEAN}{STATS}")),
        })
    }

    fn keys(&self, channel: &str) -> [String; 3] {
        let p = &self.prefix;
        [
            format!("{p}.presence.data.{channel}"),
            format!("{p}.presence.expire.{channel}"),
            format!("{p}.presence.user.{channel}"),
        ]
    }
}

#[async_trait]
impl PresenceManager for RedisPresence {
    async fn add_presence(
        &self,
        channel: &str,
        client_id: &str,
        info: ClientInfo,
    ) -> Result<(), EngineError> {
        self.add_presence_many(&[(channel.to_string(), client_id.to_string(), info)])
            .await
    }

    async fn add_presence_many(
        &self,
        entries: &[(String, String, ClientInfo)],
    ) -> Result<(), EngineError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut inv = self.add.prepare_invoke();
        inv.arg(self.ttl.as_millis() as u64);
        for (channel, client, info) in entries {
            for k in self.keys(channel) {
                inv.key(k);
            }
            inv.arg(client).arg(encode_info(info)).arg(&info.user);
        }
        let _: i64 = invoke_idempotent(&inv, &self.conn).await?;
        Ok(())
    }

    async fn remove_presence(
        &self,
        channel: &str,
        client_id: &str,
        _user_id: &str,
    ) -> Result<(), EngineError> {
        let mut inv = self.remove.prepare_invoke();
        for k in self.keys(channel) {
            inv.key(k);
        }
        inv.arg(client_id);
        let _: i64 = invoke_idempotent(&inv, &self.conn).await?;
        Ok(())
    }

    async fn presence(&self, channel: &str) -> Result<HashMap<String, ClientInfo>, EngineError> {
        let mut inv = self.get.prepare_invoke();
        for k in self.keys(channel) {
            inv.key(k);
        }
        let raw: Vec<(String, Vec<u8>)> = invoke_idempotent(&inv, &self.conn).await?;
        raw.into_iter()
            .map(|(client, info)| Ok((client, decode_info(&info)?)))
            .collect()
    }

    async fn presence_stats(&self, channel: &str) -> Result<PresenceStats, EngineError> {
        let mut inv = self.stats.prepare_invoke();
        for k in self.keys(channel) {
            inv.key(k);
        }
        let (clients, users): (u32, u32) = invoke_idempotent(&inv, &self.conn).await?;
        Ok(PresenceStats {
            num_clients: clients,
            num_users: users,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::test_services::redis_url;

    #[tokio::test]
    async fn redis_presence_conformance() {
        let Some(url) = redis_url() else { return };
        // One manager per TTL, each under its own prefix so runs never see each other's keys.
        let mut managers = Vec::new();
        for ttl in [Duration::from_secs(60), Duration::from_millis(100)] {
            let prefix = format!("test.{}", crate::engine::wire::random_epoch());
            managers.push(RedisPresence::connect(&url, &prefix, ttl).await.unwrap());
        }
        let managers = std::sync::Mutex::new(managers);
        crate::engine::conformance::presence_suite(|ttl| {
            let mut m = managers.lock().unwrap();
            let i = m.iter().position(|p| p.ttl == ttl).expect("ttl");
            m.remove(i)
        })
        .await;
    }

    #[tokio::test]
    async fn a_batch_of_adds_is_one_call_and_visible_everywhere() {
        let Some(url) = redis_url() else { return };
        let prefix = format!("test.{}", crate::engine::wire::random_epoch());
        let a = RedisPresence::connect(&url, &prefix, Duration::from_secs(60))
            .await
            .unwrap();
        let b = RedisPresence::connect(&url, &prefix, Duration::from_secs(60))
            .await
            .unwrap();
        let entries: Vec<_> = (0..300)
            .map(|i| {
                (
                    format!("ch{}", i % 3),
                    format!("c{i}"),
                    ClientInfo {
                        user: format!("u{}", i % 7),
                        client: format!("c{i}"),
                        ..Default::default()
                    },
                )
            })
            .collect();
        a.add_presence_many(&entries).await.unwrap();
        let s = b.presence_stats("ch0").await.unwrap();
        assert_eq!(s.num_clients, 100);
        assert_eq!(s.num_users, 7);
        assert_eq!(b.presence("ch2").await.unwrap().len(), 100);
    }
}
