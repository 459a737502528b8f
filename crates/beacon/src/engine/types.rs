//! Engine-level data types (independent of the wire codecs so engines stay transport-agnostic).

use bytes::Bytes;
use std::collections::HashMap;
use std::time::Duration;

/// Position in a channel stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamPosition {
    /// Offset of the last publication (0: none yet).
    pub offset: u64,
    /// Stream generation; changes whenever the stream is recreated.
    pub epoch: String,
}

/// Who published / joined: user id, client id and opaque info blobs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// User id ("" for anonymous).
    pub user: String,
    /// Client (connection) id.
    pub client: String,
    /// Connection info from the connection token.
    pub conn_info: Option<Bytes>,
    /// Channel info from the subscription token.
    pub chan_info: Option<Bytes>,
}

/// A publication as stored and delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Publication {
    /// Stream offset (0 without history).
    pub offset: u64,
    /// Payload (JSON text for JSON channels, any bytes otherwise).
    pub data: Bytes,
    /// Publisher info for client-side publishes.
    pub info: Option<ClientInfo>,
    /// Publication tags.
    pub tags: HashMap<String, String>,
    /// Publish time, ms since the Unix epoch (0: unset).
    pub time: i64,
    /// Published with `delta` (server API): goes out as a fossil delta to subscribers that
    /// negotiated one, even where the namespace has no `delta_publish`.
    pub delta: bool,
}

/// History options for a publish.
#[derive(Debug, Clone, Default)]
pub struct PublishOptions {
    /// Max stream length (0: no history).
    pub history_size: usize,
    /// Stream data lifetime after the last publish (zero: no history).
    pub history_ttl: Duration,
    /// Lifetime of offset+epoch (zero: forever).
    pub history_meta_ttl: Duration,
}

impl PublishOptions {
    /// True when this publish goes into the stream.
    pub fn uses_history(&self) -> bool {
        self.history_size > 0 && !self.history_ttl.is_zero()
    }
}

/// A history query.
#[derive(Debug, Clone, Default)]
pub struct HistoryOptions {
    /// Start after this position (before it with `reverse`); None: from the start (end).
    pub since: Option<StreamPosition>,
    /// Cap (None: all; Some(0): no publications, only the position).
    pub limit: Option<usize>,
    /// Newest first.
    pub reverse: bool,
    /// Lifetime of offset+epoch if the query creates the stream meta.
    pub meta_ttl: Duration,
}

/// A history answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryResult {
    /// Publications, ordered by offset (descending with `reverse`).
    pub publications: Vec<Publication>,
    /// Current top of the stream.
    pub position: StreamPosition,
}

/// Presence counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PresenceStats {
    /// Connected clients.
    pub num_clients: u32,
    /// Distinct users.
    pub num_users: u32,
}
