//! The report of a finished simulation as printed by `wowlab sim` and `wowlab run` (shared so
//! a grid run prints byte-for-byte what a local run prints).

use std::fmt::Write as _;

use wowlab_sim::numbers::{dps as num, grouped, int};
use wowlab_sim::{ChunkResult, CompiledProfile};

/// The text printed on stdout for a finished run: the report table, or with `json` the report
/// and the raw mergeable result as JSON. Depends only on the profile, the seed and the result.
pub fn render(
    profile: &CompiledProfile,
    seed: u64,
    json: bool,
    result: &ChunkResult,
) -> anyhow::Result<String> {
    let report = result.report();
    if json {
        let doc = serde_json::json!({
            "profile": profile.name(),
            "profile_hash": profile.hash(),
            "seed": seed,
            "report": report,
            "result": result,
        });
        return Ok(serde_json::to_string_pretty(&doc)? + "\n");
    }
    let mut out = String::new();
    let name = if profile.name().is_empty() {
        "(unnamed)"
    } else {
        profile.name()
    };
    writeln!(out, "Profile     {name}  [{}]", &profile.hash()[..12])?;
    writeln!(
        out,
        "Iterations  {}  (seed {}, mean fight {} s, {} events/iteration)",
        int(report.iterations),
        seed,
        grouped(report.mean_fight_secs, 1),
        grouped(report.events_per_iteration, 0)
    )?;
    writeln!(out)?;
    writeln!(out, "DPS         {:>12}", num(report.mean_dps))?;
    writeln!(
        out,
        "95% CI      {:>12}  (±{:.3} %)",
        format!("± {}", num(report.ci95_half_width)),
        100.0 * report.ci95_half_width / report.mean_dps.max(1e-9)
    )?;
    writeln!(out, "stddev      {:>12}", num(report.stddev))?;
    writeln!(out, "min         {:>12}", num(report.min_dps))?;
    writeln!(out, "max         {:>12}", num(report.max_dps))?;
    for p in &report.percentiles {
        writeln!(out, "{:<11} {:>12}", format!("p{}", p.p), num(p.dps))?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:<28} {:>11} {:>7} {:>9} {:>9} {:>7} {:>11}",
        "ability", "dps", "share", "casts", "hits", "crit", "avg hit"
    )?;
    for a in &report.abilities {
        writeln!(
            out,
            "{:<28} {:>11} {:>6}% {:>9} {:>9} {:>6}% {:>11}",
            a.name,
            num(a.dps),
            grouped(a.share_pct, 2),
            grouped(a.casts_per_fight, 2),
            grouped(a.hits_per_fight, 2),
            grouped(a.crit_pct, 2),
            num(a.avg_hit)
        )?;
    }
    Ok(out)
}
