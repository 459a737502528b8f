//! In-memory presence with per-entry TTL (entries are refreshed by periodic re-adds).

use super::{ClientInfo, EngineError, PresenceManager, PresenceStats};
use async_trait::async_trait;
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

const SHARDS: usize = 16;

/// client id → (info, expiry) of one channel.
type Entries = HashMap<String, (ClientInfo, Instant)>;

/// In-memory [`PresenceManager`].
pub struct MemoryPresence {
    ttl: Duration,
    shards: Vec<Mutex<HashMap<String, Entries>>>,
}

fn shard_of(channel: &str) -> usize {
    channel
        .bytes()
        .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize))
        % SHARDS
}

impl MemoryPresence {
    /// Entries not refreshed within `ttl` disappear (zero: never).
    pub fn new(ttl: Duration) -> Self {
        MemoryPresence {
            ttl,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn live(&self, channel: &str) -> HashMap<String, ClientInfo> {
        let now = Instant::now();
        let mut shard = self.shards[shard_of(channel)].lock();
        let Some(entries) = shard.get_mut(channel) else {
            return HashMap::new();
        };
        entries.retain(|_, (_, exp)| *exp > now);
        let out = entries
            .iter()
            .map(|(k, (info, _))| (k.clone(), info.clone()))
            .collect();
        if entries.is_empty() {
            shard.remove(channel);
        }
        out
    }
}

#[async_trait]
impl PresenceManager for MemoryPresence {
    async fn add_presence(
        &self,
        channel: &str,
        client_id: &str,
        info: ClientInfo,
    ) -> Result<(), EngineError> {
        let expires = if self.ttl.is_zero() {
            Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
        } else {
            Instant::now() + self.ttl
        };
        self.shards[shard_of(channel)]
            .lock()
            .entry(channel.to_string())
            .or_default()
            .insert(client_id.to_string(), (info, expires));
        Ok(())
    }

    async fn remove_presence(
        &self,
        channel: &str,
        client_id: &str,
        _user_id: &str,
    ) -> Result<(), EngineError> {
        let mut shard = self.shards[shard_of(channel)].lock();
        if let Some(entries) = shard.get_mut(channel) {
            entries.remove(client_id);
            if entries.is_empty() {
                shard.remove(channel);
            }
        }
        Ok(())
    }

    async fn presence(&self, channel: &str) -> Result<HashMap<String, ClientInfo>, EngineError> {
        Ok(self.live(channel))
    }

    async fn presence_stats(&self, channel: &str) -> Result<PresenceStats, EngineError> {
        let live = self.live(channel);
        let users: HashSet<&str> = live.values().map(|i| i.user.as_str()).collect();
        Ok(PresenceStats {
            num_clients: live.len() as u32,
            num_users: users.len() as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_presence_conformance() {
        super::super::conformance::presence_suite(MemoryPresence::new).await;
    }
}
