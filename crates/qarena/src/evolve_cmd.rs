//! `qarena evolve`: survival tournaments of quantization strategies.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::{Args, Subcommand};
use qarena_evolve::{evolve, export_best, Budget, EvolveError, EvolveSettings, GeneSpace};
use qarena_probe::{AnyProbe, Suite};
use qarena_store::Store;

use crate::cli::DbArgs;
use crate::probe_cmd::EngineArgs;
use crate::{CliResult, Exit};

#[derive(Debug, Subcommand)]
pub enum EvolveCommand {
    /// Evolve strategies for a model under a budget: every genome is built,
    /// probed on the screening suite and stored (dead ones too); the best
    /// survive and breed. Ctrl-C stops; the same command resumes.
    ///
    /// Example:
    ///   qarena evolve run g170-b6c96.bin.gz --max-bits 4.25 --generations 20
    Run(EvolveRunArgs),
    /// Write the best surviving strategy (within --max-bits) as TOML.
    ///
    /// Example:
    ///   qarena evolve export --name katago --max-bits 4.25 -o best.toml
    Export(EvolveExportArgs),
}

#[derive(Debug, Args)]
pub struct EvolveRunArgs {
    /// The model to quantize.
    pub model: PathBuf,
    /// Budget: effective bits per weight over the whole model.
    #[arg(long)]
    pub max_bits: f64,
    /// Name of the evolution (with --seed, its key in the database).
    #[arg(long, default_value = "evolve")]
    pub name: String,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Genomes per generation.
    #[arg(long, default_value_t = 16)]
    pub population: usize,
    /// Best genomes kept as parents.
    #[arg(long, default_value_t = 6)]
    pub survivors: usize,
    #[arg(long, default_value_t = 10)]
    pub generations: usize,
    /// Stop after this many generations without a better genome.
    #[arg(long, default_value_t = 4)]
    pub patience: usize,
    /// A genome whose agreement with the original (Go: top-1; chess: sign)
    /// is below this has collapsed and dies.
    #[arg(long, default_value_t = 0.2)]
    pub collapse_floor: f64,
    /// Screening suite (default: the even positions of the shipped suite;
    /// the odd ones stay unseen for independent checks).
    #[arg(long)]
    pub suite: Option<PathBuf>,
    #[arg(long, default_value = "variants")]
    pub cache: PathBuf,
    #[command(flatten)]
    pub engines: EngineArgs,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct EvolveExportArgs {
    #[arg(long, default_value = "evolve")]
    pub name: String,
    /// The evolution's seed (default: the best over every seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Only genomes within this many bits per weight.
    #[arg(long)]
    pub max_bits: Option<f64>,
    #[arg(long, short)]
    pub output: PathBuf,
    #[command(flatten)]
    pub db: DbArgs,
}

pub fn run(c: EvolveCommand) -> CliResult {
    match c {
        EvolveCommand::Run(a) => run_evolution(a),
        EvolveCommand::Export(a) => export(a),
    }
}

fn evolve_exit(e: EvolveError) -> Exit {
    match e {
        EvolveError::Store(s) => s.into(),
        EvolveError::Reference(p) => Exit::engine(p),
        EvolveError::Variant(v) => Exit::storage(v),
        other => Exit::input(other),
    }
}

/// The even positions of a suite: the screening half (the odd ones stay
/// unseen for independent checks).
fn screening_half(suite: &Suite) -> Result<Suite, Exit> {
    suite
        .subset(&format!("{}-even", suite.name), |i| i % 2 == 0)
        .map_err(Exit::input)
}

fn run_evolution(a: EvolveRunArgs) -> CliResult {
    if !a.model.is_file() {
        return Err(Exit::input(anyhow!(
            "model {} does not exist",
            a.model.display()
        )));
    }
    if a.max_bits.is_nan() || a.max_bits <= 0.0 {
        return Err(Exit::input(anyhow!("--max-bits must be positive")));
    }
    let probe = AnyProbe::for_model(&a.model, &a.engines.resolve()).map_err(Exit::input)?;
    let suite = match &a.suite {
        Some(p) => Suite::load(p).map_err(Exit::input)?,
        None => screening_half(&probe.default_suite().map_err(Exit::input)?)?,
    };
    let store = Store::open(&a.db.db)?;
    let settings = EvolveSettings {
        name: a.name.clone(),
        model: a.model.clone(),
        budget: Budget::BitsPerWeight(a.max_bits),
        seed: a.seed,
        population: a.population.max(1),
        survivors: a.survivors.max(1),
        generations: a.generations,
        patience: a.patience.max(1),
        collapse_floor: a.collapse_floor,
        cache_dir: a.cache.clone(),
        space: GeneSpace::default(),
    };
    let stop = qarena_engine::install_shutdown_flag();
    eprintln!(
        "evolve {} (seed {}): {} under {} bits/w, screening on {} ({} positions)",
        a.name,
        a.seed,
        a.model.display(),
        a.max_bits,
        suite.name,
        suite.len()
    );
    let s = evolve(&store, &settings, &probe, &suite, &stop, &|line| {
        eprintln!("{line}")
    })
    .map_err(evolve_exit)?;
    println!(
        "evolution {} seed {}: {} generations, {} genomes screened, {} died{}",
        a.name,
        a.seed,
        s.generations,
        s.screened,
        s.failed,
        if s.stopped {
            " (stopped; run the same command to resume)"
        } else {
            ""
        }
    );
    println!(
        "{:<6} {:>8} {:>12}  operator",
        "genome", "bits/w", "quality"
    );
    for g in s.best.iter().take(10) {
        println!(
            "{:<6} {:>8.3} {:>12.4}  {}",
            g.id.0,
            g.genome.bits_per_weight,
            g.quality.unwrap_or(f64::NAN),
            g.genome.operator
        );
    }
    Ok(())
}

fn export(a: EvolveExportArgs) -> CliResult {
    if !a.db.db.is_file() {
        return Err(Exit::input(anyhow!(
            "database {} does not exist",
            a.db.db.display()
        )));
    }
    let store = Store::open(&a.db.db)?;
    let mut best = None;
    for ev in store
        .evolutions()?
        .into_iter()
        .filter(|e| e.name == a.name && a.seed.is_none_or(|s| e.seed == s as i64))
    {
        if let Some(g) = export_best(&store, ev.id, a.max_bits).map_err(evolve_exit)? {
            let better = match &best {
                Some((q, _)) => g.quality.unwrap_or(f64::INFINITY) < *q,
                None => true,
            };
            if better {
                best = Some((g.quality.unwrap_or(f64::INFINITY), g));
            }
        }
    }
    let Some((quality, g)) = best else {
        return Err(Exit::input(anyhow!(
            "no surviving genome of evolution '{}'{} in {}",
            a.name,
            a.max_bits
                .map(|b| format!(" within {b} bits/w"))
                .unwrap_or_default(),
            a.db.db.display()
        )));
    };
    let text = format!(
        "# Evolved by qarena evolve ({}): genome {}, {:.4} bits/w, screening quality {quality:.4}\n{}",
        a.name, g.id.0, g.genome.bits_per_weight, g.genome.strategy_toml
    );
    fs_err::write(&a.output, text).map_err(Exit::storage)?;
    println!(
        "{}: genome {} ({:.4} bits/w, quality {quality:.4})",
        a.output.display(),
        g.id.0,
        g.genome.bits_per_weight
    );
    Ok(())
}
