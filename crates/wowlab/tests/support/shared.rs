//! Sentinels on shared engines (distributed mode): one Redis (coordination), one PostgreSQL
//! (store) and one JetStream result log, each test run under names of its own so runs on the
//! same servers never meet. The servers come from `WOWLAB_TEST_REDIS_URL`,
//! `WOWLAB_TEST_POSTGRES_URL` and `WOWLAB_TEST_NATS_URL`; without them a test skips, unless
//! `CI` is set, where their absence fails it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wowlab_sentinel::result_log::{JetStreamLog, JetStreamOptions};

use super::{free_port, http, wait_until, Proc, BIN};

/// The beacon's token secret the shared sentinels sign with (pass it to `start_beacon`).
pub const TOKEN_SECRET: &str = "shared-secret";
/// The beacon's HTTP API key the shared sentinels use (pass it to `start_beacon`).
pub const API_KEY: &str = "shared-key";

/// The shared engines of one test run, each under names of its own.
pub struct Shared {
    /// Redis URL.
    pub redis: String,
    /// PostgreSQL URL.
    pub postgres: String,
    /// NATS URL (JetStream enabled).
    pub nats: String,
    /// This run's Redis key prefix.
    pub prefix: String,
    /// This run's PostgreSQL schema.
    pub schema: String,
    /// This run's JetStream stream.
    pub stream: String,
}

/// The engines from the environment, or `None` (the test skips) outside CI.
pub fn services() -> Option<Shared> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (
        var("WOWLAB_TEST_REDIS_URL"),
        var("WOWLAB_TEST_POSTGRES_URL"),
        var("WOWLAB_TEST_NATS_URL"),
    ) {
        (Some(redis), Some(postgres), Some(nats)) => {
            let run_id = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos()
                ^ u128::from(std::process::id());
            Some(Shared {
                redis,
                postgres,
                nats,
                prefix: format!("wowlab-e2e:{run_id:x}:"),
                schema: format!("wowlab_e2e_{run_id:x}"),
                stream: format!("WOWLAB_E2E_{run_id:x}"),
            })
        }
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but WOWLAB_TEST_REDIS_URL / WOWLAB_TEST_POSTGRES_URL / \
                 WOWLAB_TEST_NATS_URL are not"
            );
            eprintln!("Redis, PostgreSQL or NATS test URL not set: skipping");
            None
        }
    }
}

impl Shared {
    /// Leaves the shared servers as found, once nothing writes to them any more.
    pub fn clean_up(&self) {
        let _ = Command::new("psql")
            .arg(&self.postgres)
            .args([
                "-q",
                "-c",
                &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema),
            ])
            .output();
        let _ = Command::new("redis-cli")
            .args(["-u", &self.redis, "--scan", "--pattern"])
            .arg(format!("{}*", self.prefix))
            .output()
            .map(|o| {
                for k in String::from_utf8_lossy(&o.stdout).lines() {
                    let _ = Command::new("redis-cli")
                        .args(["-u", &self.redis, "DEL", k])
                        .output();
                }
            });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut opts = JetStreamOptions::new(self.nats.as_str());
            opts.stream = self.stream.clone();
            opts.subject = format!("wowlab.results.{}", self.stream.to_lowercase());
            if let Ok(log) = JetStreamLog::connect(opts).await {
                let _ = log.delete_stream().await;
            }
        });
    }
}

/// Starts `wowlab sentinel` `name` on the shared engines, publishing through the beacon at
/// `beacon` (started with [`TOKEN_SECRET`] and [`API_KEY`]), with 3 s leases and `env` added;
/// its log goes to `dir/sentinel-{name}.log`. Returns it and its URL once `/readyz` answers.
pub fn start_sentinel(
    dir: &Path,
    name: &str,
    beacon: &str,
    shared: &Shared,
    env: &[(&str, &str)],
) -> (Proc, String) {
    let port = free_port();
    let log = std::fs::File::create(dir.join(format!("sentinel-{name}.log"))).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("sentinel")
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir.join(format!("sentinel-{name}")))
        .args([
            "--redis-url",
            &shared.redis,
            "--redis-prefix",
            &shared.prefix,
        ])
        .args(["--postgres-url", &shared.postgres])
        .args(["--postgres-schema", &shared.schema])
        .args(["--postgres-pool-size", "4"])
        .args(["--nats-url", &shared.nats, "--nats-stream", &shared.stream])
        .env("WOWLAB_SENTINEL_BEACON_URL", beacon)
        .env("WOWLAB_SENTINEL_BEACON_API_KEY", API_KEY)
        .env("WOWLAB_SENTINEL_TOKEN_SECRET", TOKEN_SECRET)
        .env("WOWLAB_LEASE_TTL_MS", "3000")
        // Leadership changes are logged at info.
        .env("RUST_LOG", "warn,wowlab_sentinel=info")
        .stdout(Stdio::null())
        .stderr(log);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let p = Proc(cmd.spawn().unwrap());
    let url = format!("http://127.0.0.1:{port}");
    wait_until("sentinel up", Duration::from_secs(60), || {
        http(&format!("{url}/readyz"), "GET", None, None).is_some_and(|(s, _)| s == 200)
    });
    (p, url)
}
