//! The `nnue-eval` probe on the demo's ladder, and what one probe costs
//! against Stockfish answering the same queries on its own:
//!
//! ```text
//! cargo run --release -p qarena-probe --example nnue_ladder -- --work <dir>
//! ```
//!
//! Exports Stockfish's embedded net into the work folder, builds the
//! ladder's variants there (ft-L127 … ft-L1, fc-L7, fc-L1), probes each
//! against the net on `suites/chess-default.suite` (or `--suite FILE`)
//! and prints a Markdown table; then times one net's evaluation (engine
//! start included) against Stockfish fed every command at once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use qarena_engine::{run_to_completion, Input, RunSpec};
use qarena_probe::nnue::NnueProbe;
use qarena_probe::{metric, probe_against, Positions, Probe, Suite};

const LADDER: [(&str, u32); 8] = [
    ("ft", 127),
    ("ft", 31),
    ("ft", 15),
    ("ft", 7),
    ("ft", 3),
    ("ft", 1),
    ("fc", 7),
    ("fc", 1),
];
const REPEATS: usize = 5;

fn main() {
    let mut work = None;
    let mut suite_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../suites/chess-default.suite");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--work" => work = args.next().map(PathBuf::from),
            "--suite" => suite_path = args.next().map(PathBuf::from).expect("--suite FILE"),
            other => panic!("unknown option {other} (--work DIR, --suite FILE)"),
        }
    }
    let work = work.expect("--work DIR is required");
    let net = common::export_net(&work);
    let suite = Suite::load(&suite_path).unwrap();
    let stop = AtomicBool::new(false);
    let p = NnueProbe::new(common::stockfish());
    let reference = p.evaluate(&net, &suite, &stop).unwrap();

    println!(
        "suite {} ({} positions, sha256 {}…)\n",
        suite.name,
        suite.len(),
        &suite.sha256()[..12]
    );
    println!("| variant | cp_error_mean | cp_error_median | cp_error_p99 | sign_agreement |");
    println!("|---|---|---|---|---|");
    for (target, levels) in LADDER {
        let variant = common::ladder_variant(&net, &work.join("variants"), target, levels);
        let r = probe_against(&p, &reference, &variant, &suite, &stop).unwrap();
        let m = |n: &str| metric(&r.comparison.metrics, n).unwrap();
        println!(
            "| {target}-L{levels} | {:.1} | {:.0} | {:.0} | {:.3} |",
            m("cp_error_mean"),
            m("cp_error_median"),
            m("cp_error_p99"),
            m("sign_agreement")
        );
    }

    // One probe of one net, engine start included, against Stockfish given
    // the same commands in one go (no waiting for answers).
    let probe_times: Vec<f64> = (0..REPEATS)
        .map(|_| p.evaluate(&net, &suite, &stop).unwrap().seconds)
        .collect();
    let Positions::Chess { fens } = suite.positions() else {
        panic!("a chess suite");
    };
    let mut input = format!(
        "uci\nsetoption name Threads value 1\nsetoption name Hash value 16\n\
         setoption name EvalFile value {}\nisready\nposition startpos\ngo nodes 1\n",
        net.display()
    );
    for fen in fens {
        input.push_str(&format!("position fen {fen}\neval\nisready\n"));
    }
    input.push_str("quit\n");
    let own_times: Vec<f64> = (0..REPEATS)
        .map(|_| {
            let mut spec = RunSpec::new(
                "stockfish-alone",
                vec![common::stockfish().display().to_string()],
                Duration::from_secs(60),
            );
            spec.stdin = Input::Bytes(input.clone().into_bytes());
            let t = Instant::now();
            let out = run_to_completion(&spec, &stop).unwrap();
            assert!(out.success());
            t.elapsed().as_secs_f64()
        })
        .collect();
    let med = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (probe_s, own_s) = (med(probe_times), med(own_times));
    println!(
        "\none net on {} positions, median of {REPEATS}: probe {:.3} s (engine start and net check included); \
         Stockfish alone on the same commands {:.3} s; ratio {:.2}",
        suite.len(),
        probe_s,
        own_s,
        probe_s / own_s
    );
}
