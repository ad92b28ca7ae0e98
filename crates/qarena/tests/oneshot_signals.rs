//! Ctrl-C during the one-shot engine runs: the demo's Stockfish net export
//! and the judge benchmark's reference run. An engine stand-in hangs (with
//! a helper it forked) once started; SIGINT then ends `qarena` promptly
//! with the status of an interrupted run, and no process of the stand-in
//! is left.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A program under the test's folder that marks its start, forks a
/// helper, and then never ends (nor reads its input).
fn hanging_engine(ws: &Ws, name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = ws.path().join(name);
    let script = r#"#!/bin/sh
if [ "$1" = helper ]; then
  while :; do sleep 1; done
fi
"$0" helper &
echo started > "$0.started"
while :; do sleep 1; done
"#;
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn spawn(ws: &Ws, args: &[String], log: &str) -> Child {
    let out = std::fs::File::create(ws.path().join(format!("{log}.out"))).unwrap();
    let err = std::fs::File::create(ws.path().join(format!("{log}.err"))).unwrap();
    Command::new(qarena())
        .args(args)
        .current_dir(ws.path())
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .unwrap()
}

fn log(ws: &Ws, name: &str) -> String {
    let read = |ext: &str| std::fs::read_to_string(ws.path().join(format!("{name}.{ext}")));
    format!(
        "stdout:\n{}\nstderr:\n{}",
        read("out").unwrap_or_default(),
        read("err").unwrap_or_default()
    )
}

/// Waits until `engine` has started under `child`, sends SIGINT, and
/// returns the exit status and how long the exit took.
fn interrupt_when_started(
    ws: &Ws,
    child: &mut Child,
    engine: &Path,
    name: &str,
) -> (ExitStatus, Duration) {
    let started = PathBuf::from(format!("{}.started", engine.display()));
    let t0 = Instant::now();
    while !started.exists() {
        if let Some(st) = child.try_wait().unwrap() {
            panic!(
                "qarena ended ({st}) before the engine started: {}",
                log(ws, name)
            );
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the engine never started: {}",
            log(ws, name)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let sent = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return (st, sent.elapsed());
        }
        if sent.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("qarena ignored SIGINT for 30 s: {}", log(ws, name));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn sigint_during_the_demo_net_export_stops_it_at_once() {
    let ws = Ws::new();
    let engine = hanging_engine(&ws, "hanging-stockfish");
    let args: Vec<String> = [
        "demo",
        "--quick",
        "--stockfish",
        &engine.display().to_string(),
    ]
    .map(String::from)
    .to_vec();
    let mut child = spawn(&ws, &args, "demo");
    let (status, took) = interrupt_when_started(&ws, &mut child, &engine, "demo");
    println!("qarena demo exited {took:?} after SIGINT during the net export");
    // The status of an interrupted run; nothing was played.
    assert!(status.success(), "{status}: {}", log(&ws, "demo"));
    assert!(log(&ws, "demo").contains("stopped"), "{}", log(&ws, "demo"));
    // Generous for a loaded machine; the export itself stops within ~10 ms.
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_processes_gone(&engine.display().to_string(), "the net export after SIGINT");
    let base = ws.path().join("variants").join("base");
    assert!(
        !base.join("stockfish-embedded.nnue.tmp").exists()
            && !base.join("stockfish-embedded.nnue").exists(),
        "no net may be left from an interrupted export"
    );
}

#[test]
fn sigint_during_the_bench_reference_run_stops_it_at_once() {
    let ws = Ws::new();
    let out = ws.run(&fake_match_args(
        "--mode random --seed 3",
        "--mode random --seed 4",
        &["--games", "2", "--board-size", "7", "--run-tag", "b"],
    ));
    assert!(out.status.success(), "{}", text(&out));
    let engine = hanging_engine(&ws, "hanging-katago");
    let args: Vec<String> = [
        "judge",
        "--run",
        "b",
        "--bench",
        "--engine",
        &format!("{} analysis", engine.display()),
    ]
    .map(String::from)
    .to_vec();
    let mut child = spawn(&ws, &args, "bench");
    let (status, took) = interrupt_when_started(&ws, &mut child, &engine, "bench");
    println!("qarena judge --bench exited {took:?} after SIGINT during the reference run");
    assert!(status.success(), "{status}: {}", log(&ws, "bench"));
    assert!(
        log(&ws, "bench").contains("stopped"),
        "{}",
        log(&ws, "bench")
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_processes_gone(
        &engine.display().to_string(),
        "the reference run after SIGINT",
    );
    // The benchmark never touches the real database.
    let store = ws.store();
    let run = store.run_by_tag("b").unwrap().unwrap();
    assert!(store.judge_runs(run.id).unwrap().is_empty());
}
