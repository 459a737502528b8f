//! `wowlab beacon`: run the realtime server standalone.

use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;
use wowlab_beacon::config::Config;
use wowlab_beacon::Beacon;

/// Arguments of `wowlab beacon`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Config file in the Centrifugo v6 JSON layout; without it, defaults plus
    /// `WOWLAB_BEACON_*` environment overrides apply.
    #[arg(long, short, env = "WOWLAB_BEACON_CONFIG")]
    pub config: Option<PathBuf>,
    /// NATS server for the broker (`nats://host:port`): publications, join/leave and control
    /// reach every beacon on it. Overrides the config's `broker` section.
    #[arg(long, env = "WOWLAB_BEACON_NATS_URL", value_name = "URL")]
    pub nats_url: Option<String>,
    /// Redis server (`redis://host:port`) for presence and history; also the broker when no
    /// NATS URL is given. Overrides the config's `presence_manager` (and `broker`) sections.
    #[arg(long, env = "WOWLAB_BEACON_REDIS_URL", value_name = "URL")]
    pub redis_url: Option<String>,
}

/// Loads the config, binds, serves until Ctrl-C / SIGTERM (then disconnects clients with 3001).
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(p) => Config::load(p).with_context(|| format!("loading {}", p.display()))?,
        None => Config::from_env().context("loading config from environment")?,
    };
    config.use_servers(args.nats_url.as_deref(), args.redis_url.as_deref());
    config.validate().context("engine URLs")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let beacon = Beacon::start(config)
            .await
            .context("starting beacon engines")?;
        let addr = beacon.config().listen_addr();
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        let local = listener.local_addr()?;
        tracing::info!("beacon listening on http://{local}");
        // Also on stdout so scripts can wait for it whatever the log filter is.
        println!("beacon listening on http://{local}");
        let _ = std::io::stdout().flush();
        let stopper = beacon.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            stopper.shutdown();
        });
        beacon.serve(listener).await?;
        Ok(())
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
