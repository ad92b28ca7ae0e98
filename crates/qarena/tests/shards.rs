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
    let all = games_by_key(&ws.path().join("all.sqlite"), "m");
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
        let mine = games_by_key(&ws.path().join(&db), "m");
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
    // And `qarena merge` joins them into the unsharded run.
    let out = ws.run(&[
        "merge",
        "merged.sqlite",
        "shard-0.sqlite",
        "shard-1.sqlite",
        "shard-2.sqlite",
        "--shard-runs",
        "runs-0",
        "--shard-runs",
        "runs-1",
        "--shard-runs",
        "runs-2",
        "--runs-dir",
        "runs-merged",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(games_by_key(&ws.path().join("merged.sqlite"), "m"), all);

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
    assert_eq!(
        games_by_key(&ws.path().join("shard-1.sqlite"), "m").len(),
        4
    );
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

/// Per point: W/D/L, score and Elo of a sweep's table (`--json`), without
/// the cost columns (time and memory differ from run to run).
fn strength_table(out: &std::process::Output) -> Vec<serde_json::Value> {
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    r["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            serde_json::json!({
                "index": p["index"],
                "name": p["name"],
                "bits": p["effective_bits"],
                "wdl": p["summary"]["tally"],
                "elo": p["elo"],
            })
        })
        .collect()
}

#[test]
fn a_sharded_demo_merged_gives_the_unsharded_table() {
    let ws = Ws::new();
    let sf = program("stockfish").display().to_string();
    let demo = |db: &str, runs: &str, shard: Option<&str>| {
        let mut args = vec![
            "demo",
            "--games",
            "4",
            "--nodes",
            "500",
            "-j",
            "2",
            "--run-tag",
            "d",
            "--db",
            db,
            "--runs-dir",
            runs,
            "--cache",
            "variants",
            "--stockfish",
            &sf,
        ];
        if let Some(s) = shard {
            args.extend_from_slice(&["--shard", s]);
        }
        let out = ws.run(&args);
        assert!(out.status.success(), "{}", text(&out));
    };
    demo("all.sqlite", "runs-all", None);
    demo("s0.sqlite", "runs-0", Some("0/2"));
    demo("s1.sqlite", "runs-1", Some("1/2"));
    let out = ws.run(&[
        "merge",
        "merged.sqlite",
        "s0.sqlite",
        "s1.sqlite",
        "--shard-runs",
        "runs-0",
        "--shard-runs",
        "runs-1",
        "--runs-dir",
        "runs-merged",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        games_by_key(&ws.path().join("merged.sqlite"), "d"),
        games_by_key(&ws.path().join("all.sqlite"), "d"),
        "the merged shards hold exactly the unsharded games"
    );
    // The table of the merged run is the unsharded table (nothing is left
    // to play, so resuming only prints it).
    let table = |db: &str, runs: &str| {
        let out = ws.run(&[
            "sweep",
            "--resume",
            "d",
            "--db",
            db,
            "--runs-dir",
            runs,
            "--json",
        ]);
        assert!(out.status.success(), "{}", text(&out));
        strength_table(&out)
    };
    let merged = table("merged.sqlite", "runs-merged");
    assert_eq!(merged.len(), 9);
    assert_eq!(merged, table("all.sqlite", "runs-all"));
}
