//! The disk fails under a run: a file size limit (RLIMIT_FSIZE, the way a
//! full disk looks to a process) hit at different moments, and a read-only
//! database. Each time qarena stops with a message that names the database
//! and says what to do (exit code 4), never panics, keeps every finished
//! game whole, and a resume on a healthy disk completes the run with each
//! game exactly once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::*;

const GAMES: i64 = 12;

fn match_args(fake: &Path, tag: &str) -> Vec<String> {
    let games = GAMES.to_string();
    match_args_with(
        fake,
        "--mode random --seed 7",
        "--mode random --seed 8",
        &["--games", &games, "--board-size", "7", "--run-tag", tag],
    )
}

/// Runs qarena with a file size limit; SIGXFSZ is ignored (as its default
/// action would kill the process) so writes past the limit fail with EFBIG,
/// which is what a full disk looks like to the program (ENOSPC).
fn run_limited(ws: &Ws, limit_kib: u64, args: &[String]) -> std::process::Output {
    Command::new("bash")
        .arg("-c")
        .arg(format!("trap '' XFSZ; ulimit -f {limit_kib}; exec \"$@\""))
        .arg("qarena")
        .arg(qarena())
        .args(args)
        .current_dir(ws.path())
        .output()
        .unwrap()
}

#[test]
fn file_size_limit_at_any_moment_keeps_games_and_resume_completes() {
    let mut hit = 0;
    for (i, limit_kib) in [8u64, 48, 96, 160, 320].into_iter().enumerate() {
        let ws = Ws::new();
        let tag = format!("full{i}");
        let out = run_limited(&ws, limit_kib, &match_args(&fake_engine(), &tag));
        let log = text(&out);
        assert!(!log.contains("panicked"), "limit {limit_kib} KiB: {log}");
        match out.status.code() {
            Some(0) => {}
            Some(4) => {
                hit += 1;
                assert!(
                    log.contains("qarena.sqlite")
                        && (log.contains("resume") || log.contains("try again")),
                    "limit {limit_kib} KiB: the message names the database and what to do: {log}"
                );
            }
            other => panic!("limit {limit_kib} KiB: exit {other:?}: {log}"),
        }
        let before = stored_game_indices(&ws, &tag);
        let run_exists = ws.db().exists() && ws.store().run_by_tag(&tag).unwrap().is_some();
        if (before.len() as i64) < GAMES {
            let args = if run_exists {
                ["match", "--resume", &tag].map(String::from).to_vec()
            } else {
                match_args(&fake_engine(), &tag)
            };
            let out = ws.run(&args);
            assert!(
                out.status.success(),
                "limit {limit_kib} KiB, resume: {}",
                text(&out)
            );
        }
        let after = stored_game_indices(&ws, &tag);
        assert!(
            before.iter().all(|g| after.contains(g)),
            "finished games kept"
        );
        assert_eq!(
            after,
            (0..GAMES).collect::<Vec<_>>(),
            "each game exactly once"
        );
    }
    assert!(hit >= 3, "the limits were hit in {hit} of 5 runs only");
}

#[test]
fn read_only_database_is_a_clear_error_and_loses_nothing() {
    let ws = Ws::new();
    let fake = ws.path().join("fake");
    std::fs::copy(fake_engine(), &fake).unwrap();
    let out = ws.run(&match_args(&fake, "ok"));
    assert!(out.status.success(), "{}", text(&out));

    // Root ignores file modes, so as root the second match runs as `nobody`.
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
    let dir = ws.path();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(ws.db(), std::fs::Permissions::from_mode(0o444)).unwrap();
    for side in ["-wal", "-shm"] {
        let p = dir.join(format!("qarena.sqlite{side}"));
        if p.exists() {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o444)).unwrap();
        }
    }
    std::fs::create_dir_all(dir.join("runs")).unwrap();
    std::fs::set_permissions(dir.join("runs"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(qarena());
        c
    } else {
        Command::new(qarena())
    };
    let second = match_args(&fake, "second");
    let out = cmd.args(&second).current_dir(dir).output().unwrap();
    let log = text(&out);
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        matches!(out.status.code(), Some(2 | 4)),
        "a read-only database is refused: {log}"
    );
    assert!(
        log.contains("qarena.sqlite") && log.contains("read-only"),
        "the message names the database and the problem: {log}"
    );
    std::fs::set_permissions(ws.db(), std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(
        stored_game_indices(&ws, "ok"),
        (0..GAMES).collect::<Vec<_>>()
    );
    assert!(ws.store().run_by_tag("second").unwrap().is_none());
}
