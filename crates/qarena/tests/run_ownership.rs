//! One run, one owner: a run being played is locked by its process
//! (`runs/<tag>/owner.lock`), so `runs prune` leaves it alone and a second
//! `--resume` of it is refused naming the owner; prune keeps runs with
//! finished games unless told `--with-games`; and a match, a judge and a
//! report share one database at the same time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod common;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Starts a Go match of fake engines in the background: engine A waits
/// `delay_ms` before every move, games are capped at 40 plies.
fn spawn_slow_match(ws: &Ws, tag: &str, games: u32, delay_ms: u32) -> Child {
    let a = format!("--mode slow-move --delay-ms {delay_ms}");
    let games = games.to_string();
    Command::new(qarena())
        .args(fake_match_args(
            &a,
            "--mode random",
            &[
                "--games",
                &games,
                "-j",
                "1",
                "--board-size",
                "7",
                "--move-cap",
                "40",
                "--run-tag",
                tag,
            ],
        ))
        .current_dir(ws.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting qarena match")
}

/// Waits until the run exists in the database.
fn wait_for_run(ws: &Ws, tag: &str, child: &mut Child) {
    let t0 = Instant::now();
    loop {
        if ws.db().exists() {
            if let Ok(store) = qarena_store::Store::open(&ws.db()) {
                if let Ok(Some(_)) = store.run_by_tag(tag) {
                    return;
                }
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the run never appeared"
        );
        if let Some(st) = child.try_wait().unwrap() {
            panic!("the match ended early with {st:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn finish(child: Child) -> Output {
    child.wait_with_output().expect("waiting for qarena")
}

#[test]
fn prune_during_the_first_game_keeps_the_live_run() {
    let ws = Ws::new();
    // About 20 slow moves of 150 ms: the first game lasts a few seconds.
    let mut child = spawn_slow_match(&ws, "live", 2, 150);
    wait_for_run(&ws, "live", &mut child);
    assert_eq!(games_in(&ws, "live"), 0, "the first game is still going");

    let dry = ws.run(&["runs", "prune", "--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry));
    let dry_out = String::from_utf8_lossy(&dry.stdout);
    assert!(
        dry_out.contains("live") && dry_out.contains(&format!("process {}", child.id())),
        "the dry run says the run is kept and who owns it: {}",
        text(&dry)
    );
    let out = ws.run(&["runs", "prune"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        ws.path().join("runs/live/logs").is_dir(),
        "run folder survives: {}",
        text(&out)
    );
    assert!(ws.store().run_by_tag("live").unwrap().is_some());

    let done = finish(child);
    assert!(
        done.status.success(),
        "the match completes: {}",
        text(&done)
    );
    assert_eq!(stored_game_indices(&ws, "live"), vec![0, 1]);
    let run = ws.store().run_by_tag("live").unwrap().unwrap();
    assert_eq!(run.status.as_str(), "completed");
    // The lock went with the process: now the run could be pruned (it is
    // completed, so it is not).
    let out = ws.run(&["runs", "prune", "--dry-run", "--with-games"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("in use"));
}

#[test]
fn prune_keeps_a_failed_run_with_games_unless_told_with_games() {
    let ws = Ws::new();
    let out = ws.run(&fake_match_args(
        "--mode exit --at 3",
        "--mode random",
        &[
            "--games",
            "4",
            "--board-size",
            "7",
            "--restarts",
            "0",
            "--run-tag",
            "broke",
        ],
    ));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resume broke"));
    let games = games_in(&ws, "broke");
    assert!(games >= 1, "the failed run has games");
    {
        let store = ws.store();
        let run = store.run_by_tag("broke").unwrap().unwrap();
        assert_eq!(run.status.as_str(), "failed");
        // And a failed run without games, which prune deletes by default.
        let empty = store
            .create_run(&qarena_store::NewRun {
                tag: "empty".into(),
                kind: qarena_store::RunKind::Match,
                argv: vec![],
                settings: serde_json::json!({}),
                software_version: "test".into(),
            })
            .unwrap();
        store
            .set_run_status(empty, qarena_store::RunStatus::Failed)
            .unwrap();
        std::fs::create_dir_all(ws.path().join("runs/empty/logs")).unwrap();
    }

    let out = ws.run(&["runs", "prune"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("--with-games"),
        "says how to delete it: {}",
        text(&out)
    );
    assert_eq!(games_in(&ws, "broke"), games, "{}", text(&out));
    assert!(ws.path().join("runs/broke/logs").is_dir());
    assert!(ws.store().run_by_tag("empty").unwrap().is_none());
    assert!(!ws.path().join("runs/empty").exists());

    let out = ws.run(&["runs", "prune", "--dry-run", "--with-games"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("would delete run broke"),
        "{}",
        text(&out)
    );
    assert_eq!(games_in(&ws, "broke"), games, "a dry run deletes nothing");

    let out = ws.run(&["runs", "prune", "--with-games"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(ws.store().run_by_tag("broke").unwrap().is_none());
    assert!(!ws.path().join("runs/broke").exists());
}

#[test]
fn a_second_process_on_a_live_run_is_refused_naming_the_owner() {
    let ws = Ws::new();
    let mut child = spawn_slow_match(&ws, "dup", 4, 40);
    wait_for_run(&ws, "dup", &mut child);

    let second = ws.run(&["match", "--resume", "dup"]);
    assert_eq!(second.status.code(), Some(2), "{}", text(&second));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains(&format!("process {}", child.id())) && err.contains("dup"),
        "the error names the run and the owner's pid: {}",
        text(&second)
    );
    // A new match under the same tag is refused too.
    let fake = fake_engine();
    let engine = format!("{} --mode random", fake.display());
    let third = ws.run(&[
        "match",
        "--engine-a",
        &engine,
        "--engine-b",
        &engine,
        "--run-tag",
        "dup",
    ]);
    assert_eq!(third.status.code(), Some(2), "{}", text(&third));

    let done = finish(child);
    assert!(
        done.status.success(),
        "the owner completes: {}",
        text(&done)
    );
    assert_eq!(
        stored_game_indices(&ws, "dup"),
        vec![0, 1, 2, 3],
        "no duplicates"
    );
    let run = ws.store().run_by_tag("dup").unwrap().unwrap();
    assert_eq!(run.status.as_str(), "completed");
}

#[test]
fn two_resumes_at_once_one_plays_the_other_is_refused() {
    let ws = Ws::new();
    let child = spawn_slow_match(&ws, "twice", 6, 30);
    let t0 = Instant::now();
    while games_in(&ws, "twice") < 1 {
        assert!(t0.elapsed() < Duration::from_secs(60), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = finish(child);
    assert!(out.status.success(), "{}", text(&out));
    assert!(stored_game_indices(&ws, "twice").len() < 6);

    let resume = || {
        Command::new(qarena())
            .args(["match", "--resume", "twice"])
            .current_dir(ws.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (p1, p2) = (resume(), resume());
    let (id1, id2) = (p1.id(), p2.id());
    let (o1, o2) = (finish(p1), finish(p2));
    let codes = [o1.status.code(), o2.status.code()];
    assert!(
        codes.contains(&Some(0)) && codes.contains(&Some(2)),
        "one plays, one is refused:\n{}\n{}",
        text(&o1),
        text(&o2)
    );
    let (refused, owner) = if o1.status.code() == Some(2) {
        (&o1, id2)
    } else {
        (&o2, id1)
    };
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains(&format!("process {owner}")),
        "{}",
        text(refused)
    );
    let idx = stored_game_indices(&ws, "twice");
    assert_eq!(idx, (0..6).collect::<Vec<_>>(), "each game exactly once");
    let run = ws.store().run_by_tag("twice").unwrap().unwrap();
    assert_eq!(run.status.as_str(), "completed");
}

#[test]
fn match_judge_and_report_share_one_database() {
    let ws = Ws::new();
    let sf = program("stockfish").display().to_string();
    let chess = |tag: &str, games: &str, nodes: &str| -> Vec<String> {
        [
            "match",
            "--protocol",
            "uci",
            "--engine-a",
            &sf,
            "--engine-b",
            &sf,
            "--uci-option",
            "Threads=1",
            "--uci-option",
            "Hash=16",
            "--nodes",
            nodes,
            "--node-jitter",
            "0.1",
            "--games",
            games,
            "-j",
            "1",
            "--run-tag",
            tag,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let base = chess("base", "2", "200");
    let out = ws.run(&base.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", text(&out));

    let mut live = Command::new(qarena())
        .args(chess("live", "12", "3000"))
        .current_dir(ws.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while games_in(&ws, "live") < 1 {
        assert!(t0.elapsed() < Duration::from_secs(60), "no progress");
        assert!(live.try_wait().unwrap().is_none(), "the match ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    // While the match writes games: judge runs (each new setting is a new
    // judge run, so every round writes verdicts), reports and listings.
    let mut rounds_while_live = 0;
    for round in 0..8 {
        if live.try_wait().unwrap().is_some() {
            break;
        }
        rounds_while_live += 1;
        let nodes = (200 + 50 * round).to_string();
        let out = ws.run(&[
            "judge",
            "--run",
            "base",
            "--uci-engine",
            &sf,
            "--nodes",
            &nodes,
            "--multipv",
            "1",
        ]);
        assert!(out.status.success(), "judge: {}", text(&out));
        for args in [
            vec!["report", "--run", "live", "-o", "rep-live"],
            vec!["report", "--run", "base", "-o", "rep-base"],
            vec!["runs", "list"],
            vec!["runs", "show", "live"],
        ] {
            let out = ws.run(&args);
            assert!(out.status.success(), "{}: {}", args.join(" "), text(&out));
        }
    }
    assert!(
        rounds_while_live >= 2,
        "the match ended before the judge and report rounds could overlap it"
    );
    let m = finish(live);
    assert!(m.status.success(), "match: {}", text(&m));
    assert_eq!(
        stored_game_indices(&ws, "live"),
        (0..12).collect::<Vec<_>>()
    );
    let judged: i64 = ws
        .store()
        .with_conn(|c| c.query_row("SELECT count(*) FROM judge_runs", [], |r| r.get(0)))
        .unwrap();
    assert_eq!(judged, rounds_while_live, "one judge run per round");
    assert_eq!(ws.store().integrity_check().unwrap(), "ok");
}
