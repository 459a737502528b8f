//! `wowlab sim PROFILE -n N [--seed S] [--threads T] [--json]`: run a profile locally on all
//! cores. The output depends only on the profile, N and the seed, never on the thread count or
//! chunking (the engine's results merge exactly). With `--target-error E --max-iterations M`
//! it runs the waves of [`wowlab_sim::target`] instead of N iterations, exactly as the grid
//! does, so both print the same bytes.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use wowlab_sim::{
    chunk_ranges, chunk_size_for, compile_str, run_chunk, ChunkResult, CompiledProfile, WavePlan,
};

/// Arguments of `wowlab sim`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Profile file (TOML, or JSON when it starts with `{`).
    pub profile: PathBuf,
    /// Iterations to run.
    #[arg(short = 'n', long = "iterations", default_value_t = 10_000)]
    pub iterations: u64,
    /// Job seed; iteration k draws from an RNG seeded by (seed, k) only.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the report (and the raw mergeable result) as JSON.
    #[arg(long)]
    pub json: bool,
    /// Iterations per chunk (default: sized from the time of the first iterations).
    #[arg(long)]
    pub chunk_size: Option<u64>,
    /// Hide the progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Run until the 95 % CI half-width is at most this percent of the mean DPS (e.g. 0.05),
    /// in waves of 1024, 2048, 4096... iterations, instead of a fixed `-n`.
    #[arg(long)]
    pub target_error: Option<f64>,
    /// With `--target-error`: the most iterations to run.
    #[arg(long, requires = "target_error", default_value_t = DEFAULT_MAX_ITERATIONS)]
    pub max_iterations: u64,
}

/// `--max-iterations` when not given.
pub const DEFAULT_MAX_ITERATIONS: u64 = 1_000_000;

/// The wave plan of `--target-error`/`--max-iterations`, if a target was given.
pub fn wave_plan(
    target_error: Option<f64>,
    max_iterations: u64,
) -> anyhow::Result<Option<WavePlan>> {
    target_error
        .map(|t| WavePlan::new(t, max_iterations).map_err(|e| anyhow::anyhow!("{e}")))
        .transpose()
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    let src = std::fs::read_to_string(&args.profile)
        .with_context(|| format!("reading {}", args.profile.display()))?;
    let profile =
        compile_str(&src).map_err(|e| anyhow::anyhow!("{}: {e}", args.profile.display()))?;
    let start = Instant::now();
    let result = simulate(&profile, &args)?;
    let elapsed = start.elapsed();
    print!("{}", render(&profile, &args, &result)?);
    std::io::Write::flush(&mut std::io::stdout())?;
    if !args.quiet {
        let secs = elapsed.as_secs_f64().max(1e-9);
        eprintln!(
            "{} iterations in {:.2} s ({} sims/s, {} M events/s)",
            wowlab_sim::numbers::int(result.iterations),
            secs,
            wowlab_sim::numbers::grouped(result.iterations as f64 / secs, 0),
            wowlab_sim::numbers::grouped(result.events as f64 / secs / 1e6, 2)
        );
    }
    Ok(())
}

/// Runs all iterations (or the waves of a target-error run) over a rayon pool and merges the
/// chunk results.
pub fn simulate(profile: &CompiledProfile, args: &Args) -> anyhow::Result<ChunkResult> {
    match wave_plan(args.target_error, args.max_iterations)? {
        Some(plan) => Ok(plan.drive(|r| simulate_range(profile, args, r))?.0),
        None => {
            if args.iterations == 0 {
                anyhow::bail!("-n must be at least 1");
            }
            simulate_range(profile, args, 0..args.iterations)
        }
    }
}

/// Runs `range` of the job's iterations over a rayon pool and merges the chunk results.
fn simulate_range(
    profile: &CompiledProfile,
    args: &Args,
    range: std::ops::Range<u64>,
) -> anyhow::Result<ChunkResult> {
    let iterations = range.end - range.start;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(iterations);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} sims ({per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    };
    let (mut head, done, chunk) = match args.chunk_size {
        Some(c) => (ChunkResult::empty(profile), 0, c),
        None => {
            let (head, done, cost) = run_head(profile, args.seed, range.clone())?;
            bar.inc(done);
            // About 50 ms per chunk keeps the bar smooth; at least 4 chunks per thread balance
            // load.
            let by_cost = chunk_size_for(cost, Duration::from_millis(50));
            let left = iterations - done;
            (
                head,
                done,
                by_cost.min(left.div_ceil(threads as u64 * 4)).max(1),
            )
        }
    };
    let first = range.start + done;
    let ranges: Vec<_> = chunk_ranges(range.end - first, chunk)
        .into_iter()
        .map(|r| r.start + first..r.end + first)
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("starting worker threads")?;
    let seed = args.seed;
    let result = pool.install(|| {
        ranges
            .par_iter()
            .map(|r| {
                let part = run_chunk(profile, seed, r.clone())?;
                bar.inc(r.end - r.start);
                Ok(part)
            })
            .try_reduce(
                || ChunkResult::empty(profile),
                |mut a, b| {
                    a.merge(&b)?;
                    Ok::<_, anyhow::Error>(a)
                },
            )
    })?;
    bar.finish_and_clear();
    head.merge(&result)?;
    Ok(head)
}

/// How long [`run_head`] runs before the chunk size is chosen.
const HEAD_TIME: Duration = Duration::from_millis(10);

/// Runs the first iterations of `range` on this thread in pieces of 1, 2, 4... iterations
/// until [`HEAD_TIME`] has passed (or the range is done), and returns their merged result,
/// how many ran and the time per iteration. The chunk size comes from this real work rather
/// than from a separate estimate whose iterations would be thrown away; a profile whose
/// iterations exceed the event bound fails here, before the pool starts.
fn run_head(
    profile: &CompiledProfile,
    seed: u64,
    range: std::ops::Range<u64>,
) -> anyhow::Result<(ChunkResult, u64, Duration)> {
    let mut head = ChunkResult::empty(profile);
    let start = Instant::now();
    let mut next = range.start;
    let mut piece = 1;
    while next < range.end {
        let end = next.saturating_add(piece).min(range.end);
        head.merge(&run_chunk(profile, seed, next..end)?)?;
        next = end;
        piece *= 2;
        if start.elapsed() >= HEAD_TIME {
            break;
        }
    }
    let done = next - range.start;
    let per = start.elapsed() / u32::try_from(done.max(1)).unwrap_or(u32::MAX);
    Ok((head, done, per))
}

/// The text (table or JSON) printed on stdout.
pub fn render(
    profile: &CompiledProfile,
    args: &Args,
    result: &ChunkResult,
) -> anyhow::Result<String> {
    crate::report::render(profile, args.seed, args.json, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile_path(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/profiles")
            .join(name)
    }

    fn args(name: &str, threads: usize, json: bool, chunk: Option<u64>) -> Args {
        Args {
            profile: profile_path(name),
            iterations: 300,
            seed: 7,
            threads: Some(threads),
            json,
            chunk_size: chunk,
            quiet: true,
            target_error: None,
            max_iterations: DEFAULT_MAX_ITERATIONS,
        }
    }

    fn output(a: &Args) -> String {
        let src = std::fs::read_to_string(&a.profile).unwrap();
        let profile = compile_str(&src).unwrap();
        let result = simulate(&profile, a).unwrap();
        render(&profile, a, &result).unwrap()
    }

    #[test]
    fn output_is_identical_for_any_thread_count_and_chunking() {
        for json in [false, true] {
            let one = output(&args("pet-procs.toml", 1, json, None));
            let two = output(&args("pet-procs.toml", 2, json, Some(7)));
            let three = output(&args("pet-procs.toml", 3, json, Some(41)));
            assert_eq!(one, two);
            assert_eq!(one, three);
        }
    }

    #[test]
    fn target_error_runs_stop_on_a_wave_boundary_whatever_the_threads() {
        let (target, max) = (TEST_TARGET, 20_000);
        let mut a = args("dot-builder.toml", 1, true, None);
        a.target_error = Some(target);
        a.max_iterations = max;
        let one = output(&a);
        a.threads = Some(3);
        a.chunk_size = Some(37);
        assert_eq!(one, output(&a));
        let v: serde_json::Value = serde_json::from_str(&one).unwrap();
        let n = v["report"]["iterations"].as_u64().unwrap();
        let plan = WavePlan::new(target, max).unwrap();
        let w = (0..20)
            .find(|&w| plan.wave_end(w) == n)
            .expect("ends on a wave");
        assert!(w >= 1, "pick a target that needs more than one wave");
        // The same bytes as a plain run of that many iterations.
        let mut plain = args("dot-builder.toml", 2, true, None);
        plain.iterations = n;
        assert_eq!(output(&plain), one);
    }

    #[test]
    fn the_head_runs_the_first_iterations_of_its_range_and_no_others() {
        let src = std::fs::read_to_string(profile_path("pet-procs.toml")).unwrap();
        let profile = compile_str(&src).unwrap();
        for range in [5..6, 10..13, 100..400] {
            let (head, done, cost) = run_head(&profile, 7, range.clone()).unwrap();
            assert!(
                done >= 1 && done <= range.end - range.start,
                "{range:?}: {done}"
            );
            assert_eq!(head.iterations, done);
            assert!(cost > Duration::ZERO);
            let alone = run_chunk(&profile, 7, range.start..range.start + done).unwrap();
            assert_eq!(head.to_json(), alone.to_json(), "{range:?}");
        }
    }

    #[test]
    fn an_event_storm_is_refused_by_the_head_with_the_iteration_that_hit_the_bound() {
        // A 0.5 ms swing (haste at the engine's 100x cap) for an hour: 7.2 M events.
        let profile =
            compile_str(include_str!("../../../sim/tests/fixtures/event-storm.toml")).unwrap();
        let mut a = args("pet-procs.toml", 2, true, None);
        a.iterations = 1_000;
        let err = simulate(&profile, &a).unwrap_err().to_string();
        assert!(
            err.contains("iteration 0") && err.contains("exceeded 1000000 events"),
            "{err}"
        );
    }

    /// A target `dot-builder.toml` meets after two waves (about 0.12 % after 1024 iterations).
    const TEST_TARGET: f64 = 0.1;

    #[test]
    fn json_output_carries_report_and_mergeable_result() {
        let out = output(&args("dot-builder.toml", 2, true, None));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["report"]["iterations"], 300);
        assert!(v["report"]["mean_dps"].as_f64().unwrap() > 0.0);
        let result: ChunkResult = serde_json::from_value(v["result"].clone()).unwrap();
        assert_eq!(result.iterations, 300);
    }

    #[test]
    fn table_lists_abilities_and_percentiles() {
        let out = output(&args("burst-cooldowns.toml", 2, false, None));
        for needle in [
            "DPS",
            "95% CI",
            "p50",
            "p99",
            "mortal_strike",
            "execute",
            "auto_attack",
        ] {
            assert!(out.contains(needle), "missing {needle} in\n{out}");
        }
    }

    #[test]
    fn json_profiles_are_accepted() {
        let toml_src = std::fs::read_to_string(profile_path("burst-cooldowns.toml")).unwrap();
        let parsed = wowlab_sim::parse_toml(&toml_src).unwrap();
        let dir = std::env::temp_dir().join(format!("wowlab-sim-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("burst.json");
        std::fs::write(&path, serde_json::to_string_pretty(&parsed).unwrap()).unwrap();
        let mut a = args("burst-cooldowns.toml", 2, false, None);
        let from_toml = output(&a);
        a.profile = path;
        let from_json = output(&a);
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(from_toml, from_json);
    }
}
