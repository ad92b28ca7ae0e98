//! Section 4, judge metrics: loss per move and blunder rate as a
//! stronger engine sees them, with their plots.

use super::correlation::Correlation;
use super::fmt::{compact, fmt_ci, fmt_opt, point_label};
use super::plots::{ci_pt, ladder, Plotter, X_BITS};
use super::Ctx;
use crate::doc::Doc;
use crate::metrics::SideMetrics;
use crate::plot::{Chart, Legend, RefLine};
use crate::ReportError;

/// Returns the correlations of the judge metrics with severity.
pub(super) fn render(
    cx: &Ctx,
    body: &mut Doc,
    pl: &mut Plotter,
) -> Result<Vec<Correlation>, ReportError> {
    let Ctx {
        d, stats, finished, ..
    } = *cx;
    body.h(2, "4. Judge metrics");
    let mut corr = Vec::new();
    match &d.judge {
        None => {
            body.p(format!(
                "No judge data for this run. `qarena judge --run {} --katago-dir DIR` (Go) or \
                 `--uci-engine stockfish` (chess) replays every game with a stronger engine and \
                 stores per-move verdicts; run this report again afterwards.",
                d.run.tag
            ));
        }
        Some(j) => {
            let js = j.run.settings.get("judge").unwrap_or(&j.run.settings);
            body.list(vec![
                format!(
                    "Judge run {} (created {}): {}",
                    j.run.id.0,
                    j.run.created_at,
                    compact(js)
                ),
                format!(
                    "Coverage: {} of {finished} finished games judged, {} moves.",
                    j.games_judged, j.moves_judged
                ),
                "Loss of a move: the judge's winrate (or score, or centipawns) for the mover \
                 before the move minus after it, clamped at 0; a blunder is a loss above the \
                 judge's threshold. Per game the loss is averaged over that side's moves."
                    .into(),
            ]);
            if d.judge_runs.len() > 1 {
                body.p(format!(
                    "Other judge runs of this run: {} (choose one with `--judge-run ID`).",
                    d.judge_runs
                        .iter()
                        .filter(|r| r.id != j.run.id)
                        .map(|r| r.id.0.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            let chess = stats.iter().any(|s| s.variant.loss_cp.is_some());
            let rows = d
                .points
                .iter()
                .zip(stats)
                .map(|(p, s)| {
                    let v: &SideMetrics = &s.variant;
                    vec![
                        p.index.to_string(),
                        point_label(p),
                        fmt_opt(p.effective_bits, 2),
                        v.moves_judged.to_string(),
                        fmt_ci(&v.loss_winrate, 2, 100.0),
                        if chess {
                            fmt_ci(&v.loss_cp, 1, 1.0)
                        } else {
                            fmt_ci(&v.loss_score, 2, 1.0)
                        },
                        fmt_ci(&v.blunder_rate, 1, 100.0),
                        fmt_ci(&s.baseline.loss_winrate, 2, 100.0),
                    ]
                })
                .collect();
            body.table(
                &[
                    "#",
                    "point",
                    "bits/w",
                    "moves",
                    "winrate loss/move, % (95% CI)",
                    if chess {
                        "cp loss/move"
                    } else {
                        "score loss/move, points"
                    },
                    "blunder rate, %",
                    "baseline side: winrate loss, %",
                ],
                rows,
            );
            let pool: Vec<f64> = stats
                .iter()
                .filter_map(|s| s.baseline.loss_winrate.map(|m| m.mean * 100.0))
                .collect();
            let mut base_ref = Vec::new();
            if !pool.is_empty() {
                base_ref.push(RefLine {
                    label: "baseline side, mean over points".into(),
                    y: pool.iter().sum::<f64>() / pool.len() as f64,
                });
            }
            let (series, mut refs) = ladder(d, stats, &|s| ci_pt(s.variant.loss_winrate, 100.0));
            refs.extend(base_ref);
            pl.add(
                body,
                "judge_loss_vs_bits.png",
                Chart {
                    title: "Judge: average winrate loss per move vs effective bits".into(),
                    x_label: X_BITS.into(),
                    y_label: "winrate loss per move, % (95% CI)".into(),
                    series,
                    refs,
                    legend: Legend::UpperRight,
                },
                "The variant's moves as the judge sees them: higher is worse play.",
            )?;
            let (series, refs) = ladder(d, stats, &|s| ci_pt(s.variant.blunder_rate, 100.0));
            pl.add(
                body,
                "blunder_rate_vs_bits.png",
                Chart {
                    title: "Judge: blunder rate vs effective bits".into(),
                    x_label: X_BITS.into(),
                    y_label: "blunders per move, % (95% CI)".into(),
                    series,
                    refs,
                    legend: Legend::UpperRight,
                },
                "Share of the variant's moves whose loss exceeds the judge's blunder threshold.",
            )?;
            corr.push(Correlation::of("judge winrate loss", &cx.non_ref, |s| {
                s.variant.loss_winrate
            }));
            corr.push(Correlation::of("blunder rate", &cx.non_ref, |s| {
                s.variant.blunder_rate
            }));
        }
    }
    Ok(corr)
}
