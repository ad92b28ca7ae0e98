//! `qarena sweep` and `qarena demo` (the built-in NNUE ladder).

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::Args;
use qarena_arena::chess::ChessSettings;
use qarena_arena::{Protocol, RunTag};
use qarena_chess::Limit;
use qarena_quant::{Clipping, Granularity, Role, Scheme};
use qarena_sweep::{run_sweep, EngineTemplate, Generator, Refine, SweepDef, SweepRequest, Target};

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
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// A short demo (about a minute): 20 games per point.
    #[arg(long)]
    pub quick: bool,
    /// Games per point (default 200, 20 with --quick).
    #[arg(long)]
    pub games: Option<u32>,
    /// Nodes per move; strength depends on it (the same variant loses more
    /// at 10,000 nodes than at 1,000).
    #[arg(long, default_value_t = 1000)]
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
    #[command(flatten)]
    pub db: DbArgs,
}

fn sweep_exit(e: qarena_sweep::SweepError) -> Exit {
    match e {
        qarena_sweep::SweepError::Run(r) => r.into(),
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
            progress: true,
        },
        a.json,
    )
}

fn placeholder_def() -> SweepDef {
    // On resume the stored definition replaces this.
    demo_def(Path::new("unused.nnue"), "stockfish", 1, 1000, 1)
}

/// The built-in ladder: Stockfish's own net with the feature transformer at
/// ±127..±1 levels (8 to 1.6 bits) and the fc layers at ±7 and ±1.
pub fn demo_def(
    net: &Path,
    stockfish: &str,
    games: u32,
    nodes: u64,
    concurrency: usize,
) -> SweepDef {
    let chess = ChessSettings {
        limit: Limit::Nodes(nodes),
        node_jitter: 0.1,
        seed: 1,
        ..ChessSettings::default()
    };
    let mut options = std::collections::BTreeMap::new();
    options.insert("Threads".to_string(), "1".to_string());
    options.insert("Hash".to_string(), "16".to_string());
    SweepDef {
        name: "nnue-demo".to_string(),
        description: Some("Stockfish's embedded net, degraded step by step".to_string()),
        model: net.to_path_buf(),
        engine: EngineTemplate {
            base: qarena_arena::EngineConfig {
                options,
                ..qarena_arena::EngineConfig::from_command("stockfish", stockfish, Protocol::Uci)
            },
            model_option: Some("EvalFile".to_string()),
        },
        baseline: "original".to_string(),
        games,
        concurrency,
        restarts: 20,
        late_blocks: 2,
        timeouts: qarena_arena::Timeouts::default(),
        go: qarena_arena::GoSettings::default(),
        chess: Some(chess),
        points: Vec::new(),
        generator: Some(Generator {
            targets: vec![
                Target {
                    name: "ft".to_string(),
                    roles: vec![Role::FeatureTransformer],
                    layers: None,
                    levels: None,
                },
                Target {
                    name: "fc".to_string(),
                    roles: vec![Role::Fc0, Role::Fc1, Role::Fc2],
                    layers: None,
                    levels: Some(vec![7, 1]),
                },
            ],
            levels: vec![127, 31, 15, 7, 3, 1],
            granularity: Granularity::Channel,
            clip: Clipping::None,
            rest: Scheme::Keep,
            rest_granularity: Granularity::Channel,
        }),
        refine: Some(Refine::default()),
    }
}

/// Exports Stockfish's embedded net once into the cache.
fn export_net(stockfish: &str, cache: &Path) -> Result<PathBuf, Exit> {
    use std::io::Write;
    let ec = qarena_arena::EngineConfig::from_command("stockfish", stockfish, Protocol::Uci);
    let argv = qarena_arena::runner::resolve_argv(&ec)?;
    let dir = qarena_arena::command::absolute(&cache.join("base"));
    fs_err::create_dir_all(&dir).map_err(Exit::input)?;
    let net = dir.join("stockfish-embedded.nnue");
    if net.is_file() && qarena_models::Model::load(&net).is_ok() {
        return Ok(net);
    }
    let tmp = dir.join("stockfish-embedded.nnue.tmp");
    let mut child = std::process::Command::new(&argv[0])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| Exit::engine(anyhow!("starting {}: {e}", argv[0])))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = writeln!(stdin, "export_net {}", tmp.display());
        let _ = writeln!(stdin, "quit");
    }
    let _ = child.wait();
    if !tmp.is_file() {
        return Err(Exit::engine(anyhow!(
            "`{stockfish}` did not export its net (`export_net`); the demo needs Stockfish 15.1 as packaged by Debian"
        )));
    }
    qarena_models::Model::load(&tmp).map_err(|e| {
        Exit::engine(anyhow!(
            "the net exported by `{stockfish}` is not usable: {e}"
        ))
    })?;
    fs_err::rename(&tmp, &net).map_err(Exit::input)?;
    Ok(net)
}

pub fn demo(a: DemoArgs) -> CliResult {
    let games = a.games.unwrap_or(if a.quick { 20 } else { 200 });
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let concurrency = a.concurrency.unwrap_or(cpus);
    let net = export_net(&a.stockfish, &a.cache)?;
    let def = demo_def(&net, &a.stockfish, games, a.nodes, concurrency);
    let points = def.points().map_err(Exit::input)?.len();
    println!(
        "qarena demo: Stockfish's own net ({}) degraded step by step; {points} variants, each playing the original {games} games at {} nodes per move, paired openings, {concurrency} in parallel",
        net.display(),
        a.nodes
    );
    let tag = RunTag::generated("demo");
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
            progress: true,
        },
        false,
    )?;
    println!(
        "node budget: {} nodes per move (±10% jitter). Database: {}; variants and manifests: {}/; games: `qarena runs show {tag}`, `qarena export pgn --run {tag} -o demo.pgn`",
        a.nodes,
        db.display(),
        a.cache.display()
    );
    Ok(())
}
