//! Merge algebra: associative, commutative, identity; and exact against single-pass recording.

use std::collections::BTreeMap;

use proptest::prelude::*;
use wowlab_sim::{AbilityStats, ChunkResult};

/// Arbitrary but consistent results: the iterations are the histogram's counts (as
/// [`ChunkResult::check`] requires), min ≤ max.
fn arb_result() -> impl Strategy<Value = ChunkResult> {
    (
        any::<u64>(),
        any::<u64>(),
        prop::collection::btree_map(
            0u32..=wowlab_sim::stats::histogram::MAX_BUCKET,
            1u64..1_000_000,
            0..20,
        ),
        prop::collection::vec((any::<u32>(), any::<u16>(), any::<u16>(), any::<u16>()), 3),
        (any::<u32>(), any::<u32>(), any::<u32>()),
    )
        .prop_map(|(a, b, histogram, abilities, (d, e, f))| {
            let iterations = histogram.values().sum::<u64>();
            let (lo, hi) = if iterations == 0 {
                (u64::MAX, 0)
            } else {
                (a.min(b), a.max(b))
            };
            ChunkResult {
                profile_hash: "p".into(),
                iterations,
                sum_dps: a as u128 * iterations as u128,
                sum_dps_sq: (a as u128).pow(2) / 7 + e as u128,
                min_dps: lo,
                max_dps: hi,
                sum_damage: d as u128 * 1000,
                sum_duration_us: f as u128 * 17,
                events: e as u128,
                histogram: histogram.into_iter().collect::<BTreeMap<_, _>>(),
                abilities: abilities
                    .into_iter()
                    .enumerate()
                    .map(|(i, (dmg, c, h, cr))| AbilityStats {
                        name: format!("a{i}"),
                        damage: dmg as u128,
                        casts: c as u64,
                        hits: h as u64,
                        crits: cr as u64,
                    })
                    .collect(),
            }
        })
}

fn merged(a: &ChunkResult, b: &ChunkResult) -> ChunkResult {
    let mut x = a.clone();
    x.merge(b).unwrap();
    x
}

fn identity() -> ChunkResult {
    ChunkResult {
        profile_hash: "p".into(),
        iterations: 0,
        sum_dps: 0,
        sum_dps_sq: 0,
        min_dps: u64::MAX,
        max_dps: 0,
        sum_damage: 0,
        sum_duration_us: 0,
        events: 0,
        histogram: BTreeMap::new(),
        abilities: (0..3)
            .map(|i| AbilityStats {
                name: format!("a{i}"),
                ..AbilityStats::default()
            })
            .collect(),
    }
}

proptest! {
    #[test]
    fn merge_is_commutative(a in arb_result(), b in arb_result()) {
        prop_assert_eq!(merged(&a, &b).encode(), merged(&b, &a).encode());
    }

    #[test]
    fn merge_is_associative(a in arb_result(), b in arb_result(), c in arb_result()) {
        prop_assert_eq!(
            merged(&merged(&a, &b), &c).encode(),
            merged(&a, &merged(&b, &c)).encode()
        );
    }

    #[test]
    fn empty_is_the_identity(a in arb_result()) {
        prop_assert_eq!(&merged(&a, &identity()), &a);
        prop_assert_eq!(&merged(&identity(), &a), &a);
    }

    #[test]
    fn encoding_round_trips(a in arb_result()) {
        prop_assert_eq!(ChunkResult::decode(&a.encode()).unwrap(), a.clone());
        prop_assert_eq!(ChunkResult::from_json(&a.to_json()).unwrap(), a);
    }

    #[test]
    fn decode_never_panics_on_garbage(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = ChunkResult::decode(&bytes);
    }
}

#[test]
fn merge_overflow_is_an_error_not_a_wrap() {
    let mut a = identity();
    a.iterations = u64::MAX;
    let mut b = identity();
    b.iterations = 1;
    let before = a.clone();
    assert!(a.merge(&b).is_err());
    assert_eq!(a, before);
}
