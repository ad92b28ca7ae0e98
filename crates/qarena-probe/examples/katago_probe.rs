//! Probes KataGo variants against their reference on a suite and prints one
//! row per variant, the noise floor last; then the benchmark: one probe of
//! the reference (engine start included) against KataGo given the same
//! commands in one go, median of 3, and their ratio.
//!
//! ```text
//! cargo run -p qarena-probe --example katago_probe -- KATAGO CONFIG SUITE REFERENCE [VARIANT...]
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;
use std::time::{Duration, Instant};

use qarena_engine::{run_to_completion, Input, RunSpec};

use qarena_probe::{metric, probe_against, Comparison, KataGoProbe, Positions, Probe, Suite};

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
    bench(&p, &args[0], &args[1], reference, &suite, &stop);
}

/// The probe's wall time on one net against KataGo's own time for the
/// same commands piped in at once.
fn bench(
    p: &KataGoProbe,
    katago: &str,
    config: &str,
    net: &Path,
    suite: &Suite,
    stop: &std::sync::atomic::AtomicBool,
) {
    const REPEATS: usize = 3;
    let Positions::Go { setup, lines } = suite.positions() else {
        return;
    };
    let mut input = format!(
        "boardsize {}\nkomi {}\nkata-set-rules {}\n",
        setup.board_size, setup.komi, setup.rules
    );
    for moves in lines {
        input.push_str("clear_board\n");
        for (i, mv) in moves.iter().enumerate() {
            let colour = if i % 2 == 0 { "B" } else { "W" };
            let v = qarena_go::format_vertex(*mv, setup.board_size);
            input.push_str(&format!("play {colour} {v}\n"));
        }
        input.push_str(&format!("kata-raw-nn {}\n", p.symmetry));
    }
    input.push_str("quit\n");
    let med = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let probe_s = med((0..REPEATS)
        .map(|_| {
            let t = Instant::now();
            let _ = p.evaluate(net, suite, stop);
            t.elapsed().as_secs_f64()
        })
        .collect());
    let own_s = med((0..REPEATS)
        .map(|_| {
            let mut spec = RunSpec::new(
                "katago-alone",
                vec![
                    katago.to_string(),
                    "gtp".into(),
                    "-model".into(),
                    net.display().to_string(),
                    "-config".into(),
                    config.to_string(),
                ],
                Duration::from_secs(120),
            );
            spec.stdin = Input::Bytes(input.clone().into_bytes());
            let t = Instant::now();
            let _ = run_to_completion(&spec, stop);
            t.elapsed().as_secs_f64()
        })
        .collect());
    println!(
        "\nbenchmark, one net on {} positions, median of {REPEATS}: probe {probe_s:.3} s \
         (engine start included); KataGo alone on the same commands {own_s:.3} s; ratio {:.2}",
        suite.len(),
        probe_s / own_s
    );
}
