//! Screening throughput: genomes per hour probe-screened (variant build +
//! probe) on a KataGo net, against a named reference run in the same
//! invocation: building and probing one hand recipe (uniform INT4 per
//! channel) the same way.
//!
//! ```text
//! cargo run --release -p qarena-evolve --example screen_bench -- KATAGO GTP_CFG NET [GENOMES]
//! ```
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use qarena_evolve::{evolve, Budget, EvolveSettings, GeneSpace};
use qarena_probe::stored::probe_stored;
use qarena_probe::{AnyProbe, KataGoProbe, Probe};
use qarena_quant::{Granularity, QuantSpec, Scheme, Strategy};
use qarena_store::Store;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: screen_bench KATAGO GTP_CFG NET [GENOMES]");
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
        name: "bench".into(),
        model: net.to_path_buf(),
        budget: Budget::BitsPerWeight(4.25),
        seed: 1,
        population: genomes,
        survivors: 4,
        generations: 1,
        patience: 1,
        collapse_floor: 0.0,
        cache_dir: dir.path().join("variants"),
        space: GeneSpace::default(),
        limits: qarena_evolve::Limits::default(),
    };
    let t = Instant::now();
    let s = evolve(&store, &settings, &probe, &suite, &stop, &|_| {}).unwrap();
    let loop_s = t.elapsed().as_secs_f64();
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
}
