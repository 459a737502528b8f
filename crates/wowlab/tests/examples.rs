//! The deployment examples in `examples/deploy/` and `examples/distributed/` stay in step with
//! the code: the node's TOML file loads (unknown keys would be refused), and every `WOWLAB_*`
//! variable the env files name is one the command really reads.

use std::path::PathBuf;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_wowlab");

fn deploy(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/deploy")
        .join(file)
}

#[test]
fn the_example_node_config_loads() {
    let cfg = wowlab_node::config::NodeConfig::from_sources(Some(&deploy("node.toml")), |_| None)
        .expect("examples/deploy/node.toml");
    assert_eq!(
        cfg.sentinel_url.as_deref(),
        Some("https://grid.example.org")
    );
    assert_eq!(cfg.name.as_deref(), Some("build-box-1"));
    assert_eq!(cfg.max_parallel, 4);
    assert_eq!(cfg.status_addr.map(|a| a.port()), Some(9100));
}

/// `WOWLAB_*` names in an env file under `examples/`, commented-out ones included.
fn env_names(file: &str) -> Vec<String> {
    std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples")
            .join(file),
    )
    .unwrap()
    .lines()
    .map(|l| l.trim_start_matches('#').trim())
    .filter_map(|l| l.split_once('=').map(|(k, _)| k))
    .filter(|k| k.starts_with("WOWLAB_") && !k.contains(' '))
    .map(str::to_owned)
    .collect()
}

fn help(cmd: &str) -> String {
    let out = Command::new(BIN).args([cmd, "--help"]).output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn env_files_name_only_variables_the_commands_read() {
    // Read directly by the embedded grid rather than through a flag.
    let direct = ["WOWLAB_ALLOWED_ORIGINS"];
    for (file, cmd) in [
        ("deploy/sentinel.env", "sentinel"),
        ("deploy/up.env", "up"),
        ("distributed/sentinel-a.env", "sentinel"),
        ("distributed/sentinel-b.env", "sentinel"),
    ] {
        let names = env_names(file);
        assert!(names.len() >= 3, "{file}: {names:?}");
        let text = help(cmd);
        for n in names {
            assert!(
                direct.contains(&n.as_str()) || text.contains(&format!("env: {n}")),
                "{file} names {n}, which `wowlab {cmd}` does not read"
            );
        }
    }
}
