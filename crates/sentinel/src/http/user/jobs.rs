//! Jobs: submit (validated by the engine first), list, read, result, cancel.
//! A job is visible to its owner, admins, and anyone if public; others get 404 so ids do not
//! leak. Only the owner or an admin may cancel.

use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Deserializer, Serialize};

use super::body::JsonBody;
use super::error::UserError;
use super::report::{ReportView, StoredReport};
use crate::context::ValidationError;
use crate::coordinator::{chunk_wall_limit, CoordinatorError, JobProgress};
use crate::domain::{JobId, JobStatus, UnixMillis};
use crate::engine::chunk_size_for;
use crate::http::auth::{CurrentUser, MaybeUser};
use crate::http::security::quota::admit;
use crate::http::{ApiError, Context};
use crate::jobs::{submit_with_target, Submission, SubmitError};
use crate::lifecycle::Ending;
use crate::sim::report_json;
use crate::store::{Job, User};
use wowlab_sim::target::{wave_chunk_size, FIRST_WAVE};
use wowlab_sim::WavePlan;

/// Largest accepted iteration count.
pub(crate) const MAX_ITERATIONS: u64 = 1 << 40;
/// Most chunks one job may have (the coordinator tracks each one in memory); a chunk size
/// giving more is refused, an automatic one is raised to fit.
pub(crate) const MAX_CHUNKS: u64 = 100_000;

/// A misspelt option (`chunk_size` for `chunkSize`) is refused rather than silently ignored.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct CreateJob {
    profile: String,
    /// Iterations to run; with `targetError`, the maximum unless `maxIterations` is given.
    #[serde(default)]
    iterations: Option<u64>,
    /// Random seed, as a number or decimal text (browsers round integers above 2^53);
    /// absent: a random one.
    #[serde(default, deserialize_with = "number_or_text")]
    #[schema(schema_with = seed_schema)]
    seed: Option<u64>,
    /// Iterations per chunk; absent: chosen from the profile's cost and the live slots.
    #[serde(default, alias = "chunk_size")]
    chunk_size: Option<u64>,
    #[serde(default)]
    public: bool,
    /// Display name; absent or blank: the profile's title.
    #[serde(default)]
    name: Option<String>,
    /// Run in waves until the 95 % CI half-width is at most this percent of the mean DPS.
    #[serde(default)]
    target_error: Option<f64>,
    /// With `targetError`: the most iterations to run.
    #[serde(default)]
    max_iterations: Option<u64>,
}

/// Longest job name, in characters.
pub(crate) const MAX_NAME_CHARS: usize = 100;

/// A job as shown to users.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct JobView {
    id: JobId,
    /// Display name ("" when none was set).
    name: String,
    status: JobStatus,
    iterations: u64,
    seed: u64,
    chunk_size: u64,
    chunk_count: u32,
    config_hash: String,
    public: bool,
    created_at: UnixMillis,
    started_at: Option<UnixMillis>,
    finished_at: Option<UnixMillis>,
    failure_reason: Option<String>,
    /// Live chunk counts while running.
    progress: Option<ProgressView>,
    /// Target-error jobs: the target and how far the waves got.
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<TargetView>,
    /// The job's last review, if a node found wrong had computed some of its chunks (README
    /// "Trusting volunteer results"); absent if it never had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    review: Option<ReviewView>,
}

/// A job's last review: while it is open the job is under review (the chunks of a
/// quarantined node are recomputed on other owners' nodes; a completed job's result is
/// corrected when they are in).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct ReviewView {
    /// Whether the job is under review now.
    under_review: bool,
    /// Chunks recomputed in this review.
    chunks: u32,
    /// Its number (1 for the job's first).
    round: u32,
    /// When it opened.
    started_at: UnixMillis,
    /// When it closed (the result corrected, if the job had completed).
    finished_at: Option<UnixMillis>,
}

impl From<&crate::store::JobReview> for ReviewView {
    fn from(r: &crate::store::JobReview) -> Self {
        Self {
            under_review: r.is_open(),
            chunks: r.chunks.len() as u32,
            round: r.round,
            started_at: r.started_at,
            finished_at: r.finished_at,
        }
    }
}

/// Chunk counts of a running job; `pending + leased + done == chunkCount`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct ProgressView {
    /// Total chunks.
    chunk_count: u32,
    /// Waiting for a node.
    pending: u32,
    /// Leased to a node.
    leased: u32,
    /// Finished.
    done: u32,
    /// Failure reports so far over all chunks (retried ones included).
    failures: u32,
}

impl From<JobProgress> for ProgressView {
    fn from(p: JobProgress) -> Self {
        Self {
            chunk_count: p.chunk_count,
            pending: p.pending,
            leased: p.leased,
            done: p.done,
            failures: p.failures,
        }
    }
}

/// A target-error job's target and wave progress.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct TargetView {
    /// 95 % CI half-width to reach, percent of the mean DPS.
    target_error: f64,
    /// Most iterations the job may run.
    max_iterations: u64,
    /// Waves merged in full.
    waves_done: u32,
    /// Half-width after the last complete wave (of the result once completed), percent.
    half_width_pct: Option<f64>,
}

impl JobView {
    fn new(j: &Job, progress: Option<JobProgress>) -> Self {
        Self {
            id: j.id,
            name: String::new(),
            status: j.status,
            iterations: j.iterations,
            seed: j.seed,
            chunk_size: j.chunk_size,
            chunk_count: j.chunk_count,
            config_hash: j.config_hash.clone(),
            public: j.public,
            created_at: j.created_at,
            started_at: j.started_at,
            finished_at: j.finished_at,
            failure_reason: j.failure_reason.clone(),
            progress: progress.map(ProgressView::from),
            target: None,
            review: None,
        }
    }

    /// Adds the job's last review, if it had one.
    async fn reviewed(mut self, state: &Context) -> Result<Self, ApiError> {
        self.review = state
            .store()
            .job_reviews(self.id)
            .await?
            .last()
            .map(ReviewView::from);
        Ok(self)
    }

    /// Adds a target-error job's target (none for a fixed-size job).
    async fn targeted(mut self, state: &Context, j: &Job) -> Result<Self, ApiError> {
        let Some(t) = state.store().job_target(j.id).await? else {
            return Ok(self);
        };
        let finished = j.status == JobStatus::Completed;
        let from_result = j
            .result
            .as_deref()
            .filter(|_| finished)
            .and_then(report_json)
            .and_then(|r| Some((r["mean_dps"].as_f64()?, r["ci95_half_width"].as_f64()?)))
            .map(|(mean, ci)| wowlab_sim::target::half_width_pct(mean, ci));
        self.target = Some(TargetView {
            target_error: t.target_error,
            max_iterations: t.max_iterations,
            waves_done: if finished { t.waves } else { t.waves - 1 },
            half_width_pct: from_result.or(t.half_width_pct).filter(|h| h.is_finite()),
        });
        Ok(self)
    }

    fn named(mut self, name: Option<String>) -> Self {
        self.name = name.unwrap_or_default();
        self
    }
}

/// A job name as given: trimmed, 1 to [`MAX_NAME_CHARS`] characters, no control characters.
fn checked_name(name: &str) -> Result<String, UserError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(UserError::field(
            "name",
            format!("name must be 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(UserError::field(
            "name",
            "name must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

/// The title a profile gives itself (its top-level `name`), if it has a usable one.
fn profile_title(profile: &str) -> Option<String> {
    let title = wowlab_sim::parse_profile(profile).ok()?.name;
    checked_name(&title).ok()
}

/// The job if `user` (or an anonymous visitor) may read it: its owner, an admin, or anyone
/// when it is public. Others get 404, so private ids do not leak.
pub(super) async fn readable(
    state: &Context,
    user: Option<&User>,
    id: &str,
) -> Result<Job, ApiError> {
    let id: JobId = id.parse().map_err(|_| ApiError::NotFound("no such job"))?;
    match state.store().job(id).await? {
        Some(j) if j.public || user.is_some_and(|u| j.owner == u.id || u.is_admin) => Ok(j),
        _ => Err(ApiError::NotFound("no such job")),
    }
}

async fn progress(state: &Context, j: &Job) -> Result<Option<JobProgress>, ApiError> {
    if j.status != JobStatus::Running {
        return Ok(None);
    }
    match state.coordinator().job_progress(j.id).await {
        Ok(p) => Ok(Some(p)),
        Err(CoordinatorError::UnknownJob(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(
    post,
    path = "/api/jobs",
    tag = "jobs",
    summary = "Submit a job",
    security(("session" = []), ("apiToken" = [])),
    request_body = CreateJob,
    responses(
        (status = 201, description = "The job, scheduled", body = JobView),
        (status = 400, description = "Bad input (`field` names the offending field)"),
        (status = 401, description = "Sign-in required (or the API token expired)")
    )
)]
pub(super) async fn create(
    State(state): State<Context>,
    CurrentUser(user): CurrentUser,
    JsonBody(body): JsonBody<CreateJob>,
) -> Result<(StatusCode, Json<JobView>), UserError> {
    if body.profile.trim().is_empty() {
        return Err(UserError::field("profile", "profile is empty"));
    }
    let target = checked_target(&body)?;
    let iterations = match (&target, body.iterations) {
        (Some(plan), _) => plan.max_iterations(),
        (None, Some(n)) => n,
        (None, None) => {
            return Err(UserError::field(
                "iterations",
                "iterations is required (or targetError with maxIterations)",
            ))
        }
    };
    if iterations == 0 || iterations > MAX_ITERATIONS {
        return Err(UserError::field(
            if target.is_some() {
                "maxIterations"
            } else {
                "iterations"
            },
            format!("iterations must be from 1 to {MAX_ITERATIONS}"),
        ));
    }
    let given_name = body
        .name
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .map(checked_name)
        .transpose()?;
    let chosen = match (&target, body.chunk_size) {
        (Some(_), Some(c)) => Some(checked_wave_chunk_size(c, iterations)?),
        (None, Some(c)) => Some(checked_chunk_size(c, iterations)?),
        (_, None) => None,
    };
    // Before the engine's validation: an over-quota user costs no profile compilation.
    admit(&state, user.id, iterations).await?;
    let validated = state
        .validate_profile(body.profile.clone())
        .await
        .map_err(|e| match e {
            ValidationError::Invalid(m) => {
                UserError::field("profile", format!("invalid profile: {m}"))
            }
            other => UserError::field("profile", other.to_string()),
        })?;
    let chunk_size = match chosen {
        Some(c) => c,
        // Sized to spread the first wave; a power of two so chunks fall on wave boundaries.
        None if target.is_some() => wave_chunk_size(
            chunk_size_for(
                validated.iteration_cost_ns,
                FIRST_WAVE.min(iterations),
                live_slots(&state).await?,
            )
            .max(iterations.div_ceil(MAX_CHUNKS)),
        ),
        None => chunk_size_for(
            validated.iteration_cost_ns,
            iterations,
            live_slots(&state).await?,
        )
        .max(iterations.div_ceil(MAX_CHUNKS)),
    };
    let seed = match body.seed {
        Some(s) => s,
        None => {
            let mut raw = [0u8; 8];
            getrandom::fill(&mut raw).map_err(|e| ApiError::Internal(e.to_string()))?;
            u64::from_le_bytes(raw)
        }
    };
    let name = given_name.or_else(|| profile_title(&body.profile));
    let job = submit_with_target(
        state.store(),
        state.coordinator(),
        Submission {
            owner: user.id,
            config: body.profile,
            config_hash: validated.content_hash,
            iterations,
            seed,
            chunk_size,
            public: body.public,
            chunk_wall_limit_ms: chunk_wall_limit(
                validated.iteration_cost_ns.saturating_mul(chunk_size),
            )
            .as_millis() as u64,
        },
        target,
        state.config().max_attempts,
        state.clock().now(),
    )
    .await
    .map_err(|e| match e {
        SubmitError::Invalid(m) => UserError::from(ApiError::BadRequest(m)),
        SubmitError::Store(s) => s.into(),
        SubmitError::Coordinator(c) => c.into(),
    })?;
    if let Some(n) = &name {
        state.store().set_job_name(job.id, user.id, n).await?;
    }
    let p = progress(&state, &job).await?;
    let view = JobView::new(&job, p)
        .named(name)
        .targeted(&state, &job)
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// The wave plan of a submission giving `targetError` (with `maxIterations`, or `iterations`
/// as the maximum); `None` without one.
fn checked_target(body: &CreateJob) -> Result<Option<WavePlan>, UserError> {
    let Some(t) = body.target_error else {
        if body.max_iterations.is_some() {
            return Err(UserError::field(
                "maxIterations",
                "maxIterations goes with targetError; give iterations for a fixed-size job",
            ));
        }
        return Ok(None);
    };
    if !(t.is_finite() && t > 0.0 && t <= 100.0) {
        return Err(UserError::field(
            "targetError",
            "targetError must be a percentage above 0 and at most 100 (e.g. 0.05)",
        ));
    }
    let max = match (body.max_iterations, body.iterations) {
        (Some(m), Some(n)) if m != n => {
            return Err(UserError::field(
                "maxIterations",
                "give maxIterations or iterations with targetError, not both",
            ))
        }
        (Some(m), _) | (None, Some(m)) => m,
        (None, None) => {
            return Err(UserError::field(
                "maxIterations",
                "maxIterations is required with targetError",
            ))
        }
    };
    if max == 0 || max > MAX_ITERATIONS {
        return Err(UserError::field(
            "maxIterations",
            format!("maxIterations must be from 1 to {MAX_ITERATIONS}"),
        ));
    }
    WavePlan::new(t, max)
        .map(Some)
        .map_err(|e| UserError::field("targetError", e.to_string()))
}

/// A chunk size a target-error job's user chose: a power of two up to the first wave (so
/// every wave ends on a chunk boundary) giving at most [`MAX_CHUNKS`].
fn checked_wave_chunk_size(chunk_size: u64, iterations: u64) -> Result<u64, UserError> {
    if !chunk_size.is_power_of_two() || chunk_size > FIRST_WAVE {
        return Err(UserError::field(
            "chunkSize",
            format!("with targetError, chunkSize must be a power of two up to {FIRST_WAVE}"),
        ));
    }
    if iterations.div_ceil(chunk_size) > MAX_CHUNKS {
        return Err(UserError::field(
            "chunkSize",
            format!("chunkSize {chunk_size} gives more than {MAX_CHUNKS} chunks; raise it"),
        ));
    }
    Ok(chunk_size)
}

/// A chunk size the user chose: at least 1 and giving at most [`MAX_CHUNKS`]; one larger than
/// the iterations means a single chunk (as in `wowlab sim`).
/// Worker slots of the claimed, non-draining nodes that heartbeated within one lease TTL (at
/// least 1): what a new job's default chunking spreads over.
async fn live_slots(state: &Context) -> Result<u32, UserError> {
    let since = state
        .clock()
        .now()
        .0
        .saturating_sub(state.config().lease_ttl.as_millis() as u64);
    let slots: u64 = state
        .store()
        .list_nodes(None)
        .await?
        .iter()
        .filter(|n| n.owner.is_some() && !n.draining)
        .filter(|n| n.last_seen_at.is_some_and(|t| t.0 >= since))
        .map(|n| u64::from(n.capacity()))
        .sum();
    Ok(u32::try_from(slots).unwrap_or(u32::MAX).max(1))
}

fn checked_chunk_size(chunk_size: u64, iterations: u64) -> Result<u64, UserError> {
    if chunk_size == 0 {
        return Err(UserError::field(
            "chunkSize",
            "chunkSize must be at least 1",
        ));
    }
    let chunk_size = chunk_size.min(iterations);
    let chunks = iterations.div_ceil(chunk_size);
    if chunks > MAX_CHUNKS {
        return Err(UserError::field(
            "chunkSize",
            format!(
                "chunkSize {chunk_size} gives {chunks} chunks; at most {MAX_CHUNKS} are allowed, \
                 so use at least {}",
                iterations.div_ceil(MAX_CHUNKS)
            ),
        ));
    }
    Ok(chunk_size)
}

/// The documented form of [`number_or_text`]: a whole number, decimal text, or null.
fn seed_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("decimal digits")),
        )
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .build()
        .into()
}

/// An optional `u64` sent as a JSON number or as decimal text (browsers round integers above
/// 2^53, so the studio sends large seeds as text).
fn number_or_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "a whole number from 0 to {}", u64::MAX)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            u64::try_from(v)
                .map(Some)
                .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            let t = v.trim();
            if t.is_empty() {
                return Ok(None);
            }
            // Digits only: `parse` would also take a leading `+`.
            if !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(E::invalid_value(serde::de::Unexpected::Str(v), &self));
            }
            t.parse()
                .map(Some)
                .map_err(|_| E::invalid_value(serde::de::Unexpected::Str(v), &self))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

#[utoipa::path(
    get,
    path = "/api/jobs",
    tag = "jobs",
    summary = "The caller's latest jobs (100)",
    security(("session" = []), ("apiToken" = [])),
    responses(
        (status = 200, description = "The jobs, newest first", body = [JobView]),
        (status = 401, description = "Sign-in required (or the API token expired)")
    )
)]
pub(super) async fn list(
    State(state): State<Context>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Vec<JobView>>, ApiError> {
    let jobs = state.store().list_jobs(user.id, 100).await?;
    let mut names: std::collections::HashMap<JobId, String> = state
        .store()
        .job_names(user.id)
        .await?
        .into_iter()
        .collect();
    let mut out = Vec::with_capacity(jobs.len());
    for j in &jobs {
        let view = JobView::new(j, progress(&state, j).await?).named(names.remove(&j.id));
        out.push(view.targeted(&state, j).await?);
    }
    Ok(Json(out))
}

#[utoipa::path(
    get,
    path = "/api/jobs/{id}",
    tag = "jobs",
    summary = "A job (its owner, an admin, or anyone when public)",
    security((), ("session" = []), ("apiToken" = [])),
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 404, description = "No such job (or not visible to the caller)")
    )
)]
pub(super) async fn get(
    State(state): State<Context>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let j = readable(&state, user.as_ref(), &id).await?;
    let p = progress(&state, &j).await?;
    let name = state.store().job_name(j.id).await?;
    Ok(Json(
        JobView::new(&j, p)
            .named(name)
            .targeted(&state, &j)
            .await?
            .reviewed(&state)
            .await?,
    ))
}

/// Body of `PATCH /api/jobs/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct UpdateJob {
    name: String,
}

/// `PATCH /api/jobs/{id}`: renames the caller's job; 404 for anyone but the owner.
#[utoipa::path(
    patch,
    path = "/api/jobs/{id}",
    tag = "jobs",
    summary = "Rename a job",
    security(("session" = []), ("apiToken" = [])),
    params(("id" = String, Path, description = "Job id")),
    request_body = UpdateJob,
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 400, description = "Bad input (`field` names the offending field)"),
        (status = 401, description = "Sign-in required (or the API token expired)"),
        (status = 404, description = "No such job (or not visible to the caller)")
    )
)]
pub(super) async fn update(
    State(state): State<Context>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateJob>,
) -> Result<Json<JobView>, UserError> {
    let id: JobId = id.parse().map_err(|_| ApiError::NotFound("no such job"))?;
    let name = checked_name(&body.name)?;
    if !state.store().set_job_name(id, user.id, &name).await? {
        return Err(ApiError::NotFound("no such job").into());
    }
    let j = state
        .store()
        .job(id)
        .await?
        .ok_or(ApiError::NotFound("no such job"))?;
    let p = progress(&state, &j).await?;
    Ok(Json(
        JobView::new(&j, p)
            .named(Some(name))
            .targeted(&state, &j)
            .await?,
    ))
}

/// `DELETE /api/jobs/{id}`: deletes the caller's finished job with its results; 404 for
/// anyone but the owner, 409 while it is still pending or running (cancel it first).
#[utoipa::path(
    delete,
    path = "/api/jobs/{id}",
    tag = "jobs",
    summary = "Delete a finished job and its results",
    security(("session" = []), ("apiToken" = [])),
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Sign-in required (or the API token expired)"),
        (status = 404, description = "No such job (or not visible to the caller)"),
        (status = 409, description = "Still pending or running; cancel it first")
    )
)]
pub(super) async fn delete(
    State(state): State<Context>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: JobId = id.parse().map_err(|_| ApiError::NotFound("no such job"))?;
    let j = match state.store().job(id).await? {
        Some(j) if j.owner == user.id => j,
        _ => return Err(ApiError::NotFound("no such job")),
    };
    if !j.status.is_terminal() {
        return Err(ApiError::Conflict(
            "the job is still running; cancel it before deleting it",
        ));
    }
    // Conditional on the status again, so a job cannot be deleted while it (re)starts.
    if state.store().delete_finished_job(id, user.id).await? {
        // A completed job under review is scheduled again for its recomputed chunks: gone
        // with it (unknown otherwise, which is fine).
        if let Err(e) = state.coordinator().cancel_job(id).await {
            if !matches!(e, crate::coordinator::CoordinatorError::UnknownJob(_)) {
                tracing::warn!(job = %id, error = %e, "deleted job not unscheduled");
            }
        }
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("no such job"))
    }
}

/// `GET /api/jobs/{id}/profile`: the profile the job ran, as submitted, for whoever may read
/// the job.
#[utoipa::path(
    get,
    path = "/api/jobs/{id}/profile",
    tag = "jobs",
    summary = "The profile the job ran, as submitted",
    security((), ("session" = []), ("apiToken" = [])),
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "Profile source (TOML or JSON)", content_type = "text/plain", body = String),
        (status = 404, description = "No such job (or not visible to the caller)")
    )
)]
pub(super) async fn profile(
    State(state): State<Context>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let j = readable(&state, user.as_ref(), &id).await?;
    let text = state
        .store()
        .config(&j.config_hash)
        .await?
        .ok_or(ApiError::NotFound("the job's profile is no longer stored"))?;
    Ok(([(CONTENT_TYPE, "text/plain; charset=utf-8")], text))
}

/// `GET /api/jobs/{id}/result`: the final report as JSON (the sim's aggregate summarized).
#[utoipa::path(
    get,
    path = "/api/jobs/{id}/result",
    tag = "jobs",
    summary = "The final report of a completed job",
    security((), ("session" = []), ("apiToken" = [])),
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The sim's report (a workload storing JSON results gets them as stored)", body = ReportView),
        (status = 404, description = "No such job, or no result (yet)")
    )
)]
pub(super) async fn result(
    State(state): State<Context>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
) -> Result<Json<StoredReport>, ApiError> {
    let bytes = completed_result(&state, user.as_ref(), &id).await?;
    StoredReport::of(&bytes)
        .map(Json)
        .ok_or_else(|| ApiError::Internal("the stored result is unreadable".into()))
}

/// `GET /api/jobs/{id}/aggregate`: the exact stored result bytes (the sim's binary aggregate,
/// which `wowlab run --sentinel` decodes), for clients that merge or re-report it themselves.
#[utoipa::path(
    get,
    path = "/api/jobs/{id}/aggregate",
    tag = "jobs",
    summary = "The exact stored result bytes (the sim's binary aggregate)",
    security((), ("session" = []), ("apiToken" = [])),
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The stored result", content_type = "application/octet-stream", body = crate::http::openapi::Binary),
        (status = 404, description = "No such job, or no result (yet)")
    )
)]
pub(super) async fn aggregate(
    State(state): State<Context>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let bytes = completed_result(&state, user.as_ref(), &id).await?;
    // Workloads store JSON or a binary encoding (the sim's); say which.
    let kind = if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok() {
        "application/json"
    } else {
        "application/octet-stream"
    };
    Ok(([(CONTENT_TYPE, kind)], bytes))
}

/// The stored result of a completed job `user` may read.
async fn completed_result(
    state: &Context,
    user: Option<&User>,
    id: &str,
) -> Result<Vec<u8>, ApiError> {
    let j = readable(state, user, id).await?;
    match (j.status, j.result) {
        (JobStatus::Completed, Some(bytes)) => Ok(bytes),
        _ => Err(ApiError::NotFound("the job has no result (yet)")),
    }
}

/// Body of `POST /api/jobs/{id}/visibility`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct SetVisibility {
    public: bool,
}

/// Makes the caller's job public (read-only for everyone signed in) or private again; 404 for
/// anyone but the owner, so ids do not leak.
#[utoipa::path(
    post,
    path = "/api/jobs/{id}/visibility",
    tag = "jobs",
    summary = "Make a job public or private",
    security(("session" = []), ("apiToken" = [])),
    params(("id" = String, Path, description = "Job id")),
    request_body = SetVisibility,
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 400, description = "Bad input (`field` names the offending field)"),
        (status = 401, description = "Sign-in required (or the API token expired)"),
        (status = 404, description = "No such job (or not visible to the caller)")
    )
)]
pub(super) async fn visibility(
    State(state): State<Context>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<SetVisibility>,
) -> Result<Json<JobView>, UserError> {
    let id: JobId = id.parse().map_err(|_| ApiError::NotFound("no such job"))?;
    let j = state
        .store()
        .set_job_public(id, user.id, body.public)
        .await?
        .ok_or(ApiError::NotFound("no such job"))?;
    let p = progress(&state, &j).await?;
    Ok(Json(JobView::new(&j, p)))
}

#[utoipa::path(
    post,
    path = "/api/jobs/{id}/cancel",
    tag = "jobs",
    summary = "Cancel a job (its owner or an admin)",
    security(("session" = []), ("apiToken" = [])),
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job, cancelled", body = JobView),
        (status = 401, description = "Sign-in required (or the API token expired)"),
        (status = 403, description = "Only the owner (or an admin) can cancel"),
        (status = 404, description = "No such job (or not visible to the caller)"),
        (status = 409, description = "The job has already finished")
    )
)]
pub(super) async fn cancel(
    State(state): State<Context>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let j = readable(&state, Some(&user), &id).await?;
    if j.owner != user.id && !user.is_admin {
        return Err(ApiError::Forbidden("only the owner can cancel a job"));
    }
    let cancelled = state
        .lifecycle()
        .end(
            j.id,
            // Who, by role: the reason is shown on the job's page, which may be public.
            Ending::Cancelled {
                by: if j.owner == user.id {
                    "its owner".into()
                } else {
                    "an admin".into()
                },
            },
            Vec::new(),
            None,
        )
        .await?;
    Ok(Json(JobView::new(&cancelled, None)))
}
