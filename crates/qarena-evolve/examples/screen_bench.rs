//! Screening throughput: genomes per hour probe-screened (variant build +
//! probe) on a KataGo net, against a named reference run in the same
//! invocation: building and probing one hand recipe (uniform INT4 per
//! channel) the same way. With `--with-games`, a KataGo match (the net
//! against itself, 16 visits, one game at a time) plays during the screen,
//! as promotions to games would, and the games it finished are printed.
//! Then the same number of genomes is screened natively (in memory, by
//! qarena's own forward pass; `evolve run --screen native`), from the
//! calibrated gene space (GPTQ genes, calibration included in the time),
//! against the same reference run.
//!
//! ```text
//! cargo run --release -p qarena-evolve --example screen_bench -- KATAGO GTP_CFG NET [GENOMES] [--with-games]
//! ```
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use qarena_arena::{
    run_match, EngineConfig, MatchConfig, MatchRequest, Protocol, Quiet, RunStart, RunTag,
};

use qarena_evolve::{evolve, Budget, EvolveSettings, GeneSpace};
use qarena_probe::stored::probe_stored;
use qarena_probe::{AnyProbe, KataGoProbe, Probe};
use qarena_quant::{Granularity, QuantSpec, Scheme, Strategy};
use qarena_store::Store;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let with_games = args.iter().any(|a| a == "--with-games");
    args.retain(|a| a != "--with-games");
    if args.len() < 3 {
        eprintln!("usage: screen_bench KATAGO GTP_CFG NET [GENOMES] [--with-games]");
        std::process::exit(2);
    }
    let genomes: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(20);
    let net = Path::new(&args[2]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bench.sqlite")).unwrap();
    let probe = AnyProbe::KataGo(KataGoProbe::new(&args[0], &args[1]));
    let suite = qarena_probe::default_suite("go").unwrap();
    let stop = AtomicBool::new(false);

    // The reference run: one hand recipe built and probed (reference
    // evaluated once, as the loop does).
    let reference = probe.evaluate(net, &suite, &stop).unwrap();
    let t = Instant::now();
    let strategy = Strategy::uniform(
        QuantSpec::new(Scheme::Int {
            bits: 4,
            symmetric: true,
        })
        .with_granularity(Granularity::Channel),
    )
    .unwrap();
    let v = qarena_variant::build_variant(
        net,
        &strategy,
        &qarena_variant::BuildOptions {
            cache_dir: dir.path().join("ref-variants"),
            late_blocks: 2,
            force: false,
        },
        &|_, _| {},
    )
    .unwrap();
    probe_stored(
        &store,
        &probe,
        net,
        Some(&reference),
        &v.path,
        &suite,
        None,
        false,
        &stop,
    )
    .unwrap();
    let reference_s = t.elapsed().as_secs_f64();

    let settings = EvolveSettings {
        population: genomes,
        survivors: 4,
        generations: 1,
        patience: 1,
        collapse_floor: 0.0,
        ..EvolveSettings::new(
            "bench",
            net,
            Budget::BitsPerWeight(4.25),
            dir.path().join("variants"),
        )
    };
    let games_stop = Arc::new(AtomicBool::new(false));
    let games = with_games.then(|| {
        let engine = |name: &str| {
            let mut e = EngineConfig::from_command(
                name,
                &format!(
                    "{} gtp -model {{model}} -config {{config}} -override-config maxVisits=16,allowResignation=false",
                    args[0]
                ),
                Protocol::Gtp,
            );
            e.model = Some(qarena_arena::command::absolute(net));
            e.config = Some(qarena_arena::command::absolute(Path::new(&args[1])));
            e
        };
        let mut config = MatchConfig::new(engine("a"), engine("b"));
        config.games = 10_000;
        let request = MatchRequest {
            tag: RunTag::parse("bench-games").unwrap(),
            db: dir.path().join("bench.sqlite"),
            runs_dir: dir.path().join("runs"),
            config,
            argv: Vec::new(),
            start: RunStart::New,
            kind: qarena_store::RunKind::Match,
            variant_params: None,
            variants: [None, None],
            point_index: 0,
            shard: None,
            observer: Arc::new(Quiet),
        };
        let stop = games_stop.clone();
        std::thread::spawn(move || run_match(request, stop))
    });
    let t = Instant::now();
    let s = evolve(&store, &settings, &probe, &suite, &stop, &|_| {}).unwrap();
    let loop_s = t.elapsed().as_secs_f64();
    if let Some(h) = games {
        games_stop.store(true, Ordering::SeqCst);
        let summary = h.join().unwrap().unwrap();
        println!(
            "alongside: a KataGo match (16 visits) finished {} games during the screen",
            summary.tally.games()
        );
    }
    let per_hour = s.screened as f64 * 3600.0 / loop_s;
    let reference_per_hour = 3600.0 / reference_s;
    println!(
        "{} genomes screened in {loop_s:.1} s ({} positions, reference evaluated once, included): \
         {per_hour:.0} genomes/hour; reference run (uniform INT4 per channel built and probed) \
         {reference_s:.2} s = {reference_per_hour:.0}/hour; ratio {:.2}",
        s.screened,
        suite.len(),
        per_hour / reference_per_hour
    );

    let native = EvolveSettings {
        name: "bench-native".into(),
        space: GeneSpace::calibrated(),
        screen: qarena_evolve::ScreenKind::Native,
        ..settings
    };
    let t = Instant::now();
    let s = evolve(&store, &native, &probe, &suite, &stop, &|_| {}).unwrap();
    let native_s = t.elapsed().as_secs_f64();
    let native_per_hour = s.screened as f64 * 3600.0 / native_s;
    println!(
        "native screen, calibrated genes: {} genomes in {native_s:.1} s (calibration and the \
         original's evaluation included): {native_per_hour:.0} genomes/hour; ratio to the \
         reference run {:.2}",
        s.screened,
        native_per_hour / reference_per_hour
    );
}
