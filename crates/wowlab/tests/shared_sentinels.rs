//! Two `wowlab sentinel` processes sharing one Redis (coordination) and one PostgreSQL (store)
//! behind one beacon: a job submitted to sentinel A is computed by a node that talks only to
//! sentinel B, and the result is byte-identical to `wowlab sim`. Needs
//! `WOWLAB_TEST_REDIS_URL` and `WOWLAB_TEST_POSTGRES_URL`; skipped without them unless `CI` is
//! set, where their absence fails the test.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::*;

fn services() -> Option<(String, String)> {
    match (
        std::env::var("WOWLAB_TEST_REDIS_URL"),
        std::env::var("WOWLAB_TEST_POSTGRES_URL"),
    ) {
        (Ok(r), Ok(p)) if !r.is_empty() && !p.is_empty() => Some((r, p)),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but WOWLAB_TEST_REDIS_URL / WOWLAB_TEST_POSTGRES_URL are not"
            );
            eprintln!("Redis or PostgreSQL test URL not set: skipping");
            None
        }
    }
}

fn profile() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/profiles/pet-procs.toml")
}

/// Starts `wowlab sentinel` `name` on the shared engines; returns it and its URL.
fn start_sentinel(
    dir: &Path,
    name: &str,
    beacon: &str,
    (redis, postgres): (&str, &str),
    (prefix, schema): (&str, &str),
) -> (Proc, String) {
    let port = free_port();
    let log = std::fs::File::create(dir.join(format!("sentinel-{name}.log"))).unwrap();
    let child = Command::new(BIN)
        .arg("sentinel")
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir.join(format!("sentinel-{name}")))
        .args(["--redis-url", redis, "--redis-prefix", prefix])
        .args(["--postgres-url", postgres, "--postgres-schema", schema])
        .args(["--postgres-pool-size", "4"])
        .env("WOWLAB_SENTINEL_BEACON_URL", beacon)
        .env("WOWLAB_SENTINEL_BEACON_API_KEY", "shared-key")
        .env("WOWLAB_SENTINEL_TOKEN_SECRET", "shared-secret")
        .env("WOWLAB_LEASE_TTL_MS", "3000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let p = Proc(child);
    let url = format!("http://127.0.0.1:{port}");
    wait_until("sentinel up", Duration::from_secs(60), || {
        http(&format!("{url}/readyz"), "GET", None, None).is_some_and(|(s, _)| s == 200)
    });
    (p, url)
}

#[test]
fn a_job_submitted_to_one_sentinel_is_completed_through_another() {
    let Some((redis, postgres)) = services() else {
        return;
    };
    let dir = tempdir("shared-sentinels");
    let run_id = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        ^ u128::from(std::process::id());
    let prefix = format!("wowlab-e2e:{run_id:x}:");
    let schema = format!("wowlab_e2e_{run_id:x}");
    let (_beacon, beacon_url) = start_beacon(&dir, "shared-secret", "shared-key");
    let engines = (redis.as_str(), postgres.as_str());
    let (sentinel_a, url_a) = start_sentinel(&dir, "a", &beacon_url, engines, (&prefix, &schema));
    let (sentinel_b, url_b) = start_sentinel(&dir, "b", &beacon_url, engines, (&prefix, &schema));
    // The account made on A is known to B: they share the store.
    let (api_token, claim_token) = account(&url_a, &dir.join("cookies"), "shared@example.org");
    let node = Proc(
        Command::new(BIN)
            .arg("node")
            .args(["--sentinel", &url_b, "--claim-token", &claim_token])
            .arg("--data-dir")
            .arg(dir.join("node"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("node registered via B", Duration::from_secs(60), || {
        http(&format!("{url_a}/api/nodes"), "GET", Some(&api_token), None)
            .is_some_and(|(s, b)| s == 200 && json(&b).as_array().is_some_and(|a| a.len() == 1))
    });
    let run = |sentinel: &str| {
        Command::new(BIN)
            .arg("run")
            .arg(profile())
            .args(["-n", "400", "--seed", "21", "--chunk-size", "50"])
            .args(["--json", "--quiet", "--sentinel", sentinel])
            .args(["--token", &api_token])
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let out = run(&url_a);
    let logs = || {
        ["a", "b"]
            .iter()
            .map(|n| std::fs::read_to_string(dir.join(format!("sentinel-{n}.log"))).unwrap())
            .collect::<Vec<_>>()
            .join("\n---\n")
    };
    assert!(
        out.status.success(),
        "wowlab run via A failed: {}\nsentinel logs:\n{}",
        String::from_utf8_lossy(&out.stderr),
        logs()
    );
    let local = Command::new(BIN)
        .arg("sim")
        .arg(profile())
        .args(["-n", "400", "--seed", "21", "--json", "--quiet"])
        .output()
        .unwrap();
    assert!(local.status.success());
    assert_eq!(
        out.stdout, local.stdout,
        "grid result differs from wowlab sim"
    );
    // B lists the job A accepted, completed.
    let (_, jobs) = http(&format!("{url_b}/api/jobs"), "GET", Some(&api_token), None).unwrap();
    assert_eq!(json(&jobs)[0]["status"], "completed");
    // Leave the shared servers as found, once nothing writes to them any more.
    drop((node, sentinel_a, sentinel_b));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = Command::new("psql")
        .arg(&postgres)
        .args([
            "-q",
            "-c",
            &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        ])
        .output();
    let _ = Command::new("redis-cli")
        .args(["-u", &redis, "--scan", "--pattern", &format!("{prefix}*")])
        .output()
        .map(|o| {
            for k in String::from_utf8_lossy(&o.stdout).lines() {
                let _ = Command::new("redis-cli")
                    .args(["-u", &redis, "DEL", k])
                    .output();
            }
        });
}
