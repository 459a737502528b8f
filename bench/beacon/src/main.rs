//! Load generator for beacon, run as its own process so clients never share a runtime with
//! the server: fan-out throughput and publish→deliver latency, idle-connection memory, and the
//! same fan-out through nats-server's WebSocket listener as a peer. `bench/beacon/run` builds
//! release binaries and calls `run`, which writes `bench/results/beacon.md`.

mod beacon_ws;
mod fanout;
mod idle;
mod lean;
mod nats_ws;
mod procs;
mod report;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

/// Command line of the bench binary.
#[derive(Parser)]
#[command(name = "wowlab-bench-beacon", about = "Beacon load generator")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start beacon and nats-server, run every measurement, write the Markdown report.
    Run(RunArgs),
    /// One fan-out measurement against an already running server.
    Fanout(FanoutArgs),
    /// One idle-connection measurement against an already running beacon.
    Idle(IdleArgs),
}

/// Options of the full run.
#[derive(clap::Args)]
struct RunArgs {
    /// The wowlab binary (release build) that serves `wowlab beacon`.
    #[arg(long)]
    wowlab: PathBuf,
    /// Beacon config for the bench (Centrifugo v6 JSON layout).
    #[arg(long, default_value = "bench/beacon/beacon-bench.json")]
    config: PathBuf,
    /// HMAC secret of that config.
    #[arg(long, default_value = "bench-secret")]
    secret: String,
    /// nats-server binary (Debian package `nats-server`).
    #[arg(long, default_value = "nats-server")]
    nats_server: String,
    /// Markdown report to write.
    #[arg(long, default_value = "bench/results/beacon.md")]
    out: PathBuf,
    /// Directory for logs and generated configs.
    #[arg(long, default_value = "target/bench-beacon")]
    work_dir: PathBuf,
    /// Seconds of publishing per fan-out case (bounded also by the message count).
    #[arg(long, default_value_t = 8)]
    seconds: u64,
    /// Idle connection counts to measure.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1000usize, 10000])]
    idle: Vec<usize>,
    /// Subscriber counts of the fan-out cases.
    #[arg(long, value_delimiter = ',', default_values_t = vec![100usize, 1000])]
    subs: Vec<usize>,
    /// Throughput passes per server and subscriber count, beacon and nats-server alternating
    /// (the ratio is their median); the latency pass runs in the first round only.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// redis-server binary (Debian package `redis-server`) for the two-instance variant.
    #[arg(long, default_value = "redis-server")]
    redis_server: String,
    /// Skip the two-instance variant (two beacons on NATS + Redis vs a two-node NATS cluster).
    #[arg(long)]
    no_pair: bool,
}

/// Options of a single fan-out measurement.
#[derive(clap::Args)]
struct FanoutArgs {
    /// `beacon` or `nats`.
    #[arg(long, default_value = "beacon")]
    system: String,
    /// WebSocket URL (beacon: ws://HOST:PORT/connection/websocket; nats: ws://HOST:PORT).
    #[arg(long)]
    url: String,
    #[arg(long, default_value = "bench-secret")]
    secret: String,
    #[arg(long, default_value_t = 100)]
    subs: usize,
    #[arg(long, default_value_t = 8)]
    seconds: u64,
    /// Messages in flight (64 = throughput pass, 1 = latency pass).
    #[arg(long, default_value_t = 64)]
    window: u64,
    /// Server process ids whose CPU is charged per delivery (repeatable).
    #[arg(long = "pid")]
    pids: Vec<u32>,
}

/// Options of a single idle measurement.
#[derive(clap::Args)]
struct IdleArgs {
    /// ws://HOST:PORT/connection/websocket
    #[arg(long)]
    url: String,
    /// PID of the beacon process (its VmRSS is read).
    #[arg(long)]
    pid: u32,
    #[arg(long, default_value = "bench-secret")]
    secret: String,
    #[arg(long, default_value_t = 1000)]
    conns: usize,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(async move {
        match cli.cmd {
            Cmd::Run(a) => run_all(a).await,
            Cmd::Fanout(a) => {
                let system = fanout::System::parse(&a.system, &a.url, &a.secret)?;
                let params = fanout::Params {
                    window: a.window,
                    ..fanout::Params::new(a.subs, a.seconds)
                };
                let r = fanout::run(&system, &params, &a.pids).await?;
                println!("{}", serde_json::to_string(&r)?);
                Ok(())
            }
            Cmd::Idle(a) => {
                let r = idle::run(&a.url, &a.secret, a.conns, a.pid).await?;
                println!("{}", serde_json::to_string(&r)?);
                Ok(())
            }
        }
    })
}

/// Every measurement, each against a fresh server process, then the report.
async fn run_all(a: RunArgs) -> Result<()> {
    std::fs::create_dir_all(&a.work_dir)
        .with_context(|| format!("create {}", a.work_dir.display()))?;
    let mut report = report::Report {
        loadavg_start: report::loadavg(),
        ..Default::default()
    };

    // Beacon and nats-server alternate, each pass on a fresh server process, round after
    // round in the order ABBA…, so a drift in the machine's background load during the run
    // falls on both alike; the ratio is the median over the rounds (see `report`).
    for &subs in &a.subs {
        for round in 1..=a.rounds.max(1) {
            let beacon_first = round % 2 == 1;
            for beacon in [beacon_first, !beacon_first] {
                let passes = if round == 1 {
                    vec![
                        fanout::Params::new(subs, a.seconds),
                        fanout::Params::latency(subs, a.seconds / 2),
                    ]
                } else {
                    vec![fanout::Params::new(subs, a.seconds)]
                };
                let results = if beacon {
                    beacon_passes(&a, subs, &passes).await?
                } else {
                    nats_passes(&a, &passes).await?
                };
                for mut r in results {
                    r.round = round;
                    eprintln!("  {}", serde_json::to_string(&r)?);
                    report.fanout.push(r);
                }
            }
        }
    }

    for &n in &a.idle {
        let beacon = procs::Beacon::spawn(
            &a.wowlab,
            &a.config,
            &a.work_dir.join(format!("beacon-idle-{n}.log")),
        )
        .await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        eprintln!("beacon idle connections: {n} ...");
        let r = idle::run(&beacon.ws_url(), &a.secret, n, beacon.pid()).await?;
        eprintln!("  {}", serde_json::to_string(&r)?);
        report.idle.push(r);
        beacon.stop().await;
    }

    if !a.no_pair {
        run_pairs(&a, &mut report).await?;
    }

    report.nats_version = procs::nats_version(&a.nats_server).await;
    let md = report.markdown();
    if let Some(dir) = a.out.parent() {
        std::fs::create_dir_all(dir).ok();
    }
    std::fs::write(&a.out, &md).with_context(|| format!("write {}", a.out.display()))?;
    println!("{md}");
    Ok(())
}

/// `passes` against a fresh single beacon.
async fn beacon_passes(
    a: &RunArgs,
    subs: usize,
    passes: &[fanout::Params],
) -> Result<Vec<fanout::FanoutResult>> {
    let beacon = procs::Beacon::spawn(
        &a.wowlab,
        &a.config,
        &a.work_dir.join(format!("beacon-fanout-{subs}.log")),
    )
    .await?;
    let system = fanout::System::Beacon {
        url: beacon.ws_url(),
        pub_url: None,
        secret: a.secret.clone(),
        channel: "bench:hot".into(),
    };
    let out = run_passes(&system, passes, &[beacon.pid()]).await;
    beacon.stop().await;
    out
}

/// `passes` against a fresh single nats-server.
async fn nats_passes(a: &RunArgs, passes: &[fanout::Params]) -> Result<Vec<fanout::FanoutResult>> {
    let nats = procs::Nats::spawn(&a.nats_server, &a.work_dir).await?;
    let system = fanout::System::Nats {
        url: nats.ws_url(),
        pub_url: None,
        subject: "bench.hot".into(),
    };
    let out = run_passes(&system, passes, &[nats.pid()]).await;
    nats.stop().await;
    out
}

/// Each of `passes` against `system`, charging the CPU of `pids` to the server.
async fn run_passes(
    system: &fanout::System,
    passes: &[fanout::Params],
    pids: &[u32],
) -> Result<Vec<fanout::FanoutResult>> {
    let mut out = Vec::new();
    for params in passes {
        eprintln!(
            "{} fan-out to {} subscribers, window {} ...",
            system.name(),
            params.subs,
            params.window
        );
        out.push(fanout::run(system, params, pids).await?);
    }
    Ok(out)
}

/// The two-instance variant: publisher on beacon A, subscribers on beacon B (sharing a NATS
/// server and a Redis server), side by side with a two-node nats-server cluster under the same
/// load (publisher on node 1, subscribers on node 2).
async fn run_pairs(a: &RunArgs, report: &mut report::Report) -> Result<()> {
    for &subs in &a.subs {
        let nats = procs::Nats::spawn(&a.nats_server, &a.work_dir).await?;
        let redis = procs::Redis::spawn(&a.redis_server, &a.work_dir).await?;
        let engines = procs::Engines {
            nats_url: nats.url(),
            redis_url: redis.url(),
        };
        let beacon_a = procs::Beacon::spawn_with(
            &a.wowlab,
            &a.config,
            &a.work_dir.join(format!("beacon-a-{subs}.log")),
            Some(&engines),
        )
        .await?;
        let beacon_b = procs::Beacon::spawn_with(
            &a.wowlab,
            &a.config,
            &a.work_dir.join(format!("beacon-b-{subs}.log")),
            Some(&engines),
        )
        .await?;
        let system = fanout::System::Beacon {
            url: beacon_b.ws_url(),
            pub_url: Some(beacon_a.ws_url()),
            secret: a.secret.clone(),
            channel: "bench:hot".into(),
        };
        let passes = [
            fanout::Params::new(subs, a.seconds),
            fanout::Params::latency(subs, a.seconds / 2),
        ];
        for r in run_passes(&system, &passes, &[beacon_a.pid(), beacon_b.pid()]).await? {
            eprintln!("  {}", serde_json::to_string(&r)?);
            report.fanout.push(r);
        }
        beacon_a.stop().await;
        beacon_b.stop().await;
        redis.stop().await;
        nats.stop().await;

        let (n1, n2) = procs::Nats::spawn_cluster(&a.nats_server, &a.work_dir).await?;
        let system = fanout::System::Nats {
            url: n2.ws_url(),
            pub_url: Some(n1.ws_url()),
            subject: "bench.hot".into(),
        };
        for r in run_passes(&system, &passes, &[n1.pid(), n2.pid()]).await? {
            eprintln!("  {}", serde_json::to_string(&r)?);
            report.fanout.push(r);
        }
        n1.stop().await;
        n2.stop().await;
    }
    Ok(())
}
