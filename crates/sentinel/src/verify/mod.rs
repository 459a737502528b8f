//! Spot checks of volunteer results (README "Trusting volunteer results").
//!
//! Results are bit-identical for the same chunk on every honest machine, so one re-run by a
//! node of another owner proves or disproves a result exactly. When a result arrives the
//! sentinel decides, by a CSPRNG draw ([`sample`]), whether to check it: every result of a
//! node's first [`VerifyConfig::first_results`], then a fraction ([`VerifyConfig::rate`],
//! lowered by a clean record, never to zero). A sampled result is held back in the store
//! (`chunk_checks`) and its chunk goes back to pending, barred from the owner's nodes
//! ([`Coordinator::recheck`]); the node that computed it hears "accepted" as for any result,
//! and the node that gets the chunk next sees an ordinary lease. The job cannot finish while
//! the chunk is pending. Equal hashes confirm the result and it is stored as usual; a mismatch
//! goes to a third owner's node, and whichever result it matches stands. Every step is
//! recorded: the check row (nodes, hashes, verdict) and each node's counters (`node_trust`).
//!
//! With no online node of another owner (an embedded grid with only its in-process nodes,
//! which all belong to one system user) the check is skipped and recorded as skipped. If the
//! checking owner's nodes all leave before the second run, the leader skips the check the same
//! way ([`Verifier::release_stranded`]) and lets any node recompute the chunk.

pub mod review;
pub mod sample;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

pub use review::open_review;
pub use sample::{result_hash, VerifyConfig};

use crate::context::Context;
use crate::coordinator::{
    CompleteOutcome, Coordinator, CoordinatorError, LeaseRef, RecheckOutcome,
};
use crate::domain::{ChunkIndex, JobId, JobStatus, NodeId, UnixMillis, UserId};
use crate::lifecycle::ReviewError;
use crate::store::{
    CheckRun, CheckVerdict, ChunkCheck, Node, NodeStatus, NodeTrust, Store, StoreError,
};

/// The note on a check skipped because its checker left ([`Verifier::release_stranded`]).
pub const CHECKER_LEFT: &str = "the checking node left and no node of another owner is online";

/// Why a result could not be routed (the node retries the POST).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The coordinator failed.
    #[error(transparent)]
    Coordinator(#[from] CoordinatorError),
}

/// What to do with an arriving result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Store and complete it as usual, with these bytes.
    Ordinary(Vec<u8>),
    /// It is held for a spot check (or did not count); answer the node with this outcome.
    Held(CompleteOutcome),
}

/// The spot checks of a batch of results, read in one query before the batch is screened, and
/// the batch's skipped checks, recorded together in one transaction after it
/// ([`Verifier::record_skips`]).
#[derive(Debug, Default)]
pub struct BatchChecks {
    found: HashMap<(JobId, ChunkIndex), ChunkCheck>,
    skipped: Mutex<Vec<ChunkCheck>>,
}

/// The spot-check policy and its cached views of node records and of the node list.
pub struct Verifier {
    config: VerifyConfig,
    trust: Cached<HashMap<NodeId, NodeTrust>>,
    nodes: Cached<Arc<Vec<Node>>>,
}

/// A copy of store rows, read again once older than [`sample::TRUST_CACHE_TTL`]. One caller
/// at a time reloads it: when the copy expires under a batch of results, the others wait for
/// that one read instead of each querying the store.
struct Cached<T> {
    copy: Mutex<Option<(Instant, T)>>,
    reload: tokio::sync::Mutex<()>,
}

impl<T> Cached<T> {
    fn new() -> Self {
        Self {
            copy: Mutex::new(None),
            reload: tokio::sync::Mutex::new(()),
        }
    }

    /// `f` of the copy if it was read after `since` and is not too old.
    fn read_since<R>(&self, since: Option<Instant>, f: impl FnOnce(&T) -> R) -> Option<R> {
        match &*self.copy.lock() {
            Some((at, v))
                if at.elapsed() < sample::TRUST_CACHE_TTL && since.is_none_or(|s| *at >= s) =>
            {
                Some(f(v))
            }
            _ => None,
        }
    }

    /// `f` of the copy, reloaded with `load` first if there is none, it is too old, or `fresh`
    /// asks for one read after this call began.
    async fn get<R, E>(
        &self,
        fresh: bool,
        f: impl Fn(&T) -> R,
        load: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<R, E> {
        let since = fresh.then(Instant::now);
        if let Some(r) = self.read_since(since, &f) {
            return Ok(r);
        }
        let _reloading = self.reload.lock().await;
        // Another caller may have reloaded it while this one waited.
        if let Some(r) = self.read_since(since, &f) {
            return Ok(r);
        }
        let v = load.await?;
        let r = f(&v);
        *self.copy.lock() = Some((Instant::now(), v));
        Ok(r)
    }

    /// Applies this sentinel's own write to the copy (whatever its age), so it shows at once.
    fn update(&self, f: impl FnOnce(&mut T)) {
        if let Some((_, v)) = &mut *self.copy.lock() {
            f(v);
        }
    }
}

impl Verifier {
    /// A verifier with `config`.
    pub fn new(config: VerifyConfig) -> Self {
        Self {
            config,
            trust: Cached::new(),
            nodes: Cached::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &VerifyConfig {
        &self.config
    }

    /// A node's record, from a cache refreshed at most every [`sample::TRUST_CACHE_TTL`].
    async fn trust_of(&self, store: &dyn Store, node: NodeId) -> Result<NodeTrust, StoreError> {
        let load = async {
            let map: HashMap<NodeId, NodeTrust> = store.node_trust().await?.into_iter().collect();
            Ok(map)
        };
        let t = self
            .trust
            .get(false, |map| map.get(&node).copied(), load)
            .await?;
        Ok(t.unwrap_or_default())
    }

    /// The node list, from a cache refreshed at most every [`sample::TRUST_CACHE_TTL`] (or
    /// read after this call began, with `fresh`). Sampling reads the cached copy only to learn
    /// that no node of another owner is online, the common case of a lone owner's grid.
    async fn nodes(&self, store: &dyn Store, fresh: bool) -> Result<Arc<Vec<Node>>, StoreError> {
        let load = async { Ok(Arc::new(store.list_nodes(None).await?)) };
        self.nodes.get(fresh, Arc::clone, load).await
    }

    /// Reads the spot checks of a batch of results at once (`None` when checks are off), so
    /// screening a batch costs one query instead of one per result.
    pub async fn prefetch(
        &self,
        store: &dyn Store,
        leases: impl IntoIterator<Item = LeaseRef>,
    ) -> Result<Option<BatchChecks>, StoreError> {
        if self.config.rate <= 0.0 {
            return Ok(None);
        }
        let mut by_job: HashMap<JobId, Vec<ChunkIndex>> = HashMap::new();
        for l in leases {
            by_job.entry(l.job).or_default().push(l.chunk);
        }
        let mut found = HashMap::new();
        for (job, chunks) in by_job {
            for c in store.chunk_checks_of(job, &chunks).await? {
                found.insert((c.job, c.chunk), c);
            }
        }
        Ok(Some(BatchChecks {
            found,
            skipped: Mutex::default(),
        }))
    }

    /// Records the skipped checks of a screened batch, all in one transaction: a lone owner's
    /// grid skips a sampled result in every few dozen, and a commit each cost more than the
    /// screening of the whole batch.
    pub async fn record_skips(
        &self,
        store: &dyn Store,
        batch: &BatchChecks,
    ) -> Result<(), StoreError> {
        let skipped = std::mem::take(&mut *batch.skipped.lock());
        if !skipped.is_empty() {
            store.put_chunk_checks(&skipped).await?;
        }
        Ok(())
    }

    /// Adds to a node's record (and to the cached copy, so a new node's start counts down at
    /// once on this sentinel).
    async fn add_trust(
        &self,
        store: &dyn Store,
        node: NodeId,
        delta: NodeTrust,
    ) -> Result<(), StoreError> {
        store.add_node_trust(node, delta).await?;
        self.trust.update(|map| {
            let t = map.entry(node).or_default();
            t.checked += delta.checked;
            t.confirmed += delta.confirmed;
            t.failed += delta.failed;
        });
        Ok(())
    }

    /// Takes back the `checked` count of a check that was skipped (in the store and the
    /// cached copy), so a new node's first results are all checked and the record is true.
    async fn uncount_check(&self, store: &dyn Store, node: NodeId) -> Result<(), StoreError> {
        store.uncount_node_check(node).await?;
        self.trust.update(|map| {
            if let Some(t) = map.get_mut(&node) {
                t.checked = t.checked.saturating_sub(1);
            }
        });
        Ok(())
    }

    /// Whether `node` sent a result of this chunk that a spot check took (held, or settled
    /// since): its re-sent result must hear what a re-sent ordinary result hears (the chunk is
    /// done), not that its lease is stale, or the answer would tell it the chunk was a check.
    pub async fn ran_check(
        &self,
        store: &dyn Store,
        node: NodeId,
        lease: LeaseRef,
    ) -> Result<bool, StoreError> {
        if self.config.rate <= 0.0 {
            return Ok(false);
        }
        Ok(store
            .chunk_check(lease.job, lease.chunk)
            .await?
            .is_some_and(|c| {
                c.first.node == node
                    || c.second.as_ref().is_some_and(|r| r.node == node)
                    || c.third.as_ref().is_some_and(|r| r.node == node)
            }))
    }

    /// Screens a result that arrived on `node`'s current lease: held for a spot check, counted
    /// as a check of an earlier result, or ordinary. `batch` holds the chunk's check if the
    /// caller read its batch's checks beforehand ([`Self::prefetch`]); a check row is
    /// written before its chunk is leased again, so a read after the request arrived sees it.
    pub async fn screen(
        &self,
        ctx: &Context,
        node: NodeId,
        lease: LeaseRef,
        bytes: Vec<u8>,
        now: UnixMillis,
        batch: Option<&BatchChecks>,
    ) -> Result<Route, VerifyError> {
        let (store, coord) = (ctx.store(), ctx.coordinator());
        if self.config.rate <= 0.0 {
            return Ok(Route::Ordinary(bytes));
        }
        if self.trust_of(store, node).await?.quarantined_at.is_some() {
            // A quarantined node's result is never used: the chunk goes to another owner.
            let nodes = store.list_nodes(None).await?;
            let owners = owners_of(&nodes, [Some(node)]);
            let mut avoid = nodes_of(&nodes, &owners, None);
            avoid.push(node);
            let outcome = coord.recheck(node, lease, &avoid, now).await?;
            return Ok(Route::Held(held(outcome)));
        }
        let check = match batch {
            Some(b) => b.found.get(&(lease.job, lease.chunk)).cloned(),
            None => store.chunk_check(lease.job, lease.chunk).await?,
        };
        match check {
            // Boxed, like the sampled branch of `on_first`: the rare paths' state stays out of
            // the common path's future, which a batch holds one of per result.
            Some(check) if check.verdict == CheckVerdict::Pending => {
                Box::pin(self.on_check_run(ctx, node, lease, bytes, check, now)).await
            }
            // Settled (the stored result was lost mid-way and the chunk ran again) or skipped.
            Some(_) => Ok(Route::Ordinary(bytes)),
            None => {
                let trust = self.trust_of(store, node).await?;
                let drawn = sample::draw(self.config.rate_for(&trust));
                if !self.config.is_new(&trust) && !drawn {
                    return Ok(Route::Ordinary(bytes));
                }
                // Boxed: the sampled path's state stays out of the common path's future.
                Box::pin(self.on_first(store, coord, node, lease, bytes, now, batch, drawn)).await
            }
        }
    }

    /// A chunk's sampled (or new node's) first result: skipped without a checker of another
    /// owner, otherwise held while the chunk runs again elsewhere.
    #[allow(clippy::too_many_arguments)]
    async fn on_first(
        &self,
        store: &dyn Store,
        coord: &dyn Coordinator,
        node: NodeId,
        lease: LeaseRef,
        bytes: Vec<u8>,
        now: UnixMillis,
        batch: Option<&BatchChecks>,
        drawn: bool,
    ) -> Result<Route, VerifyError> {
        // The cached list answers the common case (no other owner online: nothing to do) without
        // a query per result; a check is only started on a fresh one.
        let mut nodes = self.nodes(store, false).await?;
        let me_known = nodes.iter().any(|n| n.id == node);
        if !me_known || any_checker(&nodes, &owners_of(&nodes, [Some(node)])) {
            nodes = self.nodes(store, true).await?;
        }
        let Some(me) = nodes.iter().find(|n| n.id == node).cloned() else {
            return Ok(Route::Ordinary(bytes));
        };
        let owners = owners_of(&nodes, [Some(node)]);
        let check = |verdict, note: Option<String>, result: Vec<u8>| ChunkCheck {
            job: lease.job,
            chunk: lease.chunk,
            verdict,
            first: CheckRun {
                node,
                hash: result_hash(&bytes),
            },
            first_result: result,
            second: None,
            third: None,
            note,
            created_at: now,
            settled_at: None,
        };
        if !any_checker(&nodes, &owners) {
            // Only the base-rate draw is recorded, so a lone owner's start does not write a
            // row per result.
            if drawn {
                let note = "no online node of another owner could check it".to_string();
                let mut c = check(CheckVerdict::Skipped, Some(note), Vec::new());
                c.settled_at = Some(now);
                match batch {
                    Some(b) => b.skipped.lock().push(c),
                    None => store.put_chunk_check(&c).await?,
                }
                metrics::counter!("sentinel_spot_checks_total", "outcome" => "skipped")
                    .increment(1);
            }
            return Ok(Route::Ordinary(bytes));
        }
        // Held before the lease ends, so a checking result can never arrive before it.
        store
            .put_chunk_check(&check(CheckVerdict::Pending, None, bytes.clone()))
            .await?;
        let avoid = nodes_of(&nodes, &owners, me.owner);
        let outcome = coord.recheck(node, lease, &avoid, now).await?;
        // A lease that ran out meanwhile leaves the chunk pending all the same (reclaimed), and
        // its next result settles the held one: that check counts too.
        if outcome != RecheckOutcome::AlreadyDone {
            self.add_trust(store, node, counts(1, 0, 0)).await?;
            metrics::counter!("sentinel_spot_checks_total", "outcome" => "started").increment(1);
        }
        Ok(Route::Held(held(outcome)))
    }

    /// A result for a chunk whose check is pending: the second or the deciding third run.
    #[allow(clippy::too_many_arguments)]
    async fn on_check_run(
        &self,
        ctx: &Context,
        node: NodeId,
        lease: LeaseRef,
        bytes: Vec<u8>,
        mut check: ChunkCheck,
        now: UnixMillis,
    ) -> Result<Route, VerifyError> {
        let (store, coord) = (ctx.store(), ctx.coordinator());
        let nodes = store.list_nodes(None).await?;
        let before: Vec<NodeId> = std::iter::once(check.first.node)
            .chain(check.second.as_ref().map(|r| r.node))
            .collect();
        let owners = owners_of(&nodes, before.iter().copied().map(Some));
        let mine = nodes.iter().find(|n| n.id == node).and_then(|n| n.owner);
        let hash = result_hash(&bytes);
        if before.contains(&node) || mine.is_some_and(|o| owners.contains(&o)) {
            // The avoid list was stale (a node registered since): this run proves nothing.
            let avoid = nodes_of(&nodes, &owners, mine);
            let outcome = coord.recheck(node, lease, &avoid, now).await?;
            return Ok(Route::Held(held(outcome)));
        }
        let run = CheckRun { node, hash };
        match check.second.clone() {
            None if run.hash == check.first.hash => {
                check.second = Some(run);
                check.verdict = CheckVerdict::Confirmed;
                check.settled_at = Some(now);
                check.first_result = Vec::new();
                store.put_chunk_check(&check).await?;
                self.add_trust(store, check.first.node, counts(0, 1, 0))
                    .await?;
                self.add_trust(store, node, counts(1, 1, 0)).await?;
                metrics::counter!("sentinel_spot_checks_total", "outcome" => "confirmed")
                    .increment(1);
                Ok(Route::Ordinary(bytes))
            }
            None => {
                // A mismatch: a third owner's node decides.
                tracing::warn!(job = %lease.job, chunk = %lease.chunk, first = %check.first.node,
                    second = %node, "spot check mismatch; asking a third owner's node");
                check.second = Some(run);
                store.put_chunk_check(&check).await?;
                let mut owners = owners;
                owners.extend(mine);
                let avoid = nodes_of(&nodes, &owners, None);
                let outcome = coord.recheck(node, lease, &avoid, now).await?;
                if outcome == RecheckOutcome::Requeued {
                    self.add_trust(store, node, counts(1, 0, 0)).await?;
                }
                Ok(Route::Held(held(outcome)))
            }
            Some(second) => {
                let (verdict, wrong, right) = if run.hash == check.first.hash {
                    (CheckVerdict::SecondWrong, second.node, check.first.node)
                } else if run.hash == second.hash {
                    (CheckVerdict::FirstWrong, check.first.node, second.node)
                } else {
                    // Three different answers: keep asking other owners until two agree.
                    check.note = Some(format!("node {node} gave a third, different result"));
                    store.put_chunk_check(&check).await?;
                    let mut owners = owners;
                    owners.extend(mine);
                    let avoid = nodes_of(&nodes, &owners, None);
                    let outcome = coord.recheck(node, lease, &avoid, now).await?;
                    return Ok(Route::Held(held(outcome)));
                };
                tracing::warn!(job = %lease.job, chunk = %lease.chunk, wrong = %wrong,
                    "spot check settled: a node returned a wrong result");
                check.third = Some(run);
                check.verdict = verdict;
                check.settled_at = Some(now);
                check.first_result = Vec::new();
                store.put_chunk_check(&check).await?;
                self.add_trust(store, wrong, counts(0, 0, 1)).await?;
                self.add_trust(store, right, counts(0, 1, 0)).await?;
                self.add_trust(store, node, counts(1, 1, 0)).await?;
                metrics::counter!("sentinel_spot_checks_total", "outcome" => "mismatch")
                    .increment(1);
                self.quarantine(ctx, &nodes, wrong, now).await?;
                Ok(Route::Ordinary(bytes))
            }
        }
    }
}

impl Verifier {
    /// Run by the leader: each check still waiting for its second run that no online node of
    /// another owner could run any more is skipped, and its chunk's bar lifted so any node
    /// recomputes it (the re-run is then stored as an ordinary result) and the job finishes.
    /// A mismatch waiting for a third owner stays pending: both results are in doubt. Returns
    /// how many checks it skipped.
    pub async fn release_stranded(
        &self,
        ctx: &Context,
        now: UnixMillis,
    ) -> Result<usize, VerifyError> {
        let (store, coord) = (ctx.store(), ctx.coordinator());
        let waiting: Vec<ChunkCheck> = store
            .pending_chunk_checks()
            .await?
            .into_iter()
            .filter(|c| c.second.is_none())
            .collect();
        if waiting.is_empty() {
            return Ok(0);
        }
        let nodes = store.list_nodes(None).await?;
        let mut skipped = 0;
        for check in waiting {
            if any_checker(&nodes, &owners_of(&nodes, [Some(check.first.node)])) {
                continue;
            }
            // Read again: a checking result may have arrived since the list was read.
            let Some(mut check) = store.chunk_check(check.job, check.chunk).await? else {
                continue;
            };
            if check.verdict != CheckVerdict::Pending || check.second.is_some() {
                continue;
            }
            // Lifted first: if the row write fails, the next sweep finds the check again.
            match coord.release_avoid(check.job, check.chunk).await {
                Ok(_) | Err(CoordinatorError::UnknownJob(_)) => {}
                Err(e) => return Err(e.into()),
            }
            check.verdict = CheckVerdict::Skipped;
            check.note = Some(CHECKER_LEFT.to_string());
            check.settled_at = Some(now);
            check.first_result = Vec::new();
            store.put_chunk_check(&check).await?;
            // Counted as checked when it was held; a skipped check checked nothing.
            self.uncount_check(store, check.first.node).await?;
            metrics::counter!("sentinel_spot_checks_total", "outcome" => "skipped").increment(1);
            tracing::info!(job = %check.job, chunk = %check.chunk, first = %check.first.node,
                "spot check skipped: its checking node left; any node may recompute the chunk");
            skipped += 1;
        }
        Ok(skipped)
    }

    /// Quarantines `wrong` (no more work, shown on the nodes page and in `/api/nodes`) and
    /// sends every result it contributed to an unfinished job back for recomputation on
    /// other owners' nodes; the projector rebuilds those jobs from the store without them.
    pub async fn quarantine(
        &self,
        ctx: &Context,
        nodes: &[Node],
        wrong: NodeId,
        now: UnixMillis,
    ) -> Result<(), VerifyError> {
        let (store, coord) = (ctx.store(), ctx.coordinator());
        store.set_node_quarantine(wrong, Some(now)).await?;
        self.trust.update(|map| {
            map.entry(wrong).or_default().quarantined_at = Some(now);
        });
        coord.drop_credit(wrong).await?;
        tracing::warn!(node = %wrong, "node quarantined: a spot check found its result wrong");
        metrics::counter!("sentinel_nodes_quarantined_total").increment(1);
        let owners = owners_of(nodes, [Some(wrong)]);
        let mut avoid = nodes_of(nodes, &owners, None);
        avoid.push(wrong);
        let mut under_review = Vec::new();
        for status in [JobStatus::Running, JobStatus::Completed] {
            let mut by_job: HashMap<JobId, Vec<ChunkIndex>> = HashMap::new();
            for (job, chunk) in store.chunks_by_node(wrong, status).await? {
                by_job.entry(job).or_default().push(chunk);
            }
            for (job, chunks) in by_job {
                let max_attempts = ctx.config().max_attempts;
                match ctx
                    .lifecycle()
                    .begin_review(job, wrong, &chunks, &avoid, max_attempts)
                    .await
                {
                    Ok(Some(review)) => {
                        metrics::counter!("sentinel_chunks_recomputed_total")
                            .increment(chunks.len() as u64);
                        tracing::warn!(job = %job, chunks = chunks.len(), node = %wrong,
                            status = %status, "recomputing a quarantined node's results");
                        under_review.push(review);
                    }
                    Ok(None) | Err(ReviewError::NotFound) => {}
                    Err(ReviewError::Store(e)) => return Err(e.into()),
                    Err(ReviewError::Coordinator(e)) => return Err(e.into()),
                }
            }
        }
        review::notify_quarantine(ctx, nodes, wrong, &under_review, now);
        Ok(())
    }
}

fn counts(checked: u32, confirmed: u32, failed: u32) -> NodeTrust {
    NodeTrust {
        checked,
        confirmed,
        failed,
        quarantined_at: None,
    }
}

/// What the node that sent a held result hears: "accepted", as for any result.
fn held(outcome: RecheckOutcome) -> CompleteOutcome {
    match outcome {
        RecheckOutcome::Requeued => CompleteOutcome::Completed { job_done: false },
        RecheckOutcome::AlreadyDone => CompleteOutcome::AlreadyDone,
        RecheckOutcome::Stale => CompleteOutcome::Stale,
    }
}

/// The owners of `ids` (unknown or unowned nodes have none).
fn owners_of(nodes: &[Node], ids: impl IntoIterator<Item = Option<NodeId>>) -> HashSet<UserId> {
    ids.into_iter()
        .flatten()
        .filter_map(|id| nodes.iter().find(|n| n.id == id).and_then(|n| n.owner))
        .collect()
}

/// Every node of `owners` (and of `also`): a check must not go to any of them.
fn nodes_of(nodes: &[Node], owners: &HashSet<UserId>, also: Option<UserId>) -> Vec<NodeId> {
    nodes
        .iter()
        .filter(|n| {
            n.owner
                .is_some_and(|o| owners.contains(&o) || Some(o) == also)
        })
        .map(|n| n.id)
        .collect()
}

/// Whether an online, claimed, working node of an owner outside `owners` exists.
fn any_checker(nodes: &[Node], owners: &HashSet<UserId>) -> bool {
    nodes.iter().any(|n| {
        n.status == NodeStatus::Online
            && !n.draining
            && n.owner.is_some_and(|o| !owners.contains(&o))
    })
}

#[cfg(test)]
mod tests;
