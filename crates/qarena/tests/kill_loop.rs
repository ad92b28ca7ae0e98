//! SIGKILL at random moments, over and over: during a match, its resumes
//! and a concurrent prune. After every kill the database passes SQLite's
//! integrity check, every stored game is whole, no game index appears
//! twice, and no engine process is left after a few seconds; at the end a
//! resume completes the run with every game exactly once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

/// A tiny deterministic generator (SplitMix64), so the kill moments are
/// random but the same on every run of the test.
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        lo + (z ^ (z >> 31)) % (hi - lo)
    }
}

const GAMES: i64 = 30;
const KILLS: usize = 24;

fn spawn(ws: &Ws, args: &[&str]) -> Child {
    Command::new(qarena())
        .args(args)
        .current_dir(ws.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn check_consistent(ws: &Ws, marker: &str, round: usize) -> usize {
    assert_processes_gone(marker, &format!("round {round}: engines after qarena"));
    let mut idx = stored_game_indices(ws, "kl");
    let n = idx.len();
    idx.dedup();
    assert_eq!(idx.len(), n, "round {round}: a game index appears twice");
    n
}

#[test]
fn random_sigkills_lose_and_duplicate_nothing() {
    let ws = Ws::new();
    let marker = ws.path().join("fake-killloop");
    std::fs::copy(fake_engine(), &marker).unwrap();
    let marker = marker.display().to_string();
    let a = format!("{marker} --mode slow-move --delay-ms 10");
    let b = format!("{marker} --mode random");
    let games = GAMES.to_string();
    let first: Vec<&str> = vec![
        "match",
        "--engine-a",
        &a,
        "--engine-b",
        &b,
        "--games",
        &games,
        "-j",
        "2",
        "--board-size",
        "7",
        "--run-tag",
        "kl",
    ];
    let mut at = Moments(0x5EED);
    let mut stored = 0;
    for round in 0..KILLS {
        let started_yet = ws.db().exists() && ws.store().run_by_tag("kl").ok().flatten().is_some();
        let args: Vec<&str> = if started_yet {
            vec!["match", "--resume", "kl"]
        } else {
            first.clone()
        };
        let mut child = spawn(&ws, &args);
        // Every third round a prune runs at the same time and is killed too.
        let mut pruner = (round % 3 == 2).then(|| spawn(&ws, &["runs", "prune"]));
        std::thread::sleep(Duration::from_millis(at.next_ms(30, 900)));
        if let Some(p) = pruner.as_mut() {
            let _ = p.kill();
            let _ = p.wait();
        }
        let _ = child.kill();
        let _ = child.wait();
        let now = check_consistent(&ws, &marker, round);
        eprintln!("round {round}: {now} games stored");
        assert!(
            now >= stored,
            "round {round}: games were lost ({stored} -> {now})"
        );
        stored = now;
        if stored as i64 == GAMES {
            break;
        }
    }
    let out = ws.run(&["match", "--resume", "kl"]);
    // A run the kills let finish is already complete; resuming it is an error.
    if stored as i64 != GAMES {
        assert!(out.status.success(), "{}", text(&out));
    }
    assert_eq!(check_consistent(&ws, &marker, KILLS) as i64, GAMES);
    assert_eq!(
        stored_game_indices(&ws, "kl"),
        (0..GAMES).collect::<Vec<_>>(),
        "each game exactly once"
    );
}

/// Verdict rows per judged game, and the rows each game should get.
fn verdict_counts(ws: &Ws, tag: &str) -> (Vec<(i64, usize)>, usize) {
    let store = ws.store();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let run = store.run_by_tag(tag).unwrap().unwrap();
    let mut expected = std::collections::BTreeMap::new();
    for g in store.games(run.id).unwrap() {
        let moves = store.game_moves(g.id).unwrap();
        let n = moves.iter().take_while(|m| m.mv != "resign").count();
        expected.insert(g.id, (g.game_index, n));
    }
    let mut judged = std::collections::BTreeMap::new();
    for j in store.judge_runs(run.id).unwrap() {
        for m in store.judge_moves(j.id).unwrap() {
            *judged.entry(m.game).or_insert(0usize) += 1;
        }
    }
    let whole: Vec<(i64, usize)> = judged
        .iter()
        .map(|(game, n)| {
            let (index, want) = expected[game];
            assert_eq!(*n, want, "game {index} is half-judged");
            (index, *n)
        })
        .collect();
    let judgeable = expected.values().filter(|(_, n)| *n > 0).count();
    (whole, judgeable)
}

#[test]
fn random_sigkills_of_the_judge_leave_no_half_judged_game() {
    let ws = Ws::new();
    let out = ws.run(&fake_match_args(
        "--mode random --seed 5",
        "--mode random --seed 6",
        &["--games", "6", "--board-size", "7", "--run-tag", "kj"],
    ));
    assert!(out.status.success(), "{}", text(&out));
    let dir = katago_links(&ws, "kill-katago");
    let marker = dir.join("katago").display().to_string();
    let dir_arg = dir.display().to_string();
    let args = [
        "judge",
        "--run",
        "kj",
        "--katago-dir",
        &dir_arg,
        "--visits",
        "8",
        "--analysis-threads",
        "1",
        "--window",
        "1",
    ];
    let mut at = Moments(0xD06E);
    for round in 0..5 {
        let mut child = spawn(&ws, &args);
        std::thread::sleep(Duration::from_millis(at.next_ms(1500, 9000)));
        let _ = child.kill();
        let _ = child.wait();
        assert_processes_gone(&marker, &format!("round {round}: KataGo after the judge"));
        let (whole, _) = verdict_counts(&ws, "kj");
        eprintln!("judge round {round}: {} games judged", whole.len());
    }
    let out = ws.run(&args);
    assert!(out.status.success(), "{}", text(&out));
    let (whole, judgeable) = verdict_counts(&ws, "kj");
    assert_eq!(whole.len(), judgeable, "every game judged in the end");
}
