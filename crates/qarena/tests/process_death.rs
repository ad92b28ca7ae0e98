//! However qarena dies, its engines die with it: SIGKILL of the harness
//! (nothing can be caught) leaves no engine or engine helper alive for more
//! than a few seconds, and SIGHUP (a closed terminal) stops the run
//! cleanly like SIGTERM.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A copy of the fake engine under a unique name, so its processes (and
/// the helpers it forks, which run the same file) can be found in /proc.
fn marked_fake(ws: &Ws, name: &str) -> String {
    let marker = ws.path().join(name);
    std::fs::copy(fake_engine(), &marker).unwrap();
    marker.display().to_string()
}

fn start_match(ws: &Ws, a: &str, b: &str, tag: &str) -> Child {
    Command::new(qarena())
        .args([
            "match",
            "--engine-a",
            a,
            "--engine-b",
            b,
            "--games",
            "20",
            "-j",
            "2",
            "--board-size",
            "7",
            "--timeout-move",
            "600",
            "--run-tag",
            tag,
        ])
        .current_dir(ws.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn leftovers(marker: &str) -> Vec<u32> {
    processes_with(marker)
}

#[test]
fn sigkill_of_qarena_leaves_no_engine_or_helper_alive() {
    let ws = Ws::new();
    let marker = marked_fake(&ws, "fake-orphans");
    // Engine A forks a helper into its group at start and hangs on its
    // first move; both workers' engines are then alive and busy.
    let a = format!("{marker} --mode fork-hang --at 1");
    let b = format!("{marker} --mode random");
    let mut child = start_match(&ws, &a, &b, "orphans");
    // Two workers: per worker engine A, its helper and engine B.
    wait_for("engines and helpers", Duration::from_secs(60), || {
        leftovers(&marker).len() >= 6
    });
    child.kill().unwrap(); // SIGKILL: no handler runs
    child.wait().unwrap();
    assert_processes_gone(&marker, "engines and helpers after qarena's SIGKILL");
}

#[test]
fn sighup_stops_the_run_cleanly() {
    let ws = Ws::new();
    let marker = marked_fake(&ws, "fake-hup");
    let a = format!("{marker} --mode slow-move --delay-ms 30");
    let b = format!("{marker} --mode random");
    let mut child = start_match(&ws, &a, &b, "hup");
    wait_for("a finished game", Duration::from_secs(120), || {
        games_in(&ws, "hup") >= 1
    });
    kill(Pid::from_raw(child.id() as i32), Signal::SIGHUP).unwrap();
    let t0 = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "qarena ignored SIGHUP"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status:?}");
    let store = ws.store();
    let run = store.run_by_tag("hup").unwrap().unwrap();
    assert_eq!(run.status.as_str(), "interrupted");
    assert!(leftovers(&marker).is_empty(), "{:?}", leftovers(&marker));
    assert!(Path::new(&marker).exists());
}

#[test]
fn relative_program_in_a_config_folder_with_spaces_runs() {
    let ws = Ws::new();
    let dir = ws.path().join("my configs");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(fake_engine(), dir.join("fake engine")).unwrap();
    std::fs::copy(fake_engine(), dir.join("fake")).unwrap();
    std::fs::write(
        dir.join("match.toml"),
        "games = 2\n\
         [engine_a]\nname = \"a\"\ncommand = \"'./fake engine' --seed 3\"\n\
         [engine_b]\nname = \"b\"\ncommand = \"./fake --seed 4\"\n\
         [go]\nboard_size = 5\n",
    )
    .unwrap();
    let out = ws.run(&[
        "match",
        "--config",
        "my configs/match.toml",
        "--run-tag",
        "spaces",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(games_in(&ws, "spaces"), 2);
}
