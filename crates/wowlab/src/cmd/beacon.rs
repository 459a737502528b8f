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
}

/// Loads the config, binds, serves until Ctrl-C / SIGTERM (then disconnects clients with 3001).
pub fn run(args: Args) -> anyhow::Result<()> {
    let config = match &args.config {
        Some(p) => Config::load(p).with_context(|| format!("loading {}", p.display()))?,
        None => Config::from_env().context("loading config from environment")?,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let beacon = Beacon::new(config)?;
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
