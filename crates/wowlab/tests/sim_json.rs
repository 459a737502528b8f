//! `wowlab sim --json` stays valid, exact JSON at any size: once the sum of squared DPS passes
//! 2^64 (a few tens of thousands of iterations of a real profile) the exact sums no longer fit
//! a JSON number, so they are decimal strings. Runs the real binary.

use std::process::Command;

use wowlab_sim::ChunkResult;

const BIN: &str = env!("CARGO_BIN_EXE_wowlab");

/// A one-second fight at a million DPS: cheap enough for a million iterations in a debug
/// build, large enough that the squares' sum passes 2^64 after about 20 of them.
const PROFILE: &str = r#"
version = 1
name = "cheap"
[fight]
duration = 1
variance = 0.2
[player]
primary = 1000000
crit_pct = 30
[[spells]]
name = "strike"
coefficient = 1.0
[[apl]]
spell = "strike"
"#;

#[test]
fn a_million_iterations_print_exact_sums_as_strings() {
    let dir = std::env::temp_dir().join(format!("wowlab-sim-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cheap.toml");
    std::fs::write(&path, PROFILE).unwrap();
    let out = Command::new(BIN)
        .arg("sim")
        .arg(&path)
        .args(["-n", "1000000", "--seed", "5", "--json", "--quiet"])
        .output()
        .expect("run wowlab sim");
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        out.status.success(),
        "wowlab sim failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(doc["report"]["iterations"], 1_000_000);
    assert!(doc["report"]["mean_dps"].as_f64().unwrap() > 500_000.0);
    let raw = &doc["result"];
    let sq: u128 = raw["sum_dps_sq"]
        .as_str()
        .expect("sum_dps_sq is a string")
        .parse()
        .unwrap();
    assert!(sq > u128::from(u64::MAX), "{sq}");
    for key in [
        "sum_dps",
        "sum_damage",
        "sum_duration_us",
        "events",
        "min_dps",
        "max_dps",
    ] {
        assert!(raw[key].is_string(), "{key}: {}", raw[key]);
    }
    assert!(raw["abilities"][0]["damage"].is_string());
    // It reads back exactly, and agrees with the report.
    let result: ChunkResult = serde_json::from_value(raw.clone()).unwrap();
    assert_eq!(result.iterations, 1_000_000);
    assert_eq!(result.sum_dps_sq, sq);
    assert_eq!(
        serde_json::to_value(result.report()).unwrap()["mean_dps"],
        doc["report"]["mean_dps"]
    );
}
