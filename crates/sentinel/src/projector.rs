//! The projector: the one consumer of the result log ([`crate::result_log`]), run by whichever
//! sentinel holds the `projector` leader lock.
//!
//! It merges each job's results exactly once per chunk index, publishes coalesced progress on
//! `jobs:{id}` (at most one message per job per `publish_every`, default 250 ms → ≤ 4/s), and
//! when every chunk is in writes the terminal result with a version-checked
//! `running → completed` transition. Entries are taken in batches; with a durable log (the
//! node API appended the result without storing it) a batch's results are persisted first, in
//! one group commit, and every entry is acknowledged only once acted on, so a leader that dies
//! mid-batch leaves its entries to the next one. A leader (re)builds a job's accumulator from
//! the stored results the first time it hears of that job and dedups replays by chunk, so
//! nothing is lost or counted twice. Before it ends a job it renews its lock: a deposed
//! leader's token is refused and it writes nothing. The merge itself is the workload's
//! ([`ResultMerger`]); this layer treats results as opaque bytes.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::watch;
use wowlab_api::channels::{self, JobMessage, JobProgress};

use crate::context::Context;
use crate::coordinator::Coordinator;
use crate::domain::{ChunkIndex, FenceToken, JobId, JobStatus, NodeId};
use crate::lifecycle::{Ending, JobLifecycle, LifecycleError};
use crate::publish::Funnel;
use crate::result_log::{Delivery, LogSubscription, ResultLog};
use crate::store::{
    ChunkResult, ConvergencePoint, Job, JobReview, LeaderFence, ReviewedChunk, Store, StoreError,
};
use crate::tasks::Leadership;
use crate::waves::{Step, Waves};

/// The workload's exact merge of chunk results.
pub trait ResultMerger: Send + Sync + 'static {
    /// Running aggregate of one job.
    type Acc: Send + Sync + 'static;
    /// The empty aggregate for `job`.
    fn empty(&self, job: &Job) -> Self::Acc;
    /// Folds one chunk's result in; an error fails the job with that reason.
    fn merge(&self, acc: &mut Self::Acc, chunk: &[u8]) -> Result<(), String>;
    /// Running estimate for progress messages.
    fn progress(&self, acc: &Self::Acc) -> Estimate;
    /// The final result bytes to store.
    fn finish(&self, acc: &Self::Acc) -> Result<Vec<u8>, String>;
    /// The final report as JSON for the terminal `jobs:{id}` message (none by default).
    fn report(&self, _acc: &Self::Acc) -> Option<serde_json::Value> {
        None
    }
}

/// A workload's running estimate of a job.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Estimate {
    /// Iterations merged.
    pub iterations_done: u64,
    /// Running mean of the headline metric (DPS for the sim).
    pub mean: f64,
    /// 95% confidence half-width of that mean.
    pub ci95: f64,
}

pub use crate::result_log::LogEntry;

struct JobState<A> {
    acc: A,
    seen: Vec<u64>,
    merged: u32,
    chunk_count: u32,
    iterations: u64,
    /// When this projector first heard of the job and how much was merged then, for sims/s.
    since: Instant,
    merged_before: u64,
    dirty: bool,
    /// Distinct nodes whose results were merged, sorted; capped at [`MAX_NODES`].
    nodes: BTreeSet<NodeId>,
    /// A target-error job's waves; `chunk_count` is then that of its scheduled waves.
    waves: Option<Waves>,
    /// Iterations of the last convergence point stored.
    stored_point: u64,
    /// A completed job under review: its recomputed chunks are merged into a corrected
    /// result ([`JobLifecycle::end_review`]) instead of ending the job.
    review: Option<JobReview>,
}

/// About this many convergence points are stored per job (one per 1/200th of its iterations,
/// plus the last), so the series stays small whatever the job's length.
const CONVERGENCE_POINTS: u64 = 200;

/// Most contributing nodes listed per job, so progress payloads stay small.
const MAX_NODES: usize = 256;

impl<A> JobState<A> {
    /// The `jobs:{id}` progress payload from the merger's estimate.
    fn progress(&self, e: Estimate) -> JobProgress {
        let secs = self.since.elapsed().as_secs_f64();
        let fresh = e.iterations_done.saturating_sub(self.merged_before);
        JobProgress {
            chunks_done: self.merged,
            chunks_total: self.chunk_count,
            iterations_done: e.iterations_done,
            iterations_total: self.iterations,
            sims_per_sec: if secs > 0.0 { fresh as f64 / secs } else { 0.0 },
            mean_dps: e.mean,
            ci95_dps: e.ci95,
            nodes: self.nodes.iter().copied().collect(),
            target_error: self.waves.as_ref().map(Waves::target_error),
            half_width_pct: self
                .waves
                .as_ref()
                .map(|_| wowlab_sim::target::half_width_pct(e.mean, e.ci95))
                .filter(|h| h.is_finite()),
            waves_done: self
                .waves
                .as_ref()
                .map(|w| w.waves_done(self.merged == self.chunk_count)),
        }
    }

    /// Records `node` as a contributor (bounded).
    fn contributed(&mut self, node: Option<NodeId>) {
        if let Some(n) = node {
            if self.nodes.len() < MAX_NODES {
                self.nodes.insert(n);
            }
        }
    }
}

impl<A> JobState<A> {
    /// The convergence point to store for estimate `e`, if it moved far enough from the last
    /// one stored (or reached the end, or `last` is asked for).
    fn point_to_store(&mut self, e: Estimate, last: bool) -> Option<ConvergencePoint> {
        let step = (self.iterations / CONVERGENCE_POINTS).max(1);
        let due = e.iterations_done >= self.stored_point.saturating_add(step)
            || e.iterations_done == self.iterations
            || last;
        if e.iterations_done == 0 || e.iterations_done <= self.stored_point || !due {
            return None;
        }
        self.stored_point = e.iterations_done;
        Some(ConvergencePoint {
            iterations: e.iterations_done,
            mean: e.mean,
            ci95: e.ci95,
        })
    }

    /// Marks `c` seen; false if it already was (or is out of range).
    fn first_time(&mut self, c: ChunkIndex) -> bool {
        if c.0 >= self.chunk_count {
            return false;
        }
        let i = c.as_usize();
        let bit = 1u64 << (i % 64);
        if self.seen[i / 64] & bit != 0 {
            return false;
        }
        self.seen[i / 64] |= bit;
        true
    }
}

/// Most entries taken from the log in one batch.
const MAX_BATCH: usize = 512;

/// Default lifetime of the projector's leader lock (renewed every third of it).
pub const PROJECTOR_LOCK_TTL: Duration = Duration::from_secs(3);

/// Name of the projector's leader lock (and of its row in the store's leader fences).
const PROJECTOR_LOCK: &str = "projector";

/// Pause before retrying after the log or the election failed.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// The projector task's state.
pub struct Projector<M: ResultMerger> {
    store: Arc<dyn Store>,
    coordinator: Arc<dyn Coordinator>,
    funnel: Funnel,
    lifecycle: JobLifecycle,
    log: Arc<dyn ResultLog>,
    health: Arc<Mutex<Option<String>>>,
    clock: Arc<dyn crate::domain::Clock>,
    merger: M,
    publish_every: Duration,
    jobs: HashMap<JobId, JobState<M::Acc>>,
    /// The leader lock; endings are only written while it is renewed.
    leader: Option<(Leadership, Duration)>,
    /// The lock's token while leading; the store refuses endings written with a stale one.
    token: Option<FenceToken>,
    /// Set when the store refused a write as stale: the term ends at the next step.
    deposed: bool,
}

impl<M: ResultMerger> Projector<M> {
    /// A projector over `ctx`'s engines, publishing progress at most every 250 ms per job.
    pub fn new(ctx: &Context, merger: M) -> Self {
        Self {
            store: ctx.store_arc(),
            coordinator: ctx.coordinator_arc(),
            funnel: ctx.funnel().clone(),
            lifecycle: ctx.lifecycle().clone(),
            log: ctx.result_log_arc(),
            health: ctx.projector_health(),
            clock: ctx.clock_arc(),
            merger,
            publish_every: Duration::from_millis(250),
            jobs: HashMap::new(),
            leader: None,
            token: None,
            deposed: false,
        }
    }

    /// Runs only while holding the `projector` leader lock as `holder` (lifetime `ttl`), and
    /// writes endings only after renewing it.
    pub fn elected(mut self, holder: impl Into<String>, ttl: Duration) -> Self {
        let lock = Leadership::new(self.coordinator.clone(), PROJECTOR_LOCK, holder, ttl);
        self.leader = Some((lock, ttl));
        self
    }

    /// Campaigns for the lock and, while leading, consumes the log, until `shutdown` turns
    /// true; releases the lock on the way out. Without [`Projector::elected`] it always leads.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let renew_every = self
            .leader
            .as_ref()
            .map_or(PROJECTOR_LOCK_TTL, |(_, ttl)| *ttl)
            / 3;
        // Whether this loop reported a problem that a successful term start clears.
        let mut troubled = false;
        'campaign: while !*shutdown.borrow() {
            if !self.still_leading().await {
                tokio::select! {
                    _ = tokio::time::sleep(renew_every) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            match self.begin_term().await {
                Ok(()) => {}
                Err(e @ StoreError::StaleLeader { .. }) => {
                    self.step_down_term(&e).await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "projector could not raise its fence");
                    self.set_health(Some(format!("store: {e}")));
                    troubled = true;
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY_PAUSE) => {}
                        _ = shutdown.changed() => {}
                    }
                    continue;
                }
            }
            let mut sub = match self.log.subscribe().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "projector could not open the result log");
                    self.set_health(Some(format!("result log: {e}")));
                    troubled = true;
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY_PAUSE) => {}
                        _ = shutdown.changed() => {}
                    }
                    continue;
                }
            };
            tracing::info!("projector consuming the result log");
            // Clears only what this loop reported (a health problem set by anyone else stands
            // until a batch is processed).
            if std::mem::take(&mut troubled) {
                self.set_health(None);
            }
            let mut flush = tokio::time::interval(self.publish_every);
            flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut renew = tokio::time::interval(renew_every);
            renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    d = sub.next() => match d {
                        Ok(d) => {
                            self.take_batch(d, &mut *sub).await;
                            if self.deposed {
                                hand_back(&mut *sub).await;
                                self.jobs.clear();
                                continue 'campaign;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "result log consumer failed; resubscribing");
                            self.set_health(Some(format!("result log: {e}")));
                            troubled = true;
                            tokio::time::sleep(RETRY_PAUSE).await;
                            continue 'campaign;
                        }
                    },
                    _ = flush.tick() => {
                        self.publish_progress().await;
                        self.finalize_ready().await;
                        if self.deposed {
                            hand_back(&mut *sub).await;
                            self.jobs.clear();
                            continue 'campaign;
                        }
                    }
                    _ = renew.tick() => {
                        if self.deposed || !self.still_leading().await {
                            tracing::info!("projector stepped down");
                            hand_back(&mut *sub).await;
                            self.jobs.clear();
                            continue 'campaign;
                        }
                    }
                    _ = shutdown.changed() => {
                        if *shutdown.borrow() {
                            self.publish_progress().await;
                            break 'campaign;
                        }
                    }
                }
            }
        }
        if let Some((lock, _)) = self.leader.as_mut() {
            if let Err(e) = lock.release().await {
                tracing::debug!(error = %e, "could not release the projector lock");
            }
        }
    }

    /// Starts a term from the store (whatever a previous leader merged is there), raising the
    /// fence before anything is read: a predecessor that has not noticed its deposition yet
    /// cannot store results after this term loaded their job (they would be acknowledged in
    /// the log and never merged here, so the job would never end); its writes are refused
    /// and its entries go back to the log for this term.
    async fn begin_term(&mut self) -> Result<(), StoreError> {
        self.jobs.clear();
        self.deposed = false;
        if let Some(fence) = self.fence() {
            self.store.raise_leader_fence(&fence).await?;
        }
        Ok(())
    }

    /// Renews (or acquires) the lock; true while this projector leads (always without one).
    async fn still_leading(&mut self) -> bool {
        let now = self.clock.now();
        let Some((lock, _)) = self.leader.as_mut() else {
            return true;
        };
        self.token = match lock.tick(now).await {
            Ok(token) => token,
            Err(e) => {
                tracing::warn!(error = %e, "projector election failed");
                None
            }
        };
        self.token.is_some()
    }

    /// The fence the store checks this leader's endings against (none when not elected).
    fn fence(&self) -> Option<LeaderFence> {
        self.token.map(|token| LeaderFence {
            lock: PROJECTOR_LOCK.into(),
            token,
        })
    }

    /// The store refused a write as stale: a newer leader exists, so this one gives its lock
    /// up and stops for this term instead of retrying; its entries go back to the log.
    async fn step_down(&mut self, job: JobId, e: &StoreError) {
        tracing::warn!(job = %job, error = %e, "projector write refused as stale; stepping down");
        self.step_down_term(e).await;
    }

    /// [`Self::step_down`] for a refusal that concerns no one job.
    async fn step_down_term(&mut self, e: &StoreError) {
        if !self.deposed {
            tracing::warn!(error = %e, "projector deposed by a newer leader");
        }
        metrics::counter!("sentinel_stale_leader_writes_total", "lock" => PROJECTOR_LOCK)
            .increment(1);
        // The stale token is kept until the next election: any write still attempted in
        // this term is refused by the store as well.
        self.deposed = true;
        if let Some((lock, _)) = self.leader.as_mut() {
            if let Err(e) = lock.release().await {
                tracing::debug!(error = %e, "could not release the projector lock");
            }
        }
    }

    fn set_health(&self, problem: Option<String>) {
        *self.health.lock() = problem;
    }

    /// Takes `first` and whatever else is ready, up to [`MAX_BATCH`], and processes them.
    async fn take_batch(&mut self, first: Delivery, sub: &mut dyn LogSubscription) {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match sub.try_next().await {
                Ok(Some(d)) => batch.push(d),
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "result log read failed mid-batch");
                    break;
                }
            }
        }
        self.process(batch).await;
    }

    /// Persists the batch's results (durable log), applies every entry in order and
    /// acknowledges each once done; on a store failure the whole batch waits in the log.
    async fn process(&mut self, batch: Vec<Delivery>) {
        if self.log.durable() {
            if let Err(e) = self.persist(&batch).await {
                let stale = matches!(e, StoreError::StaleLeader { .. });
                if stale {
                    // Not this store's fault: the new leader takes these entries over.
                    self.step_down_term(&e).await;
                } else {
                    tracing::warn!(error = %e, entries = batch.len(), "results wait in the log");
                    self.set_health(Some(format!("results wait in the log: {e}")));
                }
                for d in batch {
                    if let Err(e) = d.retry_later().await {
                        tracing::debug!(error = %e, "could not hand an entry back");
                    }
                }
                if !stale {
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                return;
            }
        }
        self.set_health(None);
        for d in batch {
            if self.deposed {
                // Left to the new leader.
                if let Err(e) = d.retry_later().await {
                    tracing::debug!(error = %e, "could not hand an entry back");
                }
                continue;
            }
            match self.apply(d.entry.clone()).await {
                Ok(()) => {
                    if let Err(e) = d.ack().await {
                        tracing::warn!(error = %e, "result log entry not acknowledged");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "projector could not apply a log entry; retrying");
                    if let Err(e) = d.retry_later().await {
                        tracing::debug!(error = %e, "could not hand an entry back");
                    }
                }
            }
        }
    }

    /// Stores the batch's results in one fenced transaction: refused as a whole
    /// ([`StoreError::StaleLeader`]) once a newer projector raised the fence, so a deposed
    /// leader never stores (and acknowledges) results its successor's loaded state lacks.
    ///
    /// Stored are the results of running jobs and also of cancelled or failed ones: a result
    /// in the log was accepted (its node acknowledged) unless it raced the ending, and the
    /// partial report of such a job is merged from the stored results, so it includes every
    /// result accepted before the job ended once the log is drained past it. Results of
    /// completed or deleted jobs are not stored (all their chunks are, or the job is gone);
    /// applying them later drops them.
    async fn persist(&mut self, batch: &[Delivery]) -> Result<(), StoreError> {
        let mut rows = Vec::new();
        // Jobs of this batch that are not running, and whether their results are kept.
        let mut ended: HashMap<JobId, bool> = HashMap::new();
        for d in batch {
            if let LogEntry::Result {
                job,
                chunk,
                bytes,
                node,
                ..
            } = &d.entry
            {
                if !self.jobs.contains_key(job) {
                    let keep = match ended.get(job) {
                        Some(keep) => *keep,
                        None if self.load(*job).await? => true,
                        None => {
                            let keep = self.store.job(*job).await?.is_some_and(|j| {
                                matches!(j.status, JobStatus::Cancelled | JobStatus::Failed)
                            });
                            ended.insert(*job, keep);
                            keep
                        }
                    };
                    if !keep {
                        continue;
                    }
                }
                rows.push(ChunkResult {
                    job: *job,
                    chunk: *chunk,
                    node: *node,
                    result: bytes.clone(),
                });
            }
        }
        if rows.is_empty() {
            return Ok(());
        }
        let fence = self.fence();
        self.store
            .put_chunk_results(&rows, self.clock.now(), fence.as_ref())
            .await
    }

    /// Finalizes every fully merged job the coordinator now also counts as done (its last
    /// completion was appended before its chunk was marked done).
    async fn finalize_ready(&mut self) {
        let extending: Vec<JobId> = self
            .jobs
            .iter()
            .filter(|(_, st)| st.waves.as_ref().is_some_and(|w| w.extend_pending))
            .map(|(j, _)| *j)
            .collect();
        for job in extending {
            self.extend(job).await;
        }
        let full: Vec<JobId> = self
            .jobs
            .iter()
            .filter(|(_, st)| st.merged == st.chunk_count)
            .map(|(j, _)| *j)
            .collect();
        for job in full {
            if self.deposed {
                return;
            }
            if self.coordinator_has_all_done(job).await {
                if let Err(e) = self.settle(job).await {
                    tracing::warn!(job = %job, error = %e, "job not finalized; retrying");
                }
            }
        }
    }

    /// Applies one log entry.
    pub async fn apply(&mut self, entry: LogEntry) -> Result<(), StoreError> {
        let job = match &entry {
            LogEntry::Result { job, .. } | LogEntry::Kick(job) => *job,
            LogEntry::Ended(job) => {
                // Ended elsewhere (cancelled): its convergence keeps what was merged.
                if let Some(mut st) = self.jobs.remove(job) {
                    let point = st.point_to_store(self.merger.progress(&st.acc), true);
                    self.store_point(*job, point).await;
                }
                return Ok(());
            }
        };
        if !self.jobs.contains_key(&job) && !self.load(job).await? {
            return Ok(());
        }
        if let LogEntry::Result {
            chunk, bytes, node, ..
        } = entry
        {
            let Some(st) = self.jobs.get_mut(&job) else {
                return Ok(());
            };
            if st.first_time(chunk) {
                if let Err(e) = self.merger.merge(&mut st.acc, &bytes) {
                    return self
                        .fail(job, format!("result of chunk {chunk} unreadable: {e}"))
                        .await;
                }
                st.merged += 1;
                st.contributed(node);
                st.dirty = true;
            }
        }
        if self
            .jobs
            .get(&job)
            .is_some_and(|st| st.merged == st.chunk_count)
            && self.coordinator_has_all_done(job).await
        {
            self.settle(job).await?;
        }
        Ok(())
    }

    /// Every scheduled chunk is merged: a fixed job ends; a target-error job ends or gets its
    /// next wave, as its wave plan decides on the merged waves.
    async fn settle(&mut self, job: JobId) -> Result<(), StoreError> {
        let Some(st) = self.jobs.get(&job) else {
            return Ok(());
        };
        let Some(waves) = &st.waves else {
            return self.finalize(job).await;
        };
        match waves.after_waves(&self.merger.progress(&st.acc)) {
            Step::Finish => self.finalize(job).await,
            Step::Mismatch(reason) => self.fail(job, reason).await,
            Step::Extend {
                waves,
                chunks,
                half_width_pct,
            } => {
                // The store first: a restart restores the new wave from there.
                self.store
                    .advance_job_target(job, waves, chunks, half_width_pct)
                    .await?;
                if let Some(st) = self.jobs.get_mut(&job) {
                    if let Some(w) = st.waves.as_mut() {
                        w.advanced(waves, chunks);
                    }
                    st.chunk_count = chunks;
                    st.dirty = true;
                }
                tracing::info!(job = %job, waves, chunks, half_width_pct, "next wave");
                self.extend(job).await;
                Ok(())
            }
        }
    }

    /// Gives the coordinator the chunks of a target job's scheduled waves; a failure is
    /// retried on the next tick ([`Self::finalize_ready`]).
    async fn extend(&mut self, job: JobId) {
        let Some(st) = self.jobs.get_mut(&job) else {
            return;
        };
        let Some(w) = st.waves.as_mut().filter(|w| w.extend_pending) else {
            return;
        };
        match self.coordinator.extend_job(job, w.chunks()).await {
            // Unknown: ended, or coordination state lost (then restored from the store with
            // the scheduled waves).
            Ok(_) | Err(crate::coordinator::CoordinatorError::UnknownJob(_)) => {
                w.extend_pending = false;
            }
            Err(e) => tracing::warn!(job = %job, error = %e, "next wave not scheduled; retrying"),
        }
    }

    /// Whether the coordinator has marked every chunk done. A result is stored before its
    /// chunk is marked done, so a job loaded from the store can look complete while the last
    /// completions are still in flight; finalizing then would unschedule the job under them
    /// and answer their nodes 409. Their log entries follow the marking, so waiting for them
    /// loses nothing. A job the coordinator does not know (lost state, already removed) or an
    /// unavailable coordinator does not hold finalization up.
    async fn coordinator_has_all_done(&self, job: JobId) -> bool {
        match self.coordinator.job_progress(job).await {
            Ok(p) => p.done >= p.chunk_count,
            Err(_) => true,
        }
    }

    /// Builds a job's accumulator from the store; false if the job is not running.
    async fn load(&mut self, job: JobId) -> Result<bool, StoreError> {
        let Some(j) = self.store.job(job).await? else {
            return Ok(false);
        };
        let review = match j.status {
            JobStatus::Running => None,
            // A completed job is only merged again while a review of it is open.
            JobStatus::Completed => match crate::verify::open_review(&*self.store, job).await? {
                Some(r) => Some(r),
                None => return Ok(false),
            },
            _ => return Ok(false),
        };
        let target = self.store.job_target(job).await?;
        let waves = target
            .as_ref()
            .filter(|_| review.is_none())
            .and_then(|t| Waves::load(&j, t));
        let reviewed_chunks = target.map(|t| t.scheduled_chunks.min(j.chunk_count));
        let mut st = JobState {
            acc: self.merger.empty(&j),
            seen: vec![0; (j.chunk_count as usize).div_ceil(64)],
            merged: 0,
            chunk_count: match (&review, &waves) {
                (Some(_), _) => reviewed_chunks.unwrap_or(j.chunk_count),
                (None, Some(w)) => w.chunks(),
                (None, None) => j.chunk_count,
            },
            iterations: j.iterations,
            since: Instant::now(),
            merged_before: 0,
            dirty: true,
            nodes: BTreeSet::new(),
            waves,
            stored_point: 0,
            review,
        };
        for r in self.store.chunk_results(job).await? {
            if st.first_time(r.chunk) {
                if let Err(e) = self.merger.merge(&mut st.acc, &r.result) {
                    self.jobs.insert(job, st);
                    self.fail(job, format!("result of chunk {} unreadable: {e}", r.chunk))
                        .await?;
                    return Ok(false);
                }
                st.merged += 1;
                st.contributed(r.node);
            }
        }
        st.merged_before = self.merger.progress(&st.acc).iterations_done;
        self.jobs.insert(job, st);
        Ok(true)
    }

    async fn publish_progress(&mut self) {
        let mut updates = Vec::new();
        for (job, st) in self.jobs.iter_mut().filter(|(_, st)| st.dirty) {
            st.dirty = false;
            if st.review.is_some() {
                // A completed job's watchers heard its ending; the correction is the next word.
                continue;
            }
            let estimate = self.merger.progress(&st.acc);
            let point = st.point_to_store(estimate, false);
            updates.push((*job, JobMessage::Progress(st.progress(estimate)), point));
        }
        for (job, u, point) in updates {
            self.store_point(job, point).await;
            self.publish(job, &u).await;
        }
    }

    /// Stores a convergence point; a failure only thins the stored chart, so it is logged,
    /// unless the store refused it as a stale leader's.
    async fn store_point(&mut self, job: JobId, point: Option<ConvergencePoint>) {
        let Some(point) = point.filter(|_| !self.deposed) else {
            return;
        };
        let fence = self.fence();
        match self
            .store
            .add_convergence_point(job, point, fence.as_ref())
            .await
        {
            Ok(()) => {}
            Err(e @ StoreError::StaleLeader { .. }) => self.step_down(job, &e).await,
            Err(e) => tracing::warn!(job = %job, error = %e, "convergence point not stored"),
        }
    }

    async fn publish(&self, job: JobId, u: &JobMessage) {
        if let Err(e) = self.funnel.publish(&channels::job(job), u).await {
            tracing::warn!(job = %job, error = %e, "job update not published");
        }
    }

    async fn finalize(&mut self, job: JobId) -> Result<(), StoreError> {
        if self.jobs.get(&job).is_some_and(|st| st.review.is_some()) {
            return self.correct(job).await;
        }
        let Some(mut st) = self.jobs.remove(&job) else {
            return Ok(());
        };
        let result = match self.merger.finish(&st.acc) {
            Ok(r) => r,
            Err(e) => {
                self.jobs.insert(job, st);
                return self.fail(job, format!("final merge failed: {e}")).await;
            }
        };
        let mut report = self.merger.report(&st.acc);
        // The report says how many chunks were cross-checked (README "Trusting volunteer
        // results").
        if let Some(serde_json::Value::Object(m)) = report.as_mut() {
            match self.store.job_check_counts(job).await {
                Ok(checks) => {
                    m.insert("spot_checks".into(), serde_json::json!(checks));
                }
                Err(e) => tracing::warn!(job = %job, error = %e, "spot-check counts unread"),
            }
        }
        let ending = Ending::Completed { result, report };
        let estimate = self.merger.progress(&st.acc);
        let point = st.point_to_store(estimate, true);
        self.store_point(job, point).await;
        let progress = st.progress(estimate);
        let ended = self.end(job, ending, progress).await;
        if ended.is_err() {
            // Kept, so the next flush tick tries again.
            self.jobs.insert(job, st);
        }
        ended
    }

    /// Every chunk of a job under review is in again: re-merges all its stored results in
    /// chunk order (so the bytes are those of one uninterrupted run) and hands the corrected
    /// result to the lifecycle, which stores it and closes the review.
    async fn correct(&mut self, job: JobId) -> Result<(), StoreError> {
        let Some(st) = self.jobs.remove(&job) else {
            return Ok(());
        };
        let Some(review) = st.review.clone() else {
            return Ok(());
        };
        let Some(j) = self.store.job(job).await? else {
            return Ok(());
        };
        let mut acc = self.merger.empty(&j);
        let mut chunks = Vec::new();
        for r in self.store.chunk_results(job).await? {
            if r.chunk.0 >= st.chunk_count {
                continue;
            }
            if let Err(e) = self.merger.merge(&mut acc, &r.result) {
                // Left open: an operator sees the review stuck with this reason in the log.
                tracing::error!(job = %job, chunk = %r.chunk, error = %e,
                    "a recomputed result is unreadable; the review stays open");
                return Ok(());
            }
            if review.chunks.iter().any(|c| c.chunk == r.chunk) {
                chunks.push(ReviewedChunk {
                    chunk: r.chunk,
                    node: r.node,
                    hash: crate::verify::result_hash(&r.result),
                });
            }
        }
        let result = match self.merger.finish(&acc) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(job = %job, error = %e, "corrected merge failed; review open");
                return Ok(());
            }
        };
        let mut report = self.merger.report(&acc);
        if let Some(serde_json::Value::Object(m)) = report.as_mut() {
            if let Ok(checks) = self.store.job_check_counts(job).await {
                m.insert("spot_checks".into(), serde_json::json!(checks));
            }
        }
        let progress = st.progress(self.merger.progress(&acc));
        if self.deposed || !self.still_leading().await {
            tracing::info!(job = %job, "not the projector leader any more; correction left to it");
            return Ok(());
        }
        let fence = self.fence();
        match self
            .lifecycle
            .end_review(&review, result, report, chunks, progress, fence)
            .await
        {
            // NotFound: closed already (a replay) or the job was deleted meanwhile.
            Ok(_) | Err(StoreError::NotFound) => Ok(()),
            Err(e @ StoreError::StaleLeader { .. }) => {
                self.step_down(job, &e).await;
                Err(e)
            }
            Err(e) => {
                self.jobs.insert(job, st);
                Err(e)
            }
        }
    }

    async fn fail(&mut self, job: JobId, reason: String) -> Result<(), StoreError> {
        let Some(mut st) = self.jobs.remove(&job) else {
            return Ok(());
        };
        if st.review.is_some() {
            // A completed job does not fail; its review stays open with the reason logged.
            tracing::error!(job = %job, reason = %reason, "review not merged; it stays open");
            return Ok(());
        }
        let estimate = self.merger.progress(&st.acc);
        let point = st.point_to_store(estimate, true);
        self.store_point(job, point).await;
        self.end(job, Ending::Failed { reason }, st.progress(estimate))
            .await
    }

    /// Hands the ending to the lifecycle; a job that ended elsewhere meanwhile (cancelled)
    /// stays as it is.
    async fn end(
        &mut self,
        job: JobId,
        ending: Ending,
        progress: JobProgress,
    ) -> Result<(), StoreError> {
        if self.deposed {
            // Refused, so the entry goes back to the log for the new leader.
            return Err(StoreError::StaleLeader {
                lock: PROJECTOR_LOCK.into(),
                token: self.token.unwrap_or_default(),
            });
        }
        if !self.still_leading().await {
            // A deposed leader writes nothing: the new one loads the job from the store.
            tracing::info!(job = %job, "not the projector leader any more; ending left to it");
            return Ok(());
        }
        let fence = self.fence();
        match self
            .lifecycle
            .end_fenced(job, ending, Vec::new(), Some(progress), fence)
            .await
        {
            Ok(_) | Err(LifecycleError::AlreadyFinished(_)) | Err(LifecycleError::NotFound) => {
                Ok(())
            }
            Err(LifecycleError::Store(e @ StoreError::StaleLeader { .. })) => {
                self.step_down(job, &e).await;
                Err(e)
            }
            Err(LifecycleError::Store(e)) => Err(e),
            Err(LifecycleError::Contended) => {
                tracing::warn!(job = %job, "job ending contended; the next result retries it");
                Ok(())
            }
        }
    }
}

/// Leaving a term: entries already delivered to this subscription go back to the log at once
/// (otherwise the next leader waits the log's acknowledgement timeout for them).
async fn hand_back(sub: &mut dyn LogSubscription) {
    while let Ok(Some(d)) = sub.try_next().await {
        if let Err(e) = d.retry_later().await {
            tracing::debug!(error = %e, "could not hand an entry back");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::{Lease, MemoryCoordinator};
    use crate::domain::{Clock, ManualClock};
    use crate::domain::{UnixMillis, UserId};
    use crate::jobs::{submit, Submission};
    use crate::publish::RecordingPublisher;
    use crate::result_log::InProcessLog;
    use crate::store::SqliteStore;

    /// Sums `{"sum": n}` results: exact, order-independent.
    struct Sum;

    impl ResultMerger for Sum {
        type Acc = (u64, u32);
        fn empty(&self, _job: &Job) -> Self::Acc {
            (0, 0)
        }
        fn merge(&self, acc: &mut Self::Acc, chunk: &[u8]) -> Result<(), String> {
            let v: serde_json::Value = serde_json::from_slice(chunk).map_err(|e| e.to_string())?;
            acc.0 += v["sum"].as_u64().ok_or("no sum")?;
            acc.1 += 1;
            Ok(())
        }
        fn progress(&self, acc: &Self::Acc) -> Estimate {
            Estimate {
                iterations_done: u64::from(acc.1),
                mean: acc.0 as f64,
                ci95: 0.0,
            }
        }
        fn report(&self, acc: &Self::Acc) -> Option<serde_json::Value> {
            Some(serde_json::json!({"sum": acc.0}))
        }
        fn finish(&self, acc: &Self::Acc) -> Result<Vec<u8>, String> {
            Ok(acc.0.to_string().into_bytes())
        }
    }

    struct Fixture {
        store: Arc<SqliteStore>,
        coord: Arc<MemoryCoordinator>,
        published: Arc<RecordingPublisher>,
        clock: Arc<ManualClock>,
        owner: UserId,
        /// Every chunk of every fixture job is leased at once to this node.
        worker: NodeId,
        leases: parking_lot::Mutex<HashMap<(JobId, ChunkIndex), Lease>>,
    }

    impl Fixture {
        async fn new() -> Self {
            let store = Arc::new(SqliteStore::memory().await.unwrap());
            let owner = store
                .create_user("o@x", "h", UnixMillis(1))
                .await
                .unwrap()
                .id;
            Self {
                store,
                coord: Arc::new(MemoryCoordinator::new()),
                published: Arc::new(RecordingPublisher::default()),
                clock: Arc::new(ManualClock::new(UnixMillis(1_000))),
                owner,
                worker: NodeId::new(),
                leases: Default::default(),
            }
        }

        fn projector(&self) -> Projector<Sum> {
            self.projector_and_log().0
        }

        /// A projector and the in-process log it consumes.
        fn projector_and_log(&self) -> (Projector<Sum>, InProcessLog) {
            let (ctx, log) = Context::new(self.parts());
            (Projector::new(&ctx, Sum), log)
        }

        /// The parts of a context over the fixture's engines.
        fn parts(&self) -> crate::context::ContextParts {
            crate::context::testing::parts(
                self.coord.clone(),
                self.store.clone(),
                Funnel::new(self.published.clone()),
                self.clock.clone(),
                crate::context::NodeApiConfig::default(),
                None,
            )
        }

        /// A context whose result log is a fresh JetStream stream on the server at `url`.
        async fn jetstream_context(&self, url: &str) -> (Context, crate::result_log::JetStreamLog) {
            let log = crate::result_log::JetStreamLog::connect(
                crate::result_log::jetstream_test_options(url),
            )
            .await
            .unwrap();
            (Context::with_log(self.parts(), Arc::new(log.clone())), log)
        }

        async fn job(&self, chunks: u32) -> JobId {
            let job = submit(
                &*self.store,
                &*self.coord,
                Submission {
                    owner: self.owner,
                    config: "p".into(),
                    config_hash: "h".into(),
                    iterations: u64::from(chunks),
                    seed: 1,
                    chunk_size: 1,
                    public: false,
                    chunk_wall_limit_ms: 0,
                },
                3,
                self.clock.now(),
            )
            .await
            .unwrap()
            .id;
            let leased = self
                .coord
                .lease(
                    self.worker,
                    chunks,
                    Duration::from_secs(60),
                    self.clock.now(),
                )
                .await
                .unwrap();
            let mut map = self.leases.lock();
            for l in leased {
                map.insert((job, l.chunk), l);
            }
            drop(map);
            job
        }

        /// Stores a result like the complete handler does (without marking the chunk done).
        async fn store_only(&self, job: JobId, chunk: u32, sum: u64, node: Option<NodeId>) {
            let bytes = format!(r#"{{"sum": {sum}}}"#).into_bytes();
            self.store
                .put_chunk_result(
                    ChunkResult {
                        job,
                        chunk: ChunkIndex(chunk),
                        node,
                        result: bytes,
                    },
                    self.clock.now(),
                )
                .await
                .unwrap();
        }

        /// Marks the chunk done in the coordinator, as the complete handler does after storing.
        async fn mark_done(&self, job: JobId, chunk: u32) {
            let lease = self.leases.lock()[&(job, ChunkIndex(chunk))];
            self.coord
                .complete(self.worker, lease.lease_ref(), self.clock.now())
                .await
                .unwrap();
        }

        /// Stores a result like the complete handler does and returns the log entry.
        async fn result(&self, job: JobId, chunk: u32, sum: u64) -> LogEntry {
            self.result_from(job, chunk, sum, None).await
        }

        /// Like [`Self::result`], computed by `node`.
        async fn result_from(
            &self,
            job: JobId,
            chunk: u32,
            sum: u64,
            node: Option<NodeId>,
        ) -> LogEntry {
            self.store_only(job, chunk, sum, node).await;
            self.mark_done(job, chunk).await;
            LogEntry::Result {
                job,
                chunk: ChunkIndex(chunk),
                fence: self.leases.lock()[&(job, ChunkIndex(chunk))].fence,
                bytes: format!(r#"{{"sum": {sum}}}"#).into_bytes(),
                node,
            }
        }

        /// What was published on `jobs:` channels (lease revocations left out).
        fn messages(&self) -> Vec<serde_json::Value> {
            self.published
                .sent()
                .iter()
                .filter(|(c, _)| c.starts_with("jobs:"))
                .map(|(_, b)| serde_json::from_slice(b).unwrap())
                .collect()
        }
    }

    #[tokio::test]
    async fn merges_each_chunk_once_and_completes_the_job() {
        let f = Fixture::new().await;
        let job = f.job(4).await;
        let mut p = f.projector();
        for (c, s) in [(2, 20), (0, 1), (2, 20), (3, 300)] {
            let e = f.result(job, c, s).await;
            p.apply(e).await.unwrap();
        }
        assert_eq!(
            f.store.job(job).await.unwrap().unwrap().status,
            JobStatus::Running
        );
        let last = f.result(job, 1, 4000).await;
        p.apply(last.clone()).await.unwrap();
        let stored = f.store.job(job).await.unwrap().unwrap();
        assert_eq!(stored.status, JobStatus::Completed);
        assert_eq!(stored.result.as_deref(), Some(&b"4321"[..]));
        let msgs = f.messages();
        let done: Vec<_> = msgs.iter().filter(|m| m["type"] == "finished").collect();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0]["status"], "completed");
        assert_eq!(done[0]["result"]["sum"], 4321);
        assert_eq!(done[0]["progress"]["mean_dps"], 4321.0);
        assert_eq!(done[0]["progress"]["iterations_done"], 4);
        assert_eq!(f.published.sent()[0].0, format!("jobs:{job}"));
        // Unscheduled, and a late duplicate changes nothing.
        assert!(f.coord.job_progress(job).await.is_err());
        p.apply(last).await.unwrap();
        assert_eq!(f.messages().len(), msgs.len());
    }

    #[tokio::test]
    async fn restart_rebuilds_from_stored_results_without_double_counting() {
        let f = Fixture::new().await;
        let job = f.job(3).await;
        let mut first = f.projector();
        let e = f.result(job, 0, 5).await;
        first.apply(e).await.unwrap();
        // Chunk 1 was stored but its log entry died with the old process.
        f.result(job, 1, 70).await;
        drop(first);
        let mut second = f.projector();
        let e = f.result(job, 2, 900).await;
        second.apply(e).await.unwrap();
        let stored = f.store.job(job).await.unwrap().unwrap();
        assert_eq!(stored.result.as_deref(), Some(&b"975"[..]));
    }

    #[tokio::test]
    async fn progress_lists_distinct_contributing_nodes_also_after_rebuild() {
        let f = Fixture::new().await;
        let job = f.job(4).await;
        let (a, b) = (NodeId::new(), NodeId::new());
        let mut first = f.projector();
        let e = f.result_from(job, 0, 1, Some(a)).await;
        first.apply(e).await.unwrap();
        // Stored by `b` but its log entry died with the old process: the rebuild must know `b`.
        f.result_from(job, 1, 2, Some(b)).await;
        drop(first);
        let mut second = f.projector();
        let e = f.result_from(job, 2, 3, Some(a)).await;
        second.apply(e).await.unwrap();
        second.publish_progress().await;
        let e = f.result_from(job, 3, 4, Some(b)).await;
        second.apply(e).await.unwrap();
        let mut want = vec![a.to_string(), b.to_string()];
        want.sort();
        let msgs = f.messages();
        let progress = msgs.iter().find(|m| m["type"] == "progress").unwrap();
        assert_eq!(progress["nodes"], serde_json::json!(want));
        let done = msgs.iter().find(|m| m["type"] == "finished").unwrap();
        assert_eq!(done["progress"]["nodes"], serde_json::json!(want));
    }

    #[tokio::test]
    async fn a_completion_in_flight_holds_finalization_until_its_chunk_is_marked_done() {
        let f = Fixture::new().await;
        let job = f.job(2).await;
        // Chunk 1 is stored but its node's request has not marked it done yet when the first
        // log entry makes a fresh projector load the job from the store (restart race).
        f.store_only(job, 1, 20, None).await;
        let first = f.result(job, 0, 1).await;
        let mut p = f.projector();
        p.apply(first).await.unwrap();
        assert_eq!(
            f.store.job(job).await.unwrap().unwrap().status,
            JobStatus::Running
        );
        // The in-flight completion still finds its job scheduled...
        assert!(f.coord.job_progress(job).await.is_ok());
        f.mark_done(job, 1).await;
        // ...and its own log entry finalizes.
        p.apply(LogEntry::Result {
            job,
            chunk: ChunkIndex(1),
            fence: crate::domain::Fence(1),
            bytes: br#"{"sum": 20}"#.to_vec(),
            node: None,
        })
        .await
        .unwrap();
        let stored = f.store.job(job).await.unwrap().unwrap();
        assert_eq!(stored.status, JobStatus::Completed);
        assert_eq!(stored.result.as_deref(), Some(&b"21"[..]));
    }

    #[tokio::test]
    async fn kick_finalizes_a_job_whose_chunks_are_all_stored() {
        let f = Fixture::new().await;
        let job = f.job(2).await;
        f.result(job, 0, 1).await;
        f.result(job, 1, 2).await;
        f.projector().apply(LogEntry::Kick(job)).await.unwrap();
        assert_eq!(
            f.store.job(job).await.unwrap().unwrap().status,
            JobStatus::Completed
        );
    }

    #[tokio::test]
    async fn unreadable_result_fails_the_job_with_reason() {
        let f = Fixture::new().await;
        let job = f.job(2).await;
        let mut p = f.projector();
        p.apply(LogEntry::Result {
            job,
            chunk: ChunkIndex(1),
            fence: crate::domain::Fence(1),
            bytes: b"garbage".to_vec(),
            node: None,
        })
        .await
        .unwrap();
        let stored = f.store.job(job).await.unwrap().unwrap();
        assert_eq!(stored.status, JobStatus::Failed);
        assert!(stored.failure_reason.unwrap().contains("chunk 1"));
        assert_eq!(f.messages()[0]["type"], "finished");
        assert_eq!(f.messages()[0]["status"], "failed");
        assert!(f.messages()[0]["reason"]
            .as_str()
            .unwrap()
            .contains("chunk 1"));
        assert!(f.coord.job_progress(job).await.is_err());
    }

    #[tokio::test]
    async fn a_deposed_leader_writes_no_ending_and_its_successor_does() {
        let f = Fixture::new().await;
        let job = f.job(2).await;
        let ttl = Duration::from_secs(3);
        let mut a = f.projector().elected("a", ttl);
        assert!(a.still_leading().await);
        let e = f.result(job, 0, 1).await;
        a.apply(e).await.unwrap();
        // `a` stalls past its lock's lifetime; `b` is elected with a larger token.
        f.clock.advance_ms(7_000);
        let mut b = f.projector().elected("b", ttl);
        assert!(b.still_leading().await);
        let last = f.result(job, 1, 20).await;
        a.apply(last.clone()).await.unwrap();
        assert_eq!(
            f.store.job(job).await.unwrap().unwrap().status,
            JobStatus::Running,
            "the stale leader's ending was refused"
        );
        b.apply(last).await.unwrap();
        let stored = f.store.job(job).await.unwrap().unwrap();
        assert_eq!(stored.status, JobStatus::Completed);
        assert_eq!(stored.result.as_deref(), Some(&b"21"[..]));
        assert_eq!(
            f.messages()
                .iter()
                .filter(|m| m["type"] == "finished")
                .count(),
            1
        );
    }

    #[tokio::test]
    async fn the_store_refuses_a_stale_leaders_ending_and_keeps_the_new_leaders_result() {
        let f = Fixture::new().await;
        // Leaders whose lock renewals both passed (`a` then stalled): only the store's fence
        // tells them apart.
        let (mut a, mut b) = (f.projector(), f.projector());
        a.token = Some(FenceToken(41));
        b.token = Some(FenceToken(42));
        // The newer leader ends another job first, raising the stored fence to its token.
        let other = f.job(1).await;
        let e = f.result(other, 0, 5).await;
        b.apply(e).await.unwrap();
        assert_eq!(
            f.store.job(other).await.unwrap().unwrap().status,
            JobStatus::Completed
        );
        // The stale leader merged a chunk-0 result of its own (100) and now has every chunk.
        let job = f.job(2).await;
        a.apply(LogEntry::Result {
            job,
            chunk: ChunkIndex(0),
            fence: crate::domain::Fence(1),
            bytes: br#"{"sum": 100}"#.to_vec(),
            node: None,
        })
        .await
        .unwrap();
        f.result(job, 0, 1).await;
        let last = f.result(job, 1, 20).await;
        let refused = a.apply(last.clone()).await;
        assert!(
            matches!(refused, Err(StoreError::StaleLeader { ref lock, token })
                if lock == "projector" && token == FenceToken(41)),
            "{refused:?}"
        );
        assert!(a.deposed, "the stale leader steps down");
        let unchanged = f.store.job(job).await.unwrap().unwrap();
        assert_eq!(unchanged.status, JobStatus::Running);
        assert_eq!(unchanged.result, None);
        // The new leader ends the job from the stored results: 1 + 20, not the stale 120.
        b.apply(last).await.unwrap();
        let stored = f.store.job(job).await.unwrap().unwrap();
        assert_eq!(stored.status, JobStatus::Completed);
        assert_eq!(stored.result.as_deref(), Some(&b"21"[..]));
    }

    /// The lost-results hang: a new leader loads a job from the store while its predecessor,
    /// not yet aware of its deposition, still persists (and would acknowledge) the job's last
    /// results. The new term's fence refuses those writes, so the results go back to the log
    /// and the new leader merges them and ends the job.
    #[tokio::test]
    async fn a_deposed_projectors_results_go_back_to_the_log_for_its_successor() {
        let Some(url) = crate::test_services::nats_url() else {
            return;
        };
        let f = Fixture::new().await;
        let job = f.job(2).await;
        let (ctx, log) = f.jetstream_context(&url).await;
        let (mut a, mut b) = (Projector::new(&ctx, Sum), Projector::new(&ctx, Sum));
        a.token = Some(FenceToken(41));
        b.token = Some(FenceToken(42));
        // `b` starts its term and loads the job: nothing stored yet.
        b.begin_term().await.unwrap();
        b.apply(LogEntry::Kick(job)).await.unwrap();
        assert_eq!(b.jobs[&job].merged, 0);
        for (c, sum) in [(0u32, 1u64), (1, 20)] {
            let lease = f.leases.lock()[&(job, ChunkIndex(c))];
            log.append(LogEntry::Result {
                job,
                chunk: ChunkIndex(c),
                fence: lease.fence,
                bytes: format!(r#"{{"sum": {sum}}}"#).into_bytes(),
                node: None,
            })
            .await
            .unwrap();
            f.mark_done(job, c).await;
        }
        // `a` still consumes: both results reach it, and its store write is refused whole.
        let mut sub = log.subscribe().await.unwrap();
        let mut batch = Vec::new();
        while batch.len() < 2 {
            let d = tokio::time::timeout(Duration::from_secs(20), sub.next())
                .await
                .expect("entries delivered")
                .unwrap();
            batch.push(d);
        }
        a.process(batch).await;
        assert!(a.deposed, "the stale projector steps down");
        assert!(f.store.chunk_results(job).await.unwrap().is_empty());
        drop(sub);
        // The entries come back to the log; the new leader merges them and ends the job.
        let mut sub = log.subscribe().await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while f.store.job(job).await.unwrap().unwrap().status == JobStatus::Running {
            assert!(Instant::now() < deadline, "the job was not finalized");
            if let Ok(d) = tokio::time::timeout(Duration::from_secs(1), sub.next()).await {
                b.process(vec![d.unwrap()]).await;
            }
        }
        let stored = f.store.job(job).await.unwrap().unwrap();
        assert_eq!(stored.result.as_deref(), Some(&b"21"[..]));
        assert!(!b.deposed);
        drop(sub);
        log.delete_stream().await.unwrap();
    }

    /// A job cancelled while accepted results still wait in the log: they are stored when
    /// the projector reaches them, so the partial report (merged from the stored results)
    /// includes every result accepted before the cancel.
    #[tokio::test]
    async fn results_accepted_before_a_cancel_are_stored_for_the_partial_report() {
        let Some(url) = crate::test_services::nats_url() else {
            return;
        };
        let f = Fixture::new().await;
        let job = f.job(3).await;
        let (ctx, log) = f.jetstream_context(&url).await;
        // Two results accepted (appended, chunk marked done), not yet projected.
        for (c, sum) in [(0u32, 1u64), (1, 20)] {
            let lease = f.leases.lock()[&(job, ChunkIndex(c))];
            log.append(LogEntry::Result {
                job,
                chunk: ChunkIndex(c),
                fence: lease.fence,
                bytes: format!(r#"{{"sum": {sum}}}"#).into_bytes(),
                node: Some(f.worker),
            })
            .await
            .unwrap();
            f.mark_done(job, c).await;
        }
        // The owner cancels (the lifecycle appends `Ended` after them).
        ctx.lifecycle()
            .end(
                job,
                crate::lifecycle::Ending::Cancelled {
                    by: "its owner".into(),
                },
                Vec::new(),
                None,
            )
            .await
            .unwrap();
        let mut p = Projector::new(&ctx, Sum);
        let mut sub = log.subscribe().await.unwrap();
        for _ in 0..3 {
            let d = tokio::time::timeout(Duration::from_secs(20), sub.next())
                .await
                .expect("entries delivered")
                .unwrap();
            p.process(vec![d]).await;
        }
        let stored = f.store.chunk_results(job).await.unwrap();
        assert_eq!(
            stored.iter().map(|r| r.chunk.0).collect::<Vec<_>>(),
            [0, 1],
            "both accepted results are there for the partial report"
        );
        let job_now = f.store.job(job).await.unwrap().unwrap();
        assert_eq!(job_now.status, JobStatus::Cancelled);
        assert_eq!(job_now.result, None);
        drop(sub);
        log.delete_stream().await.unwrap();
    }

    #[tokio::test]
    async fn from_a_durable_log_results_are_persisted_merged_once_and_the_job_finalized() {
        let Some(url) = crate::test_services::nats_url() else {
            return;
        };
        let f = Fixture::new().await;
        let job = f.job(3).await;
        let (ctx, log) = f.jetstream_context(&url).await;
        // As the node API does with a durable log: append (a retry twice), then mark done.
        for (c, sum) in [(0u32, 1u64), (1, 20), (1, 20), (2, 300)] {
            let lease = f.leases.lock()[&(job, ChunkIndex(c))];
            log.append(LogEntry::Result {
                job,
                chunk: ChunkIndex(c),
                fence: lease.fence,
                bytes: format!(r#"{{"sum": {sum}}}"#).into_bytes(),
                node: Some(f.worker),
            })
            .await
            .unwrap();
            if f.coord.job_progress(job).await.unwrap().done <= c {
                f.mark_done(job, c).await;
            }
        }
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(
            Projector::new(&ctx, Sum)
                .elected("only", Duration::from_secs(3))
                .run(stop_rx),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while f.store.job(job).await.unwrap().unwrap().status == JobStatus::Running {
            assert!(Instant::now() < deadline, "the job was not finalized");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        stop.send(true).unwrap();
        task.await.unwrap();
        let stored = f.store.job(job).await.unwrap().unwrap();
        assert_eq!(stored.result.as_deref(), Some(&b"321"[..]));
        assert_eq!(f.store.chunk_results(job).await.unwrap().len(), 3);
        assert!(ctx.projector_health().lock().is_none());
        log.delete_stream().await.unwrap();
    }

    #[tokio::test]
    async fn while_the_store_refuses_writes_results_wait_in_the_log_and_readiness_says_why() {
        let Some(url) = crate::test_services::nats_url() else {
            return;
        };
        let f = Fixture::new().await;
        let job = f.job(2).await;
        let (ctx, log) = f.jetstream_context(&url).await;
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(Projector::new(&ctx, Sum).run(stop_rx));
        // The store cannot take chunk results (as if PostgreSQL were down for them).
        f.store
            .execute_for_tests("ALTER TABLE chunk_results RENAME TO chunk_results_away")
            .await;
        for (c, sum) in [(0u32, 4u64), (1, 50)] {
            let lease = f.leases.lock()[&(job, ChunkIndex(c))];
            log.append(LogEntry::Result {
                job,
                chunk: ChunkIndex(c),
                fence: lease.fence,
                bytes: format!(r#"{{"sum": {sum}}}"#).into_bytes(),
                node: None,
            })
            .await
            .unwrap();
            f.mark_done(job, c).await;
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        let reason = loop {
            if let Some(r) = ctx.projector_health().lock().clone() {
                break r;
            }
            assert!(Instant::now() < deadline, "the projector never said why");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(reason.contains("results wait in the log"), "{reason}");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(
            f.store.job(job).await.unwrap().unwrap().status,
            JobStatus::Running
        );
        // The store is back: nothing was lost, each result counted once.
        f.store
            .execute_for_tests("ALTER TABLE chunk_results_away RENAME TO chunk_results")
            .await;
        while f.store.job(job).await.unwrap().unwrap().status == JobStatus::Running {
            assert!(Instant::now() < deadline, "the job was not finalized");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let stored = f.store.job(job).await.unwrap().unwrap();
        assert_eq!(stored.result.as_deref(), Some(&b"54"[..]));
        assert!(ctx.projector_health().lock().is_none());
        stop.send(true).unwrap();
        task.await.unwrap();
        log.delete_stream().await.unwrap();
    }

    #[tokio::test]
    async fn progress_is_coalesced_to_four_per_second() {
        let f = Fixture::new().await;
        let job = f.job(1000).await;
        let (p, log) = f.projector_and_log();
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(p.run(stop_rx));
        let start = std::time::Instant::now();
        for c in 0..200u32 {
            let e = f.result(job, c, 1).await;
            log.append(e).await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop.send(true).unwrap();
        task.await.unwrap();
        let elapsed_ms = start.elapsed().as_millis() as usize;
        let progress: Vec<_> = f
            .messages()
            .into_iter()
            .filter(|m| m["type"] == "progress")
            .collect();
        // One per 250 ms tick at most, plus the first tick and the final flush.
        assert!(
            !progress.is_empty() && progress.len() <= elapsed_ms / 250 + 2,
            "{} progress messages for 200 results in {elapsed_ms} ms",
            progress.len()
        );
        assert_eq!(progress.last().unwrap()["chunks_done"], 200);
        assert_eq!(progress.last().unwrap()["chunks_total"], 1000);
    }

    /// `{"n": iterations}` results whose half-width shrinks as 1/√n around a mean of 1000:
    /// 0.03125 % after 1024 iterations, 0.018 % after 3072.
    struct Spread;

    impl ResultMerger for Spread {
        type Acc = u64;
        fn empty(&self, _job: &Job) -> u64 {
            0
        }
        fn merge(&self, acc: &mut u64, chunk: &[u8]) -> Result<(), String> {
            let v: serde_json::Value = serde_json::from_slice(chunk).map_err(|e| e.to_string())?;
            *acc += v["n"].as_u64().ok_or("no n")?;
            Ok(())
        }
        fn progress(&self, acc: &u64) -> Estimate {
            Estimate {
                iterations_done: *acc,
                mean: 1000.0,
                ci95: 10.0 / (*acc as f64).sqrt(),
            }
        }
        fn finish(&self, acc: &u64) -> Result<Vec<u8>, String> {
            Ok(acc.to_string().into_bytes())
        }
    }

    impl Fixture {
        /// A target job of at most 10 000 iterations in chunks of 1024 (wave 0: chunk 0,
        /// wave 1: chunks 1-2, wave 2: chunks 3-6...).
        async fn target_job(&self, target: f64) -> JobId {
            crate::jobs::submit_with_target(
                &*self.store,
                &*self.coord,
                Submission {
                    owner: self.owner,
                    config: "p".into(),
                    config_hash: "h".into(),
                    iterations: 10_000,
                    seed: 1,
                    chunk_size: 1024,
                    public: false,
                    chunk_wall_limit_ms: 0,
                },
                Some(wowlab_sim::WavePlan::new(target, 10_000).unwrap()),
                3,
                self.clock.now(),
            )
            .await
            .unwrap()
            .id
        }

        /// Leases every pending chunk, stores and completes each as the node API does, and
        /// returns their log entries.
        async fn run_pending(&self, job: JobId) -> Vec<LogEntry> {
            let leases = self
                .coord
                .lease(self.worker, 100, Duration::from_secs(60), self.clock.now())
                .await
                .unwrap();
            let mut out = Vec::new();
            for l in leases {
                let n = (10_000 - u64::from(l.chunk.0) * 1024).min(1024);
                let bytes = format!(r#"{{"n": {n}}}"#).into_bytes();
                self.store
                    .put_chunk_result(
                        ChunkResult {
                            job,
                            chunk: l.chunk,
                            node: None,
                            result: bytes.clone(),
                        },
                        self.clock.now(),
                    )
                    .await
                    .unwrap();
                self.coord
                    .complete(self.worker, l.lease_ref(), self.clock.now())
                    .await
                    .unwrap();
                out.push(LogEntry::Result {
                    job,
                    chunk: l.chunk,
                    fence: l.fence,
                    bytes,
                    node: None,
                });
            }
            out
        }
    }

    #[tokio::test]
    async fn a_target_job_gets_waves_until_met_and_never_merges_chunks_past_them() {
        let f = Fixture::new().await;
        let job = f.target_job(0.02).await;
        let (ctx, _log) = Context::new(f.parts());
        let mut p = Projector::new(&ctx, Spread);
        assert_eq!(f.coord.job_progress(job).await.unwrap().chunk_count, 1);
        for e in f.run_pending(job).await {
            p.apply(e).await.unwrap();
        }
        // Wave 0 (0.031 %) misses the target: wave 1 is stored, then scheduled.
        let t = f.store.job_target(job).await.unwrap().unwrap();
        assert_eq!((t.waves, t.scheduled_chunks), (2, 3));
        assert_eq!(t.half_width_pct, Some(0.03125));
        assert_eq!(f.coord.job_progress(job).await.unwrap().chunk_count, 3);
        // A result for a chunk past the scheduled waves is never merged.
        p.apply(LogEntry::Result {
            job,
            chunk: ChunkIndex(5),
            fence: crate::domain::Fence(1),
            bytes: br#"{"n": 1024}"#.to_vec(),
            node: None,
        })
        .await
        .unwrap();
        for e in f.run_pending(job).await {
            p.apply(e).await.unwrap();
        }
        // Wave 1 (0.018 %) meets it: the job ends with exactly waves 0 and 1.
        let stored = f.store.job(job).await.unwrap().unwrap();
        assert_eq!(stored.status, JobStatus::Completed);
        assert_eq!(stored.result.as_deref(), Some(&b"3072"[..]));
        let done = f
            .messages()
            .into_iter()
            .find(|m| m["type"] == "finished")
            .unwrap();
        assert_eq!(done["progress"]["waves_done"], 2);
        assert_eq!(done["progress"]["target_error"], 0.02);
        assert!(done["progress"]["half_width_pct"].as_f64().unwrap() <= 0.02);
    }

    #[tokio::test]
    async fn a_wave_stored_but_not_scheduled_is_scheduled_on_the_next_tick() {
        let f = Fixture::new().await;
        let job = f.target_job(0.001).await;
        f.run_pending(job).await;
        // As if the leader stored wave 1 and died (or the coordinator failed) before
        // extend_job: the coordinator still holds wave 0 only.
        assert!(f.store.advance_job_target(job, 2, 3, 0.03).await.unwrap());
        assert_eq!(f.coord.job_progress(job).await.unwrap().chunk_count, 1);
        let (ctx, _log) = Context::new(f.parts());
        let mut p = Projector::new(&ctx, Spread);
        p.apply(LogEntry::Kick(job)).await.unwrap();
        p.finalize_ready().await;
        assert_eq!(f.coord.job_progress(job).await.unwrap().chunk_count, 3);
        assert_eq!(
            f.store.job(job).await.unwrap().unwrap().status,
            JobStatus::Running
        );
        for e in f.run_pending(job).await {
            p.apply(e).await.unwrap();
        }
        // 0.001 % is out of reach: waves continue up to the maximum, then the job ends.
        while f.store.job(job).await.unwrap().unwrap().status == JobStatus::Running {
            for e in f.run_pending(job).await {
                p.apply(e).await.unwrap();
            }
        }
        let stored = f.store.job(job).await.unwrap().unwrap();
        assert_eq!(stored.result.as_deref(), Some(&b"10000"[..]));
    }
}
