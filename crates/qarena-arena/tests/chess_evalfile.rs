//! Verifying that Stockfish evaluates with the network it was given, and
//! generating an opening suite with it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod chess_support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use chess_support::*;
use qarena_arena::chess::{generate_openings, UciEngine};
use qarena_arena::Failure;
use qarena_chess::parse_epd;
use qarena_engine::EngineSpec;

/// Feeds `script` to a fresh Stockfish and returns stdout + stderr.
fn run_stockfish(script: &str) -> String {
    let mut child = Command::new(stockfish())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting stockfish");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("writing to stockfish");
    let out = child.wait_with_output().expect("stockfish output");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn bench_nodes(eval_file: Option<&Path>) -> u64 {
    let mut script = String::new();
    if let Some(p) = eval_file {
        script.push_str(&format!("setoption name EvalFile value {}\n", p.display()));
    }
    script.push_str("bench 16 1 8\nquit\n");
    let out = run_stockfish(&script);
    if let Some(p) = eval_file {
        assert!(
            out.contains(&format!("NNUE evaluation using {} enabled", p.display())),
            "bench did not use {}:\n{out}",
            p.display()
        );
    }
    out.lines()
        .find_map(|l| l.strip_prefix("Nodes searched"))
        .and_then(|rest| rest.trim_start_matches([' ', ':']).trim().parse().ok())
        .unwrap_or_else(|| panic!("no `Nodes searched` in bench output:\n{out}"))
}

fn start_with(options: &BTreeMap<String, String>) -> Result<UciEngine, Failure> {
    let argv = vec![stockfish().display().to_string()];
    let stop = Arc::new(AtomicBool::new(false));
    UciEngine::start(
        EngineSpec::new("sf-net", argv),
        timeouts(10.0),
        options,
        stop,
    )
}

#[test]
fn missing_net_is_rejected_with_stockfishs_own_words() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-net.nnue");
    let mut opts = sf_options();
    opts.insert("EvalFile".into(), missing.display().to_string());
    match start_with(&opts) {
        Err(Failure::Rejected { label, detail }) => {
            assert_eq!(label, "sf-net");
            assert!(detail.contains("ERROR"), "{detail}");
            assert!(
                detail.contains(&format!(
                    "network file {} was not loaded",
                    missing.display()
                )),
                "{detail}"
            );
        }
        Err(other) => panic!("expected Rejected, got {other}"),
        Ok(_) => panic!("a missing EvalFile was accepted"),
    }

    // A truncated file is refused the same way.
    let bad = dir.path().join("truncated.nnue");
    std::fs::write(&bad, b"not a network").unwrap();
    opts.insert("EvalFile".into(), bad.display().to_string());
    assert!(matches!(start_with(&opts), Err(Failure::Rejected { .. })));
}

#[test]
fn exported_net_loads_and_benches_like_the_embedded_one() {
    let dir = tempfile::tempdir().unwrap();
    let net = dir.path().join("exported.nnue");
    let out = run_stockfish(&format!("export_net {}\nquit\n", net.display()));
    assert!(out.contains("Network saved successfully"), "{out}");
    assert!(net.is_file());

    let mut opts = sf_options();
    opts.insert("EvalFile".into(), net.display().to_string());
    let engine = match start_with(&opts) {
        Ok(e) => e,
        Err(f) => panic!("exported net refused: {f}"),
    };
    engine.shutdown();

    let embedded = bench_nodes(None);
    let exported = bench_nodes(Some(&net));
    eprintln!("bench 16 1 8: embedded {embedded} nodes, exported EvalFile {exported} nodes");
    assert_eq!(embedded, exported);
}

#[test]
fn generated_openings_are_balanced_and_load() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sub").join("suite.epd");
    let argv = vec![stockfish().display().to_string()];
    let n = generate_openings(argv.clone(), 8, 50, 6, 9, &out, timeouts(30.0)).unwrap();
    assert_eq!(n, 6);
    let text = std::fs::read_to_string(&out).unwrap();
    let list = parse_epd(&text, "suite.epd").unwrap();
    assert_eq!(list.len(), 6);
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let ce: i32 = line
            .split("ce ")
            .nth(1)
            .and_then(|r| r.split(';').next())
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no ce opcode in `{line}`"));
        assert!(ce.abs() <= 50, "{line}");
    }
    // Same seed, same suite.
    let again = dir.path().join("again.epd");
    generate_openings(argv, 8, 50, 6, 9, &again, timeouts(30.0)).unwrap();
    assert_eq!(text, std::fs::read_to_string(&again).unwrap());
}
