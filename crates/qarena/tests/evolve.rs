#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code
//! `qarena evolve run` and `export` on the shared KataGo net.

mod common;

use common::{katago, text, Ws};

#[test]
fn evolve_screens_genomes_and_exports_the_best_within_budget() {
    let (bin, net, _) = katago();
    let ws = Ws::new();
    let katago = bin.display().to_string();
    let net = net.display().to_string();
    let args = [
        "evolve",
        "run",
        &net,
        "--max-bits",
        "4.25",
        "--population",
        "3",
        "--generations",
        "2",
        "--collapse-floor",
        "0",
        "--katago",
        &katago,
    ];
    let out = ws.run(&args);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("2 generations, 6 genomes screened"),
        "{stdout}"
    );
    // The same command again resumes: nothing new is screened.
    let out = ws.run(&args);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("6 genomes screened"));
    let out = ws.run(&["evolve", "export", "--max-bits", "4.25", "-o", "best.toml"]);
    assert!(out.status.success(), "{}", text(&out));
    let s = qarena_quant::Strategy::from_file(ws.path().join("best.toml")).unwrap();
    assert!(!s.rules().is_empty());
    // Nothing survives within an impossible budget: a clear input error.
    let out = ws.run(&["evolve", "export", "--max-bits", "0.5", "-o", "x.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no surviving genome"), "{}", text(&out));
}
