//! Decoding store rows (SQLite or PostgreSQL, through [`DbRow`]) into store records, and mapping
//! sqlx errors to [`StoreError`].

use std::str::FromStr;

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::{
    ActiveWork, AuthTokenInfo, AuthTokenKind, ChunkResult, ClaimTokenInfo, ConvergencePoint, Job,
    Node, NodeLoad, NodeStatus, PendingClaim, StoreError, User,
};
use crate::domain::{ChunkIndex, JobStatus, NodeId, TokenHash, UnixMillis, UserId};

/// Chunk indexes as one JSON array for SQLite's `json_each`, so a statement selecting "any of
/// these chunks" is the same for any batch size (one cached prepared statement).
pub(super) fn json_indexes<'a>(chunks: impl IntoIterator<Item = &'a ChunkIndex>) -> String {
    let list: Vec<String> = chunks.into_iter().map(|c| c.0.to_string()).collect();
    format!("[{}]", list.join(","))
}

/// Appends `rows` copies of the placeholder tuple `row`, comma-separated: the `VALUES` list of a
/// multi-row SQLite statement.
pub(super) fn push_value_rows(sql: &mut String, rows: usize, row: &str) {
    sql.reserve(rows * (row.len() + 2));
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(row);
    }
}

/// Maps a sqlx error to the store's vocabulary: constraint kinds become typed errors.
pub(super) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) => match db.kind() {
            sqlx::error::ErrorKind::UniqueViolation => StoreError::Conflict(db.message().into()),
            sqlx::error::ErrorKind::ForeignKeyViolation => {
                StoreError::MissingReference(db.message().into())
            }
            sqlx::error::ErrorKind::CheckViolation | sqlx::error::ErrorKind::NotNullViolation => {
                StoreError::Invalid(db.message().into())
            }
            _ => StoreError::Backend(e.to_string()),
        },
        sqlx::Error::PoolClosed => StoreError::Closed,
        _ => StoreError::Backend(e.to_string()),
    }
}

/// A leader fence token as the BIGINT it is stored as.
pub(super) fn fence_value(fence: &super::LeaderFence) -> Result<i64, StoreError> {
    i64::try_from(fence.token.0).map_err(|_| StoreError::Invalid("fence token out of range".into()))
}

fn corrupt(col: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("column {col}: {e}"))
}

/// The column reads the decoders need, for each engine's row type. Ids are TEXT on SQLite and
/// UUID on PostgreSQL; both read as their hyphenated text.
pub(super) trait DbRow {
    /// An integer column.
    fn i64(&self, col: &str) -> Result<i64, StoreError>;
    /// A nullable integer column.
    fn opt_i64(&self, col: &str) -> Result<Option<i64>, StoreError>;
    /// A text column.
    fn text(&self, col: &str) -> Result<String, StoreError>;
    /// A nullable text column.
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError>;
    /// A boolean column.
    fn flag(&self, col: &str) -> Result<bool, StoreError>;
    /// A floating-point column.
    fn real(&self, col: &str) -> Result<f64, StoreError>;
    /// A nullable blob column.
    fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// An id column as text.
    fn id_text(&self, col: &str) -> Result<String, StoreError>;
    /// A nullable id column as text.
    fn opt_id_text(&self, col: &str) -> Result<Option<String>, StoreError>;
}

macro_rules! common_reads {
    () => {
        fn i64(&self, col: &str) -> Result<i64, StoreError> {
            self.try_get(col).map_err(|e| corrupt(col, e))
        }
        fn opt_i64(&self, col: &str) -> Result<Option<i64>, StoreError> {
            self.try_get(col).map_err(|e| corrupt(col, e))
        }
        fn text(&self, col: &str) -> Result<String, StoreError> {
            self.try_get(col).map_err(|e| corrupt(col, e))
        }
        fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
            self.try_get(col).map_err(|e| corrupt(col, e))
        }
        fn flag(&self, col: &str) -> Result<bool, StoreError> {
            self.try_get(col).map_err(|e| corrupt(col, e))
        }
        fn real(&self, col: &str) -> Result<f64, StoreError> {
            self.try_get(col).map_err(|e| corrupt(col, e))
        }
        fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>, StoreError> {
            self.try_get(col).map_err(|e| corrupt(col, e))
        }
    };
}

impl DbRow for SqliteRow {
    common_reads!();
    fn id_text(&self, col: &str) -> Result<String, StoreError> {
        self.text(col)
    }
    fn opt_id_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        self.opt_text(col)
    }
}

impl DbRow for PgRow {
    common_reads!();
    fn id_text(&self, col: &str) -> Result<String, StoreError> {
        let id: uuid::Uuid = self.try_get(col).map_err(|e| corrupt(col, e))?;
        Ok(id.to_string())
    }
    fn opt_id_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        let id: Option<uuid::Uuid> = self.try_get(col).map_err(|e| corrupt(col, e))?;
        Ok(id.map(|i| i.to_string()))
    }
}

fn parse<T: FromStr>(col: &str, s: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e| corrupt(col, e))
}

fn millis(row: &impl DbRow, col: &str) -> Result<UnixMillis, StoreError> {
    Ok(UnixMillis::from_i64(row.i64(col)?))
}

fn opt_millis(row: &impl DbRow, col: &str) -> Result<Option<UnixMillis>, StoreError> {
    Ok(row.opt_i64(col)?.map(UnixMillis::from_i64))
}

/// Integers are stored as i64: `v` as the column's unsigned type, or `Corrupt`.
fn in_range<T: TryFrom<i64>>(col: &str, v: i64) -> Result<T, StoreError> {
    T::try_from(v).map_err(|_| StoreError::Corrupt(format!("column {col} out of range")))
}

fn u32_col(row: &impl DbRow, col: &str) -> Result<u32, StoreError> {
    in_range(col, row.i64(col)?)
}

fn opt_u32_col(row: &impl DbRow, col: &str) -> Result<Option<u32>, StoreError> {
    row.opt_i64(col)?.map(|v| in_range(col, v)).transpose()
}

fn u64_col(row: &impl DbRow, col: &str) -> Result<u64, StoreError> {
    in_range(col, row.i64(col)?)
}

fn id<T: FromStr>(row: &impl DbRow, col: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    parse(col, &row.id_text(col)?)
}

fn opt_id<T: FromStr>(row: &impl DbRow, col: &str) -> Result<Option<T>, StoreError>
where
    T::Err: std::fmt::Display,
{
    row.opt_id_text(col)?.map(|s| parse(col, &s)).transpose()
}

/// A `users` row.
pub(super) fn user(row: &impl DbRow) -> Result<User, StoreError> {
    Ok(User {
        id: id(row, "id")?,
        email: row.text("email")?,
        password_hash: row.text("password_hash")?,
        is_admin: row.flag("is_admin")?,
        created_at: millis(row, "created_at")?,
    })
}

/// An `auth_tokens` row.
pub(super) fn auth_token(row: &impl DbRow) -> Result<AuthTokenInfo, StoreError> {
    let kind = match row.text("kind")?.as_str() {
        "session" => AuthTokenKind::Session,
        "api" => AuthTokenKind::Api,
        other => return Err(StoreError::Corrupt(format!("token kind {other:?}"))),
    };
    Ok(AuthTokenInfo {
        hash: row.text("token_hash")?,
        kind,
        name: row.text("name")?,
        created_at: millis(row, "created_at")?,
        expires_at: opt_millis(row, "expires_at")?,
        last_used_at: opt_millis(row, "last_used_at")?,
    })
}

/// A `claim_tokens` row as listed.
pub(super) fn claim_token(row: &impl DbRow) -> Result<ClaimTokenInfo, StoreError> {
    Ok(ClaimTokenInfo {
        hash: row.text("token_hash")?,
        created_at: millis(row, "created_at")?,
        expires_at: opt_millis(row, "expires_at")?,
        revoked_at: opt_millis(row, "revoked_at")?,
        name: row.text("name")?,
        last_used_at: opt_millis(row, "last_used_at")?,
    })
}

/// What decides whether a claim token still works.
pub(super) struct ClaimTokenState {
    /// Owner.
    pub(super) user: UserId,
    /// Expiry, if any.
    pub(super) expires_at: Option<UnixMillis>,
    /// Revocation time, if revoked.
    pub(super) revoked_at: Option<UnixMillis>,
}

/// The owner, expiry and revocation of a `claim_tokens` row.
pub(super) fn claim_token_state(row: &impl DbRow) -> Result<ClaimTokenState, StoreError> {
    Ok(ClaimTokenState {
        user: id(row, "user_id")?,
        expires_at: opt_millis(row, "expires_at")?,
        revoked_at: opt_millis(row, "revoked_at")?,
    })
}

/// The `jobs, queued` aggregate of [`super::Store::active_work`].
pub(super) fn active_work(row: &impl DbRow) -> Result<ActiveWork, StoreError> {
    Ok(ActiveWork {
        jobs: u32_col(row, "jobs")?,
        queued_iterations: u64_col(row, "queued")?,
    })
}

/// A `nodes` row.
pub(super) fn node(row: &impl DbRow) -> Result<Node, StoreError> {
    let status = match row.text("status")?.as_str() {
        "pending" => NodeStatus::Pending,
        "online" => NodeStatus::Online,
        "offline" => NodeStatus::Offline,
        other => return Err(StoreError::Corrupt(format!("node status {other:?}"))),
    };
    Ok(Node {
        id: id(row, "id")?,
        owner: opt_id(row, "owner_id")?,
        public_key: row.text("public_key")?,
        name: row.text("name")?,
        claim_code: match (
            row.opt_text("claim_code")?,
            opt_millis(row, "claim_code_expires_at")?,
        ) {
            (Some(hash), Some(expires_at)) => Some(PendingClaim {
                hash: TokenHash::from_hex(hash),
                expires_at,
            }),
            _ => None,
        },
        max_parallel: u32_col(row, "max_parallel")?,
        cores: u32_col(row, "cores")?,
        local_max_parallel: opt_u32_col(row, "local_max_parallel")?,
        status,
        draining: row.flag("draining")?,
        version: row.text("version")?,
        last_seen_at: opt_millis(row, "last_seen_at")?,
        load: NodeLoad {
            active_chunks: u32_col(row, "active_chunks")?,
            running_chunks: opt_u32_col(row, "running_chunks")?,
            free_slots: u32_col(row, "free_slots")?,
            sims_per_sec: row.real("sims_per_sec")?,
            load1: row.real("load1")?,
            mem_used_bytes: u64_col(row, "mem_used_bytes")?,
            mem_total_bytes: u64_col(row, "mem_total_bytes")?,
        },
        created_at: millis(row, "created_at")?,
    })
}

/// A `jobs` row.
pub(super) fn job(row: &impl DbRow) -> Result<Job, StoreError> {
    Ok(Job {
        id: id(row, "id")?,
        owner: id(row, "owner_id")?,
        config_hash: row.text("config_hash")?,
        iterations: u64_col(row, "iterations")?,
        // The seed is stored as the i64 with the same bits.
        seed: row.i64("seed")? as u64,
        chunk_size: u64_col(row, "chunk_size")?,
        chunk_count: u32_col(row, "chunk_count")?,
        chunk_wall_limit_ms: u64_col(row, "chunk_wall_limit_ms")?,
        status: parse::<JobStatus>("status", &row.text("status")?)?,
        version: row.i64("version")?,
        result: row.opt_bytes("result")?,
        failure_reason: row.opt_text("failure_reason")?,
        public: row.flag("is_public")?,
        created_at: millis(row, "created_at")?,
        started_at: opt_millis(row, "started_at")?,
        finished_at: opt_millis(row, "finished_at")?,
    })
}

/// A `chunk_results` row.
pub(super) fn convergence_point(row: &impl DbRow) -> Result<ConvergencePoint, StoreError> {
    let iterations = row.i64("iterations")?;
    Ok(ConvergencePoint {
        iterations: u64::try_from(iterations).map_err(|e| corrupt("iterations", e))?,
        mean: row.real("mean_dps")?,
        ci95: row.real("ci95")?,
    })
}

/// A `(node_id, chunks)` row of [`super::Store::job_nodes`].
pub(super) fn job_node(row: &impl DbRow) -> Result<(NodeId, u32), StoreError> {
    let chunks = row.i64("chunks")?;
    Ok((
        id(row, "node_id")?,
        u32::try_from(chunks).map_err(|e| corrupt("chunks", e))?,
    ))
}

pub(super) fn chunk_result(row: &impl DbRow) -> Result<ChunkResult, StoreError> {
    Ok(ChunkResult {
        job: id(row, "job_id")?,
        chunk: ChunkIndex(u32_col(row, "chunk_index")?),
        node: opt_id(row, "node_id")?,
        result: row
            .opt_bytes("result")?
            .ok_or_else(|| StoreError::Corrupt("column result: NULL".into()))?,
    })
}

/// A `job_targets` row (`target_error, max_iterations, waves, scheduled_chunks,
/// half_width_pct`) of job `id`.
pub(super) type JobTargetRow = (f64, i64, i64, i64, Option<f64>);

/// The [`JobTarget`](super::JobTarget) of a `job_targets` row, refusing negative counts.
pub(super) fn job_target(
    id: crate::domain::JobId,
    (target_error, max, waves, chunks, half_width_pct): JobTargetRow,
) -> Result<super::JobTarget, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("job target {what} of {id}"));
    Ok(super::JobTarget {
        target_error,
        max_iterations: u64::try_from(max).map_err(|_| corrupt("maximum"))?,
        waves: u32::try_from(waves).map_err(|_| corrupt("waves"))?,
        scheduled_chunks: u32::try_from(chunks).map_err(|_| corrupt("chunks"))?,
        half_width_pct,
    })
}
