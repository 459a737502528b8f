//! History streams in Redis, shared by every beacon: the one offset sequence and epoch per
//! channel that makes recovery work whichever beacon a client reconnects to. Used by the Redis
//! broker (which also PUBLISHes from the same script) and by the NATS broker (which allocates
//! here, then publishes on NATS).
//!
//! Keys: `<prefix>.history.meta.<ch>` hash {`e`: epoch, `s`: top offset} and
//! `<prefix>.history.list.<ch>` list of `<offset>:<Publication protobuf>`. The list always
//! holds a contiguous run of offsets ending at the top (trimmed from the front by size, dropped
//! whole by its TTL or `remove_history`), so a position maps to a list index by arithmetic.
//! Offset allocation and append are one Lua script: atomic, whatever the number of publishers.

use super::redis_presence::backend;
use super::wire::{decode_entry, publication_body, random_epoch};
use super::{
    EngineError, HistoryOptions, HistoryResult, Publication, PublishOptions, StreamPosition,
};
use redis::aio::ConnectionManager;
use redis::{Script, Value};
use std::time::Duration;

/// Loads (or creates) the meta: sets `epoch`, `top`. KEYS[1] list, KEYS[2] meta; ARGV[1] new
/// epoch, ARGV[2] meta ttl ms (0: forever).
const META: &str = r#"
local epoch = redis.call('HGET', KEYS[2], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[2], 'e', epoch, 's', 0)
  -- A new epoch: whatever the list still holds belongs to the old one.
  redis.call('DEL', KEYS[1])
  if tonumber(ARGV[2]) > 0 then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
end
local top = tonumber(redis.call('HGET', KEYS[2], 's'))
"#;

/// ARGV[3] payload, [4] size, [5] ttl ms, [6] Redis channel to PUBLISH on ("" none), [7]
/// channel header of the node message. Returns {top, epoch}.
const PUBLISH: &str = r#"
top = redis.call('HINCRBY', KEYS[2], 's', 1)
redis.call('RPUSH', KEYS[1], top .. ':' .. ARGV[3])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[4]), -1)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
if tonumber(ARGV[2]) > 0 then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
if ARGV[6] ~= '' then
  redis.call('PUBLISH', ARGV[6], 'P' .. top .. ':' .. epoch .. ':' .. ARGV[7] .. ARGV[3])
end
return {top, epoch}
"#;

/// ARGV[3] since offset (-1: none), [4] since epoch ("" any), [5] limit (-1: none),
/// [6] reverse (1/0). Returns {top, epoch, ok, entries...}; ok 0: wrong epoch.
const READ: &str = r#"
if ARGV[4] ~= '' and ARGV[4] ~= epoch then return {top, epoch, 0} end
local limit = tonumber(ARGV[5])
local out = {top, epoch, 1}
if limit == 0 then return out end
local len = redis.call('LLEN', KEYS[1])
if len == 0 then return out end
local first = top - len + 1
local since = tonumber(ARGV[3])
local a, b
if ARGV[6] == '0' then
  if since < 0 then a = 0 else a = math.max(0, since + 1 - first) end
  if limit < 0 then b = len - 1 else b = math.min(len - 1, a + limit - 1) end
else
  if since < 0 then b = len - 1 else b = math.min(len - 1, since - 1 - first) end
  if limit < 0 then a = 0 else a = math.max(0, b - limit + 1) end
end
if a > b then return out end
local items = redis.call('LRANGE', KEYS[1], a, b)
for i = 1, #items do out[#out + 1] = items[i] end
return out
"#;

/// Shared per-channel streams in Redis.
#[derive(Clone)]
pub struct RedisHistory {
    conn: ConnectionManager,
    prefix: String,
    publish: Script,
    read: Script,
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

impl RedisHistory {
    /// Connects to `url`; keys start with `prefix`.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, EngineError> {
        Ok(RedisHistory {
            conn: super::redis_presence::connect(url).await?,
            prefix: prefix.to_string(),
            publish: Script::new(&format!("{META}{PUBLISH}")),
            read: Script::new(&format!("{META}{READ}")),
        })
    }

    fn keys(&self, channel: &str) -> (String, String) {
        (
            format!("{}.history.list.{channel}", self.prefix),
            format!("{}.history.meta.{channel}", self.prefix),
        )
    }

    /// Appends with the next offset; with `redis_channel` the same script PUBLISHes the node
    /// message (so Redis pub/sub order equals offset order).
    pub(crate) async fn append(
        &self,
        channel: &str,
        publication: &Publication,
        opts: &PublishOptions,
        redis_channel: Option<&str>,
    ) -> Result<StreamPosition, EngineError> {
        let (list, meta) = self.keys(channel);
        let mut inv = self.publish.prepare_invoke();
        inv.key(list)
            .key(meta)
            .arg(random_epoch())
            .arg(ms(opts.history_meta_ttl))
            .arg(publication_body(publication))
            .arg(opts.history_size)
            .arg(ms(opts.history_ttl).max(1))
            .arg(redis_channel.unwrap_or(""))
            .arg(super::wire::channel_header(channel));
        let mut conn = self.conn.clone();
        let (offset, epoch): (u64, String) = inv.invoke_async(&mut conn).await.map_err(backend)?;
        Ok(StreamPosition { offset, epoch })
    }

    /// Reads the stream (see [`super::Broker::history`]).
    pub(crate) async fn read(
        &self,
        channel: &str,
        opts: &HistoryOptions,
    ) -> Result<HistoryResult, EngineError> {
        let (list, meta) = self.keys(channel);
        let mut inv = self.read.prepare_invoke();
        let (since, since_epoch) = match &opts.since {
            Some(s) => (s.offset as i64, s.epoch.as_str()),
            None => (-1, ""),
        };
        inv.key(list)
            .key(meta)
            .arg(random_epoch())
            .arg(ms(opts.meta_ttl))
            .arg(since)
            .arg(since_epoch)
            .arg(opts.limit.map_or(-1, |l| l.min(i64::MAX as usize) as i64))
            .arg(if opts.reverse { "1" } else { "0" });
        let v: Vec<Value> = super::redis_presence::invoke_idempotent(&inv, &self.conn).await?;
        let mut it = v.into_iter();
        let top: u64 = next_int(&mut it)?;
        let epoch: String = match it.next() {
            Some(v) => redis::from_redis_value(v).map_err(backend)?,
            None => return Err(EngineError::Backend("redis: short history reply".into())),
        };
        if next_int(&mut it)? == 0 {
            return Err(EngineError::UnrecoverablePosition);
        }
        let mut publications = it
            .map(|v| {
                let b: Vec<u8> = redis::from_redis_value(v).map_err(backend)?;
                decode_entry(&b)
            })
            .collect::<Result<Vec<_>, _>>()?;
        if opts.reverse {
            publications.reverse();
        }
        Ok(HistoryResult {
            publications,
            position: StreamPosition { offset: top, epoch },
        })
    }

    /// Drops the publications, keeping offset and epoch.
    pub(crate) async fn remove(&self, channel: &str) -> Result<(), EngineError> {
        let (list, _) = self.keys(channel);
        let mut conn = self.conn.clone();
        let _: i64 = redis::cmd("DEL")
            .arg(list)
            .query_async(&mut conn)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

fn next_int(it: &mut impl Iterator<Item = Value>) -> Result<u64, EngineError> {
    match it.next() {
        Some(v) => redis::from_redis_value(v).map_err(backend),
        None => Err(EngineError::Backend("redis: short history reply".into())),
    }
}
