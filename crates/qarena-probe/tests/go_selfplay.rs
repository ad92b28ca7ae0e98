//! Go suites by self-play with the real KataGo (`QARENA_KATAGO`; the net and
//! `gtp.cfg` sit next to the binary), and the shipped default suite.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod common;

use std::path::Path;
use std::sync::atomic::AtomicBool;

use qarena_probe::go_suites::{sample_from_games, SelfPlay};
use qarena_probe::{GoSetup, Positions, Suite};

fn setup() -> GoSetup {
    GoSetup {
        rules: "koPOSITIONALscoreAREAtaxNONEsui0".to_string(),
        ..GoSetup::default()
    }
}

#[test]
fn self_play_is_reproducible_by_seed() {
    let (bin, net, cfg) = common::katago();
    let mut sp = SelfPlay::new(bin, net, cfg);
    sp.max_moves = 40;
    sp.seed = 11;
    let stop = AtomicBool::new(false);
    let a = sp.suite("a", setup(), 12, &stop).unwrap();
    let b = sp.suite("b", setup(), 12, &stop).unwrap();
    assert_eq!(a.suite.len(), 12);
    assert_eq!(a.suite.sha256(), b.suite.sha256(), "same seed, other games");
    assert_eq!(a.games, b.games);
    let Positions::Go { lines, .. } = a.suite.positions() else {
        panic!("a go suite")
    };
    for l in lines {
        assert!(l.len() >= 2);
        assert!(
            !a.games.iter().any(|g| &g.moves == l),
            "a terminal position"
        );
    }
    // Games of one process, sampled by phase.
    let games = sp.games(&setup(), 2, &stop).unwrap();
    assert_eq!(games.len(), 2);
    let moves: Vec<_> = games.into_iter().map(|g| g.moves).collect();
    let s = sample_from_games("s", setup(), &moves, 10, 2, 3).unwrap();
    assert!(s.len() <= 10 && !s.is_empty());
}

#[test]
fn the_default_suite_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../suites/go9-default.suite");
    let suite = Suite::load(&path).unwrap();
    assert!(suite.len() >= 200, "{} positions", suite.len());
    let Positions::Go { setup, .. } = suite.positions() else {
        panic!("a go suite")
    };
    assert_eq!(setup.board_size, 9);
}
