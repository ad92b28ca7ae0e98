//! Line plots with error bars (plotters, drawn into an RGB buffer and
//! written with [`crate::png`]). Text needs a TrueType font, loaded once
//! at run time: `--font FILE`, `QARENA_FONT`, or a standard location
//! (DejaVu Sans, Liberation Sans, FreeSans; `fonts-dejavu-core` on Debian).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use plotters::prelude::*;

use crate::ReportError;

/// One point of a series, with an optional interval.
#[derive(Debug, Clone, Copy)]
pub struct Pt {
    pub x: f64,
    pub y: f64,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
}

/// A named line (connected in the order of x).
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<Pt>,
    /// Points only, no line between them (experiments that are not a
    /// sequence).
    pub scatter: bool,
}

/// A labelled horizontal reference line.
#[derive(Debug, Clone)]
pub struct RefLine {
    pub label: String,
    pub y: f64,
}

/// Where the legend goes (away from the data).
#[derive(Debug, Clone, Copy)]
pub enum Legend {
    UpperLeft,
    UpperRight,
    LowerLeft,
    LowerRight,
}

#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub refs: Vec<RefLine>,
    pub legend: Legend,
}

const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
    "/usr/local/share/fonts/DejaVuSans.ttf",
    "/Library/Fonts/Arial.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
];

static FONT: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Loads a font for the plots' text (once per process) and returns its
/// file; the error says how to get one.
pub fn ensure_font(explicit: Option<&Path>) -> Result<PathBuf, ReportError> {
    let mut guard = FONT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = guard.as_ref() {
        return Ok(p.clone());
    }
    let env = std::env::var_os("QARENA_FONT").map(PathBuf::from);
    let path = match explicit.map(Path::to_path_buf).or(env) {
        Some(p) => p,
        None => FONT_CANDIDATES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or(ReportError::NoFont)?,
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(source) => return Err(ReportError::FontRead { path, source }),
    };
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_err() {
        return Err(ReportError::FontFormat { path });
    }
    *guard = Some(path.clone());
    Ok(path)
}

fn range(vals: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in vals.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return None;
    }
    let pad = if hi - lo < 1e-9 {
        0.5_f64.max(lo.abs() * 0.1)
    } else {
        (hi - lo) * 0.08
    };
    Some((lo - pad, hi + pad))
}

const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(140, 86, 75),
];

/// Draws `chart` into a 900 × 540 PNG at `path`.
pub fn draw(chart: &Chart, path: &Path, font: Option<&Path>) -> Result<(), ReportError> {
    ensure_font(font)?;
    let empty = || ReportError::EmptyPlot {
        path: path.to_path_buf(),
    };
    let e = |e: &dyn std::fmt::Display| ReportError::Plot {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let (w, h) = (900u32, 540u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let pts = || chart.series.iter().flat_map(|s| s.points.iter());
        let (x0, x1) = range(pts().map(|p| p.x)).ok_or_else(empty)?;
        let (y0, y1) = range(
            pts()
                .flat_map(|p| [Some(p.y), p.lo, p.hi])
                .flatten()
                .chain(chart.refs.iter().map(|r| r.y)),
        )
        .ok_or_else(empty)?;
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let mut c = ChartBuilder::on(&root)
            .caption(&chart.title, ("sans-serif", 22))
            .margin(14)
            .x_label_area_size(48)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|x| e(&x))?;
        c.configure_mesh()
            .x_desc(&chart.x_label)
            .y_desc(&chart.y_label)
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16))
            .light_line_style(RGBColor(238, 238, 238))
            .draw()
            .map_err(|x| e(&x))?;
        const REF: [RGBColor; 3] = [
            RGBColor(110, 110, 110),
            RGBColor(20, 20, 20),
            RGBColor(190, 140, 40),
        ];
        for (i, r) in chart.refs.iter().enumerate() {
            let style = REF[i % REF.len()].stroke_width(1);
            c.draw_series(DashedLineSeries::new(
                vec![(x0, r.y), (x1, r.y)],
                8,
                5,
                style,
            ))
            .map_err(|x| e(&x))?
            .label(&r.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        let cap = (x1 - x0) * 0.008;
        for (i, s) in chart.series.iter().enumerate() {
            let col = COLOURS[i % COLOURS.len()];
            let mut p = s.points.clone();
            p.sort_by(|a, b| a.x.total_cmp(&b.x));
            let line: Vec<(f64, f64)> = if s.scatter {
                Vec::new()
            } else {
                p.iter().map(|q| (q.x, q.y)).collect()
            };
            c.draw_series(LineSeries::new(line, col.stroke_width(2)))
                .map_err(|x| e(&x))?
                .label(&s.name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2))
                });
            c.draw_series(p.iter().map(|q| Circle::new((q.x, q.y), 4, col.filled())))
                .map_err(|x| e(&x))?;
            for q in &p {
                if let (Some(lo), Some(hi)) = (q.lo, q.hi) {
                    let bars = [
                        vec![(q.x, lo), (q.x, hi)],
                        vec![(q.x - cap, lo), (q.x + cap, lo)],
                        vec![(q.x - cap, hi), (q.x + cap, hi)],
                    ];
                    c.draw_series(bars.into_iter().map(|b| PathElement::new(b, col)))
                        .map_err(|x| e(&x))?;
                }
            }
        }
        let pos = match chart.legend {
            Legend::UpperLeft => SeriesLabelPosition::UpperLeft,
            Legend::UpperRight => SeriesLabelPosition::UpperRight,
            Legend::LowerLeft => SeriesLabelPosition::LowerLeft,
            Legend::LowerRight => SeriesLabelPosition::LowerRight,
        };
        c.configure_series_labels()
            .position(pos)
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .draw()
            .map_err(|x| e(&x))?;
        root.present().map_err(|x| e(&x))?;
    }
    let png = crate::png::encode_rgb(w, h, &buf).map_err(|source| ReportError::Png {
        path: path.to_path_buf(),
        source,
    })?;
    std::fs::write(path, png).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}
