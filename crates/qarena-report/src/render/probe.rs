//! Subsection "Probe" of the results: how much each variant changed the raw network on a
//! fixed position suite (stored by `qarena probe` or `sweep --probe`),
//! against its effective bits and its strength in games, with the
//! correlations that say whether the probe predicts Elo here.

use qarena_stats::elo_from_score;

use super::fmt::point_label;
use super::plots::{Plotter, X_BITS};
use super::Ctx;
use crate::doc::Doc;
use crate::metrics::pearson;
use crate::plot::{Chart, Legend, Pt, RefLine, Series};
use crate::ReportError;

/// Spearman's rank correlation (average ranks for ties).
pub(crate) fn spearman(xs: &[f64], ys: &[f64]) -> Option<f64> {
    fn ranks(v: &[f64]) -> Vec<f64> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
        let mut r = vec![0.0; v.len()];
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
                j += 1;
            }
            let avg = (i + j) as f64 / 2.0 + 1.0;
            for k in &idx[i..=j] {
                r[*k] = avg;
            }
            i = j + 1;
        }
        r
    }
    if xs.len() != ys.len() {
        return None;
    }
    pearson(&ranks(xs), &ranks(ys))
}

pub(super) fn render(cx: &Ctx, body: &mut Doc, pl: &mut Plotter) -> Result<(), ReportError> {
    let Ctx { d, stats, .. } = *cx;
    let probed: Vec<usize> = (0..d.points.len())
        .filter(|&i| d.probes.get(i).is_some_and(Option::is_some))
        .collect();
    let Some(first) = probed.first().and_then(|&i| d.probes[i].as_ref()) else {
        return Ok(());
    };
    let primary = first.primary.clone();
    body.h(3, "Probe: how much the network changed");
    body.p(format!(
        "Each variant's raw network outputs compared with the original's on the suite `{}` \
         ({} positions, probe `{}`), without playing: `{primary}` is the headline figure \
         (for Go nets the mean policy KL(original ‖ variant) in nats over legal moves and pass; \
         for NNUE nets the mean static-evaluation error in centipawns). Stored by \
         `qarena probe` or `qarena sweep --probe`; the newest probe of each variant is shown.",
        first.suite, first.positions, first.probe
    ));
    let extra: Vec<String> = first
        .metrics
        .iter()
        .map(|(n, _)| n.clone())
        .filter(|n| *n != primary)
        .take(4)
        .collect();
    let mut header: Vec<&str> = vec!["#", "variant", "bits/w", &primary];
    header.extend(extra.iter().map(String::as_str));
    header.push("score");
    let mut rows = Vec::new();
    let mut by_bits = Vec::new();
    let mut by_score = Vec::new();
    let (mut xs, mut scores, mut elos, mut elo_x) = (vec![], vec![], vec![], vec![]);
    let mut floor = None;
    for &i in &probed {
        let (p, s) = (&d.points[i], &stats[i]);
        let Some(pr) = d.probes[i].as_ref().filter(|pr| pr.primary == primary) else {
            continue;
        };
        floor = floor.or(pr.noise_floor);
        let score = s.elo.as_ref().map(|e| e.score);
        let mut row = vec![
            p.index.to_string(),
            point_label(p),
            p.effective_bits
                .map(|b| format!("{b:.3}"))
                .unwrap_or_else(|| "-".into()),
            format!("{:.4}", pr.value),
        ];
        for n in &extra {
            row.push(
                pr.metrics
                    .iter()
                    .find(|(m, _)| m == n)
                    .map(|(_, v)| format!("{v:.4}"))
                    .unwrap_or_else(|| "-".into()),
            );
        }
        row.push(
            score
                .map(|v| format!("{:.1}%", 100.0 * v))
                .unwrap_or_else(|| "-".into()),
        );
        rows.push(row);
        if let Some(bits) = p.effective_bits {
            by_bits.push(Pt {
                x: bits,
                y: pr.value,
                lo: None,
                hi: None,
            });
        }
        // The original and the baseline play against the baseline itself:
        // their scores say nothing about the damage the probe measures.
        if p.is_original || p.is_baseline {
            continue;
        }
        if let Some(e) = s.elo.as_ref() {
            by_score.push(Pt {
                x: pr.value,
                y: e.score,
                lo: Some(e.score_lower),
                hi: Some(e.score_upper),
            });
            xs.push(pr.value);
            scores.push(e.score);
            let elo = elo_from_score(e.score);
            if elo.is_finite() {
                elo_x.push(pr.value);
                elos.push(elo);
            }
        }
    }
    body.table(&header, rows);
    by_bits.sort_by(|a, b| a.x.total_cmp(&b.x));
    by_score.sort_by(|a, b| a.x.total_cmp(&b.x));
    if let Some(f) = floor {
        body.p(format!(
            "Noise floor: the original against itself under another view of the same \
             positions (a board symmetry) gives {primary} = {f:.4}; differences below it are \
             within what the network itself disagrees with."
        ));
    }
    let refs: Vec<RefLine> = floor
        .map(|f| RefLine {
            label: "noise floor".into(),
            y: f,
        })
        .into_iter()
        .collect();
    pl.add(
        body,
        "probe_vs_bits.png",
        Chart {
            title: format!("Probe: {primary} vs effective bits"),
            x_label: X_BITS.into(),
            y_label: primary.clone(),
            series: vec![Series {
                scatter: false,
                name: "variants".into(),
                points: by_bits,
            }],
            refs,
            legend: Legend::UpperRight,
        },
        "Every probed point; lower is closer to the original.",
    )?;
    if !by_score.is_empty() {
        pl.add(
            body,
            "score_vs_probe.png",
            Chart {
                title: format!("Score against the baseline vs probe {primary}"),
                x_label: primary.clone(),
                y_label: "score of the variant (95% CI)".into(),
                series: vec![Series {
                    scatter: false,
                    name: "variants".into(),
                    points: by_score,
                }],
                refs: vec![RefLine {
                    label: "equal to the baseline (0.5)".into(),
                    y: 0.5,
                }],
                legend: Legend::UpperRight,
            },
            "If the probe predicts strength, the points fall from left to right.",
        )?;
    }
    body.h(4, "Does the probe predict Elo here?");
    let mut items = Vec::new();
    if let Some(r) = spearman(&xs, &scores) {
        items.push(format!(
            "Spearman rank correlation of {primary} with Elo: {r:+.2} over {} points \
             (ranks of Elo are ranks of the score, so points with unbounded Elo count too)",
            xs.len()
        ));
    }
    if let Some(r) = pearson(&elo_x, &elos) {
        items.push(format!(
            "Pearson correlation of {primary} with the Elo point estimate: {r:+.2} over {} \
             points with a finite estimate",
            elo_x.len()
        ));
    }
    if items.is_empty() {
        body.p("Too few probed points with games to correlate (at least three are needed).");
    } else {
        body.list(items);
        body.p(
            "Negative: more change in the network, less strength. With few points this is \
             descriptive, not a test.",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_handles_ties_and_monotone_transforms() {
        let xs = [0.1, 0.5, 0.2, 0.9];
        let ys: Vec<f64> = xs.iter().map(|x: &f64| -(x * 3.0).exp()).collect();
        assert!((spearman(&xs, &ys).unwrap() + 1.0).abs() < 1e-12);
        let r = spearman(&[1.0, 1.0, 2.0, 3.0], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert!(r > 0.9 && r < 1.0, "{r}");
        assert_eq!(spearman(&[1.0], &[1.0, 2.0]), None);
    }
}
