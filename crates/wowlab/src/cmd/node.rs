//! `wowlab node`: contribute this machine to a grid.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use wowlab_node::config::{NodeConfig, Secret};
use wowlab_node::Node;

/// Arguments of `wowlab node`; each overrides the `WOWLAB_NODE_*` variable and the config file.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Sentinel base URL, e.g. https://grid.example.org, or several sentinels of one grid,
    /// comma-separated (WOWLAB_NODE_SENTINEL_URL).
    #[arg(long)]
    pub sentinel: Option<String>,
    /// A claim token from the studio; without one the node shows a claim code
    /// (WOWLAB_NODE_CLAIM_TOKEN; never stored).
    #[arg(long)]
    pub claim_token: Option<String>,
    /// Directory of the node key and registration (WOWLAB_NODE_DATA_DIR;
    /// default $XDG_DATA_HOME/wowlab/node).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Parallel chunks at most (WOWLAB_NODE_MAX_PARALLEL; default: physical cores).
    #[arg(long)]
    pub max_parallel: Option<u32>,
    /// Display name proposed at registration (WOWLAB_NODE_NAME; default: host name).
    #[arg(long)]
    pub name: Option<String>,
    /// Serve GET /status on this address, e.g. 127.0.0.1:9100 (WOWLAB_NODE_STATUS_ADDR).
    #[arg(long)]
    pub status_addr: Option<SocketAddr>,
    /// Wall-time limit of one chunk in ms: a chunk running longer is stopped and reported
    /// failed, so the grid retries it elsewhere (WOWLAB_NODE_CHUNK_TIMEOUT_MS; default 0 = none).
    #[arg(long, value_name = "MS")]
    pub chunk_timeout_ms: Option<u64>,
    /// TOML config file (WOWLAB_NODE_CONFIG).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// NATS server of the grid's tunnel (`nats://host:port`): the node serves its status and
    /// logs there for the studio, with no inbound port, using the NATS credentials the
    /// sentinel issues it (scoped to its own subjects) when the server runs in operator mode
    /// (WOWLAB_NODE_TUNNEL_NATS_URL).
    #[arg(long, env = "WOWLAB_NODE_TUNNEL_NATS_URL")]
    pub tunnel_nats_url: Option<String>,
}

/// Builds the config from file, environment and flags (flags win).
pub fn config(args: Args) -> anyhow::Result<NodeConfig> {
    let mut cfg = NodeConfig::from_sources(args.config.as_deref(), |k| std::env::var(k).ok())?;
    if let Some(s) = args.sentinel {
        cfg.sentinel_url = Some(s.trim_end_matches('/').to_owned());
    }
    if let Some(t) = args.claim_token.filter(|t| !t.trim().is_empty()) {
        cfg.claim_token = Some(Secret::new(t.trim()));
    }
    if let Some(d) = args.data_dir {
        cfg.data_dir = d;
    }
    if let Some(n) = args.max_parallel {
        anyhow::ensure!((1..=1024).contains(&n), "--max-parallel must be 1..=1024");
        cfg.max_parallel = n;
    }
    if let Some(n) = args.name {
        cfg.name = Some(n);
    }
    if let Some(a) = args.status_addr {
        cfg.status_addr = Some(a);
    }
    if let Some(ms) = args.chunk_timeout_ms {
        cfg.chunk_timeout = (ms > 0).then(|| std::time::Duration::from_millis(ms));
    }
    cfg.require_sentinel()?;
    Ok(cfg)
}

/// Runs the node until Ctrl-C / SIGTERM, then drains (a second signal exits at once).
pub fn run(mut args: Args) -> anyhow::Result<()> {
    let tunnel_url = args.tunnel_nats_url.take();
    let cfg = config(args)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        tracing::info!(
            sentinel = cfg.sentinel_url.as_deref().unwrap_or_default(),
            data_dir = %cfg.data_dir.display(),
            max_parallel = cfg.max_parallel,
            "starting node"
        );
        let mut node = Node::new(cfg);
        if let Some(url) = tunnel_url {
            // Connected per session, with the credentials the sentinel issues this node.
            tracing::info!(url, "status and logs served through the tunnel");
            node = node.tunnel_nats(url);
        }
        let node = node.start().await.context("starting node")?;
        tracing::info!(public_key = node.public_key(), "node identity");
        if let Some(addr) = node.status_addr() {
            tracing::info!("status on http://{addr}/status");
        }
        let stopper = node.stopper();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("signal received: draining (send again to exit now)");
            stopper.stop();
            shutdown_signal().await;
            tracing::warn!("second signal: exiting without draining");
            std::process::exit(130);
        });
        node.wait().await?;
        Ok(())
    })
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
