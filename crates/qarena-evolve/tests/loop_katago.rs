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

use qarena_evolve::{evolve, Budget, EvolveSettings};
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
        population: 4,
        survivors: 2,
        generations: 2,
        patience: 5,
        collapse_floor: 0.0,
        ..EvolveSettings::new(
            "t",
            net,
            Budget::BitsPerWeight(4.25),
            dir.path().join("variants"),
        )
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

/// The native screen quantizes in memory and evaluates with qarena's own
/// forward pass: its figures are the engine probe's for the same variant,
/// an evolution screened natively stores them (and reads them back on
/// resume instead of screening again), and models it cannot evaluate are
/// refused with the way out named.
#[test]
fn the_native_screen_gives_the_engine_probes_figures_and_resumes() {
    use qarena_evolve::native::evaluable;
    use qarena_evolve::{NativeOutcome, NativeScreen, ScreenKind};
    use qarena_probe::stored::probe_stored;
    use qarena_probe::Probe;

    let (bin, net, cfg) = katago();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("n.sqlite")).unwrap();
    let probe = AnyProbe::KataGo(KataGoProbe::new(&bin, &cfg));
    let suite = qarena_probe::default_suite("go")
        .unwrap()
        .subset("screen", |i| i < 30)
        .unwrap();
    let stop = AtomicBool::new(false);
    assert!(evaluable(&net));
    let native = NativeScreen::new(&net, &suite).unwrap();
    assert_eq!(native.positions(), 30);
    let reference = probe.evaluate(&net, &suite, &stop).unwrap();
    let model = qarena_models::Model::load(&net).unwrap();
    let calibration = qarena_probe::native::calibrate(
        &model,
        &qarena_probe::calibration_suite("go").unwrap(),
        &qarena_probe::native::CalibrationSettings {
            positions: Some(64),
            ..Default::default()
        },
        &mut |_, _| {},
    )
    .unwrap();
    for text in [
        "[default]\nscheme = \"uint4\"\ngranularity = \"group:64\"\nclip = \"mse\"\n",
        "[[rule]]\nrole = \"stem\"\nscheme = \"int3\"\n[default]\nscheme = \"nf4\"\n",
        "[default]\nscheme = \"uint3\"\ngranularity = \"group:64\"\nrounding = \"error_compensating\"\n",
    ] {
        let s = qarena_quant::Strategy::parse(text, "s").unwrap();
        let cal = qarena_variant::needs_calibration(&s).then_some(&calibration);
        let NativeOutcome::Compared(c) = native.screen(&s, cal).unwrap() else {
            panic!("{text} did not build");
        };
        // Twice: the second time from the tensor cache, the same figures.
        let NativeOutcome::Compared(again) = native.screen(&s, cal).unwrap() else {
            panic!("{text} did not build");
        };
        assert_eq!(c.metrics, again.metrics);
        let v = qarena_variant::build_variant_calibrated(
            &net,
            &s,
            &qarena_variant::BuildOptions {
                cache_dir: dir.path().join("variants"),
                late_blocks: 2,
                force: false,
            },
            cal,
            &|_, _| {},
        )
        .unwrap();
        let engine = probe_stored(
            &store,
            &probe,
            &net,
            Some(&reference),
            &v.path,
            &suite,
            None,
            false,
            &stop,
        )
        .unwrap();
        for m in ["kl_mean", "top1_agreement", "dwinrate_mean", "value_kl_mean"] {
            let (a, b) = (
                qarena_probe::metric(&c.metrics, m).unwrap(),
                qarena_probe::metric(&engine.report.comparison.metrics, m).unwrap(),
            );
            println!("{m}: native {a:.6}, engine {b:.6}");
            assert!((a - b).abs() <= 1e-4 + 1e-3 * b.abs(), "{m}: {a} vs {b}");
        }
    }

    // An evolution screened natively: figures stored under the native
    // probe's name, no variant written, nothing screened twice on resume.
    // A hand recipe (a default, a rule over two roles) enters generation 0
    // whole.
    let hand = qarena_quant::Strategy::parse(
        "name = \"hand\"\n\
         [[rule]]\nbiases = true\nscheme = \"fp16\"\n\
         [[rule]]\nrole = [\"policy_head\", \"value_head\"]\nscheme = \"int8\"\n\
         [default]\nscheme = \"int4\"\nclip = \"mse\"\n",
        "hand",
    )
    .unwrap();
    let settings = EvolveSettings {
        seed: 2,
        population: 6,
        survivors: 3,
        generations: 2,
        patience: 5,
        collapse_floor: 0.0,
        screen: ScreenKind::Native,
        entrants: vec![hand.clone()],
        ..EvolveSettings::new(
            "native",
            net.clone(),
            Budget::BitsPerWeight(4.25),
            dir.path().join("native-variants"),
        )
    };
    let s = evolve(&store, &settings, &probe, &suite, &stop, &|_| {}).unwrap();
    let genomes = store.genomes(s.evolution).unwrap();
    assert!(genomes.len() >= 8, "{}", genomes.len());
    assert!(!s.best.is_empty());
    assert!(s.best.iter().all(|g| g.probe.is_some()
        && g.quality.is_some_and(f64::is_finite)
        && g.speed_ratio.is_none()));
    assert!(!dir.path().join("native-variants").exists());
    let entered: Vec<_> = genomes
        .iter()
        .filter(|g| g.genome.operator == "entrant")
        .collect();
    assert_eq!(entered.len(), 1);
    assert_eq!(entered[0].genome.generation, 0);
    assert!(
        entered[0].quality.is_some_and(f64::is_finite),
        "{entered:?}"
    );
    let catalogue = qarena_models::Model::load(&net)
        .unwrap()
        .catalogue()
        .to_vec();
    let as_stored = qarena_quant::Strategy::parse(&entered[0].genome.strategy_toml, "e").unwrap();
    assert_eq!(
        qarena_quant::plan(&catalogue, &as_stored),
        qarena_quant::plan(&catalogue, &hand)
    );
    // An entrant over the budget is refused before anything is screened,
    // by name and cost.
    let wide =
        qarena_quant::Strategy::parse("name = \"wide\"\n[default]\nscheme = \"int8\"\n", "wide")
            .unwrap();
    let over = EvolveSettings {
        name: "over".into(),
        entrants: vec![wide],
        ..settings.clone()
    };
    let e = evolve(&store, &over, &probe, &suite, &stop, &|_| {}).unwrap_err();
    assert!(
        e.to_string().contains("entrant 'wide'") && e.to_string().contains("over the budget"),
        "{e}"
    );
    // Each survivor's figures are a stored probe of its variant's id.
    let sha = qarena_models::sha256_file(&net).unwrap();
    let stored_native = |store: &Store| {
        s.best
            .iter()
            .map(|g| {
                let strategy = qarena_quant::Strategy::parse(&g.genome.strategy_toml, "g").unwrap();
                let id = qarena_variant::variant_id(&sha, &strategy, 2);
                let recs = store.probes_of_subject(&format!("variant:{id}")).unwrap();
                assert_eq!(recs.len(), 1, "{id}");
                assert_eq!(recs[0].key.probe, qarena_evolve::evolve::NATIVE_PROBE);
                assert_eq!(Some(recs[0].id), g.probe);
                recs[0].id
            })
            .collect::<Vec<_>>()
    };
    let first = stored_native(&store);
    let again = evolve(&store, &settings, &probe, &suite, &stop, &|_| {}).unwrap();
    assert_eq!(again.evolution, s.evolution);
    assert_eq!(store.genomes(s.evolution).unwrap().len(), genomes.len());
    assert_eq!(stored_native(&store), first);
    // A resume without the entrants would make another generation 0.
    let without = EvolveSettings {
        entrants: Vec::new(),
        ..settings.clone()
    };
    let e = evolve(&store, &without, &probe, &suite, &stop, &|_| {}).unwrap_err();
    assert!(e.to_string().contains("same --entrant files"), "{e}");
    assert_eq!(store.genomes(s.evolution).unwrap().len(), genomes.len());

    // Not a KataGo net: refused, the engine screen named.
    let bogus = dir.path().join("not-a-net.bin.gz");
    std::fs::write(&bogus, b"nothing").unwrap();
    assert!(!evaluable(&bogus));
    let e = NativeScreen::new(&bogus, &suite).unwrap_err().to_string();
    assert!(e.contains("not-a-net"), "{e}");
}

#[test]
fn policy_regret_is_zero_for_the_original_and_grows_with_damage() {
    use qarena_evolve::{NativeOutcome, NativeScreen};
    use qarena_probe::metric;

    let (bin, net, cfg) = katago();
    let suite = qarena_probe::default_suite("go")
        .unwrap()
        .subset("screen", |i| i < 24)
        .unwrap();
    let plain = NativeScreen::new(&net, &suite).unwrap();
    assert!(!plain.measures_regret());
    let native = plain.with_regret(&suite).unwrap();
    // Its probes are keyed apart from a plain screen's (their figures
    // differ by the regret).
    assert!(native.measures_regret());
    let regrets = |text: &str| {
        let s = qarena_quant::Strategy::parse(text, "s").unwrap();
        let NativeOutcome::Compared(c) = native.screen(&s, None).unwrap() else {
            panic!("{text} did not build");
        };
        (
            metric(&c.metrics, "policy_regret").unwrap(),
            metric(&c.metrics, "top1_regret").unwrap(),
        )
    };
    let regret = |text: &str| regrets(text).0;
    // The original net's policy against itself: no excess at all, and its
    // top moves are its own.
    assert_eq!(regrets("[default]\nscheme = \"keep\"\n"), (0.0, 0.0));
    // 2-bit codes change top moves, and the original judges the new ones
    // worse.
    let (_, top1_int2) = regrets("[default]\nscheme = \"uint2\"\ngranularity = \"group:64\"\n");
    assert!(top1_int2 > 0.02, "int2 top-move regret {top1_int2}");
    // int8 barely moves the policy; 2-bit codes spread it over worse moves.
    let int8 = regret("[default]\nscheme = \"int8\"\ngranularity = \"channel\"\n");
    let int2 = regret("[default]\nscheme = \"uint2\"\ngranularity = \"group:64\"\n");
    assert!(int8.abs() < 0.005, "int8 {int8}");
    assert!(
        int2 > 0.02 && int2 > 5.0 * int8.abs(),
        "int2 {int2}, int8 {int8}"
    );

    // The engine screen cannot measure it, and says so before any genome.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("r.sqlite")).unwrap();
    let probe = AnyProbe::KataGo(KataGoProbe::new(&bin, &cfg));
    let settings = EvolveSettings {
        population: 2,
        survivors: 1,
        generations: 1,
        patience: 1,
        collapse_floor: 0.0,
        regret_weight: 1.0,
        ..EvolveSettings::new(
            "regret-engine",
            net.clone(),
            Budget::BitsPerWeight(4.5),
            dir.path().join("variants"),
        )
    };
    let stop = AtomicBool::new(false);
    let e = evolve(&store, &settings, &probe, &suite, &stop, &|_| {}).unwrap_err();
    assert!(e.to_string().contains("native screen only"), "{e}");
}
