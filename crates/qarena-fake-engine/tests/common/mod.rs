//! Helpers shared by the process tests: starting the fake engine, one GTP
//! round trip, and inspecting process groups through /proc.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code
#![allow(dead_code)] // each test file uses a different subset

use std::time::{Duration, Instant};

use qarena_engine::{Engine, EngineError, EngineSpec};

pub const FAKE: &str = env!("CARGO_BIN_EXE_qarena-fake-engine");

/// Generous bound for things that should take milliseconds, so a loaded
/// machine does not make tests flaky.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub fn fake_spec(label: &str, args: &[&str]) -> EngineSpec {
    let mut argv = vec![FAKE.to_string()];
    argv.extend(args.iter().map(|a| a.to_string()));
    EngineSpec::new(label, argv)
}

pub fn spawn_fake(label: &str, args: &[&str]) -> Engine {
    Engine::spawn(fake_spec(label, args)).expect("the fake engine starts")
}

/// Sends a GTP command and returns the response text after `= `, or the
/// error for a `?` response as `Ok("?...")`.
pub fn gtp(engine: &mut Engine, command: &str, within: Duration) -> Result<String, EngineError> {
    let deadline = Instant::now() + within;
    engine.write_line(command)?;
    let mut first = loop {
        let line = engine.read_line(deadline, command)?;
        if !line.trim().is_empty() {
            break line;
        }
    };
    loop {
        let line = engine.read_line(deadline, command)?;
        if line.trim().is_empty() {
            break;
        }
        first.push('\n');
        first.push_str(&line);
    }
    Ok(match first.strip_prefix('=') {
        Some(rest) => rest.trim().to_string(),
        None => first,
    })
}

/// Reads lines until one starts with `prefix`.
pub fn read_until(
    engine: &mut Engine,
    prefix: &str,
    within: Duration,
) -> Result<String, EngineError> {
    let deadline = Instant::now() + within;
    loop {
        let line = engine.read_line(deadline, prefix)?;
        if line.starts_with(prefix) {
            return Ok(line);
        }
    }
}

/// Processes in group `pgid` that are not zombies, as (pid, state) pairs.
/// Zombies are excluded: they run nothing and hold nothing but a table
/// slot until their new parent reaps them.
pub fn live_members(pgid: i32) -> Vec<(i32, char)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The command name may contain spaces; fields resume after the last ')'.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let (Some(state), Some(pgrp)) = (fields.first(), fields.get(2)) else {
            continue;
        };
        let state = state.chars().next().unwrap_or('?');
        if pgrp.parse::<i32>() == Ok(pgid) && state != 'Z' && state != 'X' {
            found.push((pid, state));
        }
    }
    found
}

/// Polls `cond` until it holds or `PATIENCE` runs out. This waits for an
/// outcome (with a bound), it does not guess a duration.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Asserts that nothing of group `pgid` is left running.
pub fn assert_group_gone(pgid: i32) {
    eventually(&format!("process group {pgid} is empty"), || {
        live_members(pgid).is_empty()
    });
    assert!(
        !qarena_engine::live_process_groups().contains(&pgid),
        "group {pgid} is still registered"
    );
}

/// The peak resident memory of this (test) process so far, in KiB.
pub fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}
