//! The chess judge: a real Stockfish game (played here through
//! qarena-engine), stored, then judged by Stockfish with MultiPV.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod common;

use std::time::{Duration, Instant};

use common::store_chess_game;
use qarena_engine::{Engine, EngineSpec};
use qarena_judge::{judge, ChessJudgeSettings, JudgeKind, JudgeOptions};
use qarena_store::Store;
use qarena_uci::{format_position, parse_line, Message};
use shakmaty::uci::UciMove;
use shakmaty::{Chess, Position};

/// Plays Stockfish against itself at 64 nodes a move from `fen` (or the
/// start position) for at most `max_plies` plies or until the game ends.
fn stockfish_game(fen: Option<&str>, max_plies: usize) -> Vec<String> {
    let sf = common::debian_engine("stockfish");
    let mut e = Engine::spawn(EngineSpec::new(
        "player",
        vec![sf.to_string_lossy().into_owned()],
    ))
    .unwrap();
    let deadline = || Instant::now() + Duration::from_secs(30);
    e.write_line("uci").unwrap();
    while parse_line(&e.read_line(deadline(), "uci").unwrap()) != Message::UciOk {}
    let mut pos: Chess = match fen {
        None => Chess::default(),
        Some(f) => shakmaty::fen::Fen::from_ascii(f.as_bytes())
            .unwrap()
            .into_position(shakmaty::CastlingMode::Standard)
            .unwrap(),
    };
    let mut moves = Vec::new();
    while moves.len() < max_plies && !pos.is_game_over() {
        e.write_line(&format_position(fen, &moves)).unwrap();
        e.write_line("go nodes 64").unwrap();
        let mv = loop {
            if let Message::BestMove { mv, .. } =
                parse_line(&e.read_line(deadline(), "go").unwrap())
            {
                break mv;
            }
        };
        let m = UciMove::from_ascii(mv.as_bytes())
            .unwrap()
            .to_move(&pos)
            .unwrap();
        pos.play_unchecked(&m);
        moves.push(mv);
    }
    e.shutdown(Some("quit"), Duration::from_secs(2));
    moves
}

fn options() -> JudgeOptions {
    let sf = common::debian_engine("stockfish");
    let mut s = ChessJudgeSettings::new(vec![sf.to_string_lossy().into_owned()]);
    s.limit = qarena_uci::GoLimit::Nodes(2_000);
    JudgeOptions::new(JudgeKind::Chess(s))
}

#[test]
fn stockfish_judges_a_real_game_once() {
    let moves = stockfish_game(None, 40);
    assert!(moves.len() >= 10);
    let store = Store::open_in_memory().unwrap();
    let run = store_chess_game(&store, "c", None, &moves);

    let report = judge(&store, "c", &options(), &mut |_| {}).unwrap();
    assert_eq!(report.engine_failure, None);
    assert_eq!(report.coverage(), 1.0);
    assert_eq!(report.positions, moves.len() as u64 + 1);
    assert!(report
        .engine_version
        .as_deref()
        .unwrap_or("")
        .contains("Stockfish"));
    let v = store.judge_moves(report.judge_run).unwrap();
    assert_eq!(v.len(), moves.len());
    for m in &v {
        let loss = m.loss_cp.unwrap();
        assert!(loss >= 0);
        assert_eq!(
            loss,
            (m.before_score.unwrap() - m.after_score.unwrap()).max(0.0) as i64
        );
        assert_eq!(m.blunder, loss >= 200);
        let top = m.top_k.as_ref().unwrap().as_array().unwrap();
        assert!((1..=3).contains(&top.len()), "{top:?}");
        assert!(m.best_move.is_some());
        if let (Some(b), Some(a)) = (m.before_winrate, m.after_winrate) {
            assert!((0.0..=1.0).contains(&b) && (0.0..=1.0).contains(&a));
        }
    }
    assert_eq!(report.slots.len(), 2);
    assert!(report
        .slots
        .iter()
        .all(|s| s.unit == "cp" && s.mean_loss >= 0.0));

    let again = judge(&store, "c", &options(), &mut |_| {}).unwrap();
    assert_eq!((again.games_judged_now, again.positions), (0, 0));
    assert_eq!(store.judge_moves(report.judge_run).unwrap(), v);

    let judged = store.game_judge_metrics(report.judge_run, run).unwrap();
    assert_eq!(judged.len(), 2);
    let losses: Vec<f64> = judged.iter().filter_map(|m| m.avg_loss_cp).collect();
    assert_eq!(losses.len(), 2);
    let loss = losses.iter().sum::<f64>() / 2.0;
    assert!((0.0..5000.0).contains(&loss), "{loss}");
}

#[test]
fn a_mated_final_position_is_scored_without_the_engine() {
    // Scholar's mate from a FEN opening: White to move, Qxf7# ends the game.
    let fen = "r1bqkb1r/pppp1ppp/2n2n2/4p2Q/2B1P3/8/PPPP1PPP/RNB1K1NR w KQkq - 4 4";
    let moves = vec!["h5f7".to_string()];
    let store = Store::open_in_memory().unwrap();
    store_chess_game(&store, "m", Some(fen), &moves);
    let report = judge(&store, "m", &options(), &mut |_| {}).unwrap();
    assert_eq!(report.coverage(), 1.0);
    let v = store.judge_moves(report.judge_run).unwrap();
    assert_eq!(v.len(), 1);
    // Mating is the best move: the mover ends at +10000 and loses nothing.
    assert_eq!(v[0].after_score, Some(10_000.0));
    assert_eq!(v[0].loss_cp, Some(0));
    assert_eq!(v[0].best_move.as_deref(), Some("h5f7"));
}
