//! The Grafana dashboard in `examples/grafana/` only queries series the binaries export: every
//! metric named in a panel query appears on `/metrics` of a freshly started `wowlab up` (beacon,
//! sentinel and an in-process node on one endpoint), before any job ran.

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{free_port, http, tempdir, wait_until, Proc, BIN};

/// Metric names in a PromQL expression (our prefixes only; histogram suffixes stripped).
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &expr[i..];
        let starts_word = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if starts_word
            && ["sentinel_", "beacon_", "wowlab_node_"]
                .iter()
                .any(|p| rest.starts_with(p))
        {
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let name = &rest[..len];
            let name = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name);
            out.push(name.to_owned());
            i += len;
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn every_dashboard_query_names_an_exported_metric() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/grafana/wowlab-grid.json");
    let dash: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .expect("the dashboard is JSON");
    let panels = dash["panels"].as_array().expect("panels");
    assert!(panels.len() >= 8, "a panel per area");
    let mut wanted = BTreeSet::new();
    for p in panels {
        let title = p["title"].as_str().unwrap();
        let targets = p["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("{title}: no targets"));
        assert!(!targets.is_empty(), "{title}: no queries");
        for t in targets {
            let expr = t["expr"].as_str().unwrap();
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{title}: {expr} names no wowlab metric");
            wanted.extend(names);
        }
    }

    let port = free_port();
    let dir = tempdir("grafana");
    let _up = Proc(
        Command::new(BIN)
            .args(["up", "--nodes", "1", "--addr"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(&dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}/metrics");
    let mut body = String::new();
    // The in-process node registers its series when it starts, shortly after the listener.
    wait_until(
        "every dashboard metric on /metrics",
        Duration::from_secs(60),
        || {
            body = match http(&url, "GET", None, None) {
                Some((200, b)) => b,
                _ => return false,
            };
            wanted.iter().all(|m| exported(&body, m))
        },
    );
    for m in &wanted {
        println!("{m}: exported");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whether the exposition text has a sample of `metric`.
fn exported(body: &str, metric: &str) -> bool {
    body.lines().filter(|l| !l.starts_with('#')).any(|l| {
        l.strip_prefix(metric)
            .is_some_and(|rest| rest.starts_with(['{', ' ']) || rest.starts_with("_bucket"))
    })
}

#[test]
fn metric_names_are_read_from_promql() {
    assert_eq!(
        metric_names("sum by (x) (rate(sentinel_a_total{o=\"b\"}[1m])) / beacon_c_bucket"),
        ["sentinel_a_total", "beacon_c"]
    );
}
