//! `kill -9` of the harness mid-run: the database stays intact, finished
//! games survive, and `--resume` completes the run without duplicates.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

#[test]
fn kill_9_then_resume_completes_without_duplicates() {
    let ws = Ws::new();
    let fake = fake_engine();
    // Slow moves make the run long enough to kill it in the middle.
    let a = format!("{} --mode slow-move --delay-ms 20", fake.display());
    let b = format!("{} --mode random", fake.display());
    let mut child = Command::new(qarena())
        .args([
            "match",
            "--engine-a",
            &a,
            "--engine-b",
            &b,
            "--games",
            "12",
            "-j",
            "2",
            "--board-size",
            "7",
            "--run-tag",
            "k9",
        ])
        .current_dir(ws.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while games_in(&ws, "k9") < 3 {
        assert!(t0.elapsed() < Duration::from_secs(120), "no progress");
        assert!(child.try_wait().unwrap().is_none(), "match ended too early");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = games_in(&ws, "k9");
    assert!(before < 12, "killed too late to test anything");

    let store = ws.store();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let run = store.run_by_tag("k9").unwrap().unwrap();
    for g in store.games(run.id).unwrap() {
        assert_eq!(
            store.game_moves(g.id).unwrap().len() as i64,
            g.move_count,
            "game {} intact",
            g.game_index
        );
    }
    drop(store);

    let out = ws.run(&["match", "--resume", "k9"]);
    assert!(out.status.success(), "{}", text(&out));
    let store = ws.store();
    let run = store.run_by_tag("k9").unwrap().unwrap();
    assert_eq!(run.status.as_str(), "completed");
    let games = store.games(run.id).unwrap();
    let mut idx: Vec<i64> = games.iter().map(|g| g.game_index).collect();
    idx.dedup();
    assert_eq!(idx, (0..12).collect::<Vec<_>>(), "each game exactly once");
}

#[test]
fn sigint_stops_cleanly_and_marks_the_game_in_progress_aborted() {
    let ws = Ws::new();
    let fake = fake_engine();
    let marker = ws.path().join("fake-sigint");
    std::fs::copy(&fake, &marker).unwrap();
    let a = format!("{} --mode slow-move --delay-ms 30", marker.display());
    let b = format!("{} --mode random", marker.display());
    let mut child = Command::new(qarena())
        .args([
            "match",
            "--engine-a",
            &a,
            "--engine-b",
            &b,
            "--games",
            "20",
            "--board-size",
            "7",
            "--run-tag",
            "int",
        ])
        .current_dir(ws.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while games_in(&ws, "int") < 1 {
        assert!(t0.elapsed() < Duration::from_secs(120), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
    let store = ws.store();
    let run = store.run_by_tag("int").unwrap().unwrap();
    assert_eq!(run.status.as_str(), "interrupted");
    let games = store.games(run.id).unwrap();
    assert!(games.iter().any(|g| g.termination == "aborted"));
    assert!(games.len() < 20);
    let left = processes_with(&marker.display().to_string());
    assert!(left.is_empty(), "leftover engine processes {left:?}");
    drop(store);
    let out = ws.run(&["match", "--resume", "int"]);
    assert!(out.status.success(), "{}", text(&out));
    let store = ws.store();
    let games = store.games(run.id).unwrap();
    assert_eq!(games.len(), 20);
    assert!(games.iter().all(|g| g.termination != "aborted"));
}
