//! Judging part of a run: one sweep point, a range of game indices, at
//! most N games; later calls with the same settings extend the same judge
//! run. Real Stockfish games (played here through qarena-engine) stored at
//! two points, judged by real Stockfish.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use qarena_engine::{Engine, EngineSpec};
use qarena_judge::{
    judge, ChessJudgeSettings, GameSubset, JudgeError, JudgeKind, JudgeOptions, TranscriptTarget,
};
use qarena_store::{
    now_rfc3339, GameId, JudgeRunId, NewEngine, NewGame, NewMove, NewRun, RunId, Store,
};
use qarena_uci::{format_position, parse_line, Message};

/// Stockfish against itself at 32 nodes a move for `plies` plies, after
/// the first move `first` (so games differ).
fn stockfish_moves(first: &str, plies: usize) -> Vec<String> {
    let sf = common::debian_engine("stockfish");
    let mut e = Engine::spawn(EngineSpec::new(
        "player",
        vec![sf.to_string_lossy().into_owned()],
    ))
    .unwrap();
    let deadline = || Instant::now() + Duration::from_secs(30);
    e.write_line("uci").unwrap();
    while parse_line(&e.read_line(deadline(), "uci").unwrap()) != Message::UciOk {}
    let mut moves = vec![first.to_string()];
    while moves.len() < plies {
        e.write_line(&format_position(None, &moves)).unwrap();
        e.write_line("go nodes 32").unwrap();
        let mv = loop {
            if let Message::BestMove { mv, .. } =
                parse_line(&e.read_line(deadline(), "go").unwrap())
            {
                break mv;
            }
        };
        moves.push(mv);
    }
    e.shutdown(Some("quit"), Duration::from_secs(2));
    moves
}

/// A run with games 0..4 at points 0 and 1 (eight short real games).
fn two_point_run(store: &Store) -> RunId {
    let run = store
        .create_run(&NewRun {
            tag: "pts".into(),
            kind: qarena_store::RunKind::Sweep,
            argv: vec!["test".into()],
            settings: serde_json::json!({}),
            software_version: "test".into(),
        })
        .unwrap();
    let firsts = ["e2e4", "d2d4", "c2c4", "g1f3"];
    let games: Vec<Vec<String>> = firsts.iter().map(|f| stockfish_moves(f, 8)).collect();
    for point in 0..2u32 {
        let engine = |slot: &str| {
            store
                .add_engine(&NewEngine {
                    run,
                    slot: format!("{slot}{point}").parse().unwrap(),
                    label: format!("sf-{slot}{point}"),
                    command: vec!["stockfish".into()],
                    protocol: "uci".parse().unwrap(),
                    name: None,
                    version: None,
                    model_path: None,
                    model_sha256: None,
                })
                .unwrap()
        };
        let (a, b) = (engine("a"), engine("b"));
        for (i, moves) in games.iter().enumerate() {
            store
                .insert_game(&NewGame {
                    run,
                    point_index: i64::from(point),
                    game_index: i as i64,
                    pair_index: Some(i as i64 / 2),
                    opening: None,
                    seed: None,
                    black_engine: if i % 2 == 0 { b } else { a },
                    white_engine: if i % 2 == 0 { a } else { b },
                    result: Some("*".into()),
                    winner: None,
                    score: None,
                    termination: "move_cap".parse().unwrap(),
                    record: format!("[Event \"t\"]\n\n{} *\n", moves.join(" ")),
                    record_format: "pgn".parse().unwrap(),
                    started_at: now_rfc3339(),
                    ended_at: now_rfc3339(),
                    duration_ms: 0,
                    variant_params: None,
                    settings: None,
                    moves: moves
                        .iter()
                        .enumerate()
                        .map(|(ply, m)| NewMove {
                            ply: ply as i64,
                            color: if ply % 2 == 0 { "w" } else { "b" }.parse().unwrap(),
                            mv: m.clone(),
                            time_ms: 1,
                        })
                        .collect(),
                    self_evals: vec![],
                    costs: vec![],
                })
                .unwrap();
        }
    }
    run
}

fn options(subset: GameSubset, transcript: TranscriptTarget) -> JudgeOptions {
    let sf = common::debian_engine("stockfish");
    let mut s = ChessJudgeSettings::new(vec![sf.to_string_lossy().into_owned()]);
    s.limit = qarena_uci::GoLimit::Nodes(500);
    s.multipv = 1;
    let mut o = JudgeOptions::new(JudgeKind::Chess(s));
    o.subset = subset;
    o.transcript = transcript;
    o
}

/// (point, game index) of every game with verdicts in `jr`.
fn judged(store: &Store, run: RunId, jr: JudgeRunId) -> BTreeSet<(i64, i64)> {
    let ids: BTreeSet<GameId> = store
        .judge_moves(jr)
        .unwrap()
        .into_iter()
        .map(|m| m.game)
        .collect();
    store
        .games(run)
        .unwrap()
        .into_iter()
        .filter(|g| ids.contains(&g.id))
        .map(|g| (g.point_index, g.game_index))
        .collect()
}

#[test]
fn subsets_judge_exactly_their_games_and_extend_one_judge_run() {
    let store = Store::open_in_memory().unwrap();
    let run = two_point_run(&store);
    let logs = tempfile::tempdir().unwrap();
    let to_logs = TranscriptTarget::Folder(logs.path().join("logs"));
    let subset = |point: Option<i64>, games: Option<&str>, limit: Option<usize>| GameSubset {
        point,
        games: games.map(|g| g.parse().unwrap()),
        limit,
        shard: None,
    };

    // Point 1, games 1..4, at most 2: games 1 and 2 of point 1, nothing else.
    let first = judge(
        &store,
        "pts",
        &options(subset(Some(1), Some("1..4"), Some(2)), to_logs.clone()),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(first.engine_failure, None);
    assert!(!first.resumed);
    assert_eq!(
        judged(&store, run, first.judge_run),
        BTreeSet::from([(1, 1), (1, 2)])
    );
    assert_eq!(first.games_judged_now, 2);
    assert_eq!(
        (first.subset_games, first.subset_judged, first.subset_left),
        (3, 2, 1)
    );
    assert_eq!((first.games_judged, first.games_played), (2, 8));
    assert_eq!(first.coverage(), 0.25);
    // The transcript of this judge run is in the folder, named by its id.
    let log = logs
        .path()
        .join("logs")
        .join(format!("judge-{}.log", first.judge_run.0));
    assert_eq!(first.transcript.as_deref(), Some(log.as_path()));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("> uci") && text.contains("bestmove"),
        "{text}"
    );

    // The same settings on the rest of the range: the same judge run,
    // extended by game 3 only.
    let second = judge(
        &store,
        "pts",
        &options(subset(Some(1), Some("1..4"), None), to_logs.clone()),
        &mut |_| {},
    )
    .unwrap();
    assert!(second.resumed);
    assert_eq!(second.judge_run, first.judge_run);
    assert_eq!((second.games_judged_now, second.games_skipped), (1, 2));
    assert_eq!(
        judged(&store, run, first.judge_run),
        BTreeSet::from([(1, 1), (1, 2), (1, 3)])
    );
    assert_eq!((second.subset_judged, second.subset_left), (3, 0));
    assert_eq!(second.games_judged, 3);
    // Both calls appended to the one transcript.
    let again = std::fs::read_to_string(&log).unwrap();
    assert!(again.len() > text.len() && again.starts_with(&text));

    // Every point, games ..1: game 0 of both points.
    let third = judge(
        &store,
        "pts",
        &options(subset(None, Some("..1"), None), TranscriptTarget::Off),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(third.judge_run, first.judge_run);
    assert_eq!(third.transcript, None);
    assert_eq!(
        judged(&store, run, first.judge_run),
        BTreeSet::from([(0, 0), (1, 0), (1, 1), (1, 2), (1, 3)])
    );
    assert_eq!((third.games_judged, third.coverage()), (5, 5.0 / 8.0));
    // The whole run's coverage in the view agrees.
    let cov = store.judge_coverage(run).unwrap();
    assert_eq!(cov.len(), 1, "one judge run for every subset");
    assert_eq!((cov[0].games_judged, cov[0].games_played), (5, 8));

    // A subset without games is an error naming what the run has.
    for (s, want) in [
        (subset(Some(7), None, None), "its points are 0, 1"),
        (
            subset(Some(0), Some("4.."), None),
            "point 0 has games 0..=3",
        ),
    ] {
        let err = judge(
            &store,
            "pts",
            &options(s, TranscriptTarget::Off),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(matches!(err, JudgeError::EmptySubset { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("run 'pts'") && msg.contains(want), "{msg}");
    }
    assert_eq!(judged(&store, run, first.judge_run).len(), 5);
}

#[test]
fn shards_of_a_judge_split_the_games_and_together_cover_the_run() {
    let store = Store::open_in_memory().unwrap();
    let run = two_point_run(&store);
    let shard = |k: u32| GameSubset {
        shard: Some(format!("{k}/3").parse().unwrap()),
        ..GameSubset::all()
    };
    let mut seen = BTreeSet::new();
    let mut judge_run = None;
    for k in 0..3 {
        let r = judge(
            &store,
            "pts",
            &options(shard(k), TranscriptTarget::Off),
            &mut |_| {},
        )
        .unwrap();
        assert!(r.subset.to_string().contains(&format!("shard {k}/3")));
        let now = judged(&store, run, r.judge_run);
        let new: BTreeSet<(i64, i64)> = now.difference(&seen).copied().collect();
        // Game i of point p is shard (p + i) mod 3's, and no other's.
        assert!(!new.is_empty());
        assert!(
            new.iter().all(|(p, i)| (p + i) % 3 == i64::from(k)),
            "shard {k}: {new:?}"
        );
        assert_eq!(r.games_judged_now, new.len());
        seen = now;
        judge_run = Some(r.judge_run);
    }
    // Together: every game of the run, in one judge run.
    assert_eq!(seen.len(), 8);
    let cov = store.judge_coverage(run).unwrap();
    assert_eq!(cov.len(), 1);
    assert_eq!(Some(cov[0].judge_run), judge_run);
}
