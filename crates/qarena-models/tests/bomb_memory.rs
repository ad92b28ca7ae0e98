//! Peak memory while refusing gzip bombs of 1 GiB made from about 1 MB
//! each. This test binary runs nothing else, so the process's high-water
//! mark of resident memory is the bombs' alone; the old loader inflated
//! each bomb completely (1.1 GB resident) before looking at it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod common;

use std::path::Path;

use common::*;
use qarena_models::Model;

/// The process's peak resident set size in bytes, from `/proc/self/status`.
#[cfg(target_os = "linux")]
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status");
    kib * 1024
}

#[cfg(target_os = "linux")]
#[test]
fn gzip_bombs_are_refused_within_bounded_memory() {
    const V8_TRUNK: &str = "net\n8\n22\n19\ntrunk\n6\n96\n96\n64\n32\n32\n";
    let conv = |oc: usize| format!("{V8_TRUNK}conv1\n1\n1\n1024\n{oc}\n1\n1\n");
    let cases: [(&str, String, u8); 6] = [
        // No model at all.
        ("zeros.bin.gz", String::new(), 0),
        // A declared block of 1 GiB.
        ("declared.bin.gz", conv(262_144) + "@BIN@", 0),
        // A declared block of 48 MiB, within the limit, then zeros.
        ("within.bin.gz", conv(12_288) + "@BIN@", 0),
        // Separators that never end.
        ("spaces.bin.gz", V8_TRUNK.to_string(), b' '),
        ("newlines.txt.gz", V8_TRUNK.to_string(), b'\n'),
        // Digits that never end: one endless token.
        ("digits.txt.gz", conv(4), b'0'),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, prefix, filler) in cases {
        let bomb = gzip_bomb(prefix.as_bytes(), filler, 1024);
        assert!(bomb.len() < 2 << 20, "{name}: {} bytes", bomb.len());
        let file = dir.path().join(name);
        std::fs::write(&file, &bomb).unwrap();
        let err = Model::load(&file).unwrap_err();
        assert!(err.to_string().contains(name), "{err}");
        let err = Model::from_bytes(Path::new(name), bomb).unwrap_err();
        assert!(err.to_string().contains(name), "{err}");
    }
    let peak = peak_rss();
    eprintln!("peak resident memory: {} MiB", peak >> 20);
    assert!(
        peak < 256 << 20,
        "peak resident memory {} MiB while refusing the bombs",
        peak >> 20
    );
}
