//! Golden result hashes: the example profiles, run with a fixed seed and iteration range, must
//! encode to exactly these bytes on every platform. Spot checks compare honest nodes' results
//! byte for byte, so a platform that disagrees here cannot take part in the grid.
//!
//! The hash covers the canonical encoding ([`ChunkResult::encode`], what nodes send), not any
//! field layout. After a deliberate change of the simulation or the encoding, print the new
//! values with `WOWLAB_BLESS_GOLDEN=1 cargo test -p wowlab-sim --test golden -- --nocapture`
//! and paste them below.

use std::path::PathBuf;

use sha2::{Digest, Sha256};
use wowlab_sim::{compile_str, run_chunk, ChunkResult};

/// Seed and iteration range of every golden run (a range not starting at 0, as a chunk's).
const SEED: u64 = 0x1919_2026;
const ITERATIONS: std::ops::Range<u64> = 500..700;

/// (profile, SHA-256 of the encoded result) — verified on x86_64 Linux.
const GOLDEN: [(&str, &str); 3] = [
    (
        "burst-cooldowns.toml",
        "463db74233dc3edeadd77a6995405694f74eee047bbcd4a977a21137063dcc2e",
    ),
    (
        "dot-builder.toml",
        "acdbbfef449e89ab87b0e40e1a798aa89047e4224905e88313096c13f46040f5",
    ),
    (
        "pet-procs.toml",
        "d0ddf4f975de73169784bd1fbaeea09dbf089b267b4c14e127930d324a4b49d6",
    ),
];

fn run(name: &str) -> ChunkResult {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/profiles")
        .join(name);
    let profile = compile_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    run_chunk(&profile, SEED, ITERATIONS).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn example_profiles_encode_to_the_golden_bytes() {
    let bless = std::env::var_os("WOWLAB_BLESS_GOLDEN").is_some();
    let mut wrong = Vec::new();
    for (name, want) in GOLDEN {
        let got = hex(&Sha256::digest(run(name).encode()));
        if bless {
            println!("    (\"{name}\", \"{got}\"),");
        } else if got != want {
            wrong.push(format!("{name}: got {got}, want {want}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "result bytes changed on this platform (see the module docs to re-bless after a \
         deliberate change):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn golden_runs_are_not_trivial() {
    // A hash of an empty or failed run would pin nothing.
    for (name, _) in GOLDEN {
        let r = run(name);
        assert_eq!(r.iterations, 200, "{name}");
        assert!(r.report().mean_dps > 0.0, "{name}");
    }
}
