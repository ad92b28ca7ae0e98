//! `qarena sweep` and `qarena demo` (the built-in NNUE ladder).

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::Args;
use qarena_arena::RunTag;
use qarena_sweep::{demo, run_sweep, SweepDef, SweepRequest};

use crate::cli::DbArgs;
use crate::{CliResult, Exit};

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// A sweep file (TOML; see `examples/`), or the name of a sweep in the
    /// project config (`[sweeps.NAME]` in `qarena.toml`). Not needed with
    /// --resume.
    pub file: Option<String>,
    /// Project config holding `[engines]`, `[models]`, `[strategies]` and
    /// `[sweeps]` (see `examples/qarena.toml`).
    #[arg(long, default_value = "qarena.toml")]
    pub project: PathBuf,
    /// Add points inside the steepest strength drop until it is resolved
    /// (generator sweeps; rounds and resolution from `[refine]`).
    #[arg(long)]
    pub refine: bool,
    /// Games per point (overrides the file).
    #[arg(long)]
    pub games: Option<u32>,
    /// Games in parallel (overrides the file).
    #[arg(long, short = 'j')]
    pub concurrency: Option<usize>,
    /// Tag of the run (default: <sweep name>-<timestamp>-<pid>): 1-64
    /// characters from A-Z a-z 0-9 . _ -, starting with a letter or digit.
    #[arg(long)]
    pub run_tag: Option<RunTag>,
    /// Finish an interrupted sweep (refused while another process owns it).
    #[arg(long, value_name = "RUN_TAG", conflicts_with = "run_tag")]
    pub resume: Option<RunTag>,
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,
    /// Variant cache directory.
    #[arg(long, default_value = "variants")]
    pub cache: PathBuf,
    /// Probe every point's variant against the model before playing
    /// (seconds per point; stored, shown in the table and the report).
    #[arg(long)]
    pub probe: bool,
    /// Position suite for --probe (default: the shipped one for the game).
    #[arg(long, requires = "probe")]
    pub probe_suite: Option<PathBuf>,
    /// Play only shard K of N (0 <= K < N): every N-th colour-swapped pair
    /// of every point, into this database (give each shard its own --db
    /// and --runs-dir). Together the shards play exactly the games of the
    /// unsharded sweep; `qarena merge` joins them. Not with --refine.
    #[arg(long, value_name = "K/N", conflicts_with = "refine")]
    pub shard: Option<qarena_store::Shard>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// A short demo (about 40 seconds on 2 cores): 20 games per point.
    #[arg(long)]
    pub quick: bool,
    /// Games per point (default 200, 20 with --quick).
    #[arg(long)]
    pub games: Option<u32>,
    /// Nodes per move; strength depends on it (the same variant loses more
    /// at 10,000 nodes than at 1,000).
    #[arg(long, default_value_t = demo::DEFAULT_NODES)]
    pub nodes: u64,
    /// Games in parallel (default: number of CPUs).
    #[arg(long, short = 'j')]
    pub concurrency: Option<usize>,
    /// Resolve the cliff with extra points.
    #[arg(long)]
    pub refine: bool,
    /// Stockfish binary (Debian's package by default).
    #[arg(long, default_value = "stockfish")]
    pub stockfish: String,
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,
    #[arg(long, default_value = "variants")]
    pub cache: PathBuf,
    /// Probe every variant's static evaluation against the original on the
    /// shipped chess suite before playing (about a second in all).
    #[arg(long)]
    pub probe: bool,
    /// Place the ladder on Stockfish's own Elo scale: every point also
    /// plays Stockfish limited to each of these UCI_Elo levels
    /// (UCI_LimitStrength; 1350..2850), and the table ends with ratings
    /// from all games, anchored at the first level. Example: --anchors
    /// 1500,2000,2500.
    #[arg(long, value_delimiter = ',', value_name = "ELO,...")]
    pub anchors: Vec<u32>,
    /// Games of each point against each anchor.
    #[arg(long, default_value_t = 20)]
    pub anchor_games: u32,
    /// Tag of the run (default: demo-<timestamp>-<pid>).
    #[arg(long)]
    pub run_tag: Option<RunTag>,
    /// Play only shard K of N of the ladder (see `qarena sweep --shard`);
    /// give every shard the same --run-tag. Not with --refine.
    #[arg(
        long,
        value_name = "K/N",
        conflicts_with = "refine",
        requires = "run_tag"
    )]
    pub shard: Option<qarena_store::Shard>,
    #[command(flatten)]
    pub db: DbArgs,
}

/// Exit codes by kind: an engine failure is 3, a failed disk or database
/// write 4, everything else (definitions, models, arguments) 2.
fn sweep_exit(e: qarena_sweep::SweepError) -> Exit {
    use qarena_sweep::SweepError;
    match e {
        SweepError::Run(r) => r.into(),
        SweepError::Store(s) => s.into(),
        SweepError::Variant(v @ qarena_variant::VariantError::Io { .. }) => Exit::storage(v),
        other => Exit::input(other),
    }
}

fn run(req: SweepRequest, json: bool) -> CliResult {
    let stop = qarena_engine::install_shutdown_flag();
    let tag = req.tag.clone();
    let r = run_sweep(req, stop).map_err(sweep_exit)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&r).map_err(|e| Exit::input(anyhow!(e)))?
        );
    } else {
        print!("{}", qarena_sweep::render(&r));
    }
    if r.status == "interrupted" {
        eprintln!("stopped: `qarena sweep --resume {tag}` finishes it");
    }
    Ok(())
}

pub fn sweep(a: SweepArgs) -> CliResult {
    let def = match (&a.file, &a.resume) {
        (Some(f), _) => {
            let path = Path::new(f);
            let mut d = if path.is_file() {
                SweepDef::from_file(path).map_err(Exit::input)?
            } else if a.project.is_file() {
                SweepDef::from_project(&a.project, f).map_err(Exit::input)?
            } else {
                return Err(Exit::input(anyhow!(
                    "`{f}` is neither a sweep file nor a sweep of a project config ({} does not exist)",
                    a.project.display()
                )));
            };
            if let Some(g) = a.games {
                d.games = g;
            }
            if let Some(c) = a.concurrency {
                d.concurrency = c;
            }
            d
        }
        (None, Some(_)) => placeholder_def(),
        (None, None) => {
            return Err(Exit::input(anyhow!(
                "give a sweep file or --resume TAG (see `qarena sweep --help`)"
            )))
        }
    };
    if a.shard.is_some() && a.resume.is_none() && a.run_tag.is_none() {
        return Err(Exit::input(anyhow!(
            "--shard needs --run-tag: every shard of a sweep must carry the same tag so `qarena merge` joins them"
        )));
    }
    let tag = a
        .resume
        .clone()
        .or(a.run_tag.clone())
        .unwrap_or_else(|| RunTag::generated(&def.name));
    run(
        SweepRequest {
            def,
            tag,
            db: a.db.db.clone(),
            runs_dir: a.runs_dir.clone(),
            cache_dir: a.cache.clone(),
            resume: a.resume.is_some(),
            refine: a.refine,
            argv: std::env::args().collect(),
            kind: qarena_store::RunKind::Sweep,
            observer: crate::progress::Console::new(),
            probe: a.probe.then(|| qarena_sweep::ProbeRequest {
                suite: a.probe_suite.clone(),
            }),
            shard: a.shard,
        },
        a.json,
    )
}

fn placeholder_def() -> SweepDef {
    // On resume the stored definition replaces this.
    demo::demo_def(Path::new("unused.nnue"), "stockfish", 1, 1000, 1)
}

fn demo_exit(e: demo::DemoError) -> Exit {
    if e.is_engine_failure() {
        Exit::engine(e)
    } else {
        Exit::input(e)
    }
}

pub fn demo(a: DemoArgs) -> CliResult {
    let stop = qarena_engine::install_shutdown_flag();
    let anchors = demo::uci_elo_anchors(&a.anchors, a.anchor_games).map_err(Exit::input)?;
    let games = demo::games(a.quick, a.games);
    let concurrency = a.concurrency.unwrap_or_else(demo::default_concurrency);
    let net = match demo::export_net(&a.stockfish, &a.cache, &stop) {
        Ok(net) => net,
        Err(e) if e.is_stop() => {
            // The status of an interrupted run; there is nothing to resume.
            eprintln!("stopped before the first game; nothing was played");
            return Ok(());
        }
        Err(e) => return Err(demo_exit(e)),
    };
    let mut def = demo::demo_def(&net, &a.stockfish, games, a.nodes, concurrency);
    def.anchors = anchors;
    def.anchor_games = a.anchor_games;
    println!("{}", demo::intro(&def, &net, a.nodes).map_err(Exit::input)?);
    let tag = a
        .run_tag
        .clone()
        .unwrap_or_else(|| RunTag::generated("demo"));
    let db = a.db.db.clone();
    run(
        SweepRequest {
            def,
            tag: tag.clone(),
            db: db.clone(),
            runs_dir: a.runs_dir.clone(),
            cache_dir: a.cache.clone(),
            resume: false,
            refine: a.refine,
            argv: std::env::args().collect(),
            kind: qarena_store::RunKind::Demo,
            observer: crate::progress::Console::new(),
            probe: a.probe.then(qarena_sweep::ProbeRequest::default),
            shard: a.shard,
        },
        false,
    )?;
    println!("{}", demo::outro(tag.as_str(), a.nodes, &db, &a.cache));
    Ok(())
}
