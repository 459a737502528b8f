//! The cluster fault suite: 2 beacons (NATS broker, Redis presence), 2 sentinels (Redis
//! coordination, PostgreSQL store, JetStream result log) and 3 nodes run one 200,000-iteration
//! job while, in turn, a sentinel is `kill -9`ed, a beacon is `kill -9`ed, Redis is restarted
//! with its data gone, NATS is restarted, and a node is `kill -9`ed. After each fault the test
//! waits for the job to make progress again and logs how long that took; the job's output must
//! be byte-identical to `wowlab sim`.
//!
//! Redis and NATS are this test's own servers (it restarts them); PostgreSQL is
//! `WOWLAB_TEST_POSTGRES_URL` (a schema of its own). Needs `nats-server` and `redis-server`;
//! without them or the URL the test skips, except under `CI`, where that fails.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::*;

const ITERATIONS: &str = "200000";
const SEED: &str = "97";

struct Prereqs {
    postgres: String,
    nats_bin: PathBuf,
    redis_bin: PathBuf,
}

fn prereqs() -> Option<Prereqs> {
    let postgres = std::env::var("WOWLAB_TEST_POSTGRES_URL")
        .ok()
        .filter(|v| !v.is_empty());
    match (
        postgres,
        server_bin("nats-server"),
        server_bin("redis-server"),
    ) {
        (Some(postgres), Some(nats_bin), Some(redis_bin)) => Some(Prereqs {
            postgres,
            nats_bin,
            redis_bin,
        }),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but WOWLAB_TEST_POSTGRES_URL, nats-server or redis-server is missing"
            );
            eprintln!("PostgreSQL URL, nats-server or redis-server missing: skipping");
            None
        }
    }
}

/// Waits until `log` contains `needle` (the server's readiness line).
fn wait_for_line(what: &str, log: &Path, needle: &str) {
    wait_until(what, Duration::from_secs(30), || {
        std::fs::read_to_string(log).is_ok_and(|l| l.contains(needle))
    });
}

fn start_nats(bin: &Path, dir: &Path, port: u16) -> Proc {
    let log = dir.join("nats.log");
    let _ = std::fs::remove_file(&log);
    let p = Proc(
        Command::new(bin)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir.join("nats-store"))
            .arg("-l")
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_line("nats-server ready", &log, "Server is ready");
    p
}

/// Redis without persistence: a restart comes back empty (the "flushed" fault).
fn start_redis(bin: &Path, dir: &Path, port: u16) -> Proc {
    let log = dir.join("redis.log");
    let _ = std::fs::remove_file(&log);
    let p = Proc(
        Command::new(bin)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--logfile"])
            .arg(&log)
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_line("redis-server ready", &log, "Ready to accept connections");
    p
}

fn start_beacon(dir: &Path, name: &str, nats: &str, redis: &str) -> (Proc, String) {
    let port = free_port();
    let cfg = serde_json::json!({
        "http_server": {"address": "127.0.0.1", "port": port},
        "client": {"token": {"hmac_secret_key": "cluster-secret"}},
        "http_api": {"key": "cluster-key"},
        "channel": {"namespaces": [
            {"name": "chunks"},
            {"name": "nodes", "presence": true, "join_leave": true},
            {"name": "jobs", "history_size": 16, "history_ttl": "600s"}
        ]},
        "broker": {"enabled": true, "type": "nats", "nats": {"url": nats, "prefix": "faults"}},
        "presence_manager": {"enabled": true, "type": "redis",
            "redis": {"address": redis, "prefix": "faults-beacon", "presence_ttl": "60s"}}
    });
    let path = dir.join(format!("beacon-{name}.json"));
    std::fs::write(&path, cfg.to_string()).unwrap();
    let p = Proc(
        Command::new(BIN)
            .arg("beacon")
            .arg("--config")
            .arg(&path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join(format!("beacon-{name}.log"))).unwrap())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}");
    wait_until("beacon up", Duration::from_secs(30), || {
        http(&format!("{url}/health"), "GET", None, None).is_some_and(|(s, _)| s == 200)
    });
    (p, url)
}

struct Engines {
    redis: String,
    postgres: String,
    schema: String,
    nats: String,
}

fn start_sentinel(dir: &Path, name: &str, beacon: &str, e: &Engines) -> (Proc, String) {
    let port = free_port();
    let p = Proc(
        Command::new(BIN)
            .arg("sentinel")
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(dir.join(format!("sentinel-{name}")))
            .args(["--redis-url", &e.redis, "--redis-prefix", "faults:"])
            .args([
                "--postgres-url",
                &e.postgres,
                "--postgres-schema",
                &e.schema,
            ])
            .args(["--postgres-pool-size", "4", "--nats-url", &e.nats])
            .env("WOWLAB_SENTINEL_BEACON_URL", beacon)
            .env("WOWLAB_SENTINEL_BEACON_API_KEY", "cluster-key")
            .env("WOWLAB_SENTINEL_TOKEN_SECRET", "cluster-secret")
            .env("WOWLAB_LEASE_TTL_MS", "3000")
            .env("RUST_LOG", "warn,wowlab_sentinel=info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join(format!("sentinel-{name}.log"))).unwrap())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}");
    wait_until("sentinel up", Duration::from_secs(60), || {
        http(&format!("{url}/readyz"), "GET", None, None).is_some_and(|(s, _)| s == 200)
    });
    (p, url)
}

/// A copy of an example profile with a 120 s fight instead of 300 s: 200,000 iterations then
/// take a few times longer than the five faults and their recoveries on two cores, yet stay
/// affordable in a debug build. The test checks the job is still running before each fault,
/// so a machine fast enough to outrun them fails loudly rather than proving nothing.
fn profile(dir: &Path) -> PathBuf {
    let src = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/profiles/burst-cooldowns.toml"),
    )
    .unwrap();
    assert!(src.contains("duration = 300"));
    let path = dir.join("burst-cooldowns-120s.toml");
    std::fs::write(&path, src.replace("duration = 300", "duration = 120")).unwrap();
    path
}

/// Chunks done so far, as the surviving sentinel reports it (`None` while it cannot tell).
fn chunks_done(url: &str, token: &str) -> Option<u64> {
    let (s, b) = http(&format!("{url}/api/jobs"), "GET", Some(token), None)?;
    if s != 200 {
        return None;
    }
    let j = json(&b);
    if j[0]["status"] == "completed" {
        return Some(u64::MAX);
    }
    j[0]["progress"]["done"].as_u64()
}

/// Chunk results the projector has persisted (with the JetStream log only it writes them).
fn persisted(postgres: &str, schema: &str) -> Option<u64> {
    let out = Command::new("psql")
        .arg(postgres)
        .args(["-tAc"])
        .arg(format!("SELECT count(*) FROM {schema}.chunk_results"))
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// What the test watches to call the grid recovered.
struct Watch<'a> {
    url: &'a str,
    token: &'a str,
    postgres: &'a str,
    schema: &'a str,
}

impl Watch<'_> {
    /// Runs `fault`, then waits until both the scheduler's done count and the projector's
    /// persisted results pass what they were before; logs and returns the time that took.
    fn survive(&self, what: &str, fault: impl FnOnce()) -> Duration {
        let done = chunks_done(self.url, self.token).unwrap_or(0);
        assert_ne!(done, u64::MAX, "the job outran the faults (before: {what})");
        let stored = persisted(self.postgres, self.schema).unwrap_or(0);
        let start = Instant::now();
        fault();
        wait_until(
            &format!("scheduling and projection after: {what}"),
            Duration::from_secs(120),
            || {
                chunks_done(self.url, self.token).is_some_and(|d| d > done)
                    && persisted(self.postgres, self.schema).is_some_and(|p| p > stored)
            },
        );
        let took = start.elapsed();
        eprintln!("fault: {what}: progress again after {took:?}");
        took
    }
}

#[test]
fn a_job_survives_sentinel_beacon_redis_nats_and_node_faults_byte_identical() {
    let Some(pre) = prereqs() else {
        return;
    };
    let dir = tempdir("cluster-faults");
    let run_id = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        ^ u128::from(std::process::id());
    let (nats_port, redis_port) = (free_port(), free_port());
    let mut nats = start_nats(&pre.nats_bin, &dir, nats_port);
    let mut redis = start_redis(&pre.redis_bin, &dir, redis_port);
    let engines = Engines {
        redis: format!("redis://127.0.0.1:{redis_port}"),
        postgres: pre.postgres.clone(),
        schema: format!("wowlab_faults_{run_id:x}"),
        nats: format!("nats://127.0.0.1:{nats_port}"),
    };
    let (mut beacon_a, beacon_a_url) = start_beacon(&dir, "a", &engines.nats, &engines.redis);
    let (beacon_b, beacon_b_url) = start_beacon(&dir, "b", &engines.nats, &engines.redis);
    let (mut sentinel_a, url_a) = start_sentinel(&dir, "a", &beacon_a_url, &engines);
    // A leads (projector, reclaim, presence) before B exists, so its death is a leader's.
    wait_until(
        "sentinel A leads the projector",
        Duration::from_secs(30),
        || {
            std::fs::read_to_string(dir.join("sentinel-a.log"))
                .is_ok_and(|l| l.contains("projector consuming the result log"))
        },
    );
    let (sentinel_b, url_b) = start_sentinel(&dir, "b", &beacon_b_url, &engines);
    let both = format!("{url_a},{url_b}");
    let (token, claim) = account(&url_a, &dir.join("cookies"), "faults@example.org");
    let mut nodes: Vec<Proc> = (1..=3)
        .map(|i| {
            start_node(
                &both,
                &claim,
                &dir.join(format!("node-{i}")),
                &format!("n{i}"),
            )
        })
        .collect();
    wait_until("3 nodes registered", Duration::from_secs(60), || {
        http(&format!("{url_b}/api/nodes"), "GET", Some(&token), None)
            .is_some_and(|(s, b)| s == 200 && json(&b).as_array().is_some_and(|a| a.len() == 3))
    });
    let profile = profile(&dir);
    let run = Command::new(BIN)
        .arg("run")
        .arg(&profile)
        .args(["-n", ITERATIONS, "--seed", SEED, "--chunk-size", "250"])
        .args(["--json", "--quiet", "--sentinel", &both, "--token", &token])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the job started", Duration::from_secs(60), || {
        chunks_done(&url_b, &token).is_some_and(|d| d >= 1)
    });
    // The reference run at the same time: the test takes as long as the longer of the two.
    let local = Command::new(BIN)
        .arg("sim")
        .arg(&profile)
        .args(["-n", ITERATIONS, "--seed", SEED, "--json", "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let watch = Watch {
        url: &url_b,
        token: &token,
        postgres: &pre.postgres,
        schema: &engines.schema,
    };
    let report = [
        (
            "sentinel A kill -9",
            watch.survive("sentinel A kill -9", || sentinel_a.0.kill().unwrap()),
        ),
        (
            "beacon A kill -9",
            watch.survive("beacon A kill -9", || beacon_a.0.kill().unwrap()),
        ),
        (
            "Redis restarted empty",
            watch.survive("Redis restarted empty", || {
                redis.0.kill().unwrap();
                let _ = redis.0.wait();
                redis = start_redis(&pre.redis_bin, &dir, redis_port);
            }),
        ),
        (
            "NATS restarted",
            watch.survive("NATS restarted", || {
                nats.0.kill().unwrap();
                let _ = nats.0.wait();
                nats = start_nats(&pre.nats_bin, &dir, nats_port);
            }),
        ),
        (
            "node 1 kill -9",
            watch.survive("node 1 kill -9", || nodes[0].0.kill().unwrap()),
        ),
    ];

    let out = run.wait_with_output().unwrap();
    let local = local.wait_with_output().unwrap();
    assert_run_equals_sim(&out, &local, &dir, &["sentinel-a.log", "sentinel-b.log"]);
    for (what, took) in &report {
        eprintln!("recovered from {what} in {took:?}");
    }
    drop((
        nodes, sentinel_a, sentinel_b, beacon_a, beacon_b, nats, redis,
    ));
    let _ = Command::new("psql")
        .arg(&pre.postgres)
        .args(["-q", "-c"])
        .arg(format!("DROP SCHEMA IF EXISTS {} CASCADE", engines.schema))
        .output();
    let _ = std::fs::remove_dir_all(&dir);
}
