//! Makes a 9×9 Go suite by KataGo self-play (see `qarena_probe::go_suites`).
//!
//! ```text
//! cargo run -p qarena-probe --example go_suite -- KATAGO NET CONFIG OUT [POSITIONS] [SEED]
//! ```
//!
//! Prints a comment block (games, how they ended, move numbers) to paste
//! under the suite's first line.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;

use qarena_probe::go_suites::{GameEnd, SelfPlay};
use qarena_probe::{GoSetup, Positions};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        eprintln!("usage: go_suite KATAGO NET CONFIG OUT [POSITIONS] [SEED]");
        std::process::exit(2);
    }
    let positions: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(200);
    let seed: u64 = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(1);
    let mut sp = SelfPlay::new(&args[0], &args[1], &args[2]);
    sp.seed = seed;
    let setup = GoSetup {
        rules: "koPOSITIONALscoreAREAtaxNONEsui0".to_string(),
        ..GoSetup::default()
    };
    let out = PathBuf::from(&args[3]);
    let name = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stop = qarena_engine::install_shutdown_flag();
    let t0 = std::time::Instant::now();
    let made = match sp.suite(&name, setup, positions, &stop) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(3);
        }
    };
    if let Err(e) = made.suite.save(&out) {
        eprintln!("error: {e}");
        std::process::exit(4);
    }
    let (mut passes, mut resigns, mut caps) = (0, 0, 0);
    for g in &made.games {
        match g.end {
            GameEnd::TwoPasses => passes += 1,
            GameEnd::Resigned(_) => resigns += 1,
            GameEnd::MoveCap => caps += 1,
        }
    }
    let Positions::Go { lines, .. } = made.suite.positions() else {
        return;
    };
    let lens: Vec<usize> = lines.iter().map(Vec::len).collect();
    let mean = lens.iter().sum::<usize>() as f64 / lens.len().max(1) as f64;
    println!(
        "# {} games ({resigns} resigned, {passes} two passes, {caps} move cap), \
         {} positions, move number mean {mean:.1}, range {}-{}; {:.1} s",
        made.games.len(),
        lens.len(),
        lens.iter().min().unwrap_or(&0),
        lens.iter().max().unwrap_or(&0),
        t0.elapsed().as_secs_f64()
    );
}
