//! Sharded runs with real engines: the shards of a match together play
//! exactly the games of the unsharded match (same moves, same results),
//! each shard in its own database; a resume keeps the shard; shards refuse
//! what they cannot do (SPRT, refinement, a missing tag).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod common;

use std::collections::BTreeMap;

use common::*;

/// (point, game) -> (moves, result) of every game of `tag` in `db`.
///
/// Stockfish at fixed nodes (one thread, its hash cleared by `ucinewgame`)
/// is deterministic, and node jitter is seeded by the game index: the same
/// game index gives the same game in any process. (A `Skill Level` below
/// 20 draws moves at random and would not.)
fn games_of(
    db: &std::path::Path,
    tag: &str,
) -> BTreeMap<(i64, i64), (Vec<String>, Option<String>)> {
    let store = qarena_store::Store::open(db).unwrap();
    let run = store.run_by_tag(tag).unwrap().unwrap();
    store
        .games(run.id)
        .unwrap()
        .into_iter()
        .map(|g| {
            let moves = store
                .game_moves(g.id)
                .unwrap()
                .into_iter()
                .map(|m| m.mv)
                .collect();
            ((g.point_index, g.game_index), (moves, g.result))
        })
        .collect()
}

fn chess_match(ws: &Ws, db: &str, runs: &str, extra: &[&str]) -> std::process::Output {
    let sf = program("stockfish").display().to_string();
    let mut args = vec![
        "match",
        "--protocol",
        "uci",
        "--engine-a",
        &sf,
        "--engine-b",
        &sf,
        "--nodes",
        "500",
        "--node-jitter",
        "0.1",
        "--games",
        "12",
        "--concurrency",
        "2",
        "--run-tag",
        "m",
        "--db",
        db,
        "--runs-dir",
        runs,
    ];
    args.extend_from_slice(extra);
    ws.run(&args)
}

#[test]
fn the_shards_of_a_match_play_exactly_the_unsharded_games() {
    let ws = Ws::new();
    let out = chess_match(&ws, "all.sqlite", "runs-all", &[]);
    assert!(out.status.success(), "{}", text(&out));
    let all = games_of(&ws.path().join("all.sqlite"), "m");
    assert_eq!(all.len(), 12);

    let mut union = BTreeMap::new();
    for k in 0..3 {
        let db = format!("shard-{k}.sqlite");
        let out = chess_match(
            &ws,
            &db,
            &format!("runs-{k}"),
            &["--shard", &format!("{k}/3")],
        );
        assert!(out.status.success(), "{}", text(&out));
        let store = qarena_store::Store::open(&ws.path().join(&db)).unwrap();
        let run = store.run_by_tag("m").unwrap().unwrap();
        assert_eq!(run.settings["shard"]["index"], k);
        assert_eq!(run.settings["shard"]["count"], 3);
        let mine = games_of(&ws.path().join(&db), "m");
        // 6 pairs round-robin over 3 shards: 2 pairs each, never split.
        assert_eq!(mine.len(), 4, "shard {k}: {:?}", mine.keys());
        for (&(p, g), v) in &mine {
            assert!(mine.contains_key(&(p, g ^ 1)), "pair of game {g} split");
            assert!(
                union.insert((p, g), v.clone()).is_none(),
                "game {g} in two shards"
            );
        }
    }
    // Together: the same games, move for move, with the same results.
    assert_eq!(union, all);

    // A resume continues the stored shard; another shard is refused.
    let out = ws.run(&[
        "match",
        "--resume",
        "m",
        "--db",
        "shard-1.sqlite",
        "--runs-dir",
        "runs-1",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(games_of(&ws.path().join("shard-1.sqlite"), "m").len(), 4);
    let out = ws.run(&[
        "match",
        "--resume",
        "m",
        "--shard",
        "2/3",
        "--db",
        "shard-1.sqlite",
        "--runs-dir",
        "runs-1",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("was started as shard 1/3"),
        "{}",
        text(&out)
    );

    // What a shard cannot do is refused before anything is played.
    let out = chess_match(&ws, "x.sqlite", "runs-x", &["--shard", "3/3"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not K/N"), "{}", text(&out));
    let out = chess_match(
        &ws,
        "x.sqlite",
        "runs-x",
        &["--shard", "0/2", "--sprt", "elo0=-10,elo1=0"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let sf = program("stockfish").display().to_string();
    let out = ws.run(&[
        "match",
        "--protocol",
        "uci",
        "--engine-a",
        &sf,
        "--engine-b",
        &sf,
        "--games",
        "2",
        "--shard",
        "0/2",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("--shard needs --run-tag"),
        "{}",
        text(&out)
    );
}
