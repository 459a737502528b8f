//! `wowlab sentinel`: the control plane alone, against an external beacon (publishing and
//! presence over beacon's HTTP API, nodes and browsers connecting to beacon directly).
//! Every flag has a `WOWLAB_SENTINEL_*` environment variable. By default coordination is in
//! memory, the store is SQLite under the data dir and the result log is in process;
//! `--redis-url`, `--postgres-url` and `--nats-url` select the engines that let several
//! sentinels share one grid (any of them serves any request; the projector, reclaim loop and
//! presence sync run on one at a time, by leader election).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::routing::get;
use wowlab_sentinel::beacon_http::BeaconHttp;
use wowlab_sentinel::coordinator::{
    Coordinator, MemoryCoordinator, RedisCoordinator, RedisOptions,
};
use wowlab_sentinel::http::security::SecurityConfig;
use wowlab_sentinel::http::{NodeApiConfig, SystemClock};
use wowlab_sentinel::result_log::{JetStreamLog, JetStreamOptions, ResultLog};
use wowlab_sentinel::service::{Sentinel, SentinelConfig, SentinelParts};
use wowlab_sentinel::sim::{SimEngine, SimMerger};
use wowlab_sentinel::store::{PostgresOptions, PostgresStore, SqliteOptions, SqliteStore, Store};
use wowlab_sentinel::tasks::webhook::Webhook;
use wowlab_sentinel::tokens::TokenMinter;
use wowlab_sentinel::verify::VerifyConfig;

/// Arguments of `wowlab sentinel`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Listen address of the node and user APIs.
    #[arg(long, default_value = "127.0.0.1:8081", env = "WOWLAB_SENTINEL_ADDR")]
    pub addr: SocketAddr,
    /// Data directory (SQLite database, unless --postgres-url is given).
    #[arg(long, env = "WOWLAB_SENTINEL_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Beacon's HTTP base URL for its server API, e.g. http://127.0.0.1:8000.
    #[arg(long, env = "WOWLAB_SENTINEL_BEACON_URL")]
    pub beacon_url: String,
    /// Beacon's WebSocket URL as nodes reach it (default: derived from --beacon-url).
    #[arg(long, env = "WOWLAB_SENTINEL_BEACON_WS_URL")]
    pub beacon_ws_url: Option<String>,
    /// Beacon's server API key.
    #[arg(long, env = "WOWLAB_SENTINEL_BEACON_API_KEY", hide_env_values = true)]
    pub beacon_api_key: String,
    /// HMAC secret of beacon tokens (beacon's client.token.hmac_secret_key).
    #[arg(long, env = "WOWLAB_SENTINEL_TOKEN_SECRET", hide_env_values = true)]
    pub token_secret: String,
    /// Lease time-to-live in milliseconds.
    #[arg(long, default_value_t = 30_000, env = "WOWLAB_LEASE_TTL_MS")]
    pub lease_ttl_ms: u64,
    /// Interval of the presence sync (beacon's `nodes:online` roster → node status), ms.
    #[arg(long, default_value_t = 30_000, env = "WOWLAB_PRESENCE_INTERVAL_MS")]
    pub presence_interval_ms: u64,
    /// URL that gets a JSON POST for every round of node status flips (optional).
    #[arg(long, env = "WOWLAB_WEBHOOK_URL", value_parser = parse_webhook_url)]
    pub webhook_url: Option<String>,
    /// Redis for coordination shared by several sentinels (`redis://host:port/db`); default:
    /// in memory, one sentinel per grid.
    #[arg(long, env = "WOWLAB_SENTINEL_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key of this grid.
    #[arg(long, default_value = "wowlab:", env = "WOWLAB_SENTINEL_REDIS_PREFIX")]
    pub redis_prefix: String,
    /// PostgreSQL as the durable store (`postgres://user:pass@host:port/db`); default: SQLite
    /// in the data dir.
    #[arg(long, env = "WOWLAB_SENTINEL_POSTGRES_URL", hide_env_values = true)]
    pub postgres_url: Option<String>,
    /// PostgreSQL schema of this grid's tables (created if missing; default: the search path).
    #[arg(long, env = "WOWLAB_SENTINEL_POSTGRES_SCHEMA")]
    pub postgres_schema: Option<String>,
    /// Connections in the PostgreSQL pool at most.
    #[arg(long, default_value_t = 16, env = "WOWLAB_SENTINEL_POSTGRES_POOL_SIZE")]
    pub postgres_pool_size: u32,
    /// NATS server of the node tunnel (`nats://host:port`): live node status and logs in the
    /// studio; nodes get the same URL. Without it the studio shows nodes as not reachable live.
    #[arg(long, env = "WOWLAB_SENTINEL_TUNNEL_NATS_URL")]
    pub tunnel_nats_url: Option<String>,
    /// Public key (`A…`) of the tunnel's NATS account, when that server runs in operator mode
    /// (`wowlab tunnel-nats-init` prints it); needs --tunnel-nats-signing-key-file.
    #[arg(
        long,
        env = "WOWLAB_SENTINEL_TUNNEL_NATS_ACCOUNT",
        requires = "tunnel_nats_signing_key_file"
    )]
    pub tunnel_nats_account: Option<String>,
    /// File holding the seed (`SA…`) of a signing key of that account: the sentinel mints
    /// itself and each node short-lived NATS credentials with it (nodes' only for their own
    /// subjects). Never logged.
    #[arg(
        long,
        env = "WOWLAB_SENTINEL_TUNNEL_NATS_SIGNING_KEY_FILE",
        requires = "tunnel_nats_account"
    )]
    pub tunnel_nats_signing_key_file: Option<PathBuf>,
    /// Lifetime of those NATS credentials, seconds (refreshed at about 2/3 of it).
    #[arg(
        long,
        default_value_t = 900,
        env = "WOWLAB_SENTINEL_TUNNEL_NATS_JWT_LIFETIME_S"
    )]
    pub tunnel_nats_jwt_lifetime_s: u64,
    /// NATS with JetStream for the result log shared by several sentinels
    /// (`nats://host:port`); default: in process, one sentinel per grid.
    #[arg(long, env = "WOWLAB_SENTINEL_NATS_URL", hide_env_values = true)]
    pub nats_url: Option<String>,
    /// JetStream stream of this grid's result log.
    #[arg(
        long,
        default_value = "WOWLAB_RESULTS",
        env = "WOWLAB_SENTINEL_NATS_STREAM"
    )]
    pub nats_stream: String,
    /// How long the result log keeps entries, seconds.
    #[arg(long, default_value_t = 86_400, env = "WOWLAB_SENTINEL_NATS_MAX_AGE_S")]
    pub nats_max_age_s: u64,
    /// Window within which a result appended twice is stored once, seconds.
    #[arg(
        long,
        default_value_t = 120,
        env = "WOWLAB_SENTINEL_NATS_DEDUP_WINDOW_S"
    )]
    pub nats_dedup_window_s: u64,
}

/// Connects the sentinel to the tunnel's NATS server. With an account signing key, it mints
/// itself a client JWT (kept fresh by the returned connection) and mints nodes theirs;
/// without one the server must be open.
async fn connect_tunnel(
    args: &Args,
    url: &str,
    state: &wowlab_sentinel::context::Context,
) -> anyhow::Result<Option<wowlab_tunnel::creds::ScopedConnection>> {
    use wowlab_tunnel::creds::{self, AccountSigner, Permissions, ScopedOptions, SelfSigned};

    let (Some(account), Some(key_file)) = (
        &args.tunnel_nats_account,
        &args.tunnel_nats_signing_key_file,
    ) else {
        let transport = wowlab_tunnel::NatsTransport::connect(url)
            .await
            .with_context(|| format!("connecting to the tunnel NATS server {url}"))?;
        state.set_tunnel(wowlab_tunnel::Client::new(Arc::new(transport)));
        tracing::info!(url, "node tunnel over NATS (no credentials)");
        return Ok(None);
    };
    let seed = std::fs::read_to_string(key_file)
        .with_context(|| format!("reading the tunnel signing key {}", key_file.display()))?;
    let signer = AccountSigner::new(account, seed.trim()).with_context(|| {
        format!(
            "tunnel signing key {} / account {account}",
            key_file.display()
        )
    })?;
    let lifetime = Duration::from_secs(args.tunnel_nats_jwt_lifetime_s.max(1));
    let minter = wowlab_sentinel::nats_creds::NodeCredsMinter::new(signer.clone(), lifetime);
    let own = SelfSigned {
        signer,
        name: "sentinel".into(),
        permissions: Permissions::client(),
        lifetime,
    };
    let conn = creds::connect(
        url,
        Arc::new(own),
        ScopedOptions {
            name: "wowlab-sentinel".into(),
            inbox_prefix: None,
        },
    )
    .await
    .with_context(|| {
        format!("connecting to the tunnel NATS server {url} with minted credentials")
    })?;
    state.set_tunnel(wowlab_tunnel::Client::new(Arc::new(conn.transport())));
    state.set_node_tunnel_creds(minter);
    tracing::info!(
        url,
        account,
        lifetime_s = lifetime.as_secs(),
        "node tunnel over NATS with scoped credentials"
    );
    Ok(Some(conn))
}

/// The result log the flags select (none: the sentinel's in-process log).
async fn open_result_log(args: &Args) -> anyhow::Result<Option<Arc<dyn ResultLog>>> {
    let Some(url) = &args.nats_url else {
        return Ok(None);
    };
    let mut opts = JetStreamOptions::new(url.as_str());
    opts.stream = args.nats_stream.clone();
    opts.subject = format!("wowlab.results.{}", args.nats_stream.to_lowercase());
    opts.max_age = Duration::from_secs(args.nats_max_age_s.max(60));
    opts.duplicate_window = Duration::from_secs(args.nats_dedup_window_s.max(1));
    let log = JetStreamLog::connect(opts)
        .await
        .context("opening the JetStream result log")?;
    Ok(Some(Arc::new(log)))
}

/// The store the flags select.
async fn open_store(args: &Args) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match &args.postgres_url {
        Some(url) => {
            let mut opts = PostgresOptions::new(url.as_str());
            opts.schema = args.postgres_schema.clone();
            opts.max_connections = args.postgres_pool_size.max(1);
            Arc::new(
                PostgresStore::open(opts)
                    .await
                    .context("opening the PostgreSQL store")?,
            )
        }
        None => Arc::new(
            SqliteStore::open(SqliteOptions::file(args.data_dir.join("sentinel.sqlite")))
                .await
                .context("opening the SQLite store")?,
        ),
    })
}

/// The coordinator the flags select.
async fn open_coordinator(args: &Args) -> anyhow::Result<Arc<dyn Coordinator>> {
    Ok(match &args.redis_url {
        Some(url) => {
            let mut opts = RedisOptions::new(url.as_str());
            opts.prefix = args.redis_prefix.clone();
            Arc::new(
                RedisCoordinator::connect(opts)
                    .await
                    .context("connecting the Redis coordinator")?,
            )
        }
        None => Arc::new(MemoryCoordinator::new()),
    })
}

/// Accepts only absolute http(s) URLs, so a typo fails at start and not at the first flip.
pub fn parse_webhook_url(s: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(s).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("must be an absolute http:// or https:// URL".into());
    }
    Ok(s.to_owned())
}

/// Serves until Ctrl-C / SIGTERM.
pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        std::fs::create_dir_all(&args.data_dir)
            .with_context(|| format!("creating {}", args.data_dir.display()))?;
        let beacon = Arc::new(
            BeaconHttp::new(&args.beacon_url, &args.beacon_api_key)
                .context("beacon HTTP client")?,
        );
        let ws = args.beacon_ws_url.clone().unwrap_or_else(|| {
            format!(
                "{}/connection/websocket",
                args.beacon_url
                    .trim_end_matches('/')
                    .replacen("http", "ws", 1)
            )
        });
        let lease_ttl = Duration::from_millis(args.lease_ttl_ms.max(300));
        let store = open_store(&args).await?;
        let coordinator = open_coordinator(&args).await?;
        let result_log = open_result_log(&args).await?;
        // The recorder first, so the sentinel's series registered at start are kept.
        if wowlab_beacon::prometheus_handle().is_none() {
            tracing::warn!("metrics recorder unavailable; /metrics will answer 503");
        }
        let sentinel = Sentinel::start(
            SentinelConfig {
                api: NodeApiConfig {
                    lease_ttl,
                    beacon_ws_url: ws,
                    verify: VerifyConfig::from_env().map_err(anyhow::Error::msg)?,
                    ..NodeApiConfig::default()
                },
                reclaim_interval: (lease_ttl / 10)
                    .clamp(Duration::from_millis(50), Duration::from_secs(1)),
                presence_interval: Duration::from_millis(args.presence_interval_ms.max(100)),
                security: SecurityConfig::from_env()?,
                ..SentinelConfig::default()
            },
            SentinelParts {
                store,
                coordinator,
                publisher: beacon.clone(),
                clock: Arc::new(SystemClock),
                merger: SimMerger,
                engine: Arc::new(SimEngine),
                tokens: TokenMinter::new(args.token_secret.as_bytes()),
                presence: Some(beacon),
                webhook: args
                    .webhook_url
                    .as_deref()
                    .map(Webhook::new)
                    .transpose()
                    .context("webhook HTTP client")?,
                result_log,
            },
        )
        .await
        .context("starting the sentinel")?;
        // Kept for the process's life: its task refreshes the sentinel's own credentials.
        let _tunnel_connection = match &args.tunnel_nats_url {
            Some(url) => connect_tunnel(&args, url, sentinel.state()).await?,
            None => None,
        };
        let app = sentinel
            .router()
            .route("/metrics", get(crate::grid::metrics));
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("binding {}", args.addr))?;
        let local = listener.local_addr()?;
        println!("sentinel listening on http://{local}");
        std::io::Write::flush(&mut std::io::stdout())?;
        // The peer address keys the sign-in and token rate limits.
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(crate::cmd::up::shutdown_signal())
        .await?;
        sentinel.shutdown().await;
        Ok(())
    })
}
