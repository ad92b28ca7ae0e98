//! The shipped Go evolution suite: 800 positions, none in the probe's or
//! the calibration's suite, its even half (the screen) and odd half (the
//! unseen check) from different games.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::collections::HashSet;

use qarena_probe::{calibration_suite, default_suite, evolution_suite, Positions};

/// Each position as its moves.
fn lines(s: &qarena_probe::Suite) -> Vec<Vec<String>> {
    let Positions::Go { lines, .. } = s.positions() else {
        panic!("{} is not a Go suite", s.name);
    };
    lines
        .iter()
        .map(|l| l.iter().map(|m| format!("{m:?}")).collect())
        .collect()
}

#[test]
fn the_evolution_suite_has_halves_from_different_games_and_nothing_shared() {
    let evolve = evolution_suite("go").unwrap();
    assert_eq!(evolve.name, "go9-evolve");
    assert_eq!(evolve.len(), 800);
    let all = lines(&evolve);
    let distinct: HashSet<&Vec<String>> = all.iter().collect();
    assert_eq!(distinct.len(), all.len(), "a position repeats");
    for other in [
        default_suite("go").unwrap(),
        calibration_suite("go").unwrap(),
    ] {
        let theirs: HashSet<Vec<String>> = lines(&other).into_iter().collect();
        let shared = all.iter().filter(|l| theirs.contains(*l)).count();
        assert_eq!(shared, 0, "{} positions also in {}", shared, other.name);
    }
    // A game's positions are prefixes of its later ones: no position of
    // one half may be a prefix of (or extend) a position of the other.
    let (even, odd): (Vec<_>, Vec<_>) = all.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    for (i, a) in &even {
        for (j, b) in &odd {
            assert!(
                !a.starts_with(b) && !b.starts_with(a),
                "positions {i} and {j} are of one game"
            );
        }
    }
    // The chess evolution suite is the default one.
    assert_eq!(evolution_suite("chess").unwrap().name, "chess-default");
}
