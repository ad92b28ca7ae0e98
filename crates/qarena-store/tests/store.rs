//! Behaviour of the store against real SQLite files: migrations, atomicity,
//! uniqueness, concurrency, locking, cascades and error messages.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod common;

use std::path::Path;
use std::time::Duration;

use common::{count, new_engine, new_game, new_run, run_with_engines};
use qarena_store::{
    rusqlite, EventKind, JudgeMove, NewEvent, NewSelfEval, NewSweepPoint, NewVariant, RunStatus,
    Store, StoreError, SCHEMA_VERSION,
};

fn temp_db() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("qarena.sqlite");
    (dir, path)
}

#[test]
fn migrates_an_empty_file_to_the_current_schema() {
    let (_dir, path) = temp_db();
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(count(&store, "schema_migrations"), SCHEMA_VERSION);
    let mode: String = store
        .with_conn(|c| c.query_row("PRAGMA journal_mode", [], |r| r.get(0)))
        .unwrap();
    assert_eq!(mode, "wal");
    let fks: i64 = store
        .with_conn(|c| c.query_row("PRAGMA foreign_keys", [], |r| r.get(0)))
        .unwrap();
    assert_eq!(fks, 1);
    for table in [
        "runs",
        "engines",
        "games",
        "moves",
        "self_evals",
        "events",
        "models",
        "strategies",
        "variants",
        "sweeps",
        "sweep_points",
        "judge_runs",
        "judge_moves",
    ] {
        assert_eq!(count(&store, table), 0, "{table}");
    }
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[test]
fn reopening_keeps_data_and_does_not_migrate_again() {
    let (_dir, path) = temp_db();
    let game_id = {
        let store = Store::open(&path).unwrap();
        let (run, a, b) = run_with_engines(&store, "keep");
        store.insert_game(&new_game(run, 0, 0, a, b, 5)).unwrap()
    };
    let store = Store::open(&path).unwrap();
    assert_eq!(count(&store, "schema_migrations"), SCHEMA_VERSION);
    let run = store
        .run_by_tag("keep")
        .unwrap()
        .expect("run survives reopen");
    let games = store.games(run.id).unwrap();
    assert_eq!(games.len(), 1);
    assert_eq!(games[0].id, game_id);
    assert_eq!(store.game_moves(game_id).unwrap().len(), 5);
}

#[test]
fn refuses_a_database_from_a_newer_build() {
    let (_dir, path) = temp_db();
    drop(Store::open(&path).unwrap());
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(raw);
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::TooNew { found, known, .. } if found == SCHEMA_VERSION + 1 && known == SCHEMA_VERSION),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("upgrade qarena"), "{msg}");
    // Refusing must not have touched the file.
    let raw = rusqlite::Connection::open(&path).unwrap();
    let v: i64 = raw
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION + 1);
}

#[test]
fn missing_directory_gives_one_line_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("qarena.sqlite");
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    let msg = err.to_string();
    assert_eq!(
        msg,
        format!(
            "cannot open database '{}': unable to open database file — check the directory exists and is writable",
            path.display()
        )
    );
}

#[test]
fn a_file_that_is_not_a_database_is_named_as_such() {
    let (_dir, path) = temp_db();
    fs_err::write(
        &path,
        "this is a text file, not SQLite, and long enough to have a header".repeat(20),
    )
    .unwrap();
    let err = Store::open(&path).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("not a SQLite database"), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
}

#[test]
fn a_game_is_written_whole_or_not_at_all() {
    let store = Store::open_in_memory().unwrap();
    let (run, a, b) = run_with_engines(&store, "atomic");
    let mut game = new_game(run, 0, 0, a, b, 8);
    // The last self-eval names an engine that does not exist: the foreign key
    // fails after the game row and every move were already inserted.
    let bad = NewSelfEval {
        ply: 8,
        engine: qarena_store::EngineId(9_999),
        ..game.self_evals[0].clone()
    };
    game.self_evals.push(bad);
    let err = store.insert_game(&game).unwrap_err();
    assert!(matches!(err, StoreError::Sqlite { .. }), "{err:?}");
    assert!(err.to_string().contains("storing a game"), "{err}");
    assert_eq!(count(&store, "games"), 0);
    assert_eq!(count(&store, "moves"), 0);
    assert_eq!(count(&store, "self_evals"), 0);
    assert!(store.finished_games(run).unwrap().is_empty());

    // The key was not taken by the failed attempt.
    game.self_evals.pop();
    store.insert_game(&game).unwrap();
    assert_eq!(count(&store, "moves"), 8);
    assert_eq!(count(&store, "self_evals"), 8);
}

#[test]
fn a_game_key_is_stored_once() {
    let store = Store::open_in_memory().unwrap();
    let (run, a, b) = run_with_engines(&store, "dup");
    store.insert_game(&new_game(run, 0, 3, a, b, 4)).unwrap();
    let err = store
        .insert_game(&new_game(run, 0, 3, b, a, 6))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::DuplicateGame { run: r, point_index: 0, game_index: 3, .. } if r == run),
        "{err:?}"
    );
    assert!(err.to_string().contains("never written twice"), "{err}");
    assert_eq!(count(&store, "games"), 1);
    assert_eq!(count(&store, "moves"), 4, "the rejected game left no moves");

    // The same index at another sweep point, or in another run, is a different game.
    store.insert_game(&new_game(run, 1, 3, a, b, 4)).unwrap();
    let (other, c, d) = run_with_engines(&store, "other");
    store.insert_game(&new_game(other, 0, 3, c, d, 4)).unwrap();
    assert_eq!(store.finished_games(run).unwrap(), vec![(0, 3), (1, 3)]);
}

#[test]
fn games_round_trip_with_moves_and_self_evals() {
    let store = Store::open_in_memory().unwrap();
    let (run, a, b) = run_with_engines(&store, "roundtrip");
    let mut g1 = new_game(run, 2, 1, b, a, 3);
    g1.result = None;
    g1.winner = None;
    g1.score = None;
    g1.termination = qarena_store::Termination::EngineCrash;
    g1.variant_params = None;
    g1.settings = Some(serde_json::json!({"visits": 64}));
    let g0 = new_game(run, 2, 0, a, b, 5);
    let id1 = store.insert_game(&g1).unwrap();
    let id0 = store.insert_game(&g0).unwrap();

    let games = store.games(run).unwrap();
    assert_eq!(
        games.iter().map(|g| g.id).collect::<Vec<_>>(),
        vec![id0, id1]
    );
    for (stored, given) in games.iter().zip([&g0, &g1]) {
        assert_eq!(stored.run, given.run);
        assert_eq!(stored.point_index, given.point_index);
        assert_eq!(stored.game_index, given.game_index);
        assert_eq!(stored.pair_index, given.pair_index);
        assert_eq!(stored.opening, given.opening);
        assert_eq!(stored.seed, given.seed);
        assert_eq!(stored.black_engine, given.black_engine);
        assert_eq!(stored.white_engine, given.white_engine);
        assert_eq!(stored.result, given.result);
        assert_eq!(stored.winner, given.winner);
        assert_eq!(stored.score, given.score);
        assert_eq!(stored.termination, given.termination);
        assert_eq!(stored.move_count, given.moves.len() as i64);
        assert_eq!(stored.record, given.record);
        assert_eq!(stored.record_format, given.record_format);
        assert_eq!(stored.started_at, given.started_at);
        assert_eq!(stored.ended_at, given.ended_at);
        assert_eq!(stored.duration_ms, given.duration_ms);
        assert_eq!(stored.variant_params, given.variant_params);
        assert_eq!(stored.settings, given.settings);
    }
    assert_eq!(store.game(id1).unwrap().as_ref(), Some(&games[1]));

    let moves = store.game_moves(id0).unwrap();
    assert_eq!(moves.len(), 5);
    for (m, given) in moves.iter().zip(&g0.moves) {
        assert_eq!(
            (m.game, m.ply, &m.color, &m.mv, m.time_ms),
            (id0, given.ply, &given.color, &given.mv, given.time_ms)
        );
    }
    let evals = store.game_self_evals(id0).unwrap();
    assert_eq!(evals.len(), 5);
    for (e, given) in evals.iter().zip(&g0.self_evals) {
        assert_eq!(e.engine, given.engine);
        assert_eq!(e.winrate, given.winrate);
        assert_eq!(e.score_lead, given.score_lead);
        assert_eq!(e.visits, given.visits);
        assert_eq!(e.pv, given.pv);
        assert_eq!(e.top_k, given.top_k);
    }
}

#[test]
fn concurrent_writers_from_four_threads_all_land() {
    let (_dir, path) = temp_db();
    let store = Store::open(&path).unwrap();
    let (run, a, b) = run_with_engines(&store, "concurrent");
    const PER_THREAD: i64 = 25;
    std::thread::scope(|s| {
        for t in 0..4_i64 {
            // Two threads share the handle, two open their own connection, so
            // both the mutex and SQLite's file lock are exercised.
            let store = if t % 2 == 0 {
                store.clone()
            } else {
                Store::open(&path).unwrap()
            };
            s.spawn(move || {
                for i in 0..PER_THREAD {
                    store.insert_game(&new_game(run, t, i, a, b, 20)).unwrap();
                    store
                        .record_event(&NewEvent {
                            run,
                            game_index: Some(i),
                            engine: Some(a),
                            kind: EventKind::Warning,
                            message: format!("thread {t} game {i}"),
                            stderr_tail: None,
                        })
                        .unwrap();
                }
            });
        }
    });
    assert_eq!(count(&store, "games"), 4 * PER_THREAD);
    assert_eq!(count(&store, "moves"), 4 * PER_THREAD * 20);
    assert_eq!(store.events(run).unwrap().len() as i64, 4 * PER_THREAD);
    let expected: Vec<(i64, i64)> = (0..4)
        .flat_map(|t| (0..PER_THREAD).map(move |i| (t, i)))
        .collect();
    assert_eq!(store.finished_games(run).unwrap(), expected);
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[test]
fn a_lock_held_too_long_is_reported_with_the_path() {
    let (_dir, path) = temp_db();
    let store = Store::open_with_timeout(&path, Duration::from_millis(50)).unwrap();
    let holder = rusqlite::Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = store.create_run(&new_run("blocked")).unwrap_err();
    assert!(err.is_locked(), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("is locked"), "{msg}");
    assert!(msg.contains("creating a run"), "{msg}");
    holder.execute_batch("ROLLBACK").unwrap();
    store.create_run(&new_run("blocked")).unwrap();
}

#[test]
fn with_conn_cannot_write() {
    let store = Store::open_in_memory().unwrap();
    let err = store
        .with_conn(|c| c.execute("DELETE FROM runs", []))
        .unwrap_err();
    assert!(
        err.to_string().contains("readonly") || err.to_string().contains("read-only"),
        "{err}"
    );
    // The shared connection is writable again afterwards.
    store.create_run(&new_run("after")).unwrap();
}

#[test]
fn run_lifecycle() {
    let store = Store::open_in_memory().unwrap();
    let spec = new_run("life");
    let id = store.create_run(&spec).unwrap();
    let err = store.create_run(&spec).unwrap_err();
    assert!(
        matches!(&err, StoreError::RunExists { tag, .. } if tag == "life"),
        "{err:?}"
    );

    let run = store.run_by_tag("life").unwrap().unwrap();
    assert_eq!(run.id, id);
    assert_eq!(run.kind, spec.kind);
    assert_eq!(run.argv, spec.argv);
    assert_eq!(run.settings, spec.settings);
    assert_eq!(run.software_version, spec.software_version);
    assert_eq!(run.status, RunStatus::Running);
    assert_eq!(run.finished_at, None);
    assert_eq!(run.created_at.len(), "2024-05-01T12:00:00.000Z".len());
    assert_eq!(store.run(id).unwrap().as_ref(), Some(&run));
    assert!(store.run_by_tag("nope").unwrap().is_none());

    store.set_run_status(id, RunStatus::Interrupted).unwrap();
    let run = store.run(id).unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Interrupted);
    assert!(run.finished_at.is_some());
    store.set_run_status(id, RunStatus::Running).unwrap();
    assert_eq!(store.run(id).unwrap().unwrap().finished_at, None);
    store.set_run_status(id, RunStatus::Completed).unwrap();
    store.set_run_notes(id, Some("baseline")).unwrap();
    let run = store.run(id).unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.notes.as_deref(), Some("baseline"));

    let missing = qarena_store::RunId(12_345);
    assert!(matches!(
        store.set_run_status(missing, RunStatus::Failed),
        Err(StoreError::RunNotFound { .. })
    ));
    assert!(matches!(
        store.delete_run(missing),
        Err(StoreError::RunNotFound { .. })
    ));

    let (other, a, b) = run_with_engines(&store, "second");
    store.insert_game(&new_game(other, 0, 0, a, b, 2)).unwrap();
    store.insert_game(&new_game(other, 0, 1, a, b, 2)).unwrap();
    store
        .record_event(&NewEvent {
            run: other,
            game_index: None,
            engine: None,
            kind: EventKind::Restart,
            message: "restarted".into(),
            stderr_tail: None,
        })
        .unwrap();
    let list = store.list_runs().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].run.tag, "life");
    assert_eq!((list[0].games, list[0].events), (0, 0));
    assert_eq!(list[1].run.tag, "second");
    assert_eq!((list[1].games, list[1].events), (2, 1));
}

#[test]
fn engines_are_reused_on_resume_and_conflicts_refused() {
    let store = Store::open_in_memory().unwrap();
    let run = store.create_run(&new_run("engines")).unwrap();
    let mut spec = new_engine(run, "a");
    spec.model_sha256 = Some("aa".into());
    let id = store.add_engine(&spec).unwrap();

    let mut again = spec.clone();
    again.name = Some("KataGo".into());
    again.version = Some("1.15.3".into());
    assert_eq!(store.add_engine(&again).unwrap(), id);
    let engines = store.engines(run).unwrap();
    assert_eq!(engines.len(), 1);
    assert_eq!(engines[0].name.as_deref(), Some("KataGo"));
    assert_eq!(engines[0].version.as_deref(), Some("1.15.3"));
    assert_eq!(engines[0].command, spec.command);
    assert_eq!(engines[0].model_sha256.as_deref(), Some("aa"));

    let mut other_model = spec.clone();
    other_model.model_sha256 = Some("bb".into());
    let err = store.add_engine(&other_model).unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::EngineMismatch {
                field: "model_sha256",
                ..
            }
        ),
        "{err:?}"
    );
    let mut other_protocol = spec.clone();
    other_protocol.protocol = qarena_store::EngineProtocol::Uci;
    assert!(matches!(
        store.add_engine(&other_protocol),
        Err(StoreError::EngineMismatch {
            field: "protocol",
            ..
        })
    ));

    store
        .set_engine_identity(id, Some("KataGo"), Some("1.16.0"))
        .unwrap();
    assert_eq!(
        store.engine(id).unwrap().unwrap().version.as_deref(),
        Some("1.16.0")
    );
    let b = store.add_engine(&new_engine(run, "b")).unwrap();
    assert_ne!(b, id);
    assert_eq!(store.engines(run).unwrap().len(), 2);
}

#[test]
fn events_round_trip_in_order() {
    let store = Store::open_in_memory().unwrap();
    let (run, a, _) = run_with_engines(&store, "events");
    for (i, kind) in EventKind::ALL.iter().enumerate() {
        store
            .record_event(&NewEvent {
                run,
                game_index: (i % 2 == 0).then_some(i as i64),
                engine: (i % 3 == 0).then_some(a),
                kind: *kind,
                message: format!("{kind} happened"),
                stderr_tail: (i % 2 == 1).then(|| "panic: line one\nline two".to_string()),
            })
            .unwrap();
    }
    let events = store.events(run).unwrap();
    assert_eq!(events.len(), EventKind::ALL.len());
    for (i, (e, kind)) in events.iter().zip(EventKind::ALL).enumerate() {
        assert_eq!(e.run, run);
        assert_eq!(e.kind, *kind);
        assert_eq!(e.message, format!("{kind} happened"));
        assert_eq!(e.game_index, (i % 2 == 0).then_some(i as i64));
        assert_eq!(e.engine, (i % 3 == 0).then_some(a));
        assert_eq!(e.stderr_tail.is_some(), i % 2 == 1);
        assert!(e.at.ends_with('Z'));
    }
}

#[test]
fn deleting_a_run_removes_everything_it_owns_and_nothing_else() {
    let store = Store::open_in_memory().unwrap();
    let (keep, ka, kb) = run_with_engines(&store, "keep");
    let keep_game = store.insert_game(&new_game(keep, 0, 0, ka, kb, 3)).unwrap();
    let (gone, a, b) = run_with_engines(&store, "gone");
    let gone_game = store.insert_game(&new_game(gone, 0, 0, a, b, 6)).unwrap();
    store.insert_game(&new_game(gone, 1, 0, b, a, 6)).unwrap();
    store
        .record_event(&NewEvent {
            run: gone,
            game_index: Some(0),
            engine: Some(a),
            kind: EventKind::Crash,
            message: "engine died".into(),
            stderr_tail: Some("segfault".into()),
        })
        .unwrap();
    let sweep = store
        .upsert_sweep(gone, "ladder", &serde_json::json!({"bits": [8, 4]}))
        .unwrap();
    store
        .upsert_sweep_point(&NewSweepPoint {
            sweep,
            point_index: 0,
            label: "int8".into(),
            variant: None,
            params: serde_json::json!({"bits": 8}),
        })
        .unwrap();
    // A judge run of `keep` judging a game of `gone`: its verdicts on that
    // game go with the game, the judge run itself stays.
    let judge_engine = store.add_engine(&new_engine(keep, "judge")).unwrap();
    let judge = store
        .create_judge_run(keep, judge_engine, &serde_json::json!({}))
        .unwrap();
    let verdict = |game, ply| JudgeMove {
        game,
        ply,
        before_winrate: Some(0.5),
        after_winrate: Some(0.4),
        before_score: None,
        after_score: None,
        best_move: Some("D4".into()),
        loss_winrate: Some(0.1),
        loss_score: None,
        loss_cp: None,
        blunder: false,
        top_k: None,
    };
    store
        .insert_judge_moves(judge, &[verdict(gone_game, 0), verdict(keep_game, 0)])
        .unwrap();

    store.delete_run(gone).unwrap();

    assert!(store.run_by_tag("gone").unwrap().is_none());
    assert!(store.engines(gone).unwrap().is_empty());
    assert!(store.games(gone).unwrap().is_empty());
    assert!(store.events(gone).unwrap().is_empty());
    assert!(store.game_moves(gone_game).unwrap().is_empty());
    assert!(store.game_self_evals(gone_game).unwrap().is_empty());
    assert!(store.sweeps(gone).unwrap().is_empty());
    assert_eq!(count(&store, "sweep_points"), 0);
    assert_eq!(count(&store, "games"), 1);
    assert_eq!(count(&store, "moves"), 3);
    assert_eq!(count(&store, "self_evals"), 3);
    assert_eq!(count(&store, "engines"), 3);
    assert_eq!(
        store.judge_moves(judge).unwrap(),
        vec![verdict(keep_game, 0)]
    );
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let fk_problems: i64 = store
        .with_conn(|c| {
            c.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
        })
        .unwrap();
    assert_eq!(fk_problems, 0);
}

#[test]
fn catalogue_upserts_are_idempotent() {
    let store = Store::open_in_memory().unwrap();
    let m = store
        .upsert_model("nets/a.nnue", "sha-a", "nnue", 1_000)
        .unwrap();
    assert_eq!(
        store
            .upsert_model("moved/a.nnue", "sha-a", "nnue", 1_000)
            .unwrap(),
        m
    );
    assert_eq!(
        store.model_by_sha256("sha-a").unwrap().unwrap().path,
        "moved/a.nnue"
    );
    assert!(store.model_by_sha256("sha-x").unwrap().is_none());

    let s = store
        .upsert_strategy("int4-trunk", "[[rule]]", "sha-s")
        .unwrap();
    assert_eq!(
        store
            .upsert_strategy("renamed", "[[rule]]", "sha-s")
            .unwrap(),
        s
    );
    assert_eq!(store.strategy(s).unwrap().unwrap().name, "int4-trunk");

    let mut v = NewVariant {
        model: m,
        strategy: s,
        path: "variants/x.nnue".into(),
        sha256: "sha-v1".into(),
        manifest: serde_json::json!({"tensors": 3}),
        effective_bits: Some(4.25),
        bytes: Some(600),
    };
    let vid = store.upsert_variant(&v).unwrap();
    v.sha256 = "sha-v2".into();
    assert_eq!(store.upsert_variant(&v).unwrap(), vid);
    let stored = store.variant(vid).unwrap().unwrap();
    assert_eq!(stored.sha256, "sha-v2");
    assert_eq!(stored.effective_bits, Some(4.25));
    assert_eq!(stored.manifest, v.manifest);
    assert_eq!(store.variants_of_model(m).unwrap().len(), 1);

    let run = store.create_run(&new_run("sweep")).unwrap();
    let sweep = store
        .upsert_sweep(run, "ladder", &serde_json::json!(1))
        .unwrap();
    assert_eq!(
        store
            .upsert_sweep(run, "ladder", &serde_json::json!(2))
            .unwrap(),
        sweep
    );
    assert_eq!(
        store.sweeps(run).unwrap()[0].definition,
        serde_json::json!(2)
    );
    for i in [1, 0] {
        store
            .upsert_sweep_point(&NewSweepPoint {
                sweep,
                point_index: i,
                label: format!("p{i}"),
                variant: Some(vid),
                params: serde_json::json!({"i": i}),
            })
            .unwrap();
    }
    let points = store.sweep_points(sweep).unwrap();
    assert_eq!(
        points.iter().map(|p| p.point_index).collect::<Vec<_>>(),
        vec![0, 1]
    );
    assert_eq!(points[1].variant, Some(vid));

    let engine = store.add_engine(&new_engine(run, "a")).unwrap();
    store.set_engine_variant(engine, Some(vid)).unwrap();
    assert_eq!(store.engine(engine).unwrap().unwrap().variant, Some(vid));
}

#[test]
fn judge_verdicts_round_trip_and_replace() {
    let store = Store::open_in_memory().unwrap();
    let (run, a, b) = run_with_engines(&store, "judged");
    let game = store.insert_game(&new_game(run, 0, 0, a, b, 2)).unwrap();
    let judge_engine = store.add_engine(&new_engine(run, "judge")).unwrap();
    let jr = store
        .create_judge_run(run, judge_engine, &serde_json::json!({"visits": 800}))
        .unwrap();
    let mut m = JudgeMove {
        game,
        ply: 1,
        before_winrate: Some(0.6),
        after_winrate: Some(0.2),
        before_score: Some(3.0),
        after_score: Some(-4.0),
        best_move: Some("E5".into()),
        loss_winrate: Some(0.4),
        loss_score: Some(7.0),
        loss_cp: None,
        blunder: true,
        top_k: Some(serde_json::json!(["E5", "D4"])),
    };
    store.insert_judge_moves(jr, &[m.clone()]).unwrap();
    m.blunder = false;
    store.insert_judge_moves(jr, &[m.clone()]).unwrap();
    assert_eq!(store.judge_moves(jr).unwrap(), vec![m]);
    assert_eq!(store.judge_runs(run).unwrap()[0].settings["visits"], 800);
}

#[test]
fn vocabularies_round_trip_through_their_spelling() {
    for k in EventKind::ALL {
        assert_eq!(EventKind::parse(k.as_str()), Some(*k));
        assert_eq!(k.as_str().parse::<EventKind>().unwrap(), *k);
    }
    for s in RunStatus::ALL {
        assert_eq!(RunStatus::parse(s.as_str()), Some(*s));
    }
    let err = "exploded".parse::<EventKind>().unwrap_err();
    assert!(
        err.to_string().contains("unknown event kind 'exploded'"),
        "{err}"
    );
    assert!(err.to_string().contains("bad_response"), "{err}");
    assert_eq!(
        serde_json::to_string(&EventKind::IllegalMove).unwrap(),
        "\"illegal_move\""
    );
}

#[test]
fn timestamps_are_fixed_width_utc() {
    let t = qarena_store::now_rfc3339();
    assert_eq!(t.len(), 24, "{t}");
    assert!(t.ends_with('Z'));
    assert_eq!(&t[4..5], "-");
    assert_eq!(&t[10..11], "T");
    assert_eq!(&t[19..20], ".");
}

#[test]
fn store_path_is_reported() {
    let (_dir, path) = temp_db();
    let store = Store::open(&path).unwrap();
    assert_eq!(store.path(), Path::new(&path));
    assert_eq!(
        Store::open_in_memory().unwrap().path(),
        Path::new(":memory:")
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn opt_f64() -> impl Strategy<Value = Option<f64>> {
        proptest::option::of(-1.0e12..1.0e12_f64)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Whatever text and numbers a game carries come back unchanged.
        #[test]
        fn arbitrary_games_round_trip(
            opening in proptest::option::of(".{0,20}"),
            record in ".{0,200}",
            result in proptest::option::of("[BW0-9+.R/-]{1,8}"),
            score in opt_f64(),
            seed in proptest::option::of(any::<i64>()),
            moves in proptest::collection::vec((".{1,6}", 0..100_000_i64), 0..30),
            winrate in opt_f64(),
            cp in proptest::option::of(any::<i64>()),
        ) {
            let store = Store::open_in_memory().unwrap();
            let (run, a, b) = run_with_engines(&store, "prop");
            let mut g = new_game(run, 0, 0, a, b, moves.len() as i64);
            g.opening = opening;
            g.record = record;
            g.result = result;
            g.score = score;
            g.seed = seed;
            for (m, (mv, t)) in g.moves.iter_mut().zip(&moves) {
                m.mv = mv.clone();
                m.time_ms = *t;
            }
            for e in &mut g.self_evals {
                e.winrate = winrate;
                e.score_cp = cp;
            }
            let id = store.insert_game(&g).unwrap();
            let stored = store.game(id).unwrap().unwrap();
            prop_assert_eq!(&stored.opening, &g.opening);
            prop_assert_eq!(&stored.record, &g.record);
            prop_assert_eq!(&stored.result, &g.result);
            prop_assert_eq!(stored.score, g.score);
            prop_assert_eq!(stored.seed, g.seed);
            let got: Vec<(String, i64)> = store
                .game_moves(id)
                .unwrap()
                .into_iter()
                .map(|m| (m.mv, m.time_ms))
                .collect();
            prop_assert_eq!(got, moves);
            for e in store.game_self_evals(id).unwrap() {
                prop_assert_eq!(e.winrate, winrate);
                prop_assert_eq!(e.score_cp, cp);
            }
        }
    }
}

/// Processes that start at once on a database that does not exist yet
/// (two evolutions, a match and a report) all open it: switching the new
/// file to WAL answers "busy" at once while another connection creates or
/// migrates it, and opening waits for that instead of failing.
#[test]
fn connections_opening_a_new_database_at_once_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..20 {
        let path = dir.path().join(format!("new-{round}.sqlite"));
        let start = std::sync::Arc::new(std::sync::Barrier::new(6));
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let (path, start) = (path.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    Store::open(&path).map(|_| ())
                })
            })
            .collect();
        for h in handles {
            let r = h.join().unwrap();
            assert!(r.is_ok(), "round {round}: {r:?}");
        }
    }
}
