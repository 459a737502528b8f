//! Records of reviews (`job_reviews`, `job_review_chunks`): a quarantined node's results are
//! recomputed elsewhere and a completed job's result corrected. The logic that writes them is
//! [`crate::verify`] and [`crate::lifecycle`].

use serde::Serialize;

use super::checks::node_id;
use super::rows::DbRow;
use super::StoreError;
use crate::domain::{ChunkIndex, JobId, JobStatus, NodeId, UnixMillis};

/// One chunk of a review: who computed it before (and the hash of that result), and who
/// recomputed it (once done).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewChunk {
    /// The chunk.
    #[schema(value_type = u32)]
    pub chunk: ChunkIndex,
    /// The node whose stored result was in doubt.
    #[schema(value_type = Option<String>)]
    pub old_node: Option<NodeId>,
    /// Hex SHA-256 of that result.
    pub old_hash: String,
    /// The node that recomputed it.
    #[schema(value_type = Option<String>)]
    pub new_node: Option<NodeId>,
    /// Hex SHA-256 of the recomputed result.
    pub new_hash: Option<String>,
}

/// One review round of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobReview {
    /// The job.
    #[schema(value_type = String)]
    pub job: JobId,
    /// 1 for the job's first review, and so on.
    pub round: u32,
    /// The quarantined node that opened it.
    #[schema(value_type = String)]
    pub node: NodeId,
    /// The job's status when it opened: `completed` (its result is corrected) or `running`.
    #[schema(value_type = String)]
    pub job_status: JobStatus,
    /// Hex SHA-256 of the job's stored result when the round opened (completed jobs).
    pub old_result_hash: Option<String>,
    /// Hex SHA-256 of the corrected result.
    pub new_result_hash: Option<String>,
    /// How it closed without a correction (the job failed or was cancelled meanwhile).
    pub note: Option<String>,
    /// When it opened.
    #[schema(value_type = u64)]
    pub started_at: UnixMillis,
    /// When it closed; `None` while the job is under review.
    #[schema(value_type = Option<u64>)]
    pub finished_at: Option<UnixMillis>,
    /// The chunks recomputed, by index.
    pub chunks: Vec<ReviewChunk>,
}

impl JobReview {
    /// Whether the job is under review (the round is open).
    pub fn is_open(&self) -> bool {
        self.finished_at.is_none()
    }
}

/// A recomputed chunk's new origin, written when a round closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewedChunk {
    /// The chunk.
    pub chunk: ChunkIndex,
    /// The node that recomputed it.
    pub node: Option<NodeId>,
    /// Hex SHA-256 of its new result.
    pub hash: String,
}

/// How a round closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewClose {
    /// The corrected job result to store (completed jobs), with its hex SHA-256.
    pub result: Option<(Vec<u8>, String)>,
    /// Each recomputed chunk's origin.
    pub chunks: Vec<ReviewedChunk>,
    /// Why it closed without a correction.
    pub note: Option<String>,
}

fn parse_status(s: &str) -> Result<JobStatus, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("job status {s:?}")))
}

/// Decodes a `job_reviews` row (its chunks are added by the caller).
pub(super) fn job_review(row: &impl DbRow) -> Result<JobReview, StoreError> {
    let job = row.id_text("job_id")?;
    Ok(JobReview {
        job: job
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("job id {job:?}")))?,
        round: u32::try_from(row.i64("round")?)
            .map_err(|_| StoreError::Corrupt("review round".into()))?,
        node: node_id(&row.text("node_id")?)?,
        job_status: parse_status(&row.text("job_status")?)?,
        old_result_hash: row.opt_text("old_result_hash")?,
        new_result_hash: row.opt_text("new_result_hash")?,
        note: row.opt_text("note")?,
        started_at: UnixMillis(row.i64("started_at")? as u64),
        finished_at: row.opt_i64("finished_at")?.map(|v| UnixMillis(v as u64)),
        chunks: Vec::new(),
    })
}

/// Decodes a `job_review_chunks` row into its job, round and chunk.
pub(super) fn review_chunk(row: &impl DbRow) -> Result<(JobId, u32, ReviewChunk), StoreError> {
    let job = row.id_text("job_id")?;
    let opt_node = |col: &str| -> Result<Option<NodeId>, StoreError> {
        row.opt_text(col)?.as_deref().map(node_id).transpose()
    };
    Ok((
        job.parse()
            .map_err(|_| StoreError::Corrupt(format!("job id {job:?}")))?,
        u32::try_from(row.i64("round")?).map_err(|_| StoreError::Corrupt("review round".into()))?,
        ReviewChunk {
            chunk: ChunkIndex(
                u32::try_from(row.i64("chunk_index")?)
                    .map_err(|_| StoreError::Corrupt("chunk index".into()))?,
            ),
            old_node: opt_node("old_node")?,
            old_hash: row.text("old_hash")?,
            new_node: opt_node("new_node")?,
            new_hash: row.opt_text("new_hash")?,
        },
    ))
}

/// Attaches chunk rows to their reviews.
pub(super) fn attach(
    mut reviews: Vec<JobReview>,
    chunks: Vec<(JobId, u32, ReviewChunk)>,
) -> Vec<JobReview> {
    for (job, round, c) in chunks {
        if let Some(r) = reviews
            .iter_mut()
            .find(|r| r.job == job && r.round == round)
        {
            r.chunks.push(c);
        }
    }
    for r in &mut reviews {
        r.chunks.sort_by_key(|c| c.chunk);
    }
    reviews
}
