//! A writer killed with SIGKILL in the middle of a stream of games loses
//! nothing it reported as stored and leaves no partial game behind.
//!
//! The child is this same test binary, re-run with only
//! `child_process_entry_point` selected and an environment variable naming
//! the database; without the variable that entry point does nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code
#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{new_game, run_with_engines};
use qarena_store::Store;

const CHILD_DB_ENV: &str = "QARENA_STORE_TEST_CRASH_CHILD_DB";
const RUN_TAG: &str = "crash";
const PLIES: i64 = 200;
/// How many committed games the parent waits for before killing the child.
const KILL_AFTER: usize = 25;
/// The signal number of SIGKILL on every Unix; spelled out to avoid a libc
/// dependency for one constant.
const SIGKILL: i32 = 9;

#[test]
fn child_process_entry_point() {
    if let Some(db) = std::env::var_os(CHILD_DB_ENV) {
        write_games_until_killed(Path::new(&db));
    }
}

/// Inserts games forever, printing `committed <index>` after each commit.
/// Exits when the parent stops reading (a failed write means it is gone).
fn write_games_until_killed(db: &Path) {
    let store = Store::open(db).expect("child opens the database");
    let run = store
        .run_by_tag(RUN_TAG)
        .unwrap()
        .expect("parent created the run");
    let engines = store.engines(run.id).unwrap();
    let (a, b) = (engines[0].id, engines[1].id);
    let mut out = std::io::stdout().lock();
    for index in 0..1_000_000 {
        store
            .insert_game(&new_game(run.id, 0, index, a, b, PLIES))
            .expect("child inserts a game");
        if writeln!(out, "committed {index}")
            .and_then(|()| out.flush())
            .is_err()
        {
            return;
        }
    }
}

#[test]
fn games_reported_committed_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.sqlite");
    let (run, ..) = run_with_engines(&Store::open(&db).unwrap(), RUN_TAG);

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_entry_point",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_DB_ENV, &db)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the child test process");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut committed = Vec::new();
    let committed_index = |line: &str| -> Option<i64> {
        line.strip_prefix("committed ")
            .map(|n| n.trim().parse().expect("index"))
    };
    while committed.len() < KILL_AFTER {
        let line = lines
            .next()
            .expect("child exited before reporting enough games")
            .unwrap();
        committed.extend(committed_index(&line));
    }
    child.kill().expect("SIGKILL the child");
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(SIGKILL),
        "child died by SIGKILL: {status:?}"
    );
    // Lines the child printed before the signal landed also report commits.
    for line in lines {
        committed.extend(committed_index(&line.unwrap()));
    }

    let store = Store::open(&db).expect("reopen after the crash");
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let games = store.games(run).unwrap();
    let stored: Vec<i64> = games.iter().map(|g| g.game_index).collect();
    for index in &committed {
        assert!(
            stored.contains(index),
            "game {index} was reported committed but is missing"
        );
    }
    // Every game present is whole: the kill never leaves a partial game.
    for g in &games {
        assert_eq!(g.move_count, PLIES);
        assert_eq!(
            store.game_moves(g.id).unwrap().len() as i64,
            PLIES,
            "game {}",
            g.game_index
        );
        assert_eq!(
            store.game_self_evals(g.id).unwrap().len() as i64,
            PLIES,
            "game {}",
            g.game_index
        );
    }
    // Games are committed in order, so the stored ones are a prefix.
    let expected: Vec<i64> = (0..games.len() as i64).collect();
    assert_eq!(stored, expected);
}
