//! Group commit for chunk results: one writer task gathers every `put_chunk_result` that arrives
//! while the previous transaction is in flight and writes them in one transaction, so the cost
//! of a commit (an fsync of the WAL) is shared by the whole batch. Under light load a batch is a
//! single row and latency is one transaction; under heavy load batches grow by themselves.
//! The loop is engine-neutral ([`ResultWriter`]); SQLite's writer is here, PostgreSQL's in
//! `postgres.rs`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::rows::{db_err, json_indexes, push_value_rows};
use super::{ChunkResult, PutOutcome, StoreError};
use crate::domain::{ChunkIndex, JobId, UnixMillis};

const INSERT: &str =
    "INSERT INTO chunk_results (job_id, chunk_index, node_id, result, created_at) \
     VALUES (?, ?, ?, ?, ?) ON CONFLICT (job_id, chunk_index) DO NOTHING";
const INSERT_HEAD: &str =
    "INSERT INTO chunk_results (job_id, chunk_index, node_id, result, created_at) VALUES ";
/// Rows per statement: 5 binds each stays far below SQLite's 32 766-variable limit.
const ROWS_PER_STATEMENT: usize = 1000;

/// One batch outcome per item, in order; `Err` for the whole batch means "retry rows singly".
pub(super) type BatchOutcome = Result<Vec<Result<PutOutcome, StoreError>>, StoreError>;

/// How one engine writes chunk results.
#[async_trait]
pub(super) trait ResultWriter: Send + Sync + 'static {
    /// Writes every item in one transaction.
    async fn write_batch(&self, items: &[(&ChunkResult, UnixMillis)]) -> BatchOutcome;
    /// Writes one item on its own.
    async fn write_one(
        &self,
        item: &ChunkResult,
        now: UnixMillis,
    ) -> Result<PutOutcome, StoreError>;
}

/// The SQLite writer.
pub(super) struct SqliteWriter(pub(super) SqlitePool);

#[async_trait]
impl ResultWriter for SqliteWriter {
    async fn write_batch(&self, items: &[(&ChunkResult, UnixMillis)]) -> BatchOutcome {
        write_batch(&self.0, items).await
    }

    async fn write_one(
        &self,
        item: &ChunkResult,
        now: UnixMillis,
    ) -> Result<PutOutcome, StoreError> {
        write_one(&self.0, item, now).await
    }
}

struct Request {
    item: ChunkResult,
    now: UnixMillis,
    reply: oneshot::Sender<Result<PutOutcome, StoreError>>,
}

/// Counters of the writer, for metrics and the group-commit measurement.
#[derive(Debug, Default)]
pub struct GroupCommitStats {
    batches: AtomicU64,
    items: AtomicU64,
}

impl GroupCommitStats {
    /// Transactions committed so far.
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    /// Results written so far (inserted or duplicate).
    pub fn items(&self) -> u64 {
        self.items.load(Ordering::Relaxed)
    }
}

/// Handle to the writer task; the task ends when the last handle is dropped.
pub(super) struct GroupCommitter {
    tx: mpsc::Sender<Request>,
    stats: Arc<GroupCommitStats>,
}

impl GroupCommitter {
    /// Starts the writer on the current tokio runtime.
    pub(super) fn spawn(writer: impl ResultWriter, max_batch: usize) -> Self {
        let max_batch = max_batch.max(1);
        let (tx, rx) = mpsc::channel(max_batch * 4);
        let stats = Arc::new(GroupCommitStats::default());
        tokio::spawn(run(writer, rx, max_batch, stats.clone()));
        Self { tx, stats }
    }

    /// Queues one result and waits for its transaction.
    pub(super) async fn put(
        &self,
        item: ChunkResult,
        now: UnixMillis,
    ) -> Result<PutOutcome, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request { item, now, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// The writer's counters.
    pub(super) fn stats(&self) -> &GroupCommitStats {
        &self.stats
    }
}

async fn run(
    writer: impl ResultWriter,
    mut rx: mpsc::Receiver<Request>,
    max_batch: usize,
    stats: Arc<GroupCommitStats>,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut batch, max_batch).await > 0 {
        let items: Vec<(&ChunkResult, UnixMillis)> =
            batch.iter().map(|r| (&r.item, r.now)).collect();
        let outcomes = match writer.write_batch(&items).await {
            Ok(outcomes) => outcomes,
            Err(e) => {
                // One bad row (e.g. an unknown job) must not fail its neighbours: retry each
                // row on its own and give every caller its own answer.
                tracing::debug!(error = %e, size = items.len(), "group commit failed; retrying rows singly");
                let mut single = Vec::with_capacity(items.len());
                for (item, now) in &items {
                    single.push(writer.write_one(item, *now).await);
                }
                single
            }
        };
        stats.batches.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("sentinel_result_commits_total").increment(1);
        metrics::histogram!("sentinel_result_commit_batch_size").record(batch.len() as f64);
        stats.items.fetch_add(batch.len() as u64, Ordering::Relaxed);
        for (req, outcome) in batch.drain(..).zip(outcomes) {
            // The caller may have gone away; its row is written either way.
            let _ = req.reply.send(outcome);
        }
    }
}

/// Writes the whole batch in one transaction with multi-row `INSERT … ON CONFLICT DO NOTHING`
/// statements. In the common case every key is new and the inserted row count says so, with
/// no read; asking the `INSERT` to return its new keys instead costs a hand-off from SQLite's
/// worker thread per row. When the count falls short (a retried post, or a key twice in the
/// batch) the transaction is rolled back and redone after reading which keys exist. A key seen
/// twice in one batch is new only the first time.
async fn write_batch(pool: &SqlitePool, items: &[(&ChunkResult, UnixMillis)]) -> BatchOutcome {
    // Write-locked from the start: a deferred transaction that reads first could not upgrade
    // after another connection's commit (SQLITE_BUSY_SNAPSHOT), and the batch would be retried
    // row by row.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    if insert_rows(&mut tx, items).await? == items.len() as u64 {
        tx.commit().await.map_err(db_err)?;
        return Ok(vec![Ok(PutOutcome::Inserted); items.len()]);
    }
    tx.rollback().await.map_err(db_err)?;
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    let existing = existing_keys(&mut tx, items).await?;
    insert_rows(&mut tx, items).await?;
    tx.commit().await.map_err(db_err)?;
    let mut seen = HashSet::with_capacity(items.len());
    Ok(items
        .iter()
        .map(|(item, _)| {
            let key = (item.job, item.chunk);
            Ok(if existing.contains(&key) || !seen.insert(key) {
                PutOutcome::Duplicate
            } else {
                PutOutcome::Inserted
            })
        })
        .collect())
}

/// Which of the items' keys are already stored.
async fn existing_keys(
    conn: &mut sqlx::SqliteConnection,
    items: &[(&ChunkResult, UnixMillis)],
) -> Result<HashSet<(JobId, ChunkIndex)>, StoreError> {
    let mut by_job: HashMap<JobId, Vec<ChunkIndex>> = HashMap::new();
    for (item, _) in items {
        by_job.entry(item.job).or_default().push(item.chunk);
    }
    let mut found = HashSet::new();
    for (job, chunks) in by_job {
        let chunks = json_indexes(&chunks);
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT chunk_index FROM chunk_results WHERE job_id = ? \
             AND chunk_index IN (SELECT value FROM json_each(?))",
        )
        .bind(job.to_string())
        .bind(chunks)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
        for (chunk,) in rows {
            let chunk = u32::try_from(chunk)
                .map_err(|_| StoreError::Corrupt(format!("chunk index {chunk} out of range")))?;
            found.insert((job, ChunkIndex(chunk)));
        }
    }
    Ok(found)
}

/// Inserts `items` on `conn` (a transaction) with multi-row statements; a stored key is left
/// as it is. Returns how many rows were inserted.
pub(super) async fn insert_rows(
    conn: &mut sqlx::SqliteConnection,
    items: &[(&ChunkResult, UnixMillis)],
) -> Result<u64, StoreError> {
    let mut inserted = 0;
    for part in items.chunks(ROWS_PER_STATEMENT) {
        let mut sql = String::from(INSERT_HEAD);
        push_value_rows(&mut sql, part.len(), "(?, ?, ?, ?, ?)");
        sql.push_str(" ON CONFLICT (job_id, chunk_index) DO NOTHING");
        let mut q = sqlx::query(&sql);
        for (item, now) in part {
            q = q
                .bind(item.job.to_string())
                .bind(i64::from(item.chunk.0))
                .bind(item.node.map(|n| n.to_string()))
                .bind(item.result.as_slice())
                .bind(now.as_i64());
        }
        inserted += q.execute(&mut *conn).await.map_err(db_err)?.rows_affected();
    }
    Ok(inserted)
}

async fn write_one(
    pool: &SqlitePool,
    item: &ChunkResult,
    now: UnixMillis,
) -> Result<PutOutcome, StoreError> {
    let done = bind(item, now).execute(pool).await.map_err(db_err)?;
    Ok(outcome(done.rows_affected()))
}

fn bind(
    item: &ChunkResult,
    now: UnixMillis,
) -> sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'_>> {
    sqlx::query(INSERT)
        .bind(item.job.to_string())
        .bind(i64::from(item.chunk.0))
        .bind(item.node.map(|n| n.to_string()))
        .bind(item.result.as_slice())
        .bind(now.as_i64())
}

fn outcome(rows: u64) -> PutOutcome {
    if rows == 0 {
        PutOutcome::Duplicate
    } else {
        PutOutcome::Inserted
    }
}
