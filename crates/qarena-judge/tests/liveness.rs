//! Judge engines that stay alive but never answer: chatter must not extend
//! a query's deadline, and a stop request must end any wait at once.
//!
//! The engines are small shell scripts: an "analysis engine" that answers
//! `query_version` and then prints warnings forever, and a UCI engine that
//! floods `info` lines after `go` without ever sending `bestmove`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use qarena_judge::{
    judge, ChessJudgeSettings, GoJudgeSettings, JudgeKind, JudgeOptions, JudgeReport,
};
use qarena_store::{EventKind, Store};

/// Answers `query_version`, then prints a warning every 20 ms and never
/// answers a query.
const CHATTY_ANALYSIS: &str = r#"#!/bin/sh
read -r first
echo '{"action":"query_version","git_hash":"none","id":"qarena-version","version":"1.17.2"}'
while :; do
  echo '{"warning":"the analysis is taking a while, still working on it"}'
  sleep 0.02
done
"#;

/// A UCI engine that, after `go`, prints long `info` lines faster than
/// they can be parsed (so some are always waiting) and never sends
/// `bestmove`.
const INFO_FLOOD_UCI: &str = r#"#!/bin/sh
pv=$(yes "e2e4 e7e5 g1f3 b8c6" | head -n 200 | tr '\n' ' ')
info="info depth 1 multipv 1 score cp 12 nodes 100 pv $pv"
while read -r line; do
  case "$line" in
    uci) echo "id name info-flood"; echo "option name MultiPV type spin default 1 min 1 max 500"; echo uciok ;;
    isready) echo readyok ;;
    go*) while :; do echo "$info"; done ;;
    quit) exit 0 ;;
  esac
done
"#;

fn script(dir: &Path, name: &str, text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Runs `judge` on another thread so a judge that never ends fails the
/// test (after `limit`) instead of hanging it.
fn judge_within(
    db: &Path,
    tag: &str,
    opts: JudgeOptions,
    limit: Duration,
) -> (JudgeReport, Duration) {
    let (tx, rx) = mpsc::channel();
    let (db, tag) = (db.to_path_buf(), tag.to_string());
    let t0 = Instant::now();
    std::thread::spawn(move || {
        let store = Store::open(&db).unwrap();
        let _ = tx.send(judge(&store, &tag, &opts, &mut |_| {}).map_err(|e| e.to_string()));
    });
    match rx.recv_timeout(limit) {
        Ok(r) => (r.expect("judge returned an error"), t0.elapsed()),
        Err(_) => panic!(
            "the judge was still waiting after {limit:?}: engine output extended its deadline"
        ),
    }
}

fn event_kinds(db: &Path, tag: &str) -> Vec<EventKind> {
    let store = Store::open(db).unwrap();
    let run = store.run_by_tag(tag).unwrap().unwrap();
    store
        .events(run.id)
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect()
}

#[test]
fn a_chatty_analysis_engine_fails_at_the_query_deadline() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("q.sqlite");
    common::go_run(&Store::open(&db).unwrap(), "chat");
    let engine = script(tmp.path(), "chatty-katago", CHATTY_ANALYSIS);
    let mut opts = JudgeOptions::new(JudgeKind::Go(GoJudgeSettings::new(vec![engine
        .to_string_lossy()
        .into_owned()])));
    opts.timeout = Duration::from_secs(1);
    opts.startup_timeout = Duration::from_secs(20);
    opts.restarts = 1;

    let (report, took) = judge_within(&db, "chat", opts, Duration::from_secs(90));

    // Two attempts (the start and one restart), each ending at its deadline.
    assert!(took < Duration::from_secs(60), "took {took:?}");
    let msg = report.engine_failure.clone().expect("the engine failed");
    assert!(msg.contains("judge-katago"), "{msg}");
    assert!(msg.contains("chatty-katago"), "{msg}");
    assert!(msg.contains("analysis query"), "{msg}");
    assert!(msg.contains("--timeout"), "{msg}");
    assert!(!report.interrupted);
    assert_eq!(report.games_judged, 0);
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    let store = Store::open(&db).unwrap();
    assert!(store.judge_moves(report.judge_run).unwrap().is_empty());
    assert_eq!(
        event_kinds(&db, "chat"),
        vec![EventKind::Timeout, EventKind::Restart, EventKind::Timeout]
    );
}

#[test]
fn an_info_flood_without_bestmove_fails_at_the_search_deadline() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("q.sqlite");
    let moves: Vec<String> = ["e2e4", "e7e5", "g1f3"].map(String::from).to_vec();
    common::store_chess_game(&Store::open(&db).unwrap(), "flood", None, &moves);
    let engine = script(tmp.path(), "info-flood-uci", INFO_FLOOD_UCI);
    let mut s = ChessJudgeSettings::new(vec![engine.to_string_lossy().into_owned()]);
    s.multipv = 2;
    let mut opts = JudgeOptions::new(JudgeKind::Chess(s));
    opts.timeout = Duration::from_secs(1);
    opts.startup_timeout = Duration::from_secs(20);
    opts.restarts = 0;

    let (report, took) = judge_within(&db, "flood", opts, Duration::from_secs(90));

    assert!(took < Duration::from_secs(60), "took {took:?}");
    let msg = report.engine_failure.clone().expect("the engine failed");
    assert!(
        msg.contains("judge-uci") && msg.contains("info-flood-uci"),
        "{msg}"
    );
    assert!(msg.contains("go nodes"), "{msg}");
    assert_eq!(report.games_judged, 0);
    assert_eq!(report.failures.len(), 1);
    assert_eq!(event_kinds(&db, "flood"), vec![EventKind::Timeout]);
}

#[test]
fn a_stop_request_ends_the_wait_and_leaves_the_game_unjudged() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("q.sqlite");
    common::go_run(&Store::open(&db).unwrap(), "stop");
    let engine = script(tmp.path(), "chatty-katago", CHATTY_ANALYSIS);
    let mut opts = JudgeOptions::new(JudgeKind::Go(GoJudgeSettings::new(vec![engine
        .to_string_lossy()
        .into_owned()])));
    // Far beyond the test: only the stop request can end this wait.
    opts.timeout = Duration::from_secs(3600);
    let stop = Arc::new(AtomicBool::new(false));
    opts.stop = Some(Arc::clone(&stop));
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::SeqCst);
    });

    let (report, took) = judge_within(&db, "stop", opts, Duration::from_secs(60));

    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(report.interrupted);
    assert_eq!(report.engine_failure, None);
    // Interrupted is not failed: the next call judges the game.
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.games_judged, 0);
    assert_eq!(event_kinds(&db, "stop"), vec![EventKind::Interrupted]);
}
