//! Section 1, the summary: counts, the most severe point, judge and
//! self-evaluation coverage.

use super::fmt::fmt_opt;
use super::Ctx;
use crate::doc::Doc;

pub(super) fn render(cx: &Ctx, body: &mut Doc) {
    let Ctx {
        d,
        stats,
        finished,
        has_self,
        ..
    } = *cx;
    let non_ref = &cx.non_ref;
    body.h(2, "1. Summary");
    let mut items = vec![format!(
        "{} points, {finished} finished games ({} aborted), run status **{}**.",
        d.points.len(),
        stats.iter().map(|s| s.aborted).sum::<u64>(),
        d.run.status.as_str()
    )];
    if let Some((p, s)) = non_ref
        .iter()
        .filter(|(p, s)| p.effective_bits.is_some() && s.games > 0)
        .min_by(|a, b| {
            a.0.effective_bits
                .unwrap_or(0.0)
                .total_cmp(&b.0.effective_bits.unwrap_or(0.0))
        })
    {
        items.push(format!(
            "Most severe point: **{}** at {} bits/w scores {:.3} against the baseline, Elo {}.",
            p.name,
            fmt_opt(p.effective_bits, 2),
            s.elo.as_ref().map(|e| e.score).unwrap_or(0.5),
            s.elo
                .as_ref()
                .map(|e| e.elo.to_string())
                .unwrap_or_else(|| "-".into())
        ));
    }
    items.push(match &d.judge {
        Some(j) => format!(
            "Judge run {}: {} of {finished} games judged ({:.0}%), {} moves.",
            j.run.id.0,
            j.games_judged,
            if finished > 0 {
                100.0 * j.games_judged as f64 / finished as f64
            } else {
                0.0
            },
            j.moves_judged
        ),
        None => format!(
            "No judge data: run `qarena judge --run {} ...` for per-move judge metrics.",
            d.run.tag
        ),
    });
    items.push(if has_self {
        format!(
            "{} self-evaluations (the engines' own winrate and candidates at every move).",
            d.self_evals
        )
    } else {
        "No self-evaluations (the engine does not report them, e.g. not KataGo).".into()
    });
    body.list(items);
}
