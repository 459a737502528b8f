//! Fuzz the profile reader and compiler: arbitrary text (TOML or JSON, sniffed) must compile
//! or be refused with an error, never panic, recurse without bound or hang. What compiles
//! must also simulate one iteration within the engine's bounds (or stop with its typed error).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(profile) = wowlab_sim::compile_str(src) else {
        return;
    };
    // Compiling is deterministic, and the canonical JSON form compiles to the same profile.
    let parsed = wowlab_sim::parse_profile(src).expect("a compiled profile parses");
    let json = serde_json::to_string(&parsed).expect("profiles serialize");
    let again = wowlab_sim::compile_json(&json).expect("its JSON form compiles");
    assert_eq!(again.hash(), profile.hash());
    // One iteration: its cost is bounded by the fight length and event limits.
    let _ = wowlab_sim::simulate_iteration(&profile, 1, 0);
});
