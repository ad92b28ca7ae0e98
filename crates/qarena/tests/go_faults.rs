//! The Go fault matrix: every fake-engine fault mode x 5 games ends each game
//! with the right termination reason, within its deadline, and leaves no
//! engine process behind.

mod common;

use std::time::{Duration, Instant};

use common::*;

struct Case {
    mode: &'static str,
    extra: &'static [&'static str],
    expect: &'static str,
}

/// An illegal move loses the game but is not an engine fault: the engine is
/// kept, and the fake's one-shot fault does not fire again in later games.
fn faults_every_game(mode: &str) -> bool {
    mode != "illegal"
}

const CASES: &[Case] = &[
    Case {
        mode: "random",
        extra: &[],
        expect: "normal",
    },
    Case {
        mode: "hang",
        extra: &["--at", "3"],
        expect: "timeout",
    },
    Case {
        mode: "exit",
        extra: &["--at", "3"],
        expect: "engine_crash",
    },
    Case {
        mode: "garbage",
        extra: &["--at", "3"],
        expect: "bad_response",
    },
    Case {
        mode: "bad-bestmove",
        extra: &["--at", "3"],
        expect: "bad_response",
    },
    Case {
        mode: "illegal",
        extra: &["--at", "3"],
        expect: "illegal_move",
    },
    Case {
        mode: "huge-line",
        extra: &["--at", "3"],
        expect: "bad_response",
    },
    Case {
        mode: "slow-start",
        extra: &["--delay-ms", "3000"],
        expect: "timeout",
    },
    Case {
        mode: "silence",
        extra: &[],
        expect: "timeout",
    },
    Case {
        mode: "fork-hang",
        extra: &["--at", "2"],
        expect: "timeout",
    },
];

#[test]
fn every_fault_mode_ends_every_game_with_the_right_reason_and_no_leftovers() {
    let ws = Ws::new();
    // A private copy of the fake engine: its path marks our processes, so
    // the leftover check is not confused by other tests running in parallel.
    let fake = ws.path().join("fake-engine-go-matrix");
    std::fs::copy(fake_engine(), &fake).unwrap();
    let fake_s = fake.display().to_string();
    let mut report = Vec::new();
    for case in CASES {
        let a = format!(
            "{fake_s} --protocol gtp --mode {} {}",
            case.mode,
            case.extra.join(" ")
        );
        let b = format!("{fake_s} --protocol gtp --mode random --seed 7");
        let tag = format!("fault-{}", case.mode);
        let t0 = Instant::now();
        let out = ws.run(&[
            "match",
            "--engine-a",
            &a,
            "--engine-b",
            &b,
            "--games",
            "5",
            "--board-size",
            "7",
            "--timeout-move",
            "1",
            "--timeout-startup",
            "1",
            "--timeout-command",
            "1",
            "--run-tag",
            &tag,
        ]);
        let elapsed = t0.elapsed();
        assert!(out.status.success(), "{}: {}", case.mode, text(&out));
        let store = ws.store();
        let run = store.run_by_tag(&tag).unwrap().unwrap();
        let games = store.games(run.id).unwrap();
        assert_eq!(games.len(), 5, "{}: every game accounted for", case.mode);
        for g in &games {
            let expect_fault =
                case.expect != "normal" && (faults_every_game(case.mode) || g.game_index == 0);
            if !expect_fault {
                assert!(
                    ["two_passes", "move_cap", "resign"].contains(&g.termination.as_str()),
                    "{}: game {} ended with {}",
                    case.mode,
                    g.game_index,
                    g.termination
                );
            } else {
                assert_eq!(
                    g.termination, case.expect,
                    "{}: game {} ({})",
                    case.mode, g.game_index, g.record
                );
                // The faulty engine (A) loses.
                assert_eq!(g.winner.map(|w| w.as_str()), Some("b"), "{}", case.mode);
            }
        }
        if case.expect != "normal" && faults_every_game(case.mode) {
            let events = store.events(run.id).unwrap();
            assert!(
                events.iter().any(|e| e.kind.as_str() == "restart"),
                "{}: restarts are recorded",
                case.mode
            );
        }
        // Each game waits at most one deadline (1 s) plus slack.
        assert!(
            elapsed < Duration::from_secs(5 * 3 + 10),
            "{}: took {elapsed:?}",
            case.mode
        );
        let left = processes_with(&fake_s);
        assert!(
            left.is_empty(),
            "{}: leftover processes {left:?}",
            case.mode
        );
        report.push(format!(
            "{:<12} {:<13} {:.1?}",
            case.mode, case.expect, elapsed
        ));
    }
    println!("{}", report.join("\n"));
}

#[test]
fn missing_engine_program_is_an_input_error_naming_it() {
    let ws = Ws::new();
    let out = ws.run(&[
        "match",
        "--engine-a",
        "no-such-engine-xyz --mode gtp",
        "--engine-b",
        &gnugo_cmd(1),
        "--games",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-engine-xyz"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one-line error: {err}");
}

#[test]
fn engine_that_always_crashes_stops_the_run_with_exit_3() {
    let ws = Ws::new();
    let fake = fake_engine();
    let a = format!("{} --mode exit --at 1", fake.display());
    let b = format!("{} --mode random", fake.display());
    let out = ws.run(&[
        "match",
        "--engine-a",
        &a,
        "--engine-b",
        &b,
        "--games",
        "10",
        "--restarts",
        "2",
        "--run-tag",
        "crashy",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("failed 3 times"), "{err}");
    let store = ws.store();
    let run = store.run_by_tag("crashy").unwrap().unwrap();
    assert_eq!(run.status.as_str(), "failed");
    // The games played before the stop are kept.
    assert_eq!(store.games(run.id).unwrap().len(), 3);
}

#[test]
fn unwritable_database_path_is_an_input_error_naming_it() {
    let ws = Ws::new();
    let out = ws.run(&[
        "match",
        "--engine-a",
        &gnugo_cmd(1),
        "--engine-b",
        &gnugo_cmd(1),
        "--games",
        "2",
        "--db",
        "no/such/dir/q.sqlite",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no/such/dir/q.sqlite"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one-line error: {err}");
}

#[test]
fn malformed_config_is_an_input_error_naming_the_file() {
    let ws = Ws::new();
    std::fs::write(ws.path().join("bad.toml"), "games = \"many\"\n[engine_a]\n").unwrap();
    let out = ws.run(&["match", "--config", "bad.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one-line error: {err}");
}
