//! Helpers shared by the end-to-end tests: child processes killed on drop, free loopback
//! ports, scratch dirs, a curl-based HTTP client (keeps test dependencies at zero), the
//! `wowlab sim` reference run, a standalone beacon + sentinel pair and ([`shared`]) sentinels
//! on shared Redis, PostgreSQL and JetStream.
#![allow(dead_code)] // each test file uses its own subset

pub mod shared;
pub mod webhook;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_wowlab");

/// A child killed when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port free right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server binary from PATH or the Debian sbin dirs.
pub fn server_bin(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain(["/usr/sbin", "/usr/bin", "/usr/local/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A fresh directory under the system temp dir.
pub fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "wowlab-e2e-{tag}-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos() ^ u128::from(free_port())
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Minimal HTTP/1.1 client over curl: `(status, body)`, `None` if curl could not connect.
pub fn http(
    url: &str,
    method: &str,
    bearer: Option<&str>,
    body: Option<&str>,
) -> Option<(u16, String)> {
    let mut c = Command::new("curl");
    c.args(["-s", "-m", "10", "-X", method, "-w", "\n%{http_code}", url]);
    if let Some(t) = bearer {
        c.args(["-H", &format!("authorization: Bearer {t}")]);
    }
    if let Some(b) = body {
        c.args(["-H", "content-type: application/json", "-d", b]);
    }
    let out = c.output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n')?;
    Some((code.trim().parse().ok()?, body.to_owned()))
}

/// POSTs JSON with curl, keeping the session cookie in `jar`; returns the response body.
pub fn post_with_cookies(jar: &Path, url: &str, body: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "-m", "10", "-c"])
        .arg(jar)
        .arg("-b")
        .arg(jar)
        .args([
            "-H",
            "content-type: application/json",
            "-X",
            "POST",
            "-d",
            body,
        ])
        .arg(url)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Parses JSON or panics showing the text.
pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// An example profile of the repository, `examples/profiles/{name}`.
pub fn example_profile(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/profiles")
        .join(name)
}

/// What `wowlab sim PROFILE -n N --seed SEED --json --quiet` prints: the bytes a grid run of
/// the same inputs must equal.
pub fn local_sim(profile: &Path, n: u64, seed: u64) -> String {
    let out = Command::new(BIN)
        .arg("sim")
        .arg(profile)
        .args(["-n", &n.to_string(), "--seed", &seed.to_string()])
        .args(["--json", "--quiet"])
        .output()
        .expect("spawn wowlab sim");
    assert!(
        out.status.success(),
        "wowlab sim failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("wowlab sim printed UTF-8")
}

/// A server's Prometheus text from `{url}/metrics`.
pub fn metrics(url: &str) -> String {
    http(&format!("{url}/metrics"), "GET", None, None)
        .filter(|(s, _)| *s == 200)
        .map(|(_, b)| b)
        .unwrap_or_else(|| panic!("no /metrics at {url}"))
}

/// A counter's value in Prometheus text: the series named exactly `name_and_labels` (0 until
/// first incremented).
pub fn counter(metrics: &str, name_and_labels: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(series, _)| *series == name_and_labels)
        .filter_map(|(_, v)| v.trim().parse::<f64>().ok())
        .sum()
}

/// Polls `f` every 100 ms until it holds; panics naming `what` after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts `wowlab beacon` on a free port with the grid's namespaces, this token secret and
/// HTTP API key; returns it and its HTTP URL once `/health` answers.
pub fn start_beacon(dir: &Path, token_secret: &str, api_key: &str) -> (Proc, String) {
    let port = free_port();
    let cfg = serde_json::json!({
        "http_server": {"address": "127.0.0.1", "port": port},
        "client": {"token": {"hmac_secret_key": token_secret}},
        "http_api": {"key": api_key},
        "channel": {"namespaces": [
            {"name": "chunks"},
            {"name": "nodes", "presence": true, "join_leave": true},
            {"name": "jobs", "history_size": 16, "history_ttl": "600s"}
        ]}
    });
    let cfg_path = dir.join("beacon.json");
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let beacon = Proc(
        Command::new(BIN)
            .arg("beacon")
            .arg("--config")
            .arg(&cfg_path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}");
    wait_until("beacon up", Duration::from_secs(30), || {
        http(&format!("{url}/health"), "GET", None, None).is_some_and(|(s, _)| s == 200)
    });
    (beacon, url)
}

/// A `wowlab beacon` and a `wowlab sentinel` talking to it over its HTTP API.
pub struct Standalone {
    /// The sentinel's base URL.
    pub url: String,
    /// The sentinel's port.
    pub port: u16,
    pub beacon: Proc,
    pub sentinel: Proc,
}

/// Starts beacon (with the grid's namespaces) and a sentinel using it; `sentinel_env` adds
/// `WOWLAB_*` settings to the sentinel.
pub fn start_standalone(dir: &Path, sentinel_env: &[(&str, &str)]) -> Standalone {
    let (beacon, beacon_url) = start_beacon(dir, "standalone-secret", "standalone-key");
    let sport = free_port();
    let mut cmd = Command::new(BIN);
    cmd.arg("sentinel")
        .args(["--addr", &format!("127.0.0.1:{sport}")])
        .arg("--data-dir")
        .arg(dir.join("sentinel"))
        .env("WOWLAB_SENTINEL_BEACON_URL", &beacon_url)
        .env("WOWLAB_SENTINEL_BEACON_API_KEY", "standalone-key")
        .env("WOWLAB_SENTINEL_TOKEN_SECRET", "standalone-secret")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in sentinel_env {
        cmd.env(k, v);
    }
    let sentinel = Proc(cmd.spawn().unwrap());
    let url = format!("http://127.0.0.1:{sport}");
    wait_until("sentinel up", Duration::from_secs(30), || {
        http(&format!("{url}/readyz"), "GET", None, None).is_some_and(|(s, _)| s == 200)
    });
    Standalone {
        url,
        port: sport,
        beacon,
        sentinel,
    }
}

/// Starts `wowlab up` (one in-process node, one slot, no tunnel NATS) on a free port with its
/// data in `dir/grid`; returns it and its URL once `/readyz` answers.
pub fn start_up(dir: &Path) -> (Proc, String) {
    let port = free_port();
    let up = Proc(
        Command::new(BIN)
            .args(["up", "--nodes", "1", "--slots", "1", "--addr"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(dir.join("grid"))
            .env("RUST_LOG", "info")
            .env_remove("WOWLAB_SENTINEL_TUNNEL_NATS_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn wowlab up"),
    );
    let url = format!("http://127.0.0.1:{port}");
    wait_until("grid ready", Duration::from_secs(60), || {
        http(&format!("{url}/readyz"), "GET", None, None).is_some_and(|(s, _)| s == 200)
    });
    (up, url)
}

/// Signs up `email` on the sentinel at `url` and returns `(api token, claim token)`.
pub fn account(url: &str, jar: &Path, email: &str) -> (String, String) {
    let post = |path: &str, body: &str| post_with_cookies(jar, &format!("{url}{path}"), body);
    // Only a 201 answers with the new user (errors are `{"error": …}`).
    let signed_up = post(
        "/api/auth/signup",
        &format!(r#"{{"email":"{email}","password":"password123"}}"#),
    );
    assert_eq!(json(&signed_up)["email"], email, "{signed_up}");
    let api_token = json(&post("/api/tokens", r#"{"name":"e2e"}"#))["token"]
        .as_str()
        .expect("api token")
        .to_owned();
    let claim_token = json(&post("/api/claim-tokens", "{}"))["token"]
        .as_str()
        .expect("claim token")
        .to_owned();
    (api_token, claim_token)
}

/// Starts a `wowlab node` process claimed with `claim_token`, one slot, state in `data_dir`.
pub fn start_node(url: &str, claim_token: &str, data_dir: &Path, name: &str) -> Proc {
    Proc(
        Command::new(BIN)
            .arg("node")
            .args(["--sentinel", url, "--claim-token", claim_token])
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--max-parallel", "1", "--name", name])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn wowlab node"),
    )
}

/// Asserts that `run` (a `wowlab run`) succeeded and printed exactly what `sim` (`wowlab sim`
/// with the same inputs) printed; a failed run shows the logs named in `logs` (files in `dir`).
pub fn assert_run_equals_sim(run: &Output, sim: &Output, dir: &Path, logs: &[&str]) {
    let logs = || {
        logs.iter()
            .map(|name| std::fs::read_to_string(dir.join(name)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n---\n")
    };
    assert!(
        run.status.success(),
        "wowlab run failed: {}\nlogs:\n{}",
        String::from_utf8_lossy(&run.stderr),
        logs()
    );
    assert!(sim.status.success(), "wowlab sim failed");
    assert_eq!(
        run.stdout, sim.stdout,
        "grid result differs from wowlab sim"
    );
}
