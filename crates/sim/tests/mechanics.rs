//! Exact mechanic checks on tiny profiles (no crits, no variance unless a test wants them).

use wowlab_sim::{compile_str, run_chunk, simulate_iteration, CompiledProfile, IterationOutcome};

fn profile(body: &str) -> CompiledProfile {
    compile_str(&format!("version = 1\n{body}")).unwrap_or_else(|e| panic!("{e}\n{body}"))
}

fn one(p: &CompiledProfile) -> IterationOutcome {
    simulate_iteration(p, 1, 0).unwrap()
}

fn tally<'a>(
    p: &CompiledProfile,
    o: &'a IterationOutcome,
    name: &str,
) -> &'a wowlab_sim::AbilityTally {
    let i = p
        .abilities()
        .iter()
        .position(|a| a == name)
        .unwrap_or_else(|| panic!("no ability {name}"));
    &o.abilities[i]
}

const PLAYER: &str = "[player]\nprimary = 1000\ncrit_pct = 0\n";

#[test]
fn cooldowns_gate_casts() {
    let p = profile(&format!(
        "[fight]\nduration = 60\n{PLAYER}\
         [[spells]]\nname = \"big\"\ncoefficient = 5\ncooldown = 10\n\
         [[spells]]\nname = \"filler\"\ncoefficient = 1\n\
         [[apl]]\nspell = \"big\"\n[[apl]]\nspell = \"filler\"\n"
    ));
    let o = one(&p);
    // Big at 0, 10, ..., 50; filler on every other GCD.
    assert_eq!(tally(&p, &o, "big").casts, 6);
    assert_eq!(o.duration_us, 60_000_000);
    assert_eq!(o.damage, 6 * 5000 + tally(&p, &o, "filler").casts * 1000);
}

#[test]
fn charges_recharge_one_at_a_time() {
    let p = profile(&format!(
        "[fight]\nduration = 60\n{PLAYER}\
         [[spells]]\nname = \"shot\"\ncoefficient = 1\ncooldown = 10\ncharges = 2\n\
         [[apl]]\nspell = \"shot\"\n"
    ));
    // Two charges up front (0 s, 1.5 s), then one per 10 s recharge: 10, 20, 30, 40, 50.
    assert_eq!(tally(&p, &one(&p), "shot").casts, 7);
}

#[test]
fn haste_shortens_casts_and_gcd_with_a_floor() {
    let casts = |haste: f64, extra: &str| {
        let p = profile(&format!(
            "[fight]\nduration = 16\n[player]\nprimary = 1000\ncrit_pct = 0\nhaste_pct = {haste}\n\
             [[spells]]\nname = \"bolt\"\ncoefficient = 1\n{extra}\n[[apl]]\nspell = \"bolt\"\n"
        ));
        tally(&p, &one(&p), "bolt").casts
    };
    assert_eq!(casts(0.0, "cast_time = 2.0"), 8);
    assert_eq!(casts(25.0, "cast_time = 2.0"), 10); // 1.6 s casts
    assert_eq!(casts(0.0, ""), 11); // 1.5 s GCD: 0, 1.5, ..., 15
    assert_eq!(casts(300.0, ""), 22); // GCD floored at 0.75 s
}

#[test]
fn haste_rating_converts_with_diminishing_returns() {
    // 660 rating per percent: 19800 = 30 % (no penalty), 26400 = 40 % raw -> 30 + 9*0.9 + 1*0.8 = 38.9 %.
    let casts = |rating: u32| {
        let p = profile(&format!(
            "[fight]\nduration = 99\n[player]\nprimary = 1000\ncrit_pct = 0\nhaste_rating = {rating}\n\
             [[spells]]\nname = \"bolt\"\ncoefficient = 1\ncast_time = 10\ngcd = 0\n[[apl]]\nspell = \"bolt\"\n"
        ));
        tally(&p, &one(&p), "bolt").casts
    };
    assert_eq!(casts(0), 10);
    assert_eq!(casts(19_800), 13); // 10 / 1.3 = 7.69 s per cast
    assert_eq!(casts(26_400), 14); // 10 / 1.389 = 7.2 s per cast
}

#[test]
fn stacking_damage_buff_applies_after_the_hit_that_grants_it() {
    let p = profile(&format!(
        "[fight]\nduration = 7\n{PLAYER}\
         [[auras]]\nname = \"rage\"\nduration = 30\nmax_stacks = 3\ndamage_pct = 10\n\
         [[spells]]\nname = \"hit\"\ncoefficient = 1\napply = [\"rage\"]\n[[apl]]\nspell = \"hit\"\n"
    ));
    // Casts at 0, 1.5, 3, 4.5, 6: 1000, 1100, 1200, 1300, 1300.
    assert_eq!(one(&p).damage, 5900);
}

#[test]
fn consumed_stacks_and_conditions_on_stacks() {
    let p = profile(&format!(
        "[fight]\nduration = 30\n{PLAYER}\
         [[auras]]\nname = \"charge\"\nmax_stacks = 3\n\
         [[spells]]\nname = \"build\"\napply = [\"charge\"]\n\
         [[spells]]\nname = \"spend\"\ncoefficient = 1\nconsume = [\"charge\"]\n\
         [[apl]]\nspell = \"spend\"\nif = \"buff.charge.stack >= 3\"\n[[apl]]\nspell = \"build\"\n"
    ));
    let o = one(&p);
    // build, build, build, spend repeating every 6 s over 20 GCDs: 5 spends.
    assert_eq!(tally(&p, &o, "spend").casts, 5);
    assert_eq!(tally(&p, &o, "build").casts, 15);
}

#[test]
fn pandemic_refresh_keeps_up_to_thirty_percent() {
    let casts = |pandemic: bool| {
        let p = profile(&format!(
            "[fight]\nduration = 60\n{PLAYER}\
             [[dots]]\nname = \"rot\"\ncoefficient = 0.1\ntick = 1\nduration = 10\npandemic = {pandemic}\n\
             [[spells]]\nname = \"rot\"\ndot = \"rot\"\n\
             [[apl]]\nspell = \"rot\"\nif = \"dot.rot.refreshable\"\n"
        ));
        let o = one(&p);
        let t = tally(&p, &o, "rot");
        // Refreshed before expiry every time: a tick every second (1..59 s) for the whole fight.
        assert_eq!(t.hits, 59, "pandemic={pandemic}");
        t.casts
    };
    // Refreshable at 3 s left: with pandemic each cast lasts 13 s from then (0, 7, 17, ..., 57).
    assert_eq!(casts(true), 7);
    // Without, the left-over 3 s are lost: 0, 7, 14, ..., 56.
    assert_eq!(casts(false), 9);
}

#[test]
fn aura_refresh_rules() {
    let remains_after_refresh = |rule: &str| {
        // Applied at 0 and again at 6: what is left at 6?
        let p = profile(&format!(
            "[fight]\nduration = 6.5\n{PLAYER}\
             [[auras]]\nname = \"b\"\nduration = 10\nrefresh = \"{rule}\"\n\
             [[auras]]\nname = \"probe\"\n\
             [[spells]]\nname = \"apply\"\ngcd = 0\ncooldown = 6\napply = [\"b\"]\n\
             [[spells]]\nname = \"long\"\ncoefficient = 1\ngcd = 0\ncooldown = 100\n\
             [[apl]]\nspell = \"long\"\nif = \"buff.b.remains > 12.5\"\n\
             [[apl]]\nspell = \"apply\"\n"
        ));
        tally(&p, &one(&p), "long").casts
    };
    // duration: 10 left; pandemic: 10 + min(4, 3) = 13; extend: 4 + 10 = 14; keep: 4.
    assert_eq!(remains_after_refresh("duration"), 0);
    assert_eq!(remains_after_refresh("pandemic"), 1);
    assert_eq!(remains_after_refresh("extend"), 1);
    assert_eq!(remains_after_refresh("keep"), 0);
}

#[test]
fn dot_ticks_scale_with_haste_and_end_with_a_partial_tick() {
    let run = |haste: f64| {
        let p = profile(&format!(
            "[fight]\nduration = 20\n[player]\nprimary = 1000\ncrit_pct = 0\nhaste_pct = {haste}\n\
             [[dots]]\nname = \"burn\"\nschool = \"fire\"\ncoefficient = 1\ntick = 3\nduration = 15\n\
             [[spells]]\nname = \"ignite\"\ndot = \"burn\"\ncooldown = 100\n[[apl]]\nspell = \"ignite\"\n"
        ));
        let o = one(&p);
        let t = *tally(&p, &o, "burn");
        (t.hits, t.damage)
    };
    assert_eq!(run(0.0), (5, 5000));
    // 50 % haste: 2 s ticks, 7 full ticks and a half tick at 15 s.
    assert_eq!(run(50.0), (8, 7500));
}

#[test]
fn channels_tick_evenly_and_block_the_caster() {
    let p = profile(&format!(
        "[fight]\nduration = 30\n{PLAYER}\
         [[spells]]\nname = \"beam\"\ncoefficient = 1\nchannel = {{ duration = 3, ticks = 3 }}\n\
         [[apl]]\nspell = \"beam\"\n"
    ));
    let o = one(&p);
    let t = tally(&p, &o, "beam");
    // Ten channels; the last one's final tick would land exactly at the end of the fight.
    assert_eq!((t.casts, t.hits, o.damage), (10, 29, 29_000));
}

#[test]
fn proc_internal_cooldown_limits_frequency() {
    let p = profile(&format!(
        "[fight]\nduration = 60\n{PLAYER}\
         [[procs]]\nname = \"zap\"\non = [\"hit\"]\nchance = 1.0\nicd = 5\ndamage = {{ coefficient = 1, school = \"nature\", can_crit = false }}\n\
         [[spells]]\nname = \"hit\"\ncoefficient = 1\n[[apl]]\nspell = \"hit\"\n"
    ));
    // Hits every 1.5 s; the proc can fire at 0, 6, 12, ..., 54.
    assert_eq!(tally(&p, &one(&p), "zap").hits, 10);
}

#[test]
fn proc_chances_and_rppm_match_their_rates() {
    let p = profile(&format!(
        "[fight]\nduration = 300\n{PLAYER}\
         [[procs]]\nname = \"coin\"\non = [\"cast\"]\nchance = 0.3\ndamage = {{ coefficient = 1 }}\n\
         [[procs]]\nname = \"rppm\"\non = [\"hit\"]\nabilities = [\"hit\"]\nrppm = 4\ndamage = {{ coefficient = 1 }}\n\
         [[spells]]\nname = \"hit\"\ncoefficient = 1\n[[apl]]\nspell = \"hit\"\n"
    ));
    let r = run_chunk(&p, 3, 0..200).unwrap();
    let get = |n: &str| r.abilities.iter().find(|a| a.name == n).unwrap().clone();
    let casts = get("hit").casts as f64;
    let coin = get("coin").hits as f64 / casts;
    assert!((coin - 0.3).abs() < 0.01, "chance proc rate {coin}");
    let per_min = get("rppm").hits as f64 / (200.0 * 5.0);
    assert!((3.6..4.6).contains(&per_min), "rppm {per_min}");
}

#[test]
fn crits_follow_crit_chance_and_multiplier() {
    let p = profile(
        "[fight]\nduration = 300\n[player]\nprimary = 1000\ncrit_pct = 25\ncrit_multiplier = 2.0\n\
         [[spells]]\nname = \"hit\"\ncoefficient = 1\n[[apl]]\nspell = \"hit\"\n",
    );
    let r = run_chunk(&p, 9, 0..100).unwrap();
    let a = &r.abilities[0];
    let rate = a.crits as f64 / a.hits as f64;
    assert!((rate - 0.25).abs() < 0.01, "crit rate {rate}");
    assert_eq!(a.damage, (a.hits as u128 + a.crits as u128) * 1000);
}

#[test]
fn execute_spells_wait_for_the_execute_phase() {
    let p = profile(&format!(
        "[fight]\nduration = 100\n{PLAYER}\
         [[spells]]\nname = \"finish\"\ncoefficient = 1\nexecute_below_pct = 20\n\
         [[spells]]\nname = \"wait\"\ngcd = 0.5\n\
         [[apl]]\nspell = \"finish\"\n[[apl]]\nspell = \"wait\"\nif = \"target.health_pct < 10\"\n"
    ));
    let o = one(&p);
    // Health falls linearly: below 20 % from 80 s on; casts at 80, 81.5, ..., 98.
    assert_eq!(tally(&p, &o, "finish").casts, 14);
    assert_eq!(tally(&p, &o, "wait").casts, 0);
}

#[test]
fn fights_to_a_health_pool_end_when_the_target_dies() {
    let p = profile(
        "[fight]\nduration = 600\n[target]\nhealth = 100000\n[player]\nprimary = 0\ncrit_pct = 0\n\
         [[spells]]\nname = \"hit\"\nbase_damage = 1000\n[[apl]]\nspell = \"hit\"\n",
    );
    let o = one(&p);
    // The 100th hit lands at 99 * 1.5 s.
    assert_eq!(o.damage, 100_000);
    assert_eq!(o.duration_us, 148_500_000);
}

#[test]
fn armor_reduces_physical_damage_only() {
    let p = profile(&format!(
        "[fight]\nduration = 3\n[target]\narmor = 7390\n{PLAYER}\
         [[spells]]\nname = \"slash\"\ncoefficient = 1\ngcd = 3\n\
         [[spells]]\nname = \"fireball\"\nschool = \"fire\"\ncoefficient = 1\ngcd = 0\ncooldown = 100\n\
         [[apl]]\nspell = \"fireball\"\n[[apl]]\nspell = \"slash\"\n"
    ));
    let o = one(&p);
    assert_eq!(tally(&p, &o, "fireball").damage, 1000);
    assert_eq!(tally(&p, &o, "slash").damage, 500);
}

#[test]
fn resources_regenerate_and_gate_spells() {
    let p = profile(&format!(
        "[fight]\nduration = 60.1\n{PLAYER}\
         [[resources]]\nname = \"energy\"\nmax = 100\nregen = 10\n\
         [[spells]]\nname = \"stab\"\ncoefficient = 1\ncost = {{ energy = 50 }}\n\
         [[apl]]\nspell = \"stab\"\n"
    ));
    // 0 and 1.5 from the full bar, then every 5 s once 50 energy regenerates: 5, 10, ..., 60.
    assert_eq!(tally(&p, &one(&p), "stab").casts, 14);
}

#[test]
fn pets_are_summoned_swing_and_leave() {
    let p = profile(&format!(
        "[fight]\nduration = 60\n{PLAYER}\
         [[pets]]\nname = \"imp\"\nduration = 10\npower_pct = 50\nauto_attack = {{ coefficient = 1, speed = 2, school = \"fire\" }}\n\
         [[spells]]\nname = \"call\"\ncooldown = 30\nsummon = \"imp\"\n\
         [[spells]]\nname = \"idle\"\ngcd = 1\n\
         [[apl]]\nspell = \"call\"\n[[apl]]\nspell = \"idle\"\nif = \"pet.imp.active\"\n"
    ));
    let o = one(&p);
    // Two summons of 10 s, swings at 0, 2, 4, 6, 8 each, half the owner's power.
    let swings = tally(&p, &o, "imp.auto_attack");
    assert_eq!((swings.hits, swings.damage), (10, 5000));
    // While the imp is out the player casts `idle` every second (1..9 after each summon).
    assert_eq!(tally(&p, &o, "idle").casts, 18);
}

#[test]
fn cooldown_resets_and_reductions() {
    let casts = |extra: &str| {
        let p = profile(&format!(
            "[fight]\nduration = 60\n{PLAYER}\
             [[spells]]\nname = \"big\"\ncoefficient = 1\ncooldown = 20\n\
             [[spells]]\nname = \"filler\"\ncoefficient = 1\n{extra}\n\
             [[apl]]\nspell = \"big\"\n[[apl]]\nspell = \"filler\"\n"
        ));
        tally(&p, &one(&p), "big").casts
    };
    assert_eq!(casts(""), 3);
    // Each filler takes 3 s off: big comes back every ~9 s (1 + ~5.3 fillers).
    assert!(casts("reduce_cooldowns = [{ spell = \"big\", seconds = 3 }]") >= 6);
    // A reset after every filler makes big available on every other GCD.
    assert_eq!(casts("reset_cooldowns = [\"big\"]"), 20);
}

#[test]
fn off_gcd_spells_fire_alongside_gcd_spells() {
    let p = profile(&format!(
        "[fight]\nduration = 30\n{PLAYER}\
         [[auras]]\nname = \"burst\"\nduration = 10\ndamage_pct = 100\n\
         [[spells]]\nname = \"burst\"\ngcd = 0\ncooldown = 15\napply = [\"burst\"]\n\
         [[spells]]\nname = \"hit\"\ncoefficient = 1\n\
         [[apl]]\nspell = \"burst\"\n[[apl]]\nspell = \"hit\"\n"
    ));
    let o = one(&p);
    assert_eq!(tally(&p, &o, "burst").casts, 2);
    // 20 hits; those at 0..9 and 15..24 s (7 each) are doubled.
    assert_eq!(tally(&p, &o, "hit").casts, 20);
    assert_eq!(o.damage, 20 * 1000 + 14 * 1000);
}

#[test]
fn fight_length_varies_within_bounds() {
    let p = profile(&format!(
        "[fight]\nduration = 100\nvariance = 0.2\n{PLAYER}[[spells]]\nname = \"hit\"\ncoefficient = 1\n[[apl]]\nspell = \"hit\"\n"
    ));
    let lens: Vec<u64> = (0..200)
        .map(|k| simulate_iteration(&p, 5, k).unwrap().duration_us)
        .collect();
    assert!(lens
        .iter()
        .all(|&l| (80_000_000..=120_000_000).contains(&l)));
    let mean = lens.iter().sum::<u64>() as f64 / lens.len() as f64 / 1e6;
    assert!((mean - 100.0).abs() < 3.0, "mean {mean}");
    assert!(lens.iter().any(|&l| l < 90_000_000) && lens.iter().any(|&l| l > 110_000_000));
}
