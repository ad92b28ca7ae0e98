//! Section 5, self-evaluation and overconfidence: what the engines
//! believed while they played, against the judge.

use super::correlation::Correlation;
use super::fmt::{fmt_ci, fmt_opt, point_label};
use super::plots::{ci_pt, ladder, Plotter, X_BITS};
use super::Ctx;
use crate::doc::Doc;
use crate::plot::{Chart, Legend, RefLine};
use crate::ReportError;

/// Returns the correlations of the self-evaluation metrics with severity.
pub(super) fn render(
    cx: &Ctx,
    body: &mut Doc,
    pl: &mut Plotter,
) -> Result<Vec<Correlation>, ReportError> {
    let Ctx {
        d,
        stats,
        has_self,
        has_judge,
        ..
    } = *cx;
    let mut corr = Vec::new();
    body.h(2, "5. Self-evaluation and overconfidence");
    if !has_self {
        body.p("No self-evaluations in this run: nothing to compare with the judge.");
    } else {
        body.p(
            "What each engine believed while it played: its own winrate for the side to move, \
             and the entropy (nats) of its normalised policy priors over the top-K candidates \
             (higher: less decided). Overconfidence is the engine's own winrate minus the \
             judge's winrate for the same position (both for the mover); positive means the \
             variant thinks it stands better than it does.",
        );
        let rows = d
            .points
            .iter()
            .zip(stats)
            .map(|(p, s)| {
                vec![
                    p.index.to_string(),
                    point_label(p),
                    fmt_opt(p.effective_bits, 2),
                    s.variant.self_evals.to_string(),
                    fmt_ci(&s.variant.self_winrate, 3, 1.0),
                    fmt_ci(&s.variant.entropy, 3, 1.0),
                    fmt_ci(&s.variant.overconfidence, 3, 1.0),
                    fmt_ci(&s.baseline.self_winrate, 3, 1.0),
                ]
            })
            .collect();
        body.table(
            &[
                "#",
                "point",
                "bits/w",
                "self-evals",
                "self winrate",
                "policy entropy",
                "self − judge winrate",
                "baseline side: self winrate",
            ],
            rows,
        );
        let (series, refs) = ladder(d, stats, &|s| ci_pt(s.variant.self_winrate, 1.0));
        pl.add(
            body,
            "self_winrate_vs_bits.png",
            Chart {
                title: "Self-evaluation: average own winrate vs effective bits".into(),
                x_label: X_BITS.into(),
                y_label: "own winrate, side to move (95% CI)".into(),
                series,
                refs,
                legend: Legend::LowerRight,
            },
            "The variant's average belief in its own position.",
        )?;
        let (series, refs) = ladder(d, stats, &|s| ci_pt(s.variant.entropy, 1.0));
        pl.add(
            body,
            "policy_entropy_vs_bits.png",
            Chart {
                title: "Self-evaluation: policy entropy vs effective bits".into(),
                x_label: X_BITS.into(),
                y_label: "entropy of top-K priors, nats (95% CI)".into(),
                series,
                refs,
                legend: Legend::UpperRight,
            },
            "A damaged policy head tends to spread (higher) or collapse (lower) its priors.",
        )?;
        corr.push(Correlation::of("self winrate", &cx.non_ref, |s| {
            s.variant.self_winrate
        }));
        corr.push(Correlation::of("policy entropy", &cx.non_ref, |s| {
            s.variant.entropy
        }));
        if has_judge && stats.iter().any(|s| s.variant.overconfidence.is_some()) {
            let (series, mut refs) = ladder(d, stats, &|s| ci_pt(s.variant.overconfidence, 1.0));
            refs.push(RefLine {
                label: "calibrated (0)".into(),
                y: 0.0,
            });
            pl.add(
                body,
                "overconfidence_vs_bits.png",
                Chart {
                    title: "Overconfidence: self minus judge winrate vs effective bits".into(),
                    x_label: X_BITS.into(),
                    y_label: "self − judge winrate (95% CI)".into(),
                    series,
                    refs,
                    legend: Legend::UpperRight,
                },
                "Above 0 the variant overrates its position relative to the judge.",
            )?;
            corr.push(Correlation::of("overconfidence", &cx.non_ref, |s| {
                s.variant.overconfidence
            }));
        } else if !has_judge {
            body.p("Overconfidence needs judge data (see section 4).");
        }
    }
    Ok(corr)
}
