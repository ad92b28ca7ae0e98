#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code
//! Evolutions keep every genome, with parents and failures, and a second
//! start with the same name and seed finds the first.

use qarena_store::{NewEvolution, NewGenome, RunStatus, Store};
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
        .set_genome_result(a.id, None, None, Some(0.05), None)
        .unwrap();
    store
        .set_genome_result(
            b.id,
            None,
            None,
            None,
            Some(("collapse", "top-1 agreement 0.02")),
        )
        .unwrap();
    let all = store.genomes(ev.id).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].quality, Some(0.05));
    assert_eq!(all[1].genome.parent_a, Some(a.id));
    assert_eq!(all[1].failure.as_deref(), Some("collapse"));
    assert!(store.genomes(other_seed.id).unwrap().is_empty());
    store
        .set_evolution_status(ev.id, RunStatus::Completed)
        .unwrap();
    assert_eq!(store.evolutions().unwrap()[0].status, RunStatus::Completed);
}
