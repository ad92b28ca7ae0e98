//! Section 3, the results: W/D/L, score and Elo per point with 95%
//! intervals, terminations, and the score and Elo plots.

use std::collections::BTreeMap;

use qarena_stats::Estimate;

use super::fmt::{fmt_opt, point_label};
use super::plots::{ladder, Plotter, X_BITS};
use super::Ctx;
use crate::doc::Doc;
use crate::plot::{Chart, Legend, Pt, RefLine};
use crate::ReportError;

pub(super) fn render(cx: &Ctx, body: &mut Doc, pl: &mut Plotter) -> Result<(), ReportError> {
    let Ctx { d, stats, .. } = *cx;
    body.h(2, "3. Results");
    body.p(
        "Score and Elo of each point's variant against the baseline (positive: stronger than \
         the baseline), with 95% confidence intervals.",
    );
    let mut notes: Vec<String> = Vec::new();
    let rows = d
        .points
        .iter()
        .zip(stats)
        .map(|(p, s)| {
            let (score, elo, model) = match &s.elo {
                Some(e) => (
                    format!(
                        "{:.3} [{:.2}, {:.2}]",
                        e.score, e.score_lower, e.score_upper
                    ),
                    short_estimate(&e.elo, p.index, &mut notes),
                    e.model.to_string(),
                ),
                None => ("-".into(), "-".into(), "-".into()),
            };
            vec![
                p.index.to_string(),
                point_label(p),
                p.target.clone().unwrap_or_else(|| "-".into()),
                fmt_opt(p.effective_bits, 3),
                p.bytes.map(|b| b.to_string()).unwrap_or_else(|| "-".into()),
                s.games.to_string(),
                format!("{}/{}/{}", s.wdl.wins, s.wdl.draws, s.wdl.losses),
                score,
                elo,
                model,
            ]
        })
        .collect();
    body.table(
        &[
            "#",
            "point",
            "target",
            "bits/w",
            "bytes",
            "games",
            "W/D/L",
            "score [95% CI]",
            "Elo [95% CI]",
            "model",
        ],
        rows,
    );
    if !notes.is_empty() {
        body.list(notes);
    }
    let mut terms: BTreeMap<&str, u64> = BTreeMap::new();
    for s in stats {
        for (k, v) in &s.terminations {
            *terms.entry(k).or_default() += v;
        }
    }
    body.p(format!(
        "Terminations: {}.",
        terms
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let (series, mut refs) = ladder(d, stats, &|s| {
        s.elo.as_ref().map(|e| Pt {
            x: 0.0,
            y: e.score,
            lo: Some(e.score_lower),
            hi: Some(e.score_upper),
        })
    });
    refs.push(RefLine {
        label: "equal to the baseline (0.5)".into(),
        y: 0.5,
    });
    pl.add(
        body,
        "score_vs_bits.png",
        Chart {
            title: "Score against the baseline vs effective bits".into(),
            x_label: X_BITS.into(),
            y_label: "score of the variant (95% CI)".into(),
            series,
            refs,
            legend: Legend::LowerRight,
        },
        "One line per module target, from the baseline (right) to the most severe \
         quantization (left); bars are 95% intervals of the score.",
    )?;
    let (series, refs) = ladder(d, stats, &|s| {
        s.elo.as_ref().and_then(|e| match e.elo {
            Estimate::Value {
                value,
                lower,
                upper,
            } => Some(Pt {
                x: 0.0,
                y: value,
                lo: Some(lower),
                hi: Some(upper),
            }),
            _ => None,
        })
    });
    pl.add(
        body,
        "elo_vs_bits.png",
        Chart {
            title: "Elo against the baseline vs effective bits".into(),
            x_label: X_BITS.into(),
            y_label: "Elo (95% CI)".into(),
            series,
            refs,
            legend: Legend::LowerRight,
        },
        "Points whose Elo is not estimable (all games won or lost, or too few games) are left out.",
    )?;
    Ok(())
}

/// A table-sized Elo: one-sided bounds and "n/a" get a footnote with the reason.
pub(super) fn short_estimate(e: &Estimate, index: i64, notes: &mut Vec<String>) -> String {
    let mut note = |r: &str| notes.push(format!("Point {index}: {r}."));
    match e {
        Estimate::Value {
            value,
            lower,
            upper,
        } => format!("{value:+.1} [{lower:+.1}, {upper:+.1}]"),
        Estimate::LowerBound { lower, reason } => {
            note(reason);
            format!("≥ {lower:+.1}")
        }
        Estimate::UpperBound { upper, reason } => {
            note(reason);
            format!("≤ {upper:+.1}")
        }
        Estimate::NotEstimable { reason } => {
            note(reason);
            "n/a".into()
        }
    }
}
