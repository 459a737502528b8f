//! Spot checks end to end with real processes.
//!
//! - Embedded: `wowlab up` (no in-process nodes), two honest `wowlab node` processes of two
//!   owners, and a lying node of a third owner.
//! - Distributed: the same three owners' nodes on two `wowlab sentinel` processes sharing
//!   Redis, PostgreSQL and JetStream (one beacon): an honest node on each sentinel, the liar on
//!   the second, the job submitted to the first, so leases, results and the checks' runs and
//!   verdicts are spread over both sentinels. Needs the `WOWLAB_TEST_*` URLs (see
//!   `support::shared`); skipped without them unless `CI` is set.
//! - No false alarm: two honest owners' nodes, every result of a 10,000-chunk job checked.
//!
//! The liar is this test process itself: a real node (its own Ed25519 key, the signed node
//! protocol over HTTP, built from the `wowlab-node` library) whose runner corrupts one result
//! in fifty, starting with its first. The corrupted results must be caught by other owners'
//! nodes, settled by a third owner's, the liar quarantined, and the job's final bytes must
//! equal `wowlab sim`.
//!
//! A last test lets a liar's results through unchecked: its job completes with wrong bytes. An
//! administrator then quarantines the liar; its owner hears of it on the webhook, the completed
//! job goes under review, its chunks are recomputed by another owner's node and the job's
//! stored result is corrected to exactly `wowlab sim`'s.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::shared::{services, start_sentinel, API_KEY, TOKEN_SECRET};
use support::webhook::webhook_receiver;
use support::*;
use wowlab_api::node::ChunkLease;
use wowlab_node::config::{NodeConfig, Secret};
use wowlab_node::runner::{RunCtx, Runner, RunnerError, SimRunner, SIM_CAPABILITY};
use wowlab_node::{Node, RetryPolicy, SentinelClient, Stopper};

/// Checks every result, so every lie is caught, whichever node told it.
const CHECK_ALL: (&str, &str) = ("WOWLAB_SPOT_CHECK_RATE", "1");

fn profile() -> PathBuf {
    example_profile("pet-procs.toml")
}

/// The end-to-end dispatch benchmark's profile: ≈ 0.2 µs of simulation per iteration, so a
/// one-iteration chunk costs the grid, not the simulator.
fn trivial_profile() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench/grid/trivial.toml")
}

/// The honest sim runner, except that every `every`-th result (the first included) is valid
/// but wrong: its event count is off by one.
struct LyingRunner {
    honest: SimRunner,
    every: u64,
    runs: AtomicU64,
    lies: Arc<AtomicU64>,
}

#[async_trait::async_trait]
impl Runner for LyingRunner {
    fn capability(&self) -> &str {
        SIM_CAPABILITY
    }

    async fn run(&self, lease: &ChunkLease, ctx: RunCtx) -> Result<Vec<u8>, RunnerError> {
        let bytes = self.honest.run(lease, ctx).await?;
        if !self
            .runs
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(self.every)
        {
            return Ok(bytes);
        }
        let mut r = wowlab_sim::ChunkResult::decode(&bytes)
            .map_err(|e| RunnerError::Failed(e.to_string()))?;
        r.events += 1;
        self.lies.fetch_add(1, Ordering::Relaxed);
        Ok(r.encode())
    }
}

/// The lying node, running on its own runtime thread; dropping it stops the node, so it does
/// not outlive its test's servers inside this test process.
struct Liar {
    /// How many results it corrupted.
    lies: Arc<AtomicU64>,
    stop: Stopper,
}

impl Drop for Liar {
    fn drop(&mut self) {
        self.stop.stop();
    }
}

/// Starts the lying node named "liar" against `url`, claimed with `claim_token`, lying on one
/// result in fifty.
fn start_liar(url: &str, claim_token: &str, dir: &Path) -> Liar {
    start_liar_every(url, claim_token, dir, 50)
}

/// [`start_liar`] lying on every `every`-th result.
fn start_liar_every(url: &str, claim_token: &str, dir: &Path, every: u64) -> Liar {
    let mut cfg = NodeConfig::defaults();
    cfg.sentinel_url = Some(url.to_owned());
    cfg.claim_token = Some(Secret::new(claim_token));
    cfg.data_dir = dir.to_owned();
    cfg.max_parallel = 1;
    cfg.name = Some("liar".into());
    let lies = Arc::new(AtomicU64::new(0));
    let counted = lies.clone();
    let url = url.to_owned();
    let (started, stopper) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            // The same key file the node loads: its profile fetches are signed as the node.
            let (key, _) = wowlab_node::identity::load_or_create_key(&cfg.data_dir).unwrap();
            let client =
                SentinelClient::new(&url, key, Duration::from_secs(10), RetryPolicy::default())
                    .unwrap();
            let liar = LyingRunner {
                honest: SimRunner::new(Arc::new(client)),
                every,
                runs: AtomicU64::new(0),
                lies: counted,
            };
            let node = Node::new(cfg).runner(Arc::new(liar)).start().await.unwrap();
            let _ = started.send(node.stopper());
            let _ = node.wait().await;
        });
    });
    let stop = stopper
        .recv_timeout(Duration::from_secs(60))
        .expect("the lying node did not start");
    Liar { lies, stop }
}

/// `wowlab up` with no in-process nodes and these `WOWLAB_*` settings; returns it and its URL
/// once `/readyz` answers.
fn start_grid(dir: &Path, env: &[(&str, &str)]) -> (Proc, String) {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut cmd = Command::new(BIN);
    cmd.args(["up", "--nodes", "0", "--addr", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir.join("grid"))
        .args(["--lease-ttl-ms", "1500"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("grid.log")).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let up = Proc(cmd.spawn().unwrap());
    wait_until("grid up", Duration::from_secs(60), || {
        http(&format!("{url}/readyz"), "GET", None, None).is_some_and(|(s, _)| s == 200)
    });
    (up, url)
}

fn nodes(url: &str, admin_token: &str) -> Vec<serde_json::Value> {
    let (s, b) = http(&format!("{url}/api/nodes"), "GET", Some(admin_token), None).unwrap();
    assert_eq!(s, 200, "{b}");
    json(&b).as_array().unwrap().clone()
}

fn wait_online(url: &str, admin_token: &str, count: usize) {
    wait_until(
        &format!("{count} nodes online"),
        Duration::from_secs(60),
        || {
            let n = nodes(url, admin_token);
            n.len() == count && n.iter().all(|n| n["status"] == "online")
        },
    );
}

/// `wowlab run` of `profile` on the grid at `url`; its stdout after asserting success (a
/// failure shows the server logs named in `logs`, files in `dir`).
#[allow(clippy::too_many_arguments)]
fn run_job(
    url: &str,
    token: &str,
    profile: &Path,
    n: u64,
    seed: u64,
    chunk: u64,
    dir: &Path,
    logs: &[&str],
) -> String {
    let out = Command::new(BIN)
        .arg("run")
        .arg(profile)
        .args(["-n", &n.to_string(), "--seed", &seed.to_string()])
        .args(["--chunk-size", &chunk.to_string(), "--json", "--quiet"])
        .args(["--sentinel", url, "--token", token])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "wowlab run failed: {}\nlogs:\n{}",
        String::from_utf8_lossy(&out.stderr),
        logs.iter()
            .map(|l| std::fs::read_to_string(dir.join(l)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n---\n")
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `GET /api/jobs/{id}/checks` of the only job.
fn job_checks(url: &str, admin_token: &str) -> serde_json::Value {
    let jobs = json(
        &http(&format!("{url}/api/jobs"), "GET", Some(admin_token), None)
            .unwrap()
            .1,
    );
    assert_eq!(jobs.as_array().map(Vec::len), Some(1), "{jobs}");
    let job_id = jobs[0]["id"].as_str().unwrap();
    let (s, b) = http(
        &format!("{url}/api/jobs/{job_id}/checks"),
        "GET",
        Some(admin_token),
        None,
    )
    .unwrap();
    assert_eq!(s, 200, "{b}");
    json(&b)
}

/// After a job of `chunks` chunks, all checked: the liar was caught and quarantined (its owner,
/// `liar_owner_token`, cannot resume it), the honest nodes have a clean record. Returns the
/// liar's node id.
fn assert_liar_caught(url: &str, admin: &str, liar_owner_token: &str, chunks: u64) -> String {
    let all = nodes(url, admin);
    let by_name = |name: &str| {
        all.iter()
            .find(|n| n["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {all:?}"))
    };
    let liar = by_name("liar");
    let trust = &liar["trust"];
    assert!(
        trust["failed"].as_u64().unwrap() >= 1,
        "the liar was never caught: {trust}"
    );
    // Quarantined: no more work (draining), and its owner cannot resume it.
    assert!(trust["quarantinedAt"].is_u64(), "not quarantined: {trust}");
    assert_eq!(liar["draining"], true, "{liar}");
    let liar_id = liar["id"].as_str().unwrap().to_owned();
    let (s, b) = http(
        &format!("{url}/api/nodes/{liar_id}"),
        "PATCH",
        Some(liar_owner_token),
        Some(r#"{"draining":false}"#),
    )
    .unwrap();
    assert_eq!(s, 400, "{b}");
    // The job's report counts its cross-checked chunks (all of them at rate 1).
    let checks = job_checks(url, admin);
    assert_eq!(checks["crossChecked"], chunks, "{checks}");
    assert!(checks["mismatches"].as_u64().unwrap() >= 1, "{checks}");
    assert_eq!(checks["pending"], 0, "{checks}");
    for honest in ["honest-a", "honest-b"] {
        let t = &by_name(honest)["trust"];
        assert_eq!(t["failed"], 0, "{honest}: {t}");
        assert!(t["quarantinedAt"].is_null(), "{honest}: {t}");
        assert!(t["confirmed"].as_u64().unwrap() > 0, "{honest}: {t}");
    }
    liar_id
}

#[test]
fn a_node_lying_on_one_chunk_in_fifty_is_caught_and_the_job_equals_wowlab_sim() {
    let dir = tempdir("spot-checks");
    let (_up, url) = start_grid(&dir, &[CHECK_ALL]);
    // Three owners; the first account is the admin and sees every node.
    let (admin, claim_a) = account(&url, &dir.join("jar-a"), "a@example.org");
    let (_, claim_b) = account(&url, &dir.join("jar-b"), "b@example.org");
    let (c_api, claim_c) = account(&url, &dir.join("jar-c"), "c@example.org");
    let _a = start_node(&url, &claim_a, &dir.join("node-a"), "honest-a");
    let _b = start_node(&url, &claim_b, &dir.join("node-b"), "honest-b");
    let liar = start_liar(&url, &claim_c, &dir.join("node-c"));
    wait_online(&url, &admin, 3);

    let (n, seed, chunk) = (1500u64, 19u64, 10u64);
    let out = run_job(
        &url,
        &admin,
        &profile(),
        n,
        seed,
        chunk,
        &dir,
        &["grid.log"],
    );
    assert!(
        liar.lies.load(Ordering::Relaxed) >= 1,
        "the liar never lied"
    );
    assert_eq!(
        out,
        local_sim(&profile(), n, seed),
        "grid result differs from wowlab sim"
    );
    let liar_id = assert_liar_caught(&url, &admin, &c_api, n / chunk);
    // An administrator reviews it: released (its record keeps the failure).
    let (s, b) = http(
        &format!("{url}/api/admin/nodes/{liar_id}/release"),
        "POST",
        Some(&admin),
        None,
    )
    .unwrap();
    assert_eq!(s, 200, "{b}");
    assert!(json(&b)["quarantinedAt"].is_null(), "{b}");
    assert!(json(&b)["failed"].as_u64().unwrap() >= 1, "{b}");
    drop(liar);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn across_two_sentinels_a_lying_node_is_caught_and_the_job_equals_wowlab_sim() {
    let Some(shared) = services() else {
        return;
    };
    const LOGS: &[&str] = &["sentinel-a.log", "sentinel-b.log"];
    let dir = tempdir("spot-checks-shared");
    let (_beacon, beacon_url) = start_beacon(&dir, TOKEN_SECRET, API_KEY);
    let (sentinel_a, url_a) = start_sentinel(&dir, "a", &beacon_url, &shared, &[CHECK_ALL]);
    let (sentinel_b, url_b) = start_sentinel(&dir, "b", &beacon_url, &shared, &[CHECK_ALL]);
    // Three owners, signed up on either sentinel (they share the store); the first is admin.
    let (admin, claim_a) = account(&url_a, &dir.join("jar-a"), "a@example.org");
    let (_, claim_b) = account(&url_b, &dir.join("jar-b"), "b@example.org");
    let (c_api, claim_c) = account(&url_b, &dir.join("jar-c"), "c@example.org");
    // One honest node on each sentinel, the liar on B; the job goes to A. A result of the
    // liar is held by B, rechecked by honest-a through A or honest-b through B, and a
    // mismatch settled by the other.
    let _a = start_node(&url_a, &claim_a, &dir.join("node-a"), "honest-a");
    let _b = start_node(&url_b, &claim_b, &dir.join("node-b"), "honest-b");
    let liar = start_liar(&url_b, &claim_c, &dir.join("node-c"));
    wait_online(&url_a, &admin, 3);

    let (n, seed, chunk) = (1500u64, 23u64, 10u64);
    let out = run_job(&url_a, &admin, &profile(), n, seed, chunk, &dir, LOGS);
    assert!(
        liar.lies.load(Ordering::Relaxed) >= 1,
        "the liar never lied"
    );
    assert_eq!(
        out,
        local_sim(&profile(), n, seed),
        "grid result differs from wowlab sim"
    );
    // Either sentinel tells the same story: they share the store.
    for url in [&url_a, &url_b] {
        assert_liar_caught(url, &admin, &c_api, n / chunk);
    }
    // The work and the checks really were spread: each sentinel granted leases, took results
    // and started checks of the results it received (every result is checked), and the
    // confirmations and the mismatch verdicts add up across the two.
    let (ma, mb) = (metrics(&url_a), metrics(&url_b));
    for (name, m) in [("A", &ma), ("B", &mb)] {
        let series: Vec<String> = m
            .lines()
            .filter(|l| {
                l.starts_with("sentinel_spot_checks_total")
                    || l.starts_with("sentinel_chunk_results_total")
                    || l.starts_with("sentinel_leases_granted_total")
                    || l.starts_with("sentinel_nodes_quarantined_total")
            })
            .map(str::to_owned)
            .collect();
        eprintln!("sentinel {name}: {series:?}");
    }
    for (name, m) in [("A", &ma), ("B", &mb)] {
        for series in [
            "sentinel_leases_granted_total",
            r#"sentinel_chunk_results_total{outcome="completed"}"#,
            r#"sentinel_spot_checks_total{outcome="started"}"#,
        ] {
            assert!(counter(m, series) > 0.0, "sentinel {name}: no {series}");
        }
    }
    let both = |series: &str| counter(&ma, series) + counter(&mb, series);
    assert!(both(r#"sentinel_spot_checks_total{outcome="mismatch"}"#) >= 1.0);
    assert!(both("sentinel_nodes_quarantined_total") >= 1.0);
    assert!(both(r#"sentinel_spot_checks_total{outcome="confirmed"}"#) > 0.0);
    drop((liar, sentinel_a, sentinel_b));
    let _ = std::fs::remove_dir_all(&dir);
    shared.clean_up();
}

#[test]
fn an_honest_grid_raises_no_false_alarm_over_ten_thousand_checked_chunks() {
    let dir = tempdir("spot-checks-honest");
    let (_up, url) = start_grid(&dir, &[CHECK_ALL]);
    let (admin, claim_a) = account(&url, &dir.join("jar-a"), "a@example.org");
    let (_, claim_b) = account(&url, &dir.join("jar-b"), "b@example.org");
    let _a = start_node(&url, &claim_a, &dir.join("node-a"), "honest-a");
    let _b = start_node(&url, &claim_b, &dir.join("node-b"), "honest-b");
    wait_online(&url, &admin, 2);

    // One-iteration chunks: every result is computed by both owners' nodes.
    const CHUNKS: u64 = 10_000;
    let (profile, seed) = (trivial_profile(), 41u64);
    let out = run_job(&url, &admin, &profile, CHUNKS, seed, 1, &dir, &["grid.log"]);
    assert_eq!(
        out,
        local_sim(&profile, CHUNKS, seed),
        "grid result differs from wowlab sim"
    );
    let checks = job_checks(&url, &admin);
    assert_eq!(checks["crossChecked"], CHUNKS, "{checks}");
    for outcome in ["mismatches", "pending", "skipped"] {
        assert_eq!(checks[outcome], 0, "{outcome}: {checks}");
    }
    // Every check confirmed both nodes' results: no failure, no quarantine, no mismatch.
    let all = nodes(&url, &admin);
    let m = metrics(&url);
    let outcome = |o: &str| {
        counter(
            &m,
            &format!(r#"sentinel_spot_checks_total{{outcome="{o}"}}"#),
        )
    };
    eprintln!(
        "checks {checks}; trust {:?}; spot checks started {} confirmed {} mismatch {}",
        all.iter()
            .map(|n| (n["name"].clone(), n["trust"].clone()))
            .collect::<Vec<_>>(),
        outcome("started"),
        outcome("confirmed"),
        outcome("mismatch")
    );
    let mut confirmed = 0;
    for node in &all {
        let t = &node["trust"];
        assert_eq!(t["failed"], 0, "{node}");
        assert!(t["quarantinedAt"].is_null(), "{node}");
        assert_eq!(node["draining"], false, "{node}");
        confirmed += t["confirmed"].as_u64().unwrap();
    }
    assert!(confirmed >= 2 * CHUNKS, "{all:?}");
    assert!(outcome("confirmed") >= CHUNKS as f64);
    assert_eq!(outcome("mismatch"), 0.0);
    assert_eq!(counter(&m, "sentinel_nodes_quarantined_total"), 0.0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The job's stored result bytes (`/api/jobs/{id}/aggregate`), through curl into a file.
/// A lone owner's grid cannot cross-check anything: every sampled result is used as it is and
/// recorded as skipped. The records of a completion batch are written together after it, and
/// none may be lost on the way.
#[test]
fn a_lone_owners_sampled_results_are_all_recorded_as_skipped() {
    let dir = tempdir("spot-checks-lone-owner");
    let (_up, url) = start_grid(&dir, &[CHECK_ALL]);
    let (admin, claim) = account(&url, &dir.join("jar"), "a@example.org");
    let _a = start_node(&url, &claim, &dir.join("node-a"), "lone-a");
    let _b = start_node(&url, &claim, &dir.join("node-b"), "lone-b");
    wait_online(&url, &admin, 2);

    const CHUNKS: u64 = 3_000;
    let (profile, seed) = (trivial_profile(), 43u64);
    let out = run_job(&url, &admin, &profile, CHUNKS, seed, 1, &dir, &["grid.log"]);
    assert_eq!(out, local_sim(&profile, CHUNKS, seed));
    let checks = job_checks(&url, &admin);
    assert_eq!(checks["skipped"], CHUNKS, "{checks}");
    for outcome in ["crossChecked", "mismatches", "pending"] {
        assert_eq!(checks[outcome], 0, "{outcome}: {checks}");
    }
    let skipped = counter(
        &metrics(&url),
        r#"sentinel_spot_checks_total{outcome="skipped"}"#,
    );
    assert_eq!(skipped, CHUNKS as f64, "every skip is counted once");
}

fn aggregate(url: &str, token: &str, job: &str, file: &Path) -> Vec<u8> {
    let out = Command::new("curl")
        .args(["-s", "-f", "-m", "10", "-o"])
        .arg(file)
        .args(["-H", &format!("authorization: Bearer {token}")])
        .arg(format!("{url}/api/jobs/{job}/aggregate"))
        .output()
        .unwrap();
    assert!(out.status.success(), "aggregate not fetched");
    std::fs::read(file).unwrap()
}

fn checks(url: &str, token: &str, job: &str) -> serde_json::Value {
    let (s, b) = http(
        &format!("{url}/api/jobs/{job}/checks"),
        "GET",
        Some(token),
        None,
    )
    .unwrap();
    assert_eq!(s, 200, "{b}");
    json(&b)
}

#[test]
fn a_completed_job_with_a_liars_results_is_reviewed_and_corrected_to_equal_wowlab_sim() {
    let dir = tempdir("spot-review");
    let (hook, events) = webhook_receiver();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let _up = Proc(
        Command::new(BIN)
            .args(["up", "--nodes", "0", "--addr", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(dir.join("grid"))
            .args(["--lease-ttl-ms", "1500"])
            // Sampling on but negligible and no all-checked start: the liar's results go
            // through unchecked, as a rare lie would between samples.
            .env("WOWLAB_SPOT_CHECK_RATE", "0.000001")
            .env("WOWLAB_SPOT_CHECK_FIRST", "0")
            .env("WOWLAB_WEBHOOK_URL", &hook)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("grid up", Duration::from_secs(60), || {
        http(&format!("{url}/readyz"), "GET", None, None).is_some_and(|(s, _)| s == 200)
    });
    let (admin, claim_a) = account(&url, &dir.join("jar-a"), "a@example.org");
    let (_, claim_c) = account(&url, &dir.join("jar-c"), "c@example.org");
    let honest = start_node(&url, &claim_a, &dir.join("node-a"), "honest-a");
    let lying = start_liar_every(&url, &claim_c, &dir.join("node-c"), 3);
    let lies = lying.lies.clone();
    wait_until("two nodes online", Duration::from_secs(60), || {
        let n = nodes(&url, &admin);
        n.len() == 2 && n.iter().all(|n| n["status"] == "online")
    });

    let (n, seed) = (300u64, 23u64);
    let out = Command::new(BIN)
        .arg("run")
        .arg(profile())
        .args(["-n", &n.to_string(), "--seed", &seed.to_string()])
        .args(["--chunk-size", "10", "--json", "--quiet"])
        .args(["--sentinel", &url, "--token", &admin])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "wowlab run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(lies.load(Ordering::Relaxed) >= 1, "the liar never lied");
    let expected: serde_json::Value =
        serde_json::from_str(&local_sim(&profile(), n, seed)).unwrap();
    let first: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(
        first["result"], expected["result"],
        "the lies did not reach the job"
    );
    let jobs = json(
        &http(&format!("{url}/api/jobs"), "GET", Some(&admin), None)
            .unwrap()
            .1,
    );
    let job = jobs[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(jobs[0]["status"], "completed");
    let all = nodes(&url, &admin);
    let id_of = |name: &str| {
        all.iter().find(|n| n["name"] == name).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (liar, honest_id) = (id_of("liar"), id_of("honest-a"));

    // The honest node stops first, so the review cannot finish before it is looked at.
    drop(honest);
    let (s, b) = http(
        &format!("{url}/api/admin/nodes/{liar}/quarantine"),
        "POST",
        Some(&admin),
        None,
    )
    .unwrap();
    assert_eq!(s, 200, "{b}");
    // Under review, with the liar's chunks, and still completed.
    let (s, b) = http(&format!("{url}/api/jobs/{job}"), "GET", Some(&admin), None).unwrap();
    assert_eq!(s, 200, "{b}");
    let view = json(&b);
    assert_eq!(view["status"], "completed", "{view}");
    assert_eq!(view["review"]["underReview"], true, "{view}");
    let c = checks(&url, &admin, &job);
    assert_eq!(c["underReview"], true, "{c}");
    let reviewed = c["reviews"][0]["chunks"].as_array().unwrap().clone();
    assert_eq!(c["reviewChunks"], reviewed.len() as u64, "{c}");
    assert!(!reviewed.is_empty());
    assert!(
        reviewed.iter().all(|ch| ch["oldNode"] == liar.as_str()),
        "{c}"
    );
    // The owner hears of it on the webhook, with the job under review.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let event = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let v = events.recv_timeout(left).expect("no quarantine webhook");
        if v["event"] == "node.quarantined" {
            break v;
        }
    };
    assert_eq!(event["node"]["nodeId"], liar.as_str(), "{event}");
    assert_eq!(event["node"]["name"], "liar", "{event}");
    assert!(event["node"]["ownerId"].is_string(), "{event}");
    let jobs_in = event["node"]["jobs"].as_array().unwrap();
    assert!(
        jobs_in.iter().any(|j| j["jobId"] == job.as_str()
            && j["status"] == "completed"
            && j["chunks"] == reviewed.len() as u64),
        "{event}"
    );

    // Back online, the honest node recomputes the chunks and the result is corrected.
    let _honest = start_node(&url, &claim_a, &dir.join("node-a"), "honest-a");
    wait_until("review closed", Duration::from_secs(120), || {
        checks(&url, &admin, &job)["underReview"] == false
    });
    let c = checks(&url, &admin, &job);
    let r = &c["reviews"][0];
    assert!(r["finishedAt"].is_u64(), "{c}");
    assert_ne!(r["oldResultHash"], r["newResultHash"], "{c}");
    for ch in r["chunks"].as_array().unwrap() {
        assert_eq!(ch["newNode"], honest_id.as_str(), "{c}");
        assert!(ch["newHash"].is_string(), "{c}");
    }
    assert!(
        r["chunks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|ch| ch["newHash"] != ch["oldHash"]),
        "no lie was corrected: {c}"
    );
    let bytes = aggregate(&url, &admin, &job, &dir.join("aggregate.bin"));
    let corrected = wowlab_sim::ChunkResult::decode(&bytes).unwrap();
    assert_eq!(
        serde_json::to_value(&corrected).unwrap(),
        expected["result"],
        "the corrected result differs from wowlab sim"
    );
    let (_, b) = http(&format!("{url}/api/jobs/{job}"), "GET", Some(&admin), None).unwrap();
    let view = json(&b);
    assert_eq!(view["status"], "completed", "{view}");
    assert_eq!(view["review"]["underReview"], false, "{view}");
    let _ = std::fs::remove_dir_all(&dir);
}
