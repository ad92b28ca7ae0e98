//! The `nnue-eval` probe against Debian's Stockfish 15.1 and its own net,
//! exported on the fly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use qarena_probe::nnue::{NnueProbe, CLAMP_CP};
use qarena_probe::{metric, probe, probe_against, Positions, Probe, ProbeError, Suite};

fn work() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("nnue-probe")
}

fn suite() -> Suite {
    Suite::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../suites/chess-default.suite"))
        .unwrap()
}

/// The first `n` positions of the shipped suite.
fn small_suite(n: usize) -> Suite {
    let Positions::Chess { fens } = suite().positions().clone() else {
        panic!("a chess suite");
    };
    Suite::chess("small", fens.into_iter().take(n).collect()).unwrap()
}

fn probe_of() -> NnueProbe {
    NnueProbe::new(common::stockfish())
}

#[test]
fn the_net_against_itself_has_no_error() {
    let net = common::export_net(&work());
    let suite = suite();
    let stop = AtomicBool::new(false);
    let report = probe(&probe_of(), &net, &net, &suite, false, &stop).unwrap();
    let m = |n: &str| metric(&report.comparison.metrics, n).unwrap();
    assert_eq!(report.probe, "nnue-eval");
    assert_eq!(report.positions, suite.len());
    assert_eq!(report.comparison.primary_value(), Some(0.0));
    assert_eq!(m("cp_error_p99"), 0.0);
    assert_eq!(m("sign_agreement"), 1.0);
    assert_eq!(m("positions_compared"), suite.len() as f64);
    assert_eq!(m("positions_missing"), 0.0);
    println!("self against self: {:.2} s", report.seconds);
}

#[test]
fn evaluations_are_whites_view_and_checks_are_missing() {
    let net = common::export_net(&work());
    // The start position, Black to move after 1. e4 (White's view stays
    // positive), and a position in check (fool's mate threat, 2... Qh4+).
    let suite = Suite::chess(
        "t",
        vec![
            "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1".into(),
            "rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq - 0 1".into(),
            "rnb1kbnr/pppp1ppp/8/4p3/6Pq/5P2/PPPPP2P/RNBQKBNR w KQkq - 1 3".into(),
            "6k1/8/8/8/8/8/8/QQQQK3 w - - 0 1".into(),
        ],
    )
    .unwrap();
    let out = probe_of()
        .evaluate(&net, &suite, &AtomicBool::new(false))
        .unwrap();
    assert_eq!(out.cp.len(), 4);
    assert!(out.cp[0].unwrap().abs() < 100, "{:?}", out.cp);
    assert!(out.cp[1].unwrap() > 0, "{:?}", out.cp);
    assert_eq!(out.cp[2], None);
    assert!(out.cp[3].unwrap() > CLAMP_CP, "{:?}", out.cp);
    assert_eq!(out.missing(), 1);
    assert!(out.net.is_absolute());
    let c = probe_of().compare(&out, &out).unwrap();
    assert_eq!(metric(&c.metrics, "positions_missing"), Some(1.0));
    assert_eq!(metric(&c.metrics, "positions_compared"), Some(3.0));
}

#[test]
fn a_corrupt_or_missing_net_is_refused_by_name() {
    let net = common::export_net(&work());
    let dir = tempfile::tempdir().unwrap();
    let bytes = fs_err::read(&net).unwrap();
    let cut = dir.path().join("truncated.nnue");
    fs_err::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let mut flipped = bytes.clone();
    flipped[87] ^= 1; // the feature transformer's hash
    let bad_hash = dir.path().join("bad-hash.nnue");
    fs_err::write(&bad_hash, &flipped).unwrap();
    let stop = AtomicBool::new(false);
    let suite = small_suite(5);
    for bad in [&cut, &bad_hash, &dir.path().join("missing.nnue")] {
        let err = probe_of().evaluate(bad, &suite, &stop).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ProbeError::NetRejected { .. }), "{msg}");
        assert!(msg.contains(&bad.display().to_string()), "{msg}");
        println!("{msg}");
    }
}

#[test]
fn a_go_suite_a_stop_and_a_missing_program_are_errors() {
    let net = common::export_net(&work());
    let go = Suite::parse(
        "go9",
        "# qarena probe suite\ngame go\nboard_size 9\nkomi 7\nrules tromp-taylor\npositions 1\n-\n",
    )
    .unwrap();
    let stop = AtomicBool::new(false);
    let err = probe_of().evaluate(&net, &go, &stop).unwrap_err();
    assert!(matches!(err, ProbeError::WrongKind { .. }), "{err}");

    let raised = AtomicBool::new(true);
    let err = probe_of()
        .evaluate(&net, &small_suite(5), &raised)
        .unwrap_err();
    assert!(matches!(err, ProbeError::Interrupted), "{err}");

    let err = NnueProbe::new("/nonexistent/stockfish")
        .evaluate(&net, &small_suite(5), &stop)
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/stockfish"), "{err}");
}

#[test]
fn best_moves_agree_with_themselves_at_a_fixed_depth() {
    let net = common::export_net(&work());
    let mut p = probe_of();
    p.bestmove_depth = Some(6);
    let suite = small_suite(20);
    let stop = AtomicBool::new(false);
    let report = probe(&p, &net, &net, &suite, false, &stop).unwrap();
    assert_eq!(
        metric(&report.comparison.metrics, "bestmove_agreement"),
        Some(1.0)
    );
}

#[test]
fn the_error_grows_down_the_feature_transformer_ladder() {
    let net = common::export_net(&work());
    let cache = work().join("variants");
    let suite = suite();
    let stop = AtomicBool::new(false);
    let p = probe_of();
    let reference = p.evaluate(&net, &suite, &stop).unwrap();
    let mut errors = Vec::new();
    for levels in [127, 31, 7, 1] {
        let variant = common::ladder_variant(&net, &cache, "ft", levels);
        let report = probe_against(&p, &reference, &variant, &suite, &stop).unwrap();
        let m = |n: &str| metric(&report.comparison.metrics, n).unwrap();
        println!(
            "ft-L{levels}: cp_error_mean {:.1}, p99 {:.0}, sign agreement {:.3}",
            m("cp_error_mean"),
            m("cp_error_p99"),
            m("sign_agreement")
        );
        errors.push(m("cp_error_mean"));
    }
    assert!(errors[0] > 0.0, "{errors:?}");
    assert!(errors.windows(2).all(|w| w[0] < w[1]), "{errors:?}");
}

/// The 16-bit casts of Stockfish's net: Stockfish loads both (the probe
/// refuses a net it did not confirm), and they move the static evaluation
/// by a centipawn or two at most on average, half precision least.
#[test]
fn fp16_and_bf16_nets_load_and_stay_close() {
    let net = common::export_net(&work());
    let suite = small_suite(100);
    let stop = AtomicBool::new(false);
    let p = probe_of();
    let reference = p.evaluate(&net, &suite, &stop).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut errors = Vec::new();
    for scheme in [qarena_quant::Scheme::Fp16, qarena_quant::Scheme::Bf16] {
        let strategy =
            qarena_quant::Strategy::uniform(qarena_quant::QuantSpec::new(scheme)).unwrap();
        let v = qarena_variant::build_variant(
            &net,
            &strategy,
            &qarena_variant::BuildOptions {
                cache_dir: cache.path().to_path_buf(),
                late_blocks: 2,
                force: false,
            },
            &|_, _| {},
        )
        .unwrap();
        let r = probe_against(&p, &reference, &v.path, &suite, &stop).unwrap();
        errors.push(r.comparison.primary_value().unwrap());
    }
    eprintln!(
        "cp_error_mean: fp16 {:.3}, bf16 {:.3}",
        errors[0], errors[1]
    );
    assert!(errors[0] < errors[1] && errors[1] < 5.0, "{errors:?}");
}
