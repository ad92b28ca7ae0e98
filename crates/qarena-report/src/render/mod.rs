//! The report's content from the loaded data: [`render`] builds the body
//! section by section (one module each, in reading order), then puts the
//! title and the table of contents in front.

mod correlation;
mod cost;
pub(crate) mod evolution;
mod fmt;
mod judge;
mod kv;
mod limitations;
pub(crate) mod llm;
mod plots;
mod probe;
mod protocol;
mod provenance;
mod results;
mod self_eval;
mod summary;

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::data::{Loaded, PointInfo};
use crate::doc::{anchor, Block, Doc};
use crate::metrics::PointStats;
use crate::{ReportError, ReportOptions};
use plots::Plotter;

pub(crate) struct Rendered {
    pub title: String,
    pub doc: Doc,
    pub plots: Vec<PathBuf>,
    pub warnings: Vec<String>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// What the sections read: the data, its statistics per point, the
/// options, and a few facts derived once.
struct Ctx<'a> {
    d: &'a Loaded,
    stats: &'a [PointStats],
    o: &'a ReportOptions,
    /// Finished games over all points.
    finished: u64,
    /// Whether any variant reported self-evaluations.
    has_self: bool,
    has_judge: bool,
    /// The ladder points: neither the original model nor the baseline.
    non_ref: Vec<(&'a PointInfo, &'a PointStats)>,
}

pub(crate) fn render(
    d: &Loaded,
    stats: &[PointStats],
    o: &ReportOptions,
) -> Result<Rendered, ReportError> {
    let cx = Ctx {
        d,
        stats,
        o,
        finished: stats.iter().map(|s| s.games).sum(),
        has_self: stats.iter().any(|s| s.variant.self_evals > 0),
        has_judge: d.judge.is_some(),
        non_ref: d
            .points
            .iter()
            .zip(stats)
            .filter(|(p, _)| !p.is_original && !p.is_baseline)
            .collect(),
    };
    let mut pl = Plotter::new(&o.out_dir, o.font.as_deref());
    let mut body = Doc::default();
    summary::render(&cx, &mut body);
    protocol::render(&cx, &mut body);
    results::render(&cx, &mut body, &mut pl)?;
    cost::render(&cx, &mut body);
    probe::render(&cx, &mut body, &mut pl)?;
    let mut corr = judge::render(&cx, &mut body, &mut pl)?;
    corr.extend(self_eval::render(&cx, &mut body, &mut pl)?);
    correlation::render(&mut body, corr);
    limitations::render(&cx, &mut body);
    provenance::render(&cx, &mut body);

    let title = match &d.sweep {
        Some(s) => format!("qarena report: sweep {} (run {})", s.name, d.run.tag),
        None => format!("qarena report: run {}", d.run.tag),
    };
    let doc = front_matter(&cx, &title, body);
    Ok(Rendered {
        title,
        doc,
        plots: pl.plots,
        warnings: pl.warnings,
    })
}

/// The title, a line on the database and run, and the contents, followed
/// by `body`.
fn front_matter(cx: &Ctx, title: &str, body: Doc) -> Doc {
    let Ctx { d, o, .. } = *cx;
    let mut doc = Doc::default();
    doc.h(1, title);
    doc.p(format!(
        "Database `{}`, run `{}`. Side A of every game is the point's variant, side B the baseline.",
        o.db.display(),
        d.run.tag
    ));
    contents(&mut doc, body);
    doc
}

/// Appends the contents (a link to each section of `body`) and `body`.
fn contents(doc: &mut Doc, body: Doc) {
    doc.h(2, "Contents");
    doc.list(
        body.sections()
            .iter()
            .map(|s| format!("[{s}](#{})", anchor(s)))
            .collect(),
    );
    doc.blocks.extend(body.blocks);
    // Guard against a Markdown table without rows rendering oddly.
    doc.blocks
        .retain(|b| !matches!(b, Block::Table(_, rows) if rows.is_empty()));
}
