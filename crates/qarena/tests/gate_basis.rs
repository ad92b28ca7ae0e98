//! `qarena gate --basis point|ci|sprt` end to end: the three bases on the
//! same counts, their exit codes (0 pass, 1 fail or undecided, 2 usage), and
//! `--basis sprt` playing a real Stockfish match until its SPRT decides,
//! with the games in the database and an undecided stored run telling the
//! command that plays on (which is then run).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod common;

use common::{games_in, program, text, Ws};

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// The `gate: ...` verdict line.
fn verdict(o: &std::process::Output) -> String {
    let out = stdout(o);
    out.lines()
        .rev()
        .find(|l| l.starts_with("gate: "))
        .unwrap_or_else(|| panic!("no verdict in:\n{}", text(o)))
        .to_owned()
}

#[test]
fn the_three_bases_on_the_same_counts() {
    let ws = Ws::new();
    // 48% over 100 games, 40% draws: Elo -13.9, its 95% interval reaches -67.
    let base = ["gate", "--wdl", "28,40,32", "--max-elo-loss", "50"];
    let with = |basis: &str| {
        let mut a = base.to_vec();
        a.extend(["--basis", basis]);
        ws.run(&a)
    };

    let ci = with("ci");
    assert_eq!(ci.status.code(), Some(1), "{}", text(&ci));
    assert_eq!(verdict(&ci), "gate: FAIL");
    assert!(stdout(&ci).contains("basis ci:") && stdout(&ci).contains("lower bound -67.4"));
    // ci is the default, and today's output is unchanged by naming it.
    let default = ws.run(&base);
    assert_eq!(default.status.code(), Some(1));
    assert_eq!(stdout(&default), stdout(&ci));

    let point = with("point");
    assert_eq!(point.status.code(), Some(0), "{}", text(&point));
    assert_eq!(verdict(&point), "gate: PASS");
    assert!(
        stdout(&point).contains("basis point:")
            && stdout(&point).contains("point estimate -13.9")
            && stdout(&point).contains("no confidence statement"),
        "{}",
        text(&point)
    );

    let sprt = with("sprt");
    assert_eq!(sprt.status.code(), Some(1), "{}", text(&sprt));
    assert_eq!(verdict(&sprt), "gate: UNDECIDED");
    let out = stdout(&sprt);
    assert!(
        !out.contains(": FAIL"),
        "undecided is not a failure:\n{out}"
    );
    assert!(
        out.contains("basis sprt:")
            && out.contains("undecided after 100 games")
            && out.contains("LLR 0.760")
            && out.contains("bounds [-2.944, 2.944]")
            && out.contains("play more"),
        "{out}"
    );
    assert!(String::from_utf8_lossy(&sprt.stderr).contains("undecided"));
}

#[test]
fn sprt_on_counts_passes_fails_and_takes_its_error_rates() {
    let ws = Ws::new();
    let gate = |counts: &[&str], extra: &[&str]| {
        let mut a = vec!["gate", "--basis", "sprt", "--max-elo-loss", "50"];
        a.extend(counts);
        a.extend(extra);
        ws.run(&a)
    };
    let even = gate(&["--wdl", "400,200,400"], &[]);
    assert_eq!(even.status.code(), Some(0), "{}", text(&even));
    assert!(stdout(&even).contains("H1 accepted"), "{}", text(&even));
    assert_eq!(verdict(&even), "gate: PASS");

    let weak = gate(&["--wdl", "100,200,700"], &[]);
    assert_eq!(weak.status.code(), Some(1), "{}", text(&weak));
    assert!(stdout(&weak).contains("H0 accepted"), "{}", text(&weak));
    assert_eq!(verdict(&weak), "gate: FAIL");

    // Pairs are counted pentanomially.
    let pairs = gate(&["--penta", "2,20,56,20,2"], &[]);
    assert_eq!(pairs.status.code(), Some(0), "{}", text(&pairs));
    assert!(stdout(&pairs).contains("(pentanomial)"), "{}", text(&pairs));

    // Looser error rates widen nothing but the bounds: ln(0.8/0.2) = 1.386.
    let loose = gate(&["--wdl", "28,40,32"], &["--alpha", "0.2", "--beta", "0.2"]);
    assert!(
        stdout(&loose).contains("bounds [-1.386, 1.386]"),
        "{}",
        text(&loose)
    );
}

#[test]
fn gate_usage_errors_are_exit_2() {
    let ws = Ws::new();
    let sf = program("stockfish").display().to_string();
    for (args, says) in [
        (
            vec![
                "gate",
                "--wdl",
                "1,1,1",
                "--max-elo-loss",
                "50",
                "--alpha",
                "0.1",
            ],
            "--alpha",
        ),
        (
            vec![
                "gate",
                "--basis",
                "sprt",
                "--wdl",
                "1,1,1",
                "--min-score",
                "0.4",
            ],
            "--max-elo-loss",
        ),
        (
            vec![
                "gate",
                "--basis",
                "sprt",
                "--wdl",
                "1,1,1",
                "--max-elo-loss",
                "50",
                "--min-score",
                "0.4",
            ],
            "--min-score",
        ),
        (
            vec![
                "gate",
                "--basis",
                "sprt",
                "--wdl",
                "1,1,1",
                "--max-elo-loss",
                "0",
            ],
            "max-elo-loss",
        ),
        (
            vec![
                "gate",
                "--wdl",
                "1,1,1",
                "--max-elo-loss",
                "50",
                "--max-games",
                "10",
            ],
            "--max-games",
        ),
        (
            vec![
                "gate",
                "--basis",
                "point",
                "--max-elo-loss",
                "50",
                "--engine-a",
                &sf,
                "--engine-b",
                &sf,
            ],
            "only --basis sprt plays a match",
        ),
        (
            vec![
                "gate",
                "--wdl",
                "1,1,1",
                "--max-elo-loss",
                "50",
                "--nodes",
                "100",
            ],
            "describe a match to play",
        ),
        (
            vec!["gate", "--plan", "--basis", "sprt", "--max-elo-loss", "50"],
            "--plan",
        ),
    ] {
        let out = ws.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}\n{}", text(&out));
        assert!(text(&out).contains(says), "{args:?}\n{}", text(&out));
    }
    // --plan still works.
    let plan = ws.run(&["gate", "--plan", "--max-elo-loss", "50"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    assert!(stdout(&plan).starts_with("232 games"), "{}", text(&plan));
}

/// Stockfish against Stockfish at skill level 0, both at 2000 nodes: the
/// strong engine wins nearly every game, so "loses less than 100 Elo"
/// is decided within a few dozen games either way round.
fn sprt_match(ws: &Ws, tag: &str, weak: &str, max_games: &str) -> std::process::Output {
    let sf = program("stockfish").display().to_string();
    ws.run(&[
        "gate",
        "--basis",
        "sprt",
        "--max-elo-loss",
        "100",
        "--protocol",
        "uci",
        "--engine-a",
        &sf,
        "--engine-b",
        &sf,
        weak,
        "Skill Level=0",
        "--nodes",
        "2000",
        "--max-games",
        max_games,
        "--run-tag",
        tag,
    ])
}

/// `run T: N games, ...` from the gate's headline.
fn games_played(o: &std::process::Output, tag: &str) -> usize {
    let head = format!("run {tag}: ");
    let out = stdout(o);
    let line = out
        .lines()
        .find(|l| l.starts_with(&head))
        .unwrap_or_else(|| panic!("no headline in:\n{}", text(o)));
    line[head.len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("bad headline `{line}`"))
}

#[test]
fn sprt_gate_plays_until_it_passes() {
    let ws = Ws::new();
    let out = sprt_match(&ws, "strong", "--option-b", "400");
    eprintln!("{}", text(&out));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(verdict(&out), "gate: PASS");
    assert!(stdout(&out).contains("H1 accepted"), "{}", text(&out));
    let n = games_played(&out, "strong");
    assert!((2..400).contains(&n), "stopped after {n} games");
    // Every game is in the database, and the stored run gives the same verdict.
    assert_eq!(games_in(&ws, "strong"), n);
    let again = ws.run(&[
        "gate",
        "--basis",
        "sprt",
        "--max-elo-loss",
        "100",
        "--run",
        "strong",
    ]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(stdout(&again).contains("H1 accepted"), "{}", text(&again));
}

#[test]
fn sprt_gate_plays_until_it_fails() {
    let ws = Ws::new();
    let out = sprt_match(&ws, "weak", "--option-a", "400");
    eprintln!("{}", text(&out));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(verdict(&out), "gate: FAIL");
    assert!(stdout(&out).contains("H0 accepted"), "{}", text(&out));
    let n = games_played(&out, "weak");
    assert!((2..400).contains(&n), "stopped after {n} games");
    assert_eq!(games_in(&ws, "weak"), n);
}

#[test]
fn an_undecided_run_tells_how_to_play_on_and_that_command_decides() {
    let ws = Ws::new();
    // Two pairs cannot decide: --max-games is reached, undecided, exit 1.
    let out = sprt_match(&ws, "short", "--option-b", "4");
    eprintln!("{}", text(&out));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(verdict(&out), "gate: UNDECIDED");
    assert!(
        stdout(&out).contains("--max-games 4 reached without a decision"),
        "{}",
        text(&out)
    );
    assert_eq!(games_in(&ws, "short"), 4);

    // The stored run: undecided, and the command that plays on.
    let out = ws.run(&[
        "gate",
        "--basis",
        "sprt",
        "--max-elo-loss",
        "100",
        "--run",
        "short",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(verdict(&out), "gate: UNDECIDED");
    let stdout = stdout(&out);
    let cmd = stdout
        .lines()
        .find_map(|l| l.split("starts from zero games): ").nth(1))
        .unwrap_or_else(|| panic!("no command in:\n{stdout}"));
    assert!(
        cmd.starts_with("qarena gate --basis sprt --max-elo-loss 100 --max-games 20000 ")
            && cmd.contains("'Skill Level=0'")
            && !cmd.contains("--run-tag"),
        "{cmd}"
    );
    // Run it as printed (with a cap, and this test's binary): it decides.
    let cmd = format!(
        "{} {} --run-tag longer",
        common::qarena().display(),
        cmd.trim_start_matches("qarena ")
            .replace("--max-games 20000", "--max-games 400")
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &cmd])
        .current_dir(ws.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{cmd}\n{}", text(&out));
    assert_eq!(verdict(&out), "gate: PASS");
    let n = games_played(&out, "longer");
    assert!((5..400).contains(&n), "stopped after {n} games");
    assert_eq!(games_in(&ws, "longer"), n);
}
