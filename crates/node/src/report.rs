//! Result reporting: a result is posted at once unless a post is already under way; results
//! finishing meanwhile wait and travel together in one signed `complete-batch` request (the
//! sentinel checks one signature per batch instead of one per chunk). So an idle reporter
//! adds no latency (the completion reply carries the slot's next lease) and a busy one
//! batches by itself, one request per round trip. A lone result,
//! or a sentinel without the batch endpoint, uses the single form.
//!
//! Results marked `refill` hand their slots back as credit; the reply's new leases go to the
//! request's first result only (handing all of them to each of a batch's results cost
//! batch² offers), and every result learns whether the reply refilled anything.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, Semaphore};
use wowlab_api::node::{
    BatchOutcome, ChunkLease, CompleteBatchRequest, CompleteBatchResponse, CompleteRequest,
    PATH_CHUNK_COMPLETE_BATCH,
};

use crate::client::SentinelClient;

/// Posts under way at once; further results queue and go out as one batch.
pub const MAX_IN_FLIGHT: usize = 1;
/// Most results in one batch (the sentinel's limit).
pub const MAX_BATCH: usize = 1024;

/// What became of a posted result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reported {
    /// Stored (`fresh`), or already stored by an earlier attempt.
    Accepted {
        /// False when the sentinel had it already.
        fresh: bool,
    },
    /// The lease is no longer held: drop the work.
    Stale,
    /// Could not be delivered.
    Failed(String),
}

/// A posted result's outcome and the leases its reply carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// What became of the result.
    pub outcome: Reported,
    /// New leases in the reply (for refilled slots); in a batch, only its first result's.
    pub leases: Vec<ChunkLease>,
    /// The reply carried new leases (whichever result of the batch holds them).
    pub refilled: bool,
}

impl Posted {
    fn bare(outcome: Reported) -> Self {
        Self {
            outcome,
            leases: Vec::new(),
            refilled: false,
        }
    }
}

/// What runs with a posted result's outcome (on the reporter's task: keep it short).
pub type OnPosted = Box<dyn FnOnce(Posted) + Send>;

struct Item {
    req: CompleteRequest,
    done: OnPosted,
}

/// Queue of results to post; cheap to clone.
#[derive(Clone)]
pub struct Reporter {
    tx: mpsc::UnboundedSender<Item>,
}

impl Reporter {
    /// Starts the posting task on the current runtime; it ends when every handle is dropped.
    pub fn start(client: SentinelClient) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(client, rx));
        Self { tx }
    }

    /// Posts one result and runs `done` with its outcome, without a task waiting for it (the
    /// pool's per-chunk path: a task per posted result cost more than a tiny chunk).
    pub fn submit(&self, req: CompleteRequest, done: OnPosted) {
        if let Err(mpsc::error::SendError(item)) = self.tx.send(Item { req, done }) {
            (item.done)(stopped());
        }
    }
}

fn stopped() -> Posted {
    Posted::bare(Reported::Failed("reporter stopped".into()))
}

async fn run(client: SentinelClient, mut rx: mpsc::UnboundedReceiver<Item>) {
    let batch_supported = Arc::new(AtomicBool::new(true));
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        // Wait for a free post; whatever arrives meanwhile joins this batch.
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(i) => batch.push(i),
                Err(_) => break,
            }
        }
        let client = client.clone();
        let supported = batch_supported.clone();
        tokio::spawn(async move {
            post(&client, batch, &supported).await;
            drop(permit);
        });
    }
}

async fn post(client: &SentinelClient, batch: Vec<Item>, supported: &AtomicBool) {
    let batch = if batch.len() > 1 && supported.load(Ordering::Relaxed) {
        match post_batch(client, batch, supported).await {
            Some(unanswered) => unanswered,
            None => return,
        }
    } else {
        batch
    };
    let mut set = tokio::task::JoinSet::new();
    for item in batch {
        let client = client.clone();
        set.spawn(async move {
            let outcome = single(&client, &item.req).await;
            (item.done)(outcome);
        });
    }
    while set.join_next().await.is_some() {}
}

/// Posts `batch` as one request; gives the items back when they must go singly instead.
async fn post_batch(
    client: &SentinelClient,
    batch: Vec<Item>,
    supported: &AtomicBool,
) -> Option<Vec<Item>> {
    // The requests move into the body (a result can be large); their senders wait beside it.
    let (results, dones): (Vec<CompleteRequest>, Vec<OnPosted>) =
        batch.into_iter().map(|i| (i.req, i.done)).unzip();
    let req = CompleteBatchRequest { results };
    match client
        .call::<_, CompleteBatchResponse>(PATH_CHUNK_COMPLETE_BATCH, &req)
        .await
    {
        Ok(resp) if resp.results.len() == dones.len() => {
            let refilled = !resp.leases.is_empty();
            let mut leases = Some(resp.leases);
            for (done, outcome) in dones.into_iter().zip(resp.results) {
                done(Posted {
                    outcome: match outcome {
                        BatchOutcome::Accepted => Reported::Accepted { fresh: true },
                        BatchOutcome::AlreadyDone => Reported::Accepted { fresh: false },
                        BatchOutcome::Stale => Reported::Stale,
                    },
                    leases: leases.take().unwrap_or_default(),
                    refilled,
                });
            }
            return None;
        }
        Ok(resp) => tracing::warn!(
            sent = dones.len(),
            answered = resp.results.len(),
            "batch answer does not match; posting singly"
        ),
        Err(e) if matches!(e.status(), Some(404 | 405)) => {
            tracing::info!("sentinel has no batch completion; posting results singly");
            supported.store(false, Ordering::Relaxed);
        }
        Err(e) => {
            let msg = e.to_string();
            for done in dones {
                done(Posted::bare(Reported::Failed(msg.clone())));
            }
            return None;
        }
    }
    Some(
        req.results
            .into_iter()
            .zip(dones)
            .map(|(req, done)| Item { req, done })
            .collect(),
    )
}

async fn single(client: &SentinelClient, req: &CompleteRequest) -> Posted {
    match client.complete(req).await {
        Ok(r) => Posted {
            outcome: Reported::Accepted { fresh: r.accepted },
            refilled: !r.leases.is_empty(),
            leases: r.leases,
        },
        Err(e) if e.is_stale_lease() => Posted::bare(Reported::Stale),
        Err(e) => Posted::bare(Reported::Failed(e.to_string())),
    }
}
