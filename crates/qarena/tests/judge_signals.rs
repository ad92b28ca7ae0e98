//! `qarena judge` stopped by SIGTERM, then by SIGINT, while real KataGo
//! judges a run: each time the process exits within seconds with the
//! status of an interrupted match, leaves no KataGo behind, and every
//! judged game has all its verdicts; the same command then judges the rest.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;
use qarena_store::GameId;

/// Verdict rows per judged game, and the verdicts each game of the run
/// should get (its moves up to a resignation).
fn verdicts(ws: &Ws, tag: &str) -> (BTreeMap<GameId, usize>, BTreeMap<GameId, usize>) {
    let store = ws.store();
    let run = store.run_by_tag(tag).unwrap().unwrap();
    let mut expected = BTreeMap::new();
    for g in store.games(run.id).unwrap() {
        let moves = store.game_moves(g.id).unwrap();
        let n = moves.iter().take_while(|m| m.mv != "resign").count();
        // A game without moves has nothing to judge.
        if n > 0 {
            expected.insert(g.id, n);
        }
    }
    let mut judged = BTreeMap::new();
    let judge_runs = store.judge_runs(run.id).unwrap();
    assert!(
        judge_runs.len() <= 1,
        "one judge run, resumed: {judge_runs:?}"
    );
    for j in judge_runs {
        for m in store.judge_moves(j.id).unwrap() {
            *judged.entry(m.game).or_insert(0) += 1;
        }
    }
    (judged, expected)
}

/// Every game with verdicts has all of them.
fn assert_whole(judged: &BTreeMap<GameId, usize>, expected: &BTreeMap<GameId, usize>) {
    for (game, n) in judged {
        assert_eq!(Some(n), expected.get(game), "verdicts of game {game:?}");
    }
}

fn judged_games(ws: &Ws, tag: &str) -> usize {
    let Ok(store) = qarena_store::Store::open(&ws.db()) else {
        return 0;
    };
    let Ok(Some(run)) = store.run_by_tag(tag) else {
        return 0;
    };
    let mut games = std::collections::HashSet::new();
    for j in store.judge_runs(run.id).unwrap_or_default() {
        for m in store.judge_moves(j.id).unwrap_or_default() {
            games.insert(m.game);
        }
    }
    games.len()
}

fn spawn(ws: &Ws, args: &[String], log: &str) -> Child {
    let out = std::fs::File::create(ws.path().join(format!("{log}.out"))).unwrap();
    let err = std::fs::File::create(ws.path().join(format!("{log}.err"))).unwrap();
    Command::new(qarena())
        .args(args)
        .current_dir(ws.path())
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .unwrap()
}

fn log(ws: &Ws, name: &str) -> String {
    let read = |ext: &str| std::fs::read_to_string(ws.path().join(format!("{name}.{ext}")));
    format!(
        "stdout:\n{}\nstderr:\n{}",
        read("out").unwrap_or_default(),
        read("err").unwrap_or_default()
    )
}

/// Starts the judge, waits until more than `judged_before` games are
/// judged, sends `sig` and returns the exit status and how long the exit
/// took.
fn interrupt(
    ws: &Ws,
    args: &[String],
    judged_before: usize,
    sig: Signal,
) -> (ExitStatus, Duration) {
    let name = format!("{sig:?}");
    let mut child = spawn(ws, args, &name);
    let t0 = Instant::now();
    while judged_games(ws, "j") <= judged_before {
        assert!(
            t0.elapsed() < Duration::from_secs(180),
            "no game judged: {}",
            log(ws, &name)
        );
        if let Some(st) = child.try_wait().unwrap() {
            panic!(
                "the judge ended ({st}) before it could be interrupted: {}",
                log(ws, &name)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
    let sent = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return (st, sent.elapsed());
        }
        if sent.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the judge ignored {sig:?} for 30 s: {}", log(ws, &name));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_and_sigint_stop_the_judge_cleanly_and_it_resumes() {
    let ws = Ws::new();
    let out = ws.run(&fake_match_args(
        "--mode random --seed 3",
        "--mode random --seed 4",
        &["--games", "6", "--board-size", "7", "--run-tag", "j"],
    ));
    assert!(out.status.success(), "{}", text(&out));

    let kg = katago_links(&ws, "judge-katago");
    let args: Vec<String> = [
        "judge",
        "--run",
        "j",
        "--katago-dir",
        &kg.display().to_string(),
        "--visits",
        "8",
        "--analysis-threads",
        "1",
        "--window",
        "1",
        "--progress-every",
        "1",
    ]
    .map(String::from)
    .to_vec();
    let (_, expected) = verdicts(&ws, "j");
    let total = expected.len();
    assert!(total >= 4, "{expected:?}");

    let mut judged_before = 0;
    for sig in [Signal::SIGTERM, Signal::SIGINT] {
        let (status, took) = interrupt(&ws, &args, judged_before, sig);
        let name = format!("{sig:?}");
        // The status of a match stopped by Ctrl-C: success, resumable.
        assert!(status.success(), "{sig:?}: {status}: {}", log(&ws, &name));
        assert!(took < Duration::from_secs(5), "{sig:?}: exit took {took:?}");
        assert!(log(&ws, &name).contains("stopped:"), "{}", log(&ws, &name));
        assert_processes_gone(&kg.join("katago").display().to_string(), "KataGo");
        let (judged, _) = verdicts(&ws, "j");
        assert_whole(&judged, &expected);
        assert!(judged.len() > judged_before, "{sig:?}: no progress");
        assert!(
            judged.len() < total,
            "{sig:?} came too late to test anything"
        );
        judged_before = judged.len();
    }

    let out = ws.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("(resumed)"),
        "{}",
        text(&out)
    );
    let (judged, expected) = verdicts(&ws, "j");
    assert_eq!(judged, expected, "every game judged once, whole");
    assert_processes_gone(&kg.join("katago").display().to_string(), "KataGo");
}
