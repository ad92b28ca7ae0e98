//! Judge engines that fail: a command that exits at once, a program that
//! does not exist, and a judge for the wrong game.

use qarena_judge::{
    judge, ChessJudgeSettings, GoJudgeSettings, JudgeError, JudgeKind, JudgeOptions,
};
use qarena_store::{EventKind, Store};

mod common;
use common::go_run;

#[test]
fn an_engine_that_exits_at_once_leaves_coverage_zero_and_no_verdicts() {
    let store = Store::open_in_memory().unwrap();
    let run = go_run(&store, "f");
    let opts = JudgeOptions::new(JudgeKind::Go(GoJudgeSettings::new(vec!["false".into()])));
    let report = judge(&store, "f", &opts, &mut |_| {}).unwrap();

    let msg = report
        .engine_failure
        .clone()
        .expect("the failure is reported");
    assert!(
        msg.contains("judge-katago") && msg.contains("`false`"),
        "{msg}"
    );
    assert!(msg.contains("exited"), "{msg}");
    assert_eq!(report.coverage(), 0.0);
    assert_eq!(report.games_judged, 0);
    assert!(store.judge_moves(report.judge_run).unwrap().is_empty());
    assert!(report.slots.is_empty());

    // Two failures (first start, one restart) and the restart itself.
    let kinds: Vec<EventKind> = store.events(run).unwrap().iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![EventKind::Crash, EventKind::Restart, EventKind::Crash],
        "{kinds:?}"
    );
}

#[test]
fn a_missing_program_is_named() {
    let store = Store::open_in_memory().unwrap();
    go_run(&store, "m");
    let mut opts = JudgeOptions::new(JudgeKind::Go(GoJudgeSettings::new(vec![
        "qarena-no-such-katago".into(),
    ])));
    opts.restarts = 0;
    let report = judge(&store, "m", &opts, &mut |_| {}).unwrap();
    let msg = report.engine_failure.clone().unwrap();
    assert!(
        msg.contains("qarena-no-such-katago") && msg.contains("cannot start"),
        "{msg}"
    );
    assert_eq!(report.coverage(), 0.0);
}

#[test]
fn input_errors_are_typed() {
    let store = Store::open_in_memory().unwrap();
    go_run(&store, "g");
    let chess = JudgeOptions::new(JudgeKind::Chess(ChessJudgeSettings::new(vec![
        "stockfish".into()
    ])));
    let err = judge(&store, "g", &chess, &mut |_| {}).unwrap_err();
    assert!(matches!(err, JudgeError::WrongGameKind { .. }), "{err}");
    assert!(err.to_string().contains("run 'g'"), "{err}");

    let go = JudgeOptions::new(JudgeKind::Go(GoJudgeSettings::new(vec!["false".into()])));
    let err = judge(&store, "nope", &go, &mut |_| {}).unwrap_err();
    assert!(matches!(err, JudgeError::RunNotFound { .. }), "{err}");

    let mut s = GoJudgeSettings::new(vec!["false".into()]);
    s.blunder_winrate = 1.5;
    let err = judge(
        &store,
        "g",
        &JudgeOptions::new(JudgeKind::Go(s)),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(err, JudgeError::Settings(_)), "{err}");
}
