//! The final report of a job as the user API shows it: the sim's [`Report`] with camelCase
//! field names (the API's one convention; `wowlab sim --json` keeps the sim's own names).

use serde::Serialize;
use wowlab_sim::{ChunkResult, Report};

/// A job's report.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReportView {
    /// Iterations aggregated.
    iterations: u64,
    /// Mean of per-iteration DPS.
    mean_dps: f64,
    /// Sample standard deviation of per-iteration DPS.
    stddev: f64,
    /// Half-width of the 95 % confidence interval of the mean.
    ci95_half_width: f64,
    /// Lowest iteration DPS.
    min_dps: f64,
    /// Highest iteration DPS.
    max_dps: f64,
    /// Mean fight length in seconds.
    mean_fight_secs: f64,
    /// Mean events per iteration.
    events_per_iteration: f64,
    /// Percentiles of per-iteration DPS.
    percentiles: Vec<PercentileView>,
    /// Per-ability breakdown, largest damage first.
    abilities: Vec<AbilityView>,
    /// DPS distribution in about 32 display bins between min and max; each count is exact.
    distribution: Vec<BinView>,
}

/// One display bin of the DPS distribution.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct BinView {
    /// Lowest DPS of the bin.
    low: f64,
    /// One past the highest DPS of the bin.
    high: f64,
    /// Iterations in it.
    count: u64,
}

/// One percentile of per-iteration DPS.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PercentileView {
    /// Percent rank.
    p: f64,
    /// DPS at that rank.
    dps: f64,
}

/// One ability's share.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AbilityView {
    /// Name.
    name: String,
    /// Damage per second of fight time.
    dps: f64,
    /// Percent of all damage.
    share_pct: f64,
    /// Average casts per iteration.
    casts_per_fight: f64,
    /// Average damage events per iteration.
    hits_per_fight: f64,
    /// Percent of damage events that crit.
    crit_pct: f64,
    /// Average damage per damage event.
    avg_hit: f64,
}

/// What `GET /api/jobs/{id}/result` answers: the sim's report, or a JSON result of another
/// workload as it was stored.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum StoredReport {
    /// The sim's binary aggregate, summarized.
    Sim(ReportView),
    /// A workload whose results are JSON.
    Json(serde_json::Value),
}

impl StoredReport {
    /// The report of stored result bytes; `None` if they are neither.
    pub(crate) fn of(bytes: &[u8]) -> Option<Self> {
        if let Ok(v) = serde_json::from_slice(bytes) {
            return Some(Self::Json(v));
        }
        let merged = ChunkResult::decode(bytes).ok()?;
        Some(Self::Sim(ReportView::from(merged.report())))
    }
}

impl From<Report> for ReportView {
    fn from(r: Report) -> Self {
        Self {
            iterations: r.iterations,
            mean_dps: r.mean_dps,
            stddev: r.stddev,
            ci95_half_width: r.ci95_half_width,
            min_dps: r.min_dps,
            max_dps: r.max_dps,
            mean_fight_secs: r.mean_fight_secs,
            events_per_iteration: r.events_per_iteration,
            percentiles: r
                .percentiles
                .into_iter()
                .map(|p| PercentileView { p: p.p, dps: p.dps })
                .collect(),
            abilities: r
                .abilities
                .into_iter()
                .map(|a| AbilityView {
                    name: a.name,
                    dps: a.dps,
                    share_pct: a.share_pct,
                    casts_per_fight: a.casts_per_fight,
                    hits_per_fight: a.hits_per_fight,
                    crit_pct: a.crit_pct,
                    avg_hit: a.avg_hit,
                })
                .collect(),
            distribution: r
                .distribution
                .into_iter()
                .map(|b| BinView {
                    low: b.low,
                    high: b.high,
                    count: b.count,
                })
                .collect(),
        }
    }
}
