//! The engine handle against the real fake engine binary: normal exchanges
//! and every fault the fake can inject.

mod common;

use std::time::{Duration, Instant};

use common::*;
use qarena_engine::{Engine, EngineError, EngineSpec};

#[test]
fn normal_gtp_exchange() {
    let mut e = spawn_fake("normal-gtp", &["--name", "Fakey", "--seed", "7"]);
    assert_eq!(e.label(), "normal-gtp");
    assert_eq!(gtp(&mut e, "protocol_version", PATIENCE).unwrap(), "2");
    assert_eq!(gtp(&mut e, "name", PATIENCE).unwrap(), "Fakey");
    assert_eq!(gtp(&mut e, "boardsize 9", PATIENCE).unwrap(), "");
    assert_eq!(gtp(&mut e, "play b E5", PATIENCE).unwrap(), "");
    let reply = gtp(&mut e, "genmove w", PATIENCE).unwrap();
    let mv = qarena_go::parse_vertex(&reply, 9).expect("a vertex");
    assert_ne!(
        mv,
        qarena_go::parse_vertex("E5", 9).unwrap(),
        "E5 is occupied"
    );
    assert!(gtp(&mut e, "play b E5", PATIENCE).unwrap().starts_with('?'));
    assert!(gtp(&mut e, "frobnicate", PATIENCE)
        .unwrap()
        .starts_with('?'));
    assert!(e.is_alive());
    let pgid = e.pid() as i32;
    assert!(qarena_engine::live_process_groups().contains(&pgid));
    e.shutdown(Some("quit"), PATIENCE);
    assert_eq!(e.exit_status().as_deref(), Some("exit status: 0"));
    assert!(!e.is_alive());
    assert_group_gone(pgid);
}

#[test]
fn normal_uci_exchange() {
    let mut e = spawn_fake("normal-uci", &["--protocol", "uci"]);
    e.write_line("uci").unwrap();
    assert_eq!(read_until(&mut e, "uciok", PATIENCE).unwrap(), "uciok");
    e.write_line("setoption name Hash value 16").unwrap();
    e.write_line("isready").unwrap();
    assert_eq!(read_until(&mut e, "readyok", PATIENCE).unwrap(), "readyok");
    e.write_line("position startpos moves e2e4 e7e5").unwrap();
    e.write_line("go nodes 100").unwrap();
    let best = read_until(&mut e, "bestmove", PATIENCE).unwrap();
    assert_eq!(best.split_whitespace().count(), 2, "{best}");
    e.shutdown(Some("quit"), PATIENCE);
    assert_eq!(e.exit_status().as_deref(), Some("exit status: 0"));
}

#[test]
fn hang_times_out_on_time_and_kill_empties_the_group() {
    let mut e = spawn_fake("hanger", &["--mode", "hang", "--at", "2"]);
    let pgid = e.pid() as i32;
    assert!(!gtp(&mut e, "genmove b", PATIENCE).unwrap().is_empty());
    e.write_line("genmove w").unwrap();
    let start = Instant::now();
    let deadline = start + Duration::from_millis(300);
    let err = e.read_line(deadline, "genmove w").unwrap_err();
    let late = Instant::now().saturating_duration_since(deadline);
    assert!(Instant::now() >= deadline, "returned before the deadline");
    assert!(
        late < Duration::from_millis(200),
        "timeout fired {late:?} late"
    );
    match &err {
        EngineError::Timeout {
            label,
            what,
            waited,
            ..
        } => {
            assert_eq!(label, "hanger");
            assert_eq!(what, "genmove w");
            assert!(*waited >= Duration::from_millis(290), "{waited:?}");
        }
        other => panic!("expected Timeout, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("hanger") && msg.contains("qarena-fake-engine"),
        "{msg}"
    );
    assert!(e.is_alive(), "a hung engine is still alive");
    e.kill();
    e.kill(); // idempotent
    assert!(!e.is_alive());
    assert_eq!(e.exit_status().as_deref(), Some("signal: 9 (SIGKILL)"));
    assert_group_gone(pgid);
    assert!(matches!(
        e.read_line(Instant::now() + PATIENCE, "after kill"),
        Err(EngineError::Exited { .. })
    ));
    assert!(matches!(
        e.write_line("name"),
        Err(EngineError::Exited { .. })
    ));
}

#[test]
fn exit_reports_status_and_stderr() {
    let mut e = spawn_fake("quitter", &["--mode", "exit"]);
    let err = gtp(&mut e, "genmove b", PATIENCE).unwrap_err();
    match &err {
        EngineError::Exited {
            label,
            status,
            stderr_tail,
            ..
        } => {
            assert_eq!(label, "quitter");
            assert_eq!(status.as_deref(), Some("exit status: 1"));
            assert!(
                stderr_tail.contains("fake: exiting on cue"),
                "{stderr_tail:?}"
            );
        }
        other => panic!("expected Exited, got {other}"),
    }
    assert!(err.to_string().contains("fake: exiting on cue"), "{err}");
    assert!(!e.is_alive());
    // Writing to a dead engine is an Exited error too, not a panic or SIGPIPE.
    assert!(matches!(
        e.write_line("name"),
        Err(EngineError::Exited { .. })
    ));
}

#[test]
fn write_to_exited_engine_is_exited() {
    let mut e = spawn_fake("gone", &["--mode", "exit"]);
    e.write_line("genmove b").unwrap();
    // Wait for the fake to be gone (end of stdout), then write.
    assert!(matches!(
        e.read_line(Instant::now() + PATIENCE, "genmove b"),
        Err(EngineError::Exited { .. })
    ));
    let err = e.write_line("genmove w").unwrap_err();
    assert!(matches!(err, EngineError::Exited { .. }), "{err}");
}

#[test]
fn silence_times_out_and_polite_shutdown_works() {
    let mut e = spawn_fake("mute", &["--mode", "silence"]);
    let err = gtp(&mut e, "name", Duration::from_millis(150)).unwrap_err();
    assert!(matches!(err, EngineError::Timeout { .. }), "{err}");
    assert!(e.try_read_line().is_none());
    // The silent fake still exits when its stdin closes.
    e.shutdown(Some("quit"), PATIENCE);
    assert_eq!(e.exit_status().as_deref(), Some("exit status: 0"));
}

#[test]
fn slow_start_answers_after_a_timeout() {
    let mut e = spawn_fake("sleepy", &["--mode", "slow-start", "--delay-ms", "400"]);
    e.write_line("protocol_version").unwrap();
    let err = e
        .read_line(
            Instant::now() + Duration::from_millis(50),
            "protocol_version",
        )
        .unwrap_err();
    assert!(matches!(err, EngineError::Timeout { .. }), "{err}");
    // A timeout does not break the stream: the late answer still arrives.
    let line = e
        .read_line(Instant::now() + PATIENCE, "protocol_version")
        .unwrap();
    assert_eq!(line, "= 2");
}

#[test]
fn slow_move_misses_a_move_deadline() {
    let mut e = spawn_fake("slowpoke", &["--mode", "slow-move", "--delay-ms", "400"]);
    assert_eq!(gtp(&mut e, "name", PATIENCE).unwrap(), "qarena-fake");
    let err = gtp(&mut e, "genmove b", Duration::from_millis(100)).unwrap_err();
    assert!(matches!(err, EngineError::Timeout { .. }), "{err}");
}

#[test]
fn fork_hang_group_kill_removes_the_helper() {
    let mut e = spawn_fake("forker", &["--mode", "fork-hang"]);
    let pgid = e.pid() as i32;
    // The helper is started before the first command is read.
    assert_eq!(gtp(&mut e, "name", PATIENCE).unwrap(), "qarena-fake");
    let members = live_members(pgid);
    assert!(
        members.len() >= 2,
        "expected leader and helper in group {pgid}: {members:?}"
    );
    e.write_line("genmove b").unwrap();
    let err = e
        .read_line(Instant::now() + Duration::from_millis(100), "genmove b")
        .unwrap_err();
    assert!(matches!(err, EngineError::Timeout { .. }), "{err}");
    e.kill();
    assert_group_gone(pgid);
}

#[test]
fn drop_kills_the_whole_group() {
    let e = spawn_fake("dropped", &["--mode", "fork-hang"]);
    let pgid = e.pid() as i32;
    eventually("the helper has started", || live_members(pgid).len() >= 2);
    drop(e);
    assert_group_gone(pgid);
}

#[test]
fn leader_exit_takes_its_helpers_along() {
    // The fake forks its helper, then exits on cue; the helper still holds
    // stdout, so end of stream never comes on its own. The handle must still
    // notice the exit and clean up the group.
    let mut e = spawn_fake("orphaner", &["--mode", "fork-hang", "--at", "99"]);
    let pgid = e.pid() as i32;
    assert_eq!(gtp(&mut e, "name", PATIENCE).unwrap(), "qarena-fake");
    assert_eq!(gtp(&mut e, "quit", PATIENCE).unwrap(), "");
    // Stdout stays open through the helper, yet a long read ends soon.
    let start = Instant::now();
    let err = e.read_line(start + PATIENCE, "after quit").unwrap_err();
    assert!(matches!(err, EngineError::Exited { .. }), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
    assert!(!e.is_alive());
    assert_eq!(e.exit_status().as_deref(), Some("exit status: 0"));
    assert_group_gone(pgid);
}

#[test]
fn spawn_of_missing_program_names_it() {
    let spec = EngineSpec::new(
        "ghost",
        vec!["qarena-no-such-engine".to_string(), "--gtp".to_string()],
    );
    let err = Engine::spawn(spec).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, EngineError::Spawn { .. }), "{msg}");
    assert!(msg.contains("'ghost'"), "{msg}");
    assert!(msg.contains("`qarena-no-such-engine`"), "{msg}");
    assert!(msg.contains("check the command"), "{msg}");
}

#[test]
fn bad_cwd_is_a_spawn_error() {
    let mut spec = fake_spec("lost", &[]);
    spec.cwd = Some("/nonexistent/qarena/dir".into());
    assert!(matches!(
        Engine::spawn(spec),
        Err(EngineError::Spawn { .. })
    ));
}

#[test]
fn env_and_cwd_reach_the_process() {
    // The fake does not print its environment, so check through /proc.
    let dir = tempfile::tempdir().unwrap();
    let mut spec = fake_spec("envy", &["--mode", "silence"]);
    spec.cwd = Some(dir.path().to_path_buf());
    spec.env.push(("QARENA_TEST_MARK".into(), "42".into()));
    let e = Engine::spawn(spec).unwrap();
    let environ = std::fs::read(format!("/proc/{}/environ", e.pid())).unwrap();
    assert!(environ
        .split(|&b| b == 0)
        .any(|kv| kv == b"QARENA_TEST_MARK=42"));
    let cwd = std::fs::read_link(format!("/proc/{}/cwd", e.pid())).unwrap();
    assert_eq!(cwd, dir.path().canonicalize().unwrap());
}

#[test]
fn transcript_records_both_directions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs").join("game1-black.log");
    let mut spec = fake_spec("game1-black", &["--mode", "exit", "--at", "2"]);
    spec.transcript = Some(path.clone());
    let mut e = Engine::spawn(spec).unwrap();
    e.note("game 1 starts");
    assert_eq!(gtp(&mut e, "name", PATIENCE).unwrap(), "qarena-fake");
    gtp(&mut e, "genmove b", PATIENCE).unwrap();
    assert!(gtp(&mut e, "genmove w", PATIENCE).is_err());
    drop(e);

    let text = std::fs::read_to_string(&path).unwrap();
    let has = |dir: &str, body: &str| {
        text.lines().any(|l| {
            let mut parts = l.splitn(3, ' ');
            let (Some(ts), Some(d), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
                return false;
            };
            let ts_ok = ts.parse::<f64>().is_ok() && ts.split('.').nth(1).map(str::len) == Some(3);
            ts_ok && d == dir && rest.starts_with(body)
        })
    };
    assert!(has("#", "game 1 starts"), "{text}");
    assert!(has(">", "name"), "{text}");
    assert!(has("<", "= qarena-fake"), "{text}");
    assert!(has(">", "genmove w"), "{text}");
    assert!(has("!", "fake: exiting on cue"), "{text}");
}

#[test]
fn unwritable_transcript_does_not_stop_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = fake_spec("nolog", &[]);
    // A directory cannot be opened as a file.
    spec.transcript = Some(dir.path().to_path_buf());
    let mut e = Engine::spawn(spec).unwrap();
    assert_eq!(gtp(&mut e, "name", PATIENCE).unwrap(), "qarena-fake");
}

#[test]
fn gtp_faults_look_as_documented() {
    let mut e = spawn_fake("garbler", &["--mode", "garbage", "--at", "2"]);
    gtp(&mut e, "genmove b", PATIENCE).unwrap();
    let reply = gtp(&mut e, "genmove w", PATIENCE).unwrap();
    assert!(reply.starts_with("%%garbage%%"), "{reply}");
    // After the garbage the fake answers normally again.
    assert_eq!(gtp(&mut e, "name", PATIENCE).unwrap(), "qarena-fake");

    let mut e = spawn_fake("cheat", &["--mode", "illegal", "--at", "2"]);
    gtp(&mut e, "boardsize 9", PATIENCE).unwrap();
    gtp(&mut e, "play b D4", PATIENCE).unwrap();
    let white = gtp(&mut e, "genmove w", PATIENCE).unwrap();
    // The illegal reply is an occupied point: one of the two stones.
    let reply = gtp(&mut e, "genmove b", PATIENCE).unwrap();
    assert!(reply == "D4" || reply == white, "{reply} is not occupied");

    let mut e = spawn_fake("cheat-empty", &["--mode", "illegal"]);
    gtp(&mut e, "boardsize 9", PATIENCE).unwrap();
    assert_eq!(gtp(&mut e, "genmove b", PATIENCE).unwrap(), "A10");
}

#[test]
fn uci_faults_look_as_documented() {
    let go = |mode: &str| {
        let mut e = spawn_fake(mode, &["--protocol", "uci", "--mode", mode]);
        e.write_line("position startpos").unwrap();
        e.write_line("go depth 3").unwrap();
        let mut lines = Vec::new();
        loop {
            let line = e.read_line(Instant::now() + PATIENCE, "go").unwrap();
            let done = line.starts_with("bestmove");
            lines.push(line);
            if done {
                return lines;
            }
        }
    };
    let garbage = go("garbage");
    assert!(garbage.iter().any(|l| l.contains("banana")), "{garbage:?}");
    assert_eq!(garbage.last().unwrap().split_whitespace().count(), 2);
    assert_eq!(go("bad-bestmove").last().unwrap(), "bestmove xyz");
    assert_eq!(go("null-move").last().unwrap(), "bestmove 0000");
    let illegal = go("illegal");
    let mv = illegal
        .last()
        .unwrap()
        .strip_prefix("bestmove ")
        .unwrap()
        .to_string();
    let uci: shakmaty::uci::UciMove = mv.parse().unwrap();
    assert!(uci.to_move(&shakmaty::Chess::default()).is_err(), "{mv}");
}

#[test]
fn uci_terminal_position_has_no_move() {
    let mut e = spawn_fake("mated", &["--protocol", "uci"]);
    // Black is checkmated (fool's mate).
    e.write_line("position startpos moves f2f3 e7e5 g2g4 d8h4")
        .unwrap();
    e.write_line("go").unwrap();
    let best = read_until(&mut e, "bestmove", PATIENCE).unwrap();
    assert_eq!(best, "bestmove (none)");
}

#[test]
fn try_read_line_keeps_errors_for_read_line() {
    let mut e = spawn_fake("peek", &["--mode", "exit"]);
    e.write_line("genmove b").unwrap();
    eventually("the engine has exited", || {
        let _ = e.try_read_line();
        !e.is_alive()
    });
    assert!(e.try_read_line().is_none());
    let err = e
        .read_line(Instant::now() + PATIENCE, "genmove b")
        .unwrap_err();
    assert!(matches!(err, EngineError::Exited { .. }), "{err}");
}
