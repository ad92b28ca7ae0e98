//! `qarena merge` end to end, on games really played by Stockfish.
//!
//! Until `--shard K/N` exists, the shard databases are made from one real
//! run the way a sharded run would write them: the database and run folder
//! are copied once per shard, each copy keeps only its shard's games (game
//! index mod 2 = K, with their moves, self-evaluations, costs and events)
//! and its run's settings get `"shard": {"index": K, "count": 2}`. Merging
//! them must give back exactly the games of the original run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod common;

use std::path::{Path, PathBuf};

use common::*;
use qarena_store::{rusqlite, Store};

const TAG: &str = "sharded";

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// `<ws>/<name>/qarena.sqlite` and `<ws>/<name>/runs/`: shard `k` of 2 of
/// the played run, as `--shard k/2` would leave it.
fn make_shard(ws: &Ws, name: &str, k: i64, tamper: Option<&str>) -> PathBuf {
    let dir = ws.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("qarena.sqlite");
    std::fs::copy(ws.db(), &db).unwrap();
    copy_dir(
        &ws.path().join("runs").join(TAG),
        &dir.join("runs").join(TAG),
    );
    std::fs::write(
        dir.join("runs").join(TAG).join("logs/shard-only.log"),
        format!("written by shard {k}"),
    )
    .unwrap();
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    c.execute("DELETE FROM games WHERE game_index % 2 <> ?1", [k])
        .unwrap();
    c.execute(
        "DELETE FROM events WHERE game_index IS NOT NULL AND game_index % 2 <> ?1",
        [k],
    )
    .unwrap();
    c.execute(
        "UPDATE runs SET settings = json_set(settings, '$.shard', json_object('index', ?1, 'count', 2))",
        [k],
    )
    .unwrap();
    if let Some(sql) = tamper {
        c.execute_batch(sql).unwrap();
    }
    db
}

/// Everything that makes a game what it is, by global key.
type Content = (
    (i64, i64),
    Option<String>,
    Option<String>,
    String,
    String,
    Vec<(i64, String, String)>,
    usize,
);

fn content(store: &Store) -> Vec<Content> {
    let run = store.run_by_tag(TAG).unwrap().unwrap();
    let engines = store.engines(run.id).unwrap();
    let slot = |id| engines.iter().find(|e| e.id == id).unwrap().slot;
    store
        .games(run.id)
        .unwrap()
        .into_iter()
        .map(|g| {
            (
                (g.point_index, g.game_index),
                g.result.clone(),
                g.winner.map(|w| w.to_string()),
                g.termination.to_string(),
                format!(
                    "{}{}{}",
                    slot(g.black_engine),
                    g.record,
                    slot(g.white_engine)
                ),
                store
                    .game_moves(g.id)
                    .unwrap()
                    .into_iter()
                    .map(|m| (m.ply, m.color.to_string(), m.mv))
                    .collect(),
                store.game_self_evals(g.id).unwrap().len(),
            )
        })
        .collect()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

#[test]
fn merging_two_shards_of_a_real_match_gives_back_the_match() {
    let ws = Ws::new();
    let sf = program("stockfish").display().to_string();
    let out = ws.run(&[
        "match",
        "--protocol",
        "uci",
        "--engine-a",
        &sf,
        "--engine-b",
        &sf,
        "--nodes",
        "400",
        "--games",
        "4",
        "-j",
        "2",
        "--run-tag",
        TAG,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let original = content(&ws.store());
    assert_eq!(original.len(), 4);
    assert!(original.iter().all(|g| g.1.is_some() && !g.5.is_empty()));

    let s0 = make_shard(&ws, "m0", 0, None);
    let s1 = make_shard(&ws, "m1", 1, None);
    let merged = ws.path().join("merged.sqlite");
    let args = |shards: &[&Path]| {
        let mut v: Vec<String> = vec!["merge".into(), merged.display().to_string()];
        v.extend(shards.iter().map(|s| s.display().to_string()));
        v.extend(["--runs-dir".into(), "merged-runs".into()]);
        v
    };
    let out = ws.run(&args(&[&s0, &s1]));
    assert!(out.status.success(), "{}", text(&out));
    let said = stdout(&out);
    assert!(
        said.contains("(shard 0/2), new: 2 new game(s), 0 already present"),
        "{said}"
    );
    assert!(
        said.contains("(shard 1/2): 2 new game(s), 0 already present"),
        "{said}"
    );
    assert!(
        said.contains("all 2 shards merged; 4 of 4 game(s), none missing"),
        "{said}"
    );

    let store = Store::open(&merged).unwrap();
    assert_eq!(
        content(&store),
        original,
        "the merged run is the played run"
    );
    let run = store.run_by_tag(TAG).unwrap().unwrap();
    assert!(run.settings.get("shard").is_none());
    assert_eq!(
        run.settings["merged_shards"],
        serde_json::json!({"count": 2, "indices": [0, 1]})
    );
    assert_eq!(
        run.settings["match"],
        ws.store().run_by_tag(TAG).unwrap().unwrap().settings["match"]
    );
    drop(store);

    // The run folder: the config once, each shard's logs apart.
    let folder = ws.path().join("merged-runs").join(TAG);
    assert!(folder.join("configs/match.json").is_file());
    for k in 0..2 {
        let log = folder.join(format!("logs/shard-{k}/shard-only.log"));
        assert_eq!(
            std::fs::read_to_string(log).unwrap(),
            format!("written by shard {k}")
        );
    }
    assert!(!folder.join("owner.lock").exists());

    // Again: nothing new.
    let out = ws.run(&args(&[&s1, &s0]));
    assert!(out.status.success(), "{}", text(&out));
    let said = stdout(&out);
    assert_eq!(
        said.matches("0 new game(s), 2 already present").count(),
        2,
        "{said}"
    );
    assert!(said.contains("0 file(s) copied"), "{said}");
    assert_eq!(content(&Store::open(&merged).unwrap()), original);

    // A shard whose game 1 has another result is refused whole (exit 2),
    // naming the file, the run and the game.
    let bad = make_shard(
        &ws,
        "bad",
        1,
        Some("UPDATE games SET result = 'forged', winner = NULL WHERE game_index = 1"),
    );
    let out = ws.run(&args(&[&bad]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad/qarena.sqlite") && err.contains("run 'sharded' game 1 of point 0"),
        "{err}"
    );
    assert_eq!(content(&Store::open(&merged).unwrap()), original);

    // One shard alone: the other shard and its games are reported missing.
    let partial = ws.path().join("partial.sqlite");
    let out = ws.run(&[
        "merge".to_string(),
        partial.display().to_string(),
        s0.display().to_string(),
        "--runs-dir".into(),
        "partial-runs".into(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let said = stdout(&out);
    assert!(
        said.contains("MISSING shard(s) 1 of 2 (merged: 0); 2 of 4 game(s), MISSING 2: 0:1 0:3"),
        "{said}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let ws = Ws::new();
    let out = ws.run(&["merge", "out.sqlite", "missing.sqlite"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("missing.sqlite"), "{}", text(&out));
    let out = ws.run(&[
        "merge",
        "out.sqlite",
        "a.sqlite",
        "b.sqlite",
        "--shard-runs",
        ".",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("once per shard"), "{}", text(&out));
}
