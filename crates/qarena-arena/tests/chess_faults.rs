//! Every UCI failure mode of the fake engine, refereed by
//! `play_chess_game`: the right termination, the faulty engine loses, a
//! hang is caught within its deadline, and the PGN of each game is valid.

mod chess_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chess_support::*;
use qarena_arena::chess::{play_chess_game, ChessSettings, UciEngine};
use qarena_arena::{Failure, GameOutcome, Slot, Termination};
use qarena_chess::{export_pgn, Adjudication, Limit};
use qarena_engine::EngineSpec;

fn capped(limit: Limit) -> ChessSettings {
    ChessSettings {
        limit,
        adjudication: Adjudication {
            max_plies: Some(60),
            ..Adjudication::default()
        },
        ..ChessSettings::default()
    }
}

/// Slot A runs the fake in `mode` (fault on its `at`-th search) and plays
/// White; slot B is a well-behaved fake.
fn fault_game(mode: &[&str], settings: &ChessSettings, move_secs: f64) -> (GameOutcome, Duration) {
    let t = timeouts(move_secs);
    let mut a = start_fake("fault-a", mode, t);
    let mut b = start_fake("fault-b", &["--seed", "2"], t);
    let t0 = Instant::now();
    let o = play_chess_game([&mut a, &mut b], Slot::A, Some(settings), &meta(0));
    let took = t0.elapsed();
    assert_result_consistent(Slot::A, &o);
    if o.fault.is_some() {
        a.kill();
    } else {
        a.shutdown();
    }
    b.shutdown();
    (o, took)
}

fn assert_a_lost(o: &GameOutcome, term: Termination) {
    assert_eq!(o.termination, term, "{:?}", o.events);
    assert_eq!(o.winner, Some(Slot::B));
    assert_eq!(o.result.as_deref(), Some("0-1"));
}

#[test]
fn fault_matrix() {
    let nodes = capped(Limit::Nodes(1000));
    let mut records = Vec::new();

    let (o, _) = fault_game(&["--mode", "illegal", "--at", "3"], &nodes, 10.0);
    assert_a_lost(&o, Termination::IllegalMove);
    assert!(o.fault.is_none(), "an illegal move is not a process fault");
    assert_eq!(o.moves.len(), 4, "two moves each before the illegal one");
    assert!(o.events.iter().any(|e| e.kind == "illegal_move"));
    assert!(o.record.contains("[Termination \"illegal move\"]"));
    records.push(o.record);

    let (o, _) = fault_game(&["--mode", "null-move", "--at", "2"], &nodes, 10.0);
    assert_a_lost(&o, Termination::IllegalMove);
    assert!(o.events.iter().any(|e| e.message.contains("0000")));
    records.push(o.record);

    let (o, _) = fault_game(&["--mode", "bad-bestmove", "--at", "2"], &nodes, 10.0);
    assert_a_lost(&o, Termination::BadResponse);
    assert!(matches!(
        o.fault,
        Some((Slot::A, Failure::BadResponse { .. }))
    ));
    records.push(o.record);

    let (o, _) = fault_game(&["--mode", "exit", "--at", "2"], &nodes, 10.0);
    assert_a_lost(&o, Termination::EngineCrash);
    assert!(matches!(o.fault, Some((Slot::A, Failure::Crash { .. }))));
    let crash = o
        .events
        .iter()
        .find(|e| e.kind == "crash")
        .expect("crash event");
    assert!(
        crash
            .stderr_tail
            .as_deref()
            .unwrap_or("")
            .contains("exiting on cue"),
        "{crash:?}"
    );
    records.push(o.record);

    let (o, _) = fault_game(&["--mode", "huge-line", "--at", "2"], &nodes, 10.0);
    assert_a_lost(&o, Termination::BadResponse);
    records.push(o.record);

    // Garbage info lines are tolerated: the game runs to its cap.
    let (o, _) = fault_game(&["--mode", "garbage", "--at", "2"], &nodes, 10.0);
    assert!(o.fault.is_none(), "{:?}", o.events);
    assert!(o.result.is_some());
    assert!(!o.termination.is_fault());
    records.push(o.record);

    assert_eq!(python_check_pgn(&export_pgn(&records)), 6);
}

#[test]
fn hang_under_nodes_limit_is_caught_at_the_move_deadline() {
    let settings = capped(Limit::Nodes(1000));
    let (o, took) = fault_game(&["--mode", "hang", "--at", "2"], &settings, 2.0);
    assert_a_lost(&o, Termination::Timeout);
    assert!(matches!(o.fault, Some((Slot::A, Failure::Timeout { .. }))));
    eprintln!(
        "hang detected after {:.3} s (deadline 2 s)",
        took.as_secs_f64()
    );
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert!(took < Duration::from_millis(3000), "{took:?}");
    assert!(o.record.contains("[Termination \"stalled connection\"]"));
    python_check_pgn(&o.record);
}

#[test]
fn slow_moves_lose_on_time_under_a_clock() {
    let settings = ChessSettings {
        limit: "tc=1+0".parse().unwrap(),
        ..capped(Limit::Nodes(1))
    };
    let (o, took) = fault_game(
        &["--mode", "slow-move", "--delay-ms", "1500"],
        &settings,
        10.0,
    );
    assert_a_lost(&o, Termination::TimeForfeit);
    assert!(o.fault.is_none(), "a late move is not a process fault");
    assert!(o.moves.is_empty());
    assert!(o.record.contains("[Termination \"time forfeit\"]"));
    assert!(o.record.contains("loses on time"));
    assert!(took < Duration::from_millis(2500), "{took:?}");
    python_check_pgn(&o.record);

    // Moves that come within their time are fine. The clock is generous so
    // that a loaded machine cannot turn harness overhead into a forfeit.
    let roomy = ChessSettings {
        limit: "tc=30+0".parse().unwrap(),
        ..capped(Limit::Nodes(1))
    };
    let (o, _) = fault_game(&["--mode", "slow-move", "--delay-ms", "20"], &roomy, 40.0);
    assert!(!o.termination.is_fault() && o.termination != Termination::TimeForfeit);
}

#[test]
fn silent_engine_fails_start_within_the_startup_deadline() {
    let t = qarena_arena::Timeouts {
        startup: 1.0,
        ..timeouts(5.0)
    };
    let argv = vec![
        fake_engine().display().to_string(),
        "--protocol".into(),
        "uci".into(),
        "--mode".into(),
        "silence".into(),
    ];
    let t0 = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let r = UciEngine::start(
        EngineSpec::new("silent", argv),
        t,
        &Default::default(),
        stop,
    );
    assert!(matches!(r, Err(Failure::Timeout { .. })), "{:?}", r.err());
    assert!(t0.elapsed() < Duration::from_millis(1600));
}

#[test]
fn stop_flag_aborts_a_hanging_game_quickly() {
    let t = timeouts(30.0);
    let stop = Arc::new(AtomicBool::new(false));
    let fake = fake_engine().display().to_string();
    let argv = |extra: &[&str]| {
        let mut v = vec![fake.clone(), "--protocol".to_string(), "uci".to_string()];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let mut a = UciEngine::start(
        EngineSpec::new("stop-a", argv(&["--mode", "hang", "--at", "1"])),
        t,
        &Default::default(),
        stop.clone(),
    )
    .unwrap();
    let mut b = UciEngine::start(
        EngineSpec::new("stop-b", argv(&[])),
        t,
        &Default::default(),
        stop.clone(),
    )
    .unwrap();
    let flag = stop.clone();
    let setter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        flag.store(true, Ordering::SeqCst);
    });
    let t0 = Instant::now();
    let o = play_chess_game([&mut a, &mut b], Slot::A, None, &meta(0));
    setter.join().unwrap();
    assert_eq!(o.termination, Termination::Aborted);
    assert_eq!((o.result.as_deref(), o.winner), (None, None));
    assert!(o.fault.is_none());
    assert!(o.record.contains("[Result \"*\"]"));
    assert!(
        t0.elapsed() < Duration::from_millis(1000),
        "{:?}",
        t0.elapsed()
    );
    a.kill();
    b.kill();
}
