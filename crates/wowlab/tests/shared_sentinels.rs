//! Two `wowlab sentinel` processes sharing one Redis (coordination), one PostgreSQL (store) and
//! one JetStream result log behind one beacon: a job submitted to sentinel A is computed by a
//! node that talks only to sentinel B (its results merged by whichever sentinel leads the
//! projector), and the result is byte-identical to `wowlab sim`; and when the leading sentinel,
//! the one the node and `wowlab run` talk to, is `kill -9`ed mid-job, the other takes over the
//! projector and their requests, and the job still completes byte-identical; and when the
//! leading sentinel stalls past its projector lock and resumes, no result is lost.
//! Needs `WOWLAB_TEST_REDIS_URL`, `WOWLAB_TEST_POSTGRES_URL` and `WOWLAB_TEST_NATS_URL`;
//! skipped without them unless `CI` is set, where their absence fails the test.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::shared::{services, start_sentinel, API_KEY, TOKEN_SECRET};
use support::*;

/// The sentinels' log files, shown when a run fails.
const SENTINEL_LOGS: &[&str] = &["sentinel-a.log", "sentinel-b.log"];

fn profile() -> PathBuf {
    example_profile("pet-procs.toml")
}

#[test]
fn a_job_submitted_to_one_sentinel_is_completed_through_another() {
    let Some(shared) = services() else {
        return;
    };
    let dir = tempdir("shared-sentinels");
    let (_beacon, beacon_url) = start_beacon(&dir, TOKEN_SECRET, API_KEY);
    let (sentinel_a, url_a) = start_sentinel(&dir, "a", &beacon_url, &shared, &[]);
    let (sentinel_b, url_b) = start_sentinel(&dir, "b", &beacon_url, &shared, &[]);
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
    let local = Command::new(BIN)
        .arg("sim")
        .arg(profile())
        .args(["-n", "400", "--seed", "21", "--json", "--quiet"])
        .output()
        .unwrap();
    assert_run_equals_sim(&out, &local, &dir, SENTINEL_LOGS);
    // B lists the job A accepted, completed.
    let (_, jobs) = http(&format!("{url_b}/api/jobs"), "GET", Some(&api_token), None).unwrap();
    assert_eq!(json(&jobs)[0]["status"], "completed");
    drop((node, sentinel_a, sentinel_b));
    let _ = std::fs::remove_dir_all(&dir);
    shared.clean_up();
}

/// Waits until `name`'s log says it leads the projector.
fn wait_for_projector(dir: &Path, name: &str, limit: Duration) {
    wait_until(
        &format!("sentinel {name} leads the projector"),
        limit,
        || {
            std::fs::read_to_string(dir.join(format!("sentinel-{name}.log")))
                .is_ok_and(|l| l.contains("projector consuming the result log"))
        },
    );
}

#[test]
fn the_leading_sentinel_killed_mid_job_leaves_the_job_to_the_other() {
    let Some(shared) = services() else {
        return;
    };
    let dir = tempdir("sentinel-failover");
    let (_beacon, beacon_url) = start_beacon(&dir, TOKEN_SECRET, API_KEY);
    let (mut sentinel_a, url_a) = start_sentinel(&dir, "a", &beacon_url, &shared, &[]);
    // A leads before B exists, so killing A kills the projector, reclaim and presence leader.
    wait_for_projector(&dir, "a", Duration::from_secs(30));
    let (sentinel_b, url_b) = start_sentinel(&dir, "b", &beacon_url, &shared, &[]);
    let (api_token, claim_token) = account(&url_b, &dir.join("cookies"), "failover@example.org");
    // The node and `wowlab run` know both sentinels and talk to A, the leader, until it dies.
    let both = format!("{url_a},{url_b}");
    let node = start_node(&both, &claim_token, &dir.join("node"), "n1");
    wait_until("node registered", Duration::from_secs(60), || {
        http(&format!("{url_b}/api/nodes"), "GET", Some(&api_token), None)
            .is_some_and(|(s, b)| s == 200 && json(&b).as_array().is_some_and(|a| a.len() == 1))
    });
    let args = ["-n", "4000", "--seed", "33", "--chunk-size", "50"];
    let run = Command::new(BIN)
        .arg("run")
        .arg(profile())
        .args(args)
        .args([
            "--json",
            "--quiet",
            "--sentinel",
            &url_b,
            "--token",
            &api_token,
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Mid-job: some chunks done (merged by A), most still to come.
    wait_until("first chunks done", Duration::from_secs(120), || {
        http(&format!("{url_b}/api/jobs"), "GET", Some(&api_token), None).is_some_and(|(s, b)| {
            let j = json(&b);
            s == 200 && j[0]["progress"]["done"].as_u64().is_some_and(|d| d >= 3)
        })
    });
    let (_, jobs) = http(&format!("{url_b}/api/jobs"), "GET", Some(&api_token), None).unwrap();
    assert_eq!(
        json(&jobs)[0]["status"],
        "running",
        "the job outran the test"
    );
    sentinel_a.0.kill().unwrap(); // SIGKILL: no lock released, nothing flushed
    let killed = std::time::Instant::now();
    wait_for_projector(&dir, "b", Duration::from_secs(30));
    eprintln!("projector taken over in {:?}", killed.elapsed());
    let out = run.wait_with_output().unwrap();
    let local = Command::new(BIN)
        .arg("sim")
        .arg(profile())
        .args(["-n", "4000", "--seed", "33", "--json", "--quiet"])
        .output()
        .unwrap();
    assert_run_equals_sim(&out, &local, &dir, SENTINEL_LOGS);
    drop((node, sentinel_a, sentinel_b));
    let _ = std::fs::remove_dir_all(&dir);
    shared.clean_up();
}

/// Sends `signal` (`STOP`, `CONT`) to a process.
fn signal(p: &Proc, signal: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(p.0.id().to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{signal} failed");
}

/// The projector leader stalls past its lock's lifetime (SIGSTOP) while results stream in from
/// two nodes on two sentinels with prefetched leases, the other sentinel takes the projector
/// over, and the stalled one resumes (SIGCONT) still believing it leads, with a batch of
/// results in hand. Its writes are refused by the new term's fence and its entries go back to
/// the log, so no result is stored behind the new leader's back and the job completes
/// byte-identical (before the fence, such a job could wait for ever).
#[test]
fn a_stalled_projector_leader_that_resumes_loses_no_result() {
    let Some(shared) = services() else {
        return;
    };
    let dir = tempdir("sentinel-stall");
    let (_beacon, beacon_url) = start_beacon(&dir, "shared-secret", "shared-key");
    let (sentinel_a, url_a) = start_sentinel(&dir, "a", &beacon_url, &shared, &[]);
    wait_for_projector(&dir, "a", Duration::from_secs(30));
    let (sentinel_b, url_b) = start_sentinel(&dir, "b", &beacon_url, &shared, &[]);
    let (api_token, claim_token) = account(&url_b, &dir.join("cookies"), "stall@example.org");
    let n1 = start_node(
        &format!("{url_a},{url_b}"),
        &claim_token,
        &dir.join("n1"),
        "n1",
    );
    let n2 = start_node(
        &format!("{url_b},{url_a}"),
        &claim_token,
        &dir.join("n2"),
        "n2",
    );
    wait_until("nodes registered", Duration::from_secs(60), || {
        http(&format!("{url_b}/api/nodes"), "GET", Some(&api_token), None)
            .is_some_and(|(s, b)| s == 200 && json(&b).as_array().is_some_and(|a| a.len() == 2))
    });
    let run = Command::new(BIN)
        .arg("run")
        .arg(profile())
        .args(["-n", "6000", "--seed", "34", "--chunk-size", "10"])
        .args(["--json", "--quiet", "--sentinel", &url_b])
        .args(["--token", &api_token])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("first chunks done", Duration::from_secs(120), || {
        http(&format!("{url_b}/api/jobs"), "GET", Some(&api_token), None).is_some_and(|(s, b)| {
            let j = json(&b);
            s == 200 && j[0]["progress"]["done"].as_u64().is_some_and(|d| d >= 20)
        })
    });
    signal(&sentinel_a, "STOP");
    wait_for_projector(&dir, "b", Duration::from_secs(60));
    signal(&sentinel_a, "CONT");
    let out = run.wait_with_output().unwrap();
    let local = Command::new(BIN)
        .arg("sim")
        .arg(profile())
        .args(["-n", "6000", "--seed", "34", "--json", "--quiet"])
        .output()
        .unwrap();
    assert_run_equals_sim(&out, &local, &dir, SENTINEL_LOGS);
    drop((n1, n2, sentinel_a, sentinel_b));
    let _ = std::fs::remove_dir_all(&dir);
    shared.clean_up();
}
