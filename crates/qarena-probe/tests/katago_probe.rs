//! The `katago-raw-nn` probe against the real KataGo. The binary comes from
//! `QARENA_KATAGO`; the net (`g170-b6c96.bin.gz`) and `gtp.cfg` sit next to it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use qarena_probe::{metric, probe, probe_against, KataGoProbe, Probe, ProbeError, Suite};
use qarena_variant::{build_variant, BuildOptions};

const SMALL: &str = "# qarena probe suite
game go
board_size 9
komi 7
rules koPOSITIONALscoreAREAtaxNONEsui0
positions 4
-
E5 C3
E5 C3 G7 D7 pass
C3 G7 E5 C7 G3 E7
";

#[test]
fn a_net_against_itself_differs_by_nothing() {
    let (bin, net, cfg) = common::katago();
    let suite = Suite::parse("small", SMALL).unwrap();
    let p = KataGoProbe::new(bin, cfg);
    let stop = AtomicBool::new(false);
    let report = probe(&p, &net, &net, &suite, true, &stop).unwrap();
    let c = &report.comparison;
    assert_eq!(report.probe, "katago-raw-nn");
    assert_eq!(c.primary_value(), Some(0.0));
    assert_eq!(metric(&c.metrics, "top1_agreement"), Some(1.0));
    assert_eq!(metric(&c.metrics, "dwinrate_max"), Some(0.0));
    assert_eq!(c.per_position.len(), 4);
    // The engine's cost: speed and peak memory, and their ratios to the
    // reference's (the same net here, so about 1).
    assert!(metric(&c.metrics, "positions_per_second").unwrap() > 0.0);
    let mib = metric(&c.metrics, "peak_rss_mib").unwrap();
    assert!(mib > 5.0 && mib < 4096.0, "{mib}");
    let memory = metric(&c.metrics, "memory_ratio").unwrap();
    assert!((0.5..2.0).contains(&memory), "{memory}");
    assert!(metric(&c.metrics, "cpu_seconds").unwrap() > 0.0);
    assert!(metric(&c.metrics, "speed_ratio").unwrap() > 0.0);
    let floor = report.noise_floor.unwrap();
    assert!(floor.primary_value().unwrap() > 0.0, "{floor:?}");

    let out = p.evaluate(&net, &suite, &stop).unwrap();
    // After E5 C3 Black is to move; two points are taken.
    let legal = out.positions[1].legal_policy(9);
    assert_eq!(legal.len(), 81 - 2 + 1);
    let sum: f64 = legal.iter().map(|(_, p)| p).sum();
    assert!((sum - 1.0).abs() < 1e-3, "{sum}");
    assert!(out
        .positions
        .iter()
        .all(|r| (0.0..=1.0).contains(&r.winrate)));
}

#[test]
fn errors_name_the_position() {
    let (bin, net, cfg) = common::katago();
    let p = KataGoProbe::new(bin, cfg);
    let stop = AtomicBool::new(false);
    let suite = Suite::parse("small", SMALL).unwrap();
    let mut bad = p.clone();
    bad.symmetry = 9;
    let e = bad.evaluate(&net, &suite, &stop).unwrap_err();
    assert!(e.to_string().contains("symmetry 9"), "{e}");
    // A stop request ends the evaluation.
    let stopped = AtomicBool::new(true);
    let e = p.evaluate(&net, &suite, &stopped).unwrap_err();
    assert!(matches!(e, ProbeError::Interrupted), "{e}");
    // A missing net: the engine exits, and the error says so.
    let e = p
        .evaluate(&net.with_file_name("no-such-net.bin.gz"), &suite, &stop)
        .unwrap_err();
    assert!(e.to_string().contains("probe-no-such-net.bin.gz"), "{e}");
}

/// Builds the variant of `net` that `strategies/<name>.toml` describes.
fn variant(net: &Path, name: &str, cache: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let strategy =
        qarena_quant::Strategy::from_file(root.join(format!("strategies/{name}.toml"))).unwrap();
    let opts = BuildOptions {
        cache_dir: cache.to_path_buf(),
        late_blocks: 2,
        force: false,
    };
    build_variant(net, &strategy, &opts, &|_, _| {})
        .unwrap()
        .path
}

#[test]
fn int4_per_channel_moves_the_policy_far_more_than_int8() {
    let (bin, net, cfg) = common::katago();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let suite = Suite::load(&root.join("suites/go9-default.suite")).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let int8 = variant(&net, "int8-channel", cache.path());
    let int4 = variant(&net, "int4-channel", cache.path());
    let p = KataGoProbe::new(bin, cfg);
    let stop = AtomicBool::new(false);
    let reference = p.evaluate(&net, &suite, &stop).unwrap();
    let r8 = probe_against(&p, &reference, &int8, &suite, &stop).unwrap();
    let r4 = probe_against(&p, &reference, &int4, &suite, &stop).unwrap();
    let kl8 = r8.comparison.primary_value().unwrap();
    let kl4 = r4.comparison.primary_value().unwrap();
    eprintln!("kl_mean: int8 {kl8:.4}, int4 per channel {kl4:.4}");
    // About 0.002 and 0.7-1.0 nats on this suite.
    assert!(kl8 > 0.0 && kl8 < 0.01, "int8 {kl8}");
    assert!(kl4 > 20.0 * kl8 && kl4 > 0.3, "int4 {kl4} vs int8 {kl8}");
    let top1 =
        |r: &qarena_probe::ProbeReport| metric(&r.comparison.metrics, "top1_agreement").unwrap();
    assert!(top1(&r4) < top1(&r8), "{} vs {}", top1(&r4), top1(&r8));
    assert_eq!(r4.positions, suite.len());
    assert_eq!(r4.comparison.per_position.len(), suite.len());
    // The 16-bit casts: KataGo loads them, and they move the policy far
    // less than int8 (half precision least: 11 significant bits to 8).
    let fp16 = variant(&net, "fp16", cache.path());
    let bf16 = variant(&net, "bf16", cache.path());
    let kl_fp16 = probe_against(&p, &reference, &fp16, &suite, &stop)
        .unwrap()
        .comparison
        .primary_value()
        .unwrap();
    let kl_bf16 = probe_against(&p, &reference, &bf16, &suite, &stop)
        .unwrap()
        .comparison
        .primary_value()
        .unwrap();
    eprintln!("kl_mean: fp16 {kl_fp16:.6}, bf16 {kl_bf16:.6}");
    assert!(
        kl_fp16 < kl_bf16 && kl_bf16 < kl8,
        "fp16 {kl_fp16} bf16 {kl_bf16} int8 {kl8}"
    );
}
