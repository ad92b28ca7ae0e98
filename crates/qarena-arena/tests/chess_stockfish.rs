//! Stockfish against Stockfish through `play_chess_game`: games finish by
//! the rules or by configured adjudication, every move replays legally,
//! and python-chess accepts every PGN record.

mod chess_support;

use std::collections::HashSet;
use std::io::Write;
use std::time::Instant;

use chess_support::*;
use qarena_arena::chess::ChessSettings;
use qarena_arena::{Slot, Termination};
use qarena_chess::{export_pgn, Adjudication, Limit, OpeningOrder};
use shakmaty::Position;

const RULE_ENDS: [Termination; 5] = [
    Termination::Checkmate,
    Termination::Stalemate,
    Termination::Repetition,
    Termination::FiftyMoves,
    Termination::InsufficientMaterial,
];

#[test]
fn stockfish_games_complete_legally_and_replay_in_python_chess() {
    let mut a = start_sf("sf-a");
    let mut b = start_sf("sf-b");
    assert_eq!(a.name.as_deref(), Some("Stockfish 15.1"));
    let settings = ChessSettings {
        limit: Limit::Nodes(300),
        node_jitter: 0.1,
        seed: 11,
        ..ChessSettings::default()
    };
    let t0 = Instant::now();
    let games = play_games(&mut a, &mut b, &settings, 0, 6);
    let secs = t0.elapsed().as_secs_f64();
    let mut records = Vec::new();
    let mut seeds = HashSet::new();
    for (gi, (first, o)) in games.iter().enumerate() {
        assert!(
            RULE_ENDS.contains(&o.termination),
            "game {gi}: {:?} {:?}",
            o.termination,
            o.events
        );
        assert!(o.fault.is_none() && o.result.is_some());
        assert_result_consistent(*first, o);
        let end = replay(o);
        match o.termination {
            Termination::Checkmate => assert!(end.is_checkmate()),
            Termination::Stalemate => assert!(end.is_stalemate()),
            Termination::InsufficientMaterial => assert!(end.is_insufficient_material()),
            Termination::FiftyMoves => assert!(end.halfmoves() >= 100),
            _ => {}
        }
        // Every move has a self-eval with a score, depth and nodes.
        assert_eq!(o.self_evals.len(), o.moves.len(), "game {gi}");
        for ev in &o.self_evals {
            assert!(ev.score_cp.is_some() || ev.mate.is_some());
            assert!(ev.depth.is_some() && ev.nodes.is_some() && ev.pv.is_some());
        }
        assert!(seeds.insert(o.seed.expect("jitter seed recorded")));
        assert!(o.record.contains("[Site \"qarena\"]"));
        assert!(o.record.contains("[TimeControl \"-\"]"));
        assert!(o.record.contains("[SetUp \"1\"]"));
        records.push(o.record.clone());
    }
    // Pairs share the opening; the next pair uses the next one.
    assert_eq!(games[0].1.opening, games[1].1.opening);
    assert_eq!(games[2].1.opening, games[3].1.opening);
    assert_ne!(games[0].1.opening, games[2].1.opening);
    // Jitter decorrelates the two games of a pair.
    assert_ne!(
        games[0].1.moves.iter().map(|m| &m.mv).collect::<Vec<_>>(),
        games[1].1.moves.iter().map(|m| &m.mv).collect::<Vec<_>>()
    );
    let plies: usize = games.iter().map(|(_, o)| o.moves.len()).sum();
    eprintln!(
        "6 games, {plies} plies in {secs:.1} s; results {:?}",
        games
            .iter()
            .map(|(_, o)| (o.result.clone().unwrap_or_default(), o.termination.as_str()))
            .collect::<Vec<_>>()
    );
    assert_eq!(python_check_pgn(&export_pgn(&records)), 6);
    a.shutdown();
    b.shutdown();
}

#[test]
fn adjudication_and_move_cap_fire_when_configured() {
    let mut a = start_sf("sf-adj-a");
    let mut b = start_sf("sf-adj-b");
    let mut records = Vec::new();

    // A window wide enough that every score is "drawish": the draw rule
    // fires once 2 moves per side pass without a capture or pawn move.
    let draw = ChessSettings {
        limit: Limit::Nodes(300),
        adjudication: Adjudication {
            draw_score_cp: Some(10_000),
            draw_moves: Some(2),
            draw_after_move: Some(1),
            ..Adjudication::default()
        },
        ..ChessSettings::default()
    };
    for (first, o) in play_games(&mut a, &mut b, &draw, 0, 2) {
        assert_eq!(
            o.termination,
            Termination::AdjudicatedDraw,
            "{:?}",
            o.events
        );
        assert_eq!(o.result.as_deref(), Some("1/2-1/2"));
        assert_result_consistent(first, &o);
        assert!(o.record.contains("[Termination \"adjudication\"]"));
        replay(&o);
        records.push(o.record);
    }

    // Black starts a queen down: both engines soon agree White is winning.
    let dir = tempfile::tempdir().unwrap();
    let epd = dir.path().join("lopsided.epd");
    std::fs::File::create(&epd)
        .unwrap()
        .write_all(b"rnb1kbnr/pppp1ppp/8/4p3/4P3/8/PPPP1PPP/RNBQKBNR w KQkq -\n")
        .unwrap();
    let resign = ChessSettings {
        limit: Limit::Nodes(300),
        openings: Some(epd),
        adjudication: Adjudication {
            resign_score_cp: Some(400),
            resign_moves: Some(2),
            ..Adjudication::default()
        },
        ..ChessSettings::default()
    };
    for (first, o) in play_games(&mut a, &mut b, &resign, 0, 2) {
        assert_eq!(
            o.termination,
            Termination::AdjudicatedResign,
            "{:?}",
            o.events
        );
        assert_eq!(o.result.as_deref(), Some("1-0"));
        assert_eq!(o.winner, Some(first));
        assert_result_consistent(first, &o);
        records.push(o.record);
    }

    let capped = ChessSettings {
        limit: Limit::Nodes(300),
        adjudication: Adjudication {
            max_plies: Some(10),
            ..Adjudication::default()
        },
        ..ChessSettings::default()
    };
    for (first, o) in play_games(&mut a, &mut b, &capped, 4, 2) {
        assert_eq!(o.termination, Termination::MoveCap);
        assert_eq!(o.moves.len(), 10);
        assert_eq!(o.result.as_deref(), Some("1/2-1/2"));
        assert_result_consistent(first, &o);
        records.push(o.record);
    }
    assert_eq!(python_check_pgn(&export_pgn(&records)), 6);
    a.shutdown();
    b.shutdown();
}

#[test]
fn clock_multipv_and_pgn_openings() {
    let mut a = start_sf("sf-clock-a");
    let mut b = start_sf("sf-clock-b");
    // A real clock: qarena keeps it, the engines manage their time.
    let clock = ChessSettings {
        limit: "tc=2+0.05".parse().unwrap(),
        adjudication: Adjudication {
            max_plies: Some(40),
            ..Adjudication::default()
        },
        ..ChessSettings::default()
    };
    let games = play_games(&mut a, &mut b, &clock, 0, 1);
    let o = &games[0].1;
    assert!(
        o.termination == Termination::MoveCap || RULE_ENDS.contains(&o.termination),
        "{:?} {:?}",
        o.termination,
        o.events
    );
    let used: u64 = o.moves.iter().map(|m| m.time_ms).sum();
    assert!(used < 2 * 2000 + 40 * 50, "the engines used {used} ms");
    assert!(o.record.contains("[TimeControl \"2+0.05\"]"));
    let mut records = vec![o.record.clone()];

    // MultiPV 3 gives top-3 self-evals; a PGN opening file gives book moves.
    let dir = tempfile::tempdir().unwrap();
    let pgn = dir.path().join("book.pgn");
    std::fs::write(
        &pgn,
        "[Event \"Ruy Lopez\"]\n\n1. e4 e5 2. Nf3 Nc6 3. Bb5 a6 4. Ba4 Nf6 *\n\n\
         [Event \"Sicilian\"]\n\n1. e4 c5 2. Nf3 d6 3. d4 cxd4 4. Nxd4 Nf6 *\n",
    )
    .unwrap();
    let multipv = ChessSettings {
        limit: Limit::Nodes(2000),
        multipv: Some(3),
        openings: Some(pgn),
        opening_plies: Some(6),
        opening_order: OpeningOrder::Random,
        seed: 4,
        adjudication: Adjudication {
            max_plies: Some(16),
            ..Adjudication::default()
        },
        ..ChessSettings::default()
    };
    for (first, o) in play_games(&mut a, &mut b, &multipv, 0, 2) {
        assert_eq!(o.termination, Termination::MoveCap, "{:?}", o.events);
        assert_eq!(o.moves.len(), 10, "16 plies minus 6 book plies");
        assert!(!o.record.contains("[FEN"), "book from the start position");
        assert!(o.record.contains("{book}"));
        let top = o.self_evals[0]
            .top_k
            .as_ref()
            .expect("top-k with MultiPV 3");
        assert_eq!(top.as_array().map(Vec::len), Some(3), "{top}");
        assert_result_consistent(first, &o);
        records.push(o.record);
    }
    assert_eq!(python_check_pgn(&export_pgn(&records)), 3);
    // The slots' colours were swapped in the pair.
    assert_eq!(games[0].0, Slot::A);
    a.shutdown();
    b.shutdown();
}
