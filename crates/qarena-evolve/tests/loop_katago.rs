#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code
//! The probe-screened loop on the shared KataGo net: genomes within the
//! budget are stored with parents and results, a resumed evolution makes
//! the same genomes and screens none again, and a collapse floor kills.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use qarena_evolve::{evolve, Budget, EvolveSettings, GeneSpace};
use qarena_probe::{AnyProbe, KataGoProbe};
use qarena_store::Store;

use qarena_testkit::katago;

#[test]
fn an_evolution_screens_stores_resumes_and_kills_collapses() {
    let (bin, net, cfg) = katago();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("e.sqlite")).unwrap();
    let probe = AnyProbe::KataGo(KataGoProbe::new(&bin, &cfg));
    // A small screening suite: the first 40 positions of the shipped one.
    let suite = qarena_probe::default_suite("go")
        .unwrap()
        .subset("screen", |i| i < 40)
        .unwrap();
    let settings = EvolveSettings {
        name: "t".into(),
        model: net,
        budget: Budget::BitsPerWeight(4.25),
        seed: 1,
        population: 4,
        survivors: 2,
        generations: 2,
        patience: 5,
        collapse_floor: 0.0,
        cache_dir: dir.path().join("variants"),
        space: GeneSpace::default(),
        limits: qarena_evolve::Limits::default(),
    };
    let stop = AtomicBool::new(false);
    let t = Instant::now();
    let s = evolve(&store, &settings, &probe, &suite, &stop, &|l| {
        println!("{l}")
    })
    .unwrap();
    let first_run = t.elapsed();
    let genomes = store.genomes(s.evolution).unwrap();
    println!("{} genomes in {first_run:?}", genomes.len());
    assert!(genomes.len() >= 6, "{}", genomes.len());
    assert!(genomes.iter().all(|g| g.genome.bits_per_weight <= 4.25));
    assert!(genomes
        .iter()
        .any(|g| g.genome.generation == 1 && g.genome.parent_a.is_some()));
    assert!(!s.best.is_empty());
    // Best first by survival score, which every survivor has, with its
    // engine cost.
    let scores: Vec<f64> = s.best.iter().map(qarena_evolve::rank).collect();
    assert!(scores.windows(2).all(|w| w[0] <= w[1]), "{scores:?}");
    assert!(s
        .best
        .iter()
        .all(|g| g.score.is_some() && g.speed_ratio.is_some() && g.memory_ratio.is_some()));

    // Resuming makes the same genomes and screens none again.
    let t = Instant::now();
    let again = evolve(&store, &settings, &probe, &suite, &stop, &|_| {}).unwrap();
    assert_eq!(store.genomes(again.evolution).unwrap().len(), genomes.len());
    assert_eq!(again.evolution, s.evolution);
    println!("resumed in {:?}", t.elapsed());

    // An impossible collapse floor kills every genome, and says why.
    // It ends after the first generation: every genome of it died, so
    // the budget is past the survival boundary.
    let strict = EvolveSettings {
        name: "strict".into(),
        collapse_floor: 1.01,
        generations: 5,
        ..settings.clone()
    };
    let s = evolve(&store, &strict, &probe, &suite, &stop, &|_| {}).unwrap();
    let all = store.genomes(s.evolution).unwrap();
    assert!(!all.is_empty());
    assert!(
        all.iter().all(|g| g.failure.as_deref() == Some("collapse")),
        "{all:?}"
    );
    assert!(s.best.is_empty());
    assert_eq!(s.ending, qarena_evolve::Ending::AllDied { generation: 0 });
    assert!(all.iter().all(|g| g.genome.generation == 0));

    // Below anything a genome can cost, nothing is screened, and it says so.
    let impossible = EvolveSettings {
        name: "impossible".into(),
        budget: qarena_evolve::Budget::BitsPerWeight(0.5),
        ..settings.clone()
    };
    let s = evolve(&store, &impossible, &probe, &suite, &stop, &|_| {}).unwrap();
    assert_eq!(s.ending, qarena_evolve::Ending::NothingFits);
    assert_eq!(s.screened, 0);

    // A genome limit ends the loop at that many genomes, also on resume.
    let limited = EvolveSettings {
        name: "limited".into(),
        limits: qarena_evolve::Limits {
            max_genomes: Some(5),
            max_seconds: None,
            through_generation: None,
        },
        ..settings
    };
    let s = evolve(&store, &limited, &probe, &suite, &stop, &|_| {}).unwrap();
    assert_eq!(s.ending, qarena_evolve::Ending::GenomeLimit);
    assert_eq!(store.genomes(s.evolution).unwrap().len(), 5);
    let s = evolve(&store, &limited, &probe, &suite, &stop, &|_| {}).unwrap();
    assert_eq!(store.genomes(s.evolution).unwrap().len(), 5);
}
