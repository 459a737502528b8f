//! `wowlab run PROFILE -n N [--seed S] [--chunk-size C] [--nodes K] [--json]`: run a profile on
//! a grid. Without `--sentinel` the whole grid starts in-process (a temporary data directory,
//! K nodes); with `--sentinel URL --token T` the job goes to a remote grid. Progress comes from
//! the `jobs:{id}` channel (subscribed with a job token); the final report is the same text
//! `wowlab sim` prints for the same seed.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use wowlab_api::channels::{JobMessage, JobProgress};
use wowlab_centrifuge::{Client, ClientConfig, SubscriptionConfig, SubscriptionEvent};
use wowlab_sim::{compile_str, ChunkResult};

use crate::grid::{EmbeddedGrid, GridOptions, RUN_USER};

/// Arguments of `wowlab run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Profile file (TOML, or JSON when it starts with `{`).
    pub profile: PathBuf,
    /// Iterations to run.
    #[arg(short = 'n', long = "iterations", default_value_t = 10_000)]
    pub iterations: u64,
    /// Job seed; iteration k draws from an RNG seeded by (seed, k) only.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Iterations per chunk (default: chosen by the sentinel from the profile's cost).
    #[arg(long)]
    pub chunk_size: Option<u64>,
    /// In-process nodes of the embedded grid (default: one per physical core).
    #[arg(long)]
    pub nodes: Option<u32>,
    /// Print the report (and the raw mergeable result) as JSON.
    #[arg(long)]
    pub json: bool,
    /// Hide the progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Remote sentinel base URL, or several sentinels of one grid comma-separated (tried in
    /// turn when one stops answering); default: an embedded grid.
    #[arg(long, env = "WOWLAB_SENTINEL")]
    pub sentinel: Option<String>,
    /// API token for the remote sentinel.
    #[arg(long, env = "WOWLAB_TOKEN", requires = "sentinel")]
    pub token: Option<String>,
    /// Run until the 95 % CI half-width is at most this percent of the mean DPS (e.g. 0.05),
    /// in waves of 1024, 2048, 4096... iterations; prints what `wowlab sim --target-error`
    /// prints for the same inputs.
    #[arg(long)]
    pub target_error: Option<f64>,
    /// With `--target-error`: the most iterations to run.
    #[arg(long, requires = "target_error", default_value_t = crate::cmd::sim::DEFAULT_MAX_ITERATIONS)]
    pub max_iterations: u64,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    let src = std::fs::read_to_string(&args.profile)
        .with_context(|| format!("reading {}", args.profile.display()))?;
    // Compiled locally too: bad profiles fail before anything starts, and the report needs it.
    let profile =
        compile_str(&src).map_err(|e| anyhow::anyhow!("{}: {e}", args.profile.display()))?;
    // Refused here as `wowlab sim` refuses it, before anything starts.
    let plan = crate::cmd::sim::wave_plan(args.target_error, args.max_iterations)?;
    if plan.is_none() && args.iterations == 0 {
        bail!("-n must be at least 1");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        match &args.sentinel {
            Some(url) => {
                let token = args
                    .token
                    .clone()
                    .context("--token (or WOWLAB_TOKEN) is required with --sentinel")?;
                let urls = sentinel_urls(url)?;
                run_job(&urls, &token, &src, &args).await
            }
            None => run_embedded(&src, &args).await,
        }
    })?;
    if result.profile_hash != profile.hash() {
        bail!("the grid returned a result for another profile");
    }
    print!(
        "{}",
        crate::report::render(&profile, args.seed, args.json, &result)?
    );
    std::io::Write::flush(&mut std::io::stdout())?;
    Ok(())
}

/// The comma-separated sentinel URLs, trailing slashes removed; each must be http(s).
fn sentinel_urls(list: &str) -> anyhow::Result<Vec<String>> {
    list.split(',')
        .map(|u| {
            let u = u.trim().trim_end_matches('/');
            let parsed = reqwest::Url::parse(u).with_context(|| format!("sentinel URL {u:?}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                bail!("sentinel URL {u:?} must be http:// or https://");
            }
            Ok(u.to_owned())
        })
        .collect()
}

/// The sentinels of one grid, with the one calls go to now.
struct Sentinels<'a> {
    urls: &'a [String],
    at: usize,
}

impl Sentinels<'_> {
    fn url(&self) -> &str {
        &self.urls[self.at % self.urls.len()]
    }

    /// Moves on to the next sentinel (after this one failed).
    fn next(&mut self) {
        self.at = (self.at + 1) % self.urls.len();
    }
}

async fn run_embedded(src: &str, args: &Args) -> anyhow::Result<ChunkResult> {
    let cores = wowlab_node::config::physical_cores().max(1);
    let nodes = args.nodes.unwrap_or(cores).max(1);
    let dir = std::env::temp_dir().join(format!(
        "wowlab-run-{}-{}",
        std::process::id(),
        wowlab_api::JobId::new()
    ));
    let mut opts = GridOptions::new("127.0.0.1:0".parse()?, dir.clone());
    opts.nodes = nodes;
    opts.slots_per_node = (cores / nodes).max(1);
    opts.reclaim_interval = Duration::from_millis(200);
    let grid = EmbeddedGrid::start(opts).await?;
    grid.wait_nodes_live(Duration::from_secs(5)).await;
    let token = grid.api_token(RUN_USER).await?;
    let url = grid.url();
    let out = run_job(std::slice::from_ref(&url), &token, src, args).await;
    grid.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    out
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobView {
    status: String,
    #[serde(default)]
    failure_reason: Option<String>,
}

#[derive(Deserialize)]
struct Minted {
    token: String,
}

#[derive(Deserialize)]
struct JobTokens {
    connection: Minted,
    subscription: Minted,
    channel: String,
}

/// Submits, follows progress, returns the merged result.
async fn run_job(
    urls: &[String],
    token: &str,
    src: &str,
    args: &Args,
) -> anyhow::Result<ChunkResult> {
    let mut sentinels = Sentinels { urls, at: 0 };
    let http = reqwest::Client::new();
    let auth = format!("Bearer {token}");
    let mut body = serde_json::json!({
        "profile": src,
        "seed": args.seed,
    });
    let total = match args.target_error {
        Some(t) => {
            body["targetError"] = t.into();
            body["maxIterations"] = args.max_iterations.into();
            args.max_iterations
        }
        None => {
            body["iterations"] = args.iterations.into();
            args.iterations
        }
    };
    if let Some(c) = args.chunk_size {
        body["chunkSize"] = c.into();
    }
    // Only a sentinel that could not be reached is skipped: a submission that may have
    // arrived is never sent again (it would start a second job).
    let mut tried = 0;
    let resp = loop {
        let url = sentinels.url().to_owned();
        match http
            .post(format!("{url}/api/jobs"))
            .header("authorization", &auth)
            .json(&body)
            .send()
            .await
        {
            Ok(r) => break r,
            Err(e) if e.is_connect() && tried + 1 < urls.len() => {
                tracing::warn!(sentinel = %url, error = %e, "sentinel unreachable; trying the next");
                tried += 1;
                sentinels.next();
            }
            Err(e) => return Err(anyhow::Error::new(e).context(format!("submitting to {url}"))),
        }
    };
    if !resp.status().is_success() {
        bail!(
            "job refused: {} {}",
            resp.status(),
            resp.text().await.unwrap_or_default()
        );
    }
    let job: Created = resp.json().await?;
    // A remote job outlives this command: say where to find it (stderr; stdout is the report).
    // An embedded grid's URL dies with the command, so it is not worth printing.
    if args.sentinel.is_some() {
        eprintln!(
            "job {} submitted: {}/jobs/{}",
            job.id,
            sentinels.url(),
            job.id
        );
    }

    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} sims ({msg}, eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    };
    // Live progress from `jobs:{id}`; completion is also polled, so a missed message costs
    // nothing.
    let live = subscribe(&http, sentinels.url(), &auth, &job.id, bar.clone()).await;
    if let Err(e) = &live {
        tracing::debug!(error = %e, "no live progress; polling only");
    }
    // A sentinel restart is survivable: keep asking (the next sentinel, if there are several)
    // for up to a minute of failures.
    let mut failing_since: Option<std::time::Instant> = None;
    let view = loop {
        match job_view(&http, sentinels.url(), &auth, &job.id).await {
            Ok(v) => {
                failing_since = None;
                if matches!(v.status.as_str(), "completed" | "failed" | "cancelled") {
                    break v;
                }
            }
            Err(e) => {
                let since = *failing_since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() > Duration::from_secs(60) {
                    return Err(e.context("the sentinel stopped answering"));
                }
                tracing::debug!(error = %e, "sentinel unreachable; retrying");
                sentinels.next();
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    if let Ok(client) = live {
        client.disconnect().await;
    }
    bar.finish_and_clear();
    if view.status != "completed" {
        bail!(
            "job {} {}: {}",
            job.id,
            view.status,
            view.failure_reason.unwrap_or_default()
        );
    }
    let mut tried = 0;
    let bytes = loop {
        let fetched = async {
            http.get(format!("{}/api/jobs/{}/aggregate", sentinels.url(), job.id))
                .header("authorization", &auth)
                .send()
                .await?
                .error_for_status()?
                .bytes()
                .await
        }
        .await;
        match fetched {
            Ok(b) => break b,
            Err(e) if tried + 1 < urls.len() => {
                tracing::warn!(error = %e, "result not fetched; trying the next sentinel");
                tried += 1;
                sentinels.next();
            }
            Err(e) => return Err(e.into()),
        }
    };
    ChunkResult::decode(&bytes).map_err(|e| anyhow::anyhow!("unreadable job result: {e}"))
}

async fn job_view(
    http: &reqwest::Client,
    url: &str,
    auth: &str,
    id: &str,
) -> anyhow::Result<JobView> {
    Ok(http
        .get(format!("{url}/api/jobs/{id}"))
        .header("authorization", auth)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

/// Subscribes to the job's channel and drives the bar from its progress messages.
async fn subscribe(
    http: &reqwest::Client,
    url: &str,
    auth: &str,
    job: &str,
    bar: ProgressBar,
) -> anyhow::Result<Client> {
    let tokens: JobTokens = http
        .get(format!("{url}/api/realtime/job-token?jobId={job}"))
        .header("authorization", auth)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let ws = format!("{}/connection/websocket", url.replacen("http", "ws", 1));
    let client = Client::new(ClientConfig::new(ws).token(tokens.connection.token));
    let sub = client.new_subscription(
        tokens.channel,
        SubscriptionConfig::default().token(tokens.subscription.token),
    )?;
    let mut events = sub.events();
    sub.subscribe()?;
    client.connect();
    tokio::spawn(async move {
        while let Ok(ev) = events.recv().await {
            if let SubscriptionEvent::Publication(p) = ev {
                match serde_json::from_slice::<JobMessage>(&p.data) {
                    Ok(JobMessage::Progress(pr))
                    | Ok(JobMessage::Finished { progress: pr, .. }) => show(&bar, &pr),
                    Err(e) => tracing::debug!(error = %e, "unknown job message"),
                }
            }
        }
    });
    Ok(client)
}

fn show(bar: &ProgressBar, p: &JobProgress) {
    use wowlab_sim::numbers;
    bar.set_position(p.iterations_done);
    let target = match (p.target_error, p.half_width_pct) {
        (Some(t), Some(h)) => format!(", ±{h:.3} % → {t} %"),
        _ => String::new(),
    };
    bar.set_message(format!(
        "{} sims/s, {} ± {} DPS{target}",
        numbers::grouped(p.sims_per_sec, 0),
        numbers::dps(p.mean_dps),
        numbers::dps(p.ci95_dps)
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_lists_are_split_trimmed_and_checked() {
        assert_eq!(
            sentinel_urls("http://a:1/, https://b:2").unwrap(),
            ["http://a:1", "https://b:2"]
        );
        assert!(sentinel_urls("http://a:1,ftp://b").is_err());
        assert!(sentinel_urls("http://a:1,").is_err());
        let urls = ["http://a".to_owned(), "http://b".to_owned()];
        let mut s = Sentinels { urls: &urls, at: 0 };
        s.next();
        assert_eq!(s.url(), "http://b");
        s.next();
        assert_eq!(s.url(), "http://a");
    }
}
