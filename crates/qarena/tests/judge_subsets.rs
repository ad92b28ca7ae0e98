//! `qarena judge --games A..B --limit N` end to end: a real Stockfish match
//! judged part by part by real Stockfish; the summary names the subset and
//! the run's coverage, the transcript lands in the run folder, and the
//! per-game view carries the verdicts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod common;

use std::collections::BTreeSet;

use common::*;

fn judged_games(ws: &Ws, tag: &str) -> BTreeSet<i64> {
    let store = ws.store();
    let run = store.run_by_tag(tag).unwrap().unwrap();
    let jr = store.judge_runs(run.id).unwrap();
    assert_eq!(jr.len(), 1, "one judge run for every subset: {jr:?}");
    let ids: BTreeSet<_> = store
        .judge_moves(jr[0].id)
        .unwrap()
        .into_iter()
        .map(|m| m.game)
        .collect();
    store
        .games(run.id)
        .unwrap()
        .into_iter()
        .filter(|g| ids.contains(&g.id))
        .map(|g| g.game_index)
        .collect()
}

#[test]
fn judge_subsets_extend_one_judge_run_with_its_transcript_in_the_run_folder() {
    let ws = Ws::new();
    let sf = program("stockfish").display().to_string();
    let out = ws.run(&[
        "match",
        "--engine-a",
        &sf,
        "--engine-b",
        &sf,
        "--protocol",
        "uci",
        "--games",
        "4",
        "--nodes",
        "100",
        "--node-jitter",
        "0.1",
        "--run-tag",
        "c",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let judge = |extra: &[&str]| {
        let mut args = vec![
            "judge",
            "--run",
            "c",
            "--uci-engine",
            &sf,
            "--nodes",
            "300",
            "--multipv",
            "1",
        ];
        args.extend_from_slice(extra);
        ws.run(&args)
    };

    let out = judge(&["--point", "0", "--games", "1..3", "--limit", "1"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains("subset     point 0, games 1..3, at most 1 unjudged game: 1/2 of its games judged, 1 left for a later call by --limit"),
        "{stdout}"
    );
    assert!(
        stdout.contains("coverage   1/4 games of the run (25.0%)"),
        "{stdout}"
    );
    assert_eq!(judged_games(&ws, "c"), BTreeSet::from([1]));
    // The transcript is in the run folder, named by the judge run.
    let store = ws.store();
    let run = store.run_by_tag("c").unwrap().unwrap();
    let jr = store.judge_runs(run.id).unwrap()[0].id;
    let log = ws
        .path()
        .join("runs/c/logs")
        .join(format!("judge-{}.log", jr.0));
    assert!(
        stdout.contains(&format!(
            "transcript {}",
            log.strip_prefix(ws.path()).unwrap().display()
        )),
        "{stdout}"
    );
    let transcript = std::fs::read_to_string(&log).unwrap();
    assert!(transcript.contains("bestmove"), "{transcript}");

    // The rest of the range: the same judge run, now two games.
    let out = judge(&["--games", "1..3"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(stdout.contains("(resumed)"), "{stdout}");
    assert!(stdout.contains("2/2 of its games judged"), "{stdout}");
    assert!(
        stdout.contains("coverage   2/4 games of the run"),
        "{stdout}"
    );
    assert_eq!(judged_games(&ws, "c"), BTreeSet::from([1, 2]));

    // The per-game view: one row per game and player, verdicts where judged.
    let rows = store.game_summary(run.id).unwrap();
    assert_eq!(rows.len(), 8, "{rows:?}");
    for r in &rows {
        assert_eq!(r.judge_run, Some(jr));
        let judged = [1, 2].contains(&r.game_index);
        assert_eq!(r.moves_judged > 0, judged, "{r:?}");
        assert_eq!(r.avg_loss_cp.is_some(), judged, "{r:?}");
    }

    // Bad ranges and empty subsets are input errors naming the culprit.
    for (args, want) in [
        (vec!["--games", "3..1"], "end 1 is not after its start 3"),
        (vec!["--games", "1..=2"], "`..=` is not accepted"),
        (vec!["--limit", "0"], "--limit"),
        (vec!["--point", "4"], "run 'c' has no game in point 4"),
    ] {
        let out = judge(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(want), "{args:?}: {}", text(&out));
    }
    assert_eq!(judged_games(&ws, "c"), BTreeSet::from([1, 2]));

    // --no-transcript writes none.
    std::fs::remove_file(&log).unwrap();
    let out = judge(&["--games", "3..", "--no-transcript"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!log.exists());
    assert_eq!(judged_games(&ws, "c"), BTreeSet::from([1, 2, 3]));
}
