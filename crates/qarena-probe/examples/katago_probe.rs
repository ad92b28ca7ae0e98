//! Probes KataGo variants against their reference on a suite and prints one
//! row per variant, the noise floor last.
//!
//! ```text
//! cargo run -p qarena-probe --example katago_probe -- KATAGO CONFIG SUITE REFERENCE [VARIANT...]
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;
use std::time::Instant;

use qarena_probe::{metric, probe_against, Comparison, KataGoProbe, Probe, Suite};

fn row(name: &str, c: &Comparison, seconds: f64) {
    let m = |k: &str| metric(&c.metrics, k).unwrap_or(f64::NAN);
    println!(
        "| {name} | {:.4} | {:.3} | {:.3} | {:.1} | {:.1} | {:.4} | {:.2} | {seconds:.2} |",
        m("kl_mean"),
        m("kl_median"),
        m("kl_p99"),
        100.0 * m("top1_agreement"),
        100.0 * m("top5_overlap"),
        m("dwinrate_mean"),
        m("dlead_mean"),
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        eprintln!("usage: katago_probe KATAGO CONFIG SUITE REFERENCE [VARIANT...]");
        std::process::exit(2);
    }
    let p = KataGoProbe::new(&args[0], &args[1]);
    let stop = qarena_engine::install_shutdown_flag();
    let fail = |e: qarena_probe::ProbeError| -> ! {
        eprintln!("error: {e}");
        std::process::exit(3)
    };
    let suite = Suite::load(Path::new(&args[2])).unwrap_or_else(|e| fail(e));
    let reference = Path::new(&args[3]);
    let t0 = Instant::now();
    let ref_out = p
        .evaluate(reference, &suite, &stop)
        .unwrap_or_else(|e| fail(e));
    println!(
        "reference: {} positions, {:.2} s wall (engine start included), {:.2} s first to last answer",
        suite.len(),
        t0.elapsed().as_secs_f64(),
        ref_out.answer_seconds
    );
    println!(
        "| variant | KL mean | KL median | KL p99 | top-1 % | top-5 % | abs dWR | abs dLead | s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for v in &args[4..] {
        let r =
            probe_against(&p, &ref_out, Path::new(v), &suite, &stop).unwrap_or_else(|e| fail(e));
        let name = Path::new(v)
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        row(&name, &r.comparison, r.seconds);
    }
    let t1 = Instant::now();
    if let Some(floor) = p
        .noise_floor(reference, &suite, &stop)
        .unwrap_or_else(|e| fail(e))
    {
        row(
            &format!(
                "noise floor (symmetry {:?} vs {})",
                p.noise_symmetries, p.symmetry
            ),
            &floor,
            t1.elapsed().as_secs_f64(),
        );
    }
}
