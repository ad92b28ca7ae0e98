//! The shipped chess suite loads, is large enough and holds no position a
//! static evaluation cannot answer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::collections::HashSet;
use std::path::Path;

use qarena_probe::{Positions, Suite};
use shakmaty::Position;

#[test]
fn the_default_chess_suite_has_500_positions_none_in_check() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../suites/chess-default.suite");
    let suite = Suite::load(&path).unwrap();
    assert_eq!(suite.name, "chess-default");
    assert!(suite.len() >= 500, "{} positions", suite.len());
    let Positions::Chess { fens } = suite.positions() else {
        panic!("a chess suite");
    };
    let mut seen = HashSet::new();
    for fen in fens {
        let pos = qarena_chess::parse_fen(fen).unwrap();
        assert!(!pos.is_check(), "in check: {fen}");
        assert!(!pos.is_game_over(), "game over: {fen}");
        let key: Vec<&str> = fen.split_whitespace().take(4).collect();
        assert!(seen.insert(key.join(" ")), "repeated: {fen}");
    }
}
