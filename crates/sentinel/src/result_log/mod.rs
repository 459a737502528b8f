//! The result log: chunk completions on their way to the projector. Two implementations with
//! the same semantics (checked by one `conformance` suite): [`InProcessLog`] for a single
//! sentinel (embedded mode; the node API stores each result before appending it) and
//! [`JetStreamLog`], a NATS JetStream stream with one durable consumer, shared by every
//! sentinel of a grid (the node API appends each result before acknowledging it and the
//! projector persists it).
//!
//! Delivery is at least once: an entry stays unacknowledged until its consumer acks it after
//! acting on it, and a new subscription (after a crash or a leadership change) gets every
//! unacknowledged entry again. Results carry the message id `job:chunk:fence`; a result
//! appended twice with one id within the dedup window (JetStream: a configured duration; in
//! process: while the first copy is unacknowledged) is delivered once, and consumers also dedup
//! by chunk on replay.

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::domain::{ChunkIndex, Fence, JobId, NodeId};

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod jetstream;
mod memory;

#[cfg(test)]
pub(crate) use jetstream::tests::fresh_options as jetstream_test_options;
pub use jetstream::{JetStreamLog, JetStreamOptions};
pub use memory::InProcessLog;

/// One entry of the result log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogEntry {
    /// A chunk result.
    Result {
        /// Job.
        job: JobId,
        /// Chunk.
        chunk: ChunkIndex,
        /// Fence of the lease it was computed under.
        fence: Fence,
        /// The result bytes.
        #[serde(with = "b64")]
        bytes: Vec<u8>,
        /// Node that computed it (none for results stored without one).
        node: Option<NodeId>,
    },
    /// Look at a job again (recovery found all its chunks stored).
    Kick(JobId),
    /// The job ended ([`crate::lifecycle`]): forget it.
    Ended(JobId),
}

impl LogEntry {
    /// The dedup id: `job:chunk:fence` for results; none for the job signals, which are
    /// idempotent anyway.
    pub fn message_id(&self) -> Option<String> {
        self.result_key()
            .map(|(job, chunk, fence)| format!("{job}:{chunk}:{fence}"))
    }

    /// The dedup id as a value (job, chunk, fence), for logs that keep it in memory.
    pub fn result_key(&self) -> Option<(JobId, ChunkIndex, Fence)> {
        match self {
            LogEntry::Result {
                job, chunk, fence, ..
            } => Some((*job, *chunk, *fence)),
            LogEntry::Kick(_) | LogEntry::Ended(_) => None,
        }
    }

    /// The job the entry is about.
    pub fn job(&self) -> JobId {
        match self {
            LogEntry::Result { job, .. } | LogEntry::Kick(job) | LogEntry::Ended(job) => *job,
        }
    }
}

mod b64 {
    use super::*;

    pub fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(bytes))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        B64.decode(s.as_bytes()).map_err(serde::de::Error::custom)
    }
}

/// Why the log could not append or deliver.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The log's server is unreachable or refused the call; it may be retried.
    #[error("result log unavailable: {0}")]
    Unavailable(String),
    /// Another subscription is open in this process (one consumer at a time).
    #[error("the result log already has a consumer in this process")]
    Busy,
    /// The log was closed (the process is shutting down).
    #[error("the result log is closed")]
    Closed,
}

/// Writer and subscription factory of a result log.
#[async_trait]
pub trait ResultLog: Send + Sync + 'static {
    /// Appends `entry`; returns once the log holds it (for a durable log: once it is stored).
    async fn append(&self, entry: LogEntry) -> Result<(), LogError>;

    /// Opens the consumer: unacknowledged entries first, then new ones, each once.
    async fn subscribe(&self) -> Result<Box<dyn LogSubscription>, LogError>;

    /// Whether an appended entry survives this process (a crash between append and
    /// projection loses nothing), so the node API may acknowledge a result once it is appended.
    fn durable(&self) -> bool;

    /// Whether the log's server answers (for `/readyz`); `Err` says why not.
    async fn ready(&self) -> Result<(), LogError> {
        Ok(())
    }
}

/// An open consumer of the log.
#[async_trait]
pub trait LogSubscription: Send {
    /// The next entry, waiting for one; `Err(Closed)` once the log closed.
    async fn next(&mut self) -> Result<Delivery, LogError>;

    /// An entry if one is ready at once (to gather batches), `None` otherwise.
    async fn try_next(&mut self) -> Result<Option<Delivery>, LogError>;
}

/// One delivered entry; [`Delivery::ack`] it once acted on, or drop it to have it delivered
/// again to the next subscription (or, for a durable log, after its ack wait).
pub struct Delivery {
    /// The entry.
    pub entry: LogEntry,
    acker: Box<dyn Acker>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("entry", &self.entry)
            .finish()
    }
}

impl Delivery {
    fn new(entry: LogEntry, acker: impl Acker) -> Self {
        Self {
            entry,
            acker: Box::new(acker),
        }
    }

    /// Marks the entry done: it is never delivered again.
    pub async fn ack(self) -> Result<(), LogError> {
        self.acker.ack().await
    }

    /// Hands the entry back for redelivery soon (it could not be acted on yet).
    pub async fn retry_later(self) -> Result<(), LogError> {
        self.acker.nak().await
    }
}

/// How one implementation acknowledges a delivery.
#[async_trait]
trait Acker: Send + Sync + 'static {
    async fn ack(self: Box<Self>) -> Result<(), LogError>;
    async fn nak(self: Box<Self>) -> Result<(), LogError>;
}
