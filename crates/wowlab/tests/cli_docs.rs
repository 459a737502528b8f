//! `wowlab completions` and `wowlab man` through the real binary: every shell gets a script
//! naming the commands, man pages are written per command, and a bad shell is a usage error.

mod support;

use std::process::Command;

use support::{tempdir, BIN};

#[test]
fn completion_scripts_name_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(BIN)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}: {out:?}");
        let script = String::from_utf8(out.stdout).unwrap();
        for cmd in [
            "up",
            "node",
            "sentinel",
            "beacon",
            "run",
            "sim",
            "completions",
        ] {
            assert!(script.contains(cmd), "{shell} script lacks {cmd}");
        }
        println!("{shell}: {} bytes", script.len());
    }
    let out = Command::new(BIN)
        .args(["completions", "cmd.exe"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a bad shell is a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value"));
}

#[test]
fn man_pages_are_written_per_command() {
    let out = Command::new(BIN).arg("man").output().unwrap();
    assert!(out.status.success());
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(
        page.contains(".TH wowlab 1"),
        "{}",
        &page[..page.len().min(200)]
    );
    let dir = tempdir("man");
    let out = Command::new(BIN)
        .args(["man", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    for name in [
        "wowlab.1",
        "wowlab-up.1",
        "wowlab-node.1",
        "wowlab-sentinel.1",
    ] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        assert!(text.contains(".TH"), "{name}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
