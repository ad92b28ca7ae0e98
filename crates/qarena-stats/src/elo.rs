//! Elo with a confidence interval from match results: trinomial (game by
//! game W/D/L) and pentanomial (pairs of games on one opening with colours
//! swapped), normalized Elo and the likelihood of superiority (LOS).
//!
//! Every estimate is an [`Estimate`]: a two-sided interval, a one-sided
//! bound or "not estimable", always with finite numbers and, when it is not
//! a plain interval, a sentence saying why. Nothing in an [`EloReport`] is
//! NaN or infinite, whatever the counts (zero games included).
//!
//! Formulas (checked against fastchess `elo_wdl.cpp` / `elo_pentanomial.cpp`
//! and fishtest `stat_util.get_elo`; see `docs/statistics.md`):
//!
//! * per sample (a game, or a pair with pair score halved) with score
//!   `a_k ∈ [0, 1]` and count `n_k`, `N = Σ n_k`:
//!   `μ = Σ n_k a_k / N`, `σ² = Σ n_k (a_k − μ)² / N`, `se = √(σ²/N)`;
//! * `Elo(x) = −400·log10(1/x − 1)`, interval `[Elo(μ − z·se), Elo(μ + z·se)]`
//!   with `z = Φ⁻¹((1 + c)/2)` (the interval is mapped through `Elo`, so it
//!   is asymmetric; fastchess prints half its width as "±");
//! * `LOS = Φ((μ − ½)/se)`;
//! * normalized Elo `nElo = (μ − ½)/σ_g · 800/ln 10` with the per-game
//!   standard deviation `σ_g = σ` (trinomial) or `√(2σ²_pair)` (pentanomial),
//!   interval `nElo ± z·(800/ln 10)/√games`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::StatsError;
use crate::normal;

/// `800/ln 10`: one unit of `(μ − ½)/σ` in normalized Elo (fishtest
/// `LLRcalc.nelo_divided_by_nt`).
pub const NELO_SCALE: f64 = 347.435_585_522_601_6;

/// Game results from the point of view of the tested engine (the variant).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wdl {
    pub wins: u64,
    pub draws: u64,
    pub losses: u64,
}

impl Wdl {
    pub fn new(wins: u64, draws: u64, losses: u64) -> Wdl {
        Wdl {
            wins,
            draws,
            losses,
        }
    }

    /// Number of games.
    pub fn games(&self) -> u64 {
        self.wins
            .saturating_add(self.draws)
            .saturating_add(self.losses)
    }

    /// Counts ordered by score 0, ½, 1, as the models below use them.
    pub(crate) fn by_score(&self) -> [u64; 3] {
        [self.losses, self.draws, self.wins]
    }
}

/// Pentanomial counts: pairs of games on the same opening with colours
/// swapped, by the tested engine's pair score 0, ½, 1, 1½, 2, that is
/// `[LL, LD, WL + DD, WD, WW]` (a pair "LD" is one loss and one draw in
/// either order).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Penta {
    pub counts: [u64; 5],
}

impl Penta {
    pub fn new(counts: [u64; 5]) -> Penta {
        Penta { counts }
    }

    /// Number of pairs.
    pub fn pairs(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, &c| a.saturating_add(c))
    }

    /// Number of games (two per pair).
    pub fn games(&self) -> u64 {
        self.pairs().saturating_mul(2)
    }
}

/// Pentanomial counts from pairs of game scores (each 0, 0.5 or 1, from
/// the tested engine's side).
///
/// A pair whose scores are not 0, 0.5 or 1 (NaN included) is skipped; use
/// [`try_penta_from_pairs`] to have such input rejected with its index.
pub fn penta_from_pairs(pairs: &[(f64, f64)]) -> Penta {
    let mut penta = Penta::default();
    for &(a, b) in pairs {
        if let (Some(x), Some(y)) = (half_points(a), half_points(b)) {
            penta.counts[x + y] += 1;
        }
    }
    penta
}

/// Like [`penta_from_pairs`], but a score other than 0, 0.5 or 1 is an
/// error naming the pair.
pub fn try_penta_from_pairs(pairs: &[(f64, f64)]) -> Result<Penta, StatsError> {
    let mut penta = Penta::default();
    for (index, &(a, b)) in pairs.iter().enumerate() {
        match (half_points(a), half_points(b)) {
            (Some(x), Some(y)) => penta.counts[x + y] += 1,
            _ => return Err(StatsError::InvalidPairScore { index, a, b }),
        }
    }
    Ok(penta)
}

/// A game score 0, 0.5, 1 as a number of half points 0, 1, 2.
fn half_points(score: f64) -> Option<usize> {
    if score == 0.0 {
        Some(0)
    } else if score == 0.5 {
        Some(1)
    } else if score == 1.0 {
        Some(2)
    } else {
        None
    }
}

/// Logistic Elo difference for an expected score: `−400·log10(1/s − 1)`.
///
/// Gives `−∞` at 0, `+∞` at 1 and NaN outside `[0, 1]`; the reports never
/// call it there (they use one-sided bounds instead).
pub fn elo_from_score(score: f64) -> f64 {
    if score <= 0.0 {
        return if score == 0.0 {
            f64::NEG_INFINITY
        } else {
            f64::NAN
        };
    }
    if score >= 1.0 {
        return if score == 1.0 {
            f64::INFINITY
        } else {
            f64::NAN
        };
    }
    // ln(s) − ln(1 − s) keeps precision for s close to 0 or 1.
    400.0 * (score.ln() - (-score).ln_1p()) / std::f64::consts::LN_10
}

/// Expected score for a logistic Elo difference: `1/(1 + 10^(−elo/400))`.
pub fn score_from_elo(elo: f64) -> f64 {
    1.0 / (1.0 + 10f64.powf(-elo / 400.0))
}

/// An estimate with its confidence interval, or the part of it that the
/// data support. All numbers are finite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Estimate {
    /// A point estimate with a two-sided interval `lower ≤ value ≤ upper`.
    Value { value: f64, lower: f64, upper: f64 },
    /// Only a lower bound is finite (e.g. every game won).
    LowerBound { lower: f64, reason: String },
    /// Only an upper bound is finite (e.g. every game lost).
    UpperBound { upper: f64, reason: String },
    /// Nothing can be said (no games, no spread, or too few games).
    NotEstimable { reason: String },
}

impl Estimate {
    /// The point estimate, when there is one.
    pub fn value(&self) -> Option<f64> {
        match self {
            Estimate::Value { value, .. } => Some(*value),
            _ => None,
        }
    }

    /// The finite lower bound, when there is one.
    pub fn lower(&self) -> Option<f64> {
        match self {
            Estimate::Value { lower, .. } | Estimate::LowerBound { lower, .. } => Some(*lower),
            _ => None,
        }
    }

    /// The finite upper bound, when there is one.
    pub fn upper(&self) -> Option<f64> {
        match self {
            Estimate::Value { upper, .. } | Estimate::UpperBound { upper, .. } => Some(*upper),
            _ => None,
        }
    }

    /// Half the interval width (what fastchess and cutechess print as "±").
    pub fn half_width(&self) -> Option<f64> {
        match self {
            Estimate::Value { lower, upper, .. } => Some((upper - lower) / 2.0),
            _ => None,
        }
    }

    /// Why the estimate is not a two-sided interval.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Estimate::Value { .. } => None,
            Estimate::LowerBound { reason, .. }
            | Estimate::UpperBound { reason, .. }
            | Estimate::NotEstimable { reason } => Some(reason),
        }
    }

    /// Whether `truth` lies inside the interval (a missing side counts as
    /// unbounded; "not estimable" covers nothing).
    pub fn covers(&self, truth: f64) -> bool {
        match self {
            Estimate::Value { lower, upper, .. } => *lower <= truth && truth <= *upper,
            Estimate::LowerBound { lower, .. } => *lower <= truth,
            Estimate::UpperBound { upper, .. } => truth <= *upper,
            Estimate::NotEstimable { .. } => false,
        }
    }
}

impl fmt::Display for Estimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Estimate::Value {
                value,
                lower,
                upper,
            } => write!(f, "{value:+.1} [{lower:+.1}, {upper:+.1}]"),
            Estimate::LowerBound { lower, reason } => write!(f, "≥ {lower:+.1} ({reason})"),
            Estimate::UpperBound { upper, reason } => write!(f, "≤ {upper:+.1} ({reason})"),
            Estimate::NotEstimable { reason } => write!(f, "not estimable ({reason})"),
        }
    }
}

/// The counts a report was computed from, so that it can be recomputed at
/// another confidence level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Counts {
    Wdl(Wdl),
    Penta(Penta),
}

/// Elo statistics of one match from the tested engine's point of view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EloReport {
    /// Games played (two per pair for the pentanomial model).
    pub games: u64,
    /// Mean score per game in `[0, 1]` (½ when there are no games).
    pub score: f64,
    /// Confidence interval of the score, inside `[0, 1]`: the normal
    /// interval when `elo` is a [`Estimate::Value`], otherwise the bounds
    /// described in the crate documentation.
    pub score_lower: f64,
    pub score_upper: f64,
    /// Trinomial: draws / games. Pentanomial: pairs with pair score 1
    /// (WL or DD) / pairs, as fastchess reports it; the per-game draw ratio
    /// cannot be recovered from pentanomial counts.
    pub draw_ratio: f64,
    /// Logistic Elo difference.
    pub elo: Estimate,
    /// Normalized Elo difference.
    pub nelo: Estimate,
    /// Likelihood of superiority `Φ((μ − ½)/se)`; `None` without games or
    /// when every sample scored exactly ½.
    pub los: Option<f64>,
    /// `"trinomial"` or `"pentanomial"`.
    pub model: &'static str,
    /// Two-sided confidence level of the intervals (0 if an invalid level
    /// was asked for; the estimates then say so).
    pub confidence: f64,
    /// The input counts.
    pub counts: Counts,
}

impl EloReport {
    /// The same statistics at another confidence level.
    pub fn at_confidence(&self, confidence: f64) -> EloReport {
        match &self.counts {
            Counts::Wdl(w) => elo_wdl(w, confidence),
            Counts::Penta(p) => elo_penta(p, confidence),
        }
    }
}

/// Trinomial Elo report from W/D/L counts at a two-sided `confidence`
/// level (e.g. 0.95).
pub fn elo_wdl(w: &Wdl, confidence: f64) -> EloReport {
    let games = w.games();
    let draw_ratio = if games == 0 {
        0.0
    } else {
        w.draws as f64 / games as f64
    };
    build(
        &Model::TRINOMIAL,
        &w.by_score(),
        games,
        draw_ratio,
        confidence,
        Counts::Wdl(*w),
    )
}

/// Pentanomial Elo report from pair counts at a two-sided `confidence`
/// level. Pairs are the independent samples: the score of one pair is
/// `a_k = k/4` (pair points / 2).
pub fn elo_penta(p: &Penta, confidence: f64) -> EloReport {
    let pairs = p.pairs();
    let draw_ratio = if pairs == 0 {
        0.0
    } else {
        p.counts[2] as f64 / pairs as f64
    };
    build(
        &Model::PENTANOMIAL,
        &p.counts,
        p.games(),
        draw_ratio,
        confidence,
        Counts::Penta(*p),
    )
}

/// What distinguishes the two models in the shared computation.
pub(crate) struct Model {
    pub(crate) name: &'static str,
    /// Sample scores `a_k`, ascending from 0 to 1.
    pub(crate) scores: &'static [f64],
    /// Games per sample: per-game variance is `games_per_sample·σ²_sample`.
    pub(crate) games_per_sample: f64,
    unit: &'static str,
}

impl Model {
    pub(crate) const TRINOMIAL: Model = Model {
        name: "trinomial",
        scores: &[0.0, 0.5, 1.0],
        games_per_sample: 1.0,
        unit: "games",
    };
    pub(crate) const PENTANOMIAL: Model = Model {
        name: "pentanomial",
        scores: &[0.0, 0.25, 0.5, 0.75, 1.0],
        games_per_sample: 2.0,
        unit: "game pairs",
    };
}

/// Mean and variance of the sample scores weighted by `counts`.
pub(crate) fn mean_variance(scores: &[f64], weights: &[f64]) -> (f64, f64) {
    let total: f64 = weights.iter().sum();
    let mean = scores.iter().zip(weights).map(|(a, w)| a * w).sum::<f64>() / total;
    let var = scores
        .iter()
        .zip(weights)
        .map(|(a, w)| w * (a - mean) * (a - mean))
        .sum::<f64>()
        / total;
    (mean, var)
}

/// The Wilson score interval for a mean `p` of `n` samples in `[0, 1]`,
/// using the largest variance such a sample can have, `p(1 − p)`; it stays
/// inside `[0, 1]` and is finite for `p ∈ {0, 1}`; `(0, 1)` without
/// samples. `z` is the normal quantile of the interval ([`crate::Z95`]).
pub fn wilson(p: f64, n: f64, z: f64) -> (f64, f64) {
    if n <= 0.0 {
        return (0.0, 1.0);
    }
    let z2n = z * z / n;
    let center = (p + z2n / 2.0) / (1.0 + z2n);
    let half = z / (1.0 + z2n) * (p * (1.0 - p) / n + z2n / (4.0 * n)).sqrt();
    ((center - half).max(0.0), (center + half).min(1.0))
}

fn build(
    model: &Model,
    counts: &[u64],
    games: u64,
    draw_ratio: f64,
    confidence: f64,
    input: Counts,
) -> EloReport {
    let reported_confidence = if confidence.is_finite() {
        confidence
    } else {
        0.0
    };
    let unit = model.unit;
    let n: u64 = counts.iter().fold(0u64, |a, &c| a.saturating_add(c));
    let mut report = EloReport {
        games,
        score: 0.5,
        score_lower: 0.0,
        score_upper: 1.0,
        draw_ratio,
        elo: Estimate::NotEstimable {
            reason: "no games played".to_owned(),
        },
        nelo: Estimate::NotEstimable {
            reason: "no games played".to_owned(),
        },
        los: None,
        model: model.name,
        confidence: reported_confidence,
        counts: input,
    };
    if n == 0 {
        return report;
    }

    let weights: Vec<f64> = counts.iter().map(|&c| c as f64).collect();
    let nf = n as f64;
    let (mean, var) = mean_variance(model.scores, &weights);
    // Zero variance is decided on the counts, not on rounding noise.
    let one_outcome = counts.iter().filter(|&&c| c > 0).count() == 1;
    let var = if one_outcome { 0.0 } else { var };
    let se = (var / nf).sqrt();
    report.score = mean;

    report.los = if one_outcome {
        if mean > 0.5 {
            Some(1.0)
        } else if mean < 0.5 {
            Some(0.0)
        } else {
            None
        }
    } else {
        Some(normal::cdf((mean - 0.5) / se))
    };

    if !(confidence > 0.0 && confidence < 1.0) {
        let reason = format!("confidence level must be strictly between 0 and 1, got {confidence}");
        report.elo = Estimate::NotEstimable {
            reason: reason.clone(),
        };
        report.nelo = Estimate::NotEstimable { reason };
        return report;
    }
    let z = normal::quantile(0.5 + confidence / 2.0);

    if one_outcome {
        let (wl, wu) = wilson(mean, nf, z);
        report.score_lower = wl;
        report.score_upper = wu;
        let nelo_reason = format!(
            "all {n} {unit} had the same result, so the spread that normalized Elo divides by is zero"
        );
        report.nelo = Estimate::NotEstimable {
            reason: nelo_reason,
        };
        report.elo = if mean >= 1.0 {
            Estimate::LowerBound {
                lower: elo_from_score(wl),
                reason: format!(
                    "the tested engine won all {n} {unit}, so Elo is unbounded above; \
                     the lower bound is the Wilson bound on the score"
                ),
            }
        } else if mean <= 0.0 {
            Estimate::UpperBound {
                upper: elo_from_score(wu),
                reason: format!(
                    "the tested engine lost all {n} {unit}, so Elo is unbounded below; \
                     the upper bound is the Wilson bound on the score"
                ),
            }
        } else {
            Estimate::NotEstimable {
                reason: format!(
                    "zero variance: all {n} {unit} scored {mean} each, so the spread needed \
                     for an interval is unknown (deterministic engines or repeated openings?); \
                     vary the openings or play more {unit}"
                ),
            }
        };
        return report;
    }

    // Normalized Elo: its interval depends only on the number of games.
    let game_sd = (model.games_per_sample * var).sqrt();
    let nelo = (mean - 0.5) / game_sd * NELO_SCALE;
    let nelo_half = z * NELO_SCALE / (nf * model.games_per_sample).sqrt();
    report.nelo = Estimate::Value {
        value: nelo,
        lower: nelo - nelo_half,
        upper: nelo + nelo_half,
    };

    let lo = mean - z * se;
    let hi = mean + z * se;
    report.score_lower = lo.max(0.0);
    report.score_upper = hi.min(1.0);
    report.elo = match (lo > 0.0, hi < 1.0) {
        (true, true) => Estimate::Value {
            value: elo_from_score(mean),
            lower: elo_from_score(lo),
            upper: elo_from_score(hi),
        },
        (false, true) => Estimate::UpperBound {
            upper: elo_from_score(hi),
            reason: format!(
                "the lower end of the score interval ({lo:.4}) is at or below 0, \
                 so Elo is unbounded below; play more {unit}"
            ),
        },
        (true, false) => Estimate::LowerBound {
            lower: elo_from_score(lo),
            reason: format!(
                "the upper end of the score interval ({hi:.4}) is at or above 1, \
                 so Elo is unbounded above; play more {unit}"
            ),
        },
        (false, false) => Estimate::NotEstimable {
            reason: format!(
                "the score interval [{lo:.4}, {hi:.4}] spans all of (0, 1): too few {unit}"
            ),
        },
    };
    report
}
