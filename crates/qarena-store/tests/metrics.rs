//! The typed getters over the metric views: one hand-computed game, and
//! rows of other runs and other judge runs kept out.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod common;

use common::{new_engine, new_game, run_with_engines};
use qarena_store::{EngineSlot, GameId, JudgeMove, JudgeRunId, RunId, Slot, Store};
use serde_json::json;

fn verdict(game: GameId, ply: i64, before: f64, after: f64, blunder: bool) -> JudgeMove {
    JudgeMove {
        game,
        ply,
        before_winrate: Some(before),
        after_winrate: Some(after),
        before_score: Some(1.0),
        after_score: Some(0.0),
        best_move: None,
        loss_winrate: Some((before - after).max(0.0)),
        loss_score: Some(1.0),
        loss_cp: None,
        blunder,
        top_k: None,
    }
}

/// A run with one judged game of four plies (`a` black on plies 0 and 2,
/// `b` white on 1 and 3; ply 3 is not judged) and one judge run.
fn judged_game(store: &Store, tag: &str) -> (RunId, GameId, JudgeRunId) {
    let (run, a, b) = run_with_engines(store, tag);
    let mut g = new_game(run, 0, 0, a, b, 4);
    let selfs = [
        (
            Some(0.6),
            json!([{"prior": 0.25}, {"prior": 0.25}, {"prior": 0.25}, {"prior": 0.25}]),
        ),
        (None, json!("not a list")),
        (
            Some(0.8),
            json!([{"prior": 0.1}, {"prior": 0.1}, {"move": "pass"}]),
        ),
        (Some(0.3), json!([{"move": "pass"}])),
    ];
    for (s, (winrate, top_k)) in g.self_evals.iter_mut().zip(selfs) {
        s.winrate = winrate;
        s.top_k = Some(top_k);
    }
    let game = store.insert_game(&g).unwrap();
    let judge = store.add_engine(&new_engine(run, "judge")).unwrap();
    let jr = store
        .create_judge_run(run, judge, &json!({"judge": {"game": "go"}}))
        .unwrap();
    store
        .insert_judge_moves(
            jr,
            &[
                verdict(game, 0, 0.5, 0.4, true),
                verdict(game, 1, 0.6, 0.55, false),
                verdict(game, 2, 0.45, 0.45, false),
            ],
        )
        .unwrap();
    (run, game, jr)
}

fn close(x: Option<f64>, want: f64) -> bool {
    x.is_some_and(|x| (x - want).abs() < 1e-12)
}

#[test]
fn per_game_judge_self_and_overconfidence_rows() {
    let store = Store::open_in_memory().unwrap();
    let (run, game, jr) = judged_game(&store, "one");
    // Another run with its own judge run must not leak in.
    let (other, _, other_jr) = judged_game(&store, "two");

    let judged = store.game_judge_metrics(jr, run).unwrap();
    assert_eq!(judged.len(), 2, "{judged:?}");
    let (a, b) = (&judged[0], &judged[1]);
    assert_eq!((a.game, a.slot), (game, EngineSlot::Player(Slot::A)));
    assert_eq!((a.moves_judged, a.blunders), (2, 1));
    assert!(close(a.avg_loss_winrate, 0.05));
    assert_eq!(a.blunder_rate(), Some(0.5));
    assert!(close(a.final_winrate, 0.45) && close(b.final_winrate, 0.55));
    assert_eq!(b.slot, EngineSlot::Player(Slot::B));
    assert_eq!((b.moves_judged, b.blunders), (1, 0));
    assert!(close(b.avg_loss_winrate, 0.05));
    assert_eq!(a.avg_loss_cp, None);
    assert!(store.game_judge_metrics(other_jr, run).unwrap().is_empty());
    assert!(store.game_judge_metrics(jr, other).unwrap().is_empty());

    let selfs = store.game_self_metrics(run).unwrap();
    assert_eq!(selfs.len(), 2, "{selfs:?}");
    assert_eq!(selfs[0].slot, EngineSlot::Player(Slot::A));
    assert_eq!(selfs[0].self_evals, 2);
    assert!(close(selfs[0].avg_self_winrate, 0.7));
    assert!(close(
        selfs[0].avg_policy_entropy,
        (4f64.ln() + 2f64.ln()) / 2.0
    ));
    assert_eq!(selfs[1].self_evals, 2);
    assert!(close(selfs[1].avg_self_winrate, 0.3));
    assert_eq!(selfs[1].avg_policy_entropy, None, "no usable priors");

    let over = store.game_overconfidence(jr, run).unwrap();
    assert_eq!(over.len(), 2, "{over:?}");
    assert_eq!(over[0].moves, 2);
    assert!(close(
        over[0].avg_self_minus_judge_before,
        (0.1 + 0.35) / 2.0
    ));
    assert!(close(
        over[0].avg_self_minus_judge_after,
        (0.2 + 0.35) / 2.0
    ));
    // `b` has a verdict only where it reported no winrate.
    assert_eq!(over[1].moves, 0);
    assert_eq!(over[1].avg_self_minus_judge_before, None);

    let cov = store.judge_coverage(run).unwrap();
    assert_eq!(cov.len(), 1);
    assert_eq!(cov[0].judge_run, jr);
    assert_eq!(cov[0].game_kind.as_deref(), Some("go"));
    assert_eq!((cov[0].games_played, cov[0].games_judged), (1, 1));
    assert_eq!(cov[0].coverage, Some(1.0));
}

#[test]
fn sweeps_by_name_newest_first_and_models_by_variant_hash() {
    let store = Store::open_in_memory().unwrap();
    let (r1, _, _) = run_with_engines(&store, "first");
    let (r2, _, _) = run_with_engines(&store, "second");
    for r in [r1, r2] {
        store.upsert_sweep(r, "ladder", &json!({"n": r.0})).unwrap();
        store.upsert_sweep(r, "other", &json!({})).unwrap();
    }
    let found = store.sweeps_named("ladder").unwrap();
    assert_eq!(
        found.iter().map(|s| s.run).collect::<Vec<_>>(),
        vec![r2, r1]
    );
    assert!(found.iter().all(|s| s.name == "ladder"));
    assert!(store.sweeps_named("missing").unwrap().is_empty());

    let model = store.upsert_model("m.bin", "m-sha", "katago", 10).unwrap();
    let strategy = store.upsert_strategy("int4", "x = 1", "s-sha").unwrap();
    store
        .upsert_variant(&qarena_store::NewVariant {
            model,
            strategy,
            path: "v.bin".into(),
            sha256: "v-sha".into(),
            manifest: json!({}),
            effective_bits: Some(4.0),
            bytes: Some(5),
        })
        .unwrap();
    let models = store.models_of_variant_sha256("v-sha").unwrap();
    assert_eq!(models.len(), 1);
    assert_eq!((models[0].id, models[0].sha256.as_str()), (model, "m-sha"));
    assert!(store.models_of_variant_sha256("m-sha").unwrap().is_empty());
}

#[test]
fn per_game_costs_from_moves_self_evals_and_process_figures() {
    let store = Store::open_in_memory().unwrap();
    let (run, a, b) = run_with_engines(&store, "costs");
    // Plies 0 and 2 by `a` (10 and 12 ms), 1 and 3 by `b` (11 and 13 ms);
    // every ply reports 100 visits; `a` used 0.5 CPU seconds and 100 MiB.
    let game = store.insert_game(&new_game(run, 0, 0, a, b, 4)).unwrap();
    let (other, oa, ob) = run_with_engines(&store, "other");
    store
        .insert_game(&new_game(other, 0, 0, oa, ob, 2))
        .unwrap();

    let rows = store.game_cost_metrics(run).unwrap();
    assert_eq!(rows.len(), 2, "one row per engine of the run's one game");
    let ra = rows.iter().find(|r| r.engine == a).unwrap();
    let rb = rows.iter().find(|r| r.engine == b).unwrap();
    assert_eq!((ra.game, ra.moves, rb.moves), (game, 2, 2));
    assert!(close(ra.avg_move_ms, 11.0) && close(rb.avg_move_ms, 12.0));
    assert!(close(ra.visits_per_second, 200.0 * 1000.0 / 22.0));
    assert!(close(rb.visits_per_second, 200.0 * 1000.0 / 24.0));
    assert_eq!(ra.nodes_per_second, None, "no engine reported nodes");
    assert_eq!(
        ra.reported_speed().map(|s| s.1),
        Some("visits/s"),
        "visits when no nodes were reported"
    );
    assert!(close(ra.cpu_ms_per_move, 250.0));
    assert_eq!(ra.peak_rss_bytes, Some(100 << 20));
    assert_eq!((rb.cpu_ms_per_move, rb.peak_rss_bytes), (None, None));
    assert_eq!(
        common::count(&store, "game_costs"),
        4,
        "two games, two engines each"
    );
}

#[test]
fn game_summary_has_one_row_per_game_and_player_with_the_newest_judge_run() {
    let store = Store::open_in_memory().unwrap();
    let (run, game, jr) = judged_game(&store, "one");
    let (_, _, _) = judged_game(&store, "two");
    let engines = store.engines(run).unwrap();
    let (a, b) = (engines[0].id, engines[1].id);
    // A second game, never judged, where `b` has Black and wins.
    let mut g = new_game(run, 0, 1, b, a, 2);
    g.winner = Some(Slot::B);
    g.self_evals.clear();
    let unjudged = store.insert_game(&g).unwrap();

    let rows = store.game_summary(run).unwrap();
    assert_eq!(rows.len(), 4, "{rows:?}");
    let ids: Vec<(GameId, EngineSlot)> = rows.iter().map(|r| (r.game, r.slot)).collect();
    assert_eq!(
        ids,
        [
            (game, EngineSlot::Player(Slot::A)),
            (game, EngineSlot::Player(Slot::B)),
            (unjudged, EngineSlot::Player(Slot::A)),
            (unjudged, EngineSlot::Player(Slot::B)),
        ]
    );
    let (ja, jb) = (&rows[0], &rows[1]);
    assert_eq!(
        (ja.run_tag.as_str(), ja.game_index, ja.move_count),
        ("one", 0, 4)
    );
    assert!(ja.black && !jb.black);
    assert_eq!(ja.outcome, Some(qarena_stats::Outcome::Win));
    assert_eq!(jb.outcome, Some(qarena_stats::Outcome::Loss));
    assert_eq!((ja.judge_run, jb.judge_run), (Some(jr), Some(jr)));
    assert_eq!((ja.moves_judged, ja.blunders), (2, Some(1)));
    assert!(close(ja.avg_loss_winrate, 0.05) && close(jb.avg_loss_winrate, 0.05));
    assert!(close(ja.final_winrate, 0.45) && close(jb.final_winrate, 0.55));
    assert_eq!(ja.self_evals, 2);
    assert!(close(ja.avg_self_winrate, 0.7));
    assert_eq!(ja.termination, qarena_store::Termination::TwoPasses);
    assert_eq!(ja.result.as_deref(), Some("B+3.5"));

    let (ua, ub) = (&rows[2], &rows[3]);
    assert_eq!(
        ua.judge_run,
        Some(jr),
        "the run's judge run, not this game's"
    );
    assert_eq!(
        (ua.moves_judged, ua.blunders, ua.avg_loss_winrate),
        (0, None, None)
    );
    assert_eq!((ua.self_evals, ua.avg_self_winrate), (0, None));
    assert!(!ua.black && ub.black);
    assert_eq!(ua.outcome, Some(qarena_stats::Outcome::Loss));
    assert_eq!(ub.outcome, Some(qarena_stats::Outcome::Win));

    // A newer judge run of the same run replaces the older one's columns.
    let judge = store.engines(run).unwrap()[2].id;
    let newer = store
        .create_judge_run(run, judge, &json!({"judge": {"game": "go", "visits": 2}}))
        .unwrap();
    store
        .insert_judge_moves(newer, &[verdict(unjudged, 0, 0.9, 0.2, true)])
        .unwrap();
    let rows = store.game_summary(run).unwrap();
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r.judge_run == Some(newer)));
    assert_eq!(rows[0].moves_judged, 0, "judged only by the older run");
    assert_eq!((rows[3].moves_judged, rows[3].blunders), (1, Some(1)));
    assert!(close(rows[3].avg_loss_winrate, 0.7));

    // The same rows through SQL, as a notebook reads them.
    let sides: Vec<(String, String, Option<String>)> = store
        .with_conn(|c| {
            let mut s = c.prepare(
                "SELECT side, color, outcome FROM game_summary WHERE run_tag = 'one'
                 ORDER BY game_index, side",
            )?;
            let rows = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })
        .unwrap();
    assert_eq!(
        sides,
        [
            ("a".into(), "black".into(), Some("win".into())),
            ("b".into(), "white".into(), Some("loss".into())),
            ("a".into(), "white".into(), Some("loss".into())),
            ("b".into(), "black".into(), Some("win".into())),
        ]
    );
}
