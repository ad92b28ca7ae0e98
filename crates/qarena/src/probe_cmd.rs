//! `qarena probe`: how much a variant changed the network, in seconds and
//! without games; `qarena probe positions`: make a position suite.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::{Args, Subcommand};
use qarena_probe::stored::{probe_stored, Probed, StoredProbeError};
use qarena_probe::{AnyProbe, GoSetup, ProbeEngines, ProbeError, Suite};
use qarena_store::Store;

use crate::cli::DbArgs;
use crate::{CliResult, Exit};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ProbeArgs {
    #[command(subcommand)]
    pub command: Option<ProbeCommand>,
    #[command(flatten)]
    pub run: ProbeRunArgs,
}

#[derive(Debug, Subcommand)]
pub enum ProbeCommand {
    /// Write a position suite: sampled from a stored run's games, by
    /// self-play with a KataGo net, or from the chess opening book.
    ///
    /// Examples:
    ///   qarena probe positions --from-run demo-1 --count 500 -o mine.suite
    ///   qarena probe positions --selfplay net.bin.gz --count 200 -o go9.suite
    Positions(PositionsArgs),
}

/// Engines the probes use.
#[derive(Debug, Args, Clone)]
pub struct EngineArgs {
    /// KataGo program for Go nets (default: `$QARENA_KATAGO`, else `katago`).
    #[arg(long)]
    pub katago: Option<String>,
    /// KataGo GTP config (default: `gtp.cfg` beside the KataGo program).
    #[arg(long)]
    pub katago_config: Option<PathBuf>,
    /// Stockfish program for NNUE nets.
    #[arg(long, default_value = "stockfish")]
    pub stockfish: String,
}

#[derive(Debug, Args)]
pub struct ProbeRunArgs {
    /// The model to probe: a model file, or the id of a variant in the
    /// cache (`variants/<id>/`), whose reference defaults to the model it
    /// was made from.
    #[arg(required = true)]
    pub model: Option<String>,
    /// The original to compare with (default: a variant's input model).
    #[arg(long, short)]
    pub reference: Option<PathBuf>,
    /// Position suite (default: the shipped suite for the model's game:
    /// `suites/go9-default.suite`, `suites/chess-default.suite`).
    #[arg(long)]
    pub suite: Option<PathBuf>,
    /// Skip the noise floor (the reference against itself under another
    /// board symmetry; Go only).
    #[arg(long)]
    pub no_noise_floor: bool,
    /// Variant cache the model id is looked up in.
    #[arg(long, default_value = "variants")]
    pub cache: PathBuf,
    /// Compare with a second model (a file or a variant id): probe it
    /// against the same reference on the same suite, then pair the two
    /// position by position. Prints each figure's mean difference (A, the
    /// model probed, minus B, this one) with a 95% interval, and the
    /// headline figure's ratio A / B with its interval: whether one variant
    /// is closer to the original than another, beyond the noise of the
    /// positions. Use a suite neither was tuned on.
    #[arg(long, value_name = "MODEL")]
    pub versus: Option<String>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub engines: EngineArgs,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct PositionsArgs {
    /// Sample positions from this stored run's games (spread over game
    /// phases, no duplicates, never the final position).
    #[arg(long, conflicts_with_all = ["selfplay", "from_openings"])]
    pub from_run: Option<qarena_arena::RunTag>,
    /// Self-play with this KataGo net (low visits, random opening moves).
    #[arg(long, value_name = "NET", conflicts_with = "from_openings")]
    pub selfplay: Option<PathBuf>,
    /// Chess: the built-in opening book, a few random plies after each opening.
    #[arg(long)]
    pub from_openings: bool,
    /// How many positions (at most; fewer when the games hold fewer).
    #[arg(long, default_value_t = 200)]
    pub count: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Go board size and komi for --selfplay.
    #[arg(long, default_value_t = 9)]
    pub board_size: u8,
    #[arg(long, default_value_t = 7.0)]
    pub komi: f32,
    /// Where to write the suite.
    #[arg(long, short)]
    pub output: PathBuf,
    #[command(flatten)]
    pub engines: EngineArgs,
    #[command(flatten)]
    pub db: DbArgs,
}

impl EngineArgs {
    pub fn resolve(&self) -> ProbeEngines {
        let katago = self
            .katago
            .clone()
            .or_else(|| std::env::var("QARENA_KATAGO").ok())
            .unwrap_or_else(|| "katago".to_string());
        let katago = qarena_engine::command::find_program(&katago);
        let katago = katago.map(|k| {
            let config = self.katago_config.clone().unwrap_or_else(|| {
                k.parent()
                    .map(|d| d.join("gtp.cfg"))
                    .unwrap_or_else(|| PathBuf::from("gtp.cfg"))
            });
            (k, config)
        });
        ProbeEngines {
            katago,
            stockfish: qarena_engine::command::find_program(&self.stockfish),
        }
    }
}

fn probe_exit(e: StoredProbeError) -> Exit {
    match e {
        StoredProbeError::Store(s) => s.into(),
        StoredProbeError::Probe(p) => match p {
            ProbeError::Engine { .. }
            | ProbeError::EngineAt { .. }
            | ProbeError::Protocol { .. } => Exit::engine(p),
            other => Exit::input(other),
        },
        other => Exit::input(other),
    }
}

/// A model file, or a cached variant's file and the model it came from.
fn subject_of(model: &str, cache: &Path) -> Result<(PathBuf, Option<PathBuf>), Exit> {
    let path = PathBuf::from(model);
    if path.is_file() {
        return Ok((path, None));
    }
    let manifest = cache.join(model).join("manifest.json");
    if manifest.is_file() {
        let text = fs_err::read_to_string(&manifest).map_err(Exit::input)?;
        let m: qarena_variant::Manifest = serde_json::from_str(&text)
            .map_err(|e| Exit::input(anyhow!("{}: {e}", manifest.display())))?;
        let file = cache.join(model).join(&m.output_file);
        return Ok((file, Some(PathBuf::from(m.input.path))));
    }
    Err(Exit::input(anyhow!(
        "`{model}` is neither a model file nor a variant id in {} (`qarena quantize` makes variants)",
        cache.display()
    )))
}

pub fn run(a: ProbeArgs) -> CliResult {
    match a.command {
        Some(ProbeCommand::Positions(p)) => positions(p),
        None => probe(a.run),
    }
}

fn probe(a: ProbeRunArgs) -> CliResult {
    let model = a.model.as_deref().ok_or_else(|| {
        Exit::input(anyhow!(
            "give the model to probe (see `qarena probe --help`)"
        ))
    })?;
    let (subject, made_from) = subject_of(model, &a.cache)?;
    let reference = a.reference.clone().or(made_from).ok_or_else(|| {
        Exit::input(anyhow!(
            "{} is not a cached variant: give the original with --reference",
            subject.display()
        ))
    })?;
    if !reference.is_file() {
        return Err(Exit::input(anyhow!(
            "reference model {} does not exist",
            reference.display()
        )));
    }
    let stop = qarena_engine::install_shutdown_flag();
    let report = probe_one(
        &a.engines,
        &a.db.db,
        &reference,
        &subject,
        a.suite.as_deref(),
        !a.no_noise_floor,
        &stop,
    )?;
    let versus = match &a.versus {
        Some(other) => {
            let (other, _) = subject_of(other, &a.cache)?;
            let probed = probe_one(
                &a.engines,
                &a.db.db,
                &reference,
                &other,
                a.suite.as_deref(),
                !a.no_noise_floor,
                &stop,
            )?;
            let store = Store::open(&a.db.db)?;
            let paired = Paired::of(&store, &report, &probed)?;
            Some((other, probed, paired))
        }
        None => None,
    };
    if a.json {
        let mut out = serde_json::json!({
            "subject": subject.display().to_string(),
            "reference": reference.display().to_string(),
            "cached": report.cached,
            "report": report.report,
        });
        if let Some((other, probed, paired)) = &versus {
            out["versus"] = serde_json::json!({
                "subject": other.display().to_string(),
                "cached": probed.cached,
                "report": probed.report,
                "paired": paired.json(),
            });
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&out).map_err(|e| Exit::input(anyhow!(e)))?
        );
    } else {
        print!("{}", render(&subject, &reference, &report));
        if let Some((other, probed, paired)) = &versus {
            print!("{}", render(other, &reference, probed));
            print!("{}", paired.render(&subject, other));
        }
    }
    Ok(())
}

/// Two probes of the same reference on the same suite, paired by position.
#[derive(Debug)]
struct Paired {
    positions: usize,
    /// Per figure: both means over the positions where both have it, and
    /// the mean difference (first minus second) with its 95% interval.
    figures: Vec<PairedFigure>,
    /// The headline figure: its name and the first probe's mean over the
    /// second's, with its 95% interval (`None` when the second's is 0).
    headline: String,
    ratio: Option<qarena_stats::RatioCi>,
}

#[derive(Debug)]
struct PairedFigure {
    name: String,
    first: f64,
    second: f64,
    difference: qarena_stats::MeanCi,
}

impl Paired {
    fn of(store: &Store, a: &Probed, b: &Probed) -> Result<Paired, Exit> {
        if a.report.suite_sha256 != b.report.suite_sha256 || a.report.probe != b.report.probe {
            return Err(Exit::input(anyhow!(
                "--versus: the two probes ran on different suites or probes"
            )));
        }
        let (fa, fb) = (store.probe_figures(a.id)?, store.probe_figures(b.id)?);
        // The headline figure is the mean of a per-position figure (`kl`
        // for `kl_mean`); its ratio is paired over the figures in hand.
        let headline = a.report.comparison.primary.clone();
        let mut ratio = None;
        let mut figures = Vec::new();
        for (name, xa) in &fa {
            let Some((_, xb)) = fb.iter().find(|(n, _)| n == name) else {
                continue;
            };
            if xa.len() != xb.len() {
                return Err(Exit::input(anyhow!(
                    "--versus: the probes stored {} and {} positions",
                    xa.len(),
                    xb.len()
                )));
            }
            if headline.strip_suffix("_mean") == Some(name.as_str()) {
                ratio = qarena_stats::RatioCi::paired(xa, xb);
            }
            // Positions where both probes have the figure.
            let (first, second): (Vec<f64>, Vec<f64>) = xa
                .iter()
                .zip(xb)
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .map(|(x, y)| (*x, *y))
                .unzip();
            let Some(difference) = qarena_stats::MeanCi::paired_difference(&first, &second) else {
                continue;
            };
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
            figures.push(PairedFigure {
                name: name.clone(),
                first: mean(&first),
                second: mean(&second),
                difference,
            });
        }
        Ok(Paired {
            positions: a.report.positions,
            figures,
            headline,
            ratio,
        })
    }

    fn json(&self) -> serde_json::Value {
        let ci = |mean: f64, h: f64| serde_json::json!([mean - h, mean + h]);
        serde_json::json!({
            "positions": self.positions,
            "figures": self.figures.iter().map(|f| serde_json::json!({
                "name": f.name,
                "first": f.first,
                "second": f.second,
                "difference": f.difference.mean,
                "interval": ci(f.difference.mean, f.difference.half_width_or_zero()),
            })).collect::<Vec<_>>(),
            "headline": self.headline,
            "ratio": self.ratio.map(|r| serde_json::json!({
                "ratio": r.ratio,
                "interval": ci(r.ratio, r.half_width),
            })),
        })
    }

    fn render(&self, first: &Path, second: &Path) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "paired by position ({} positions): A = {}, B = {}",
            self.positions,
            first.display(),
            second.display()
        );
        let _ = writeln!(
            out,
            "{:<16} {:>10} {:>10} {:>12}  95% interval",
            "figure", "A", "B", "A − B"
        );
        for f in &self.figures {
            let h = f.difference.half_width_or_zero();
            let _ = writeln!(
                out,
                "{:<16} {:>10.4} {:>10.4} {:>+12.4}  [{:+.4}, {:+.4}]",
                f.name,
                f.first,
                f.second,
                f.difference.mean,
                f.difference.mean - h,
                f.difference.mean + h
            );
        }
        match &self.ratio {
            Some(r) => {
                let _ = writeln!(
                    out,
                    "{}: A / B = {:.3} [{:.3}, {:.3}], A is {:+.1}% [{:+.1}, {:+.1}] against B",
                    self.headline,
                    r.ratio,
                    r.lower(),
                    r.upper(),
                    100.0 * (r.ratio - 1.0),
                    100.0 * (r.lower() - 1.0),
                    100.0 * (r.upper() - 1.0)
                );
            }
            None => {
                let _ = writeln!(out, "{}: no ratio (B's is 0)", self.headline);
            }
        }
        out
    }
}

/// Probes `subject` against `reference` (from the store when already
/// probed), storing the result in `db`.
pub fn probe_one(
    engines: &EngineArgs,
    db: &Path,
    reference: &Path,
    subject: &Path,
    suite: Option<&Path>,
    noise_floor: bool,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<Probed, Exit> {
    let p = AnyProbe::for_model(reference, &engines.resolve()).map_err(Exit::input)?;
    let suite = match suite {
        Some(path) => Suite::load(path).map_err(Exit::input)?,
        None => p.default_suite().map_err(Exit::input)?,
    };
    let store = Store::open(db)?;
    probe_stored(
        &store,
        &p,
        reference,
        None,
        subject,
        &suite,
        None,
        noise_floor,
        stop,
    )
    .map_err(probe_exit)
}

fn render(subject: &Path, reference: &Path, p: &Probed) -> String {
    use std::fmt::Write;
    let r = &p.report;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "probe {}: {} vs {} on suite {} ({} positions, sha256 {}){}",
        r.probe,
        subject.display(),
        reference.display(),
        r.suite,
        r.positions,
        &r.suite_sha256[..r.suite_sha256.len().min(12)],
        if p.cached { " [stored]" } else { "" }
    );
    let floor = r.noise_floor.as_ref();
    let _ = writeln!(
        out,
        "{:<22} {:>12} {:>12}",
        "figure",
        "value",
        if floor.is_some() { "noise floor" } else { "" }
    );
    for m in &r.comparison.metrics {
        let f = floor
            .and_then(|f| qarena_probe::metric(&f.metrics, &m.name))
            .map(|v| format!("{v:>12.4}"))
            .unwrap_or_default();
        let mark = if m.name == r.comparison.primary {
            "*"
        } else {
            " "
        };
        let _ = writeln!(out, "{mark}{:<21} {:>12.4} {f}", m.name, m.value);
    }
    let _ = writeln!(
        out,
        "* headline figure; {:.2} s{}",
        r.seconds,
        if p.cached {
            " when it was measured (read back from the database now)"
        } else {
            ""
        }
    );
    out
}

fn positions(a: PositionsArgs) -> CliResult {
    let name = a
        .output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "suite".into());
    let stop = qarena_engine::install_shutdown_flag();
    let suite = if let Some(tag) = &a.from_run {
        from_run(&a, tag, &name)?
    } else if let Some(net) = &a.selfplay {
        let Some((katago, config)) = a.engines.resolve().katago else {
            return Err(Exit::input(anyhow!(
                "--selfplay needs KataGo: give --katago or set QARENA_KATAGO"
            )));
        };
        let mut sp = qarena_probe::go_suites::SelfPlay::new(katago, net, config);
        sp.seed = a.seed;
        let setup = GoSetup {
            board_size: a.board_size,
            komi: a.komi,
            ..GoSetup::default()
        };
        sp.suite(&name, setup, a.count, &stop)
            .map_err(|e| match e {
                ProbeError::Interrupted => {
                    Exit::input(anyhow!("stopped before the suite was complete"))
                }
                other => Exit::engine(other),
            })?
            .suite
    } else if a.from_openings {
        let openings = qarena_chess::load_openings(None, None).map_err(Exit::input)?;
        let per = a.count.div_ceil(openings.len().max(1)).max(1);
        let s = qarena_probe::chess_suites::from_openings(&name, &openings, 2..=8, per, a.seed)
            .map_err(Exit::input)?;
        truncate(&name, s, a.count)?
    } else {
        return Err(Exit::input(anyhow!(
            "give --from-run TAG, --selfplay NET or --from-openings (see `qarena probe positions --help`)"
        )));
    };
    suite.save(&a.output).map_err(Exit::input)?;
    println!(
        "{}: {} {} positions, sha256 {}",
        a.output.display(),
        suite.len(),
        suite.game(),
        suite.sha256()
    );
    Ok(())
}

/// The first `count` positions of a suite.
fn truncate(name: &str, s: Suite, count: usize) -> Result<Suite, Exit> {
    if s.len() <= count {
        return Ok(s);
    }
    s.subset(name, |i| i < count).map_err(Exit::input)
}

fn from_run(a: &PositionsArgs, tag: &qarena_arena::RunTag, name: &str) -> Result<Suite, Exit> {
    if !a.db.db.is_file() {
        return Err(Exit::input(anyhow!(
            "database {} does not exist",
            a.db.db.display()
        )));
    }
    let store = Store::open(&a.db.db)?;
    let run = store
        .run_by_tag(tag)?
        .ok_or_else(|| Exit::input(anyhow!("no run tagged '{tag}' in {}", a.db.db.display())))?;
    let games = store.games(run.id)?;
    let finished: Vec<_> = games
        .iter()
        .filter(|g| g.termination != qarena_store::Termination::Aborted)
        .collect();
    if finished.is_empty() {
        return Err(Exit::input(anyhow!("run '{tag}' has no finished games")));
    }
    if finished[0].record_format == qarena_store::RecordFormat::Pgn {
        let text: String = finished
            .iter()
            .map(|g| g.record.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let parsed =
            qarena_probe::chess_suites::games_from_pgn(&text, tag.as_ref()).map_err(Exit::input)?;
        let per = a.count.div_ceil(parsed.len().max(1)).max(1);
        let s = qarena_probe::chess_suites::from_games(name, &parsed, per, a.seed)
            .map_err(Exit::input)?;
        return truncate(name, s, a.count);
    }
    let mut records = Vec::new();
    for g in &finished {
        records.push(
            qarena_go::parse_sgf(&g.record)
                .map_err(|e| Exit::input(anyhow!("run '{tag}' game {}: {e}", g.game_index + 1)))?,
        );
    }
    let setup = GoSetup {
        board_size: records[0].size,
        komi: records[0].komi,
        ..GoSetup::default()
    };
    let lines = qarena_probe::go_suites::games_from_sgf(&records);
    qarena_probe::go_suites::sample_from_games(name, setup, &lines, a.count, 2, a.seed)
        .map_err(Exit::input)
}
