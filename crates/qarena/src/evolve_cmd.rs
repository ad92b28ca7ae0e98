//! `qarena evolve`: survival tournaments of quantization strategies.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::{Args, Subcommand};
use qarena_arena::{EngineConfig, Protocol};
use qarena_evolve::{
    evolve, export_best, play_games, Budget, EvolveError, EvolveSettings, GameStage, GeneSpace,
    PlayerRating, Recipe, ScreenKind,
};
use qarena_probe::regret::RegretKind;
use qarena_probe::{AnyProbe, Suite};
use qarena_stats::{SprtParams, SprtVerdict};
use qarena_store::Store;
use qarena_sweep::EngineTemplate;

use crate::cli::DbArgs;
use crate::probe_cmd::EngineArgs;
use crate::{CliResult, Exit};

#[derive(Debug, Subcommand)]
pub enum EvolveCommand {
    /// Evolve strategies for a model under a budget: every genome is built,
    /// probed on the screening suite and stored (dead ones too); the best
    /// survive and breed. Ctrl-C stops; the same command resumes.
    ///
    /// Spread over machines, a generation is screened in shards and then
    /// gathered (docs/scaling.md has the loop for a Slurm cluster):
    ///   qarena evolve run NET --max-bits 4.25 --shard K/4 --generation G \
    ///     --gathered main.sqlite --db shard-K.sqlite       (each K)
    ///   qarena merge main.sqlite shard-*.sqlite
    ///   qarena evolve run NET --max-bits 4.25 --through-generation G --db main.sqlite
    ///
    /// A language model (GGUF, safetensors, or `smollm2`) is screened in
    /// memory by next-token KL against the original over --text.
    ///
    /// Example:
    ///   qarena evolve run g170-b6c96.bin.gz --max-bits 4.25 --generations 20
    ///   qarena evolve run smollm2 --max-bits 5 --text data/llm/text-calib.txt
    Run(EvolveRunArgs),
    /// Promote the best survivors to games: each plays the original in an
    /// SPRT-gated match (H0 accepted: eliminated), the ones through the
    /// gate and the hand recipes given with --recipe play a round robin,
    /// and every game feeds one Bradley–Terry rating list anchored at the
    /// original. Every match is a run (stored, resumable); Ctrl-C stops,
    /// the same command resumes.
    ///
    /// Example:
    ///   qarena evolve games g170-b6c96.bin.gz --name katago \
    ///     --recipe strategies/uint4-g32-mse.toml --visits 16
    Games(EvolveGamesArgs),
    /// Check the best genome of each seed on positions the evolution never
    /// saw (the odd half of the suite whose even half was the screen), and
    /// each hand recipe on both halves: the comparison on equal terms.
    ///
    /// Example:
    ///   qarena evolve check g170-b6c96.bin.gz --name katago \
    ///     --recipe strategies/nf4.toml --recipe strategies/int4-g32-mse.toml
    Check(EvolveCheckArgs),
    /// Write the best surviving strategy (within --max-bits) as TOML.
    ///
    /// Example:
    ///   qarena evolve export --name katago --max-bits 4.25 -o best.toml
    Export(EvolveExportArgs),
}

#[derive(Debug, Args)]
pub struct EvolveRunArgs {
    /// The model to quantize: a KataGo net, an NNUE net, or a language
    /// model (a GGUF file, a safetensors file with config.json and
    /// tokenizer.json beside it, or `smollm2`).
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
    /// Stop after this many genomes (a resumed run counts the ones it reads
    /// back, so it stops where the first run would have).
    #[arg(long)]
    pub max_genomes: Option<usize>,
    /// Stop after this many minutes of this command.
    #[arg(long)]
    pub max_minutes: Option<f64>,
    /// A genome whose agreement with the original (Go: top-1; chess: sign)
    /// is below this has collapsed and dies.
    #[arg(long, default_value_t = 0.2)]
    pub collapse_floor: f64,
    /// The suite whose even positions are the screen (default for Go: the
    /// shipped suites/go9-evolve.suite, whose halves come from different
    /// games; for chess the default suite); its odd positions stay unseen,
    /// for `evolve check`.
    #[arg(long)]
    pub suite: Option<PathBuf>,
    /// Language models: the screening text each genome's next-token KL is
    /// measured on (384 tokens of it, in windows of 128 whose first 32
    /// only give context). It is tuning data: use text you do not report
    /// on (data/llm/text-calib.txt), and measure the exported strategy on
    /// other text with `qarena llm kl MODEL --strategy BEST.toml --text
    /// data/llm/text-eval.txt`.
    #[arg(long, value_name = "FILE")]
    pub text: Option<PathBuf>,
    #[arg(long, default_value = "variants")]
    pub cache: PathBuf,
    /// Genes may also round by GPTQ (error-compensating). A KataGo net is
    /// calibrated on the shipped suites/go9-calib.suite (a few seconds per
    /// variant more); a language model on the tokens of --text after the
    /// ones the screen scores (up to 4,096; at least 256 must be left), so
    /// calibration and screen share no token. Measure the exported
    /// strategy with `qarena quantize` or `qarena llm kl --calib FILE`.
    #[arg(long)]
    pub calibrated: bool,
    /// How genomes are screened: `native` quantizes each genome in memory
    /// and evaluates it with qarena's own KataGo forward pass (no variant
    /// files, no engine; several times faster); `engine` writes each
    /// variant and has its engine evaluate it (and measures the engine's
    /// speed and memory); `auto` is native for KataGo nets the forward
    /// pass evaluates, engine otherwise.
    #[arg(long, value_enum, default_value_t = ScreenArg::Auto)]
    pub screen: ScreenArg,
    /// Adds policy regret to a KataGo genome's quality with this weight:
    /// quality = policy KL + value KL + W × policy regret. Policy regret is
    /// the winrate the genome's policy gives away against the original's,
    /// judged by the original net's value after every legal move (negative
    /// when the genome prefers moves the original itself judges better).
    /// KL rewards closeness in any direction; regret rewards the direction
    /// that wins games. 0 (the default) leaves it out. Native screen only;
    /// the screen starts about a minute later (one evaluation per legal
    /// move of every screening position).
    #[arg(long, default_value_t = 0.0)]
    pub regret_weight: f64,
    /// Adds top-move regret to a KataGo genome's quality with this weight
    /// (with --regret-weight, both are added): what the genome's top moves
    /// give away against the original's top moves, judged the same way.
    /// A net that plays without search (one visit) plays its top move, so
    /// this is what such play loses: nothing where the two top moves differ
    /// between near-equal moves, the full price of a blunder. It moves only
    /// where top moves change, so screen it on many positions (--suite).
    /// 0 (the default) leaves it out. Native screen only.
    #[arg(long, default_value_t = 0.0)]
    pub top1_regret_weight: f64,
    /// A strategy file entered whole into generation 0 (repeatable), before
    /// its random genomes: an exported survivor of an earlier evolution, or
    /// a hand recipe to start from. Any strategy that gives every layer of
    /// a role one setting converts; it must fit --max-bits. Evolution then
    /// mutates and recombines it like any survivor.
    #[arg(long = "entrant", value_name = "STRATEGY.toml")]
    pub entrants: Vec<PathBuf>,
    /// Screen only shard K of N of one generation (--generation) into
    /// --db: that generation's genomes are made from the survivors in
    /// --gathered exactly as the unsharded run makes them, and every N-th
    /// is built and probed here. Only probes are stored; `qarena merge`
    /// takes them into the gathered database and `--through-generation`
    /// gathers them. The same command resumes.
    #[arg(long, requires = "generation")]
    pub shard: Option<qarena_store::Shard>,
    /// The generation a shard screens (0 is the first).
    #[arg(long, requires = "shard")]
    pub generation: Option<usize>,
    /// The database the earlier generations were merged and gathered into
    /// (read only; needed from generation 1 on).
    #[arg(long, requires = "shard")]
    pub gathered: Option<PathBuf>,
    /// Pause after this generation: the gather step of a sharded
    /// evolution, run on the database the shards were merged into (their
    /// probes are read back, nothing is probed twice).
    #[arg(long, conflicts_with = "shard")]
    pub through_generation: Option<usize>,
    #[command(flatten)]
    pub engines: EngineArgs,
    #[command(flatten)]
    pub db: DbArgs,
}

/// `--screen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScreenArg {
    Auto,
    Engine,
    Native,
}

#[derive(Debug, Args)]
pub struct EvolveGamesArgs {
    /// The model the evolution quantized (the original every match is
    /// against).
    pub model: PathBuf,
    /// Name of the evolution.
    #[arg(long, default_value = "evolve")]
    pub name: String,
    /// Seed of the evolution.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Generation champions (each generation's best genome by survival
    /// score) promoted to the gate, best first.
    #[arg(long, default_value_t = 4)]
    pub promote: usize,
    /// The gate: an SPRT against the original; accepting H0 eliminates.
    #[arg(long, default_value = "elo0=-50,elo1=0")]
    pub gate: String,
    /// Most games of a gate match.
    #[arg(long, default_value_t = 200)]
    pub gate_games: u32,
    /// Games per pair in the league of survivors and recipes.
    #[arg(long, default_value_t = 40)]
    pub league_games: u32,
    /// A hand-written strategy TOML that plays in the league as an anchor
    /// (repeatable).
    #[arg(long = "recipe")]
    pub recipes: Vec<PathBuf>,
    /// Go: KataGo visits per move.
    #[arg(long, default_value_t = 16)]
    pub visits: u32,
    /// Go: an opening book (e.g. openings/go9-balanced.txt); both games
    /// of every pair start from one of its lines, colours swapped. Without
    /// it Go games start from the empty board.
    #[arg(long)]
    pub openings: Option<PathBuf>,
    /// Chess: Stockfish nodes per move.
    #[arg(long, default_value_t = 5000)]
    pub nodes: u64,
    /// Seconds an engine may take for one move.
    #[arg(long, default_value_t = 30)]
    pub timeout_move: u64,
    /// Games played in parallel.
    #[arg(short = 'j', long, default_value_t = 2)]
    pub concurrency: usize,
    #[arg(long, default_value = "variants")]
    pub cache: PathBuf,
    /// Where run folders go.
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,
    #[command(flatten)]
    pub engines: EngineArgs,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct EvolveCheckArgs {
    /// The model the evolution quantized.
    pub model: PathBuf,
    /// Name of the evolution.
    #[arg(long, default_value = "evolve")]
    pub name: String,
    /// Only this seed (default: every seed of the name).
    #[arg(long)]
    pub seed: Option<u64>,
    /// A hand-written strategy TOML to compare with (repeatable).
    #[arg(long = "recipe")]
    pub recipes: Vec<PathBuf>,
    /// The suite whose even positions were the screen (default as for
    /// `evolve run`); its odd positions are the unseen ones.
    #[arg(long)]
    pub suite: Option<PathBuf>,
    /// Check the best genome within this many bits per weight (default:
    /// the evolution's budget), e.g. a recipe's, to compare at no more
    /// bytes than it spends.
    #[arg(long)]
    pub max_bits: Option<f64>,
    /// Also report each checked strategy's policy regret on the unseen
    /// positions (KataGo nets, qarena's forward pass): the winrate its
    /// policy gives away against the original's, judged by the original's
    /// value after every legal move, and the genome's difference from each
    /// recipe with a 95% interval paired by position. KL says how close a
    /// policy is; regret says whether its changes point at better or worse
    /// moves, which is what games feel. Also the top-move regret: the
    /// same for each policy's top move alone, which is what play without
    /// search (one visit) gives away. About a minute more.
    #[arg(long)]
    pub regret: bool,
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
        EvolveCommand::Games(a) => {
            not_language_model(&a.model, "games")?;
            games(a)
        }
        EvolveCommand::Check(a) => {
            not_language_model(&a.model, "check")?;
            check_cmd(a)
        }
        EvolveCommand::Export(a) => export(a),
    }
}

/// `evolve games` and `check` play and probe on positions; a language
/// model's exported strategy is measured by the `llm` commands instead.
fn not_language_model(model: &std::path::Path, what: &str) -> CliResult {
    let path = qarena_llm::source::resolve(&model.to_string_lossy());
    if qarena_evolve::llm::is_language_model(&path) {
        return Err(Exit::input(anyhow!(
            "evolve {what} plays and probes games and positions; {} is a language model: export its best strategy (`qarena evolve export`) and measure it on text it was not screened on with `qarena llm kl MODEL --strategy BEST.toml --text data/llm/text-eval.txt`, or on items with `qarena llm eval` / `llm compare`",
            path.display()
        )));
    }
    Ok(())
}

fn evolve_exit(e: EvolveError) -> Exit {
    match e {
        EvolveError::Store(s) => s.into(),
        EvolveError::Reference(p) => Exit::engine(p),
        EvolveError::Variant(v) => Exit::storage(v),
        EvolveError::Games(g) => Exit::engine(anyhow!("{g}")),
        EvolveError::GameInput(g) => Exit::input(anyhow!("{g}")),
        EvolveError::Probe(p) => Exit::engine(p),
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

/// The odd positions of a suite: never seen by an evolution screened on
/// its even half.
fn unseen_half(suite: &Suite) -> Result<Suite, Exit> {
    suite
        .subset(&format!("{}-odd", suite.name), |i| i % 2 == 1)
        .map_err(Exit::input)
}

fn load_recipes(paths: &[PathBuf]) -> Result<Vec<Recipe>, Exit> {
    paths
        .iter()
        .map(|path| {
            let strategy = qarena_quant::Strategy::from_file(path).map_err(Exit::input)?;
            Ok(Recipe {
                name: strategy.name().to_string(),
                strategy,
            })
        })
        .collect()
}

fn check_cmd(a: EvolveCheckArgs) -> CliResult {
    if !a.db.db.is_file() {
        return Err(Exit::input(anyhow!(
            "database {} does not exist: run `qarena evolve run` first",
            a.db.db.display()
        )));
    }
    if a.max_bits.is_some_and(|m| m.is_nan() || m <= 0.0) {
        return Err(Exit::input(anyhow!("--max-bits must be positive")));
    }
    let recipes = load_recipes(&a.recipes)?;
    let probe = AnyProbe::for_model(&a.model, &a.engines.resolve()).map_err(Exit::input)?;
    let full = match &a.suite {
        Some(p) => Suite::load(p).map_err(Exit::input)?,
        None => qarena_probe::evolution_suite(probe.game()).map_err(Exit::input)?,
    };
    let (screen, unseen) = (screening_half(&full)?, unseen_half(&full)?);
    let store = Store::open(&a.db.db)?;
    let evolutions: Vec<_> = store
        .evolutions()?
        .into_iter()
        .filter(|e| e.name == a.name && a.seed.is_none_or(|s| e.seed == s as i64))
        .collect();
    if evolutions.is_empty() {
        return Err(Exit::input(anyhow!(
            "no evolution '{}'{} in {}",
            a.name,
            a.seed
                .map(|s| format!(" with seed {s}"))
                .unwrap_or_default(),
            a.db.db.display()
        )));
    }
    let regret = if a.regret {
        eprintln!(
            "policy regret: evaluating every legal move of the {} unseen positions with the original",
            unseen.len()
        );
        Some(qarena_evolve::UnseenRegret::new(&a.model, &unseen).map_err(evolve_exit)?)
    } else {
        None
    };
    let stop = qarena_engine::install_shutdown_flag();
    println!(
        "unseen positions: {} ({} positions); screened on {} ({} positions)",
        unseen.name,
        unseen.len(),
        screen.name,
        screen.len()
    );
    for ev in &evolutions {
        let checks = qarena_evolve::check(
            &store,
            ev,
            &a.model,
            &probe,
            qarena_evolve::CheckSuites {
                screen: &screen,
                unseen: &unseen,
            },
            &recipes,
            a.max_bits,
            &a.cache,
            &stop,
        )
        .map_err(evolve_exit)?;
        let Some((genome, rows)) = qarena_evolve::versus(&store, &checks).map_err(evolve_exit)?
        else {
            println!("seed {}: no surviving genome to check", ev.seed);
            continue;
        };
        println!(
            "seed {}: {} {:.4} bits/w, unseen {:.4}",
            ev.seed, genome.subject, genome.bits_per_weight, genome.quality
        );
        for r in &rows {
            println!(
                "  vs {:<24} {:.4} bits/w  unseen {:.4}  evolved {:>+6.1}%{}{}",
                r.recipe,
                r.recipe_bits,
                r.recipe_quality,
                -100.0 * r.reduction,
                r.reduction_ci
                    .map(|(lo, hi)| format!(" [{:+.1}, {:+.1}]", -100.0 * hi, -100.0 * lo))
                    .unwrap_or_default(),
                if r.recipe_not_smaller {
                    ""
                } else {
                    "  (recipe is smaller)"
                }
            );
        }
        if let Some(regret) = &regret {
            print_regret(regret, &a, &checks, &genome.subject)?;
        }
    }
    Ok(())
}

fn print_regret(
    regret: &qarena_evolve::UnseenRegret,
    a: &EvolveCheckArgs,
    checks: &[qarena_store::EvolutionCheck],
    genome: &str,
) -> CliResult {
    let rows = regret
        .rows(&a.model, checks, &a.cache)
        .map_err(evolve_exit)?;
    let evolved = rows.iter().find(|r| r.subject == genome);
    for kind in RegretKind::ALL {
        let what = match kind {
            RegretKind::Policy => "policy regret",
            RegretKind::TopMove => "top-move regret (play without search)",
        };
        let (original, k) = (regret.original(kind), kind.index());
        println!(
            "  {what} on unseen positions (winrate given away, minus the original's {original:.4}; lower is better):"
        );
        for r in &rows {
            let (excess, per) = (r.excess[k], &r.per_position[k]);
            let vs = match evolved {
                Some(g) if r.subject != genome => {
                    qarena_stats::MeanCi::paired_difference(&g.per_position[k], per)
                        .and_then(|m| Some((m.mean, m.lower()?, m.upper()?)))
                        .map(|(d, lo, hi)| format!("  evolved − this {d:+.4} [{lo:+.4}, {hi:+.4}]"))
                        .unwrap_or_default()
                }
                _ => String::new(),
            };
            println!("    {:<32} {excess:+.4}{vs}", r.subject);
        }
    }
    Ok(())
}

fn run_evolution(mut a: EvolveRunArgs) -> CliResult {
    a.model = qarena_llm::source::resolve(&a.model.to_string_lossy());
    if !a.model.is_file() {
        return Err(Exit::input(anyhow!(
            "model {} does not exist",
            a.model.display()
        )));
    }
    if a.max_bits.is_nan() || a.max_bits <= 0.0 {
        return Err(Exit::input(anyhow!("--max-bits must be positive")));
    }
    if a.max_minutes.is_some_and(|m| m.is_nan() || m <= 0.0) {
        return Err(Exit::input(anyhow!("--max-minutes must be positive")));
    }
    for (flag, w) in [
        ("--regret-weight", a.regret_weight),
        ("--top1-regret-weight", a.top1_regret_weight),
    ] {
        if !(w.is_finite() && w >= 0.0) {
            return Err(Exit::input(anyhow!(
                "{flag} must be a number >= 0, got {w}"
            )));
        }
    }
    let llm = qarena_evolve::llm::is_language_model(&a.model);
    if llm {
        let refuse = |what: &str| {
            Err(Exit::input(anyhow!(
                "{what} does not apply to a language model ({}): it is screened by next-token KL over --text",
                a.model.display()
            )))
        };
        if a.suite.is_some() {
            return refuse("--suite (positions)");
        }
        if a.shard.is_some() || a.through_generation.is_some() {
            return refuse("sharding (--shard, --through-generation)");
        }
        if a.screen != ScreenArg::Auto {
            return refuse("--screen");
        }
        if a.text.is_none() {
            return Err(Exit::input(anyhow!(
                "a language model is screened on a text: give --text FILE (data/llm/text-calib.txt; not the text you report on)"
            )));
        }
        return run_llm_evolution(&a);
    } else if a.text.is_some() {
        return Err(Exit::input(anyhow!(
            "--text is the screening text of a language model; {} is screened on positions (--suite)",
            a.model.display()
        )));
    }
    if a.calibrated
        && !qarena_models::detect(&a.model)
            .map_err(Exit::input)?
            .is_katago()
    {
        return Err(Exit::input(anyhow!(
            "--calibrated evolves GPTQ genes for KataGo nets and language models; {} is neither",
            a.model.display()
        )));
    }
    let probe = AnyProbe::for_model(&a.model, &a.engines.resolve()).map_err(Exit::input)?;
    let full = match &a.suite {
        Some(p) => Suite::load(p).map_err(Exit::input)?,
        None => qarena_probe::evolution_suite(probe.game()).map_err(Exit::input)?,
    };
    let suite = screening_half(&full)?;
    let store = Store::open(&a.db.db)?;
    let settings = evolve_settings(
        &a,
        match a.screen {
            ScreenArg::Engine => ScreenKind::Engine,
            ScreenArg::Native => ScreenKind::Native,
            ScreenArg::Auto if qarena_evolve::native::evaluable(&a.model) => ScreenKind::Native,
            ScreenArg::Auto => ScreenKind::Engine,
        },
    )?;
    let stop = qarena_engine::install_shutdown_flag();
    if let (Some(shard), Some(generation)) = (a.shard, a.generation) {
        return run_shard(
            &a, &store, &settings, &probe, &suite, shard, generation, &stop,
        );
    }
    eprintln!(
        "evolve {} (seed {}): {} under {} bits/w, screening on {} ({} positions, {} screen)",
        a.name,
        a.seed,
        a.model.display(),
        a.max_bits,
        suite.name,
        suite.len(),
        settings.screen.as_str()
    );
    let s = evolve(&store, &settings, &probe, &suite, &stop, &|line| {
        eprintln!("{line}")
    })
    .map_err(evolve_exit)?;
    print_evolution(&a, &s);
    Ok(())
}

/// `evolve run` on a language model.
fn run_llm_evolution(a: &EvolveRunArgs) -> CliResult {
    let text = a.text.as_deref().unwrap_or(std::path::Path::new(""));
    let store = Store::open(&a.db.db)?;
    let settings = evolve_settings(a, ScreenKind::Llm)?;
    let stop = qarena_engine::install_shutdown_flag();
    eprintln!(
        "evolve {} (seed {}): {} under {} bits/w; loading it and the screening text {}",
        a.name,
        a.seed,
        a.model.display(),
        a.max_bits,
        text.display()
    );
    let screen =
        qarena_evolve::LlmScreen::new(&a.model, text, a.calibrated).map_err(evolve_exit)?;
    eprintln!(
        "screening on {} tokens of {} (llm screen: next-token KL against the original)",
        screen.scored_tokens(),
        text.display()
    );
    if let Some(c) = screen.calibration() {
        eprintln!(
            "GPTQ genes calibrated on {} tokens of {} from token {} on",
            c["tokens"],
            text.display(),
            c["first_token"]
        );
    }
    let s = qarena_evolve::evolve_llm(&store, &settings, &screen, &stop, &|line| {
        eprintln!("{line}")
    })
    .map_err(evolve_exit)?;
    print_evolution(a, &s);
    Ok(())
}

/// The evolution's settings from the command line, screened by `screen`.
fn evolve_settings(a: &EvolveRunArgs, screen: ScreenKind) -> Result<EvolveSettings, Exit> {
    Ok(EvolveSettings {
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
        space: if a.calibrated {
            GeneSpace::calibrated()
        } else {
            GeneSpace::default()
        },
        limits: qarena_evolve::Limits {
            max_genomes: a.max_genomes,
            max_seconds: a.max_minutes.map(|m| m * 60.0),
            through_generation: a.through_generation,
        },
        screen,
        regret_weight: a.regret_weight,
        top1_regret_weight: a.top1_regret_weight,
        entrants: a
            .entrants
            .iter()
            .map(|p| {
                qarena_quant::Strategy::from_file(p)
                    .map_err(|e| Exit::input(anyhow!("--entrant: {e}")))
            })
            .collect::<Result<_, _>>()?,
    })
}

/// The summary of a finished (or stopped) evolution and its best genomes.
fn print_evolution(a: &EvolveRunArgs, s: &qarena_evolve::EvolveSummary) {
    println!(
        "evolution {} seed {}: {} generations, {} genomes screened, {} died; ended by {}",
        a.name, a.seed, s.generations, s.screened, s.failed, s.ending
    );
    println!(
        "{:<6} {:>8} {:>10} {:>8}  operator",
        "genome", "bits/w", "quality", "score"
    );
    for g in s.best.iter().take(10) {
        println!(
            "{:<6} {:>8.3} {:>10.4} {:>8.3}  {}",
            g.id.0,
            g.genome.bits_per_weight,
            g.quality.unwrap_or(f64::NAN),
            qarena_evolve::rank(g),
            g.genome.operator
        );
    }
}

/// `evolve run --shard K/N --generation G`: one shard's screen.
#[allow(clippy::too_many_arguments)]
fn run_shard(
    a: &EvolveRunArgs,
    store: &Store,
    settings: &EvolveSettings,
    probe: &AnyProbe,
    suite: &Suite,
    shard: qarena_store::Shard,
    generation: usize,
    stop: &std::sync::atomic::AtomicBool,
) -> CliResult {
    if a.max_genomes.is_some() {
        return Err(Exit::input(anyhow!(
            "--max-genomes counts the whole evolution; a shard screens one generation's share, so give it to the gather step instead"
        )));
    }
    let gathered = match &a.gathered {
        Some(p) => {
            if !p.is_file() {
                return Err(Exit::input(anyhow!(
                    "gathered database {} does not exist; merge the shards of the earlier generations into it first",
                    p.display()
                )));
            }
            let same = std::fs::canonicalize(p).ok() == std::fs::canonicalize(&a.db.db).ok();
            if same {
                return Err(Exit::input(anyhow!(
                    "--gathered and --db are the same file; a shard writes its own database"
                )));
            }
            Some(Store::open(p)?)
        }
        None => None,
    };
    eprintln!(
        "evolve {} (seed {}): shard {shard} of generation {generation}, screening on {} ({} positions)",
        a.name,
        a.seed,
        suite.name,
        suite.len()
    );
    let s = qarena_evolve::screen_shard(
        store,
        gathered.as_ref(),
        settings,
        probe,
        suite,
        shard,
        generation,
        stop,
        &|line| eprintln!("{line}"),
    )
    .map_err(evolve_exit)?;
    println!(
        "evolution {} seed {} generation {}: shard {shard} owns {} of {} genomes; {} screened ({} died), {} already gathered{}",
        a.name,
        a.seed,
        s.generation,
        s.owned,
        s.genomes,
        s.screened,
        s.died,
        s.known,
        if s.stopped {
            "; stopped, run the same command to resume"
        } else {
            ""
        }
    );
    Ok(())
}

/// How an engine plays the model in the game stage: KataGo at fixed
/// visits for Go nets, Stockfish at fixed nodes with the net as `EvalFile`
/// for NNUE nets.
fn game_engine(
    a: &EvolveGamesArgs,
) -> Result<(EngineTemplate, Option<qarena_arena::chess::ChessSettings>), Exit> {
    let format = qarena_models::detect(&a.model).map_err(Exit::input)?;
    let engines = a.engines.resolve();
    if format == qarena_models::Format::Nnue {
        let stockfish = engines.stockfish.ok_or_else(|| {
            Exit::input(anyhow!(
                "Stockfish `{}` not found: install it or pass --stockfish",
                a.engines.stockfish
            ))
        })?;
        let mut base = EngineConfig::from_command(
            "",
            &qarena_engine::command::quote_word(&stockfish.display().to_string()),
            Protocol::Uci,
        );
        base.options.insert("Threads".into(), "1".into());
        base.options.insert("Hash".into(), "16".into());
        let chess = qarena_arena::chess::ChessSettings {
            limit: qarena_arena::chess::Limit::Nodes(a.nodes),
            ..Default::default()
        };
        return Ok((
            EngineTemplate {
                base,
                model_option: Some("EvalFile".into()),
            },
            Some(chess),
        ));
    }
    let (katago, config) = engines.katago.ok_or_else(|| {
        Exit::input(anyhow!(
            "KataGo not found: set QARENA_KATAGO or pass --katago"
        ))
    })?;
    let mut base = EngineConfig::from_command(
        "",
        &format!(
            "{} gtp -model {{model}} -config {{config}} -override-config maxVisits={},allowResignation=false",
            qarena_engine::command::quote_word(&katago.display().to_string()),
            a.visits
        ),
        Protocol::Gtp,
    );
    base.config = Some(qarena_engine::command::absolute(&config));
    Ok((
        EngineTemplate {
            base,
            model_option: None,
        },
        None,
    ))
}

fn games(a: EvolveGamesArgs) -> CliResult {
    if !a.db.db.is_file() {
        return Err(Exit::input(anyhow!(
            "database {} does not exist: run `qarena evolve run` first",
            a.db.db.display()
        )));
    }
    if !a.model.is_file() {
        return Err(Exit::input(anyhow!(
            "model {} does not exist",
            a.model.display()
        )));
    }
    let gate = SprtParams::parse(&a.gate).map_err(Exit::input)?;
    let store = Store::open(&a.db.db)?;
    let evolution = store
        .evolutions()?
        .into_iter()
        .find(|e| e.name == a.name && e.seed == a.seed as i64)
        .ok_or_else(|| {
            Exit::input(anyhow!(
                "no evolution '{}' with seed {} in {} (`qarena evolve run` makes one)",
                a.name,
                a.seed,
                a.db.db.display()
            ))
        })?;
    let model_sha = qarena_models::sha256_file(&a.model).map_err(Exit::input)?;
    if model_sha != evolution.model_sha256 {
        return Err(Exit::input(anyhow!(
            "{} is not the model evolution '{}' quantized",
            a.model.display(),
            a.name
        )));
    }
    let recipes = load_recipes(&a.recipes)?;
    let (engine, chess) = game_engine(&a)?;
    let stage = GameStage {
        model: a.model.clone(),
        promote: a.promote.max(1),
        gate,
        gate_games: a.gate_games.max(2),
        league_games: a.league_games.max(2),
        recipes,
        engine,
        go: qarena_arena::GoSettings {
            openings: a
                .openings
                .as_ref()
                .map(|o| qarena_arena::command::absolute(o)),
            ..Default::default()
        },
        chess,
        timeouts: qarena_arena::Timeouts {
            mv: a.timeout_move as f64,
            ..Default::default()
        },
        concurrency: a.concurrency.max(1),
        db: a.db.db.clone(),
        runs_dir: a.runs_dir.clone(),
        cache_dir: a.cache.clone(),
        argv: std::env::args().collect(),
        observer: crate::progress::Console::new(),
    };
    let stop = qarena_engine::install_shutdown_flag();
    let s = play_games(&store, &evolution, &stage, stop).map_err(evolve_exit)?;
    println!(
        "evolution {} seed {}: game stage{}",
        a.name,
        a.seed,
        if s.stopped {
            " (stopped; run the same command to resume)"
        } else {
            ""
        }
    );
    println!("gate ({}):", a.gate);
    for g in &s.gates {
        let wdl = g.summary.tally.wdl();
        println!(
            "  genome {:<6} {:>6.3} bits/w  {:>3} games  +{} ={} -{}  {}",
            g.genome.0,
            g.bits_per_weight,
            wdl.games(),
            wdl.wins,
            wdl.draws,
            wdl.losses,
            match (g.passed, g.summary.sprt.map(|r| r.verdict)) {
                (false, _) => "eliminated (H0: loses 50 Elo or more)".to_string(),
                (true, Some(SprtVerdict::AcceptH1)) => "passed (H1)".to_string(),
                (true, _) => "passed (undecided at the game cap)".to_string(),
            }
        );
    }
    print_ratings(&s.ratings);
    Ok(())
}

/// The rating list: player, Elo with its 95% interval, games, score.
fn print_ratings(ratings: &[PlayerRating]) {
    if ratings.is_empty() {
        return;
    }
    println!("ratings (Bradley–Terry over every game, original = 0, 95% interval):");
    for r in ratings {
        println!(
            "  {:<28} {:>+7.1} [{:>+7.1}, {:>+7.1}]  {:>4} games  score {:.3}",
            r.player,
            r.rating.elo,
            r.rating.lower(),
            r.rating.upper(),
            r.rating.games,
            r.rating.score
        );
    }
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
                Some((_, b)) => qarena_evolve::rank(&g) < qarena_evolve::rank(b),
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
        "# Evolved by qarena evolve ({}): genome {}, {:.4} bits/w, screening quality {quality:.4}, survival score {:.4}\n{}",
        a.name,
        g.id.0,
        g.genome.bits_per_weight,
        qarena_evolve::rank(&g),
        g.genome.strategy_toml
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
