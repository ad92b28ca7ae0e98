//! Positions per second of qarena's KataGo forward pass against KataGo's
//! own Eigen backend, both on one thread, in one run.
//!
//! ```text
//! cargo run --release -p qarena-probe --example katago_forward_bench -- \
//!     KATAGO NET CONFIG [SUITE]
//! ```
//!
//! - **KataGo** (the reference): `kata-raw-nn` over the suite in one GTP
//!   process with `numEigenThreadsPerModel = 1`, once with one symmetry
//!   per position and once with all eight; the difference of the two
//!   answer times over 7 × positions is the time of one evaluation, with
//!   the engine's start and the replay of each position's moves taken out
//!   (its features, net and post-processing and the printing remain).
//! - **qarena**: features ([`qarena_go::v7_inputs`]) plus the forward pass
//!   and post-processing of [`qarena_models::katago_net`], one position at
//!   a time (batch 1, as `kata-raw-nn`), with `RAYON_NUM_THREADS=1`; and in
//!   batches of 64 for calibration.
//!
//! Prints positions per second for each and qarena's figure as a ratio of
//! KataGo's.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use qarena_models::katago_net::KataNet;
use qarena_models::Model;
use qarena_probe::{native, KataGoProbe, Suite};

fn main() {
    // One thread for the matrix products (read by candle's thread pool).
    std::env::set_var("RAYON_NUM_THREADS", "1");
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: katago_forward_bench KATAGO NET CONFIG [SUITE]");
        std::process::exit(2);
    }
    let (katago, net, config) = (&args[0], PathBuf::from(&args[1]), &args[2]);
    let suite = match args.get(3) {
        Some(p) => Suite::load(&PathBuf::from(p)).unwrap(),
        None => qarena_probe::default_suite("go").unwrap(),
    };
    let n = suite.len() as f64;

    let probe = KataGoProbe::new(katago, config);
    let stop = AtomicBool::new(false);
    let one = probe
        .evaluate_symmetries(&net, &suite, &[0], &stop)
        .unwrap();
    let all: Vec<u8> = (0..8).collect();
    let eight = probe
        .evaluate_symmetries(&net, &suite, &all, &stop)
        .unwrap();
    let per_eval = (eight[0].answer_seconds - one[0].answer_seconds) / (7.0 * n);
    let katago_rate = 1.0 / per_eval;

    let model = Model::load(&net).unwrap();
    let knet = KataNet::from_model(&model).unwrap();
    // Warm up, then time features + forward + post-processing per position.
    let _ = native::evaluate(&model, &suite, 0).unwrap();
    let rounds = 3;
    let t = Instant::now();
    for _ in 0..rounds {
        let inputs = native::suite_inputs(&suite).unwrap();
        for inp in &inputs {
            let _ = knet.evaluate(std::slice::from_ref(inp), 0).unwrap();
        }
    }
    let ours_rate = rounds as f64 * n / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for _ in 0..rounds {
        let inputs = native::suite_inputs(&suite).unwrap();
        let _ = native::evaluate_inputs(&knet, &inputs, 0, Instant::now()).unwrap();
    }
    let batched_rate = rounds as f64 * n / t.elapsed().as_secs_f64();

    println!(
        "suite {} ({} positions), one thread each",
        suite.name,
        suite.len()
    );
    println!("katago kata-raw-nn (Eigen), reference : {katago_rate:>8.0} positions/s");
    println!(
        "qarena forward pass, batch 1          : {ours_rate:>8.0} positions/s  = {:.2} x katago",
        ours_rate / katago_rate
    );
    println!(
        "qarena forward pass, batch 64         : {batched_rate:>8.0} positions/s  = {:.2} x katago",
        batched_rate / katago_rate
    );
}
