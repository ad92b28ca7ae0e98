//! Fixtures shared by the integration tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code
#![allow(dead_code)]

use qarena_store::{
    EngineId, NewEngine, NewGame, NewGameCost, NewMove, NewRun, NewSelfEval, RunId, Store,
};

pub fn new_run(tag: &str) -> NewRun {
    NewRun {
        tag: tag.to_string(),
        kind: qarena_store::RunKind::Match,
        argv: vec![
            "qarena".into(),
            "match".into(),
            "--games".into(),
            "4".into(),
        ],
        settings: serde_json::json!({"board_size": 9, "komi": 7.5}),
        software_version: "0.1.0-test".to_string(),
    }
}

pub fn new_engine(run: RunId, slot: &str) -> NewEngine {
    NewEngine {
        run,
        slot: slot.parse().unwrap(),
        label: format!("engine {slot}"),
        command: vec!["gnugo".into(), "--mode".into(), "gtp".into()],
        protocol: qarena_store::EngineProtocol::Gtp,
        name: Some("GNU Go".to_string()),
        version: None,
        model_path: None,
        model_sha256: None,
    }
}

/// A run with engines in slots `a` and `b`.
pub fn run_with_engines(store: &Store, tag: &str) -> (RunId, EngineId, EngineId) {
    let run = store.create_run(&new_run(tag)).expect("create run");
    let a = store.add_engine(&new_engine(run, "a")).expect("engine a");
    let b = store.add_engine(&new_engine(run, "b")).expect("engine b");
    (run, a, b)
}

/// A game of `moves` plies where `a` plays black, with a self-eval per ply.
pub fn new_game(
    run: RunId,
    point: i64,
    index: i64,
    a: EngineId,
    b: EngineId,
    moves: i64,
) -> NewGame {
    NewGame {
        run,
        point_index: point,
        game_index: index,
        pair_index: Some(index / 2),
        opening: Some("C3".to_string()),
        seed: Some(42 + index),
        black_engine: a,
        white_engine: b,
        result: Some("B+3.5".to_string()),
        winner: Some(qarena_store::Slot::A),
        score: Some(3.5),
        termination: qarena_store::Termination::TwoPasses,
        record: "(;GM[1]SZ[9];B[cc];W[gg])".to_string(),
        record_format: qarena_store::RecordFormat::Sgf,
        started_at: "2024-05-01T12:00:00.000Z".to_string(),
        ended_at: "2024-05-01T12:01:00.000Z".to_string(),
        duration_ms: 60_000,
        variant_params: Some(serde_json::json!({"bits": 4})),
        settings: None,
        moves: (0..moves)
            .map(|ply| NewMove {
                ply,
                color: if ply % 2 == 0 { "B" } else { "W" }.parse().unwrap(),
                mv: format!("D{}", ply % 9 + 1),
                time_ms: 10 + ply,
            })
            .collect(),
        self_evals: (0..moves)
            .map(|ply| NewSelfEval {
                ply,
                engine: if ply % 2 == 0 { a } else { b },
                winrate: Some(0.5),
                score_lead: Some(-1.25),
                score_cp: None,
                mate: None,
                depth: None,
                nodes: None,
                visits: Some(100),
                time_ms: Some(10),
                pv: Some("D4 Q16".to_string()),
                top_k: Some(serde_json::json!([{"move": "D4", "prior": 0.3}])),
            })
            .collect(),
        costs: vec![
            NewGameCost {
                engine: a,
                cpu_seconds: Some(0.5),
                peak_rss_bytes: Some(100 << 20),
            },
            NewGameCost {
                engine: b,
                cpu_seconds: None,
                peak_rss_bytes: None,
            },
        ],
    }
}

/// Row count of a table, read through the store's read-only connection.
pub fn count(store: &Store, table: &str) -> i64 {
    store
        .with_conn(|c| c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)))
        .expect("count rows")
}
