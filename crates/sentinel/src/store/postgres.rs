//! PostgreSQL [`Store`] for sentinels that scale out: the schema of the SQLite store with native
//! types (`migrations/postgres/`, embedded and applied at start), a pool sized by config, and
//! chunk results written by the group-commit loop as one multi-row `INSERT … SELECT FROM
//! UNNEST(…)` per batch (five array binds whatever the batch size).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use super::group_commit::{BatchOutcome, GroupCommitStats, GroupCommitter, ResultWriter};
use super::rows::{self, db_err};
use super::{
    ActiveWork, AuthTokenInfo, AuthTokenKind, ChunkResult, ClaimTokenCheck, ClaimTokenInfo,
    ConvergencePoint, Job, JobTarget, LeaderFence, NewAuthToken, NewJob, NewNode, Node, NodeLoad,
    NodeSettings, NodeStatus, PendingClaim, PutOutcome, Store, StoreError, TransitionData, User,
};
use crate::domain::{ChunkIndex, JobId, JobStatus, NodeId, TokenHash, UnixMillis, UserId};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How to open a [`PostgresStore`].
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// `postgres://user:password@host:port/database`.
    pub url: String,
    /// Schema holding the tables (created if missing); `None` uses the server's search path.
    /// One schema per grid lets grids (or test runs) share a database.
    pub schema: Option<String>,
    /// Connections in the pool at most.
    pub max_connections: u32,
    /// Most chunk results written in one batch.
    pub group_commit_max_batch: usize,
    /// How long a request waits for a free connection before failing.
    pub acquire_timeout: Duration,
}

impl PostgresOptions {
    /// Options for `url` with the defaults: 16 connections, batches of up to 512 results.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: None,
            max_connections: 16,
            group_commit_max_batch: 512,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// The PostgreSQL store.
pub struct PostgresStore {
    pool: PgPool,
    results: GroupCommitter,
}

/// A schema name that needs no quoting (letters, digits, `_`; not starting with a digit).
fn check_schema(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "schema name {name:?}: use letters, digits and _ only"
        )))
    }
}

/// How long a transaction may wait for its client before PostgreSQL ends it; a sentinel's
/// own transactions wait milliseconds between statements.
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "10s";

impl PostgresStore {
    /// Connects, creates the schema if asked and missing, and applies the migrations. Must run
    /// inside a tokio runtime: it starts the group-commit writer task.
    pub async fn open(opts: PostgresOptions) -> Result<Self, StoreError> {
        let mut connect = PgConnectOptions::from_str(&opts.url)
            .map_err(|e| StoreError::Invalid(format!("postgres url: {e}")))?
            // A sentinel frozen mid-transaction (paused VM, SIGSTOP) keeps its row locks,
            // among them the leader fence a new leader must raise: PostgreSQL ends such a
            // transaction instead of letting the takeover wait for the frozen process.
            .options([(
                "idle_in_transaction_session_timeout",
                IDLE_IN_TRANSACTION_TIMEOUT,
            )]);
        if let Some(schema) = &opts.schema {
            check_schema(schema)?;
            // Its own short-lived connection: the pool's connections all use the schema.
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(opts.acquire_timeout)
                .connect_with(connect.clone())
                .await
                .map_err(db_err)?;
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .execute(&admin)
                .await
                .map_err(db_err)?;
            admin.close().await;
            connect = connect.options([("search_path", schema.as_str())]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(db_err)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))?;
        let results = GroupCommitter::spawn(PgWriter(pool.clone()), opts.group_commit_max_batch);
        Ok(Self { pool, results })
    }

    /// Counters of the group-commit writer.
    pub fn group_commit_stats(&self) -> &GroupCommitStats {
        self.results.stats()
    }

    /// Closes the pool (waits for connections in use to come back).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn fetch_user<'q, A>(&self, sql: &'q str, arg: A) -> Result<Option<User>, StoreError>
    where
        A: 'q + Send + sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>,
    {
        sqlx::query(sql)
            .bind(arg)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(|r| rows::user(&r))
            .transpose()
    }

    async fn fetch_node<'q, A>(&self, sql: &'q str, arg: A) -> Result<Option<Node>, StoreError>
    where
        A: 'q + Send + sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>,
    {
        sqlx::query(sql)
            .bind(arg)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(|r| rows::node(&r))
            .transpose()
    }
}

fn to_i64(what: &str, v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Invalid(format!("{what} {v} is too large")))
}

/// A node's own cap is at least one slot when reported.
fn check_local_cap(local_max_parallel: Option<u32>) -> Result<(), StoreError> {
    if local_max_parallel == Some(0) {
        return Err(StoreError::Invalid(
            "local_max_parallel must be at least 1".into(),
        ));
    }
    Ok(())
}

const INSERT_RESULTS: &str =
    "INSERT INTO chunk_results (job_id, chunk_index, node_id, result, created_at) \
     SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::uuid[], $4::bytea[], $5::bigint[]) \
     ON CONFLICT (job_id, chunk_index) DO NOTHING RETURNING job_id, chunk_index";

/// Inserts chunk results with one multi-row statement (atomic on its own) on `conn`; returns
/// the keys that were new (a key seen twice in `items` is new only once).
async fn insert_results(
    conn: &mut sqlx::PgConnection,
    items: &[(&ChunkResult, UnixMillis)],
) -> Result<std::collections::HashSet<(uuid::Uuid, i64)>, StoreError> {
    let mut jobs = Vec::with_capacity(items.len());
    let mut chunks = Vec::with_capacity(items.len());
    let mut nodes = Vec::with_capacity(items.len());
    let mut results = Vec::with_capacity(items.len());
    let mut times = Vec::with_capacity(items.len());
    for (item, now) in items {
        jobs.push(*item.job.as_uuid());
        chunks.push(i64::from(item.chunk.0));
        nodes.push(item.node.map(|n| *n.as_uuid()));
        results.push(item.result.as_slice());
        times.push(now.as_i64());
    }
    let inserted: Vec<(uuid::Uuid, i64)> = sqlx::query_as(INSERT_RESULTS)
        .bind(&jobs)
        .bind(&chunks)
        .bind(&nodes)
        .bind(&results)
        .bind(&times)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(inserted.into_iter().collect())
}

/// Writes chunk results as one multi-row insert per batch.
struct PgWriter(PgPool);

#[async_trait]
impl ResultWriter for PgWriter {
    async fn write_batch(&self, items: &[(&ChunkResult, UnixMillis)]) -> BatchOutcome {
        let mut conn = self.0.acquire().await.map_err(db_err)?;
        let mut inserted = insert_results(&mut conn, items).await?;
        Ok(items
            .iter()
            .map(|(item, _)| {
                Ok(
                    if inserted.remove(&(*item.job.as_uuid(), i64::from(item.chunk.0))) {
                        PutOutcome::Inserted
                    } else {
                        PutOutcome::Duplicate
                    },
                )
            })
            .collect())
    }

    async fn write_one(
        &self,
        item: &ChunkResult,
        now: UnixMillis,
    ) -> Result<PutOutcome, StoreError> {
        let done = sqlx::query(
            "INSERT INTO chunk_results (job_id, chunk_index, node_id, result, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (job_id, chunk_index) DO NOTHING",
        )
        .bind(*item.job.as_uuid())
        .bind(i64::from(item.chunk.0))
        .bind(item.node.map(|n| *n.as_uuid()))
        .bind(item.result.as_slice())
        .bind(now.as_i64())
        .execute(&self.0)
        .await
        .map_err(db_err)?;
        Ok(if done.rows_affected() == 0 {
            PutOutcome::Duplicate
        } else {
            PutOutcome::Inserted
        })
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn create_user(
        &self,
        email: &str,
        password_hash: &str,
        now: UnixMillis,
    ) -> Result<User, StoreError> {
        // The first-account-becomes-admin decision is part of the same statement, so two
        // concurrent sign-ups on a fresh install cannot both become admin.
        let row = sqlx::query(
            "INSERT INTO users (id, email, password_hash, is_admin, created_at) \
             SELECT $1, $2, $3, NOT EXISTS (SELECT 1 FROM users WHERE email NOT LIKE '%@grid.invalid'), $4 \
             RETURNING *",
        )
        .bind(*UserId::new().as_uuid())
        .bind(email)
        .bind(password_hash)
        .bind(now.as_i64())
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        rows::user(&row)
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.fetch_user("SELECT * FROM users WHERE id = $1", *id.as_uuid())
            .await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.fetch_user("SELECT * FROM users WHERE email = $1", email.to_owned())
            .await
    }

    async fn insert_auth_token(
        &self,
        token: NewAuthToken,
        now: UnixMillis,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO auth_tokens (token_hash, user_id, kind, name, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token.hash.as_str())
        .bind(*token.user.as_uuid())
        .bind(token.kind.as_str())
        .bind(&token.name)
        .bind(now.as_i64())
        .bind(token.expires_at.map(UnixMillis::as_i64))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn user_by_auth_token(
        &self,
        hash: &TokenHash,
        kind: AuthTokenKind,
        now: UnixMillis,
    ) -> Result<Option<User>, StoreError> {
        sqlx::query(
            "SELECT u.* FROM auth_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.kind = $2 AND (t.expires_at IS NULL OR t.expires_at > $3)",
        )
        .bind(hash.as_str())
        .bind(kind.as_str())
        .bind(now.as_i64())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .map(|r| rows::user(&r))
        .transpose()
    }

    async fn delete_auth_token(&self, user: UserId, hash: &TokenHash) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM auth_tokens WHERE token_hash = $1 AND user_id = $2")
            .bind(hash.as_str())
            .bind(*user.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn touch_auth_token(&self, hash: &TokenHash, now: UnixMillis) -> Result<(), StoreError> {
        let since = now.as_i64() - super::TOKEN_USE_GRANULARITY.as_millis() as i64;
        sqlx::query(
            "UPDATE auth_tokens SET last_used_at = $1 \
             WHERE token_hash = $2 AND (last_used_at IS NULL OR last_used_at <= $3)",
        )
        .bind(now.as_i64())
        .bind(hash.as_str())
        .bind(since)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn list_auth_tokens(
        &self,
        user: UserId,
        kind: AuthTokenKind,
    ) -> Result<Vec<AuthTokenInfo>, StoreError> {
        sqlx::query(
            "SELECT * FROM auth_tokens WHERE user_id = $1 AND kind = $2 \
             ORDER BY created_at DESC, token_hash",
        )
        .bind(*user.as_uuid())
        .bind(kind.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?
        .iter()
        .map(rows::auth_token)
        .collect()
    }

    async fn auth_token_expired_at(
        &self,
        hash: &TokenHash,
        kind: AuthTokenKind,
        now: UnixMillis,
    ) -> Result<Option<UnixMillis>, StoreError> {
        let at: Option<i64> = sqlx::query_scalar(
            "SELECT expires_at FROM auth_tokens \
             WHERE token_hash = $1 AND kind = $2 AND expires_at IS NOT NULL AND expires_at <= $3",
        )
        .bind(hash.as_str())
        .bind(kind.as_str())
        .bind(now.as_i64())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(at.map(UnixMillis::from_i64))
    }

    async fn insert_claim_token(
        &self,
        user: UserId,
        hash: &TokenHash,
        now: UnixMillis,
        expires_at: Option<UnixMillis>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO claim_tokens (token_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(hash.as_str())
        .bind(*user.as_uuid())
        .bind(now.as_i64())
        .bind(expires_at.map(UnixMillis::as_i64))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn name_claim_token(
        &self,
        user: UserId,
        hash: &TokenHash,
        name: &str,
    ) -> Result<bool, StoreError> {
        let r =
            sqlx::query("UPDATE claim_tokens SET name = $1 WHERE token_hash = $2 AND user_id = $3")
                .bind(name)
                .bind(hash.as_str())
                .bind(*user.as_uuid())
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn touch_claim_token(&self, hash: &TokenHash, now: UnixMillis) -> Result<(), StoreError> {
        sqlx::query("UPDATE claim_tokens SET last_used_at = $1 WHERE token_hash = $2")
            .bind(now.as_i64())
            .bind(hash.as_str())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn check_claim_token(
        &self,
        hash: &TokenHash,
        now: UnixMillis,
    ) -> Result<ClaimTokenCheck, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT user_id, expires_at, revoked_at FROM claim_tokens WHERE token_hash = $1",
        )
        .bind(hash.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        else {
            return Ok(ClaimTokenCheck::Unknown);
        };
        let info = rows::claim_token_state(&row)?;
        Ok(if info.revoked_at.is_some() {
            ClaimTokenCheck::Revoked
        } else if info.expires_at.is_some_and(|e| e <= now) {
            ClaimTokenCheck::Expired
        } else {
            ClaimTokenCheck::Valid(info.user)
        })
    }

    async fn list_claim_tokens(&self, user: UserId) -> Result<Vec<ClaimTokenInfo>, StoreError> {
        sqlx::query(
            "SELECT * FROM claim_tokens WHERE user_id = $1 ORDER BY created_at DESC, token_hash",
        )
        .bind(*user.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?
        .iter()
        .map(rows::claim_token)
        .collect()
    }

    async fn revoke_claim_token(
        &self,
        user: UserId,
        hash: &TokenHash,
        now: UnixMillis,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE claim_tokens SET revoked_at = $1 \
             WHERE token_hash = $2 AND user_id = $3 AND revoked_at IS NULL",
        )
        .bind(now.as_i64())
        .bind(hash.as_str())
        .bind(*user.as_uuid())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn insert_node(&self, node: NewNode, now: UnixMillis) -> Result<Node, StoreError> {
        let row = sqlx::query(
            "INSERT INTO nodes (id, owner_id, public_key, name, claim_code, claim_code_expires_at, \
             max_parallel, cores, status, draining, version, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', FALSE, $9, $10) RETURNING *",
        )
        .bind(*node.id.as_uuid())
        .bind(node.owner.map(|o| *o.as_uuid()))
        .bind(&node.public_key)
        .bind(&node.name)
        .bind(node.claim_code.as_ref().map(|c| c.hash.as_str().to_owned()))
        .bind(node.claim_code.as_ref().map(|c| c.expires_at.as_i64()))
        .bind(i64::from(node.max_parallel))
        .bind(i64::from(node.cores))
        .bind(&node.version)
        .bind(now.as_i64())
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        rows::node(&row)
    }

    async fn node_by_id(&self, id: NodeId) -> Result<Option<Node>, StoreError> {
        self.fetch_node("SELECT * FROM nodes WHERE id = $1", *id.as_uuid())
            .await
    }

    async fn node_by_public_key(&self, key: &str) -> Result<Option<Node>, StoreError> {
        self.fetch_node("SELECT * FROM nodes WHERE public_key = $1", key.to_owned())
            .await
    }

    async fn list_nodes(&self, owner: Option<UserId>) -> Result<Vec<Node>, StoreError> {
        let q = match owner {
            Some(o) => {
                sqlx::query("SELECT * FROM nodes WHERE owner_id = $1 ORDER BY created_at, id")
                    .bind(*o.as_uuid())
            }
            None => sqlx::query("SELECT * FROM nodes ORDER BY created_at, id"),
        };
        q.fetch_all(&self.pool)
            .await
            .map_err(db_err)?
            .iter()
            .map(rows::node)
            .collect()
    }

    async fn claim_node(
        &self,
        code: &TokenHash,
        owner: UserId,
        now: UnixMillis,
    ) -> Result<Option<Node>, StoreError> {
        sqlx::query(
            "UPDATE nodes SET owner_id = $1, claim_code = NULL, claim_code_expires_at = NULL \
             WHERE claim_code = $2 AND owner_id IS NULL AND claim_code_expires_at > $3 RETURNING *",
        )
        .bind(*owner.as_uuid())
        .bind(code.as_str())
        .bind(now.as_i64())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .map(|r| rows::node(&r))
        .transpose()
    }

    async fn renew_claim_code(&self, id: NodeId, claim: &PendingClaim) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE nodes SET claim_code = $1, claim_code_expires_at = $2 \
             WHERE id = $3 AND owner_id IS NULL",
        )
        .bind(claim.hash.as_str())
        .bind(claim.expires_at.as_i64())
        .bind(*id.as_uuid())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn update_node_settings(
        &self,
        id: NodeId,
        owner: UserId,
        settings: NodeSettings,
    ) -> Result<Option<Node>, StoreError> {
        if settings.max_parallel == Some(0) {
            return Err(StoreError::Invalid(
                "max_parallel must be at least 1".into(),
            ));
        }
        sqlx::query(
            "UPDATE nodes SET name = COALESCE($1, name), max_parallel = COALESCE($2, max_parallel), \
             draining = COALESCE($3, draining) WHERE id = $4 AND owner_id = $5 RETURNING *",
        )
        .bind(settings.name)
        .bind(settings.max_parallel.map(i64::from))
        .bind(settings.draining)
        .bind(*id.as_uuid())
        .bind(*owner.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .map(|r| rows::node(&r))
        .transpose()
    }

    async fn record_node_seen(
        &self,
        id: NodeId,
        now: UnixMillis,
        version: &str,
        cores: u32,
        local_max_parallel: Option<u32>,
        load: &NodeLoad,
    ) -> Result<bool, StoreError> {
        check_local_cap(local_max_parallel)?;
        let load = load.sanitized();
        // Only a heartbeat at least as new as the last one recorded writes: a late, reordered
        // request must not replace newer figures.
        let done = sqlx::query(
            "UPDATE nodes SET last_seen_at = $1, version = $2, cores = $3, local_max_parallel = $4, \
             active_chunks = $5, running_chunks = $6, free_slots = $7, sims_per_sec = $8, load1 = $9, \
             mem_used_bytes = $10, mem_total_bytes = $11 \
             WHERE id = $12 AND COALESCE(last_seen_at, 0) <= $13",
        )
        .bind(now.as_i64())
        .bind(version)
        .bind(i64::from(cores))
        .bind(local_max_parallel.map(i64::from))
        .bind(i64::from(load.active_chunks))
        .bind(load.running_chunks.map(i64::from))
        .bind(i64::from(load.free_slots))
        .bind(load.sims_per_sec)
        .bind(load.load1)
        .bind(to_i64("mem_used_bytes", load.mem_used_bytes)?)
        .bind(to_i64("mem_total_bytes", load.mem_total_bytes)?)
        .bind(*id.as_uuid())
        .bind(now.as_i64())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        if done.rows_affected() > 0 {
            return Ok(true);
        }
        // Stale heartbeat or unknown node: only the latter is false.
        Ok(self.node_by_id(id).await?.is_some())
    }

    async fn update_node_facts(
        &self,
        id: NodeId,
        version: &str,
        cores: u32,
        local_max_parallel: Option<u32>,
    ) -> Result<Option<Node>, StoreError> {
        check_local_cap(local_max_parallel)?;
        sqlx::query(
            "UPDATE nodes SET version = $1, cores = $2, local_max_parallel = $3 WHERE id = $4 \
             RETURNING *",
        )
        .bind(version)
        .bind(i64::from(cores))
        .bind(local_max_parallel.map(i64::from))
        .bind(*id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .map(|r| rows::node(&r))
        .transpose()
    }

    async fn set_node_status(&self, id: NodeId, status: NodeStatus) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE nodes SET status = $1 WHERE id = $2 AND status <> $3")
            .bind(status.as_str())
            .bind(*id.as_uuid())
            .bind(status.as_str())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_node_status_fenced(
        &self,
        id: NodeId,
        status: NodeStatus,
        fence: &LeaderFence,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        raise_leader_fence(&mut tx, fence).await?;
        let done = sqlx::query("UPDATE nodes SET status = $1 WHERE id = $2 AND status <> $3")
            .bind(status.as_str())
            .bind(*id.as_uuid())
            .bind(status.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn unlink_node(&self, id: NodeId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM nodes WHERE id = $1")
            .bind(*id.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_node(&self, id: NodeId, owner: UserId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM nodes WHERE id = $1 AND owner_id = $2")
            .bind(*id.as_uuid())
            .bind(*owner.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn put_config(
        &self,
        hash: &str,
        content: &str,
        now: UnixMillis,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO configs (hash, content, created_at, last_used_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (hash) DO UPDATE SET last_used_at = excluded.last_used_at",
        )
        .bind(hash)
        .bind(content)
        .bind(now.as_i64())
        .bind(now.as_i64())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn config(&self, hash: &str) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT content FROM configs WHERE hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn insert_job(&self, job: NewJob, now: UnixMillis) -> Result<Job, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        insert_job_row(&mut conn, &job, now).await
    }

    async fn insert_target_job(
        &self,
        job: NewJob,
        target: JobTarget,
        now: UnixMillis,
    ) -> Result<Job, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let stored = insert_job_row(&mut tx, &job, now).await?;
        sqlx::query(
            "INSERT INTO job_targets (job_id, target_error, max_iterations, waves, \
             scheduled_chunks) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(*job.id.as_uuid())
        .bind(target.target_error)
        .bind(to_i64("max iterations", target.max_iterations)?)
        .bind(i64::from(target.waves))
        .bind(i64::from(target.scheduled_chunks))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(stored)
    }

    async fn job_target(&self, id: JobId) -> Result<Option<JobTarget>, StoreError> {
        let row: Option<rows::JobTargetRow> = sqlx::query_as(
            "SELECT target_error, max_iterations, waves, scheduled_chunks, half_width_pct \
             FROM job_targets \
             WHERE job_id = $1",
        )
        .bind(*id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.map(|r| rows::job_target(id, r)).transpose()
    }

    async fn advance_job_target(
        &self,
        id: JobId,
        waves: u32,
        scheduled_chunks: u32,
        half_width_pct: f64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE job_targets SET waves = $1, scheduled_chunks = $2, \
             half_width_pct = $5 WHERE job_id = $3 AND waves < $4",
        )
        .bind(i64::from(waves))
        .bind(i64::from(scheduled_chunks))
        .bind(*id.as_uuid())
        .bind(i64::from(waves))
        // Infinite (no mean yet) is stored as NULL: unknown.
        .bind(Some(half_width_pct).filter(|h| h.is_finite()))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        sqlx::query("SELECT * FROM jobs WHERE id = $1")
            .bind(*id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(|r| rows::job(&r))
            .transpose()
    }

    async fn list_jobs(&self, owner: UserId, limit: u32) -> Result<Vec<Job>, StoreError> {
        sqlx::query("SELECT * FROM jobs WHERE owner_id = $1 ORDER BY created_at DESC, id LIMIT $2")
            .bind(*owner.as_uuid())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?
            .iter()
            .map(rows::job)
            .collect()
    }

    async fn set_job_public(
        &self,
        id: JobId,
        owner: UserId,
        public: bool,
    ) -> Result<Option<Job>, StoreError> {
        sqlx::query("UPDATE jobs SET is_public = $1 WHERE id = $2 AND owner_id = $3 RETURNING *")
            .bind(public)
            .bind(*id.as_uuid())
            .bind(*owner.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(|r| rows::job(&r))
            .transpose()
    }

    async fn set_job_name(&self, id: JobId, owner: UserId, name: &str) -> Result<bool, StoreError> {
        // Only a job of `owner` gets a row: the SELECT yields nothing otherwise.
        let done = sqlx::query(
            "INSERT INTO job_names (job_id, name) SELECT id, $1 FROM jobs WHERE id = $2 AND owner_id = $3 \
             ON CONFLICT (job_id) DO UPDATE SET name = excluded.name",
        )
        .bind(name)
        .bind(*id.as_uuid())
        .bind(*owner.as_uuid())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn job_name(&self, id: JobId) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT name FROM job_names WHERE job_id = $1")
            .bind(*id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn job_names(&self, owner: UserId) -> Result<Vec<(JobId, String)>, StoreError> {
        let rows: Vec<(uuid::Uuid, String)> = sqlx::query_as(
            "SELECT n.job_id, n.name FROM job_names n JOIN jobs j ON j.id = n.job_id \
             WHERE j.owner_id = $1",
        )
        .bind(*owner.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|(id, name)| (JobId::from_uuid(id), name))
            .collect())
    }

    async fn delete_finished_job(&self, id: JobId, owner: UserId) -> Result<bool, StoreError> {
        // Names and chunk results go with it (ON DELETE CASCADE).
        let done = sqlx::query(
            "DELETE FROM jobs WHERE id = $1 AND owner_id = $2 \
             AND status IN ('completed', 'failed', 'cancelled')",
        )
        .bind(*id.as_uuid())
        .bind(*owner.as_uuid())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn active_work(&self, owner: UserId) -> Result<ActiveWork, StoreError> {
        // SUM of BIGINT is NUMERIC on PostgreSQL: cast back.
        let row = sqlx::query(
            "SELECT COUNT(*) AS jobs, COALESCE(SUM(j.iterations - LEAST(j.iterations, j.chunk_size * \
             (SELECT COUNT(*) FROM chunk_results c WHERE c.job_id = j.id))), 0)::BIGINT AS queued \
             FROM jobs j WHERE j.owner_id = $1 AND j.status IN ('pending', 'running')",
        )
        .bind(*owner.as_uuid())
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        rows::active_work(&row)
    }

    async fn jobs_with_status(&self, status: JobStatus) -> Result<Vec<Job>, StoreError> {
        sqlx::query("SELECT * FROM jobs WHERE status = $1 ORDER BY created_at, id")
            .bind(status.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?
            .iter()
            .map(rows::job)
            .collect()
    }

    async fn transition_job(
        &self,
        id: JobId,
        from: JobStatus,
        to: JobStatus,
        expected_version: i64,
        data: TransitionData,
        now: UnixMillis,
    ) -> Result<Job, StoreError> {
        if !from.can_transition_to(to) {
            return Err(StoreError::InvalidTransition { from, to });
        }
        let started = (to == JobStatus::Running).then_some(now.as_i64());
        let finished = to.is_terminal().then_some(now.as_i64());
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        if let Some(fence) = &data.fence {
            raise_leader_fence(&mut tx, fence).await?;
        }
        let row = sqlx::query(
            "UPDATE jobs SET status = $1, version = version + 1, \
             result = COALESCE($2, result), failure_reason = COALESCE($3, failure_reason), \
             started_at = COALESCE(started_at, $4), finished_at = COALESCE($5, finished_at) \
             WHERE id = $6 AND status = $7 AND version = $8 RETURNING *",
        )
        .bind(to.as_str())
        .bind(data.result)
        .bind(data.failure_reason)
        .bind(started)
        .bind(finished)
        .bind(*id.as_uuid())
        .bind(from.as_str())
        .bind(expected_version)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if let Some(r) = row {
            let job = rows::job(&r)?;
            tx.commit().await.map_err(db_err)?;
            return Ok(job);
        }
        // Rolled back (with any fence raise) before reading the job as it is now.
        drop(tx);
        match self.job(id).await? {
            Some(cur) => Err(StoreError::VersionConflict {
                status: cur.status,
                version: cur.version,
            }),
            None => Err(StoreError::NotFound),
        }
    }

    async fn setting(&self, name: &str) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn set_setting(&self, name: &str, value: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn put_chunk_result(
        &self,
        result: ChunkResult,
        now: UnixMillis,
    ) -> Result<PutOutcome, StoreError> {
        self.results.put(result, now).await
    }

    async fn put_chunk_results(
        &self,
        results: &[ChunkResult],
        now: UnixMillis,
        fence: Option<&LeaderFence>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        if let Some(fence) = fence {
            raise_leader_fence(&mut tx, fence).await?;
        }
        if !results.is_empty() {
            let items: Vec<_> = results.iter().map(|r| (r, now)).collect();
            insert_results(&mut tx, &items).await?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn raise_leader_fence(&self, fence: &LeaderFence) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        raise_leader_fence(&mut tx, fence).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn chunk_results(&self, job: JobId) -> Result<Vec<ChunkResult>, StoreError> {
        sqlx::query("SELECT * FROM chunk_results WHERE job_id = $1 ORDER BY chunk_index")
            .bind(*job.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?
            .iter()
            .map(rows::chunk_result)
            .collect()
    }

    async fn chunk_check(
        &self,
        job: JobId,
        chunk: ChunkIndex,
    ) -> Result<Option<crate::store::ChunkCheck>, StoreError> {
        let id = job;
        sqlx::query("SELECT * FROM chunk_checks WHERE job_id = $1 AND chunk_index = $2")
            .bind(*id.as_uuid())
            .bind(i64::from(chunk.0))
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .as_ref()
            .map(super::checks::chunk_check)
            .transpose()
    }

    async fn chunk_checks_of(
        &self,
        job: JobId,
        chunks: &[ChunkIndex],
    ) -> Result<Vec<crate::store::ChunkCheck>, StoreError> {
        if chunks.is_empty() {
            return Ok(Vec::new());
        }
        let indexes: Vec<i64> = chunks.iter().map(|c| i64::from(c.0)).collect();
        sqlx::query("SELECT * FROM chunk_checks WHERE job_id = $1 AND chunk_index = ANY($2)")
            .bind(*job.as_uuid())
            .bind(indexes)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?
            .iter()
            .map(super::checks::chunk_check)
            .collect()
    }

    async fn put_chunk_checks(
        &self,
        checks: &[crate::store::ChunkCheck],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let sql = format!(
            "{}($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13){}",
            super::checks::CHECK_INSERT,
            super::checks::CHECK_UPSERT
        );
        for c in checks {
            let id = c.job;
            sqlx::query(&sql)
                .bind(*id.as_uuid())
                .bind(i64::from(c.chunk.0))
                .bind(c.verdict.as_str())
                .bind(c.first.node.to_string())
                .bind(&c.first.hash)
                .bind(&c.first_result)
                .bind(c.second.as_ref().map(|r| r.node.to_string()))
                .bind(c.second.as_ref().map(|r| r.hash.clone()))
                .bind(c.third.as_ref().map(|r| r.node.to_string()))
                .bind(c.third.as_ref().map(|r| r.hash.clone()))
                .bind(&c.note)
                .bind(c.created_at.0 as i64)
                .bind(c.settled_at.map(|t| t.0 as i64))
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn pending_chunk_checks(&self) -> Result<Vec<crate::store::ChunkCheck>, StoreError> {
        sqlx::query(
            "SELECT c.* FROM chunk_checks c JOIN jobs j ON j.id = c.job_id \
             WHERE c.verdict = 'pending' AND j.status = $1 \
             ORDER BY c.created_at, c.job_id, c.chunk_index",
        )
        .bind(JobStatus::Running.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?
        .iter()
        .map(super::checks::chunk_check)
        .collect()
    }

    async fn job_check_counts(&self, job: JobId) -> Result<crate::store::CheckCounts, StoreError> {
        let id = job;
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT verdict, COUNT(*) FROM chunk_checks WHERE job_id = $1 GROUP BY verdict",
        )
        .bind(*id.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        super::checks::counts(rows)
    }

    async fn node_trust(&self) -> Result<Vec<(NodeId, crate::store::NodeTrust)>, StoreError> {
        sqlx::query("SELECT * FROM node_trust ORDER BY node_id")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?
            .iter()
            .map(super::checks::node_trust)
            .collect()
    }

    async fn add_node_trust(
        &self,
        node: NodeId,
        d: crate::store::NodeTrust,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO node_trust (node_id, checked, confirmed, failed) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (node_id) DO UPDATE SET checked = node_trust.checked + excluded.checked, \
             confirmed = node_trust.confirmed + excluded.confirmed, \
             failed = node_trust.failed + excluded.failed",
        )
        .bind(node.to_string())
        .bind(i64::from(d.checked))
        .bind(i64::from(d.confirmed))
        .bind(i64::from(d.failed))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn uncount_node_check(&self, node: NodeId) -> Result<(), StoreError> {
        sqlx::query("UPDATE node_trust SET checked = GREATEST(checked - 1, 0) WHERE node_id = $1")
            .bind(node.to_string())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn set_node_quarantine(
        &self,
        node: NodeId,
        at: Option<UnixMillis>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query(
            "INSERT INTO node_trust (node_id, quarantined_at) VALUES ($1, $2) \
             ON CONFLICT (node_id) DO UPDATE SET quarantined_at = excluded.quarantined_at",
        )
        .bind(node.to_string())
        .bind(at.map(|t| t.0 as i64))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if at.is_some() {
            sqlx::query("UPDATE nodes SET draining = TRUE WHERE id = $1")
                .bind(*node.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn chunks_by_node(
        &self,
        node: NodeId,
        status: JobStatus,
    ) -> Result<Vec<(JobId, ChunkIndex)>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT CAST(r.job_id AS TEXT), r.chunk_index FROM chunk_results r \
             JOIN jobs j ON j.id = r.job_id WHERE r.node_id = $1 AND j.status = $2 \
             ORDER BY r.job_id, r.chunk_index",
        )
        .bind(*node.as_uuid())
        .bind(status.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.into_iter()
            .map(|(job, chunk)| {
                let job = job
                    .parse()
                    .map_err(|_| StoreError::Corrupt(format!("job id {job:?}")))?;
                let chunk = u32::try_from(chunk)
                    .map_err(|_| StoreError::Corrupt(format!("chunk index {chunk}")))?;
                Ok((job, ChunkIndex(chunk)))
            })
            .collect()
    }

    async fn delete_chunk_results(
        &self,
        job: JobId,
        chunks: &[ChunkIndex],
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let mut n = 0;
        for c in chunks {
            n += sqlx::query("DELETE FROM chunk_results WHERE job_id = $1 AND chunk_index = $2")
                .bind(*job.as_uuid())
                .bind(i64::from(c.0))
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
        }
        tx.commit().await.map_err(db_err)?;
        Ok(n)
    }

    async fn open_job_review(
        &self,
        job: JobId,
        node: NodeId,
        old_result_hash: Option<String>,
        chunks: &[crate::store::ReviewChunk],
        now: UnixMillis,
    ) -> Result<crate::store::JobReview, StoreError> {
        let id = *job.as_uuid();
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let status: Option<String> = sqlx::query_scalar("SELECT status FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        let Some(status) = status else {
            return Err(StoreError::NotFound);
        };
        let open: Option<i64> = sqlx::query_scalar(
            "SELECT round FROM job_reviews WHERE job_id = $1 AND finished_at IS NULL",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let round = match open {
            Some(r) => r,
            None => {
                let round: i64 = sqlx::query_scalar(
                    "SELECT COALESCE(MAX(round), 0) + 1 FROM job_reviews WHERE job_id = $1",
                )
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
                sqlx::query(
                    "INSERT INTO job_reviews (job_id, round, node_id, job_status, \
                     old_result_hash, started_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id)
                .bind(round)
                .bind(node.to_string())
                .bind(&status)
                .bind(&old_result_hash)
                .bind(now.as_i64())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                round
            }
        };
        for c in chunks {
            sqlx::query(
                "INSERT INTO job_review_chunks (job_id, round, chunk_index, old_node, old_hash) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(round)
            .bind(i64::from(c.chunk.0))
            .bind(c.old_node.map(|n| n.to_string()))
            .bind(&c.old_hash)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            sqlx::query("DELETE FROM chunk_results WHERE job_id = $1 AND chunk_index = $2")
                .bind(id)
                .bind(i64::from(c.chunk.0))
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        self.job_reviews(job)
            .await?
            .into_iter()
            .find(|r| i64::from(r.round) == round)
            .ok_or(StoreError::NotFound)
    }

    async fn job_reviews(&self, job: JobId) -> Result<Vec<crate::store::JobReview>, StoreError> {
        let reviews = sqlx::query("SELECT * FROM job_reviews WHERE job_id = $1 ORDER BY round")
            .bind(*job.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?
            .iter()
            .map(super::reviews::job_review)
            .collect::<Result<Vec<_>, _>>()?;
        let chunks = sqlx::query("SELECT * FROM job_review_chunks WHERE job_id = $1")
            .bind(*job.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?
            .iter()
            .map(super::reviews::review_chunk)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(super::reviews::attach(reviews, chunks))
    }

    async fn open_job_reviews(&self) -> Result<Vec<crate::store::JobReview>, StoreError> {
        let reviews = sqlx::query(
            "SELECT * FROM job_reviews WHERE finished_at IS NULL ORDER BY started_at, job_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?
        .iter()
        .map(super::reviews::job_review)
        .collect::<Result<Vec<_>, _>>()?;
        let chunks = sqlx::query(
            "SELECT c.* FROM job_review_chunks c JOIN job_reviews r \
             ON r.job_id = c.job_id AND r.round = c.round WHERE r.finished_at IS NULL",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?
        .iter()
        .map(super::reviews::review_chunk)
        .collect::<Result<Vec<_>, _>>()?;
        Ok(super::reviews::attach(reviews, chunks))
    }

    async fn close_job_review(
        &self,
        job: JobId,
        round: u32,
        close: &crate::store::ReviewClose,
        fence: Option<&LeaderFence>,
        now: UnixMillis,
    ) -> Result<Job, StoreError> {
        let id = *job.as_uuid();
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        if let Some(fence) = fence {
            raise_leader_fence(&mut tx, fence).await?;
        }
        let closed = sqlx::query(
            "UPDATE job_reviews SET finished_at = $1, new_result_hash = $2, note = $3 \
             WHERE job_id = $4 AND round = $5 AND finished_at IS NULL",
        )
        .bind(now.as_i64())
        .bind(close.result.as_ref().map(|(_, h)| h.clone()))
        .bind(&close.note)
        .bind(id)
        .bind(i64::from(round))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if closed == 0 {
            return Err(StoreError::NotFound);
        }
        for c in &close.chunks {
            sqlx::query(
                "UPDATE job_review_chunks SET new_node = $1, new_hash = $2 \
                 WHERE job_id = $3 AND round = $4 AND chunk_index = $5",
            )
            .bind(c.node.map(|n| n.to_string()))
            .bind(&c.hash)
            .bind(id)
            .bind(i64::from(round))
            .bind(i64::from(c.chunk.0))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        let row = match &close.result {
            Some((bytes, _)) => sqlx::query(
                "UPDATE jobs SET result = $1, version = version + 1 \
                 WHERE id = $2 AND status = $3 RETURNING *",
            )
            .bind(bytes)
            .bind(id)
            .bind(JobStatus::Completed.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?,
            None => sqlx::query("SELECT * FROM jobs WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?,
        };
        let Some(row) = row else {
            return Err(StoreError::NotFound);
        };
        let job = rows::job(&row)?;
        tx.commit().await.map_err(db_err)?;
        Ok(job)
    }

    async fn done_chunks(&self, job: JobId) -> Result<Vec<ChunkIndex>, StoreError> {
        let idx: Vec<i64> = sqlx::query_scalar(
            "SELECT chunk_index FROM chunk_results WHERE job_id = $1 ORDER BY chunk_index",
        )
        .bind(*job.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        idx.into_iter()
            .map(|i| {
                u32::try_from(i)
                    .map(ChunkIndex)
                    .map_err(|_| StoreError::Corrupt(format!("chunk index {i}")))
            })
            .collect()
    }

    async fn job_nodes(&self, job: JobId) -> Result<Vec<(NodeId, u32)>, StoreError> {
        sqlx::query(
            "SELECT node_id, COUNT(*) AS chunks FROM chunk_results \
             WHERE job_id = $1 AND node_id IS NOT NULL GROUP BY node_id ORDER BY node_id",
        )
        .bind(*job.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?
        .iter()
        .map(rows::job_node)
        .collect()
    }

    async fn add_convergence_point(
        &self,
        job: JobId,
        point: ConvergencePoint,
        fence: Option<&LeaderFence>,
    ) -> Result<(), StoreError> {
        let iterations = i64::try_from(point.iterations)
            .map_err(|_| StoreError::Invalid("iterations out of range".into()))?;
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        if let Some(fence) = fence {
            raise_leader_fence(&mut tx, fence).await?;
        }
        sqlx::query(
            "INSERT INTO job_convergence (job_id, iterations, mean_dps, ci95) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (job_id, iterations) DO NOTHING",
        )
        .bind(*job.as_uuid())
        .bind(iterations)
        .bind(point.mean)
        .bind(point.ci95)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn convergence(&self, job: JobId) -> Result<Vec<ConvergencePoint>, StoreError> {
        sqlx::query("SELECT * FROM job_convergence WHERE job_id = $1 ORDER BY iterations")
            .bind(*job.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?
            .iter()
            .map(rows::convergence_point)
            .collect()
    }
}

/// Raises `fence.lock`'s stored fence to `fence.token` within the caller's transaction, or
/// refuses with [`StoreError::StaleLeader`] if a newer token already wrote. The upsert takes
/// the row's write lock, so concurrent leaders' writes are ordered by it.
async fn raise_leader_fence(
    tx: &mut sqlx::PgConnection,
    fence: &LeaderFence,
) -> Result<(), StoreError> {
    let raised: Option<i64> = sqlx::query_scalar(
        "INSERT INTO leader_fences (name, fence) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET fence = excluded.fence \
         WHERE leader_fences.fence <= excluded.fence RETURNING fence",
    )
    .bind(&fence.lock)
    .bind(rows::fence_value(fence)?)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_err)?;
    raised.map(drop).ok_or_else(|| fence.refused())
}

/// Inserts a job row on `conn` (a pooled connection or a transaction).
async fn insert_job_row(
    conn: &mut sqlx::PgConnection,
    job: &NewJob,
    now: UnixMillis,
) -> Result<Job, StoreError> {
    if job.chunk_count == 0 || job.iterations == 0 || job.chunk_size == 0 {
        return Err(StoreError::Invalid(
            "iterations, chunk size and chunk count must be positive".into(),
        ));
    }
    let row = sqlx::query(
        "INSERT INTO jobs (id, owner_id, config_hash, iterations, seed, chunk_size, \
         chunk_count, status, version, is_public, created_at, chunk_wall_limit_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $9, $10) RETURNING *",
    )
    .bind(*job.id.as_uuid())
    .bind(*job.owner.as_uuid())
    .bind(&job.config_hash)
    .bind(to_i64("iterations", job.iterations)?)
    // Same bits, so every u64 seed round-trips.
    .bind(job.seed as i64)
    .bind(to_i64("chunk size", job.chunk_size)?)
    .bind(i64::from(job.chunk_count))
    .bind(job.public)
    .bind(now.as_i64())
    .bind(to_i64("chunk wall limit", job.chunk_wall_limit_ms)?)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err)?;
    rows::job(&row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance;

    fn test_schema() -> String {
        format!("wowlab_test_{}", JobId::new().as_uuid().simple())
    }

    /// Options for a store in a schema of its own.
    fn test_options(url: &str, schema: &str) -> PostgresOptions {
        let mut opts = PostgresOptions::new(url);
        opts.schema = Some(schema.to_owned());
        opts
    }

    async fn drop_schemas(url: &str, schemas: Vec<String>) {
        let pool = PgPool::connect(url).await.unwrap();
        for s in schemas {
            sqlx::query(&format!("DROP SCHEMA IF EXISTS {s} CASCADE"))
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
    }

    #[tokio::test]
    async fn postgres_store_passes_conformance() {
        let Some(url) = crate::test_services::postgres_url() else {
            return;
        };
        let made = parking_lot::Mutex::new(Vec::new());
        let started = std::time::Instant::now();
        conformance::run_all(|| async {
            let schema = test_schema();
            made.lock().push(schema.clone());
            let mut opts = test_options(&url, &schema);
            opts.max_connections = 4;
            PostgresStore::open(opts).await.unwrap()
        })
        .await;
        eprintln!("postgres conformance suite: {:?}", started.elapsed());
        drop_schemas(&url, made.into_inner()).await;
    }

    #[tokio::test]
    async fn a_transaction_left_idle_by_a_frozen_sentinel_is_ended_by_the_server() {
        let Some(url) = crate::test_services::postgres_url() else {
            return;
        };
        let schema = test_schema();
        let mut opts = test_options(&url, &schema);
        opts.max_connections = 2;
        let store = PostgresStore::open(opts).await.unwrap();
        let (timeout,): (String,) = sqlx::query_as("SHOW idle_in_transaction_session_timeout")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(timeout, IDLE_IN_TRANSACTION_TIMEOUT);
        // The schema option is kept beside it.
        let (path,): (String,) = sqlx::query_as("SHOW search_path")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(path, schema);
        // A transaction whose client stops answering is ended, its locks released.
        let mut tx = store.pool.begin().await.unwrap();
        sqlx::query("SELECT 1").execute(&mut *tx).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10_500)).await;
        assert!(sqlx::query("SELECT 1").execute(&mut *tx).await.is_err());
        drop(tx);
        store.pool.close().await;
        drop_schemas(&url, vec![schema]).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_results_share_multi_row_inserts_and_survive_reopen() {
        let Some(url) = crate::test_services::postgres_url() else {
            return;
        };
        let schema = test_schema();
        let opts = test_options(&url, &schema);
        let s = std::sync::Arc::new(PostgresStore::open(opts.clone()).await.unwrap());
        let owner = s.create_user("o@x", "h", UnixMillis(1)).await.unwrap().id;
        s.put_config("cfg", "profile", UnixMillis(1)).await.unwrap();
        let job = JobId::new();
        s.insert_job(
            NewJob {
                id: job,
                owner,
                config_hash: "cfg".into(),
                iterations: 2000,
                seed: 1,
                chunk_size: 10,
                chunk_count: 200,
                public: false,
                chunk_wall_limit_ms: 0,
            },
            UnixMillis(1),
        )
        .await
        .unwrap();
        let tasks: Vec<_> = (0..200u32)
            .map(|i| {
                let s = s.clone();
                tokio::spawn(async move {
                    s.put_chunk_result(
                        ChunkResult {
                            job,
                            chunk: ChunkIndex(i % 100),
                            node: (i % 2 == 0).then(NodeId::new),
                            result: vec![(i % 100) as u8],
                        },
                        UnixMillis(2),
                    )
                    .await
                    .unwrap()
                })
            })
            .collect();
        let mut inserted = 0;
        for t in tasks {
            if t.await.unwrap() == PutOutcome::Inserted {
                inserted += 1;
            }
        }
        // Every chunk twice: exactly one of each pair is new.
        assert_eq!(inserted, 100);
        let stats = s.group_commit_stats();
        assert_eq!(stats.items(), 200);
        assert!(stats.batches() < 200, "{} batches", stats.batches());
        drop(s);
        // A second sentinel (or a restart) sees the same data; migrations are not re-applied.
        let again = PostgresStore::open(opts).await.unwrap();
        let results = again.chunk_results(job).await.unwrap();
        assert_eq!(results.len(), 100);
        assert!(results.iter().all(|r| r.result == vec![r.chunk.0 as u8]));
        again.close().await;
        drop_schemas(&url, vec![schema]).await;
    }

    #[tokio::test]
    async fn bad_options_are_typed_errors() {
        let mut opts = PostgresOptions::new("postgres://127.0.0.1:1/x");
        opts.schema = Some("bad; DROP TABLE users".into());
        assert!(matches!(
            PostgresStore::open(opts).await,
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            PostgresStore::open(PostgresOptions::new("not a url")).await,
            Err(StoreError::Invalid(_))
        ));
    }
}
