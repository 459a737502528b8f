//! Sanity properties of the example profiles in `examples/profiles/`.

use std::path::PathBuf;

use wowlab_sim::{compile, compile_str, parse_toml, run_chunk, ChunkResult, Profile};

fn source(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/profiles")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

fn run(name: &str, n: u64) -> ChunkResult {
    run_chunk(&compile_str(&source(name)).unwrap(), 11, 0..n).unwrap()
}

/// (casts, hits, crits, damage) per iteration.
fn per_fight(r: &ChunkResult, ability: &str) -> (f64, f64, f64, f64) {
    let a = r
        .abilities
        .iter()
        .find(|a| a.name == ability)
        .unwrap_or_else(|| panic!("{ability}"));
    let n = r.iterations as f64;
    (
        a.casts as f64 / n,
        a.hits as f64 / n,
        a.crits as f64 / n,
        a.damage as f64 / n,
    )
}

/// Runs a variant of `name` with a fixed fight length.
fn fixed_length(name: &str, secs: f64, edit: impl Fn(&mut Profile)) -> ChunkResult {
    let mut p = parse_toml(&source(name)).unwrap();
    p.fight.duration = secs;
    p.fight.variance = 0.0;
    edit(&mut p);
    run_chunk(&compile(&p).unwrap(), 3, 0..20).unwrap()
}

fn assert_stable(r: &ChunkResult, lo: f64, hi: f64) {
    let rep = r.report();
    assert!(
        (lo..hi).contains(&rep.mean_dps),
        "mean dps {}",
        rep.mean_dps
    );
    assert!(
        rep.stddev / rep.mean_dps < 0.1,
        "cv {}",
        rep.stddev / rep.mean_dps
    );
    assert!(rep.min_dps <= rep.percentiles[0].dps && rep.percentiles[6].dps <= rep.max_dps);
    assert!((rep.mean_fight_secs - 300.0).abs() < 10.0);
}

#[test]
fn burst_cooldowns() {
    let r = run("burst-cooldowns.toml", 300);
    assert_stable(&r, 12_000.0, 26_000.0);
    // Cooldowns never beat their timers (fights last up to 360 s).
    let (cs, ..) = per_fight(&r, "colossus_smash");
    assert!((6.0..=7.7).contains(&cs), "colossus_smash {cs}");
    let (avatar, ..) = per_fight(&r, "avatar");
    let (reck, ..) = per_fight(&r, "recklessness");
    assert!(
        (3.0..=4.4).contains(&avatar) && (avatar - reck).abs() < 0.2,
        "avatar {avatar} reck {reck}"
    );
    // Mortal Strike: a 6 s cooldown shortened by 15 % haste.
    let (ms, ..) = per_fight(&r, "mortal_strike");
    assert!((30.0..=58.0).contains(&ms), "mortal_strike {ms}");
    // Procs: Sudden Death gives free executes.
    let (sudden, ..) = per_fight(&r, "sudden_execute");
    assert!(sudden > 5.0, "sudden_execute {sudden}");
    // 13 % crit from rating, more under Recklessness.
    let (_, hits, crits, _) = per_fight(&r, "slam");
    assert!(
        (0.13..0.2).contains(&(crits / hits)),
        "slam crit {}",
        crits / hits
    );
    // Execute only below 20 % health: none against a target too big to bring that low.
    let early = fixed_length("burst-cooldowns.toml", 100.0, |p| {
        p.target.health = Some(1e12)
    });
    assert_eq!(per_fight(&early, "execute").0, 0.0);
    assert!(per_fight(&early, "mortal_strike").0 > 10.0);
    let late = fixed_length("burst-cooldowns.toml", 100.0, |_| {});
    assert!(per_fight(&late, "execute").0 > 3.0);
}

#[test]
fn dot_builder() {
    let r = run("dot-builder.toml", 300);
    assert_stable(&r, 20_000.0, 40_000.0);
    // Three DoTs kept up nearly all fight: 2 s ticks at 24 % haste = 186 per 300 s.
    for dot in ["agony", "corruption", "unstable_affliction"] {
        let (_, hits, ..) = per_fight(&r, dot);
        assert!(hits > 175.0, "{dot} ticks {hits}");
    }
    // Pandemic refreshes: far fewer casts than full-duration refreshes would need.
    let (agony_casts, agony_ticks, ..) = per_fight(&r, "agony");
    assert!(agony_casts < 19.0, "agony casts {agony_casts}");
    // Shards are conserved: spends <= 3 at the start + 0.3 per Agony tick + 1 per Shadow Bolt.
    let (rapture, ..) = per_fight(&r, "malefic_rapture");
    let (bolts, ..) = per_fight(&r, "shadow_bolt");
    assert!(
        rapture > 50.0 && rapture <= 3.0 + 0.3 * agony_ticks + bolts + 0.01,
        "rapture {rapture}"
    );
    // Haunt: 15 s cooldown.
    let (haunt, ..) = per_fight(&r, "haunt");
    assert!(
        haunt <= 300.0 * 1.2 / 15.0 + 1.0 && haunt > 15.0,
        "haunt {haunt}"
    );
    // Nightfall procs from Corruption ticks (13 %) feed instant Shadow Bolts.
    let (_, corruption_ticks, ..) = per_fight(&r, "corruption");
    assert!(
        bolts > 0.05 * corruption_ticks && bolts <= 0.13 * corruption_ticks * 1.2,
        "bolts {bolts}"
    );
    // The execute channel appears only in the execute phase and ticks five times.
    let (dse, dse_hits, ..) = per_fight(&r, "drain_soul_execute");
    assert!(dse > 1.0 && dse < 19.0, "drain_soul_execute {dse}");
    assert!((dse_hits / dse - 5.0).abs() < 0.3);
    let early = fixed_length("dot-builder.toml", 100.0, |p| p.target.health = Some(1e12));
    assert_eq!(per_fight(&early, "drain_soul_execute").0, 0.0);
}

#[test]
fn pet_procs() {
    let r = run("pet-procs.toml", 300);
    assert_stable(&r, 12_000.0, 24_000.0);
    // The wolf swings every 2 s, hasted by 18 % and by up to three 10 % Frenzy stacks.
    let (_, swings, ..) = per_fight(&r, "wolf.auto_attack");
    assert!(
        (300.0 / 2.0 * 1.18..300.0 / 2.0 * 1.18 * 1.331).contains(&swings),
        "wolf swings {swings}"
    );
    // Dire Beast lives 8 s: 5 hasted swings per summon, up to 7 with Frenzy (pets only).
    let (summons, ..) = per_fight(&r, "dire_beast");
    let (_, beast_swings, ..) = per_fight(&r, "dire_beast.auto_attack");
    assert!(
        (5.0..=7.0).contains(&(beast_swings / summons)),
        "{beast_swings} / {summons}"
    );
    // The wolf's own action list: Bite whenever 50 of its 10/s energy is there.
    let (bites, ..) = per_fight(&r, "bite");
    assert!((52.0..=68.0).contains(&bites), "bites {bites}");
    // Poison Cloud: 30 % of bites.
    let (_, clouds, ..) = per_fight(&r, "poison_cloud");
    assert!(
        (clouds / bites - 0.3).abs() < 0.04,
        "cloud rate {}",
        clouds / bites
    );
    // Wild Call resets: more Barbed Shots than two charges on a hasted 12 s recharge allow.
    let (barbed, ..) = per_fight(&r, "barbed_shot");
    assert!(
        barbed > 2.0 + 300.0 / (12.0 / 1.18) + 2.0,
        "barbed {barbed}"
    );
    // Barbed ticks shorten Bestial Wrath: more casts than a plain 90 s cooldown allows.
    let (bw, ..) = per_fight(&r, "bestial_wrath");
    assert!(bw > 300.0 / 90.0 + 1.0, "bestial_wrath {bw}");
    // Kill Shot only in the execute phase, on a 10 s cooldown.
    let (ks, ..) = per_fight(&r, "kill_shot");
    assert!(ks > 2.0 && ks <= 0.2 * 360.0 / 10.0 + 1.0, "kill_shot {ks}");
    // Thrill of the Hunt (player only) raises the player's crit above the pets'.
    let (_, h, c, _) = per_fight(&r, "kill_command");
    let (_, wh, wc, _) = per_fight(&r, "wolf.auto_attack");
    assert!(c / h > wc / wh + 0.03, "player {} pet {}", c / h, wc / wh);
}
