//! The report of a real chess run (Stockfish against itself at fixed nodes,
//! played and judged by the real `qarena` binary): its protocol shows the
//! chess settings and no Go settings, and its limitations name what makes
//! the games non-reproducible.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `qarena` binary of this workspace, built (or brought up to date) first.
fn qarena() -> PathBuf {
    let st = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "qarena", "--bin", "qarena"])
        .current_dir(repo())
        .status()
        .expect("running cargo build for the qarena binary");
    assert!(st.success(), "building the qarena binary failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"));
    let target = if target.is_absolute() {
        target
    } else {
        repo().join(target)
    };
    target.join("debug").join("qarena")
}

fn stockfish() -> String {
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .chain([PathBuf::from("/usr/games")])
    {
        let p = dir.join("stockfish");
        if p.is_file() {
            return p.display().to_string();
        }
    }
    panic!("stockfish not found in PATH or /usr/games — install Debian's stockfish package");
}

fn run(bin: &Path, dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("running {} {args:?}: {e}", bin.display()));
    assert!(
        out.status.success(),
        "{args:?}: {:?}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn a_chess_report_shows_chess_settings_and_names_non_reproducibility() {
    let bin = qarena();
    let dir = tempfile::tempdir().unwrap();
    let sf = stockfish();
    run(
        &bin,
        dir.path(),
        &[
            "match",
            "--engine-a",
            &sf,
            "--engine-b",
            &sf,
            "--protocol",
            "uci",
            "--games",
            "2",
            "--nodes",
            "100",
            "--node-jitter",
            "0.1",
            "--run-tag",
            "cr",
        ],
    );
    run(
        &bin,
        dir.path(),
        &[
            "judge",
            "--run",
            "cr",
            "--uci-engine",
            &sf,
            "--nodes",
            "200",
            "--multipv",
            "1",
        ],
    );
    run(&bin, dir.path(), &["report", "--run", "cr", "-o", "rep"]);
    let md = std::fs::read_to_string(dir.path().join("rep/report.md")).unwrap();
    let section = |title: &str| {
        let start = md
            .find(title)
            .unwrap_or_else(|| panic!("no {title}:\n{md}"));
        let rest = &md[start + title.len()..];
        rest[..rest.find("\n## ").unwrap_or(rest.len())].to_string()
    };

    let protocol = section("## 2. Protocol");
    assert!(protocol.contains("chess="), "{protocol}");
    assert!(protocol.contains("limit=nodes=100"), "{protocol}");
    for go in ["go=", "board_size", "komi", "Settings `go`"] {
        assert!(
            !protocol.contains(go),
            "Go setting {go} in a chess report:\n{protocol}"
        );
    }

    let limits = section("## 6. Limitations");
    for want in [
        "**Reproducibility.**",
        "*Thread timing*",
        "*Engine randomness*",
        "Stockfish searching a fixed number of nodes on one thread is deterministic",
        "node jitter",
        "*Concurrency*",
        "machine's load",
        "**Judge assumptions.**",
        "fixed nodes or depth",
    ] {
        assert!(
            limits.contains(want),
            "limitations lack `{want}`:\n{limits}"
        );
    }
    assert!(
        !limits.contains("visit"),
        "Go wording in a chess report:\n{limits}"
    );
}
