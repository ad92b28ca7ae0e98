#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code
//! Evolutions keep every genome, with parents and failures, and a second
//! start with the same name and seed finds the first.

use qarena_store::{GenomeResult, NewEvolution, NewGenome, RunStatus, Store};
use serde_json::json;

fn genome(ev: qarena_store::EvolutionId, generation: i64, sha: &str) -> NewGenome {
    NewGenome {
        evolution: ev,
        generation,
        operator: "random".into(),
        parent_a: None,
        parent_b: None,
        strategy_toml: format!("name = \"{sha}\"\n"),
        strategy_sha256: sha.into(),
        bits_per_weight: 4.2,
        bytes: 1000,
    }
}

#[test]
fn genomes_are_kept_with_their_parents_and_failures() {
    let store = Store::open_in_memory().unwrap();
    let new = NewEvolution {
        name: "kg".into(),
        model_sha256: "m".into(),
        budget: json!({"bits_per_weight": 4.25}),
        seed: 1,
        settings: json!({"population": 8}),
    };
    let ev = store.upsert_evolution(&new).unwrap();
    assert_eq!(ev.status, RunStatus::Running);
    assert_eq!(store.upsert_evolution(&new).unwrap().id, ev.id);
    let other_seed = store
        .upsert_evolution(&NewEvolution {
            seed: 2,
            ..new.clone()
        })
        .unwrap();
    assert_ne!(other_seed.id, ev.id);

    let (a, fresh) = store.insert_genome(&genome(ev.id, 0, "a")).unwrap();
    assert!(fresh);
    let (again, fresh) = store.insert_genome(&genome(ev.id, 3, "a")).unwrap();
    assert!(!fresh);
    assert_eq!(again.id, a.id);
    assert_eq!(again.genome.generation, 0);
    let mut child = genome(ev.id, 1, "b");
    child.operator = "crossover".into();
    child.parent_a = Some(a.id);
    let (b, _) = store.insert_genome(&child).unwrap();
    store
        .set_genome_result(
            a.id,
            &GenomeResult {
                variant: None,
                probe: None,
                quality: Some(0.05),
                speed_ratio: Some(0.98),
                memory_ratio: Some(1.01),
                score: Some(-2.5),
                failure: None,
            },
        )
        .unwrap();
    store
        .set_genome_result(
            b.id,
            &GenomeResult {
                variant: None,
                probe: None,
                quality: None,
                speed_ratio: None,
                memory_ratio: None,
                score: None,
                failure: Some(("collapse", "top-1 agreement 0.02")),
            },
        )
        .unwrap();
    let all = store.genomes(ev.id).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].quality, Some(0.05));
    assert_eq!(all[0].score, Some(-2.5));
    assert_eq!(all[0].speed_ratio, Some(0.98));
    assert_eq!(all[0].memory_ratio, Some(1.01));
    assert_eq!(store.genome(a.id).unwrap().unwrap(), all[0]);
    assert_eq!(all[1].genome.parent_a, Some(a.id));
    assert_eq!(all[1].failure.as_deref(), Some("collapse"));
    assert!(store.genomes(other_seed.id).unwrap().is_empty());
    store
        .set_evolution_status(ev.id, RunStatus::Completed)
        .unwrap();
    assert_eq!(store.evolutions().unwrap()[0].status, RunStatus::Completed);
}

#[test]
fn the_game_stage_links_runs_to_the_evolution_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("q.sqlite")).unwrap();
    let ev = store
        .upsert_evolution(&NewEvolution {
            name: "games".into(),
            model_sha256: "m".into(),
            budget: json!({"bits_per_weight": 4.25}),
            seed: 1,
            settings: json!({}),
        })
        .unwrap();
    let run = store
        .create_run(&qarena_store::NewRun {
            tag: "evo-gate".into(),
            kind: qarena_store::RunKind::Match,
            argv: vec![],
            settings: json!({}),
            software_version: "test".into(),
        })
        .unwrap();
    let m = qarena_store::EvolutionMatch {
        evolution: ev.id,
        stage: "gate".into(),
        player_a: "genome:1".into(),
        player_b: "original".into(),
        run,
    };
    store.add_evolution_match(&m).unwrap();
    store.add_evolution_match(&m).unwrap();
    assert_eq!(store.evolution_matches(ev.id).unwrap(), vec![m]);
}

#[test]
fn checks_are_kept_per_subject_and_suite_and_replaced_when_redone() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("q.sqlite")).unwrap();
    let ev = store
        .upsert_evolution(&NewEvolution {
            name: "checks".into(),
            model_sha256: "m".into(),
            budget: json!({"bits_per_weight": 4.25}),
            seed: 1,
            settings: json!({}),
        })
        .unwrap();
    let mut k = qarena_store::EvolutionCheck {
        evolution: ev.id,
        subject: "recipe:nf4".into(),
        suite: "unseen".into(),
        suite_sha256: "s".into(),
        strategy_toml: "name = \"nf4\"\n".into(),
        bits_per_weight: 4.386,
        bytes: 565_010,
        probe: None,
        quality: 0.17,
    };
    store.put_evolution_check(&k).unwrap();
    k.quality = 0.16;
    store.put_evolution_check(&k).unwrap();
    let mut screen = k.clone();
    screen.suite = "screen".into();
    store.put_evolution_check(&screen).unwrap();
    assert_eq!(store.evolution_checks(ev.id).unwrap(), vec![k, screen]);
}
