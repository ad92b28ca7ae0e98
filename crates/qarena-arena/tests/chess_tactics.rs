//! The tactical check with real Stockfish: the engine against itself loses
//! nothing, a rejected net is an error naming the engine, and the generator
//! writes a suite that loads back.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod chess_support;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use chess_support::{stockfish, timeouts};
use qarena_arena::chess::{generate_tactics, run_tactics, TacticsEngine};
use qarena_chess::load_tactics;

fn sf(label: &str, options: &[String]) -> TacticsEngine {
    TacticsEngine::new(label, vec![stockfish().display().to_string()], options).unwrap()
}

#[test]
fn stockfish_against_itself_loses_nothing() {
    let suite = load_tactics(None).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let report = run_tactics(
        &suite,
        &sf("variant", &[]),
        &sf("reference", &[]),
        20_000,
        timeouts(60.0),
        stop,
    )
    .unwrap();
    eprintln!(
        "Stockfish vs itself at 20000 nodes: {} positions, variant {} / reference {} correct, \
         {} failures, {} both missed",
        report.positions,
        report.variant_correct,
        report.reference_correct,
        report.failures.len(),
        report.both_missed
    );
    assert_eq!(report.positions, 50);
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.variant_correct, report.reference_correct);
    assert_eq!(report.variant_only, 0);
    // The suite was built at depth 16; 20000 nodes should find most of it.
    assert!(report.reference_correct >= 40, "{report:?}");
}

#[test]
fn a_rejected_variant_net_is_an_error_naming_the_engine() {
    let suite = load_tactics(None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.nnue").display().to_string();
    let err = run_tactics(
        &suite[..2],
        &sf("variant", &[format!("EvalFile={missing}")]),
        &sf("reference", &[]),
        1000,
        timeouts(30.0),
        Arc::new(AtomicBool::new(false)),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("variant") && err.contains("missing.nnue"),
        "{err}"
    );
    assert!(TacticsEngine::new("x", vec!["sf".into()], &["NoEquals".into()]).is_err());
}

#[test]
fn generated_suite_loads_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sub").join("t.epd");
    let argv = vec![stockfish().display().to_string()];
    let n = generate_tactics(argv, 3, 7, 8, &out, timeouts(60.0)).unwrap();
    assert_eq!(n, 3);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.starts_with("# qarena tactical suite: 3 positions"),
        "{text}"
    );
    let suite = load_tactics(Some(&out)).unwrap();
    assert_eq!(suite.len(), 3);
    assert_eq!(suite[2].id, "qarena-tactics-3");
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let ce: i32 = line
            .split("; ce ")
            .nth(1)
            .and_then(|r| r.split(';').next())
            .unwrap()
            .parse()
            .unwrap();
        assert!(ce.abs() <= 600, "{line}");
    }
}
