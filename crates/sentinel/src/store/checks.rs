//! Records of spot checks (`chunk_checks`) and per-node reputation (`node_trust`); the logic
//! that writes them is [`crate::verify`].

use serde::{Deserialize, Serialize};

use super::rows::DbRow;
use super::StoreError;
use crate::domain::{ChunkIndex, JobId, NodeId, UnixMillis};

/// Start of a `chunk_checks` insert, up to `VALUES` (both stores; 13 values per row).
pub(super) const CHECK_INSERT: &str = "INSERT INTO chunk_checks (job_id, chunk_index, verdict, \
     first_node, first_hash, first_result, second_node, second_hash, third_node, third_hash, \
     note, created_at, settled_at) VALUES ";
/// End of a `chunk_checks` insert: a stored check of the same chunk is replaced.
pub(super) const CHECK_UPSERT: &str = " ON CONFLICT (job_id, chunk_index) DO UPDATE SET \
     verdict = excluded.verdict, first_node = excluded.first_node, \
     first_hash = excluded.first_hash, first_result = excluded.first_result, \
     second_node = excluded.second_node, second_hash = excluded.second_hash, \
     third_node = excluded.third_node, third_hash = excluded.third_hash, note = excluded.note, \
     settled_at = excluded.settled_at";

/// Where a spot check stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckVerdict {
    /// Waiting for the second (or, after a mismatch, the third) result.
    Pending,
    /// The second result had the same bytes.
    Confirmed,
    /// The third result sided with the second: the first node was wrong.
    FirstWrong,
    /// The third result sided with the first: the second node was wrong.
    SecondWrong,
    /// No node of another owner could check it (see the note); the result was taken as is.
    Skipped,
}

impl CheckVerdict {
    /// Stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Confirmed => "confirmed",
            Self::FirstWrong => "first_wrong",
            Self::SecondWrong => "second_wrong",
            Self::Skipped => "skipped",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "pending" => Self::Pending,
            "confirmed" => Self::Confirmed,
            "first_wrong" => Self::FirstWrong,
            "second_wrong" => Self::SecondWrong,
            "skipped" => Self::Skipped,
            other => return Err(StoreError::Corrupt(format!("check verdict {other:?}"))),
        })
    }
}

/// One node's run of a checked chunk: who, and the SHA-256 (hex) of the result bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRun {
    /// The node.
    pub node: NodeId,
    /// Hex SHA-256 of its result bytes.
    pub hash: String,
}

/// The spot check of one chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkCheck {
    /// Job.
    pub job: JobId,
    /// Chunk.
    pub chunk: ChunkIndex,
    /// Where it stands.
    pub verdict: CheckVerdict,
    /// The result that was sampled.
    pub first: CheckRun,
    /// Its bytes, held back from the job until the check agrees with them.
    pub first_result: Vec<u8>,
    /// The checking run (another owner's node).
    pub second: Option<CheckRun>,
    /// The deciding run after a mismatch (a third owner's node).
    pub third: Option<CheckRun>,
    /// Why it was skipped, or what else happened.
    pub note: Option<String>,
    /// When the first result arrived.
    pub created_at: UnixMillis,
    /// When the verdict was reached.
    pub settled_at: Option<UnixMillis>,
}

/// A job's spot checks by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckCounts {
    /// Chunks whose result a second owner's node recomputed (settled either way).
    pub cross_checked: u32,
    /// Checks still waiting for a run.
    pub pending: u32,
    /// Of the settled ones, how many found a wrong result.
    pub mismatches: u32,
    /// Sampled chunks no other owner's node could check.
    pub skipped: u32,
}

/// A node's spot-check record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeTrust {
    /// Its results that went through a spot check.
    pub checked: u32,
    /// Of those, the ones the verdict agreed with.
    pub confirmed: u32,
    /// The ones found wrong.
    pub failed: u32,
    /// When a spot check found it wrong and it was quarantined (no work until released).
    pub quarantined_at: Option<UnixMillis>,
}

pub(super) fn node_id(s: &str) -> Result<NodeId, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("node id {s:?}")))
}

fn run(row: &impl DbRow, node: &str, hash: &str) -> Result<Option<CheckRun>, StoreError> {
    match (row.opt_text(node)?, row.opt_text(hash)?) {
        (Some(n), Some(h)) => Ok(Some(CheckRun {
            node: node_id(&n)?,
            hash: h,
        })),
        _ => Ok(None),
    }
}

fn u32_of(col: &str, v: i64) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("column {col}: {v}")))
}

/// Decodes a `chunk_checks` row.
pub(super) fn chunk_check(row: &impl DbRow) -> Result<ChunkCheck, StoreError> {
    let job = row.id_text("job_id")?;
    Ok(ChunkCheck {
        job: job
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("job id {job:?}")))?,
        chunk: ChunkIndex(u32_of("chunk_index", row.i64("chunk_index")?)?),
        verdict: CheckVerdict::parse(&row.text("verdict")?)?,
        first: CheckRun {
            node: node_id(&row.text("first_node")?)?,
            hash: row.text("first_hash")?,
        },
        first_result: row.opt_bytes("first_result")?.unwrap_or_default(),
        second: run(row, "second_node", "second_hash")?,
        third: run(row, "third_node", "third_hash")?,
        note: row.opt_text("note")?,
        created_at: UnixMillis(row.i64("created_at")? as u64),
        settled_at: row.opt_i64("settled_at")?.map(|v| UnixMillis(v as u64)),
    })
}

/// Decodes a `node_trust` row into its node and counters.
pub(super) fn node_trust(row: &impl DbRow) -> Result<(NodeId, NodeTrust), StoreError> {
    Ok((
        node_id(&row.text("node_id")?)?,
        NodeTrust {
            checked: u32_of("checked", row.i64("checked")?)?,
            confirmed: u32_of("confirmed", row.i64("confirmed")?)?,
            failed: u32_of("failed", row.i64("failed")?)?,
            quarantined_at: row.opt_i64("quarantined_at")?.map(|v| UnixMillis(v as u64)),
        },
    ))
}

/// Counts from `(verdict, count)` rows.
pub(super) fn counts(rows: Vec<(String, i64)>) -> Result<CheckCounts, StoreError> {
    let mut c = CheckCounts::default();
    for (verdict, n) in rows {
        let n = u32_of("count", n)?;
        match CheckVerdict::parse(&verdict)? {
            CheckVerdict::Pending => c.pending += n,
            CheckVerdict::Skipped => c.skipped += n,
            CheckVerdict::Confirmed => c.cross_checked += n,
            CheckVerdict::FirstWrong | CheckVerdict::SecondWrong => {
                c.cross_checked += n;
                c.mismatches += n;
            }
        }
    }
    Ok(c)
}
