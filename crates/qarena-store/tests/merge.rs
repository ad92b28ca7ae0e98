//! Merging shard databases (`Store::merge_shard`) on real SQLite files:
//! shard databases are built through the store API as a sharded run writes
//! them (same tag, settings with `"shard"`, disjoint global game keys).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod common;

use std::path::{Path, PathBuf};

use common::{count, new_engine, new_game, new_run};
use qarena_store::{
    EngineSlot, EventKind, ExpectedGames, JudgeMove, NewEvent, NewProbe, NewRun, NewSweepPoint,
    NewVariant, ProbeKey, RunKind, Store, StoreError,
};
use serde_json::{json, Value};

const TAG: &str = "ladder";

/// Every table a merge writes, for before/after comparisons.
const TABLES: &[&str] = &[
    "runs",
    "engines",
    "games",
    "moves",
    "self_evals",
    "game_costs",
    "events",
    "models",
    "strategies",
    "variants",
    "sweeps",
    "sweep_points",
    "judge_runs",
    "judge_moves",
    "probes",
    "probe_positions",
];

fn counts(store: &Store) -> Vec<(&'static str, i64)> {
    TABLES.iter().map(|t| (*t, count(store, t))).collect()
}

fn match_settings(games: u32) -> Value {
    json!({"match": {"games": games, "concurrency": 1, "go": {"board_size": 9}}})
}

/// How one shard database is built.
struct Shard {
    index: u32,
    count: u32,
    settings: Value,
    games: Vec<i64>,
    /// Runs created first, so this shard's row ids differ from the others'.
    padding: usize,
    command_a: Vec<String>,
    /// A game whose result (and winner) differs from the other shards'.
    other_result: Option<i64>,
    /// A game whose move at ply 3 differs.
    other_move: Option<i64>,
}

impl Shard {
    fn new(index: u32, count: u32, games: &[i64]) -> Shard {
        Shard {
            index,
            count,
            settings: match_settings(4),
            games: games.to_vec(),
            padding: index as usize,
            command_a: vec!["gnugo".into(), "--mode".into(), "gtp".into()],
            other_result: None,
            other_move: None,
        }
    }

    /// Writes the shard database `dir/name` and returns its path.
    fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        let store = Store::open(&path).unwrap();
        for p in 0..self.padding {
            let r = store.create_run(&new_run(&format!("pad-{p}"))).unwrap();
            store.add_engine(&new_engine(r, "a")).unwrap();
        }
        let mut settings = self.settings.clone();
        settings["shard"] = json!({"index": self.index, "count": self.count});
        let run = store
            .create_run(&NewRun {
                tag: TAG.into(),
                kind: RunKind::Match,
                argv: vec![
                    "qarena".into(),
                    format!("--shard={}/{}", self.index, self.count),
                ],
                settings,
                software_version: "test".into(),
            })
            .unwrap();
        // The catalogue every shard writes: one model, one strategy, one variant.
        let model = store
            .upsert_model("net.bin", "sha-model", "katago", 10)
            .unwrap();
        let strategy = store
            .upsert_strategy("int4", "scheme = 'int4'", "sha-int4")
            .unwrap();
        let variant = store
            .upsert_variant(&NewVariant {
                model,
                strategy,
                path: "variants/x".into(),
                sha256: "sha-variant".into(),
                manifest: json!({"bits": 4}),
                effective_bits: Some(4.0),
                bytes: Some(5),
            })
            .unwrap();
        let mut ea = new_engine(run, "a");
        ea.command = self.command_a.clone();
        ea.model_sha256 = Some("sha-variant".into());
        let a = store.add_engine(&ea).unwrap();
        store.set_engine_variant(a, Some(variant)).unwrap();
        let b = store.add_engine(&new_engine(run, "b")).unwrap();
        let mut judge = new_engine(run, "judge");
        judge.protocol = qarena_store::EngineProtocol::KatagoAnalysis;
        let judge = store.add_engine(&judge).unwrap();
        let sweep = store.upsert_sweep(run, "s", &json!({"name": "s"})).unwrap();
        store
            .upsert_sweep_point(&NewSweepPoint {
                sweep,
                point_index: 0,
                label: "int4".into(),
                variant: Some(variant),
                params: json!({}),
            })
            .unwrap();
        let judge_run = store
            .create_judge_run(
                run,
                judge,
                &json!({"judge": {"visits": 8}, "games_in_run": 2}),
            )
            .unwrap();
        for &g in &self.games {
            let (black, white) = if g % 2 == 0 { (a, b) } else { (b, a) };
            let mut game = new_game(run, 0, g, black, white, 6);
            for m in &mut game.moves {
                m.mv = format!("g{g}p{}", m.ply);
            }
            for e in &mut game.self_evals {
                e.winrate = Some(g as f64 / 100.0 + e.ply as f64 / 1000.0);
            }
            if self.other_result == Some(g) {
                game.result = Some("W+R".into());
                game.winner = Some(qarena_store::Slot::B);
            }
            if self.other_move == Some(g) {
                game.moves[3].mv = "elsewhere".into();
            }
            let id = store.insert_game(&game).unwrap();
            store
                .insert_judge_moves(
                    judge_run,
                    &(0..6)
                        .map(|ply| JudgeMove {
                            game: id,
                            ply,
                            before_winrate: Some(0.5),
                            after_winrate: Some(0.4),
                            before_score: None,
                            after_score: None,
                            best_move: Some("D4".into()),
                            loss_winrate: Some(0.1),
                            loss_score: None,
                            loss_cp: Some(g * 1000 + ply),
                            blunder: false,
                            top_k: None,
                        })
                        .collect::<Vec<_>>(),
                )
                .unwrap();
            store
                .record_event(&NewEvent {
                    run,
                    game_index: Some(g),
                    engine: Some(b),
                    kind: EventKind::Restart,
                    message: format!("restarted during game {g}"),
                    stderr_tail: None,
                })
                .unwrap();
        }
        // A probe every shard has, and one only this shard has.
        for suite in ["shared", &format!("only-{}", self.index)] {
            store
                .insert_probe(&NewProbe {
                    key: ProbeKey {
                        probe: "katago-raw-nn".into(),
                        subject_sha256: "sha-variant".into(),
                        reference_sha256: "sha-model".into(),
                        suite_sha256: format!("sha-{suite}"),
                        settings: json!({"symmetry": 0}),
                    },
                    suite_name: suite.into(),
                    variant: Some(variant),
                    positions: 2,
                    primary_metric: "kl_mean".into(),
                    metrics: json!([{"name": "kl_mean", "value": 0.1}]),
                    noise_floor: None,
                    seconds: 1.0,
                    per_position: vec![json!([{"name": "kl", "value": 0.1}]); 2],
                })
                .unwrap();
        }
        path
    }
}

/// An output database that already holds an unrelated run, so the merged
/// rows cannot keep their shard ids by accident.
fn output(dir: &Path) -> Store {
    let store = Store::open(&dir.join("out.sqlite")).unwrap();
    let (run, a, b) = common::run_with_engines(&store, "earlier");
    for g in 0..3 {
        store.insert_game(&new_game(run, 0, g, a, b, 4)).unwrap();
    }
    store
}

/// The merged games of the run: (index, moves, black slot, self-eval winrates, judge loss_cp).
type GameView = (i64, Vec<String>, EngineSlot, Vec<f64>, Vec<i64>);

fn merged_games(store: &Store) -> Vec<GameView> {
    let run = store.run_by_tag(TAG).unwrap().unwrap();
    let engines = store.engines(run.id).unwrap();
    let slot_of = |id| engines.iter().find(|e| e.id == id).unwrap().slot;
    let judge = store.judge_runs(run.id).unwrap();
    assert_eq!(judge.len(), 1, "one judge run per identity");
    let verdicts = store.judge_moves(judge[0].id).unwrap();
    store
        .games(run.id)
        .unwrap()
        .into_iter()
        .map(|g| {
            let evals = store.game_self_evals(g.id).unwrap();
            for e in &evals {
                // Self-evals keep the engine that made them: the mover.
                let mover = if e.ply % 2 == 0 {
                    g.black_engine
                } else {
                    g.white_engine
                };
                assert_eq!(e.engine, mover, "game {} ply {}", g.game_index, e.ply);
            }
            (
                g.game_index,
                store
                    .game_moves(g.id)
                    .unwrap()
                    .into_iter()
                    .map(|m| m.mv)
                    .collect(),
                slot_of(g.black_engine),
                evals.iter().map(|e| e.winrate.unwrap()).collect(),
                verdicts
                    .iter()
                    .filter(|v| v.game == g.id)
                    .map(|v| v.loss_cp.unwrap())
                    .collect(),
            )
        })
        .collect()
}

fn expected_game(g: i64) -> GameView {
    (
        g,
        (0..6).map(|p| format!("g{g}p{p}")).collect(),
        if g % 2 == 0 { "a" } else { "b" }.parse().unwrap(),
        (0..6)
            .map(|p| g as f64 / 100.0 + p as f64 / 1000.0)
            .collect(),
        (0..6).map(|p| g * 1000 + p).collect(),
    )
}

#[test]
fn two_shards_of_one_run_merge_into_one_with_every_child_on_its_game() {
    let dir = tempfile::tempdir().unwrap();
    let s0 = Shard::new(0, 2, &[0, 2]).write(dir.path(), "s0.sqlite");
    let s1 = Shard::new(1, 2, &[1, 3]).write(dir.path(), "s1.sqlite");
    let out = output(dir.path());

    let r0 = out.merge_shard(&s0).unwrap();
    let r1 = out.merge_shard(&s1).unwrap();
    // The padding runs of shard 1 are merged too; the sharded run is one run.
    assert_eq!(
        r0.runs.iter().map(|r| r.tag.as_str()).collect::<Vec<_>>(),
        [TAG]
    );
    let run0 = &r0.runs[0];
    assert!(run0.created);
    assert_eq!((run0.games_new, run0.games_present), (2, 0));
    assert_eq!(
        (run0.events_new, run0.judge_runs_new, run0.judge_moves_new),
        (2, 1, 12)
    );
    assert_eq!(
        (r0.models_new, r0.strategies_new, r0.variants_new),
        (1, 1, 1)
    );
    assert_eq!((r0.sweep_points_new, r0.probes_new), (1, 2));
    let run1 = r1.runs.iter().find(|r| r.tag == TAG).unwrap();
    assert!(!run1.created);
    assert_eq!((run1.games_new, run1.games_present), (2, 0));
    assert_eq!((run1.judge_runs_new, run1.judge_moves_new), (0, 12));
    assert_eq!((r1.models_new, r1.variants_new, r1.probes_new), (0, 0, 1));

    assert_eq!(
        merged_games(&out),
        (0..4).map(expected_game).collect::<Vec<_>>()
    );
    // Ids were remapped: the output's earlier games hold ids 1..=3.
    let run = out.run_by_tag(TAG).unwrap().unwrap();
    assert!(out.games(run.id).unwrap().iter().all(|g| g.id.0 > 3));
    // Counts: 3 earlier games + 4 merged, one row per move, self-eval, cost.
    let expect = [
        ("runs", 2 + 1),
        ("engines", 2 + 3 + 1),
        ("games", 3 + 4),
        ("moves", 3 * 4 + 4 * 6),
        ("self_evals", 3 * 4 + 4 * 6),
        ("game_costs", 3 * 2 + 4 * 2),
        ("events", 4),
        ("models", 1),
        ("strategies", 1),
        ("variants", 1),
        ("sweeps", 1),
        ("sweep_points", 1),
        ("judge_runs", 1),
        ("judge_moves", 4 * 6),
        ("probes", 3),
        ("probe_positions", 3 * 2),
    ];
    assert_eq!(counts(&out), expect);
    // The engine keeps its variant, remapped.
    let engines = out.engines(run.id).unwrap();
    let a = engines.iter().find(|e| e.slot == "a").unwrap();
    let v = out.variant(a.variant.unwrap()).unwrap().unwrap();
    assert_eq!(v.sha256, "sha-variant");

    // No "shard" key: the merged run says which shards it holds.
    assert!(run.settings.get("shard").is_none());
    assert_eq!(
        run.settings["merged_shards"],
        json!({"count": 2, "indices": [0, 1]})
    );
    assert_eq!(run.settings["match"], match_settings(4)["match"]);
    let judge = &out.judge_runs(run.id).unwrap()[0];
    assert_eq!(judge.settings["judge"], json!({"visits": 8}));

    let cov = out.merge_coverage(&[TAG.to_string()]).unwrap();
    assert_eq!(cov.len(), 1);
    assert_eq!(cov[0].missing_shards, Vec::<u32>::new());
    assert_eq!(cov[0].games, 4);
    assert_eq!(cov[0].expected, ExpectedGames::Known(4));
    assert!(cov[0].missing_games.is_empty());
    assert_eq!(out.integrity_check().unwrap(), "ok");
    // Every reference is valid, and foreign keys are enforced again.
    let (broken, enforced): (i64, i64) = out
        .with_conn(|c| {
            Ok((
                c.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                    r.get(0)
                })?,
                c.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?,
            ))
        })
        .unwrap();
    assert_eq!((broken, enforced), (0, 1));
}

#[test]
fn merging_a_shard_twice_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s0 = Shard::new(0, 2, &[0, 2]).write(dir.path(), "s0.sqlite");
    let out = output(dir.path());
    out.merge_shard(&s0).unwrap();
    let before = counts(&out);
    let again = out.merge_shard(&s0).unwrap();
    assert_eq!((again.games_new(), again.games_present()), (0, 2));
    let run = &again.runs[0];
    assert!(!run.created);
    assert_eq!(
        (run.events_new, run.judge_runs_new, run.judge_moves_new),
        (0, 0, 0)
    );
    assert_eq!(
        (again.models_new, again.variants_new, again.probes_new),
        (0, 0, 0)
    );
    assert_eq!(counts(&out), before);
    // An interrupted merge is rerun: the shard merged before is skipped,
    // the next one finishes.
    let s1 = Shard::new(1, 2, &[1, 3]).write(dir.path(), "s1.sqlite");
    out.merge_shard(&s0).unwrap();
    out.merge_shard(&s1).unwrap();
    assert_eq!(
        merged_games(&out),
        (0..4).map(expected_game).collect::<Vec<_>>()
    );
}

#[test]
fn a_conflicting_game_is_refused_and_nothing_of_that_shard_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let s0 = Shard::new(0, 2, &[0, 2]).write(dir.path(), "s0.sqlite");
    // Shard 1 also holds game 2, with another result.
    let mut bad = Shard::new(1, 2, &[1, 2, 3]);
    bad.other_result = Some(2);
    let s1 = bad.write(dir.path(), "s1.sqlite");
    let out = output(dir.path());
    out.merge_shard(&s0).unwrap();
    let before = counts(&out);
    let err = out.merge_shard(&s1).unwrap_err();
    match &err {
        StoreError::MergeGameConflict(c) => {
            assert_eq!((&c.shard, c.tag.as_str()), (&s1, TAG));
            assert_eq!((c.point_index, c.game_index, c.field), (0, 2, "result"));
        }
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("s1.sqlite") && msg.contains("'ladder' game 2"),
        "{msg}"
    );
    assert_eq!(
        counts(&out),
        before,
        "nothing of the refused shard is written"
    );
    let run = out.run_by_tag(TAG).unwrap().unwrap();
    assert_eq!(run.settings["merged_shards"]["indices"], json!([0]));

    // The same game with one move changed.
    let mut bad = Shard::new(1, 2, &[1, 2, 3]);
    bad.other_move = Some(2);
    let s1 = bad.write(dir.path(), "s1-moves.sqlite");
    let err = out.merge_shard(&s1).unwrap_err();
    assert!(
        matches!(&err, StoreError::MergeGameConflict(c) if c.field == "moves" && c.game_index == 2),
        "{err:?}"
    );
    assert!(err.to_string().contains("ply 3"), "{err}");
    assert_eq!(counts(&out), before);
}

#[test]
fn shards_of_different_definitions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s0 = Shard::new(0, 2, &[0, 2]).write(dir.path(), "s0.sqlite");
    let out = output(dir.path());
    out.merge_shard(&s0).unwrap();
    let before = counts(&out);

    let mut other = Shard::new(1, 2, &[1, 3]);
    other.settings = match_settings(6);
    let path = other.write(dir.path(), "games.sqlite");
    let err = out.merge_shard(&path).unwrap_err();
    assert!(
        matches!(&err, StoreError::MergeDefinition { tag, .. } if tag == TAG),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("/match/games (merged 4, shard 6)"),
        "{err}"
    );

    let path = Shard::new(1, 3, &[1]).write(dir.path(), "count.sqlite");
    let err = out.merge_shard(&path).unwrap_err();
    assert!(
        err.to_string()
            .contains("split into 3 shards here and into 2"),
        "{err}"
    );

    let mut other = Shard::new(1, 2, &[1, 3]);
    other.command_a = vec!["gnugo".into(), "--level".into(), "9".into()];
    let path = other.write(dir.path(), "engine.sqlite");
    let err = out.merge_shard(&path).unwrap_err();
    assert!(
        matches!(&err, StoreError::MergeEngineConflict(c) if c.slot == "a" && c.field == "command"),
        "{err:?}"
    );
    assert!(err.to_string().contains("engine.sqlite"), "{err}");
    assert_eq!(counts(&out), before);
}

#[test]
fn missing_shards_and_games_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let s0 = Shard::new(0, 3, &[0, 3]).write(dir.path(), "s0.sqlite");
    let s2 = Shard::new(2, 3, &[2]).write(dir.path(), "s2.sqlite");
    let out = output(dir.path());
    out.merge_shard(&s0).unwrap();
    out.merge_shard(&s2).unwrap();
    let cov = out.merge_coverage(&[TAG.to_string()]).unwrap();
    assert_eq!(cov[0].missing_shards, [1]);
    assert_eq!(cov[0].expected, ExpectedGames::Known(4));
    assert_eq!(cov[0].games, 3);
    assert_eq!(cov[0].missing_games, [(0, 1)]);
    // The judge run was not sharded: nothing to report for it.
    assert!(cov[0].judges.is_empty());
}

#[test]
fn a_sweep_expects_its_points_games_and_anchor_games() {
    let dir = tempfile::tempdir().unwrap();
    let mut sweep = Shard::new(0, 1, &[0, 1]);
    sweep.settings = json!({"sweep": {"name": "s", "games": 2, "anchor_games": 3,
                                     "anchor": [{"name": "x", "games": 1}, {"name": "y"}]}});
    let path = sweep.write(dir.path(), "sweep.sqlite");
    let out = output(dir.path());
    out.merge_shard(&path).unwrap();
    let cov = out.merge_coverage(&[TAG.to_string()]).unwrap();
    // One stored point: 2 games, 1 against anchor x, 3 against anchor y.
    assert_eq!(cov[0].expected, ExpectedGames::Known(6));
    assert_eq!(cov[0].missing_shards, Vec::<u32>::new());
    assert_eq!(
        cov[0].missing_games,
        [(100_000, 0), (200_000, 0), (200_000, 1), (200_000, 2)]
    );
}

#[test]
fn refused_inputs_name_the_shard() {
    let dir = tempfile::tempdir().unwrap();
    let out = output(dir.path());
    let err = out
        .merge_shard(&dir.path().join("nope.sqlite"))
        .unwrap_err();
    assert!(matches!(err, StoreError::MergeRefused { .. }), "{err:?}");
    assert!(err.to_string().contains("nope.sqlite"), "{err}");
    let err = out.merge_shard(out.path()).unwrap_err();
    assert!(err.to_string().contains("output database itself"), "{err}");
    let junk = dir.path().join("junk.sqlite");
    std::fs::write(&junk, b"not a database at all, just text").unwrap();
    let err = out.merge_shard(&junk).unwrap_err();
    assert!(matches!(err, StoreError::MergeRefused { .. }), "{err:?}");
    // A database holding an evolution is refused whole.
    let evo = dir.path().join("evo.sqlite");
    let store = Store::open(&evo).unwrap();
    store
        .upsert_evolution(&qarena_store::NewEvolution {
            name: "e".into(),
            model_sha256: "m".into(),
            budget: json!({"bits_per_weight": 4.0}),
            seed: 1,
            settings: json!({}),
        })
        .unwrap();
    drop(store);
    let before = counts(&out);
    let err = out.merge_shard(&evo).unwrap_err();
    assert!(err.to_string().contains("evolution"), "{err}");
    assert_eq!(counts(&out), before);
    // The connection is left usable after every refusal.
    let s0 = Shard::new(0, 1, &[0]).write(dir.path(), "s0.sqlite");
    assert_eq!(out.merge_shard(&s0).unwrap().games_new(), 1);
}

#[test]
fn an_aborted_game_gives_way_to_the_finished_one() {
    let dir = tempfile::tempdir().unwrap();
    let first = Shard::new(0, 1, &[0, 1]).write(dir.path(), "first.sqlite");
    // The same shard, interrupted earlier: game 1 stored as aborted.
    let early = dir.path().join("early.sqlite");
    std::fs::copy(&first, &early).unwrap();
    {
        let raw = qarena_store::rusqlite::Connection::open(&early).unwrap();
        raw.execute(
            "UPDATE games SET termination = 'aborted', result = NULL, winner = NULL
             WHERE game_index = 1",
            [],
        )
        .unwrap();
    }
    let out = output(dir.path());
    out.merge_shard(&early).unwrap();
    let merged = out.merge_shard(&first).unwrap();
    assert_eq!(merged.aborted_replaced, 1);
    assert_eq!(merged.games_new(), 1);
    let run = out.run_by_tag(TAG).unwrap().unwrap();
    let games = out.games(run.id).unwrap();
    assert_eq!(games.len(), 2);
    assert!(games.iter().all(|g| g.termination != "aborted"));
    // The aborted game's moves went with it.
    assert_eq!(count(&out, "moves"), 3 * 4 + 2 * 6);
    assert_eq!(count(&out, "judge_moves"), 2 * 6);
    // And the other way round: the finished game stays.
    let again = out.merge_shard(&early).unwrap();
    assert_eq!((again.games_new(), again.aborted_replaced), (0, 0));
    assert!(out
        .games(run.id)
        .unwrap()
        .iter()
        .all(|g| g.termination != "aborted"));
}
