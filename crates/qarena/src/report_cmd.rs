//! `qarena report`: a Markdown (and optionally HTML) report of a sweep or a
//! run with PNG plots, computed from the database (see qarena-report).

use std::path::PathBuf;

use anyhow::anyhow;
use clap::{ArgGroup, Args};
use qarena_report::{generate, ReportError, ReportOptions, Subject};

use crate::cli::DbArgs;
use crate::{CliResult, Exit};

/// Write a 3–6 page report of a sweep (or run): protocol, results with Elo
/// and 95% intervals, judge and self-evaluation metrics against severity,
/// limitations and provenance, with PNG plots. With --evolution: the
/// report of a survival tournament (fronts of every seed and how far they
/// agree, unseen positions against hand recipes, the survival boundary,
/// negative results, games and ratings).
///
/// Example: qarena report --sweep katago-9x9-ladder -o report/ --html
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("subject").required(true).args(["sweep", "run", "evolution", "llm"])))]
pub struct ReportArgs {
    /// Name of the sweep (its newest run is used).
    #[arg(long)]
    pub sweep: Option<String>,
    /// Tag of the run.
    #[arg(long)]
    pub run: Option<qarena_arena::RunTag>,
    /// Name of an evolution (`qarena evolve run --name`): every seed of it.
    #[arg(long)]
    pub evolution: Option<String>,
    /// Every language-model evaluation in the database (`qarena llm eval`,
    /// `llm kl`): accuracy and KL against bits per weight.
    #[arg(long)]
    pub llm: bool,
    /// Output directory (created): report.md, the plots, report.html.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Also write report.html (same content, images linked).
    #[arg(long)]
    pub html: bool,
    /// Judge run id to use (default: the newest with verdicts).
    #[arg(long, value_name = "ID")]
    pub judge_run: Option<i64>,
    /// Where the run folders are (for config files and their hashes).
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,
    /// TrueType font for the plots' text (default: DejaVu Sans or another
    /// standard font; also QARENA_FONT).
    #[arg(long, value_name = "FILE")]
    pub font: Option<PathBuf>,
    #[command(flatten)]
    pub db: DbArgs,
}

pub fn run(a: ReportArgs) -> CliResult {
    let subject = match (a.sweep, a.run, a.evolution, a.llm) {
        (Some(s), _, _, _) => Subject::Sweep(s),
        (None, Some(r), _, _) => Subject::Run(r.into_string()),
        (None, None, Some(e), _) => Subject::Evolution(e),
        (None, None, None, true) => Subject::Llm,
        (None, None, None, false) => {
            return Err(Exit::input(anyhow!(
                "give --sweep NAME, --run TAG, --evolution NAME or --llm"
            )))
        }
    };
    let opts = ReportOptions {
        db: a.db.db.clone(),
        subject,
        out_dir: a.output.clone(),
        html: a.html,
        runs_dir: a.runs_dir,
        judge_run: a.judge_run,
        font: a.font,
    };
    // Every failure is about the input: database, tag, name or output directory.
    let out = generate(&opts).map_err(|e: ReportError| Exit::input(e))?;
    for w in &out.warnings {
        eprintln!("warning: {w}");
    }
    println!("report   {}", out.markdown.display());
    if let Some(h) = &out.html {
        println!("html     {}", h.display());
    }
    println!("plots    {}", out.plots.len());
    println!("sections {}", out.sections.join(" | "));
    Ok(())
}
