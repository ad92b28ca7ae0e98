//! Section 6, limitations: variance, sample size, the paired design,
//! the severity axis, the judge and self-evaluation.

use super::Ctx;
use crate::doc::Doc;

pub(super) fn render(cx: &Ctx, body: &mut Doc) {
    let Ctx {
        stats,
        has_self,
        has_judge,
        ..
    } = *cx;
    body.h(2, "6. Limitations");
    let widest = stats
        .iter()
        .filter_map(|s| s.elo.as_ref().and_then(|e| e.elo.half_width()))
        .fold(0.0f64, f64::max);
    let min_games = stats.iter().map(|s| s.games).min().unwrap_or(0);
    let widest = if widest > 0.0 {
        format!("the widest two-sided Elo interval is ±{widest:.0}")
    } else {
        "no point has a two-sided Elo interval yet".to_string()
    };
    let mut items = vec![
        format!(
            "**Variance.** Each point has at least {min_games} finished games; {widest}. Differences between points smaller than their intervals \
             are not evidence of a difference; the intervals are per point and not corrected \
             for the number of points compared."
        ),
        "**Small samples.** With few games (or pairs) the normal approximation behind the \
         intervals is rough, Elo is not estimable when a point wins or loses every game, and \
         metric means over games inherit the same uncertainty."
            .into(),
        "**Paired design.** Pairs share an opening and a seed, so games within a pair are not \
         independent; the pentanomial model accounts for this, the trinomial one (used when \
         pairs are incomplete) does not."
            .into(),
        "**Severity axis.** Effective bits per weight count scales, zero points, palettes and \
         outliers over the whole model; two strategies with equal bits can damage the network \
         very differently, which is why points are grouped by module target."
            .into(),
    ];
    if has_judge {
        items.push(
            "**Judge assumptions.** The judge is only as strong as its network and visit \
             budget (see the settings in section 4); at low visits its winrates are noisy and \
             its losses include search noise that is not the player's. A judge sharing the \
             players' network family can share their blind spots. Values are for the mover \
             before and after its move, losses are clamped at 0, and a winrate loss means \
             little in positions already decided (near 0 or 1)."
                .into(),
        );
    } else {
        items.push(
            "**No judge.** Without judge data, play quality is known only through results.".into(),
        );
    }
    if has_self {
        items.push(
            "**Self-evaluation.** The engine's own winrate comes from the variant's damaged \
             network and its search at the match budget; it is a belief, not a measurement. \
             Entropy uses only the reported top-K candidates, not the full policy."
                .into(),
        );
    }
    body.list(items);
}
