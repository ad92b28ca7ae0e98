//! `qarena judge`: replay the games of a run with a judge engine (KataGo's
//! analysis engine for Go, a UCI engine for chess), store per-move verdicts,
//! and print coverage, average loss per slot with a 95% interval, blunders
//! and throughput. `--bench` instead compares the judge's throughput with
//! `katago analysis` alone on the same queries.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::anyhow;
use clap::Args;
use qarena_judge::{
    bench, judge, ChessJudgeSettings, GameSubset, GoJudgeSettings, JudgeError, JudgeKind,
    JudgeOptions, JudgeReport, TranscriptTarget,
};
use qarena_store::Store;
use qarena_uci::GoLimit;

use crate::cli::DbArgs;
use crate::{CliResult, Exit};

/// Judge every move of a run's games with the strongest engine available.
///
/// Go: `--engine "katago analysis -model M -config C"` or `--katago-dir DIR`
/// (uses DIR/katago, DIR/g170-b6c96.bin.gz, DIR/analysis.cfg). Chess:
/// `--uci-engine stockfish`. Verdicts go to the judge_moves table; running
/// the same command again resumes and never judges a move twice. Ctrl-C
/// (or SIGTERM) stops cleanly: judged games stay stored, the games in
/// flight are left for the next run of the same command. Metrics are in
/// the SQL views described in docs/metrics.md.
///
/// `--point`, `--games` and `--limit` judge part of the run: the subset is
/// not part of the judge run's identity, so calls with the same judge
/// settings and different subsets extend one judge run and its coverage
/// accumulates. The engine's conversation is appended to
/// runs/<tag>/logs/judge-<judge run id>.log unless --transcript or
/// --no-transcript says otherwise.
#[derive(Debug, Args)]
pub struct JudgeArgs {
    /// Tag of the run whose games are judged.
    #[arg(long)]
    pub run: qarena_arena::RunTag,
    /// KataGo analysis command (Go judge).
    #[arg(long, conflicts_with_all = ["katago_dir", "uci_engine"])]
    pub engine: Option<String>,
    /// Directory with katago, g170-b6c96.bin.gz and analysis.cfg (Go judge).
    #[arg(long, conflicts_with = "uci_engine")]
    pub katago_dir: Option<PathBuf>,
    /// UCI engine command (chess judge), e.g. "stockfish".
    #[arg(long)]
    pub uci_engine: Option<String>,
    /// Go: visits per position.
    #[arg(long, default_value_t = 64)]
    pub visits: u32,
    /// Blunder threshold: winrate loss for Go (0..1), centipawns for chess
    /// (default 0.1 and 200).
    #[arg(long)]
    pub blunder: Option<f64>,
    /// Go: candidates kept per position.
    #[arg(long, default_value_t = 5)]
    pub top_k: usize,
    /// Go: numAnalysisThreads (default: number of CPUs).
    #[arg(long)]
    pub analysis_threads: Option<u32>,
    /// Go: numSearchThreadsPerAnalysisThread.
    #[arg(long, default_value_t = 1)]
    pub search_threads: u32,
    /// Go: numEigenThreadsPerModel for CPU builds (default: analysis
    /// threads; 0 keeps the config's value).
    #[arg(long)]
    pub eigen_threads: Option<u32>,
    /// Go: games with a query in flight (default: 2 x analysis threads).
    #[arg(long)]
    pub window: Option<usize>,
    /// Chess: nodes per position.
    #[arg(long, default_value_t = 20_000, conflicts_with = "depth")]
    pub nodes: u64,
    /// Chess: fixed depth instead of nodes.
    #[arg(long)]
    pub depth: Option<u32>,
    /// Chess: lines searched per position.
    #[arg(long, default_value_t = 3)]
    pub multipv: u32,
    /// Seconds one query may take, counted from when it is sent, before the
    /// engine counts as hung: Go, one game's whole analysis (including its
    /// wait behind the other games in flight); chess, one position's
    /// search. Output other than the answer does not extend it.
    #[arg(long, default_value_t = 120.0)]
    pub timeout: f64,
    /// Engine restarts allowed after crashes or timeouts.
    #[arg(long, default_value_t = 1)]
    pub restarts: u32,
    /// Judge only the games of this sweep point (`point_index`; a plain
    /// match is point 0).
    #[arg(long, value_name = "N")]
    pub point: Option<u32>,
    /// Judge only games whose index is in A..B: A included, B excluded
    /// (`0..10` is games 0 to 9); `A..` and `..B` leave one end open.
    #[arg(long, value_name = "A..B")]
    pub games: Option<qarena_judge::GameRange>,
    /// Judge at most N games: the first N not judged yet, in game order
    /// (point, then game index).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,
    /// Judge only shard K of N of the games (game i of point p is shard
    /// (p + i) mod N's). Run each shard on its own copy of the database;
    /// `qarena merge` joins the verdicts.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<qarena_store::Shard>,
    /// Append the judge engine's traffic to this file instead of the run
    /// folder's logs/judge-<judge run id>.log.
    #[arg(long, conflicts_with = "no_transcript")]
    pub transcript: Option<PathBuf>,
    /// Write no transcript of the judge engine's traffic.
    #[arg(long)]
    pub no_transcript: bool,
    /// The runs folder whose runs/<tag>/logs gets the judge's transcript.
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,
    /// Print a progress line every N games (0: never).
    #[arg(long, default_value_t = 10)]
    pub progress_every: usize,
    /// Measure judge throughput against `katago analysis` alone on the
    /// same queries (Go only); judges a scratch copy, not the database.
    #[arg(long)]
    pub bench: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

fn split(cmd: &str, flag: &str) -> Result<Vec<String>, Exit> {
    qarena_arena::command::split_command(cmd).map_err(|e| Exit::input(anyhow!("--{flag}: {e}")))
}

fn options(a: &JudgeArgs) -> Result<JudgeOptions, Exit> {
    if !(a.timeout.is_finite() && a.timeout > 0.0) {
        return Err(Exit::input(anyhow!(
            "--timeout must be a positive number of seconds"
        )));
    }
    let kind = if let Some(cmd) = &a.uci_engine {
        let mut s = ChessJudgeSettings::new(split(cmd, "uci-engine")?);
        s.limit = match a.depth {
            Some(d) => GoLimit::Depth(d),
            None => GoLimit::Nodes(a.nodes),
        };
        s.multipv = a.multipv;
        if let Some(b) = a.blunder {
            if b.fract() != 0.0 || b <= 0.0 {
                return Err(Exit::input(anyhow!(
                    "--blunder for chess is a whole number of centipawns, got {b}"
                )));
            }
            s.blunder_cp = b as i64;
        }
        JudgeKind::Chess(s)
    } else {
        let argv = match (&a.engine, &a.katago_dir) {
            (Some(cmd), _) => split(cmd, "engine")?,
            (None, Some(dir)) => {
                for f in ["katago", "g170-b6c96.bin.gz", "analysis.cfg"] {
                    if !dir.join(f).is_file() {
                        return Err(Exit::input(anyhow!(
                            "--katago-dir {}: {f} is missing",
                            dir.display()
                        )));
                    }
                }
                GoJudgeSettings::katago_dir_argv(dir)
            }
            (None, None) => {
                return Err(Exit::input(anyhow!(
                    "give --engine \"katago analysis -model M -config C\", --katago-dir DIR \
                     (Go) or --uci-engine CMD (chess)"
                )))
            }
        };
        let mut s = GoJudgeSettings::new(argv);
        s.max_visits = a.visits;
        s.top_k = a.top_k;
        if let Some(t) = a.analysis_threads {
            s.analysis_threads = t.max(1);
            s.eigen_threads = t.max(1);
            s.window = 2 * t.max(1) as usize;
        }
        s.search_threads = a.search_threads.max(1);
        if let Some(e) = a.eigen_threads {
            s.eigen_threads = e;
        }
        if let Some(w) = a.window {
            s.window = w.max(1);
        }
        if let Some(b) = a.blunder {
            s.blunder_winrate = b;
        }
        JudgeKind::Go(s)
    };
    let mut o = JudgeOptions::new(kind);
    o.timeout = Duration::from_secs_f64(a.timeout);
    o.restarts = a.restarts;
    o.transcript = match (&a.transcript, a.no_transcript) {
        (Some(file), _) => TranscriptTarget::File(file.clone()),
        (None, true) => TranscriptTarget::Off,
        (None, false) => TranscriptTarget::Folder(
            qarena_arena::runfolder::RunFolder::at(&a.runs_dir, &a.run).logs(),
        ),
    };
    o.subset = GameSubset {
        point: a.point.map(i64::from),
        games: a.games,
        limit: a.limit.map(|n| n as usize),
        shard: a.shard,
    };
    Ok(o)
}

fn exit_for(e: JudgeError) -> Exit {
    if e.is_engine_failure() {
        Exit::engine(e)
    } else {
        Exit::input(e)
    }
}

fn print_report(r: &JudgeReport) {
    println!(
        "judge run {} of run '{}'{}",
        r.judge_run,
        r.run_tag,
        if r.resumed { " (resumed)" } else { "" }
    );
    println!(
        "engine     {}{}",
        r.engine_command.join(" "),
        r.engine_version
            .as_deref()
            .map(|v| format!(" ({v})"))
            .unwrap_or_default()
    );
    if !r.subset.is_all() {
        println!(
            "subset     {}: {}/{} of its games judged{}",
            r.subset,
            r.subset_judged,
            r.subset_games,
            if r.subset_left > 0 {
                format!(", {} left for a later call by --limit", r.subset_left)
            } else {
                String::new()
            }
        );
    }
    println!(
        "coverage   {}/{} games of the run ({:.1}%); {} judged now, {} already judged, {} failed",
        r.games_judged,
        r.games_played,
        100.0 * r.coverage(),
        r.games_judged_now,
        r.games_skipped,
        r.failures.len()
    );
    if let Some(t) = &r.transcript {
        println!("transcript {}", t.display());
    }
    for f in &r.failures {
        println!(
            "  unjudged: point {} game {}: {}",
            f.point_index, f.game_index, f.reason
        );
    }
    println!(
        "elapsed    {:.1} s, {} positions, {:.1} positions/s",
        r.elapsed.as_secs_f64(),
        r.positions,
        r.positions_per_second()
    );
    if !r.slots.is_empty() {
        println!("point  slot  label                 games  moves  blunders  avg loss (95% CI)");
    }
    for s in &r.slots {
        let loss = if s.unit == "cp" {
            format!("{:.1} ± {:.1} cp", s.mean_loss, s.ci95)
        } else {
            format!("{:.4} ± {:.4} winrate", s.mean_loss, s.ci95)
        };
        let score = s
            .mean_loss_score
            .map(|(m, ci)| format!(", {m:.2} ± {ci:.2} points"))
            .unwrap_or_default();
        println!(
            "{:>5}  {:<4}  {:<20}  {:>5}  {:>5}  {:>8}  {loss}{score}",
            s.point_index, s.slot, s.label, s.games, s.moves, s.blunders
        );
    }
}

pub fn run(a: JudgeArgs) -> CliResult {
    if !a.db.db.exists() {
        return Err(Exit::input(anyhow!(
            "database {} does not exist",
            a.db.db.display()
        )));
    }
    let opts = options(&a)?;
    let store = Store::open(&a.db.db)?;
    if a.bench {
        let scratch =
            std::env::temp_dir().join(format!("qarena-judge-bench-{}", std::process::id()));
        fs_err::create_dir_all(&scratch).map_err(Exit::input)?;
        let mut opts = opts;
        opts.stop = Some(qarena_engine::install_shutdown_flag());
        // The benchmark judges a scratch copy: its traffic does not belong
        // in the run folder.
        if matches!(opts.transcript, TranscriptTarget::Folder(_)) {
            opts.transcript = TranscriptTarget::Off;
        }
        let result = bench::go_throughput(&store, &a.run, &opts, &scratch);
        // The scratch copy is only evidence for a failed benchmark.
        if matches!(result, Ok(_) | Err(JudgeError::Interrupted)) {
            let _ = fs_err::remove_dir_all(&scratch);
        }
        if let Err(JudgeError::Interrupted) = result {
            // The status of an interrupted run; the database was not touched.
            eprintln!("stopped: the benchmark was interrupted; nothing was stored");
            return Ok(());
        }
        let b = result.map_err(exit_for)?;
        println!("command    {}", b.command.join(" "));
        println!("positions  {} in {} games", b.positions, b.games);
        println!(
            "katago analysis alone  {:>8.1} positions/s  ({:.2} s)",
            b.reference_positions_per_second(),
            b.reference_secs
        );
        println!(
            "qarena judge           {:>8.1} positions/s  ({:.2} s)",
            b.judge_positions_per_second(),
            b.judge_secs
        );
        println!("ratio                  {:>8.1}%", 100.0 * b.ratio());
        return Ok(());
    }
    let every = a.progress_every;
    let mut progress = |p: &qarena_judge::Progress| {
        if every > 0 && (p.done.is_multiple_of(every) || p.done == p.todo) {
            eprintln!(
                "judge: {}/{} games, {} positions, {:.1} positions/s",
                p.done,
                p.todo,
                p.positions,
                p.positions as f64 / p.elapsed.as_secs_f64().max(1e-9)
            );
        }
    };
    // Ctrl-C and SIGTERM end the judge run cleanly, as they end a match.
    let mut opts = opts;
    opts.stop = Some(qarena_engine::install_shutdown_flag());
    let report = judge(&store, &a.run, &opts, &mut progress).map_err(exit_for)?;
    print_report(&report);
    if report.interrupted {
        // The same status as an interrupted match: the run is resumable.
        eprintln!(
            "stopped: verdicts of {} of {} games are stored; run the same command again to \
             judge the rest",
            report.games_judged, report.games_played
        );
        return Ok(());
    }
    match &report.engine_failure {
        Some(e) => Err(Exit::engine(anyhow!(
            "the judge engine failed beyond recovery: {e}; {} of {} games judged — \
             run the same command again to resume",
            report.games_judged,
            report.games_played
        ))),
        None => Ok(()),
    }
}
