//! Acceptance gates: a variant passes when every configured check passes.
//!
//! Rules (also in `docs/statistics.md`):
//!
//! * `min_score = s`: the **point** score (mean score per game) must be at
//!   least `s`. It is a plain threshold, not a confidence statement; pair it
//!   with `max_elo_loss` for one.
//! * `max_elo_loss = X` with `confidence = c`: "the variant loses less than
//!   X Elo with confidence c" holds when the **lower** end of the two-sided
//!   c-interval of logistic Elo is above `−X` (so the claim itself holds
//!   with one-sided confidence `(1 + c)/2 ≥ c`). An estimate with no finite
//!   lower bound (all games lost, too few games, zero variance) fails.
//!   When `c` differs from the report's level, the report is recomputed
//!   from its counts at `c`.
//! * No games fails every check; a gate with no checks passes and says so.

use serde::{Deserialize, Serialize};

use crate::elo::{EloReport, Estimate};

/// An acceptance rule on an [`EloReport`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    /// Minimum point score in `[0, 1]` (e.g. 0.45).
    pub min_score: Option<f64>,
    /// Largest acceptable Elo loss, positive (e.g. 50 for "loses < 50 Elo").
    pub max_elo_loss: Option<f64>,
    /// Two-sided confidence level for `max_elo_loss` (e.g. 0.95).
    pub confidence: f64,
}

impl Default for Gate {
    fn default() -> Gate {
        Gate {
            min_score: None,
            max_elo_loss: None,
            confidence: 0.95,
        }
    }
}

/// Whether the gate passed, with one sentence per check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateOutcome {
    pub passed: bool,
    pub reasons: Vec<String>,
}

/// Applies every configured check of `gate` to `report`.
pub fn check_gate(report: &EloReport, gate: &Gate) -> GateOutcome {
    let mut passed = true;
    let mut reasons = Vec::new();

    if let Some(min) = gate.min_score {
        let (ok, why) = if !min.is_finite() {
            (false, format!("min-score {min} is not a number: FAIL"))
        } else if report.games == 0 {
            (false, format!("min-score {min:.4}: no games played: FAIL"))
        } else if report.score >= min {
            (
                true,
                format!(
                    "score {:.4} over {} games ≥ min-score {min:.4}: pass",
                    report.score, report.games
                ),
            )
        } else {
            (
                false,
                format!(
                    "score {:.4} over {} games < min-score {min:.4}: FAIL",
                    report.score, report.games
                ),
            )
        };
        passed &= ok;
        reasons.push(why);
    }

    if let Some(loss) = gate.max_elo_loss {
        let c = gate.confidence;
        let (ok, why) = if !loss.is_finite() {
            (false, format!("max-elo-loss {loss} is not a number: FAIL"))
        } else if !(c > 0.0 && c < 1.0) {
            (
                false,
                format!("confidence {c} must be strictly between 0 and 1: FAIL"),
            )
        } else {
            let recomputed;
            let at_c = if report.confidence == c {
                report
            } else {
                recomputed = report.at_confidence(c);
                &recomputed
            };
            let pct = c * 100.0;
            match &at_c.elo {
                Estimate::Value { lower, .. } | Estimate::LowerBound { lower, .. } => {
                    if *lower > -loss {
                        (
                            true,
                            format!(
                                "Elo lower bound {lower:+.1} ({pct}% interval, {}) > −{loss}: \
                                 loses less than {loss} Elo: pass",
                                at_c.model
                            ),
                        )
                    } else {
                        (
                            false,
                            format!(
                                "Elo lower bound {lower:+.1} ({pct}% interval, {}) ≤ −{loss}: \
                                 a loss of {loss} Elo or more is not ruled out: FAIL",
                                at_c.model
                            ),
                        )
                    }
                }
                Estimate::UpperBound { upper, reason } => (
                    false,
                    format!(
                        "Elo has no lower bound (only ≤ {upper:+.1}: {reason}), \
                         so a loss below {loss} Elo cannot be shown: FAIL"
                    ),
                ),
                Estimate::NotEstimable { reason } => (
                    false,
                    format!(
                        "Elo is not estimable ({reason}), so a loss below {loss} Elo \
                         cannot be shown: FAIL"
                    ),
                ),
            }
        };
        passed &= ok;
        reasons.push(why);
    }

    if reasons.is_empty() {
        reasons.push("no checks configured: pass".to_owned());
    }
    GateOutcome { passed, reasons }
}

/// How many games a `max_elo_loss` gate needs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GatePlan {
    /// Games (rounded up to whole colour-swapped pairs).
    pub games: u64,
    /// The per-game standard deviation of the score assumed.
    pub sigma: f64,
    /// Half width of the score interval at that many games.
    pub half_width_score: f64,
}

/// Games a fixed-length match needs so that a variant whose true Elo is
/// `true_elo` passes "loses less than `max_elo_loss` Elo with
/// `confidence`" (the lower end of the two-sided interval above
/// `−max_elo_loss`, as [`check_gate`] decides) with probability `power`,
/// games scored trinomially with `draw_ratio` draws.
///
/// `n = ((z_{(1+c)/2} + z_power) · σ / δ)²` with `δ = L(true_elo) −
/// L(−max_elo_loss)` in score and `σ² = s(1 − s) − d/4` per game at the
/// true score `s` (draws halve a game's spread). `None` when the true Elo
/// is not above `−max_elo_loss` (no number of games makes the claim
/// likely) or an input is out of range.
pub fn plan_gate(
    max_elo_loss: f64,
    true_elo: f64,
    draw_ratio: f64,
    confidence: f64,
    power: f64,
) -> Option<GatePlan> {
    let ok = max_elo_loss.is_finite()
        && max_elo_loss > 0.0
        && true_elo.is_finite()
        && (0.0..1.0).contains(&draw_ratio)
        && (0.5..1.0).contains(&confidence)
        && (0.0..1.0).contains(&power)
        && power > 0.0;
    if !ok || true_elo <= -max_elo_loss {
        return None;
    }
    let s = crate::score_from_elo(true_elo);
    let delta = s - crate::score_from_elo(-max_elo_loss);
    let var = s * (1.0 - s) - draw_ratio / 4.0;
    if var <= 0.0 {
        return None;
    }
    let sigma = var.sqrt();
    let z = crate::normal::quantile(0.5 + confidence / 2.0) + crate::normal::quantile(power);
    let n = ((z * sigma / delta).powi(2)).ceil();
    let games = (n / 2.0).ceil() as u64 * 2;
    let z_a = crate::normal::quantile(0.5 + confidence / 2.0);
    Some(GatePlan {
        games,
        sigma,
        half_width_score: z_a * sigma / (games as f64).sqrt(),
    })
}
