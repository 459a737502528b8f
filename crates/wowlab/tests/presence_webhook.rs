//! The presence cron with real processes: a standalone sentinel (`--webhook-url`,
//! `--presence-interval-ms`) reads beacon's `nodes:online` roster; a node process that joins
//! flips to online and, killed with SIGKILL, to offline — each flip reaches the webhook as
//! `{"event": "node.status", "flips": [...]}`. A malformed webhook URL stops the sentinel at
//! start with a message naming the flag.

mod support;

use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::webhook::webhook_receiver;
use support::*;

/// Waits for a webhook flip of `node` to `status`; returns all bodies seen meanwhile.
fn wait_flip(
    rx: &mpsc::Receiver<serde_json::Value>,
    node: &str,
    status: &str,
    limit: Duration,
) -> Vec<serde_json::Value> {
    let start = Instant::now();
    let mut seen = Vec::new();
    while let Some(left) = limit.checked_sub(start.elapsed()) {
        let Ok(body) = rx.recv_timeout(left) else {
            break;
        };
        assert_eq!(body["event"], "node.status", "{body}");
        let hit = body["flips"].as_array().is_some_and(|f| {
            f.iter()
                .any(|f| f["type"] == "status" && f["nodeId"] == node && f["status"] == status)
        });
        seen.push(body);
        if hit {
            return seen;
        }
    }
    panic!("no webhook flip of {node} to {status} within {limit:?}; got {seen:?}");
}

#[test]
fn node_status_flips_reach_the_webhook() {
    let dir = tempdir("webhook");
    let (hook, rx) = webhook_receiver();
    let s = start_standalone(
        &dir,
        &[
            ("WOWLAB_WEBHOOK_URL", hook.as_str()),
            ("WOWLAB_PRESENCE_INTERVAL_MS", "300"),
        ],
    );
    let (api_token, claim_token) = account(&s.url, &dir.join("cookies"), "hook@example.org");
    let node = start_node(&s.url, &claim_token, &dir.join("node"), "hooked");
    let mut node_id = String::new();
    wait_until("node registered", Duration::from_secs(60), || {
        let list = http(
            &format!("{}/api/nodes", s.url),
            "GET",
            Some(&api_token),
            None,
        )
        .map(|(_, b)| json(&b))
        .unwrap_or_default();
        match list.as_array().and_then(|a| a.first()) {
            Some(n) => {
                node_id = n["id"].as_str().unwrap().to_owned();
                true
            }
            None => false,
        }
    });
    wait_flip(&rx, &node_id, "online", Duration::from_secs(30));
    drop(node); // SIGKILL: the beacon connection drops, presence leaves
    wait_flip(&rx, &node_id, "offline", Duration::from_secs(30));
    let (_, list) = http(
        &format!("{}/api/nodes", s.url),
        "GET",
        Some(&api_token),
        None,
    )
    .unwrap();
    assert_eq!(json(&list)[0]["status"], "offline", "{list}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_malformed_webhook_url_is_refused_at_start() {
    let out = Command::new(BIN)
        .args(["sentinel", "--data-dir", "/nonexistent-never-created"])
        .args([
            "--beacon-url",
            "http://127.0.0.1:1",
            "--beacon-api-key",
            "k",
        ])
        .args(["--token-secret", "s", "--webhook-url", "ftp//oops"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--webhook-url") && err.contains("not a URL"),
        "{err}"
    );
}
