//! Any split of a job's iterations, merged in any order, gives bit-identical results.

use std::path::PathBuf;

use wowlab_sim::{compile_str, run_chunk, ChunkResult, CompiledProfile};

fn example(name: &str) -> CompiledProfile {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/profiles")
        .join(name);
    compile_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const PROFILES: [&str; 3] = ["burst-cooldowns.toml", "dot-builder.toml", "pet-procs.toml"];

#[test]
fn one_chunk_equals_seven_uneven_chunks_in_any_merge_order() {
    let n = 140u64;
    // Uneven boundaries, including a one-iteration chunk.
    let cuts = [0u64, 1, 9, 30, 31, 77, 100, n];
    for name in PROFILES {
        let p = example(name);
        let whole = run_chunk(&p, 42, 0..n).unwrap();
        let parts: Vec<ChunkResult> = cuts
            .windows(2)
            .map(|w| run_chunk(&p, 42, w[0]..w[1]).unwrap())
            .collect();
        assert_eq!(parts.len(), 7);

        let mut forward = ChunkResult::empty(&p);
        for part in &parts {
            forward.merge(part).unwrap();
        }
        let mut reversed = ChunkResult::empty(&p);
        for part in parts.iter().rev() {
            reversed.merge(part).unwrap();
        }
        // A tree-shaped merge: ((0+1)+(2+3)) + ((4+5)+6).
        let pair = |a: &ChunkResult, b: &ChunkResult| {
            let mut x = a.clone();
            x.merge(b).unwrap();
            x
        };
        let tree = pair(
            &pair(&pair(&parts[0], &parts[1]), &pair(&parts[2], &parts[3])),
            &pair(&pair(&parts[4], &parts[5]), &parts[6]),
        );
        for merged in [&forward, &reversed, &tree] {
            assert_eq!(merged.encode(), whole.encode(), "{name}: binary");
            assert_eq!(merged.to_json(), whole.to_json(), "{name}: json");
            assert_eq!(merged.report(), whole.report(), "{name}: report");
        }
        assert_eq!(whole.iterations, n);
    }
}

#[test]
fn seeds_change_results_and_reruns_do_not() {
    let p = example("pet-procs.toml");
    let a = run_chunk(&p, 1, 0..50).unwrap();
    assert_eq!(a, run_chunk(&p, 1, 0..50).unwrap());
    let b = run_chunk(&p, 2, 0..50).unwrap();
    assert_ne!(a.sum_dps, b.sum_dps);
}

#[test]
fn threads_do_not_change_results() {
    let p = example("dot-builder.toml");
    let serial = run_chunk(&p, 5, 0..64).unwrap();
    let parts: Vec<ChunkResult> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4u64)
            .map(|t| {
                let p = &p;
                s.spawn(move || run_chunk(p, 5, t * 16..(t + 1) * 16).unwrap())
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut merged = ChunkResult::empty(&p);
    for part in parts.iter().rev() {
        merged.merge(part).unwrap();
    }
    assert_eq!(merged.encode(), serial.encode());
}

#[test]
fn binary_encoding_round_trips_and_rejects_garbage() {
    let p = example("burst-cooldowns.toml");
    let r = run_chunk(&p, 3, 0..20).unwrap();
    let bytes = r.encode();
    assert_eq!(ChunkResult::decode(&bytes).unwrap(), r);
    assert_eq!(ChunkResult::from_json(&r.to_json()).unwrap(), r);
    for cut in [0, 3, 5, 40, bytes.len() - 1] {
        assert!(
            ChunkResult::decode(&bytes[..cut]).is_err(),
            "truncated at {cut}"
        );
    }
    let mut extra = bytes.clone();
    extra.push(0);
    assert!(matches!(
        ChunkResult::decode(&extra),
        Err(wowlab_sim::DecodeError::Trailing(1))
    ));
    let mut bad = bytes.clone();
    bad[0] = b'X';
    assert!(matches!(
        ChunkResult::decode(&bad),
        Err(wowlab_sim::DecodeError::BadMagic)
    ));
}

#[test]
fn merging_results_of_different_profiles_is_refused() {
    let a = run_chunk(&example("burst-cooldowns.toml"), 1, 0..2).unwrap();
    let b = run_chunk(&example("dot-builder.toml"), 1, 0..2).unwrap();
    let mut x = a.clone();
    assert!(matches!(
        x.merge(&b),
        Err(wowlab_sim::MergeError::ProfileMismatch(..))
    ));
    assert_eq!(x, a, "a refused merge leaves the result untouched");
}

#[test]
fn content_hash_is_stable_across_formats() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/profiles/pet-procs.toml");
    let src = std::fs::read_to_string(path).unwrap();
    let parsed = wowlab_sim::parse_toml(&src).unwrap();
    let json = serde_json::to_string(&parsed).unwrap();
    let from_toml = compile_str(&src).unwrap();
    let from_json = compile_str(&json).unwrap();
    assert_eq!(from_toml.hash(), from_json.hash());
    assert_eq!(from_toml.hash().len(), 64);
    let mut changed = parsed.clone();
    changed.player.primary += 1.0;
    assert_ne!(wowlab_sim::profile_hash(&changed), from_toml.hash());
}

#[test]
fn runner_api_sizes_chunks_from_measured_cost() {
    let p = example("burst-cooldowns.toml");
    let cost = wowlab_sim::estimate_cost(&p).unwrap();
    assert!(
        cost > std::time::Duration::ZERO && cost < std::time::Duration::from_secs(1),
        "{cost:?}"
    );
    let per_chunk = wowlab_sim::chunk_size_for(cost, std::time::Duration::from_secs(1));
    assert!(per_chunk >= 1);
    let ranges = wowlab_sim::chunk_ranges(1_001, 100);
    assert_eq!(ranges.len(), 11);
    assert_eq!(ranges[0], 0..100);
    assert_eq!(ranges[10], 1_000..1_001);
    assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
    assert!(wowlab_sim::chunk_ranges(0, 10).is_empty());
}

/// The distribution's bins come from the fixed histogram every chunk counts in, so they are
/// the same bytes (and the same display bins) for any chunking, and count every iteration.
#[test]
fn histogram_bins_are_the_same_bytes_for_any_chunking() {
    let p = example("burst-cooldowns.toml");
    let n = 240u64;
    let whole = run_chunk(&p, 7, 0..n).unwrap();
    let bins = whole.distribution();
    assert!(bins.len() > 5, "{bins:?}");
    assert_eq!(bins.iter().map(|b| b.count).sum::<u64>(), n);
    for size in [1u64, 7, 13, 64, 239] {
        let mut merged = ChunkResult::empty(&p);
        // Merge in a scrambled order: every third chunk first, then the rest backwards.
        let ranges = wowlab_sim::chunk_ranges(n, size);
        let (thirds, rest): (Vec<_>, Vec<_>) =
            ranges.iter().enumerate().partition(|(i, _)| i % 3 == 0);
        for (_, r) in thirds.into_iter().chain(rest.into_iter().rev()) {
            merged.merge(&run_chunk(&p, 7, r.clone()).unwrap()).unwrap();
        }
        assert_eq!(merged.encode(), whole.encode(), "chunks of {size}: bytes");
        assert_eq!(merged.distribution(), bins, "chunks of {size}: bins");
        assert_eq!(
            merged.report().distribution,
            bins,
            "chunks of {size}: report"
        );
    }
}
