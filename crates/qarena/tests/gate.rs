//! `qarena gate --tactics` end to end with real Stockfish: the original
//! against itself passes, a net quantized to ±1 levels with the real CLI
//! loses positions the original solves and fails, and bad input is exit 2.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod common;

use common::{export_stockfish_net, program, text, Ws};

/// `variant lost Y` from the summary line.
fn lost(stdout: &str) -> usize {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("tactics: "))
        .unwrap_or_else(|| panic!("no tactics summary in:\n{stdout}"));
    line.split("variant lost ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("bad summary line `{line}`"))
}

/// Exports Stockfish's embedded net and quantizes it to ±1 levels.
fn degraded_net(ws: &Ws) -> String {
    export_stockfish_net(ws);
    let out = ws.run(&[
        "quantize", "sf.nnue", "--scheme", "levels1", "-o", "bad.nnue",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    ws.path().join("bad.nnue").display().to_string()
}

#[test]
fn stockfish_against_itself_passes_the_tactical_gate() {
    let ws = Ws::new();
    let sf = program("stockfish").display().to_string();
    let out = ws.run(&["gate", "--tactics", "--engine", &sf]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    eprintln!("{stdout}");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(lost(&stdout), 0);
    assert!(
        stdout.contains("tactics: ") && stdout.contains("/50 positions"),
        "{stdout}"
    );
    assert!(
        stdout.contains("(max 0): pass") && stdout.ends_with("gate: PASS\n"),
        "{stdout}"
    );
}

#[test]
fn a_degraded_net_fails_the_tactical_gate_deterministically() {
    let ws = Ws::new();
    let sf = program("stockfish").display().to_string();
    let bad = format!("EvalFile={}", degraded_net(&ws));
    let args = [
        "gate",
        "--tactics",
        "--engine",
        &sf,
        "--engine-option",
        &bad,
        "--reference",
        &sf,
        "--tactics-nodes",
        "20000",
    ];
    let out = ws.run(&args);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    eprintln!("{stdout}");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let y = lost(&stdout);
    assert!(y > 0, "{stdout}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("  lost ")).count(),
        y
    );
    assert!(stdout.contains("(max 0): FAIL") && stdout.ends_with("gate: FAIL\n"));
    // Fixed nodes, one thread, a fresh game per position: the same verdict.
    let again = ws.run(&args);
    assert_eq!(String::from_utf8_lossy(&again.stdout), stdout);
    // Allowing that many failures passes.
    let k = y.to_string();
    let mut lenient = args.to_vec();
    lenient.extend(["--max-tactical-failures", &k]);
    let out = ws.run(&lenient);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn tactics_combine_with_the_elo_gate() {
    let ws = Ws::new();
    let sf = program("stockfish").display().to_string();
    // Tactics pass, the score does not: the gate fails and says why.
    let out = ws.run(&[
        "gate",
        "--wdl",
        "20,20,60",
        "--min-score",
        "0.45",
        "--tactics",
        "--engine",
        &sf,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stdout.contains("(max 0): pass"), "{stdout}");
    assert!(stdout.contains("W/D/L 20,20,60") && stdout.contains("gate: FAIL"));
}

#[test]
fn bad_tactics_input_is_exit_2() {
    let ws = Ws::new();
    let sf = program("stockfish").display().to_string();
    let out = ws.run(&["gate", "--tactics"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--engine"), "{}", text(&out));
    let out = ws.run(&[
        "gate",
        "--engine",
        &sf,
        "--min-score",
        "0.4",
        "--wdl",
        "1,1,1",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    std::fs::write(
        ws.path().join("bad.epd"),
        "# one line\nrnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - bm e5; id \"x\";\n",
    )
    .unwrap();
    let out = ws.run(&["gate", "--tactics", "bad.epd", "--engine", &sf]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("bad.epd:2"), "{}", text(&out));
    let out = ws.run(&[
        "gate",
        "--tactics",
        "--engine",
        &sf,
        "--engine-option",
        "Threads",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn gate_plan_prints_the_games_needed_and_refuses_impossible_plans() {
    let ws = Ws::new();
    let out = ws.run(&["gate", "--plan", "--max-elo-loss", "50"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The simulation in qarena-stats checks this number's power.
    assert!(
        stdout.starts_with("232 games (116 colour-swapped pairs)"),
        "{stdout}"
    );
    // Fewer draws need more games.
    let out = ws.run(&[
        "gate",
        "--plan",
        "--max-elo-loss",
        "50",
        "--draw-ratio",
        "0",
    ]);
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("386 games"),
        "{}",
        text(&out)
    );
    // A variant that truly loses 60 Elo never passes "< 50": no plan.
    let out = ws.run(&[
        "gate",
        "--plan",
        "--max-elo-loss",
        "50",
        "--true-elo",
        "-60",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = ws.run(&["gate", "--plan"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("--plan needs --max-elo-loss"),
        "{}",
        text(&out)
    );
}
