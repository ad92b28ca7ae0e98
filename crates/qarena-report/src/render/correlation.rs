//! The "Correlation with severity" subsection closing section 5: each
//! metric against the variants' effective bits.

use crate::data::PointInfo;
use crate::doc::Doc;
use crate::metrics::{pearson, MeanCi, PointStats};

/// One metric's Pearson correlation with the variants' effective bits.
pub(super) struct Correlation {
    name: &'static str,
    /// r and the number of points, when computable.
    value: Option<(f64, usize)>,
}

impl Correlation {
    /// The correlation of metric `f` over `pts` (the ladder points).
    pub(super) fn of(
        name: &'static str,
        pts: &[(&PointInfo, &PointStats)],
        f: impl Fn(&PointStats) -> Option<MeanCi>,
    ) -> Correlation {
        Correlation {
            name,
            value: metric_corr(pts, f),
        }
    }
}

/// Adds the subsection when any correlation is computable.
pub(super) fn render(body: &mut Doc, corr: Vec<Correlation>) {
    let corr: Vec<String> = corr
        .into_iter()
        .filter_map(|c| {
            c.value
                .map(|(r, n)| format!("{}: r = {r:+.2} over {n} points", c.name))
        })
        .collect();
    if !corr.is_empty() {
        body.h(3, "Correlation with severity");
        body.p(
            "Pearson correlation of each metric with the variants' effective bits per weight \
             (ladder points only; negative: the metric grows as bits shrink). With few points \
             this is descriptive, not a test.",
        );
        body.list(corr);
    }
}

fn metric_corr(
    pts: &[(&PointInfo, &PointStats)],
    f: impl Fn(&PointStats) -> Option<MeanCi>,
) -> Option<(f64, usize)> {
    let (xs, ys): (Vec<f64>, Vec<f64>) = pts
        .iter()
        .filter_map(|(p, s)| Some((p.effective_bits?, f(s)?.mean)))
        .unzip();
    pearson(&xs, &ys).map(|r| (r, xs.len()))
}
