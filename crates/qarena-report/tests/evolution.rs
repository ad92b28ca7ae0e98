//! The report of a survival tournament from a database written here: two
//! seeds, a boundary scan, failures, checks on unseen positions and a
//! game stage. Every section is there and says what the data say.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

use qarena_report::{generate, ReportOptions, Subject};
use qarena_store::{
    EvolutionCheck, EvolutionId, GenomeResult, NewEvolution, NewGenome, RunStatus, Store,
};
use serde_json::json;

fn evolution(store: &Store, name: &str, seed: i64, bits: f64) -> EvolutionId {
    let ev = store
        .upsert_evolution(&NewEvolution {
            name: name.into(),
            model_sha256: "f5d3".into(),
            budget: json!({ "bits_per_weight": bits }),
            seed,
            settings: json!({ "population": 4 }),
        })
        .unwrap()
        .id;
    store
        .set_evolution_status(ev, RunStatus::Completed)
        .unwrap();
    ev
}

/// A genome at `bits` that survived with `quality`, or died of `failure`.
fn genome(
    store: &Store,
    ev: EvolutionId,
    generation: i64,
    bits: f64,
    outcome: Result<f64, &str>,
) -> qarena_store::GenomeId {
    let toml = format!(
        "name = \"g\"\n[[rule]]\nrole = \"trunk\"\nlayers = \"0-2\"\nscheme = \"uint4\"\n\
         granularity = \"group:64\"\n[[rule]]\nrole = \"policy_head\"\nscheme = \"int8\"\n\
         # {bits} {generation}\n"
    );
    let (rec, _) = store
        .insert_genome(&NewGenome {
            evolution: ev,
            generation,
            operator: if generation == 0 {
                "random"
            } else {
                "bit_shift"
            }
            .into(),
            parent_a: None,
            parent_b: None,
            strategy_toml: toml,
            strategy_sha256: format!("{ev:?}-{bits}-{generation}"),
            bits_per_weight: bits,
            bytes: (bits * 1000.0) as i64,
        })
        .unwrap();
    let (quality, failure) = match outcome {
        Ok(q) => (Some(q), None),
        Err(f) => (None, Some((f, "agreement with the original 0.05 < 0.2"))),
    };
    store
        .set_genome_result(
            rec.id,
            &GenomeResult {
                variant: None,
                probe: None,
                quality,
                speed_ratio: quality.map(|_| 1.0),
                memory_ratio: quality.map(|_| 1.0),
                score: quality.map(|q| q.ln() + 0.1 * bits),
                failure,
            },
        )
        .unwrap();
    rec.id
}

#[test]
fn an_evolution_report_has_fronts_agreement_boundary_and_negative_results() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.sqlite");
    let store = Store::open(&db).unwrap();
    let s1 = evolution(&store, "kg", 1, 4.25);
    let s2 = evolution(&store, "kg", 2, 4.25);
    let scan = evolution(&store, "kg@2.5", 1, 2.5);
    let best = genome(&store, s1, 1, 4.2, Ok(0.10));
    genome(&store, s1, 0, 3.9, Ok(0.20));
    genome(&store, s1, 0, 4.1, Ok(0.30));
    genome(&store, s1, 1, 4.0, Err("collapse"));
    genome(&store, s2, 0, 4.24, Ok(0.12));
    genome(&store, s2, 1, 3.8, Ok(0.25));
    genome(&store, scan, 0, 2.1, Err("collapse"));
    genome(&store, scan, 0, 2.4, Err("collapse"));
    genome(&store, scan, 0, 2.6, Ok(0.9));
    for (subject, suite, q, bits) in [
        // An older best, checked before the newer one: the report shows
        // the newest.
        ("genome:999999".to_string(), "unseen", 0.5, 4.0),
        (format!("genome:{}", best.0), "unseen", 0.09, 4.2),
        ("recipe:nf4".to_string(), "screen", 0.18, 4.39),
        ("recipe:nf4".to_string(), "unseen", 0.16, 4.39),
    ] {
        store
            .put_evolution_check(&EvolutionCheck {
                evolution: s1,
                subject,
                suite: suite.into(),
                suite_sha256: "s".into(),
                strategy_toml: "name = \"x\"\n".into(),
                bits_per_weight: bits,
                bytes: (bits * 1000.0) as i64,
                probe: None,
                quality: q,
            })
            .unwrap();
    }
    drop(store);
    let out_dir = dir.path().join("report");
    let out = generate(&ReportOptions {
        db: db.clone(),
        subject: Subject::Evolution("kg".into()),
        out_dir: out_dir.clone(),
        html: true,
        runs_dir: dir.path().join("runs"),
        judge_run: None,
        font: None,
    })
    .unwrap();
    assert_eq!(
        out.sections,
        [
            "Contents",
            "Summary",
            "Pareto fronts",
            "Do the seeds agree?",
            "On unseen positions, against hand recipes",
            "Survival boundary",
            "Survival by group",
            "Negative results",
            "Games",
            "Provenance"
        ]
    );
    let md = std::fs::read_to_string(&out.markdown).unwrap();
    println!("{md}");
    // Seed 1's front: 3.9 (0.20) then 4.2 (0.10); 4.1 (0.30) is dominated.
    assert!(md.contains("| 3.900 | 0.2000 |"), "{md}");
    assert!(md.contains("| 4.200 | 0.1000 |"), "{md}");
    assert!(!md.contains("| 4.100 | 0.3000 |"), "{md}");
    // The seeds side by side at the budget: 0.10 and 0.12.
    assert!(md.contains("| 4.25 | 0.1000 | 0.1200 | 1.20 |"), "{md}");
    // Unseen: the newest genome check, 0.09 against nf4's 0.16, 43.8% lower.
    assert!(
        md.contains(&format!(
            "| genome:{} (kg seed 1) | 4.200 | 4200 | 0.1000 | 0.0900 |",
            best.0
        )),
        "{md}"
    );
    assert!(!md.contains("genome:999999"), "{md}");
    assert!(
        md.contains("| recipe:nf4 | 4.390 | 4390 | 0.1800 | 0.1600 | -43.8% |"),
        "{md}"
    );
    // The scan: every genome below 2.5 bits died.
    assert!(md.contains("Every genome below 2.50 bits/w died"), "{md}");
    assert!(md.contains("1 boundary scan(s)"), "{md}");
    assert!(md.contains("| collapse | random | 2 |"), "{md}");
    assert!(md.contains("| collapse | bit_shift | 1 |"), "{md}");
    assert!(md.contains("No games yet"), "{md}");
    // Every genome gives the trunk uint4 and the policy head int8.
    assert!(md.contains("| trunk | 4 | 9 | 6 | 67% | 0.1000 |"), "{md}");
    assert!(
        md.contains("| policy_head | 8 | 9 | 6 | 67% | 0.1000 |"),
        "{md}"
    );
    assert!(out.html.unwrap().is_file());
    // A name with no evolution is an input error naming it.
    let e = generate(&ReportOptions {
        db,
        subject: Subject::Evolution("nothing".into()),
        out_dir,
        html: false,
        runs_dir: dir.path().join("runs"),
        judge_run: None,
        font: None,
    })
    .unwrap_err();
    assert!(e.is_input() && e.to_string().contains("'nothing'"), "{e}");
}
