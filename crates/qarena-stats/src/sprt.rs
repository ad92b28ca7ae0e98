//! The generalized sequential probability ratio test (GSPRT) used in chess
//! engine testing: after every batch of games, compare the log-likelihood
//! ratio of "Elo = elo1" against "Elo = elo0" with two bounds derived from
//! the error rates alpha and beta, and stop as soon as one is crossed.
//!
//! The LLR is the exact generalized likelihood ratio of Michel Van den
//! Bergh's notes ("Comments on Normalized Elo", "GSPRT approximation"),
//! as fishtest (`LLRcalc.LLR_logistic`, `LLR_normalized`) and fastchess
//! (`getLLR_logistic`, `getLLR_normalized`) compute it: the data are a
//! multinomial over the sample scores `a_k` (3 for W/D/L, 5 for pairs), and
//! under each hypothesis the distribution is the maximum-likelihood one
//! that satisfies the hypothesis's constraint.
//!
//! * Empirical frequencies `p̂_k = n_k/N` with zero counts replaced by 1e−3
//!   (as both references do, so that a missing outcome is not "impossible").
//! * Logistic model, constraint "expected score = s" with `s = L(elo)`:
//!   `p_k = p̂_k/(1 + θ(a_k − s))` where θ solves
//!   `Σ p̂_k (a_k − s)/(1 + θ(a_k − s)) = 0` on the interval that keeps every
//!   denominator positive (the left side decreases strictly in θ, so the
//!   root is unique; it is found by Newton steps safeguarded by bisection).
//! * Normalized model, constraint `(μ − ½)/σ = t` with `t = nElo/(800/ln 10)`
//!   per game (times √2 per pair): fixed-point iteration from the uniform
//!   distribution, each step solving the same kind of equation with
//!   `φ_k = a_k − ½ − t·σ_q·(1 + ((a_k − μ_q)/σ_q)²)/2` until the
//!   distribution moves by less than 1e−12.
//! * `LLR = N · Σ_k p̂_k ln(p_k(H1)/p_k(H0))`.
//! * Bounds (Wald): `lower = ln(β/(1 − α))`, `upper = ln((1 − β)/α)`;
//!   accept H1 when `LLR ≥ upper`, H0 when `LLR ≤ lower`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::elo::{mean_variance, score_from_elo, Model, Penta, Wdl, NELO_SCALE};
use crate::error::StatsError;

/// In which Elo unit `elo0` and `elo1` are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SprtModel {
    /// Logistic Elo (the unit of [`crate::elo_from_score`]). The default:
    /// "the variant loses at most 10 Elo" reads the same in every match,
    /// whatever the draw ratio.
    #[default]
    Logistic,
    /// Normalized Elo (fishtest's current default): Elo in units of the
    /// per-game standard deviation, which makes the test length almost
    /// independent of the draw ratio.
    Normalized,
}

impl fmt::Display for SprtModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SprtModel::Logistic => "logistic",
            SprtModel::Normalized => "normalized",
        })
    }
}

/// Hypotheses and error rates of an SPRT.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SprtParams {
    /// Elo under H0.
    pub elo0: f64,
    /// Elo under H1; greater than `elo0`.
    pub elo1: f64,
    /// Probability of accepting H1 when H0 is true.
    pub alpha: f64,
    /// Probability of accepting H0 when H1 is true.
    pub beta: f64,
    pub model: SprtModel,
}

impl SprtParams {
    /// Checked constructor: `elo0 < elo1`, both finite, `alpha` and `beta`
    /// in `(0, 1)` with `alpha + beta < 1`.
    pub fn new(
        elo0: f64,
        elo1: f64,
        alpha: f64,
        beta: f64,
        model: SprtModel,
    ) -> Result<SprtParams, StatsError> {
        let bad = |key: &str, value: f64, reason: &str| StatsError::InvalidValue {
            key: key.to_owned(),
            value: value.to_string(),
            reason: reason.to_owned(),
        };
        if !elo0.is_finite() {
            return Err(bad("elo0", elo0, "must be a finite number"));
        }
        if !elo1.is_finite() {
            return Err(bad("elo1", elo1, "must be a finite number"));
        }
        if elo1 <= elo0 {
            return Err(bad(
                "elo1",
                elo1,
                &format!("must be greater than elo0 ({elo0})"),
            ));
        }
        for (key, value) in [("alpha", alpha), ("beta", beta)] {
            if !(value > 0.0 && value < 1.0) {
                return Err(bad(key, value, "must be strictly between 0 and 1"));
            }
        }
        if alpha + beta >= 1.0 {
            return Err(bad(
                "beta",
                beta,
                &format!("alpha + beta must be below 1 (alpha is {alpha})"),
            ));
        }
        Ok(SprtParams {
            elo0,
            elo1,
            alpha,
            beta,
            model,
        })
    }

    /// Parses `"elo0=-10,elo1=0,alpha=0.05,beta=0.05,model=logistic"`.
    ///
    /// `elo0` and `elo1` are required; `alpha` and `beta` default to 0.05
    /// and `model` (`logistic` or `normalized`) to `logistic`. Keys may come
    /// in any order; spaces around items are ignored. Errors name the key.
    pub fn parse(s: &str) -> Result<SprtParams, StatsError> {
        let mut elo0 = None;
        let mut elo1 = None;
        let mut alpha = None;
        let mut beta = None;
        let mut model = None;
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| StatsError::NotKeyValue {
                    item: item.to_owned(),
                })?;
            let key = key.trim();
            let value = value.trim();
            let number = || {
                value.parse::<f64>().map_err(|_| StatsError::InvalidValue {
                    key: key.to_owned(),
                    value: value.to_owned(),
                    reason: "not a number".to_owned(),
                })
            };
            let slot_is_free = |taken: bool| {
                if taken {
                    Err(StatsError::DuplicateKey {
                        key: key.to_owned(),
                    })
                } else {
                    Ok(())
                }
            };
            match key.to_ascii_lowercase().as_str() {
                "elo0" => {
                    slot_is_free(elo0.is_some())?;
                    elo0 = Some(number()?);
                }
                "elo1" => {
                    slot_is_free(elo1.is_some())?;
                    elo1 = Some(number()?);
                }
                "alpha" => {
                    slot_is_free(alpha.is_some())?;
                    alpha = Some(number()?);
                }
                "beta" => {
                    slot_is_free(beta.is_some())?;
                    beta = Some(number()?);
                }
                "model" => {
                    slot_is_free(model.is_some())?;
                    model = Some(match value.to_ascii_lowercase().as_str() {
                        "logistic" => SprtModel::Logistic,
                        "normalized" | "normalised" => SprtModel::Normalized,
                        _ => {
                            return Err(StatsError::InvalidValue {
                                key: key.to_owned(),
                                value: value.to_owned(),
                                reason: "expected `logistic` or `normalized`".to_owned(),
                            })
                        }
                    });
                }
                _ => {
                    return Err(StatsError::UnknownKey {
                        key: key.to_owned(),
                    })
                }
            }
        }
        SprtParams::new(
            elo0.ok_or(StatsError::MissingKey { key: "elo0" })?,
            elo1.ok_or(StatsError::MissingKey { key: "elo1" })?,
            alpha.unwrap_or(0.05),
            beta.unwrap_or(0.05),
            model.unwrap_or_default(),
        )
    }

    /// `(lower, upper)` = `(ln(β/(1 − α)), ln((1 − β)/α))`.
    ///
    /// For parameters that bypassed [`SprtParams::new`], alpha and beta are
    /// first clamped into `[1e−12, ½]` so that the bounds stay finite.
    pub fn bounds(&self) -> (f64, f64) {
        let clamp = |x: f64| {
            if x.is_nan() {
                0.05
            } else {
                x.clamp(1e-12, 0.5)
            }
        };
        let (alpha, beta) = (clamp(self.alpha), clamp(self.beta));
        ((beta / (1.0 - alpha)).ln(), ((1.0 - beta) / alpha).ln())
    }
}

impl FromStr for SprtParams {
    type Err = StatsError;

    fn from_str(s: &str) -> Result<SprtParams, StatsError> {
        SprtParams::parse(s)
    }
}

impl fmt::Display for SprtParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "elo0={},elo1={},alpha={},beta={},model={}",
            self.elo0, self.elo1, self.alpha, self.beta, self.model
        )
    }
}

/// The decision of an SPRT at the current counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SprtVerdict {
    /// `LLR ≤ lower`: the data support elo0 (e.g. "the variant loses at
    /// least as much as elo0").
    AcceptH0,
    /// `LLR ≥ upper`: the data support elo1.
    AcceptH1,
    /// Neither bound crossed: play more games.
    Continue,
}

impl fmt::Display for SprtVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SprtVerdict::AcceptH0 => "H0 accepted",
            SprtVerdict::AcceptH1 => "H1 accepted",
            SprtVerdict::Continue => "continue",
        })
    }
}

/// LLR, bounds and verdict; all finite.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SprtResult {
    pub llr: f64,
    pub lower_bound: f64,
    pub upper_bound: f64,
    pub verdict: SprtVerdict,
}

/// SPRT on game-by-game W/D/L counts (trinomial model).
pub fn sprt_wdl(w: &Wdl, p: &SprtParams) -> SprtResult {
    let llr = llr(&Model::TRINOMIAL, &w.by_score(), p);
    decide(llr, p)
}

/// SPRT on pair counts (pentanomial model); prefer it whenever games are
/// paired, as it accounts for the correlation inside a pair.
pub fn sprt_penta(p: &Penta, params: &SprtParams) -> SprtResult {
    let llr = llr(&Model::PENTANOMIAL, &p.counts, params);
    decide(llr, params)
}

fn decide(llr: f64, p: &SprtParams) -> SprtResult {
    let (lower_bound, upper_bound) = p.bounds();
    let verdict = if llr >= upper_bound {
        SprtVerdict::AcceptH1
    } else if llr <= lower_bound {
        SprtVerdict::AcceptH0
    } else {
        SprtVerdict::Continue
    };
    SprtResult {
        llr,
        lower_bound,
        upper_bound,
        verdict,
    }
}

/// Up to five outcomes; a fixed buffer keeps the LLR allocation-free,
/// which matters in the simulations that evaluate it millions of times.
type Buf = [f64; 5];

/// The exact GLR for counts ordered by `model.scores`.
fn llr(model: &Model, counts: &[u64], p: &SprtParams) -> f64 {
    let k = counts.len();
    let mut freq: Buf = [0.0; 5];
    for (f, &c) in freq.iter_mut().zip(counts) {
        *f = if c == 0 { 1e-3 } else { c as f64 };
    }
    let total: f64 = freq[..k].iter().sum();
    for f in &mut freq[..k] {
        *f /= total;
    }
    let freq = &freq[..k];
    let scores = model.scores;
    let (q0, q1) = match p.model {
        SprtModel::Logistic => {
            let s = |elo: f64| score_from_elo(elo).clamp(1e-12, 1.0 - 1e-12);
            (
                mle_with_mean(freq, scores, s(p.elo0)),
                mle_with_mean(freq, scores, s(p.elo1)),
            )
        }
        SprtModel::Normalized => {
            let t = |nelo: f64| nelo / NELO_SCALE * model.games_per_sample.sqrt();
            (
                mle_with_t(freq, scores, t(p.elo0)),
                mle_with_t(freq, scores, t(p.elo1)),
            )
        }
    };
    let sum: f64 = freq
        .iter()
        .zip(q0.iter().zip(&q1))
        .map(|(f, (a, b))| f * (b / a).ln())
        .sum();
    let llr = total * sum;
    if llr.is_finite() {
        llr
    } else {
        0.0
    }
}

/// The θ with `Σ p_k c_k/(1 + θ c_k) = 0` and every `1 + θ c_k > 0`.
///
/// The function decreases strictly in θ from +∞ at `−1/max c` to −∞ at
/// `−1/min c`, so the root exists when `c` takes both signs (otherwise
/// `None`). Newton steps that would leave the current bracket are replaced
/// by bisection.
fn solve_theta(p: &[f64], c: &[f64]) -> Option<f64> {
    let cmax = c.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let cmin = c.iter().copied().fold(f64::INFINITY, f64::min);
    if !(cmax > 0.0 && cmin < 0.0) {
        return None;
    }
    let (mut lo, mut hi) = (-1.0 / cmax, -1.0 / cmin);
    let mut theta = 0.0;
    for _ in 0..200 {
        let mut g = 0.0;
        let mut dg = 0.0;
        for (pk, ck) in p.iter().zip(c) {
            let d = 1.0 + theta * ck;
            g += pk * ck / d;
            dg -= pk * ck * ck / (d * d);
        }
        if g == 0.0 {
            return Some(theta);
        }
        if g > 0.0 {
            lo = theta;
        } else {
            hi = theta;
        }
        let newton = theta - g / dg;
        let next = if newton > lo && newton < hi && newton.is_finite() {
            newton
        } else {
            0.5 * (lo + hi)
        };
        if (next - theta).abs() <= 1e-15 * (1.0 + theta.abs()) {
            return Some(next);
        }
        theta = next;
    }
    Some(theta)
}

/// Maximum-likelihood distribution on `scores` with mean `s`, given the
/// empirical frequencies `freq` (Van den Bergh, "Comments on Normalized
/// Elo", proposition 1.1).
fn mle_with_mean(freq: &[f64], scores: &[f64], s: f64) -> Buf {
    let mut c: Buf = [0.0; 5];
    for (ck, a) in c.iter_mut().zip(scores) {
        *ck = a - s;
    }
    let c = &c[..freq.len()];
    let theta = solve_theta(freq, c).unwrap_or(0.0);
    let mut q: Buf = [1.0; 5];
    for ((qk, f), ck) in q.iter_mut().zip(freq).zip(c) {
        *qk = f / (1.0 + theta * ck);
    }
    q
}

/// Maximum-likelihood distribution on `scores` with `(μ − ½)/σ = t`, given
/// the empirical frequencies (same notes, section 4.1: fixed-point
/// iteration started from the uniform distribution).
fn mle_with_t(freq: &[f64], scores: &[f64], t: f64) -> Buf {
    let k = freq.len();
    let mut q: Buf = [1.0; 5];
    for qk in &mut q[..k] {
        *qk = 1.0 / k as f64;
    }
    for _ in 0..100 {
        let (mu, var) = mean_variance(scores, &q[..k]);
        let sigma = var.sqrt();
        // A NaN sigma fails this test too.
        if sigma.is_nan() || sigma <= 0.0 {
            break;
        }
        let mut phi: Buf = [0.0; 5];
        for (ph, a) in phi.iter_mut().zip(scores) {
            let u = (a - mu) / sigma;
            *ph = a - 0.5 - t * sigma * (1.0 + u * u) / 2.0;
        }
        let Some(theta) = solve_theta(freq, &phi[..k]) else {
            break;
        };
        let mut moved: f64 = 0.0;
        for i in 0..k {
            let next = freq[i] / (1.0 + theta * phi[i]);
            moved = moved.max((next - q[i]).abs());
            q[i] = next;
        }
        if moved < 1e-12 {
            break;
        }
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn theta_solves_the_constraint() {
        let freq = [0.2, 0.5, 0.3];
        let q = mle_with_mean(&freq, &[0.0, 0.5, 1.0], 0.6);
        let sum: f64 = q[..3].iter().sum();
        let mean = 0.5 * q[1] + q[2];
        assert!((sum - 1.0).abs() < 1e-12);
        assert!((mean - 0.6).abs() < 1e-12);
    }

    #[test]
    fn normalized_mle_meets_its_constraint() {
        let freq = [0.1, 0.2, 0.4, 0.2, 0.1];
        let scores = [0.0, 0.25, 0.5, 0.75, 1.0];
        let q = mle_with_t(&freq, &scores, 0.05);
        let (mu, var) = mean_variance(&scores, &q);
        assert!((q.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(((mu - 0.5) / var.sqrt() - 0.05).abs() < 1e-9);
    }
}
