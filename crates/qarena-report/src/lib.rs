//! `qarena report`: a short Markdown (and optionally HTML) report of one
//! sweep or run, with PNG plots, computed from the database alone.
//!
//! Sections: summary, protocol (model, variants and strategies, paired
//! games with colours swapped, settings, openings, counts), results (W/D/L,
//! score and Elo with 95% intervals from qarena-stats, pentanomial when
//! every game is paired), judge metrics (average loss per move and blunder
//! rate with intervals), self-evaluation metrics (own winrate, policy
//! entropy) and overconfidence (self minus judge winrate), limitations, and
//! provenance (run ids, config files and hashes).
//!
//! An evolution (`Subject::Evolution`) gets its own report: fronts per
//! seed, their agreement, the check against hand recipes on unseen
//! positions, the survival boundary, negative results, games and ratings.
//!
//! Per-game metrics are averages over one side's moves; a point's value is
//! the mean over its games with a normal 95% interval, the game being the
//! independent unit. Side `a` is the tested variant, side `b` the baseline.

pub mod data;
mod doc;
pub mod metrics;
pub mod plot;
mod png;
mod render;

use std::path::{Path, PathBuf};

pub use data::{load, Loaded};
pub use metrics::{point_stats, MeanCi, PointStats};

/// What the report is about.
#[derive(Debug, Clone)]
pub enum Subject {
    /// The newest run of the sweep with this name.
    Sweep(String),
    /// The run with this tag.
    Run(String),
    /// Every evolution stored under this name (its seeds, and boundary
    /// scans named `NAME@<bits>`).
    Evolution(String),
    /// Every language-model evaluation in the database.
    Llm,
}

/// Options of [`generate`].
#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub db: PathBuf,
    pub subject: Subject,
    pub out_dir: PathBuf,
    pub html: bool,
    /// Where run folders live (for config files and their hashes).
    pub runs_dir: PathBuf,
    /// Judge run id to use (default: the newest with verdicts).
    pub judge_run: Option<i64>,
    /// TrueType font for the plots' text (default: standard locations).
    pub font: Option<PathBuf>,
}

/// What [`generate`] wrote.
#[derive(Debug, Clone)]
pub struct ReportOutput {
    pub markdown: PathBuf,
    pub html: Option<PathBuf>,
    pub plots: Vec<PathBuf>,
    /// Level-2 section titles, in order.
    pub sections: Vec<String>,
    /// Things the reader should know (e.g. plots skipped: no font).
    pub warnings: Vec<String>,
}

/// Everything that can go wrong while writing a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] qarena_store::StoreError),
    /// The database, run tag, sweep name or judge run does not fit.
    #[error("{0}")]
    Input(String),
    #[error("writing {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// No font was given and none is in a standard location.
    #[error(
        "no TrueType font found for the plots' text: install one \
         (Debian: apt-get install fonts-dejavu-core) or give --font FILE \
         (or QARENA_FONT)"
    )]
    NoFont,
    #[error("font {}: {source}", path.display())]
    FontRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("font {} is not a TrueType/OpenType font", path.display())]
    FontFormat { path: PathBuf },
    /// A chart without a finite point (the plot file is named).
    #[error("plot {}: nothing to plot", path.display())]
    EmptyPlot { path: PathBuf },
    /// Drawing a plot failed (the plot file is named).
    #[error("plot {}: {message}", path.display())]
    Plot { path: PathBuf, message: String },
    #[error("plot {}: encoding PNG: {source}", path.display())]
    Png {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ReportError {
    /// True when the input (database, tag, name, font) is at fault.
    pub fn is_input(&self) -> bool {
        !matches!(
            self,
            ReportError::Io { .. }
                | ReportError::EmptyPlot { .. }
                | ReportError::Plot { .. }
                | ReportError::Png { .. }
        )
    }
}

fn write(path: &Path, text: &str) -> Result<(), ReportError> {
    std::fs::write(path, text).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `report.md` (and `report.html` with `html`) and the plots into
/// `out_dir`, creating it.
pub fn generate(o: &ReportOptions) -> Result<ReportOutput, ReportError> {
    if !o.db.is_file() {
        return Err(ReportError::Input(format!(
            "database {} does not exist",
            o.db.display()
        )));
    }
    let store = qarena_store::Store::open(&o.db)?;
    let mkdir = || {
        std::fs::create_dir_all(&o.out_dir).map_err(|source| ReportError::Io {
            path: o.out_dir.clone(),
            source,
        })
    };
    let r = match &o.subject {
        Subject::Evolution(name) => {
            mkdir()?;
            render::evolution::render(&store, name, o)?
        }
        Subject::Llm => {
            mkdir()?;
            render::llm::render(&store, o)?
        }
        _ => {
            let d = load(&store, &o.subject, o.judge_run)?;
            mkdir()?;
            let stats = point_stats(&d);
            render::render(&d, &stats, o)?
        }
    };
    let markdown = o.out_dir.join("report.md");
    write(&markdown, &r.doc.to_markdown())?;
    let html = if o.html {
        let p = o.out_dir.join("report.html");
        write(&p, &r.doc.to_html(&r.title))?;
        Some(p)
    } else {
        None
    };
    Ok(ReportOutput {
        markdown,
        html,
        plots: r.plots,
        sections: r.doc.sections(),
        warnings: r.warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file_and_the_remedy() {
        let font = PathBuf::from("fonts").join("x.ttf");
        let plot = PathBuf::from("out").join("score_vs_bits.png");
        assert_eq!(
            ReportError::NoFont.to_string(),
            "no TrueType font found for the plots' text: install one (Debian: apt-get install \
             fonts-dejavu-core) or give --font FILE (or QARENA_FONT)"
        );
        let e = ReportError::FontFormat { path: font.clone() };
        assert!(e.to_string().contains(&font.display().to_string()));
        assert!(e.is_input());
        let e = ReportError::EmptyPlot { path: plot.clone() };
        assert!(e.to_string().contains(&plot.display().to_string()));
        assert!(!e.is_input());
    }
}
