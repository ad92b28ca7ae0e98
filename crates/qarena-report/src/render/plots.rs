//! The severity ladder behind every "metric vs effective bits" plot, and
//! the [`Plotter`] that draws charts into the output folder and the
//! document.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::data::Loaded;
use crate::doc::Doc;
use crate::metrics::{MeanCi, PointStats};
use crate::plot::{self, Chart, Pt, RefLine, Series};
use crate::ReportError;

/// Series per module target, each anchored at the baseline point (the
/// mildest severity: every generator point is the baseline with one
/// target degraded further); the original model as a reference line.
pub(super) fn ladder(
    d: &Loaded,
    stats: &[PointStats],
    f: &dyn Fn(&PointStats) -> Option<Pt>,
) -> (Vec<Series>, Vec<RefLine>) {
    let mut by_target: BTreeMap<String, Vec<Pt>> = BTreeMap::new();
    let mut other = Vec::new();
    let mut refs = Vec::new();
    let mut anchor_pt = None;
    for (p, s) in d.points.iter().zip(stats) {
        let Some(bits) = p.effective_bits else {
            continue;
        };
        let Some(mut pt) = f(s) else {
            continue;
        };
        pt.x = bits;
        if p.is_original {
            refs.push(RefLine {
                label: format!("original ({bits:.1} bits/w)"),
                y: pt.y,
            });
        } else if let Some(t) = &p.target {
            by_target.entry(t.clone()).or_default().push(pt);
        } else if p.is_baseline {
            anchor_pt = Some((p.name.clone(), pt));
        } else {
            other.push(pt);
        }
    }
    let mut series: Vec<Series> = by_target
        .into_iter()
        .map(|(name, mut points)| {
            if let Some((_, a)) = &anchor_pt {
                points.push(*a);
            }
            Series {
                name,
                points,
                scatter: false,
            }
        })
        .collect();
    if !other.is_empty() {
        series.push(Series {
            scatter: false,
            name: "other points".into(),
            points: other,
        });
    }
    if series.is_empty() {
        if let Some((name, a)) = anchor_pt {
            series.push(Series {
                scatter: false,
                name,
                points: vec![a],
            });
        }
    }
    (series, refs)
}

/// A mean with its interval as a plot point (x is set by [`ladder`]).
pub(super) fn ci_pt(m: Option<MeanCi>, scale: f64) -> Option<Pt> {
    m.map(|m| Pt {
        x: 0.0,
        y: m.mean * scale,
        lo: m.lower().map(|v| v * scale),
        hi: m.upper().map(|v| v * scale),
    })
}

/// Draws charts into the output folder and shows them in the document.
pub(super) struct Plotter<'a> {
    out_dir: &'a Path,
    font: Option<&'a Path>,
    /// The files written, in order.
    pub(super) plots: Vec<PathBuf>,
    /// Things the reader should know (plots skipped).
    pub(super) warnings: Vec<String>,
    /// Why plotting is off, once a font could not be loaded.
    disabled: Option<String>,
}

impl<'a> Plotter<'a> {
    pub(super) fn new(out_dir: &'a Path, font: Option<&'a Path>) -> Self {
        Plotter {
            out_dir,
            font,
            plots: Vec::new(),
            warnings: Vec::new(),
            disabled: None,
        }
    }

    /// Draws a chart and adds it to the document; a missing font disables
    /// plotting with one warning, other failures are errors.
    pub(super) fn add(
        &mut self,
        doc: &mut Doc,
        file: &str,
        chart: Chart,
        caption: &str,
    ) -> Result<(), ReportError> {
        if chart.series.iter().all(|s| s.points.is_empty()) {
            return Ok(());
        }
        if let Some(why) = &self.disabled {
            doc.p(format!("*(plot `{file}` skipped: {why})*"));
            return Ok(());
        }
        if let Err(e) = plot::ensure_font(self.font) {
            self.warnings.push(format!("plots skipped: {e}"));
            doc.p(format!("*(plot `{file}` skipped: {e})*"));
            self.disabled = Some(e.to_string());
            return Ok(());
        }
        let path = self.out_dir.join(file);
        plot::draw(&chart, &path, self.font)?;
        doc.image(file, &chart.title);
        doc.p(caption.to_string());
        self.plots.push(path);
        Ok(())
    }
}

pub(super) const X_BITS: &str = "effective bits per weight (lower = more severe)";
