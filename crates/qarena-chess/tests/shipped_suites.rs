//! The suites shipped in `openings/` are sound, checked with shakmaty
//! directly rather than through the parsers' own checks.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

use std::collections::HashSet;

use qarena_chess::{load_openings, load_tactics};
use shakmaty::fen::Fen;
use shakmaty::san::San;
use shakmaty::uci::UciMove;
use shakmaty::{CastlingMode, Chess, Position};

fn position(fen: &str) -> Chess {
    fen.parse::<Fen>()
        .unwrap()
        .into_position(CastlingMode::Standard)
        .unwrap()
}

#[test]
fn shipped_suite_parses_and_every_bm_is_legal() {
    let suite = load_tactics(None).unwrap();
    assert_eq!(suite.len(), 50);
    let ids: HashSet<_> = suite.iter().map(|p| p.id.as_str()).collect();
    let fens: HashSet<_> = suite.iter().map(|p| p.fen.as_str()).collect();
    assert_eq!((ids.len(), fens.len()), (50, 50));
    for (i, p) in suite.iter().enumerate() {
        assert_eq!(p.id, format!("qarena-tactics-{}", i + 1));
        // Checked again here, independently of the parser's own checks.
        let pos = position(&p.fen);
        assert!(!pos.is_game_over(), "{}", p.id);
        assert!(!p.best_san.is_empty(), "{}", p.id);
        for san in &p.best_san {
            let mv = san.parse::<San>().unwrap().to_move(&pos);
            assert!(mv.is_ok(), "{}: bm {san} illegal in {}", p.id, p.fen);
        }
    }
}

#[test]
fn shipped_openings_are_distinct_and_playable() {
    let list = load_openings(None, None).unwrap();
    assert_eq!(list.len(), 200);
    let fens: HashSet<_> = list.iter().map(|o| o.fen.clone()).collect();
    assert_eq!(fens.len(), 200);
    for o in list.iter() {
        let mut pos = match &o.fen {
            Some(f) => position(f),
            None => Chess::default(),
        };
        for m in &o.moves {
            let mv = m.parse::<UciMove>().unwrap().to_move(&pos).unwrap();
            pos.play_unchecked(&mv);
        }
        assert!(!pos.is_game_over(), "{}", o.source);
    }
}
