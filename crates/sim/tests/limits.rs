//! Hostile profiles are refused quickly with a typed, located error instead of stalling the
//! compiler or the engine (each case here finishes in well under a second, debug build).

use wowlab_sim::limits::{
    MAX_EVENTS_PER_ITERATION, MAX_EXPR_DEPTH, MAX_EXPR_NODES, MAX_PROFILE_BYTES,
};
use wowlab_sim::{compile_str, estimate_cost, run_chunk, Limit, ProfileError, RunError};

const HEAD: &str = "version = 1\n[fight]\nduration = 60\n[player]\nprimary = 1000\n\
                    [[spells]]\nname = \"strike\"\ncoefficient = 1.0\n";

fn refused(src: &str) -> ProfileError {
    match compile_str(src) {
        Ok(_) => panic!("accepted:\n{}", &src[..src.len().min(400)]),
        Err(e) => e,
    }
}

fn line_of(src: &str, needle: &str) -> usize {
    src[..src.find(needle).unwrap()].matches('\n').count() + 1
}

/// `v0 = fight.time`, `vN = vN-1 + vN-1`: variable `vN` inlines to 2^(N+1) - 1 nodes.
fn doubling_variables(n: usize) -> String {
    let mut s = String::from("[variables]\nv0 = \"fight.time\"\n");
    for i in 1..=n {
        s += &format!("v{i} = \"variable.v{} + variable.v{}\"\n", i - 1, i - 1);
    }
    s
}

#[test]
fn exponential_variable_inlining_is_refused_before_it_is_built() {
    // 2^61 nodes if inlined naively; refused once one variable passes the node bound.
    let src = format!(
        "{HEAD}{}[[apl]]\nspell = \"strike\"\nif = \"variable.v60 > 0\"\n",
        doubling_variables(60)
    );
    let err = refused(&src);
    assert_eq!(err.limit(), Some(Limit::ExprNodes), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&MAX_EXPR_NODES.to_string()), "{msg}");
    // v13 is the first to pass 10 000 nodes (16 383); keys are expanded in name order, so the
    // first to fail is v13 itself, located at its definition.
    let ProfileError::Limit { path, location, .. } = &err else {
        unreachable!()
    };
    assert_eq!(path, "variables.v13");
    assert_eq!(location.map(|l| l.line), Some(line_of(&src, "v13 =")));
}

#[test]
fn many_conditions_sharing_a_large_variable_hit_the_profile_bound() {
    // v12 inlines to 8 191 nodes (under the per-expression bound); 20 conditions using it
    // make 160 000 nodes, over the profile's total.
    let mut src = format!("{HEAD}{}", doubling_variables(12));
    for _ in 0..20 {
        src += "[[apl]]\nspell = \"strike\"\nif = \"variable.v12 > 0\"\n";
    }
    let err = refused(&src);
    assert_eq!(err.limit(), Some(Limit::ProfileExprNodes), "{err}");
    assert!(err.location().is_some(), "{err}");
}

#[test]
fn deep_or_long_conditions_are_refused_without_deep_recursion() {
    let cond = |c: String| format!("{HEAD}[[apl]]\nspell = \"strike\"\nif = \"{c}\"\n");
    let cases = [
        // Parentheses, prefix operators and calls nest the parser itself.
        (
            format!("{}1{}", "(".repeat(200_000), ")".repeat(200_000)),
            Limit::ExprNodes,
        ),
        (format!("{}1", "not ".repeat(30_000)), Limit::ExprDepth),
        (format!("{}1", "-".repeat(30_000)), Limit::ExprDepth),
        (
            format!("{}1{}", "abs(".repeat(5_000), ")".repeat(5_000)),
            Limit::ExprDepth,
        ),
        // A left-associative chain builds a deep tree without recursing.
        (vec!["1"; 5_000].join(" + "), Limit::ExprDepth),
        // Too many tokens at all.
        (vec!["1"; 100_000].join("+"), Limit::ExprNodes),
    ];
    for (c, want) in cases {
        let src = cond(c);
        let err = refused(&src);
        assert_eq!(err.limit(), Some(want), "{err}");
        let loc = err.location().expect("located");
        assert_eq!(loc.line, line_of(&src, "if ="), "{err}");
    }
    // Deep but within the bound still compiles.
    let ok = format!(
        "{}1{}",
        "(".repeat(MAX_EXPR_DEPTH - 1),
        ")".repeat(MAX_EXPR_DEPTH - 1)
    );
    compile_str(&cond(format!("fight.time > {ok}"))).unwrap();
}

#[test]
fn oversized_profiles_are_refused_before_parsing() {
    // Valid TOML throughout (a huge comment), so only the size bound can refuse it.
    let src = format!(
        "{HEAD}[[apl]]\nspell = \"strike\"\n{}",
        format!("# {}\n", "x".repeat(1_000)).repeat(MAX_PROFILE_BYTES / 1_000)
    );
    assert!(src.len() > MAX_PROFILE_BYTES);
    let err = refused(&src);
    assert_eq!(err.limit(), Some(Limit::ProfileBytes), "{err}");
    assert!(err.to_string().contains("bytes"), "{err}");
    assert!(err.location().is_some_and(|l| l.line > 1000), "{err}");
    // JSON too.
    let json = format!(
        "{{\"version\": 1, \"name\": \"{}\"}}",
        "x".repeat(MAX_PROFILE_BYTES)
    );
    assert_eq!(refused(&json).limit(), Some(Limit::ProfileBytes));
}

#[test]
fn long_fights_are_refused() {
    for fight in ["duration = 7200", "duration = 3000\nvariance = 0.5"] {
        let src = format!(
            "version = 1\n[fight]\n{fight}\n[player]\nprimary = 1\n\
             [[spells]]\nname = \"s\"\n[[apl]]\nspell = \"s\"\n"
        );
        let err = refused(&src);
        assert_eq!(err.limit(), Some(Limit::FightDuration), "{err}");
        assert_eq!(err.location().map(|l| l.line), Some(3), "{err}");
        assert!(err.to_string().contains("3600"), "{err}");
    }
}

#[test]
fn an_event_storm_stops_with_a_typed_error() {
    // A 0.5 ms swing timer for an hour: 7.2 million events (see the fixture).
    let p = compile_str(include_str!("fixtures/event-storm.toml")).unwrap();
    let err = run_chunk(&p, 1, 5..10).unwrap_err();
    let RunError::EventLimit {
        iteration,
        limit,
        at_us,
    } = err.clone();
    assert_eq!((iteration, limit), (5, MAX_EVENTS_PER_ITERATION));
    assert!(at_us < 3_600_000_000, "{err}");
    assert!(err.to_string().contains("exceeded 1000000 events"), "{err}");
    // Cost estimation (the sentinel's validation) refuses it too.
    assert!(estimate_cost(&p)
        .unwrap_err()
        .to_string()
        .contains("events"));
}
