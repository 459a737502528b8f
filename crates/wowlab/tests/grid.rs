//! End-to-end tests of the grid with real processes on loopback: `wowlab up` (sentinel +
//! beacon, no in-process nodes), separate `wowlab node` processes, `wowlab run --sentinel`.
//! Leases are short (1.5 s TTL) so failure handling shows within seconds. Nodes run with their
//! default lease polling (a slow safety net): work reaches them by push on `chunks:{node}` and
//! in completion replies.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::*;
const LEASE_TTL_MS: u64 = 1500;

fn profile() -> PathBuf {
    example_profile("pet-procs.toml")
}

struct Grid {
    url: String,
    port: u16,
    dir: PathBuf,
    sentinel: Option<Proc>,
    nodes: Vec<Proc>,
    api_token: String,
    claim_token: String,
}

fn start_sentinel(port: u16, dir: &Path) -> Proc {
    start_sentinel_with_ttl(port, dir, LEASE_TTL_MS)
}

fn start_sentinel_with_ttl(port: u16, dir: &Path, lease_ttl_ms: u64) -> Proc {
    let child = Command::new(BIN)
        .args(["up", "--nodes", "0", "--addr"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(dir)
        .args(["--lease-ttl-ms", &lease_ttl_ms.to_string()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn wowlab up");
    let p = Proc(child);
    wait_until("sentinel ready", Duration::from_secs(60), || {
        http(
            &format!("http://127.0.0.1:{port}/readyz"),
            "GET",
            None,
            None,
        )
        .is_some_and(|(s, _)| s == 200)
    });
    p
}

impl Grid {
    fn start(nodes: usize) -> Self {
        Self::start_with_ttl(nodes, LEASE_TTL_MS)
    }

    fn start_with_ttl(nodes: usize, lease_ttl_ms: u64) -> Self {
        let port = free_port();
        let dir = tempdir("grid");
        let sentinel = start_sentinel_with_ttl(port, &dir.join("sentinel"), lease_ttl_ms);
        let url = format!("http://127.0.0.1:{port}");
        let (api_token, claim_token) = account(&url, &dir.join("cookies"), "e2e@example.org");
        let mut g = Grid {
            url,
            port,
            dir,
            sentinel: Some(sentinel),
            nodes: Vec::new(),
            api_token,
            claim_token,
        };
        for i in 0..nodes {
            g.add_node(i);
        }
        g.wait_nodes(nodes);
        g
    }

    fn add_node(&mut self, i: usize) {
        self.add_node_with(i, &[]);
    }

    /// Starts node `i` with extra `wowlab node` flags.
    fn add_node_with(&mut self, i: usize, extra: &[&str]) {
        let child = Command::new(BIN)
            .arg("node")
            .args(extra)
            .args(["--sentinel", &self.url, "--claim-token", &self.claim_token])
            .arg("--data-dir")
            .arg(self.dir.join(format!("node-{i}")))
            .args(["--max-parallel", "1", "--name", &format!("e2e-{i}")])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn wowlab node");
        self.nodes.push(Proc(child));
    }

    fn wait_nodes(&self, n: usize) {
        wait_until("nodes registered", Duration::from_secs(60), || {
            http(
                &format!("{}/api/nodes", self.url),
                "GET",
                Some(&self.api_token),
                None,
            )
            .is_some_and(|(s, b)| s == 200 && json(&b).as_array().is_some_and(|a| a.len() >= n))
        });
    }

    /// `wowlab run --sentinel` for this grid's user, printing JSON.
    fn run_command(&self, n: u64, seed: u64, chunk: u64) -> Command {
        let mut c = Command::new(BIN);
        c.arg("run")
            .arg(profile())
            .args(["-n", &n.to_string(), "--seed", &seed.to_string()])
            .args(["--chunk-size", &chunk.to_string(), "--json", "--quiet"])
            .args(["--sentinel", &self.url, "--token", &self.api_token])
            .env("RUST_LOG", "warn");
        c
    }

    fn run(&self, n: u64, seed: u64, chunk: u64) -> Output {
        self.run_command(n, seed, chunk)
            .output()
            .expect("wowlab run")
    }

    fn run_async(&self, n: u64, seed: u64, chunk: u64) -> Child {
        self.run_command(n, seed, chunk)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("wowlab run")
    }

    fn jobs(&self) -> serde_json::Value {
        let (_, b) = http(
            &format!("{}/api/jobs", self.url),
            "GET",
            Some(&self.api_token),
            None,
        )
        .unwrap();
        json(&b)
    }
}

impl Drop for Grid {
    fn drop(&mut self) {
        self.nodes.clear();
        self.sentinel.take();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Waits for a `wowlab run` spawned with piped output; its stdout, after asserting success.
fn finished_ok(run: Child) -> String {
    stdout_ok(&run.wait_with_output().unwrap())
}

impl Grid {
    /// kill -9 the sentinel and start it again on the same data directory and port.
    fn restart_sentinel(&mut self) {
        let mut old = self.sentinel.take().unwrap();
        old.0.kill().unwrap();
        let _ = old.0.wait();
        self.sentinel = Some(start_sentinel(self.port, &self.dir.join("sentinel")));
    }
}

fn stdout_ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "wowlab run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn job_on_three_node_processes_is_bit_identical_to_local_sim() {
    let g = Grid::start(3);
    let out = g.run(600, 11, 50);
    assert_eq!(stdout_ok(&out), local_sim(&profile(), 600, 11));
    // The work really was spread: more than one node reported results... the job list shows
    // it completed; per-node counts are visible in the nodes' lastSeenAt.
    assert_eq!(g.jobs()[0]["status"], "completed");
}

impl Grid {
    fn metrics(&self) -> String {
        metrics(&self.url)
    }
}

#[test]
fn killed_node_leases_are_reclaimed_and_the_job_still_completes_identically() {
    // 3 s leases: heartbeats every second, a silent node is declared dead after 2 s; the
    // bound below (3 heartbeat intervals after the kill) keeps ≥ 0.75 s of margin.
    const TTL_MS: u64 = 3000;
    let heartbeat = Duration::from_millis(TTL_MS / 3);
    let mut g = Grid::start_with_ttl(0, TTL_MS);
    let victim_status = format!("127.0.0.1:{}", free_port());
    g.add_node_with(0, &["--status-addr", &victim_status]);
    g.add_node(1);
    g.wait_nodes(2);
    // 30 chunks of ~0.1 s each (debug build): the job outlives the kill by far.
    let (n, seed, chunk) = (4500, 5, 150);
    let mut run = g.run_async(n, seed, chunk);
    // Kill -9 the victim while it computes a chunk, after it has finished at least one.
    wait_until("victim busy mid-job", Duration::from_secs(60), || {
        node_status(&victim_status).is_some_and(|st| {
            st["active_chunks"].as_u64().is_some_and(|a| a >= 1)
                && st["completed"].as_u64().is_some_and(|c| c >= 1)
        })
    });
    let before = g.metrics();
    let dead_before = counter(&before, "sentinel_nodes_dead_total");
    let reclaimed_series = r#"sentinel_leases_reclaimed_total{cause="node_dead"}"#;
    let reclaimed_before = counter(&before, reclaimed_series);
    let mut victim = g.nodes.remove(0);
    victim.0.kill().unwrap(); // SIGKILL
    let killed_at = Instant::now();
    let _ = victim.0.wait();
    // Declared dead with its leases back in the pool, measured from here.
    let mut reclaimed = 0.0;
    while killed_at.elapsed() < Duration::from_secs(30) {
        let m = g.metrics();
        reclaimed = counter(&m, reclaimed_series) - reclaimed_before;
        if counter(&m, "sentinel_nodes_dead_total") > dead_before && reclaimed >= 1.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let took = killed_at.elapsed();
    eprintln!("killed node declared dead, {reclaimed} lease(s) reclaimed {took:?} after kill -9");
    assert!(
        reclaimed >= 1.0,
        "the killed node's leases were never reclaimed"
    );
    assert!(
        took <= heartbeat * 3,
        "leases reclaimed {took:?} after the kill; bound is 3 heartbeat intervals ({:?})",
        heartbeat * 3
    );
    let status = run.wait().unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(run.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert!(status.success());
    assert_eq!(out, local_sim(&profile(), n, seed));
}

#[test]
fn sentinel_restart_mid_job_and_the_job_completes() {
    let mut g = Grid::start(2);
    let run = g.run_async(1500, 8, 30);
    wait_until("job under way", Duration::from_secs(60), || {
        let j = g.jobs();
        j[0]["progress"]["done"].as_u64().is_some_and(|d| d >= 2)
    });
    g.restart_sentinel();
    let out = finished_ok(run);
    assert_eq!(out, local_sim(&profile(), 1500, 8));
}

#[test]
fn standalone_sentinel_with_external_beacon_runs_a_job() {
    let dir = tempdir("standalone");
    let Standalone {
        url,
        port,
        beacon: _beacon,
        sentinel,
    } = start_standalone(&dir, &[("WOWLAB_LEASE_TTL_MS", "1500")]);
    let (api_token, claim_token) = account(&url, &dir.join("cookies"), "solo@example.org");
    let mut g = Grid {
        url,
        port,
        dir: dir.clone(),
        sentinel: Some(sentinel),
        nodes: Vec::new(),
        api_token,
        claim_token,
    };
    g.add_node(0);
    g.wait_nodes(1);
    let out = g.run(200, 4, 50);
    assert_eq!(stdout_ok(&out), local_sim(&profile(), 200, 4));
}

/// GET a node's `/status` as JSON.
fn node_status(addr: &str) -> Option<serde_json::Value> {
    http(&format!("http://{addr}/status"), "GET", None, None)
        .filter(|(s, _)| *s == 200)
        .map(|(_, b)| json(&b))
}

#[test]
fn chunks_failed_by_a_node_time_limit_are_retried_on_another_node_and_the_job_is_identical() {
    let mut g = Grid::start(0);
    // Node 0 fails every chunk it takes (1 ms wall-time limit); node 1 is normal.
    let status_addr = format!("127.0.0.1:{}", free_port());
    g.add_node_with(
        0,
        &["--chunk-timeout-ms", "1", "--status-addr", &status_addr],
    );
    g.add_node(1);
    g.wait_nodes(2);
    let out = g.run(1500, 21, 30);
    assert_eq!(stdout_ok(&out), local_sim(&profile(), 1500, 21));
    assert_eq!(g.jobs()[0]["status"], "completed");
    // The limited node really took chunks and handed every one back as a failure, so the
    // result above was assembled from retries on the other node.
    let st = node_status(&status_addr).expect("limited node's /status");
    assert!(
        st["failed"].as_u64().is_some_and(|f| f >= 1),
        "limited node failed no chunk: {st}"
    );
    assert_eq!(st["completed"], 0, "{st}");
}

#[test]
fn a_chunk_failing_on_every_node_ends_the_job_failed_with_the_reason() {
    let mut g = Grid::start(0);
    g.add_node_with(0, &["--chunk-timeout-ms", "1"]);
    g.add_node_with(1, &["--chunk-timeout-ms", "1"]);
    g.wait_nodes(2);
    let out = g.run(300, 4, 30);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "job should fail: {stderr}");
    assert!(stderr.contains("time limit"), "{stderr}");
    let job = &g.jobs()[0];
    assert_eq!(job["status"], "failed", "{job}");
    let reason = job["failureReason"].as_str().unwrap_or_default();
    assert!(reason.contains("time limit"), "{job}");
}

/// The cheapest example profile: about 0.12 % half-width after 1024 iterations, so a
/// [`TARGET`] of 0.1 % stops after wave 1 (3072 iterations) and 0.05 % after wave 2 (7168).
fn target_profile() -> PathBuf {
    example_profile("dot-builder.toml")
}

const TARGET: f64 = 0.1;
const TARGET_MAX: u64 = 20_000;

/// `wowlab sim --target-error` (JSON) of [`target_profile`].
fn local_target_sim(target: f64, max: u64, seed: u64) -> String {
    let out = Command::new(BIN)
        .arg("sim")
        .arg(target_profile())
        .args(["--target-error", &target.to_string()])
        .args(["--max-iterations", &max.to_string()])
        .args(["--seed", &seed.to_string(), "--json", "--quiet"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Half-width of a `--json` report, percent of its mean, and its iterations.
fn half_width(out: &str) -> (f64, u64) {
    let r = &json(out)["report"];
    let pct = 100.0 * r["ci95_half_width"].as_f64().unwrap() / r["mean_dps"].as_f64().unwrap();
    (pct, r["iterations"].as_u64().unwrap())
}

/// The run stopped at the first whole wave whose merged result meets `target`: it meets it
/// (or hit the maximum), it ends on a wave boundary, and the wave before did not meet it.
fn assert_stopped_at_first_wave_meeting(out: &str, target: f64, max: u64, seed: u64) {
    let (pct, n) = half_width(out);
    assert!(pct <= target || n == max, "{pct} % after {n} iterations");
    let ends: Vec<u64> = (1..=20u32)
        .map(|w| (1024u64 * ((1 << w) - 1)).min(max))
        .collect();
    let at = ends
        .iter()
        .position(|&e| e == n)
        .expect("stops on a wave boundary");
    if at > 0 {
        let before = local_sim(&target_profile(), ends[at - 1], seed);
        let (pct_before, _) = half_width(&before);
        assert!(
            pct_before > target,
            "the wave ending at {} met the target already ({pct_before} %)",
            ends[at - 1]
        );
    }
}

/// `wowlab sim -n N` (JSON) of `profile`.
impl Grid {
    /// `wowlab run --target-error` of [`target_profile`] on this grid, printing JSON.
    fn run_target_command(&self, target: f64, max: u64, seed: u64, chunk: u64) -> Command {
        let mut c = Command::new(BIN);
        c.arg("run")
            .arg(target_profile())
            .args(["--target-error", &target.to_string()])
            .args(["--max-iterations", &max.to_string()])
            .args([
                "--seed",
                &seed.to_string(),
                "--chunk-size",
                &chunk.to_string(),
            ])
            .args(["--json", "--quiet"])
            .args(["--sentinel", &self.url, "--token", &self.api_token])
            .env("RUST_LOG", "warn");
        c
    }
}

#[test]
fn target_error_jobs_stop_at_the_first_wave_meeting_the_target_identically_on_1_2_3_nodes() {
    let mut g = Grid::start(1);
    for (nodes, seed) in [(1usize, 11u64), (2, 12), (3, 13)] {
        while g.nodes.len() < nodes {
            g.add_node(g.nodes.len());
        }
        g.wait_nodes(nodes);
        let out = g
            .run_target_command(TARGET, TARGET_MAX, seed, 128)
            .output()
            .expect("wowlab run");
        let grid = stdout_ok(&out);
        assert_eq!(
            grid,
            local_target_sim(TARGET, TARGET_MAX, seed),
            "{nodes} nodes"
        );
        assert_stopped_at_first_wave_meeting(&grid, TARGET, TARGET_MAX, seed);
        // The job reports its target, the waves it merged and the half-width reached.
        let job = &g.jobs()[0];
        assert_eq!(job["status"], "completed", "{job}");
        let t = &job["target"];
        assert_eq!(t["targetError"], TARGET, "{job}");
        assert_eq!(t["maxIterations"], TARGET_MAX, "{job}");
        let (pct, n) = half_width(&grid);
        let waves = (0..20u32).find(|&w| 1024u64 * ((2 << w) - 1) >= n).unwrap() + 1;
        assert_eq!(t["wavesDone"], waves, "{job}");
        assert!(
            (t["halfWidthPct"].as_f64().unwrap() - pct).abs() < 1e-9,
            "{job}"
        );
    }
}

#[test]
fn a_target_error_job_survives_a_killed_node_with_the_same_bytes() {
    const TTL_MS: u64 = 3000;
    let (target, max, seed) = (0.05, TARGET_MAX, 21);
    let mut g = Grid::start_with_ttl(0, TTL_MS);
    let victim_status = format!("127.0.0.1:{}", free_port());
    g.add_node_with(0, &["--status-addr", &victim_status]);
    g.add_node(1);
    g.wait_nodes(2);
    let run = g
        .run_target_command(target, max, seed, 64)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wowlab run");
    wait_until("victim busy mid-job", Duration::from_secs(60), || {
        node_status(&victim_status).is_some_and(|st| {
            st["active_chunks"].as_u64().is_some_and(|a| a >= 1)
                && st["completed"].as_u64().is_some_and(|c| c >= 1)
        })
    });
    let mut victim = g.nodes.remove(0);
    victim.0.kill().unwrap(); // SIGKILL
    let _ = victim.0.wait();
    let out = finished_ok(run);
    assert_eq!(out, local_target_sim(target, max, seed));
    assert_stopped_at_first_wave_meeting(&out, target, max, seed);
}

#[test]
fn a_target_error_job_keeps_its_waves_across_a_sentinel_restart() {
    let (target, max, seed) = (0.05, TARGET_MAX, 31);
    let mut g = Grid::start(2);
    let run = g
        .run_target_command(target, max, seed, 64)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wowlab run");
    // Past wave 0 (16 chunks of 64): the restart must restore the scheduled second wave.
    wait_until("second wave under way", Duration::from_secs(120), || {
        let j = g.jobs();
        j[0]["progress"]["done"].as_u64().is_some_and(|d| d >= 20)
    });
    g.restart_sentinel();
    let out = finished_ok(run);
    assert_eq!(out, local_target_sim(target, max, seed));
    assert_stopped_at_first_wave_meeting(&out, target, max, seed);
}

/// A node stopped gracefully (SIGTERM) withdraws its dispatch credit on the way out, so the
/// next job is not leased to a process that is gone. Leases last 10 minutes here, so a chunk
/// pushed to the stopped node would hold the job up for minutes (until the node is reaped as
/// silent), far past the limit below; with the credit withdrawn the job is the live node's.
#[test]
fn a_gracefully_stopped_node_gets_no_work_pushed_after_it_left() {
    let mut g = Grid::start_with_ttl(0, 600_000);
    g.add_node(0);
    let online = |g: &Grid, n: usize| {
        http(
            &format!("{}/api/nodes", g.url),
            "GET",
            Some(&g.api_token),
            None,
        )
        .is_some_and(|(s, b)| {
            s == 200
                && json(&b)
                    .as_array()
                    .is_some_and(|a| a.iter().filter(|n| n["status"] == "online").count() >= n)
        })
    };
    wait_until("node 0 online", Duration::from_secs(60), || online(&g, 1));
    let mut leaving = g.nodes.remove(0);
    let term = Command::new("kill")
        .args(["-TERM", &leaving.0.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    assert!(
        leaving.0.wait().unwrap().success(),
        "the node drained and exited"
    );
    // Its last heartbeat said it was leaving: offline now, not once it is missed (30 s).
    let offline = |g: &Grid| {
        http(
            &format!("{}/api/nodes", g.url),
            "GET",
            Some(&g.api_token),
            None,
        )
        .is_some_and(|(s, b)| {
            s == 200
                && json(&b)
                    .as_array()
                    .is_some_and(|a| a.len() == 1 && a[0]["status"] == "offline")
        })
    };
    wait_until("the departed node offline", Duration::from_secs(10), || {
        offline(&g)
    });
    g.add_node(1);
    g.wait_nodes(2);
    let (n, seed, chunk) = (300, 9, 10);
    let mut run = g.run_async(n, seed, chunk);
    wait_until("job completed", Duration::from_secs(120), || {
        g.jobs()
            .as_array()
            .and_then(|j| j.first())
            .is_some_and(|j| j["status"] == "completed")
    });
    assert!(run.wait().unwrap().success());
    let mut out = String::new();
    std::io::Read::read_to_string(run.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert_eq!(out, local_sim(&profile(), n, seed));
    // Nothing was leased to the departed node: no lease had to be taken back, for any cause.
    let metrics = g.metrics();
    let reclaimed: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("sentinel_leases_reclaimed_total"))
        .filter(|l| l.rsplit_once(' ').is_some_and(|(_, v)| v.trim() != "0"))
        .collect();
    assert!(reclaimed.is_empty(), "leases taken back: {reclaimed:?}");
}
