//! Redis [`Coordinator`] for sentinels that scale out: every method is one Lua script (or one
//! read-only command), so sentinels sharing a Redis primary never read, decide and write across
//! round trips. The key layout is in the [module docs](super); the scripts are in `lua/`, each
//! prefixed with `lua/prelude.lua` (shared helpers).
//!
//! Times are the caller's (`now` arguments), as in [`MemoryCoordinator`](super::MemoryCoordinator):
//! every expiry compared in a script is one stored on the sentinels' clock. Redis' own expiry
//! (`PX`, `PEXPIRE`) only bounds memory: nonces, leader locks and the nonce index vanish on
//! their own once their time has passed.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::Script;

use super::{
    CompleteOutcome, Coordinator, CoordinatorError, DeadNode, FailOutcome, HeartbeatOutcome,
    JobProgress, JobSpec, Lease, LeaseRef, RecheckOutcome, Reclaimed, RevokedLease,
};
use crate::domain::{ChunkIndex, Fence, FenceToken, JobId, NodeId, UnixMillis};

/// Unexpired nonces the Redis coordinator keeps at most by default (as the memory one).
pub const REDIS_NONCE_CAPACITY: usize = super::memory::NONCE_CAPACITY;

/// How to reach and lay out the Redis coordinator.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// `redis://host:port/db` (no TLS, no cluster).
    pub url: String,
    /// Prepended to every key, so several grids (or test runs) can share one Redis.
    pub prefix: String,
    /// Unexpired nonces kept at most before [`CoordinatorError::NonceCacheFull`].
    pub nonce_capacity: usize,
}

impl RedisOptions {
    /// Options for `url` with the default prefix `wowlab:` and nonce capacity.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: "wowlab:".into(),
            nonce_capacity: REDIS_NONCE_CAPACITY,
        }
    }
}

struct Scripts {
    register_job: Script,
    extend_job: Script,
    lease: Script,
    add_credit: Script,
    credited_nodes: Script,
    dispatch: Script,
    reap_silent_nodes: Script,
    heartbeat: Script,
    complete: Script,
    recheck: Script,
    reopen: Script,
    release_avoid: Script,
    fail: Script,
    reclaim_expired: Script,
    node_dead: Script,
    remove_job: Script,
    job_progress: Script,
    current_leases: Script,
    overdue_leases: Script,
    leader: Script,
    remember_nonce: Script,
    complete_many: Script,
}

const PRELUDE: &str = include_str!("lua/prelude.lua");

fn script(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}\n{body}"))
}

impl Scripts {
    fn new() -> Self {
        Self {
            register_job: script(include_str!("lua/register_job.lua")),
            extend_job: script(include_str!("lua/extend_job.lua")),
            lease: script(include_str!("lua/lease.lua")),
            add_credit: script(include_str!("lua/add_credit.lua")),
            credited_nodes: script(include_str!("lua/credited_nodes.lua")),
            dispatch: script(include_str!("lua/dispatch.lua")),
            reap_silent_nodes: script(include_str!("lua/reap_silent_nodes.lua")),
            heartbeat: script(include_str!("lua/heartbeat.lua")),
            complete: script(include_str!("lua/complete.lua")),
            recheck: script(include_str!("lua/recheck.lua")),
            reopen: script(include_str!("lua/reopen.lua")),
            release_avoid: script(include_str!("lua/release_avoid.lua")),
            fail: script(include_str!("lua/fail.lua")),
            reclaim_expired: script(include_str!("lua/reclaim_expired.lua")),
            node_dead: script(include_str!("lua/node_dead.lua")),
            remove_job: script(include_str!("lua/remove_job.lua")),
            job_progress: script(include_str!("lua/job_progress.lua")),
            current_leases: script(include_str!("lua/current_leases.lua")),
            overdue_leases: script(include_str!("lua/overdue_leases.lua")),
            leader: script(include_str!("lua/leader.lua")),
            remember_nonce: script(include_str!("lua/remember_nonce.lua")),
            complete_many: script(include_str!("lua/complete_many.lua")),
        }
    }
}

/// The Redis-backed [`Coordinator`].
pub struct RedisCoordinator {
    conn: ConnectionManager,
    prefix: String,
    nonce_capacity: usize,
    scripts: Scripts,
}

fn unavailable(e: redis::RedisError) -> CoordinatorError {
    CoordinatorError::Unavailable(e.to_string())
}

fn malformed(what: &str) -> CoordinatorError {
    CoordinatorError::Unavailable(format!("malformed coordinator reply: {what}"))
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Reads a script's flat array reply in order.
struct Reply(std::vec::IntoIter<String>);

impl Reply {
    fn new(v: Vec<String>) -> Self {
        Self(v.into_iter())
    }

    fn has_more(&self) -> bool {
        self.0.len() > 0
    }

    fn text(&mut self) -> Result<String, CoordinatorError> {
        self.0.next().ok_or_else(|| malformed("too short"))
    }

    fn num<T: std::str::FromStr>(&mut self) -> Result<T, CoordinatorError> {
        let s = self.text()?;
        s.parse().map_err(|_| malformed(&format!("number {s:?}")))
    }

    fn id<T: std::str::FromStr>(&mut self) -> Result<T, CoordinatorError> {
        let s = self.text()?;
        s.parse().map_err(|_| malformed(&format!("id {s:?}")))
    }

    fn lease(&mut self) -> Result<Lease, CoordinatorError> {
        Ok(Lease {
            job: self.id()?,
            chunk: ChunkIndex(self.num()?),
            fence: Fence(self.num()?),
            expires_at: UnixMillis(self.num()?),
        })
    }

    fn leases(mut self) -> Result<Vec<Lease>, CoordinatorError> {
        let mut out = Vec::new();
        while self.has_more() {
            out.push(self.lease()?);
        }
        Ok(out)
    }

    /// One `complete_lease` answer: the outcome and the job-done flag ('1', '0', or '-' when
    /// not completed).
    fn complete_outcome(&mut self, lease: &LeaseRef) -> Result<CompleteOutcome, CoordinatorError> {
        let outcome = self.text()?;
        let flag = self.text()?;
        match outcome.as_str() {
            "completed" => Ok(CompleteOutcome::Completed {
                job_done: flag == "1",
            }),
            "already" => Ok(CompleteOutcome::AlreadyDone),
            "stale" => Ok(CompleteOutcome::Stale),
            "invalid" => Err(CoordinatorError::chunk_out_of_range(lease.job, lease.chunk)),
            other => Err(malformed(other)),
        }
    }

    fn reclaimed(&mut self) -> Result<Reclaimed, CoordinatorError> {
        Ok(Reclaimed {
            node: self.id()?,
            job: self.id()?,
            chunk: ChunkIndex(self.num()?),
        })
    }

    fn all_reclaimed(mut self) -> Result<Vec<Reclaimed>, CoordinatorError> {
        let mut out = Vec::new();
        while self.has_more() {
            out.push(self.reclaimed()?);
        }
        Ok(out)
    }

    /// node, chunk, fence triples of a job's revoked leases, sorted by chunk.
    fn revoked(mut self, job: JobId) -> Result<Vec<RevokedLease>, CoordinatorError> {
        let mut out = Vec::new();
        while self.has_more() {
            out.push(RevokedLease {
                node: self.id()?,
                lease: LeaseRef {
                    job,
                    chunk: ChunkIndex(self.num()?),
                    fence: Fence(self.num()?),
                },
            });
        }
        out.sort_by_key(|r| r.lease.chunk);
        Ok(out)
    }
}

impl RedisCoordinator {
    /// Connects (reconnecting by itself later) and checks the server answers.
    pub async fn connect(opts: RedisOptions) -> Result<Self, CoordinatorError> {
        let client = redis::Client::open(opts.url.as_str())
            .map_err(|e| CoordinatorError::Invalid(format!("redis url: {e}")))?;
        let conn = ConnectionManager::new(client).await.map_err(unavailable)?;
        Ok(Self {
            conn,
            prefix: opts.prefix,
            nonce_capacity: opts.nonce_capacity.max(1),
            scripts: Scripts::new(),
        })
    }

    /// The key prefix in use.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    async fn run(&self, script: &Script, args: &[String]) -> Result<Vec<String>, CoordinatorError> {
        let mut inv = script.prepare_invoke();
        inv.arg(&self.prefix);
        for a in args {
            inv.arg(a);
        }
        let mut conn = self.conn.clone();
        inv.invoke_async(&mut conn).await.map_err(unavailable)
    }

    async fn run_one(&self, script: &Script, args: &[String]) -> Result<String, CoordinatorError> {
        let mut inv = script.prepare_invoke();
        inv.arg(&self.prefix);
        for a in args {
            inv.arg(a);
        }
        let mut conn = self.conn.clone();
        inv.invoke_async(&mut conn).await.map_err(unavailable)
    }

    async fn register(
        &self,
        spec: &JobSpec,
        done: &[ChunkIndex],
        restore: bool,
    ) -> Result<bool, CoordinatorError> {
        validate_spec(spec)?;
        if let Some(bad) = done.iter().find(|c| c.0 >= spec.chunk_count) {
            return Err(CoordinatorError::Invalid(format!(
                "done chunk {bad} out of range for {} chunks",
                spec.chunk_count
            )));
        }
        let mut args = vec![
            spec.job.to_string(),
            spec.chunk_count.to_string(),
            spec.share_key.clone(),
            spec.max_attempts.to_string(),
            ms(spec.wall_limit()).to_string(),
            u8::from(restore).to_string(),
        ];
        args.extend(done.iter().map(|c| c.0.to_string()));
        let mut r = Reply::new(self.run(&self.scripts.register_job, &args).await?);
        match r.text()?.as_str() {
            "ok" => Ok(true),
            "exists" => Ok(false),
            other => Err(malformed(other)),
        }
    }

    async fn leader(
        &self,
        op: &str,
        name: &str,
        holder: &str,
        token: Option<FenceToken>,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<String, CoordinatorError> {
        self.run_one(
            &self.scripts.leader,
            &[
                op.to_owned(),
                name.to_owned(),
                holder.to_owned(),
                token.map(|t| t.0.to_string()).unwrap_or_default(),
                ms(ttl).to_string(),
                now.0.to_string(),
            ],
        )
        .await
    }
}

#[async_trait]
impl Coordinator for RedisCoordinator {
    async fn register_job(&self, spec: JobSpec) -> Result<(), CoordinatorError> {
        if self.register(&spec, &[], false).await? {
            Ok(())
        } else {
            Err(CoordinatorError::JobExists(spec.job))
        }
    }

    async fn restore_job(
        &self,
        spec: JobSpec,
        done: &[ChunkIndex],
    ) -> Result<bool, CoordinatorError> {
        self.register(&spec, done, true).await
    }

    async fn lease(
        &self,
        node: NodeId,
        free_slots: u32,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<Vec<Lease>, CoordinatorError> {
        let args = [
            node.to_string(),
            free_slots.to_string(),
            ms(ttl).to_string(),
            now.0.to_string(),
        ];
        Reply::new(self.run(&self.scripts.lease, &args).await?).leases()
    }

    async fn heartbeat(
        &self,
        node: NodeId,
        active: &[LeaseRef],
        free_slots: u32,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<HeartbeatOutcome, CoordinatorError> {
        let mut args = vec![
            node.to_string(),
            free_slots.to_string(),
            ms(ttl).to_string(),
            now.0.to_string(),
        ];
        for l in active {
            args.push(l.job.to_string());
            args.push(l.chunk.0.to_string());
            args.push(l.fence.0.to_string());
        }
        let mut r = Reply::new(self.run(&self.scripts.heartbeat, &args).await?);
        let mut out = HeartbeatOutcome {
            credit: r.num()?,
            ..HeartbeatOutcome::default()
        };
        for l in active {
            match r.num::<u64>()? {
                0 => out.cancelled.push(*l),
                exp => out.extended.push(Lease {
                    job: l.job,
                    chunk: l.chunk,
                    fence: l.fence,
                    expires_at: UnixMillis(exp),
                }),
            }
        }
        Ok(out)
    }

    async fn add_credit(
        &self,
        node: NodeId,
        slots: u32,
        cap: u32,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<Vec<Lease>, CoordinatorError> {
        let args = [
            node.to_string(),
            slots.to_string(),
            cap.to_string(),
            ms(ttl).to_string(),
            now.0.to_string(),
        ];
        Reply::new(self.run(&self.scripts.add_credit, &args).await?).leases()
    }

    async fn credited_nodes(&self) -> Result<Vec<NodeId>, CoordinatorError> {
        let mut r = Reply::new(self.run(&self.scripts.credited_nodes, &[]).await?);
        let mut out = Vec::new();
        while r.has_more() {
            out.push(r.id()?);
        }
        out.sort_unstable();
        Ok(out)
    }

    async fn drop_credit(&self, node: NodeId) -> Result<(), CoordinatorError> {
        let mut conn = self.conn.clone();
        redis::cmd("HDEL")
            .arg(format!("{}credits", self.prefix))
            .arg(node.to_string())
            .query_async::<()>(&mut conn)
            .await
            .map_err(unavailable)
    }

    async fn dispatch(
        &self,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<Vec<(NodeId, Lease)>, CoordinatorError> {
        let args = [ms(ttl).to_string(), now.0.to_string()];
        let mut r = Reply::new(self.run(&self.scripts.dispatch, &args).await?);
        let mut out = Vec::new();
        while r.has_more() {
            let node = r.id()?;
            out.push((node, r.lease()?));
        }
        Ok(out)
    }

    async fn reap_silent_nodes(
        &self,
        now: UnixMillis,
        silence: Duration,
    ) -> Result<Vec<DeadNode>, CoordinatorError> {
        let args = [now.0.to_string(), ms(silence).to_string()];
        let mut r = Reply::new(self.run(&self.scripts.reap_silent_nodes, &args).await?);
        let mut out = Vec::new();
        while r.has_more() {
            let node = r.id()?;
            let n: usize = r.num()?;
            let reclaimed = (0..n)
                .map(|_| r.reclaimed())
                .collect::<Result<Vec<_>, _>>()?;
            out.push(DeadNode { node, reclaimed });
        }
        Ok(out)
    }

    async fn complete(
        &self,
        node: NodeId,
        lease: LeaseRef,
        now: UnixMillis,
    ) -> Result<CompleteOutcome, CoordinatorError> {
        let args = lease_args(node, &lease, now);
        let mut r = Reply::new(self.run(&self.scripts.complete, &args).await?);
        r.complete_outcome(&lease)
    }

    async fn complete_many(
        &self,
        node: NodeId,
        leases: &[LeaseRef],
        now: UnixMillis,
    ) -> Result<Vec<CompleteOutcome>, CoordinatorError> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = Vec::with_capacity(2 + 3 * leases.len());
        args.push(node.to_string());
        args.push(now.0.to_string());
        for l in leases {
            args.push(l.job.to_string());
            args.push(l.chunk.0.to_string());
            args.push(l.fence.0.to_string());
        }
        let mut r = Reply::new(self.run(&self.scripts.complete_many, &args).await?);
        leases.iter().map(|l| r.complete_outcome(l)).collect()
    }

    async fn recheck(
        &self,
        node: NodeId,
        lease: LeaseRef,
        avoid: &[NodeId],
        now: UnixMillis,
    ) -> Result<RecheckOutcome, CoordinatorError> {
        let mut args = lease_args(node, &lease, now).to_vec();
        args.push(avoid_arg(avoid));
        let mut r = Reply::new(self.run(&self.scripts.recheck, &args).await?);
        match r.text()?.as_str() {
            "requeued" => Ok(RecheckOutcome::Requeued),
            "already" => Ok(RecheckOutcome::AlreadyDone),
            "stale" => Ok(RecheckOutcome::Stale),
            "invalid" => Err(CoordinatorError::chunk_out_of_range(lease.job, lease.chunk)),
            other => Err(malformed(other)),
        }
    }

    async fn reopen(
        &self,
        job: JobId,
        chunk: ChunkIndex,
        avoid: &[NodeId],
    ) -> Result<bool, CoordinatorError> {
        let args = [job.to_string(), chunk.0.to_string(), avoid_arg(avoid)];
        let mut r = Reply::new(self.run(&self.scripts.reopen, &args).await?);
        match r.text()?.as_str() {
            "reopened" => Ok(true),
            "not_done" => Ok(false),
            "unknown" => Err(CoordinatorError::UnknownJob(job)),
            "invalid" => Err(CoordinatorError::chunk_out_of_range(job, chunk)),
            other => Err(malformed(other)),
        }
    }

    async fn release_avoid(&self, job: JobId, chunk: ChunkIndex) -> Result<bool, CoordinatorError> {
        let args = [job.to_string(), chunk.0.to_string()];
        let mut r = Reply::new(self.run(&self.scripts.release_avoid, &args).await?);
        match r.text()?.as_str() {
            "released" => Ok(true),
            "none" => Ok(false),
            "unknown" => Err(CoordinatorError::UnknownJob(job)),
            other => Err(malformed(other)),
        }
    }

    async fn is_lease_current(
        &self,
        node: NodeId,
        lease: LeaseRef,
        now: UnixMillis,
    ) -> Result<bool, CoordinatorError> {
        // One read of one key: atomic without a script.
        let mut conn = self.conn.clone();
        let (job, chunk, holder, exp): (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<u64>,
        ) = redis::cmd("HMGET")
            .arg(format!("{}lease:{}", self.prefix, lease.fence.0))
            .arg(&["job", "chunk", "node", "exp"])
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(job == Some(lease.job.to_string())
            && chunk == Some(lease.chunk.0.to_string())
            && holder == Some(node.to_string())
            && exp.is_some_and(|e| e > now.0))
    }

    async fn fail(
        &self,
        node: NodeId,
        lease: LeaseRef,
        reason: &str,
        now: UnixMillis,
    ) -> Result<FailOutcome, CoordinatorError> {
        let args = lease_args(node, &lease, now);
        let mut r = Reply::new(self.run(&self.scripts.fail, &args).await?);
        match r.text()?.as_str() {
            "stale" => Ok(FailOutcome::Stale),
            "retry" => Ok(FailOutcome::Retry { failures: r.num()? }),
            "failed" => {
                let failures: u32 = r.num()?;
                Ok(FailOutcome::JobFailed {
                    reason: format!(
                        "chunk {} failed {failures} times; last error: {reason}",
                        lease.chunk
                    ),
                    revoked: r.revoked(lease.job)?,
                })
            }
            other => Err(malformed(other)),
        }
    }

    async fn reclaim_expired(&self, now: UnixMillis) -> Result<Vec<Reclaimed>, CoordinatorError> {
        let args = [now.0.to_string()];
        Reply::new(self.run(&self.scripts.reclaim_expired, &args).await?).all_reclaimed()
    }

    async fn node_dead(&self, node: NodeId) -> Result<Vec<Reclaimed>, CoordinatorError> {
        let args = [node.to_string()];
        Reply::new(self.run(&self.scripts.node_dead, &args).await?).all_reclaimed()
    }

    async fn cancel_job(&self, job: JobId) -> Result<Vec<RevokedLease>, CoordinatorError> {
        let mut r = Reply::new(
            self.run(&self.scripts.remove_job, &[job.to_string()])
                .await?,
        );
        match r.text()?.as_str() {
            "removed" => r.revoked(job),
            "unknown" => Err(CoordinatorError::UnknownJob(job)),
            other => Err(malformed(other)),
        }
    }

    async fn remove_job(&self, job: JobId) -> Result<(), CoordinatorError> {
        self.run(&self.scripts.remove_job, &[job.to_string()])
            .await?;
        Ok(())
    }

    async fn extend_job(&self, job: JobId, chunk_count: u32) -> Result<bool, CoordinatorError> {
        let args = [job.to_string(), chunk_count.to_string()];
        match self
            .run_one(&self.scripts.extend_job, &args)
            .await?
            .as_str()
        {
            "extended" => Ok(true),
            "unchanged" => Ok(false),
            "unknown" => Err(CoordinatorError::UnknownJob(job)),
            other => Err(malformed(other)),
        }
    }

    async fn job_progress(&self, job: JobId) -> Result<JobProgress, CoordinatorError> {
        let mut r = Reply::new(
            self.run(&self.scripts.job_progress, &[job.to_string()])
                .await?,
        );
        if !r.has_more() {
            return Err(CoordinatorError::UnknownJob(job));
        }
        let chunk_count: u32 = r.num()?;
        let done: u32 = r.num()?;
        let failures: u32 = r.num()?;
        let leased: u32 = r.num()?;
        Ok(JobProgress {
            chunk_count,
            pending: chunk_count.saturating_sub(done + leased),
            leased,
            done,
            failures,
        })
    }

    async fn current_leases(
        &self,
        node: NodeId,
        now: UnixMillis,
    ) -> Result<Vec<Lease>, CoordinatorError> {
        let args = [node.to_string(), now.0.to_string()];
        let mut out = Reply::new(self.run(&self.scripts.current_leases, &args).await?).leases()?;
        out.sort_by_key(|l| (l.job, l.chunk));
        Ok(out)
    }

    async fn try_acquire_leader(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<Option<FenceToken>, CoordinatorError> {
        let t = self.leader("acquire", name, holder, None, ttl, now).await?;
        if t.is_empty() {
            return Ok(None);
        }
        t.parse()
            .map(|t| Some(FenceToken(t)))
            .map_err(|_| malformed(&t))
    }

    async fn renew_leader(
        &self,
        name: &str,
        holder: &str,
        token: FenceToken,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<bool, CoordinatorError> {
        Ok(self
            .leader("renew", name, holder, Some(token), ttl, now)
            .await?
            == "1")
    }

    async fn release_leader(
        &self,
        name: &str,
        holder: &str,
        token: FenceToken,
    ) -> Result<bool, CoordinatorError> {
        Ok(self
            .leader(
                "release",
                name,
                holder,
                Some(token),
                Duration::ZERO,
                UnixMillis(0),
            )
            .await?
            == "1")
    }

    async fn overdue_leases(&self, now: UnixMillis) -> Result<Vec<RevokedLease>, CoordinatorError> {
        let mut r = Reply::new(
            self.run(&self.scripts.overdue_leases, &[now.0.to_string()])
                .await?,
        );
        let mut out = Vec::new();
        while r.has_more() {
            out.push(RevokedLease {
                node: r.id()?,
                lease: LeaseRef {
                    job: r.id()?,
                    chunk: ChunkIndex(r.num()?),
                    fence: Fence(r.num()?),
                },
            });
        }
        Ok(out)
    }

    async fn remember_nonce(
        &self,
        key: &str,
        ttl: Duration,
        now: UnixMillis,
    ) -> Result<bool, CoordinatorError> {
        let args = [
            key.to_owned(),
            ms(ttl).max(1).to_string(),
            now.0.to_string(),
            self.nonce_capacity.to_string(),
        ];
        let mut r = Reply::new(self.run(&self.scripts.remember_nonce, &args).await?);
        match r.text()?.as_str() {
            "new" => Ok(true),
            "seen" => Ok(false),
            "full" => Err(CoordinatorError::NonceCacheFull(r.num()?)),
            other => Err(malformed(other)),
        }
    }
}

fn lease_args(node: NodeId, lease: &LeaseRef, now: UnixMillis) -> [String; 5] {
    [
        node.to_string(),
        lease.job.to_string(),
        lease.chunk.0.to_string(),
        lease.fence.0.to_string(),
        now.0.to_string(),
    ]
}

/// A node list as the scripts match it: `,id,id,`.
fn avoid_arg(avoid: &[NodeId]) -> String {
    avoid.iter().fold(String::from(","), |mut s, n| {
        s.push_str(&n.to_string());
        s.push(',');
        s
    })
}

fn validate_spec(spec: &JobSpec) -> Result<(), CoordinatorError> {
    super::memory::validate_spec(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::conformance;

    /// A coordinator under a prefix of its own, so parallel runs never share keys.
    async fn fresh(url: &str) -> RedisCoordinator {
        let mut opts = RedisOptions::new(url);
        opts.prefix = format!("wowlab-test:{}:", JobId::new());
        RedisCoordinator::connect(opts).await.unwrap()
    }

    async fn delete_all(c: &RedisCoordinator) {
        let mut conn = c.conn.clone();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", c.prefix))
            .query_async(&mut conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            redis::cmd("DEL")
                .arg(keys)
                .query_async::<()>(&mut conn)
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn redis_coordinator_passes_conformance() {
        let Some(url) = crate::test_services::redis_url() else {
            return;
        };
        let started = std::time::Instant::now();
        let made = parking_lot::Mutex::new(Vec::new());
        conformance::run_all(|| async {
            let c = fresh(&url).await;
            made.lock().push(c.prefix.clone());
            c
        })
        .await;
        eprintln!("redis conformance suite: {:?}", started.elapsed());
        for prefix in made.into_inner() {
            let mut opts = RedisOptions::new(url.as_str());
            opts.prefix = prefix;
            delete_all(&RedisCoordinator::connect(opts).await.unwrap()).await;
        }
    }

    async fn keys(c: &RedisCoordinator) -> Vec<String> {
        let mut conn = c.conn.clone();
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", c.prefix))
            .query_async(&mut conn)
            .await
            .unwrap();
        for k in &mut keys {
            *k = k[c.prefix.len()..].to_owned();
        }
        keys.sort();
        keys
    }

    #[tokio::test]
    async fn a_full_redis_replay_cache_refuses_rather_than_forgets_a_live_nonce() {
        let Some(url) = crate::test_services::redis_url() else {
            return;
        };
        let mut opts = RedisOptions::new(url.as_str());
        opts.prefix = format!("wowlab-test:{}:", JobId::new());
        opts.nonce_capacity = 2;
        let c = RedisCoordinator::connect(opts).await.unwrap();
        let ttl = Duration::from_secs(120);
        let t0 = UnixMillis(1_000);
        assert!(c.remember_nonce("a", ttl, t0).await.unwrap());
        assert!(c.remember_nonce("b", ttl, t0).await.unwrap());
        assert_eq!(
            c.remember_nonce("c", ttl, t0).await,
            Err(CoordinatorError::NonceCacheFull(2))
        );
        assert!(!c.remember_nonce("a", ttl, t0).await.unwrap());
        let later = t0.plus(ttl);
        assert!(c.remember_nonce("c", ttl, later).await.unwrap());
        // Every nonce key and the index carry a Redis TTL: nothing outlives the window.
        let mut conn = c.conn.clone();
        for k in keys(&c).await {
            let pttl: i64 = redis::cmd("PTTL")
                .arg(format!("{}{k}", c.prefix))
                .query_async(&mut conn)
                .await
                .unwrap();
            assert!(pttl > 0 && pttl <= 120_000, "{k} has PTTL {pttl}");
        }
        delete_all(&c).await;
    }

    #[tokio::test]
    async fn finished_jobs_and_dead_nodes_leave_no_keys_behind() {
        let Some(url) = crate::test_services::redis_url() else {
            return;
        };
        let c = fresh(&url).await;
        let ttl = Duration::from_secs(10);
        let t0 = UnixMillis(1_800_000_000_000);
        let (done_job, failed_job) = (JobId::new(), JobId::new());
        c.register_job(JobSpec::new(done_job, 3, "u1"))
            .await
            .unwrap();
        c.register_job(JobSpec {
            max_attempts: 1,
            ..JobSpec::new(failed_job, 2, "u2")
        })
        .await
        .unwrap();
        let (a, b) = (NodeId::new(), NodeId::new());
        let la = c.lease(a, 3, ttl, t0).await.unwrap();
        let lb = c.lease(b, 5, ttl, t0).await.unwrap();
        assert_eq!(la.len() + lb.len(), 5);
        for (node, l) in la.iter().map(|l| (a, l)).chain(lb.iter().map(|l| (b, l))) {
            if l.job == done_job {
                c.complete(node, l.lease_ref(), t0).await.unwrap();
            }
        }
        let failing = la.iter().chain(&lb).find(|l| l.job == failed_job).unwrap();
        let holder = if la.contains(failing) { a } else { b };
        assert!(matches!(
            c.fail(holder, failing.lease_ref(), "boom", t0)
                .await
                .unwrap(),
            FailOutcome::JobFailed { .. }
        ));
        c.remove_job(done_job).await.unwrap();
        assert!(keys(&c).await.iter().all(|k| !k.starts_with("job:")
            && !k.starts_with("lease:")
            && !k.starts_with("share")
            && !k.starts_with("lease_")));
        // Both nodes fall silent: reaping forgets them entirely.
        let dead = c
            .reap_silent_nodes(t0.plus(Duration::from_secs(60)), ttl)
            .await
            .unwrap();
        assert_eq!(dead.len(), 2);
        assert_eq!(keys(&c).await, vec!["fence".to_owned()]);
        delete_all(&c).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_sentinels_leasing_at_once_never_share_a_chunk() {
        let Some(url) = crate::test_services::redis_url() else {
            return;
        };
        let a = std::sync::Arc::new(fresh(&url).await);
        let mut opts = RedisOptions::new(url.as_str());
        opts.prefix = a.prefix.clone();
        let b = std::sync::Arc::new(RedisCoordinator::connect(opts).await.unwrap());
        let job = JobId::new();
        a.register_job(JobSpec::new(job, 400, "u")).await.unwrap();
        let t0 = UnixMillis(1_800_000_000_000);
        let ttl = Duration::from_secs(10);
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let c = if i % 2 == 0 { a.clone() } else { b.clone() };
                tokio::spawn(async move {
                    let node = NodeId::new();
                    let mut got = Vec::new();
                    loop {
                        let l = c.lease(node, 3, ttl, t0).await.unwrap();
                        if l.is_empty() {
                            return got;
                        }
                        for lease in l {
                            match c.complete(node, lease.lease_ref(), t0).await.unwrap() {
                                CompleteOutcome::Completed { job_done } => {
                                    got.push((lease.chunk, job_done))
                                }
                                other => panic!("{other:?}"),
                            }
                        }
                    }
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        // Exactly one completion saw the job done.
        assert_eq!(all.iter().filter(|(_, done)| *done).count(), 1);
        let mut chunks: Vec<ChunkIndex> = all.into_iter().map(|(c, _)| c).collect();
        chunks.sort();
        assert_eq!(chunks, (0..400).map(ChunkIndex).collect::<Vec<_>>());
        let p = b.job_progress(job).await.unwrap();
        assert_eq!((p.done, p.pending, p.leased), (400, 0, 0));
        delete_all(&a).await;
    }
}
