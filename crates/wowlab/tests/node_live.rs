//! Live node status and logs through the tunnel, end to end with real processes:
//! `wowlab beacon` + `wowlab sentinel` + `wowlab node` over a real nats-server
//! (`WOWLAB_TEST_NATS_URL`), and `wowlab up` with an in-process node (in-process transport).
//! Covers the owner/admin-only access, the streamed (followed) log tail, and the probe of a
//! killed node answering `online: false` (first-frame timeout) instead of an error page.
//! With the tunnel's NATS in operator mode (`wowlab tunnel-nats-init`), the node serves
//! through the scoped credentials the sentinel mints it, across several JWT lifetimes.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

fn nats_url() -> Option<String> {
    match std::env::var("WOWLAB_TEST_NATS_URL") {
        Ok(v) if !v.is_empty() => Some(v),
        _ if std::env::var_os("CI").is_some() => {
            panic!("WOWLAB_TEST_NATS_URL is not set: a NATS server is required under CI (scripts/test starts it)")
        }
        _ => {
            eprintln!("skipped: WOWLAB_TEST_NATS_URL is not set (run scripts/test)");
            None
        }
    }
}

fn get(url: &str, token: Option<&str>) -> (u16, String) {
    http(url, "GET", token, None).expect("sentinel reachable")
}

/// The only node of the user with `token`.
fn node_id(url: &str, token: &str) -> String {
    let mut id = String::new();
    wait_until("node registered", Duration::from_secs(60), || {
        let (s, b) = get(&format!("{url}/api/nodes"), Some(token));
        if s != 200 {
            return false;
        }
        match json(&b).as_array().and_then(|a| a.first().cloned()) {
            Some(n) => {
                id = n["id"].as_str().unwrap().to_owned();
                true
            }
            None => false,
        }
    });
    id
}

/// Polls `/live` until the node answers online; returns that answer.
fn wait_online(url: &str, token: &str, id: &str) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    wait_until(
        "node online through the tunnel",
        Duration::from_secs(60),
        || {
            let (s, b) = get(&format!("{url}/api/nodes/{id}/live"), Some(token));
            assert_eq!(s, 200, "{b}");
            last = json(&b);
            last["online"] == true
        },
    );
    last
}

/// A followed log tail read for `secs` seconds with curl: (curl exit code, body so far).
fn follow_logs(url: &str, token: &str, id: &str, secs: u32) -> (i32, String) {
    let out = Command::new("curl")
        .args(["-s", "-N", "-m", &secs.to_string()])
        .args(["-H", &format!("authorization: Bearer {token}")])
        .arg(format!("{url}/api/nodes/{id}/logs?follow=1&lines=50"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Owner sees status and logs; another user gets 404, nobody signed in 401.
fn check_live_and_logs(url: &str, owner: &str, other: &str, id: &str) {
    let live = wait_online(url, owner, id);
    assert_eq!(live["status"]["node_id"], id, "{live}");
    assert!(live["status"]["cores"].as_u64().unwrap() >= 1, "{live}");

    let (s, body) = get(&format!("{url}/api/nodes/{id}/logs?lines=200"), Some(owner));
    assert_eq!(s, 200, "{body}");
    assert!(
        body.contains("node running"),
        "log tail without the start line: {body}"
    );

    // Followed: the backlog arrives and the response stays open (curl stops it: exit 28).
    let (code, body) = follow_logs(url, owner, id, 3);
    assert_eq!(
        code, 28,
        "a followed tail stays open until the reader leaves"
    );
    assert!(body.contains("node running"), "{body}");

    for path in ["live", "logs"] {
        let (s, b) = get(&format!("{url}/api/nodes/{id}/{path}"), Some(other));
        assert_eq!(s, 404, "another user's {path}: {b}");
        let (s, b) = get(&format!("{url}/api/nodes/{id}/{path}"), None);
        assert_eq!(s, 401, "anonymous {path}: {b}");
    }
    let (s, _) = get(&format!("{url}/api/nodes/not-a-node/live"), Some(owner));
    assert_eq!(s, 404);
}

#[test]
fn node_process_serves_live_status_and_logs_over_nats_and_goes_offline_when_killed() {
    let Some(nats) = nats_url() else { return };
    let dir = tempdir("live-nats");
    let grid = start_standalone(&dir, &[("WOWLAB_SENTINEL_TUNNEL_NATS_URL", nats.as_str())]);
    // The first account is admin; the owner here is a plain user, so owner access is what
    // lets it in, and "other" (neither owner nor admin) is refused.
    let _ = account(&grid.url, &dir.join("admin-cookies"), "admin@example.org");
    let (owner, claim) = account(&grid.url, &dir.join("owner-cookies"), "owner@example.org");
    let (other, _) = account(&grid.url, &dir.join("other-cookies"), "other@example.org");
    let node = tunnel_node(&grid.url, &claim, &dir, "live-e2e", &nats);
    let id = node_id(&grid.url, &owner);
    check_live_and_logs(&grid.url, &owner, &other, &id);

    drop(node);
    assert_offline(&grid.url, &owner, &id);
    let (s, b) = get(&format!("{}/api/nodes/{id}/logs", grid.url), Some(&owner));
    assert_eq!(s, 504, "{b}");
    assert_eq!(json(&b)["error"]["code"], "tunnel_no_first_frame");
}

#[test]
fn embedded_grid_serves_live_status_and_logs_of_in_process_nodes_without_nats() {
    let dir = tempdir("live-up");
    let (_up, url) = start_up(&dir);
    // The first account is admin and sees the in-process nodes; the second is refused.
    let (admin, _) = account(&url, &dir.join("admin-cookies"), "admin@example.org");
    let (other, _) = account(&url, &dir.join("other-cookies"), "other@example.org");
    let id = node_id(&url, &admin);
    check_live_and_logs(&url, &admin, &other, &id);
}

/// nats-server in operator mode with the trust chain `wowlab tunnel-nats-init` wrote into
/// `dir`; returns it and its URL.
fn start_operator_nats(dir: &std::path::Path) -> Option<(Proc, String)> {
    let Some(bin) = server_bin("nats-server") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but nats-server is not installed"
        );
        eprintln!("skipped: nats-server is not installed");
        return None;
    };
    let init = Command::new(BIN)
        .args(["tunnel-nats-init", "--dir"])
        .arg(dir.join("trust"))
        .output()
        .unwrap();
    assert!(init.status.success(), "{init:?}");
    let port = free_port();
    let conf = dir.join("nats.conf");
    std::fs::write(
        &conf,
        // Include paths are relative to the including file.
        format!("listen: 127.0.0.1:{port}\ninclude trust/tunnel-nats-operator.conf\n"),
    )
    .unwrap();
    let log = dir.join("nats.log");
    let p = Proc(
        Command::new(bin)
            .arg("-c")
            .arg(&conf)
            .arg("-l")
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("nats-server ready", Duration::from_secs(30), || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("Server is ready"))
    });
    Some((p, format!("nats://127.0.0.1:{port}")))
}

#[test]
fn node_serves_through_scoped_nats_credentials_across_refreshes() {
    let dir = tempdir("live-creds");
    let Some((_nats, nats)) = start_operator_nats(&dir) else {
        return;
    };
    let account = std::fs::read_to_string(dir.join("trust/tunnel-account.pub")).unwrap();
    let seed_file = dir.join("trust/tunnel-signing.seed");
    // Open (no-credential) connections are refused by an operator-mode server.
    let grid = start_standalone(
        &dir,
        &[
            ("WOWLAB_SENTINEL_TUNNEL_NATS_URL", nats.as_str()),
            ("WOWLAB_SENTINEL_TUNNEL_NATS_ACCOUNT", account.trim()),
            (
                "WOWLAB_SENTINEL_TUNNEL_NATS_SIGNING_KEY_FILE",
                seed_file.to_str().unwrap(),
            ),
            ("WOWLAB_SENTINEL_TUNNEL_NATS_JWT_LIFETIME_S", "4"),
        ],
    );
    let _ = account_of(&grid.url, &dir, "admin@example.org");
    let (owner, claim) = account_of(&grid.url, &dir, "owner@example.org");
    let (other, _) = account_of(&grid.url, &dir, "other@example.org");
    let node = tunnel_node(&grid.url, &claim, &dir, "creds-e2e", &nats);
    let id = node_id(&grid.url, &owner);
    check_live_and_logs(&grid.url, &owner, &other, &id);

    // Four lifetimes (16 s) of probes: both the node's and the sentinel's JWTs are replaced
    // about every 2.7 s, and the node stays online throughout.
    let started = std::time::Instant::now();
    let mut probes = 0;
    while started.elapsed() < Duration::from_secs(16) {
        let (s, b) = get(&format!("{}/api/nodes/{id}/live", grid.url), Some(&owner));
        assert_eq!(s, 200, "{b}");
        assert_eq!(
            json(&b)["online"],
            true,
            "probe {probes} at {:?}: {b}",
            started.elapsed()
        );
        probes += 1;
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(probes >= 10, "{probes} probes");
    check_live_and_logs(&grid.url, &owner, &other, &id);

    drop(node);
    assert_offline(&grid.url, &owner, &id);
}

/// `account` with a cookie jar of its own in `dir`.
fn account_of(url: &str, dir: &std::path::Path, email: &str) -> (String, String) {
    account(url, &dir.join(format!("{email}-cookies")), email)
}

#[test]
fn up_with_a_tunnel_nats_url_reaches_outside_node_processes_live() {
    let Some(nats) = nats_url() else { return };
    let dir = tempdir("live-up-nats");
    let port = free_port();
    let _up = Proc(
        Command::new(BIN)
            .args(["up", "--nodes", "0", "--addr"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(dir.join("grid"))
            .args(["--tunnel-nats-url", &nats])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn wowlab up"),
    );
    let url = format!("http://127.0.0.1:{port}");
    wait_until("grid ready", Duration::from_secs(60), || {
        http(&format!("{url}/readyz"), "GET", None, None).is_some_and(|(s, _)| s == 200)
    });
    let _ = account_of(&url, &dir, "admin@example.org");
    let (owner, claim) = account_of(&url, &dir, "owner@example.org");
    let (other, _) = account_of(&url, &dir, "other@example.org");
    let _node = tunnel_node(&url, &claim, &dir, "outside", &nats);
    let id = node_id(&url, &owner);
    check_live_and_logs(&url, &owner, &other, &id);
}

/// A `wowlab node` process claimed with `claim`, serving through the tunnel at `nats`.
fn tunnel_node(url: &str, claim: &str, dir: &std::path::Path, name: &str, nats: &str) -> Proc {
    Proc(
        Command::new(BIN)
            .arg("node")
            .args(["--sentinel", url, "--claim-token", claim])
            .arg("--data-dir")
            .arg(dir.join("node"))
            .args(["--max-parallel", "1", "--name", name])
            .env("WOWLAB_NODE_TUNNEL_NATS_URL", nats)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn wowlab node"),
    )
}

/// The live probe of a node that is gone answers `online: false` (no error page) once the
/// 2 s first-frame wait is over, and not much later.
fn assert_offline(url: &str, owner: &str, id: &str) {
    let (s, b) = get(&format!("{url}/api/nodes/{id}/live"), Some(owner));
    assert_eq!(s, 200, "offline is an answer, not an error page: {b}");
    let live = json(&b);
    assert_eq!(live["online"], false, "{live}");
    assert_eq!(live["reason"], "tunnel_no_first_frame", "{live}");
    let waited = live["latencyMs"].as_u64().unwrap();
    assert!(
        (2000..3000).contains(&waited),
        "the 2 s first-frame wait: {live}"
    );
}
