//! Bad profiles and expressions give precise, located errors.

use wowlab_sim::{compile_json, compile_toml, Location, ProfileError};

const BASE: &str = "version = 1\n[fight]\nduration = 60\n[player]\nprimary = 1000\n\
[[spells]]\nname = \"strike\"\ncoefficient = 1\ncooldown = 6\n\
[[spells]]\nname = \"filler\"\ncoefficient = 0.5\n";

fn err(extra: &str) -> ProfileError {
    let src = format!("{BASE}{extra}");
    match compile_toml(&src) {
        Ok(_) => panic!("accepted:\n{src}"),
        Err(e) => e,
    }
}

fn invalid(e: &ProfileError) -> (&str, &str, Option<Location>) {
    match e {
        ProfileError::Invalid {
            path,
            message,
            location,
        } => (path, message, *location),
        other => panic!("expected a semantic error, got {other}"),
    }
}

/// Line of `needle`'s first occurrence in the test document, 1-based.
fn line_of(extra: &str, needle: &str) -> usize {
    let src = format!("{BASE}{extra}");
    src[..src.find(needle).unwrap()].matches('\n').count() + 1
}

#[test]
fn unknown_spell_in_the_apl() {
    let extra = "[[apl]]\nspell = \"strik\"\n";
    let e = err(extra);
    let (path, msg, loc) = invalid(&e);
    assert_eq!(path, "apl[0].spell");
    assert!(
        msg.contains("unknown spell `strik` (known spells: filler, strike)"),
        "{msg}"
    );
    assert_eq!(
        loc,
        Some(Location {
            line: line_of(extra, "spell = \"strik\""),
            column: 9
        })
    );
    assert!(
        e.to_string().starts_with(&format!(
            "line {}, column 9: apl[0].spell: unknown spell",
            line_of(extra, "spell = \"strik\"")
        )),
        "{e}"
    );
}

#[test]
fn unknown_aura_in_a_condition_points_at_the_name() {
    let extra = "[[apl]]\nspell = \"strike\"\nif = \"cooldown.strike.ready and buff.frenzy.up\"\n";
    let e = err(extra);
    let (path, msg, loc) = invalid(&e);
    assert_eq!(path, "apl[0].if");
    assert!(
        msg.contains("unknown aura `frenzy` in `buff.frenzy.up`"),
        "{msg}"
    );
    // `if = "` is 6 characters; `buff` starts at offset 26 of the expression.
    assert_eq!(
        loc,
        Some(Location {
            line: line_of(extra, "if = "),
            column: 6 + 1 + 26
        })
    );
}

#[test]
fn expression_syntax_errors_have_line_and_column() {
    let extra = "[[apl]]\nspell = \"strike\"\nif = \"cooldown.strike.ready and (resource.x > 3\"\n";
    let e = err(extra);
    let (path, msg, loc) = invalid(&e);
    assert_eq!(path, "apl[0].if");
    assert!(msg.contains("expected `)`"), "{msg}");
    let expr = "cooldown.strike.ready and (resource.x > 3";
    assert_eq!(
        loc,
        Some(Location {
            line: line_of(extra, "if = "),
            column: 7 + expr.len()
        })
    );
}

#[test]
fn multi_line_conditions_are_located_inside_the_block() {
    let extra = "[[apl]]\nspell = \"strike\"\nif = \"\"\"\ncooldown.strike.ready and\n  target.bogus < 3\"\"\"\n";
    let e = err(extra);
    let (_, msg, loc) = invalid(&e);
    assert!(msg.contains("unknown target property `bogus`"), "{msg}");
    assert_eq!(
        loc,
        Some(Location {
            line: line_of(extra, "  target.bogus"),
            column: 3
        })
    );
}

#[test]
fn unknown_properties_and_names_are_explained() {
    let cases = [
        ("cooldown.strike.bogus", "unknown cooldown property `bogus`"),
        ("resource.focus > 3", "unknown resource `focus`"),
        ("dot.x.ticking", "unknown dot `x`"),
        ("variable.nope", "unknown variable `nope`"),
        ("something", "unknown name `something`"),
        ("pet.wolf.active", "unknown pet `wolf`"),
        ("1 < 2 < 3", "cannot be chained"),
    ];
    for (cond, want) in cases {
        let extra = format!("[[apl]]\nspell = \"strike\"\nif = \"{cond}\"\n");
        let e = err(&extra);
        let (_, msg, loc) = invalid(&e);
        assert!(msg.contains(want), "{cond}: {msg}");
        assert!(loc.is_some(), "{cond}: no location");
    }
}

#[test]
fn schema_errors_point_at_the_offending_line() {
    // A misspelled field.
    let src = format!("{BASE}[[apl]]\nspell = \"strike\"\nconditon = \"x\"\n");
    let e = compile_toml(&src).unwrap_err();
    assert!(matches!(e, ProfileError::Syntax { .. }), "{e}");
    assert!(e.to_string().contains("conditon"), "{e}");
    assert_eq!(e.location().map(|l| l.line), Some(src.lines().count()));
    // A wrong type.
    let e = compile_toml("version = 1\n[fight]\nduration = \"long\"\n").unwrap_err();
    assert_eq!(e.location().map(|l| l.line), Some(3), "{e}");
    // Broken TOML.
    let e = compile_toml("version = 1\n[fight\n").unwrap_err();
    assert_eq!(e.location().map(|l| l.line), Some(2), "{e}");
}

#[test]
fn semantic_checks() {
    let cases: &[(&str, &str, &str)] = &[
        ("[[apl]]\nspell = \"strike\"\n[[spells]]\nname = \"strike\"\n", "spells[2].name", "duplicate spell name `strike`"),
        ("[[apl]]\nspell = \"strike\"\n[[spells]]\nname = \"bad name\"\n", "spells[2].name", "must be letters"),
        ("[[apl]]\nspell = \"strike\"\n[[spells]]\nname = \"neg\"\ncooldown = -1\n", "spells[2].cooldown", "must be between 0"),
        ("[[apl]]\nspell = \"strike\"\n[[spells]]\nname = \"ch\"\ncharges = 0\ncooldown = 5\n", "spells[2].charges", "between 1 and 255"),
        ("[[apl]]\nspell = \"strike\"\n[[spells]]\nname = \"c\"\ncost = { rage = 10 }\n", "spells[2].cost.rage", "unknown resource `rage`"),
        ("[[apl]]\nspell = \"strike\"\n[[spells]]\nname = \"c\"\napply = [\"nope\"]\n", "spells[2].apply[0]", "unknown aura `nope`"),
        ("[[apl]]\nspell = \"strike\"\n[[procs]]\nname = \"p\"\non = [\"hit\"]\napply = []\ngain = {}\ndamage = { coefficient = 1 }\n", "procs[0].chance", "needs `chance` or `rppm`"),
        ("[[apl]]\nspell = \"strike\"\n[[procs]]\nname = \"p\"\non = [\"hit\"]\nchance = 0.5\nrppm = 2\ndamage = { coefficient = 1 }\n", "procs[0].rppm", "not both"),
        ("[[apl]]\nspell = \"strike\"\n[[procs]]\nname = \"p\"\non = [\"hit\"]\nchance = 1.5\ndamage = { coefficient = 1 }\n", "procs[0].chance", "between 0 and 1"),
        ("[[apl]]\nspell = \"strike\"\n[[procs]]\nname = \"p\"\non = [\"hit\"]\nchance = 0.5\n", "procs[0]", "has no effect"),
        ("[[apl]]\nspell = \"strike\"\n[[pets]]\nname = \"wolf\"\n", "pets[0].summon_at_start", "never summoned"),
        ("[[apl]]\nspell = \"bite\"\n[[pets]]\nname = \"wolf\"\nsummon_at_start = true\n[[spells]]\nname = \"bite\"\nactor = \"wolf\"\n", "apl[0].spell", "cast by pet `wolf`, not by the player"),
        ("[[apl]]\nspell = \"free\"\n[[spells]]\nname = \"free\"\ngcd = 0\n", "apl[0].spell", "cast endlessly"),
        ("[[apl]]\nspell = \"strike\"\nif = \"variable.a\"\n[variables]\na = \"variable.b > 1\"\nb = \"variable.a\"\n", "variables.a", "cycle: a -> b -> a"),
        ("[[apl]]\nspell = \"strike\"\n[[auras]]\nname = \"x\"\nmax_stacks = 2\nstacks_per_apply = 3\n", "auras[0].stacks_per_apply", "between 1 and max_stacks"),
        ("[[apl]]\nspell = \"strike\"\n[[auras]]\nname = \"x\"\naffects_abilities = [\"nothing\"]\n", "auras[0].affects_abilities[0]", "unknown ability `nothing`"),
        ("[[apl]]\nspell = \"strike\"\n[ratings]\ncrit = 0\n", "ratings.crit", "must be between"),
    ];
    for (extra, want_path, want) in cases {
        let e = err(extra);
        let (path, msg, loc) = invalid(&e);
        assert_eq!(path, *want_path, "{extra}: {e}");
        assert!(msg.contains(want), "{extra}: {msg}");
        assert!(loc.is_some(), "{extra}: no location for {path}");
    }
}

#[test]
fn stat_given_twice_and_bad_versions() {
    let e = compile_toml("version = 1\n[fight]\nduration = 60\n[player]\nprimary = 1\ncrit_rating = 100\ncrit_pct = 10\n[[spells]]\nname = \"a\"\n[[apl]]\nspell = \"a\"\n").unwrap_err();
    let (path, msg, loc) = invalid(&e);
    assert_eq!(path, "player.crit_pct");
    assert!(msg.contains("either `crit_rating` or `crit_pct`"), "{msg}");
    assert_eq!(loc.map(|l| l.line), Some(7));
    let e = compile_toml("version = 1\napl = []\n[fight]\nduration = 60\n[player]\nprimary = 1\n")
        .unwrap_err();
    let (path, msg, loc) = invalid(&e);
    assert_eq!((path, loc.map(|l| l.line)), ("apl", Some(2)));
    assert!(msg.contains("action list is empty"), "{msg}");
    let e = compile_toml("version = 2\n[fight]\nduration = 60\n[player]\nprimary = 1\n[[spells]]\nname = \"a\"\n[[apl]]\nspell = \"a\"\n").unwrap_err();
    let (path, msg, loc) = invalid(&e);
    assert_eq!(path, "version");
    assert!(msg.contains("unsupported profile version 2"), "{msg}");
    assert_eq!(
        loc,
        Some(Location {
            line: 1,
            column: 11
        })
    );
}

#[test]
fn json_profiles_report_paths_and_syntax_positions() {
    let e = compile_json(r#"{"version": 1, "fight": {"duration": 60}, "player": {"primary": 1}, "apl": [{"spell": "x"}]}"#).unwrap_err();
    let (path, msg, _) = invalid(&e);
    assert_eq!(path, "apl[0].spell");
    assert!(msg.contains("unknown spell `x`"), "{msg}");
    let e = compile_json("{\"version\": 1,\n\"fight\": {\"duration\": 60},\n\"bogus\": 1}")
        .unwrap_err();
    assert_eq!(e.location().map(|l| l.line), Some(3), "{e}");
}
