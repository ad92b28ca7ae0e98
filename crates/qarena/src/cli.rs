//! Argument definitions. Every subcommand's `--help` says what it does,
//! what it writes and how it fails.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use qarena_arena::RunTag;

use crate::CliResult;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  a check or gate failed, or a gate's SPRT is undecided
  2  usage or input error (flags, config, model file, database path)
  3  an engine failed beyond recovery (see the run's events and logs/)
  4  storage failed (disk full, read-only or failing database): finished
     games are kept; fix the disk and resume the run";

const GATE_HELP: &str = "\
Accept or reject a variant: exit 0 if it passes, 1 if it fails or
an SPRT is undecided.

The checks \"scores at least --min-score\" and \"loses less than
--max-elo-loss X Elo\" are judged on one of three bases:

  --basis ci (default): the lower end of the two-sided --confidence
    interval of Elo must be above -X; min-score is the point score.
    An honest claim, but it needs games: an equal variant with 40%
    draws passes X = 50 with 80% probability only after ~230 games,
    X = 20 after ~1,400 (`gate --plan` says how many).
  --basis point: the point estimates alone (score >= min-score, Elo
    > -X). No confidence at all: a quick filter, not evidence.
  --basis sprt: an SPRT of elo0 = -X against elo1 = 0 (logistic Elo,
    pentanomial when every game is paired; --alpha/--beta, 0.05 each).
    H1 accepted = PASS, H0 accepted = FAIL, neither = UNDECIDED (exit
    1, \"play more\"). With engines (--engine-a/--engine-b or --config,
    the flags of `qarena match`) instead of --run/--wdl/--penta, it
    plays a new match until the SPRT decides, at most --max-games.

Examples:
  qarena gate --run int8-vs-fp32 --min-score 0.45 --max-elo-loss 50
  qarena gate --basis point --wdl 28,40,32 --max-elo-loss 50
  qarena gate --basis sprt --penta 2,20,56,20,2 --max-elo-loss 50
  qarena gate --basis sprt --max-elo-loss 20 --protocol uci \\
    --engine-a stockfish --engine-b stockfish \\
    --option-a EvalFile=variant.nnue --nodes 20000 --node-jitter 0.1";

/// qarena measures what quantization costs a neural network by making the
/// quantized variants compete against a baseline: every engine runs as its own
/// process (GTP for Go, UCI for chess), every game and engine belief lands in
/// one SQLite database, and results come with honest statistics.
#[derive(Debug, Parser)]
#[command(name = "qarena", version, after_long_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Play a match between two engines and store every game.
    ///
    /// Engines are command templates (`{model}` and `{config}` are replaced
    /// by the engine's model/config paths). Games alternate colours: games
    /// 2k and 2k+1 form a pair with colours swapped. Each finished game is
    /// committed at once; Ctrl-C stops cleanly (the game in progress is
    /// stored as aborted) and `--resume TAG` finishes the run.
    ///
    /// Example:
    ///   qarena match --engine-a "gnugo --mode gtp --level 1" \
    ///                --engine-b "gnugo --mode gtp --level 5" --games 20
    #[command(after_long_help = EXIT_CODES)]
    Match(Box<MatchArgs>),
    /// The built-in demo: Stockfish's own NNUE net degraded step by step
    /// (feature transformer at 8..1.6 bits, fc layers at 4 and 1.6 bits),
    /// each variant played against the original; prints strength vs bytes.
    ///
    /// Needs only Debian's `stockfish`. The default (9 points x 200 games)
    /// takes about 3 minutes on 2 cores, `--quick` (20 games per point)
    /// about 40 seconds.
    #[command(after_long_help = EXIT_CODES)]
    Demo(crate::sweep_cmd::DemoArgs),
    /// Play a ladder of variants of one model against one baseline.
    ///
    /// The sweep file names the model, the engine template, the baseline,
    /// explicit points (strategies) and/or a generator (module targets x
    /// severities in quantization levels). Variants are built once and
    /// cached by content hash; every point uses the same openings and
    /// colours. `--refine` adds points where strength drops fastest.
    #[command(after_long_help = EXIT_CODES)]
    Sweep(crate::sweep_cmd::SweepArgs),
    /// Opening suites for chess.
    Openings {
        #[command(subcommand)]
        command: OpeningsCommand,
    },
    /// List, show and prune runs.
    Runs {
        #[command(subcommand)]
        command: RunsCommand,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Judge every move of a run's games with a judge engine (KataGo
    /// analysis for Go, UCI for chess); resumable, never judges a move twice.
    ///
    /// Example: qarena judge --run kl1 --katago-dir ../shared/katago --visits 64
    #[command(after_long_help = EXIT_CODES)]
    Judge(crate::judge_cmd::JudgeArgs),
    /// Write a Markdown (and --html) report with PNG plots of a sweep or
    /// run: protocol, results with Elo ± 95% CI, judge and self-eval
    /// metrics, limitations, provenance.
    ///
    /// Example: qarena report --sweep katago-9x9-ladder -o report/ --html
    #[command(after_long_help = EXIT_CODES)]
    Report(crate::report_cmd::ReportArgs),
    /// Elo, normalised Elo, LOS and score with confidence intervals.
    ///
    /// From a stored run (pentanomial when every game has its pair) or from
    /// counts: `qarena stats --wdl 60,20,20`, `qarena stats --penta 1,5,20,10,4`.
    Stats(StatsArgs),
    /// Ratings of every player of a run (sweep points, baseline, anchors)
    /// from all its games: one Bradley–Terry fit with 95% intervals,
    /// anchored at a named player.
    ///
    /// Example: qarena ratings --run demo-1 --anchor sf-elo-1500=1500
    #[command(after_long_help = EXIT_CODES)]
    Ratings(crate::ratings_cmd::RatingsArgs),
    /// The generalised SPRT of chess engine testing, after the fact or on counts.
    ///
    /// Example: `qarena sprt --run r1 --sprt elo0=-10,elo1=0,alpha=0.05,beta=0.05`
    Sprt(SprtArgs),
    /// Accept or reject a variant: exit 0 if it passes, 1 if it fails or
    /// an SPRT is undecided.
    #[command(long_about = GATE_HELP, after_long_help = EXIT_CODES)]
    Gate(Box<GateArgs>),
    /// List a model's tensors with role, layer, shape, dtype, params, bytes.
    #[command(after_long_help = EXIT_CODES)]
    Inspect(crate::quant_cmd::InspectArgs),
    /// Fake-quantize a model with a strategy; writes the variant (same
    /// format, the engine loads it unchanged) and its manifest.
    ///
    /// Examples:
    ///   qarena quantize net.nnue --scheme int4 --granularity channel -o net-int4.nnue
    ///   qarena quantize g170.bin.gz --strategy strategies/int4-trunk-fp-heads.toml
    #[command(after_long_help = EXIT_CODES)]
    Quantize(crate::quant_cmd::QuantizeArgs),
    /// How much a variant changed the network, in seconds and without
    /// games: its raw outputs against the original's on a position suite
    /// (Go: policy KL, top-1, winrate and lead error through KataGo's
    /// `kata-raw-nn`; chess: Stockfish's static NNUE evaluation). Results
    /// are stored in the database; asking again reads them back.
    ///
    /// Examples:
    ///   qarena probe variants/1a2b3c4d5e6f7a8b           # a cached variant vs its model
    ///   qarena probe net-int4.bin.gz --reference net.bin.gz --suite mine.suite
    ///   qarena probe positions --from-run demo-1 --count 500 -o mine.suite
    #[command(after_long_help = EXIT_CODES)]
    Probe(crate::probe_cmd::ProbeArgs),
    /// Survival tournaments: quantization strategies generated, probed and
    /// selected under a budget (`run`), and the best one written out
    /// (`export`).
    #[command(after_long_help = EXIT_CODES)]
    Evolve {
        #[command(subcommand)]
        command: crate::evolve_cmd::EvolveCommand,
    },
    /// Combine the shard databases of a sharded run (`--shard K/N`) into
    /// one: runs, engines, games with moves and self-evaluations, events,
    /// catalogue, probes and judge verdicts, ids remapped; run folders
    /// copied alongside. Each shard is merged in one transaction and
    /// refused whole on a conflict (the same game with other content,
    /// another definition, another engine in a slot). Merging again adds
    /// nothing; missing shards and games are reported.
    ///
    /// Example: qarena merge merged.sqlite m0/qarena.sqlite m1/qarena.sqlite
    #[command(after_long_help = EXIT_CODES)]
    Merge(crate::merge_cmd::MergeArgs),
    /// Spread a sweep over a Slurm cluster: a job array (one task per
    /// shard) and a dependent merge job; and the shards' progress.
    #[command(after_long_help = EXIT_CODES)]
    Slurm {
        #[command(subcommand)]
        command: crate::slurm_cmd::SlurmCommand,
    },
    /// Language models: next-token KL against the reference over a text,
    /// multiple-choice accuracy, two variants compared item by item, and
    /// conversion to safetensors. Results are stored per token and item.
    #[command(after_long_help = EXIT_CODES)]
    Llm {
        #[command(subcommand)]
        command: crate::llm_cmd::LlmCommand,
    },
    /// Export game records of a run (SGF for Go, PGN for chess).
    Export {
        #[command(subcommand)]
        command: ExportCommand,
    },
}

#[derive(Debug, Args, Clone)]
pub struct DbArgs {
    /// The workspace database.
    #[arg(long, global = true, default_value = "qarena.sqlite")]
    pub db: PathBuf,
}

/// The engines and settings of a match: shared by `qarena match` and
/// `qarena gate --basis sprt`, which plays a match until its SPRT decides.
#[derive(Debug, Args)]
pub struct PlayArgs {
    /// TOML match config ([engine_a], [engine_b], [go], [chess], [timeouts],
    /// games, concurrency, restarts); flags override it.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Command line of engine A (the engine under test).
    #[arg(long)]
    pub engine_a: Option<String>,
    /// Command line of engine B (the baseline).
    #[arg(long)]
    pub engine_b: Option<String>,
    /// Display name of engine A.
    #[arg(long)]
    pub name_a: Option<String>,
    /// Display name of engine B.
    #[arg(long)]
    pub name_b: Option<String>,
    /// Protocol both engines speak.
    #[arg(long, value_parser = ["gtp", "uci"])]
    pub protocol: Option<String>,
    /// Games played in parallel, each with its own pair of engine processes.
    #[arg(long, short = 'j')]
    pub concurrency: Option<usize>,
    /// Go board size (2..25).
    #[arg(long)]
    pub board_size: Option<u8>,
    /// Go komi.
    #[arg(long, allow_hyphen_values = true)]
    pub komi: Option<f32>,
    /// Go move cap in plies (0: 3 x board points); the game is scored by area.
    #[arg(long)]
    pub move_cap: Option<u32>,
    /// Go: how games ended by two passes are counted. `dead-stones` (the
    /// default) removes the stones both engines name with
    /// `final_status_list dead` (the referee decides when they differ);
    /// `area` counts every stone as alive (Tromp-Taylor), for engines that
    /// play every game out.
    #[arg(long, value_parser = ["dead-stones", "area"])]
    pub scoring: Option<String>,
    /// Go: a GTP engine that settles dead stones when the engines disagree
    /// or cannot say (e.g. "gnugo --mode gtp"); without one such games are
    /// recorded as disputed.
    #[arg(long, value_name = "CMD")]
    pub referee: Option<String>,
    /// Chess: nodes per move (deterministic engines: add --node-jitter).
    #[arg(long, help_heading = "Chess")]
    pub nodes: Option<u64>,
    /// Chess: depth per move.
    #[arg(long, help_heading = "Chess")]
    pub depth: Option<u32>,
    /// Chess: milliseconds per move.
    #[arg(long, help_heading = "Chess")]
    pub movetime_ms: Option<u64>,
    /// Chess: a clock kept by qarena, e.g. `10+0.1` (seconds + increment).
    #[arg(long, help_heading = "Chess")]
    pub tc: Option<String>,
    /// Chess: per-move node jitter as a fraction (0.1 = ±10%), seeded per game.
    #[arg(long, help_heading = "Chess")]
    pub node_jitter: Option<f64>,
    /// Match seed: which opening each pair plays (and, in chess, the node
    /// jitter).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Opening book; both games of a pair start from the same opening,
    /// colours swapped. Chess: an EPD or PGN file (default: the built-in
    /// suite). Go: one opening per line as GTP vertices from the empty
    /// board, Black first (`E5 C4 G3`), e.g. the shipped
    /// `openings/go9-balanced.txt` or one made by `qarena openings go`;
    /// without it every Go game starts from the empty board.
    #[arg(long)]
    pub openings: Option<PathBuf>,
    /// Chess: UCI option for both engines, NAME=VALUE (repeatable).
    #[arg(long = "uci-option", help_heading = "Chess")]
    pub uci_options: Vec<String>,
    /// Chess: UCI option for engine A only (e.g. EvalFile=variant.nnue).
    #[arg(long = "option-a", help_heading = "Chess")]
    pub options_a: Vec<String>,
    /// Chess: UCI option for engine B only.
    #[arg(long = "option-b", help_heading = "Chess")]
    pub options_b: Vec<String>,
    /// Do not ask engines for their self-evaluation.
    #[arg(long)]
    pub no_self_eval: bool,
    /// Seconds an engine may take to start and answer its first command.
    #[arg(long)]
    pub timeout_startup: Option<f64>,
    /// Seconds an engine may take for one move.
    #[arg(long)]
    pub timeout_move: Option<f64>,
    /// Seconds an engine may take for any other command.
    #[arg(long)]
    pub timeout_command: Option<f64>,
    /// Restarts allowed per engine after faults before the run stops (exit 3).
    #[arg(long)]
    pub restarts: Option<u32>,
    /// Tag of the run (default: match-<timestamp>-<pid>): 1-64 characters
    /// from A-Z a-z 0-9 . _ -, starting with a letter or digit; the run
    /// folder is runs/<tag>.
    #[arg(long)]
    pub run_tag: Option<RunTag>,
    /// Where run folders go.
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,
}

impl PlayArgs {
    /// Whether any flag of a match was given (`--runs-dir` only when not
    /// the default).
    pub fn given(&self) -> bool {
        let p = self;
        p.config.is_some()
            || p.engine_a.is_some()
            || p.engine_b.is_some()
            || p.name_a.is_some()
            || p.name_b.is_some()
            || p.protocol.is_some()
            || p.concurrency.is_some()
            || p.board_size.is_some()
            || p.komi.is_some()
            || p.move_cap.is_some()
            || p.scoring.is_some()
            || p.referee.is_some()
            || p.nodes.is_some()
            || p.depth.is_some()
            || p.movetime_ms.is_some()
            || p.tc.is_some()
            || p.node_jitter.is_some()
            || p.seed.is_some()
            || p.openings.is_some()
            || !p.uci_options.is_empty()
            || !p.options_a.is_empty()
            || !p.options_b.is_empty()
            || p.no_self_eval
            || p.timeout_startup.is_some()
            || p.timeout_move.is_some()
            || p.timeout_command.is_some()
            || p.restarts.is_some()
            || p.run_tag.is_some()
            || p.runs_dir != std::path::Path::new("runs")
    }
}

#[derive(Debug, Args)]
pub struct MatchArgs {
    #[command(flatten)]
    pub play: PlayArgs,
    /// Number of games (even numbers give complete colour-swapped pairs).
    #[arg(long, short = 'n')]
    pub games: Option<u32>,
    /// Stop early when this SPRT decides (on complete game pairs):
    /// elo0=..,elo1=..[,alpha=0.05,beta=0.05,model=logistic|normalized].
    /// Games in progress finish; the verdict is stored on the run.
    #[arg(long)]
    pub sprt: Option<String>,
    /// Finish an interrupted run: plays only the games it does not have yet.
    /// Refused while another process owns the run.
    #[arg(long, value_name = "RUN_TAG", conflicts_with = "run_tag")]
    pub resume: Option<RunTag>,
    /// Play only shard K of N (0 <= K < N): every N-th colour-swapped pair,
    /// into this database (give each shard its own --db and --runs-dir);
    /// seeds and openings follow the global game index, so the shards
    /// together play exactly the games of the unsharded run. `qarena merge`
    /// joins them. Not with --sprt.
    #[arg(long, value_name = "K/N", conflicts_with = "sprt")]
    pub shard: Option<qarena_store::Shard>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct CountsArgs {
    /// A stored run (engine A is the tested engine).
    #[arg(long)]
    pub run: Option<RunTag>,
    /// Sweep point of the run.
    #[arg(long, default_value_t = 0)]
    pub point: i64,
    /// Counts W,D,L of the tested engine.
    #[arg(long, conflicts_with_all = ["run", "penta"])]
    pub wdl: Option<String>,
    /// Pair counts LL,LD,WL+DD,WD,WW (pair scores 0, 0.5, 1, 1.5, 2).
    #[arg(long, conflicts_with_all = ["run", "wdl"])]
    pub penta: Option<String>,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub counts: CountsArgs,
    /// Two-sided confidence level of the intervals.
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SprtArgs {
    #[command(flatten)]
    pub counts: CountsArgs,
    /// Hypotheses and error rates: elo0=..,elo1=..[,alpha=0.05,beta=0.05,model=logistic|normalized]
    #[arg(long)]
    pub sprt: String,
    #[arg(long)]
    pub json: bool,
}

/// The basis of `qarena gate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BasisArg {
    /// The bound of the two-sided --confidence interval.
    Ci,
    /// The point estimates, no confidence statement.
    Point,
    /// An SPRT of elo0 = -X against elo1 = 0.
    Sprt,
}

#[derive(Debug, Args)]
pub struct GateArgs {
    #[command(flatten)]
    pub counts: CountsArgs,
    /// Minimum score of the tested engine (0..1).
    #[arg(long)]
    pub min_score: Option<f64>,
    /// Largest Elo loss accepted (X in "loses less than X Elo").
    #[arg(long)]
    pub max_elo_loss: Option<f64>,
    /// What the checks are judged on: the interval bound (ci), the point
    /// estimates (point) or an SPRT of elo0 = -X against elo1 = 0 (sprt).
    #[arg(long, value_enum, default_value_t = BasisArg::Ci)]
    pub basis: BasisArg,
    /// Two-sided confidence level of the interval (--basis ci).
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
    /// --basis sprt: probability of passing a variant that loses X Elo
    /// [default: 0.05].
    #[arg(long)]
    pub alpha: Option<f64>,
    /// --basis sprt: probability of failing a variant that loses nothing
    /// [default: 0.05].
    #[arg(long)]
    pub beta: Option<f64>,
    /// --basis sprt with engines: the most games to play before giving up
    /// undecided (the match's game count) [default: 20000].
    #[arg(long)]
    pub max_games: Option<u32>,
    /// --basis sprt: a match to play until the SPRT decides, with the
    /// flags of `qarena match` (except --games, --sprt, --resume, --json).
    #[command(flatten, next_help_heading = "Match to play (--basis sprt)")]
    pub play: PlayArgs,
    /// Plan instead of judging: print how many games a match needs so that
    /// a variant of --true-elo passes --max-elo-loss with probability
    /// --power (trinomial variance with --draw-ratio).
    #[arg(long)]
    pub plan: bool,
    /// With --plan: the share of drawn games expected.
    #[arg(long, default_value_t = 0.4)]
    pub draw_ratio: f64,
    /// With --plan: the probability of passing wanted.
    #[arg(long, default_value_t = 0.8)]
    pub power: f64,
    /// With --plan: the variant's assumed true Elo against its baseline.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub true_elo: f64,
    /// Also require no catastrophic tactical failure: an EPD suite with best
    /// moves (`bm`), searched by the variant (--engine) and the reference at
    /// the same node budget; a failure is a position the reference solves
    /// and the variant does not. Without FILE, the built-in suite
    /// (openings/tactics.epd). May be used without --run.
    #[arg(long, num_args = 0..=1, value_name = "FILE")]
    pub tactics: Option<Option<PathBuf>>,
    /// UCI command of the variant engine for --tactics.
    #[arg(long, value_name = "CMD")]
    pub engine: Option<String>,
    /// UCI option of the variant, NAME=VALUE (repeatable), e.g. EvalFile=variant.nnue.
    #[arg(long = "engine-option", value_name = "NAME=VALUE")]
    pub engine_options: Vec<String>,
    /// UCI command of the reference engine (default: the --engine command
    /// without the variant's options).
    #[arg(long, value_name = "CMD")]
    pub reference: Option<String>,
    /// UCI option of the reference, NAME=VALUE (repeatable).
    #[arg(long = "reference-option", value_name = "NAME=VALUE")]
    pub reference_options: Vec<String>,
    /// Nodes per position for both engines.
    #[arg(long, default_value_t = 20_000)]
    pub tactics_nodes: u64,
    /// Most positions the variant may lose that the reference solved.
    #[arg(long, default_value_t = 0)]
    pub max_tactical_failures: usize,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs with their status and game counts.
    List,
    /// Show one run: settings, engines, results, terminations, events.
    Show { tag: RunTag },
    /// Delete runs without games (and, with --with-games, failed runs with
    /// their games): database rows and run folder.
    ///
    /// A run owned by a live process (runs/<tag>/owner.lock) is never
    /// deleted, nor is anything outside the runs folder: symbolic links are
    /// not followed, and rows whose tag is not a valid run tag lose only
    /// their database rows.
    Prune {
        /// Only list what would be deleted, and why the others are kept.
        #[arg(long)]
        dry_run: bool,
        /// Also delete failed runs that have finished games (they can
        /// otherwise be finished with `--resume`).
        #[arg(long)]
        with_games: bool,
        /// The runs folder the runs were played in.
        #[arg(long, default_value = "runs")]
        runs_dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum OpeningsCommand {
    /// Build a balanced suite: random legal play from the start position,
    /// kept when the engine's evaluation is within ±max-eval centipawns.
    ///
    /// Example: qarena openings generate --engine stockfish --plies 8 \
    ///            --max-eval 50 --count 200 --seed 1 -o my.epd
    Generate {
        /// UCI engine command used to evaluate the positions.
        #[arg(long)]
        engine: String,
        #[arg(long, default_value_t = 8)]
        plies: u32,
        #[arg(long, default_value_t = 50)]
        max_eval: i32,
        #[arg(long, default_value_t = 200)]
        count: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Build a balanced Go opening book for `qarena match --openings` from
    /// a KataGo net, run by qarena's own forward pass (no engine needed).
    ///
    /// Each opening is a walk of --min-plies to --max-plies moves from the
    /// empty board, every move drawn in proportion to the net's policy. It
    /// is kept when the net, averaged over the 8 board symmetries, gives
    /// Black a winrate within --max-gap of 0.5, and when no kept opening is
    /// the same sequence turned or mirrored. Both games of a match pair
    /// start from the same opening with colours swapped.
    ///
    /// Example: qarena openings go g170-b6c96.bin.gz --count 300 \
    ///            --min-plies 2 --max-plies 6 --max-gap 0.1 -o go9.txt
    Go {
        /// KataGo net (.bin.gz or .bin) whose policy and value draw the book.
        net: PathBuf,
        #[arg(long, default_value_t = 300)]
        count: usize,
        #[arg(long, default_value_t = 2)]
        min_plies: usize,
        #[arg(long, default_value_t = 6)]
        max_plies: usize,
        /// Largest distance of Black's winrate from 0.5.
        #[arg(long, default_value_t = 0.1)]
        max_gap: f32,
        #[arg(long, default_value_t = 9)]
        board_size: u8,
        #[arg(long, default_value_t = 7.0)]
        komi: f32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Merge Go opening books into one, in the order given: an opening
    /// equal to one kept before it, or to a turn or mirror of one, is
    /// dropped, so a match over the merged book plays no opening twice.
    /// The board size and komi come from the first book's headers; each
    /// opening keeps the comment line above it (Black's winrate in a book
    /// `qarena openings go` drew). Prints how many each book gave.
    ///
    /// Example: qarena openings merge book-a.txt book-b.txt -o book.txt
    Merge {
        /// The books, first to last; earlier books win ties.
        #[arg(required = true, num_args = 1..)]
        books: Vec<PathBuf>,
        /// The board size (default: the first book's `board_size` header,
        /// else 9); a book whose header says otherwise is refused.
        #[arg(long)]
        board_size: Option<u8>,
        /// The merged book.
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Build a tactical suite for `qarena gate --tactics`: positions from
    /// seeded random play (10-40 plies) where a MultiPV 2 search to --depth
    /// shows one move at least 150 cp better than the next, with the best
    /// score within ±600 cp. Writes EPD lines with `bm` and `id`.
    ///
    /// Example: qarena openings tactics --engine stockfish --count 50 \
    ///            --seed 1 --depth 16 -o tactics.epd
    Tactics {
        /// UCI engine command used to search the positions.
        #[arg(long)]
        engine: String,
        #[arg(long, default_value_t = 50)]
        count: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 16)]
        depth: u32,
        #[arg(long, short)]
        output: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Write one SGF file per Go game of a run into a directory.
    Sgf {
        #[arg(long)]
        run: RunTag,
        #[arg(long, short)]
        output: PathBuf,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Write all chess games of a run into one PGN file.
    Pgn {
        #[arg(long)]
        run: RunTag,
        #[arg(long, short)]
        output: PathBuf,
        #[command(flatten)]
        db: DbArgs,
    },
}

pub fn dispatch(cli: Cli) -> CliResult {
    match cli.command {
        Command::Match(a) => crate::match_cmd::run(*a),
        Command::Demo(a) => crate::sweep_cmd::demo(a),
        Command::Sweep(a) => crate::sweep_cmd::sweep(a),
        Command::Runs { command, db } => crate::runs_cmd::run(command, &db.db),
        Command::Export { command } => crate::runs_cmd::export(command),
        Command::Merge(a) => crate::merge_cmd::run(a),
        Command::Openings { command } => crate::match_cmd::openings(command),
        Command::Stats(a) => crate::stats_cmd::stats(a),
        Command::Ratings(a) => crate::ratings_cmd::run(a),
        Command::Judge(a) => crate::judge_cmd::run(a),
        Command::Report(a) => crate::report_cmd::run(a),
        Command::Inspect(a) => crate::quant_cmd::inspect(a),
        Command::Quantize(a) => crate::quant_cmd::quantize(a),
        Command::Probe(a) => crate::probe_cmd::run(a),
        Command::Evolve { command } => crate::evolve_cmd::run(command),
        Command::Slurm { command } => crate::slurm_cmd::run(command),
        Command::Llm { command } => crate::llm_cmd::run(command),
        Command::Sprt(a) => crate::stats_cmd::sprt(a),
        Command::Gate(a) => crate::stats_cmd::gate(*a),
    }
}
