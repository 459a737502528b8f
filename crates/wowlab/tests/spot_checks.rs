//! Spot checks end to end with real processes: `wowlab up` (no in-process nodes), two honest
//! `wowlab node` processes of two owners, and a lying node of a third owner. The liar is this
//! test process itself: a real node (its own Ed25519 key, the signed node protocol over HTTP,
//! built from the `wowlab-node` library) whose runner corrupts one result in fifty, starting
//! with its first. The corrupted results must be caught by other owners' nodes, settled by a
//! third owner's, and the job's final bytes must equal `wowlab sim`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::*;
use wowlab_api::node::ChunkLease;
use wowlab_node::config::{NodeConfig, Secret};
use wowlab_node::runner::{RunCtx, Runner, RunnerError, SimRunner, SIM_CAPABILITY};
use wowlab_node::{Node, RetryPolicy, SentinelClient};

fn profile() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/profiles/pet-procs.toml")
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
        if self.runs.fetch_add(1, Ordering::Relaxed) % self.every != 0 {
            return Ok(bytes);
        }
        let mut r = wowlab_sim::ChunkResult::decode(&bytes)
            .map_err(|e| RunnerError::Failed(e.to_string()))?;
        r.events += 1;
        self.lies.fetch_add(1, Ordering::Relaxed);
        Ok(r.encode())
    }
}

/// Starts the lying node on its own runtime thread; returns how many results it corrupted.
fn start_liar(url: &str, claim_token: &str, dir: &Path) -> Arc<AtomicU64> {
    let mut cfg = NodeConfig::defaults();
    cfg.sentinel_url = Some(url.to_owned());
    cfg.claim_token = Some(Secret::new(claim_token));
    cfg.data_dir = dir.to_owned();
    cfg.max_parallel = 1;
    cfg.name = Some("liar".into());
    let lies = Arc::new(AtomicU64::new(0));
    let counted = lies.clone();
    let url = url.to_owned();
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
                every: 50,
                runs: AtomicU64::new(0),
                lies: counted,
            };
            let node = Node::new(cfg).runner(Arc::new(liar)).start().await.unwrap();
            let _ = node.wait().await;
        });
    });
    lies
}

fn sim(n: u64, seed: u64) -> Vec<u8> {
    let out = Command::new(BIN)
        .arg("sim")
        .arg(profile())
        .args([
            "-n",
            &n.to_string(),
            "--seed",
            &seed.to_string(),
            "--json",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

fn nodes(url: &str, admin_token: &str) -> Vec<serde_json::Value> {
    let (s, b) = http(&format!("{url}/api/nodes"), "GET", Some(admin_token), None).unwrap();
    assert_eq!(s, 200, "{b}");
    json(&b).as_array().unwrap().clone()
}

#[test]
fn a_node_lying_on_one_chunk_in_fifty_is_caught_and_the_job_equals_wowlab_sim() {
    let dir = tempdir("spot-checks");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let _up = Proc(
        Command::new(BIN)
            .args(["up", "--nodes", "0", "--addr", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(dir.join("grid"))
            .args(["--lease-ttl-ms", "1500"])
            // Every result is checked, so every lie is caught, whichever node told it.
            .env("WOWLAB_SPOT_CHECK_RATE", "1")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("grid up", Duration::from_secs(60), || {
        http(&format!("{url}/readyz"), "GET", None, None).is_some_and(|(s, _)| s == 200)
    });
    // Three owners; the first account is the admin and sees every node.
    let (admin, claim_a) = account(&url, &dir.join("jar-a"), "a@example.org");
    let (_, claim_b) = account(&url, &dir.join("jar-b"), "b@example.org");
    let (c_api, claim_c) = account(&url, &dir.join("jar-c"), "c@example.org");
    let _a = start_node(&url, &claim_a, &dir.join("node-a"), "honest-a");
    let _b = start_node(&url, &claim_b, &dir.join("node-b"), "honest-b");
    let lies = start_liar(&url, &claim_c, &dir.join("node-c"));
    wait_until("three nodes online", Duration::from_secs(60), || {
        let n = nodes(&url, &admin);
        n.len() == 3 && n.iter().all(|n| n["status"] == "online")
    });

    let (n, seed) = (1500u64, 19u64);
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
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&sim(n, seed)),
        "grid result differs from wowlab sim"
    );

    let all = nodes(&url, &admin);
    let by_name = |name: &str| {
        all.iter()
            .find(|n| n["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {all:?}"))["trust"]
            .clone()
    };
    let liar = by_name("liar");
    assert!(
        liar["failed"].as_u64().unwrap() >= 1,
        "the liar was never caught: {liar}"
    );
    // Quarantined: no more work (draining), and its owner cannot resume it.
    assert!(liar["quarantinedAt"].is_u64(), "not quarantined: {liar}");
    let liar_node = all.iter().find(|n| n["name"] == "liar").unwrap();
    assert_eq!(liar_node["draining"], true, "{liar_node}");
    let liar_id = liar_node["id"].as_str().unwrap();
    let (s, b) = http(
        &format!("{url}/api/nodes/{liar_id}"),
        "PATCH",
        Some(&c_api),
        Some(r#"{"draining":false}"#),
    )
    .unwrap();
    assert_eq!(s, 400, "{b}");
    // The job's report counts its cross-checked chunks (all of them at rate 1).
    let jobs = json(
        &http(&format!("{url}/api/jobs"), "GET", Some(&admin), None)
            .unwrap()
            .1,
    );
    let job_id = jobs[0]["id"].as_str().unwrap().to_owned();
    let (s, b) = http(
        &format!("{url}/api/jobs/{job_id}/checks"),
        "GET",
        Some(&admin),
        None,
    )
    .unwrap();
    assert_eq!(s, 200, "{b}");
    let checks = json(&b);
    assert_eq!(checks["crossChecked"], n / 10, "{checks}");
    assert!(checks["mismatches"].as_u64().unwrap() >= 1, "{checks}");
    assert_eq!(checks["pending"], 0, "{checks}");
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
    for honest in ["honest-a", "honest-b"] {
        let t = by_name(honest);
        assert_eq!(t["failed"], 0, "{honest}: {t}");
        assert!(t["confirmed"].as_u64().unwrap() > 0, "{honest}: {t}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
