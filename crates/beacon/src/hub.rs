//! Channel → local subscribers map (sharded locks) and the fan-out path: every publication is
//! encoded at most once per wire format (and delta form) and the same `Bytes` is queued to each
//! subscriber.

use crate::conn::{ConnShared, Control};
use crate::delta::{DeltaFrames, DeltaMode};
use crate::engine::{ClientInfo, Publication};
use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use wowlab_protocol::codec::{encode_reply, Protocol};
use wowlab_protocol::codes::disconnect;
use wowlab_protocol::proto;

const SHARDS: usize = 64;

/// One connection's subscription to one channel, as seen by the fan-out path.
pub(crate) struct Subscriber {
    pub conn: Arc<ConnShared>,
    /// The channel subscribed to.
    channel: String,
    /// Receives join/leave pushes.
    pub push_join_leave: bool,
    /// While the subscribe reply is being prepared, deliveries are held here.
    buffering: AtomicBool,
    /// (offset, full frame, delta frame if one exists) held while buffering.
    pending: Mutex<Vec<(u64, Bytes, Option<Bytes>)>>,
    /// Next offset this positioned subscriber must get (0: not positioned). Guards against
    /// gaps and duplicates the broker could not sort out.
    expected: AtomicU64,
    /// Delta compression negotiated at subscribe.
    pub delta: DeltaMode,
    /// Offset of the last publication queued to it (0: none since subscribe): a publication
    /// right after it may go as a delta, anything else goes in full.
    delta_prev: AtomicU64,
}

impl Subscriber {
    pub(crate) fn new(
        conn: Arc<ConnShared>,
        channel: &str,
        push_join_leave: bool,
        buffering: bool,
        delta: DeltaMode,
    ) -> Self {
        Subscriber {
            conn,
            channel: channel.to_string(),
            push_join_leave,
            buffering: AtomicBool::new(buffering),
            pending: Mutex::new(Vec::new()),
            expected: AtomicU64::new(0),
            delta,
            delta_prev: AtomicU64::new(0),
        }
    }

    /// Queues `data` (or, when it directly follows what this subscriber got last, the delta
    /// form `as_delta` if one exists).
    fn deliver(&self, offset: u64, data: Bytes, as_delta: Option<Bytes>) {
        if self.buffering.load(Ordering::Acquire) {
            let mut p = self.pending.lock();
            // Re-check under the lock: `finish_buffering` may have just flushed.
            if self.buffering.load(Ordering::Acquire) {
                p.push((offset, data, as_delta));
                return;
            }
        }
        // Deliveries of one channel are sequential (one broker task per channel), so a plain
        // load/store pair is enough here.
        let expected = self.expected.load(Ordering::Acquire);
        if offset > 0 && expected > 0 {
            if offset < expected {
                return;
            }
            if offset > expected {
                self.expected.store(0, Ordering::Release);
                self.conn
                    .control(Control::InsufficientState(self.channel.clone()));
                return;
            }
            self.expected.store(offset + 1, Ordering::Release);
        }
        self.queue(offset, data, as_delta);
    }

    /// Queues the delta form when it directly follows what this subscriber got last (so the
    /// client holds its base), the full form otherwise.
    fn queue(&self, offset: u64, data: Bytes, as_delta: Option<Bytes>) {
        if self.delta == DeltaMode::Off || offset == 0 {
            self.conn.push(data);
            return;
        }
        let follows = self.delta_prev.swap(offset, Ordering::AcqRel) + 1 == offset;
        match as_delta {
            Some(d) if follows => self.conn.push(d),
            _ => self.conn.push(data),
        }
    }

    /// Marks `offset` as the publication the client already holds after a successful
    /// recovery (the last recovered one, or its own position when nothing was missed), so the
    /// next publication may go as a delta against it, as Centrifugo allows after recovery.
    pub(crate) fn set_delta_base(&self, offset: u64) {
        self.delta_prev.store(offset, Ordering::Release);
    }

    /// Ends buffering: queues what arrived meanwhile (skipping offsets ≤ `last_offset`, which
    /// the reply already covered) and lets later deliveries go straight to the queue. The
    /// caller queues the subscribe/connect reply before calling this. Err(3010) on a gap.
    pub(crate) fn flush(&self, last_offset: Option<u64>) -> Result<(), u32> {
        let mut p = self.pending.lock();
        let Some(last_offset) = last_offset else {
            for (offset, data, as_delta) in p.drain(..) {
                self.queue(offset, data, as_delta);
            }
            *p = Vec::new();
            self.buffering.store(false, Ordering::Release);
            return Ok(());
        };
        let mut expected = last_offset + 1;
        let mut result = Ok(());
        let track = &self.expected;
        for (offset, data, as_delta) in p.drain(..) {
            if offset > 0 && offset < expected {
                continue;
            }
            if offset > expected {
                result = Err(disconnect::INSUFFICIENT_STATE);
                break;
            }
            if offset > 0 {
                expected = offset + 1;
            }
            self.queue(offset, data, as_delta);
        }
        if result.is_ok() {
            track.store(expected, Ordering::Release);
        }
        *p = Vec::new();
        self.buffering.store(false, Ordering::Release);
        result
    }
}

#[derive(Default)]
struct ChannelSubs {
    subs: RwLock<Vec<Arc<Subscriber>>>,
    /// The channel's last publication seen here (offset, data): the base of the next delta.
    last: Mutex<Option<(u64, Bytes)>>,
}

/// Local subscribers of every channel.
pub(crate) struct Hub {
    shards: Vec<RwLock<HashMap<String, Arc<ChannelSubs>>>>,
}

pub(crate) fn shard_index(channel: &str, n: usize) -> usize {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in channel.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    (h % n as u64) as usize
}

/// A lazily encoded reply, once per protocol.
struct Encoded<'a> {
    reply: &'a proto::Reply,
    json: Option<Option<Bytes>>,
    protobuf: Option<Option<Bytes>>,
}

impl<'a> Encoded<'a> {
    fn new(reply: &'a proto::Reply) -> Self {
        Encoded {
            reply,
            json: None,
            protobuf: None,
        }
    }
    fn get(&mut self, p: Protocol) -> Option<Bytes> {
        let slot = match p {
            Protocol::Json => &mut self.json,
            Protocol::Protobuf => &mut self.protobuf,
        };
        slot.get_or_insert_with(|| encode_reply(p, self.reply).ok())
            .clone()
    }
}

/// Engine ClientInfo → wire ClientInfo.
pub(crate) fn wire_info(i: &ClientInfo) -> proto::ClientInfo {
    proto::ClientInfo {
        user: i.user.clone(),
        client: i.client.clone(),
        conn_info: i.conn_info.clone().unwrap_or_default(),
        chan_info: i.chan_info.clone().unwrap_or_default(),
    }
}

/// Engine Publication → wire Publication.
pub(crate) fn wire_publication(p: &Publication) -> proto::Publication {
    proto::Publication {
        data: p.data.clone(),
        info: p.info.as_ref().map(wire_info),
        offset: p.offset,
        tags: p.tags.clone(),
        time: p.time,
        ..Default::default()
    }
}

impl Hub {
    pub(crate) fn new() -> Self {
        Hub {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
        }
    }

    fn get(&self, channel: &str) -> Option<Arc<ChannelSubs>> {
        self.shards[shard_index(channel, SHARDS)]
            .read()
            .get(channel)
            .cloned()
    }

    /// Adds a subscriber; true if it is the channel's first.
    pub(crate) fn add(&self, channel: &str, sub: Arc<Subscriber>) -> bool {
        let mut shard = self.shards[shard_index(channel, SHARDS)].write();
        let entry = shard.entry(channel.to_string()).or_default();
        let mut subs = entry.subs.write();
        subs.retain(|s| s.conn.client != sub.conn.client);
        subs.push(sub);
        subs.len() == 1
    }

    /// Removes a connection's subscriber; true if the channel has none left.
    pub(crate) fn remove(&self, channel: &str, client: &str) -> bool {
        let mut shard = self.shards[shard_index(channel, SHARDS)].write();
        let Some(entry) = shard.get(channel) else {
            return false;
        };
        let empty = {
            let mut subs = entry.subs.write();
            let before = subs.len();
            subs.retain(|s| s.conn.client != client);
            if subs.len() == before {
                return false;
            }
            subs.is_empty()
        };
        if empty {
            shard.remove(channel);
        }
        empty
    }

    /// Every channel with its local subscriber count.
    pub(crate) fn channels(&self) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        for shard in &self.shards {
            for (name, c) in shard.read().iter() {
                out.push((name.clone(), c.subs.read().len()));
            }
        }
        out
    }

    /// Total subscriptions across channels.
    pub(crate) fn num_subscriptions(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.read()
                    .values()
                    .map(|c| c.subs.read().len())
                    .sum::<usize>()
            })
            .sum()
    }

    /// True when the channel's delta base is the publication at `offset` or a later one.
    pub(crate) fn has_delta_base(&self, channel: &str, offset: u64) -> bool {
        self.get(channel)
            .is_some_and(|e| e.last.lock().as_ref().is_some_and(|(o, _)| *o >= offset))
    }

    /// Makes the publication at `offset` the channel's delta base unless a later one is.
    pub(crate) fn seed_delta_base(&self, channel: &str, offset: u64, data: Bytes) {
        if let Some(entry) = self.get(channel) {
            let mut last = entry.last.lock();
            if last.as_ref().is_none_or(|(o, _)| *o < offset) {
                *last = Some((offset, data));
            }
        }
    }

    /// Fans a publication out to local subscribers. Returns how many got it.
    pub(crate) fn broadcast_publication(&self, channel: &str, publication: &Publication) -> usize {
        let Some(entry) = self.get(channel) else {
            return 0;
        };
        let reply = proto::Reply {
            push: Some(proto::Push {
                channel: channel.to_string(),
                r#pub: Some(wire_publication(publication)),
                ..Default::default()
            }),
            ..Default::default()
        };
        let prev = if publication.offset > 0 {
            entry
                .last
                .lock()
                .replace((publication.offset, publication.data.clone()))
        } else {
            None
        };
        let mut enc = Encoded::new(&reply);
        let mut delta_enc = DeltaFrames::new(channel, &reply, prev, publication);
        let subs = entry.subs.read();
        for s in subs.iter() {
            let p = s.conn.protocol;
            // Only JSON has a separate full form (data as a string) once delta is negotiated.
            let full = match (s.delta, p) {
                (DeltaMode::Off, _) | (_, Protocol::Protobuf) => enc.get(p),
                (_, Protocol::Json) => delta_enc.full_json(),
            };
            match full {
                Some(b) => {
                    let as_delta = if s.delta.sends_delta(publication.delta) {
                        delta_enc.delta(p)
                    } else {
                        None
                    };
                    s.deliver(publication.offset, b, as_delta)
                }
                // JSON client, non-JSON payload.
                None => s.conn.control(Control::Disconnect(
                    disconnect::INAPPROPRIATE_PROTOCOL,
                    disconnect::reason(disconnect::INAPPROPRIATE_PROTOCOL).into(),
                )),
            }
        }
        subs.len()
    }

    /// Fans a join (true) or leave (false) out to subscribers that asked for them.
    pub(crate) fn broadcast_join_leave(
        &self,
        channel: &str,
        info: &ClientInfo,
        join: bool,
    ) -> usize {
        let Some(entry) = self.get(channel) else {
            return 0;
        };
        let wi = Some(wire_info(info));
        let push = if join {
            proto::Push {
                channel: channel.to_string(),
                join: Some(proto::Join { info: wi }),
                ..Default::default()
            }
        } else {
            proto::Push {
                channel: channel.to_string(),
                leave: Some(proto::Leave { info: wi }),
                ..Default::default()
            }
        };
        let reply = proto::Reply {
            push: Some(push),
            ..Default::default()
        };
        let mut enc = Encoded::new(&reply);
        let subs = entry.subs.read();
        let mut n = 0;
        for s in subs.iter().filter(|s| s.push_join_leave) {
            if let Some(b) = enc.get(s.conn.protocol) {
                s.deliver(0, b, None);
                n += 1;
            }
        }
        n
    }
}
