//! SIGKILL at random moments, over and over: during a match, its resumes
//! and a concurrent prune. After every kill the database passes SQLite's
//! integrity check, every stored game is whole, no game index appears
//! twice, and no engine process is left after a few seconds; at the end a
//! resume completes the run with every game exactly once.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
    let t0 = Instant::now();
    while !processes_with(marker).is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "round {round}: engine processes outlived qarena: {:?}",
            processes_with(marker)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    if !ws.db().exists() {
        return 0;
    }
    let store = ws.store();
    assert_eq!(store.integrity_check().unwrap(), "ok", "round {round}");
    let Some(run) = store.run_by_tag("kl").unwrap() else {
        return 0;
    };
    let games = store.games(run.id).unwrap();
    let mut idx: Vec<i64> = games.iter().map(|g| g.game_index).collect();
    idx.sort_unstable();
    let n = idx.len();
    idx.dedup();
    assert_eq!(idx.len(), n, "round {round}: a game index appears twice");
    for g in &games {
        assert_eq!(
            store.game_moves(g.id).unwrap().len() as i64,
            g.move_count,
            "round {round}: game {} is not whole",
            g.game_index
        );
    }
    n
}

#[test]
fn random_sigkills_lose_and_duplicate_nothing() {
    let ws = Ws::new();
    let marker = ws.path().join("fake-killloop");
    std::fs::copy(fake_engine(), &marker).unwrap();
    let marker = marker.display().to_string();
    let a = format!("{marker} --mode slow-move --delay-ms 4");
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
        "5",
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
    let store = ws.store();
    let run = store.run_by_tag("kl").unwrap().unwrap();
    let mut idx: Vec<i64> = store
        .games(run.id)
        .unwrap()
        .iter()
        .map(|g| g.game_index)
        .collect();
    idx.sort_unstable();
    assert_eq!(
        idx,
        (0..GAMES).collect::<Vec<_>>(),
        "each game exactly once"
    );
}
