#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code
//! Engines that flood through a whole match: endless invalid UTF-8, endless
//! `info ... multipv K` with a new K on every line, and an endless stderr
//! flood. The faulty engine loses each game (at its move deadline, or as a
//! bad response once a line passes the limit), qarena's
//! peak memory stays far under the 300 MB the reliability bar allows, the
//! run's transcripts stay within their cap, and no engine is left behind.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                dir_bytes(&e.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

const MAX_PEAK: u64 = 300 * 1024 * 1024;
/// The transcript cap per engine process (64 MiB) for each of the two
/// faulty processes (one per game, as a fault replaces the engine), plus
/// slack for the healthy engine's lines.
const MAX_TRANSCRIPTS: u64 = 2 * 64 * 1024 * 1024 + 4 * 1024 * 1024;

#[test]
fn floods_lose_at_the_deadline_in_bounded_memory_and_transcripts() {
    let ws = Ws::new();
    let fake = ws.path().join("fake-engine-floods");
    std::fs::copy(fake_engine(), &fake).unwrap();
    let fake_s = fake.display().to_string();
    let mut report = Vec::new();
    // Lines of 0xFF bytes grow past the line limit once decoded (each byte
    // becomes a three-byte replacement character): a bad response, as is
    // `info` chatter where GTP wants `=` or `?`. UCI `info` lines and
    // stderr are chatter without an answer: the move deadline.
    for (protocol, mode, expect) in [
        ("uci", "flood-multipv", "timeout"),
        ("uci", "flood-invalid", "bad_response"),
        ("uci", "flood-stderr", "timeout"),
        ("gtp", "flood-invalid", "bad_response"),
        ("gtp", "flood-multipv", "bad_response"),
        ("gtp", "flood-stderr", "timeout"),
    ] {
        let tag = format!("flood-{protocol}-{mode}");
        let mut args = match_args_with(
            &fake,
            &format!("--protocol {protocol} --mode {mode} --at 2"),
            &format!("--protocol {protocol} --mode random --seed 4"),
            &[
                "--protocol",
                protocol,
                "--games",
                "2",
                "--timeout-move",
                "3",
                "--timeout-command",
                "2",
                "--no-self-eval",
                "--run-tag",
                &tag,
            ],
        );
        if protocol == "gtp" {
            args.extend(["--board-size".into(), "7".into()]);
        }
        let t0 = Instant::now();
        let mut child = Command::new(qarena())
            .args(&args)
            .current_dir(ws.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut peak = 0;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if let Some(p) = qarena_engine::peak_rss_of(child.id()) {
                peak = peak.max(p);
            }
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "{tag}: the match did not end"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let elapsed = t0.elapsed();
        let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
        assert!(status.success(), "{tag}: {status:?}\n{stderr}");
        assert!(
            peak > 0 && peak < MAX_PEAK,
            "{tag}: peak memory {} MB",
            peak >> 20
        );
        let store = ws.store();
        let run = store.run_by_tag(&tag).unwrap().unwrap();
        let games = store.games(run.id).unwrap();
        assert_eq!(games.len(), 2, "{tag}: both games stored");
        for g in &games {
            assert_eq!(g.termination, expect, "{tag}: game {}", g.game_index);
            assert_eq!(
                g.winner.map(|w| w.as_str()),
                Some("b"),
                "{tag}: the flooding engine loses"
            );
        }
        let logs = dir_bytes(&ws.path().join("runs").join(&tag).join("logs"));
        assert!(logs < MAX_TRANSCRIPTS, "{tag}: {logs} bytes of transcripts");
        assert!(
            processes_with(&fake_s).is_empty(),
            "{tag}: engine processes left behind"
        );
        report.push(format!(
            "{tag:<22} peak {:>4} MB  transcripts {:>4} MB  {elapsed:.1?}",
            peak >> 20,
            logs >> 20
        ));
    }
    println!("{}", report.join("\n"));
}
