//! `wowlab up [--nodes N] [--addr 127.0.0.1:8080] [--data-dir D]`: the whole grid in one
//! process with zero configuration: beacon, sentinel (SQLite in the data directory, generated
//! secrets kept there with mode 0600) and N in-process nodes, behind one HTTP listener.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::grid::{EmbeddedGrid, GridOptions};

/// Arguments of `wowlab up`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// In-process compute nodes (each uses all physical cores unless --slots says otherwise).
    #[arg(long, default_value_t = 1, env = "WOWLAB_UP_NODES")]
    pub nodes: u32,
    /// Listen address of the API, the studio and beacon's WebSocket.
    #[arg(long, default_value = "127.0.0.1:8080", env = "WOWLAB_UP_ADDR")]
    pub addr: SocketAddr,
    /// Data directory (database, secrets, node keys); default $XDG_DATA_HOME/wowlab/grid.
    #[arg(long, env = "WOWLAB_UP_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Parallel chunks per in-process node (0 = one per physical core).
    #[arg(long, default_value_t = 0)]
    pub slots: u32,
    /// Lease time-to-live in milliseconds (nodes heartbeat at a third of it).
    #[arg(long, default_value_t = 30_000, env = "WOWLAB_LEASE_TTL_MS")]
    pub lease_ttl_ms: u64,
    /// Interval of the presence sync in milliseconds (default: the lease TTL, at most 30 s).
    #[arg(long, env = "WOWLAB_PRESENCE_INTERVAL_MS")]
    pub presence_interval_ms: Option<u64>,
    /// URL that gets a JSON POST for every round of node status flips (optional).
    #[arg(long, env = "WOWLAB_WEBHOOK_URL", value_parser = crate::cmd::sentinel::parse_webhook_url)]
    pub webhook_url: Option<String>,
    /// An open NATS server for the node tunnel (`nats://host:port`), so `wowlab node
    /// --tunnel-nats-url` processes joining this grid show live status and logs too; default:
    /// in process (only the in-process nodes are reachable live).
    #[arg(long, env = "WOWLAB_UP_TUNNEL_NATS_URL")]
    pub tunnel_nats_url: Option<String>,
}

/// Default data directory of the embedded grid.
pub fn default_data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|h| h.join(".local/share"))
        })
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("wowlab").join("grid")
}

/// Runs the grid until Ctrl-C / SIGTERM, then drains the nodes and stops.
pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let data_dir = args.data_dir.unwrap_or_else(default_data_dir);
        let mut opts = GridOptions::new(args.addr, data_dir.clone());
        opts.nodes = args.nodes;
        opts.slots_per_node = args.slots;
        opts.lease_ttl = Duration::from_millis(args.lease_ttl_ms.max(300));
        opts.reclaim_interval = (opts.lease_ttl / 10).clamp(Duration::from_millis(50), Duration::from_secs(1));
        opts.presence_interval = match args.presence_interval_ms {
            Some(ms) => Duration::from_millis(ms.max(100)),
            None => opts.lease_ttl.min(Duration::from_secs(30)),
        };
        opts.webhook_url = args.webhook_url;
        opts.tunnel_nats_url = args.tunnel_nats_url;
        let grid = EmbeddedGrid::start(opts).await?;
        let url = grid.url();
        tracing::info!(%url, data_dir = %data_dir.display(), nodes = args.nodes, "grid up");
        // On stdout so scripts (and tests) can wait for it whatever the log filter is.
        println!("wowlab grid listening on {url}");
        println!("  studio:    {url}/");
        println!("  data dir:  {}", data_dir.display());
        println!("  nodes:     {} in-process", args.nodes);
        println!(
            "  first run: create the first account (it becomes admin) at {url}/signup, or\n             curl -X POST {url}/api/auth/signup -H 'content-type: application/json' \\\n               -d '{{\"email\":\"you@example.org\",\"password\":\"a long password\"}}'"
        );
        println!("  submit:    wowlab run PROFILE -n N --sentinel {url} --token <API token from the studio>");
        std::io::Write::flush(&mut std::io::stdout())?;
        shutdown_signal().await;
        tracing::info!("shutting down");
        grid.shutdown().await;
        Ok(())
    })
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
