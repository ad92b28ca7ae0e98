//! Round-to-nearest against GPTQ on a KataGo net, scored by qarena's own
//! forward pass (policy KL against the original on an evaluation suite).
//!
//! ```text
//! cargo run --release -p qarena-probe --example katago_gptq -- \
//!     NET CALIB.suite EVAL.suite STRATEGY.toml... [--positions N] [--damp D] [--sequential yes] [--rounding activation_aware]
//! ```
//!
//! Each strategy is built twice: as written with `rounding = "nearest"`
//! and with every rule's rounding set to error-compensating. With
//! `KEEP_VARIANTS=DIR` the built variants are kept there.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Instant;

use qarena_models::Model;
use qarena_probe::katago::compare_outputs;
use qarena_probe::native::{self, CalibrationSettings};
use qarena_probe::{metric, Suite};
use qarena_quant::Strategy;
use qarena_variant::{build_variant_calibrated, BuildOptions};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut settings = CalibrationSettings::default();
    let mut take = |flag: &str| {
        let i = args.iter().position(|a| a == flag)?;
        let v = args.get(i + 1).cloned();
        args.drain(i..(i + 2).min(args.len()));
        v
    };
    if let Some(n) = take("--positions") {
        settings.positions = Some(n.parse().unwrap());
    }
    if let Some(d) = take("--damp") {
        settings.damp = d.parse().unwrap();
    }
    let sequential = take("--sequential").is_some();
    let rounding = take("--rounding").unwrap_or_else(|| "error_compensating".into());
    if args.len() < 4 {
        eprintln!("usage: katago_gptq NET CALIB.suite EVAL.suite STRATEGY.toml... [--positions N] [--damp D] [--sequential yes] [--rounding activation_aware]");
        std::process::exit(2);
    }
    let net = PathBuf::from(&args[0]);
    let calib = Suite::load(&PathBuf::from(&args[1])).unwrap();
    let eval = Suite::load(&PathBuf::from(&args[2])).unwrap();
    let model = Model::load(&net).unwrap();
    let t = Instant::now();
    let cal = native::calibrate(&model, &calib, &settings, &mut |_, _| {}).unwrap();
    println!(
        "calibration: {} positions of {} in {:.2} s",
        cal.facts.samples,
        calib.name,
        t.elapsed().as_secs_f64()
    );
    let reference = native::evaluate(&model, &eval, 0).unwrap();
    let cache = std::env::temp_dir().join(format!("katago-gptq-{}", std::process::id()));
    let opts = BuildOptions {
        cache_dir: cache.clone(),
        late_blocks: 2,
        force: true,
    };
    println!(
        "{:<34} {:>6} {:>18} {:>8} {:>6} {:>7} {:>7} {:>7}",
        "strategy", "bits", "rounding", "kl_mean", "top1", "dwin", "dlead", "build s"
    );
    for path in &args[3..] {
        let text = std::fs::read_to_string(path).unwrap();
        for ec in [false, true] {
            let text = if ec {
                compensating(&text, &rounding)
            } else {
                text.clone()
            };
            let s = Strategy::parse(&text, path).unwrap();
            let t = Instant::now();
            let seq;
            let cal = if ec && sequential {
                seq = native::calibrate_sequential(&model, &calib, &s, &settings, &mut |_, _| {})
                    .unwrap();
                &seq
            } else {
                &cal
            };
            let v = build_variant_calibrated(&net, &s, &opts, Some(cal), &|_, _| {}).unwrap();
            let secs = t.elapsed().as_secs_f64();
            let vm = Model::load(&v.path).unwrap();
            let out = native::evaluate(&vm, &eval, 0).unwrap();
            let c = compare_outputs(&reference, &out).unwrap();
            println!(
                "{:<34} {:>6.3} {:>18} {:>8.4} {:>6.3} {:>7.4} {:>7.3} {:>7.2}",
                s.name(),
                v.manifest.total.effective_bits,
                if ec { rounding.as_str() } else { "nearest" },
                c.primary_value().unwrap_or(f64::NAN),
                metric(&c.metrics, "top1_agreement").unwrap_or(f64::NAN),
                metric(&c.metrics, "dwinrate_mean").unwrap_or(f64::NAN),
                metric(&c.metrics, "dlead_mean").unwrap_or(f64::NAN),
                secs
            );
        }
    }
    match std::env::var_os("KEEP_VARIANTS") {
        Some(dir) => {
            let _ = std::fs::rename(&cache, &dir);
            println!("variants kept in {}", PathBuf::from(dir).display());
        }
        None => {
            let _ = std::fs::remove_dir_all(cache);
        }
    }
}

/// Every rule (and the default) that quantizes gets error-compensating
/// rounding.
fn compensating(text: &str, rounding: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("rounding") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        let t = line.trim_start();
        if t.starts_with("scheme") && !t.contains("\"keep\"") {
            out.push_str(&format!("rounding = \"{rounding}\"\n"));
        }
    }
    out
}
