//! Section 6, limitations: variance, sample size, the paired design,
//! the severity axis, what makes games non-reproducible, the judge and
//! self-evaluation.

use super::Ctx;
use crate::doc::Doc;

pub(super) fn render(cx: &Ctx, body: &mut Doc) {
    let Ctx {
        d,
        stats,
        has_self,
        has_judge,
        ..
    } = *cx;
    let chess = d.is_chess();
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
    items.push(reproducibility(chess));
    if has_judge {
        let budget = if chess {
            "search budget (fixed nodes or depth; see the settings in section 4); at a low \
             budget its scores are noisy"
        } else {
            "network and visit budget (see the settings in section 4); at low visits its \
             winrates are noisy"
        };
        items.push(format!(
            "**Judge assumptions.** The judge is only as strong as its {budget} and its \
             losses include search noise that is not the player's. A judge sharing the \
             players' network family can share their blind spots. Values are for the mover \
             before and after its move, losses are clamped at 0, and a winrate loss means \
             little in positions already decided (near 0 or 1). A judge searching with \
             several threads gives slightly different verdicts each time it is run."
        ));
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

/// What makes a replay of the run differ from it game by game: thread
/// timing, the engines' own randomness, concurrency and the machine's load.
fn reproducibility(chess: bool) -> String {
    let randomness = if chess {
        "Stockfish searching a fixed number of nodes on one thread is deterministic: the \
         same position and budget give the same move, so games differ only through the \
         openings and the per-move node jitter (seeded from the match seed and the game \
         index, so a replay draws the same jitter); without jitter a colour-swapped pair \
         can repeat itself exactly."
    } else {
        "KataGo draws random numbers in its search and, with a temperature above zero, \
         in its choice of move (random seeds unless its config fixes them); GNU Go at a \
         fixed level is deterministic."
    };
    let (threads, fixed) = if chess {
        ("the engine's `Threads` above 1", "fixed nodes or depth")
    } else {
        (
            "KataGo's search threads",
            "fixed visits or a fixed GNU Go level",
        )
    };
    format!(
        "**Reproducibility.** A replay of this run gives the same statistics within their \
         intervals, not the same games. *Thread timing*: a search with several threads \
         ({threads}) explores a different tree on each run, so moves can differ. *Engine \
         randomness*: {randomness} *Concurrency*: games run on several workers at once, and \
         which worker's engine process (with its hash tables and caches from earlier games) \
         plays a game depends on timing. *Time controls and load*: under a clock or a \
         movetime the depth reached depends on the machine's load (other games, other \
         programs), so the same settings play weaker on a busy machine; {fixed} do not \
         depend on it."
    )
}
