//! `wowlab beacon --config` with real Centrifugo v6 files: a full config starts with one warning
//! naming the keys beacon does not implement; a typo stops the start and names the nearest key.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_wowlab");

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/centrifugo-v6-full.json")
}

#[test]
fn a_full_centrifugo_v6_config_starts_with_one_warning() {
    let mut child = Command::new(BIN)
        .args(["beacon", "--config"])
        .arg(fixture())
        .env("WOWLAB_BEACON_HTTP_SERVER_PORT", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let stderr = child.stderr.take().unwrap();
    let errs = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut listening = false;
    for line in stdout.lines().map_while(Result::ok) {
        if line.contains("beacon listening on http://") {
            listening = true;
            break;
        }
        assert!(Instant::now() < deadline, "no listening line");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let errs = errs.join().unwrap();
    assert!(listening, "beacon did not start: {errs:?}");
    let warnings: Vec<_> = errs
        .iter()
        .filter(|l| l.contains("does not implement"))
        .collect();
    assert_eq!(warnings.len(), 1, "{errs:?}");
    for key in [
        "client.concurrency",
        "grpc_api",
        "consumers",
        "websocket.compression",
    ] {
        assert!(warnings[0].contains(key), "{key} not in {}", warnings[0]);
    }
}

#[test]
fn a_typo_stops_the_start_with_the_nearest_key() {
    let dir = std::env::temp_dir().join(format!("wowlab-beacon-typo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("typo.json");
    std::fs::write(
        &path,
        r#"{"client": {"token": {"hmac_secret_key": "s"}, "concurency": 4}}"#,
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["beacon", "--config"])
        .arg(&path)
        .env("WOWLAB_BEACON_HTTP_SERVER_PORT", "0")
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("client.concurency"), "{err}");
    assert!(err.contains("did you mean `client.concurrency`"), "{err}");
}
