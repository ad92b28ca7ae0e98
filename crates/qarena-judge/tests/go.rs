//! The Go judge end to end: real games from `qarena match` (KataGo against
//! GNU Go), judged by KataGo's analysis engine, then the metric views.

mod common;

use qarena_judge::{bench, judge, GoJudgeSettings, JudgeKind, JudgeOptions};
use qarena_store::{EventKind, Store};

fn options() -> JudgeOptions {
    let mut s = GoJudgeSettings::new(GoJudgeSettings::katago_dir_argv(&common::katago_dir()));
    s.max_visits = 16;
    s.analysis_threads = 2;
    s.eigen_threads = 2;
    JudgeOptions::new(JudgeKind::Go(s))
}

#[test]
fn judges_every_move_once_and_the_views_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let db = common::go_match(tmp.path(), "t", 2);
    let store = Store::open(&db).unwrap();
    let opts = options();

    let mut ticks = 0;
    let report = judge(&store, "t", &opts, &mut |_| ticks += 1).unwrap();
    assert_eq!(report.engine_failure, None);
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.games_played, 2);
    assert_eq!(report.coverage(), 1.0);
    assert_eq!(report.games_judged_now, 2);
    assert_eq!(ticks, 2);
    assert!(!report.resumed);
    assert_eq!(report.engine_version.as_deref(), Some("1.17.2"));

    // One verdict per non-resign move, all finite and in range.
    let run = store.run_by_tag("t").unwrap().unwrap();
    let verdicts = store.judge_moves(report.judge_run).unwrap();
    let mut expected = 0;
    let mut turns = 0;
    for g in store.games(run.id).unwrap() {
        let moves = store.game_moves(g.id).unwrap();
        let judged: Vec<_> = moves.iter().filter(|m| m.mv != "resign").collect();
        expected += judged.len();
        turns += judged.len() + 1;
        for m in judged {
            assert!(
                verdicts.iter().any(|v| v.game == g.id && v.ply == m.ply),
                "game {} ply {} has no verdict",
                g.id,
                m.ply
            );
        }
    }
    assert_eq!(verdicts.len(), expected);
    assert_eq!(report.positions, turns as u64);
    for v in &verdicts {
        let (b, a, l) = (
            v.before_winrate.unwrap(),
            v.after_winrate.unwrap(),
            v.loss_winrate.unwrap(),
        );
        assert!(
            (0.0..=1.0).contains(&b) && (0.0..=1.0).contains(&a),
            "{v:?}"
        );
        assert!(l.is_finite() && l >= 0.0 && (l - (b - a).max(0.0)).abs() < 1e-12);
        assert!(v.loss_score.unwrap().is_finite() && v.loss_score.unwrap() >= 0.0);
        assert_eq!(v.blunder, l >= 0.10);
        assert!(v.best_move.is_some());
        let top = v.top_k.as_ref().unwrap().as_array().unwrap();
        assert!(!top.is_empty() && top.len() <= 5);
    }

    // Summaries: both slots, finite means.
    assert_eq!(report.slots.len(), 2, "{:?}", report.slots);
    for s in &report.slots {
        assert_eq!(s.games, 2);
        assert!(s.mean_loss.is_finite() && s.mean_loss >= 0.0 && s.ci95 >= 0.0);
    }

    // The judge is registered in slot "judge" and the run has no failure events.
    let engines = store.engines(run.id).unwrap();
    let j = engines.iter().find(|e| e.slot == "judge").unwrap();
    assert_eq!(j.version.as_deref(), Some("1.17.2"));
    assert!(store
        .events(run.id)
        .unwrap()
        .iter()
        .all(|e| e.kind != EventKind::Crash && e.kind != EventKind::Timeout));

    // A second call resumes the same judge run and judges nothing new.
    let again = judge(&store, "t", &opts, &mut |_| {}).unwrap();
    assert!(again.resumed);
    assert_eq!(again.judge_run, report.judge_run);
    assert_eq!(again.games_judged_now, 0);
    assert_eq!(again.games_skipped, 2);
    assert_eq!(again.positions, 0);
    assert_eq!(again.coverage(), 1.0);
    assert_eq!(store.judge_moves(report.judge_run).unwrap(), verdicts);
    assert_eq!(store.judge_runs(run.id).unwrap().len(), 1);

    // The views, through the store's typed getters.
    let judged = store.game_judge_metrics(report.judge_run, run.id).unwrap();
    assert_eq!(judged.len(), 4, "two games x two slots");
    let moves: u64 = judged.iter().map(|m| m.moves_judged).sum();
    assert_eq!(moves as usize, expected);
    assert!(judged
        .iter()
        .all(|m| m.avg_loss_winrate.is_some_and(|l| (0.0..1.0).contains(&l))));
    // The two sides' final evaluations of one game add up to 1.
    let final_sum: f64 = judged.iter().filter_map(|m| m.final_winrate).sum();
    assert!((final_sum - 2.0).abs() < 1e-9, "{final_sum}");

    let coverage = store.judge_coverage(run.id).unwrap();
    assert_eq!(coverage.len(), 1);
    assert_eq!(coverage[0].judge_run, report.judge_run);
    assert_eq!(coverage[0].coverage, Some(1.0));

    // KataGo (slot a) reported its beliefs; GNU Go (slot b) did not.
    let selfs = store.game_self_metrics(run.id).unwrap();
    assert_eq!(selfs.len(), 2, "{selfs:?}");
    for s in &selfs {
        assert_eq!(s.slot, "a");
        assert!(s.avg_self_winrate.is_some_and(|w| (0.0..=1.0).contains(&w)));
        // Entropy of at most ~10 candidates: between 0 and ln(10) nats.
        let h = s.avg_policy_entropy.unwrap_or(-1.0);
        assert!(h > 0.0 && h <= 10f64.ln() + 1e-9, "{h}");
    }
    let over = store.game_overconfidence(report.judge_run, run.id).unwrap();
    assert_eq!(over.len(), 2);
    assert!(over.iter().all(|o| o.slot == "a"
        && o.avg_self_minus_judge_before
            .is_some_and(|b| b.abs() <= 1.0)
        && o.avg_self_minus_judge_after.is_some_and(|a| a.abs() <= 1.0)));

    let variant: Vec<(String, i64, i64, f64, f64, Option<f64>)> = store
        .with_conn(|c| {
            let mut st = c.prepare(
                "SELECT slot, games, n_loss_winrate, mean_loss_winrate, sumsq_loss_winrate,
                        mean_policy_entropy
                 FROM variant_metrics WHERE judge_run_id = ?1 ORDER BY slot",
            )?;
            let rows = st.query_map([report.judge_run], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })?;
            rows.collect()
        })
        .unwrap();
    assert_eq!(variant.len(), 2, "{variant:?}");
    for (i, s) in report.slots.iter().enumerate() {
        let (slot, games, n, mean, sumsq, entropy) = &variant[i];
        assert_eq!(slot, &s.slot);
        assert_eq!((*games, *n), (2, 2));
        assert!((mean - s.mean_loss).abs() < 1e-12);
        assert!(*sumsq >= 0.0);
        assert_eq!(entropy.is_some(), slot == "a");
    }
}

#[test]
fn benchmark_compares_with_katago_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let db = common::go_match(tmp.path(), "b", 2);
    let store = Store::open(&db).unwrap();
    let scratch = tmp.path().join("bench");
    fs_err::create_dir_all(&scratch).unwrap();
    let b = bench::go_throughput(&store, "b", &options(), &scratch).unwrap();
    assert_eq!(b.games, 2);
    assert!(b.positions > 2);
    assert!(b.reference_positions_per_second() > 0.0);
    assert!(b.judge_positions_per_second() > 0.0);
    assert!(b.ratio().is_finite());
    // The real database is untouched.
    let run = store.run_by_tag("b").unwrap().unwrap();
    assert!(store.judge_runs(run.id).unwrap().is_empty());
}
