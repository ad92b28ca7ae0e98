//! Acceptance gates: a variant passes when every configured check passes.
//!
//! Rules (also in `docs/statistics.md`). The gate's **basis** says what the
//! checks are applied to:
//!
//! * [`GateBasis::Ci`] (the default): `min_score = s` is the **point**
//!   score (mean score per game) ≥ `s`, a plain threshold. `max_elo_loss =
//!   X` with `confidence = c`: "the variant loses less than X Elo with
//!   confidence c" holds when the **lower** end of the two-sided c-interval
//!   of logistic Elo is above `−X` (so the claim itself holds with one-sided
//!   confidence `(1 + c)/2 ≥ c`). An estimate with no finite lower bound (all
//!   games lost, too few games, zero variance) fails. When `c` differs from
//!   the report's level, the report is recomputed from its counts at `c`.
//! * [`GateBasis::Point`]: the point estimates, with no statement of
//!   confidence: score ≥ `min_score` and logistic Elo `> −X` (that is,
//!   score `> L(−X)`, so every game won passes and every game lost fails).
//! * [`GateBasis::Sprt`]: `max_elo_loss = X` is the GSPRT of
//!   `elo0 = −X` against `elo1 = 0` (logistic Elo, the report's trinomial or
//!   pentanomial counts, error rates `alpha` and `beta`): H1 accepted
//!   passes, H0 accepted fails, neither is [`GateVerdict::Undecided`].
//!   `min_score` stays the point threshold.
//! * No games fails every check except the SPRT, which is undecided; a
//!   gate with no checks passes and says so. The verdict is FAIL when any
//!   check fails, otherwise UNDECIDED when the SPRT has not decided,
//!   otherwise PASS.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::elo::{Counts, EloReport, Estimate};
use crate::error::StatsError;
use crate::sprt::{sprt_penta, sprt_wdl, SprtModel, SprtParams, SprtResult, SprtVerdict};

/// What a gate's checks are applied to.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateBasis {
    /// The point estimates (score and Elo), no confidence statement.
    Point,
    /// The bound of the two-sided interval at the gate's confidence.
    #[default]
    Ci,
    /// A GSPRT of `elo0 = −max_elo_loss` against `elo1 = 0`.
    Sprt {
        /// Probability of passing a variant that loses `max_elo_loss`.
        alpha: f64,
        /// Probability of failing a variant that loses nothing.
        beta: f64,
    },
}

impl fmt::Display for GateBasis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GateBasis::Point => f.write_str("point"),
            GateBasis::Ci => f.write_str("ci"),
            GateBasis::Sprt { alpha, beta } => write!(f, "sprt (alpha {alpha}, beta {beta})"),
        }
    }
}

/// An acceptance rule on an [`EloReport`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    /// Minimum point score in `[0, 1]` (e.g. 0.45).
    pub min_score: Option<f64>,
    /// Largest acceptable Elo loss, positive (e.g. 50 for "loses < 50 Elo").
    pub max_elo_loss: Option<f64>,
    /// Two-sided confidence level for `max_elo_loss` on the `Ci` basis
    /// (e.g. 0.95).
    pub confidence: f64,
    /// What the checks are applied to.
    #[serde(default)]
    pub basis: GateBasis,
}

impl Default for Gate {
    fn default() -> Gate {
        Gate {
            min_score: None,
            max_elo_loss: None,
            confidence: 0.95,
            basis: GateBasis::Ci,
        }
    }
}

impl Gate {
    /// The SPRT of the `Sprt` basis: `elo0 = −max_elo_loss`, `elo1 = 0`,
    /// logistic. `None` on another basis or without `max_elo_loss`; an
    /// error names the value that makes the test impossible (a loss not
    /// above 0, error rates out of range).
    pub fn sprt_params(&self) -> Option<Result<SprtParams, StatsError>> {
        let GateBasis::Sprt { alpha, beta } = self.basis else {
            return None;
        };
        let loss = self.max_elo_loss?;
        Some(if loss.is_finite() && loss > 0.0 {
            SprtParams::new(-loss, 0.0, alpha, beta, SprtModel::Logistic)
        } else {
            Err(StatsError::InvalidValue {
                key: "max-elo-loss".to_owned(),
                value: loss.to_string(),
                reason: "an SPRT gate needs a loss above 0".to_owned(),
            })
        })
    }
}

/// The decision of a gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateVerdict {
    Pass,
    Fail,
    /// Only on the SPRT basis: neither hypothesis accepted yet.
    Undecided,
}

impl fmt::Display for GateVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GateVerdict::Pass => "PASS",
            GateVerdict::Fail => "FAIL",
            GateVerdict::Undecided => "UNDECIDED",
        })
    }
}

/// The verdict, with one sentence per check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateOutcome {
    pub verdict: GateVerdict,
    pub reasons: Vec<String>,
    /// The SPRT result on the `Sprt` basis.
    pub sprt: Option<SprtResult>,
}

impl GateOutcome {
    pub fn passed(&self) -> bool {
        self.verdict == GateVerdict::Pass
    }
}

/// One check's verdict and sentence.
type Check = (GateVerdict, String);

fn pass_or_fail(ok: bool) -> GateVerdict {
    if ok {
        GateVerdict::Pass
    } else {
        GateVerdict::Fail
    }
}

/// Applies every configured check of `gate` to `report`, on the gate's basis.
pub fn check_gate(report: &EloReport, gate: &Gate) -> GateOutcome {
    let mut checks: Vec<Check> = Vec::new();
    let mut sprt = None;

    if let Some(min) = gate.min_score {
        checks.push(min_score_check(report, min));
    }

    if let Some(loss) = gate.max_elo_loss {
        checks.push(if !loss.is_finite() {
            (
                GateVerdict::Fail,
                format!("max-elo-loss {loss} is not a number: FAIL"),
            )
        } else {
            match gate.basis {
                GateBasis::Ci => ci_check(report, loss, gate.confidence),
                GateBasis::Point => point_check(report, loss),
                GateBasis::Sprt { .. } => match gate.sprt_params() {
                    Some(Ok(params)) => {
                        let r = match &report.counts {
                            Counts::Wdl(w) => sprt_wdl(w, &params),
                            Counts::Penta(p) => sprt_penta(p, &params),
                        };
                        sprt = Some(r);
                        sprt_check(&r, report, loss)
                    }
                    Some(Err(e)) => (GateVerdict::Fail, format!("{e}: FAIL")),
                    None => (GateVerdict::Fail, "no SPRT configured: FAIL".to_owned()),
                },
            }
        });
    }

    if checks.is_empty() {
        checks.push((GateVerdict::Pass, "no checks configured: pass".to_owned()));
    }
    let verdict = if checks.iter().any(|(v, _)| *v == GateVerdict::Fail) {
        GateVerdict::Fail
    } else if checks.iter().any(|(v, _)| *v == GateVerdict::Undecided) {
        GateVerdict::Undecided
    } else {
        GateVerdict::Pass
    };
    GateOutcome {
        verdict,
        reasons: checks.into_iter().map(|(_, why)| why).collect(),
        sprt,
    }
}

fn min_score_check(report: &EloReport, min: f64) -> Check {
    if !min.is_finite() {
        (
            GateVerdict::Fail,
            format!("min-score {min} is not a number: FAIL"),
        )
    } else if report.games == 0 {
        (
            GateVerdict::Fail,
            format!("min-score {min:.4}: no games played: FAIL"),
        )
    } else if report.score >= min {
        (
            GateVerdict::Pass,
            format!(
                "score {:.4} over {} games ≥ min-score {min:.4}: pass",
                report.score, report.games
            ),
        )
    } else {
        (
            GateVerdict::Fail,
            format!(
                "score {:.4} over {} games < min-score {min:.4}: FAIL",
                report.score, report.games
            ),
        )
    }
}

/// "Elo > −loss" on the point estimate, decided on the score (Elo is
/// monotone in the score, and the score is finite where Elo is not).
fn point_check(report: &EloReport, loss: f64) -> Check {
    if report.games == 0 {
        return (
            GateVerdict::Fail,
            format!("max-elo-loss {loss}: no games played: FAIL"),
        );
    }
    let elo = crate::elo_from_score(report.score);
    let ok = report.score > crate::score_from_elo(-loss);
    let (cmp, tail) = if ok {
        (
            ">",
            format!("loses less than {loss} Elo on the point estimate: pass"),
        )
    } else {
        (
            "≤",
            format!("loses {loss} Elo or more on the point estimate: FAIL"),
        )
    };
    (
        pass_or_fail(ok),
        format!(
            "Elo point estimate {} (score {:.4} over {} games) {cmp} −{loss}: {tail} \
             (no confidence statement)",
            signed(elo),
            report.score,
            report.games
        ),
    )
}

/// `+12.3`, `−∞`.
fn signed(elo: f64) -> String {
    if elo == f64::INFINITY {
        "+∞".to_owned()
    } else if elo == f64::NEG_INFINITY {
        "−∞".to_owned()
    } else {
        format!("{elo:+.1}")
    }
}

fn ci_check(report: &EloReport, loss: f64, c: f64) -> Check {
    if !(c > 0.0 && c < 1.0) {
        return (
            GateVerdict::Fail,
            format!("confidence {c} must be strictly between 0 and 1: FAIL"),
        );
    }
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
                    GateVerdict::Pass,
                    format!(
                        "Elo lower bound {lower:+.1} ({pct}% interval, {}) > −{loss}: \
                         loses less than {loss} Elo: pass",
                        at_c.model
                    ),
                )
            } else {
                (
                    GateVerdict::Fail,
                    format!(
                        "Elo lower bound {lower:+.1} ({pct}% interval, {}) ≤ −{loss}: \
                         a loss of {loss} Elo or more is not ruled out: FAIL",
                        at_c.model
                    ),
                )
            }
        }
        Estimate::UpperBound { upper, reason } => (
            GateVerdict::Fail,
            format!(
                "Elo has no lower bound (only ≤ {upper:+.1}: {reason}), \
                 so a loss below {loss} Elo cannot be shown: FAIL"
            ),
        ),
        Estimate::NotEstimable { reason } => (
            GateVerdict::Fail,
            format!(
                "Elo is not estimable ({reason}), so a loss below {loss} Elo \
                 cannot be shown: FAIL"
            ),
        ),
    }
}

fn sprt_check(r: &SprtResult, report: &EloReport, loss: f64) -> Check {
    let state = format!(
        "LLR {:.3}, bounds [{:.3}, {:.3}], {} games ({})",
        r.llr, r.lower_bound, r.upper_bound, report.games, report.model
    );
    match r.verdict {
        SprtVerdict::AcceptH1 => (
            GateVerdict::Pass,
            format!(
                "SPRT elo0 −{loss} vs elo1 0: H1 accepted ({state}): \
                 loses less than {loss} Elo: pass"
            ),
        ),
        SprtVerdict::AcceptH0 => (
            GateVerdict::Fail,
            format!(
                "SPRT elo0 −{loss} vs elo1 0: H0 accepted ({state}): \
                 loses {loss} Elo or more: FAIL"
            ),
        ),
        SprtVerdict::Continue => (
            GateVerdict::Undecided,
            format!(
                "SPRT elo0 −{loss} vs elo1 0: undecided after {} games: LLR {:.3} is \
                 inside the bounds [{:.3}, {:.3}]; play more games",
                report.games, r.llr, r.lower_bound, r.upper_bound
            ),
        ),
    }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::elo::{elo_penta, elo_wdl, Penta, Wdl};

    fn gate(basis: GateBasis, loss: f64) -> Gate {
        Gate {
            max_elo_loss: Some(loss),
            basis,
            ..Gate::default()
        }
    }

    const SPRT: GateBasis = GateBasis::Sprt {
        alpha: 0.05,
        beta: 0.05,
    };

    #[test]
    fn point_basis_compares_the_point_estimates() {
        // 48% over 100 games: Elo −13.9, but the 95% interval reaches −80.
        let r = elo_wdl(&Wdl::new(28, 40, 32), 0.95);
        let ci = check_gate(&r, &gate(GateBasis::Ci, 50.0));
        assert_eq!(ci.verdict, GateVerdict::Fail, "{ci:?}");
        let point = check_gate(&r, &gate(GateBasis::Point, 50.0));
        assert_eq!(point.verdict, GateVerdict::Pass, "{point:?}");
        assert!(
            point.reasons[0].contains("point estimate -13.9")
                && point.reasons[0].contains("no confidence statement"),
            "{point:?}"
        );
        assert!(point.sprt.is_none());
        let strict = check_gate(&r, &gate(GateBasis::Point, 10.0));
        assert_eq!(strict.verdict, GateVerdict::Fail, "{strict:?}");
        assert!(strict.reasons[0].contains("≤ −10"), "{strict:?}");
    }

    #[test]
    fn point_basis_min_score_and_edges() {
        let g = Gate {
            min_score: Some(0.45),
            basis: GateBasis::Point,
            ..Gate::default()
        };
        assert!(check_gate(&elo_wdl(&Wdl::new(28, 40, 32), 0.95), &g).passed());
        let low = check_gate(&elo_wdl(&Wdl::new(24, 40, 36), 0.95), &g);
        assert_eq!(low.verdict, GateVerdict::Fail);
        assert!(low.reasons[0].contains("< min-score 0.4500"), "{low:?}");

        // Every game won: +∞ passes; every game lost: −∞ fails; none: fails.
        let won = check_gate(
            &elo_wdl(&Wdl::new(3, 0, 0), 0.95),
            &gate(GateBasis::Point, 5.0),
        );
        assert!(won.passed() && won.reasons[0].contains("+∞"), "{won:?}");
        let lost = check_gate(
            &elo_wdl(&Wdl::new(0, 0, 3), 0.95),
            &gate(GateBasis::Point, 500.0),
        );
        assert_eq!(lost.verdict, GateVerdict::Fail);
        assert!(lost.reasons[0].contains("−∞"), "{lost:?}");
        let none = check_gate(
            &elo_wdl(&Wdl::default(), 0.95),
            &gate(GateBasis::Point, 50.0),
        );
        assert_eq!(none.verdict, GateVerdict::Fail);
        assert!(none.reasons[0].contains("no games"), "{none:?}");

        // Exactly at −X is a loss of X: it fails (the rule is Elo > −X).
        // 1 win in 4 games: score 0.25, Elo −190.8.
        let r = elo_wdl(&Wdl::new(1, 0, 3), 0.95);
        let at = -crate::elo_from_score(0.25);
        assert_eq!(
            check_gate(&r, &gate(GateBasis::Point, at)).verdict,
            GateVerdict::Fail
        );
        assert!(check_gate(&r, &gate(GateBasis::Point, at + 0.1)).passed());
    }

    #[test]
    fn point_basis_on_pairs() {
        // Pairs 0, 0.5, 1, 1.5, 2 counted 1, 4, 10, 4, 1: score exactly ½.
        let r = elo_penta(&Penta::new([1, 4, 10, 4, 1]), 0.95);
        let out = check_gate(&r, &gate(GateBasis::Point, 1.0));
        assert!(out.passed(), "{out:?}");
        assert!(out.reasons[0].contains("+0.0"), "{out:?}");
    }

    #[test]
    fn sprt_basis_maps_h1_to_pass_h0_to_fail_and_continue_to_undecided() {
        let even = check_gate(&elo_wdl(&Wdl::new(400, 200, 400), 0.95), &gate(SPRT, 50.0));
        assert_eq!(even.verdict, GateVerdict::Pass, "{even:?}");
        assert_eq!(even.sprt.unwrap().verdict, SprtVerdict::AcceptH1);
        assert!(even.reasons[0].contains("H1 accepted"), "{even:?}");

        let weak = check_gate(&elo_wdl(&Wdl::new(100, 200, 700), 0.95), &gate(SPRT, 50.0));
        assert_eq!(weak.verdict, GateVerdict::Fail, "{weak:?}");
        assert_eq!(weak.sprt.unwrap().verdict, SprtVerdict::AcceptH0);

        let few = check_gate(&elo_wdl(&Wdl::new(3, 4, 3), 0.95), &gate(SPRT, 50.0));
        assert_eq!(few.verdict, GateVerdict::Undecided, "{few:?}");
        assert!(!few.passed());
        assert!(
            few.reasons[0].contains("undecided after 10 games")
                && few.reasons[0].contains("play more"),
            "{few:?}"
        );

        // Pairs: the pentanomial SPRT, the same as `sprt_penta`.
        let p = Penta::new([2, 20, 56, 20, 2]);
        let out = check_gate(&elo_penta(&p, 0.95), &gate(SPRT, 50.0));
        let params = SprtParams::parse("elo0=-50,elo1=0").unwrap();
        assert_eq!(out.sprt, Some(sprt_penta(&p, &params)));
        assert_eq!(out.verdict, GateVerdict::Pass, "{out:?}");

        // A failing min-score wins over an undecided SPRT.
        let g = Gate {
            min_score: Some(0.6),
            ..gate(SPRT, 50.0)
        };
        let out = check_gate(&elo_wdl(&Wdl::new(3, 4, 3), 0.95), &g);
        assert_eq!(out.verdict, GateVerdict::Fail);
    }

    #[test]
    fn sprt_params_are_checked() {
        let p = gate(SPRT, 20.0).sprt_params().unwrap().unwrap();
        assert_eq!((p.elo0, p.elo1, p.alpha, p.beta), (-20.0, 0.0, 0.05, 0.05));
        assert_eq!(p.model, SprtModel::Logistic);
        assert!(gate(GateBasis::Ci, 20.0).sprt_params().is_none());
        let err = gate(SPRT, 0.0).sprt_params().unwrap().unwrap_err();
        assert!(err.to_string().contains("max-elo-loss"), "{err}");
        let bad = gate(
            GateBasis::Sprt {
                alpha: 0.0,
                beta: 0.05,
            },
            20.0,
        );
        assert!(bad.sprt_params().unwrap().is_err());
        let out = check_gate(&elo_wdl(&Wdl::new(5, 5, 5), 0.95), &bad);
        assert_eq!(out.verdict, GateVerdict::Fail, "{out:?}");
        assert!(out.reasons[0].contains("alpha"), "{out:?}");
    }
}
