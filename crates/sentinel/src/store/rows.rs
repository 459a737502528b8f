//! Decoding SQLite rows into store records, and mapping sqlx errors to [`StoreError`].

use std::str::FromStr;

use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::{
    ActiveWork, AuthTokenInfo, AuthTokenKind, ChunkResult, ClaimTokenInfo, Job, Node, NodeLoad,
    NodeStatus, PendingClaim, StoreError, User,
};
use crate::domain::{ChunkIndex, JobStatus, TokenHash, UnixMillis, UserId};

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

fn get<'r, T>(row: &'r SqliteRow, col: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(col)
        .map_err(|e| StoreError::Corrupt(format!("column {col}: {e}")))
}

fn parse<T: FromStr>(col: &str, s: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    s.parse()
        .map_err(|e| StoreError::Corrupt(format!("column {col}: {e}")))
}

fn millis(row: &SqliteRow, col: &str) -> Result<UnixMillis, StoreError> {
    Ok(UnixMillis::from_i64(get::<i64>(row, col)?))
}

fn opt_millis(row: &SqliteRow, col: &str) -> Result<Option<UnixMillis>, StoreError> {
    Ok(get::<Option<i64>>(row, col)?.map(UnixMillis::from_i64))
}

/// SQLite stores integers as i64: `v` as the column's unsigned type, or `Corrupt`.
fn in_range<T: TryFrom<i64>>(col: &str, v: i64) -> Result<T, StoreError> {
    T::try_from(v).map_err(|_| StoreError::Corrupt(format!("column {col} out of range")))
}

fn u32_col(row: &SqliteRow, col: &str) -> Result<u32, StoreError> {
    in_range(col, get::<i64>(row, col)?)
}

fn opt_u32_col(row: &SqliteRow, col: &str) -> Result<Option<u32>, StoreError> {
    get::<Option<i64>>(row, col)?
        .map(|v| in_range(col, v))
        .transpose()
}

fn u64_col(row: &SqliteRow, col: &str) -> Result<u64, StoreError> {
    in_range(col, get::<i64>(row, col)?)
}

/// A `users` row.
pub(super) fn user(row: &SqliteRow) -> Result<User, StoreError> {
    Ok(User {
        id: parse("id", &get::<String>(row, "id")?)?,
        email: get(row, "email")?,
        password_hash: get(row, "password_hash")?,
        is_admin: get(row, "is_admin")?,
        created_at: millis(row, "created_at")?,
    })
}

/// An `auth_tokens` row.
pub(super) fn auth_token(row: &SqliteRow) -> Result<AuthTokenInfo, StoreError> {
    let kind = match get::<String>(row, "kind")?.as_str() {
        "session" => AuthTokenKind::Session,
        "api" => AuthTokenKind::Api,
        other => return Err(StoreError::Corrupt(format!("token kind {other:?}"))),
    };
    Ok(AuthTokenInfo {
        hash: get(row, "token_hash")?,
        kind,
        name: get(row, "name")?,
        created_at: millis(row, "created_at")?,
        expires_at: opt_millis(row, "expires_at")?,
    })
}

/// A `claim_tokens` row as listed.
pub(super) fn claim_token(row: &SqliteRow) -> Result<ClaimTokenInfo, StoreError> {
    Ok(ClaimTokenInfo {
        hash: get(row, "token_hash")?,
        created_at: millis(row, "created_at")?,
        expires_at: opt_millis(row, "expires_at")?,
        revoked_at: opt_millis(row, "revoked_at")?,
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
pub(super) fn claim_token_state(row: &SqliteRow) -> Result<ClaimTokenState, StoreError> {
    Ok(ClaimTokenState {
        user: parse("user_id", &get::<String>(row, "user_id")?)?,
        expires_at: opt_millis(row, "expires_at")?,
        revoked_at: opt_millis(row, "revoked_at")?,
    })
}

/// The `jobs, queued` aggregate of [`super::Store::active_work`].
pub(super) fn active_work(row: &SqliteRow) -> Result<ActiveWork, StoreError> {
    Ok(ActiveWork {
        jobs: u32_col(row, "jobs")?,
        queued_iterations: u64_col(row, "queued")?,
    })
}

/// A `nodes` row.
pub(super) fn node(row: &SqliteRow) -> Result<Node, StoreError> {
    let status = match get::<String>(row, "status")?.as_str() {
        "pending" => NodeStatus::Pending,
        "online" => NodeStatus::Online,
        "offline" => NodeStatus::Offline,
        other => return Err(StoreError::Corrupt(format!("node status {other:?}"))),
    };
    Ok(Node {
        id: parse("id", &get::<String>(row, "id")?)?,
        owner: get::<Option<String>>(row, "owner_id")?
            .map(|s| parse("owner_id", &s))
            .transpose()?,
        public_key: get(row, "public_key")?,
        name: get(row, "name")?,
        claim_code: match (
            get::<Option<String>>(row, "claim_code")?,
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
        draining: get(row, "draining")?,
        version: get(row, "version")?,
        last_seen_at: opt_millis(row, "last_seen_at")?,
        load: NodeLoad {
            active_chunks: u32_col(row, "active_chunks")?,
            running_chunks: opt_u32_col(row, "running_chunks")?,
            free_slots: u32_col(row, "free_slots")?,
            sims_per_sec: get(row, "sims_per_sec")?,
            load1: get(row, "load1")?,
            mem_used_bytes: u64_col(row, "mem_used_bytes")?,
            mem_total_bytes: u64_col(row, "mem_total_bytes")?,
        },
        created_at: millis(row, "created_at")?,
    })
}

/// A `jobs` row.
pub(super) fn job(row: &SqliteRow) -> Result<Job, StoreError> {
    Ok(Job {
        id: parse("id", &get::<String>(row, "id")?)?,
        owner: parse("owner_id", &get::<String>(row, "owner_id")?)?,
        config_hash: get(row, "config_hash")?,
        iterations: u64_col(row, "iterations")?,
        // The seed is stored as the i64 with the same bits.
        seed: get::<i64>(row, "seed")? as u64,
        chunk_size: u64_col(row, "chunk_size")?,
        chunk_count: u32_col(row, "chunk_count")?,
        chunk_wall_limit_ms: u64_col(row, "chunk_wall_limit_ms")?,
        status: parse::<JobStatus>("status", &get::<String>(row, "status")?)?,
        version: get(row, "version")?,
        result: get(row, "result")?,
        failure_reason: get(row, "failure_reason")?,
        public: get(row, "is_public")?,
        created_at: millis(row, "created_at")?,
        started_at: opt_millis(row, "started_at")?,
        finished_at: opt_millis(row, "finished_at")?,
    })
}

/// A `chunk_results` row.
pub(super) fn chunk_result(row: &SqliteRow) -> Result<ChunkResult, StoreError> {
    Ok(ChunkResult {
        job: parse("job_id", &get::<String>(row, "job_id")?)?,
        chunk: ChunkIndex(u32_col(row, "chunk_index")?),
        node: get::<Option<String>>(row, "node_id")?
            .map(|s| parse("node_id", &s))
            .transpose()?,
        result: get(row, "result")?,
    })
}
