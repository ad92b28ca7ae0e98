//! The chess fault matrix through the CLI: every fake-engine fault mode x 5
//! games ends every game with the right reason, a hang under a nodes limit
//! is caught within its deadline, and no engine process is left behind.

mod common;

use std::time::{Duration, Instant};

use common::*;

struct Case {
    mode: &'static str,
    extra: &'static str,
    /// Termination of the faulty games; "normal" for tolerated modes.
    expect: &'static str,
    /// One-shot faults that are not process faults (the engine is kept, so
    /// the fake does not misbehave again): only the first game shows them.
    first_game_only: bool,
    /// Chess limit for the case.
    limit: &'static str,
}

const CASES: &[Case] = &[
    Case {
        mode: "random",
        extra: "",
        expect: "normal",
        first_game_only: false,
        limit: "nodes = 100",
    },
    Case {
        mode: "garbage",
        extra: "--at 2",
        expect: "normal",
        first_game_only: false,
        limit: "nodes = 100",
    },
    Case {
        mode: "hang",
        extra: "--at 2",
        expect: "timeout",
        first_game_only: false,
        limit: "nodes = 100",
    },
    Case {
        mode: "exit",
        extra: "--at 2",
        expect: "engine_crash",
        first_game_only: false,
        limit: "nodes = 100",
    },
    Case {
        mode: "bad-bestmove",
        extra: "--at 2",
        expect: "bad_response",
        first_game_only: false,
        limit: "nodes = 100",
    },
    Case {
        mode: "huge-line",
        extra: "--at 2",
        expect: "bad_response",
        first_game_only: false,
        limit: "nodes = 100",
    },
    Case {
        mode: "illegal",
        extra: "--at 2",
        expect: "illegal_move",
        first_game_only: true,
        limit: "nodes = 100",
    },
    Case {
        mode: "null-move",
        extra: "--at 2",
        expect: "illegal_move",
        first_game_only: true,
        limit: "nodes = 100",
    },
    Case {
        mode: "slow-start",
        extra: "--delay-ms 3000",
        expect: "timeout",
        first_game_only: false,
        limit: "nodes = 100",
    },
    Case {
        mode: "silence",
        extra: "",
        expect: "timeout",
        first_game_only: false,
        limit: "nodes = 100",
    },
    Case {
        mode: "fork-hang",
        extra: "--at 2",
        expect: "timeout",
        first_game_only: false,
        limit: "nodes = 100",
    },
    Case {
        mode: "slow-move",
        extra: "--delay-ms 1500",
        expect: "time_forfeit",
        first_game_only: false,
        limit: "tc = \"1+0\"",
    },
];

#[test]
fn every_uci_fault_mode_ends_every_game_with_the_right_reason_and_no_leftovers() {
    let ws = Ws::new();
    let fake = ws.path().join("fake-engine-chess-matrix");
    std::fs::copy(fake_engine(), &fake).unwrap();
    let fake_s = fake.display().to_string();
    let mut report = Vec::new();
    for case in CASES {
        let tag = format!("cf-{}", case.mode);
        let cfg = format!(
            r#"
games = 5
restarts = 20
[engine_a]
name = "faulty"
command = "{fake_s} --protocol uci --mode {} {}"
protocol = "uci"
[engine_b]
name = "random"
command = "{fake_s} --protocol uci --mode random --seed 5"
protocol = "uci"
[timeouts]
startup = 1
move = 1
command = 1
[chess]
limit = {{ {} }}
[chess.adjudication]
max_plies = 40
"#,
            case.mode, case.extra, case.limit
        );
        let file = ws.path().join(format!("{tag}.toml"));
        std::fs::write(&file, cfg).unwrap();
        let t0 = Instant::now();
        let out = ws.run(&[
            "match",
            "--config",
            file.to_str().unwrap(),
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
            let faulty = case.expect != "normal" && (!case.first_game_only || g.game_index == 0);
            if faulty {
                assert_eq!(
                    g.termination, case.expect,
                    "{}: game {}",
                    case.mode, g.game_index
                );
                assert_eq!(
                    g.winner.map(|w| w.as_str()),
                    Some("b"),
                    "{}: the faulty engine loses",
                    case.mode
                );
            } else {
                assert!(
                    ![
                        "timeout",
                        "engine_crash",
                        "bad_response",
                        "illegal_move",
                        "time_forfeit",
                        "aborted"
                    ]
                    .contains(&g.termination.as_str()),
                    "{}: game {} ended with {}",
                    case.mode,
                    g.game_index,
                    g.termination
                );
            }
            assert_eq!(g.record_format, "pgn");
        }
        // Each faulty game costs at most one deadline (1 s) plus slack.
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
            "{:<13} {:<13} {:.1?}",
            case.mode, case.expect, elapsed
        ));
    }
    println!("{}", report.join("\n"));
}

#[test]
fn stockfish_match_from_the_default_suite_is_balanced_and_exports_valid_pgn() {
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
        "300",
        "--node-jitter",
        "0.1",
        "--games",
        "8",
        "-j",
        "2",
        "--uci-option",
        "Threads=1",
        "--uci-option",
        "Hash=16",
        "--run-tag",
        "sf",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let store = ws.store();
    let run = store.run_by_tag("sf").unwrap().unwrap();
    let games = store.games(run.id).unwrap();
    assert_eq!(games.len(), 8);
    // Both games of a pair share their opening; seeds are recorded per game.
    for pair in games.chunks(2) {
        assert_eq!(pair[0].opening, pair[1].opening);
        assert!(pair[0].seed.is_some() && pair[1].seed.is_some());
    }
    let out = ws.run(&["export", "pgn", "--run", "sf", "-o", "sf.pgn"]);
    assert!(out.status.success(), "{}", text(&out));
    let script = r#"
import sys, chess.pgn
n = 0
with open(sys.argv[1]) as f:
    while True:
        g = chess.pgn.read_game(f)
        if g is None:
            break
        if g.errors:
            raise SystemExit(f"game {n}: {g.errors}")
        board = g.board()
        plies = 0
        for mv in g.mainline_moves():
            if not board.is_legal(mv):
                raise SystemExit(f"game {n}: illegal {mv}")
            board.push(mv)
            plies += 1
        if int(g.headers["PlyCount"]) < plies:
            raise SystemExit(f"game {n}: PlyCount {g.headers['PlyCount']} < {plies}")
        n += 1
print(n)
"#;
    let out = std::process::Command::new(python())
        .args(["-c", script])
        .arg(ws.path().join("sf.pgn"))
        .output()
        .unwrap();
    assert!(out.status.success(), "python-chess: {}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "8");
}
