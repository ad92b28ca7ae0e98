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
