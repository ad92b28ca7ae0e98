//! Paired per-item comparison of two language-model variants A and B that
//! answer the same multiple-choice items: each item is a pair
//! `(a correct, b correct)`, and the items, not the answers, are the
//! independent units.
//!
//! * [`PairedCounts`]: the 2×2 table `both`, `only_a` (`b` below),
//!   `only_b` (`c` below), `neither`; `n = both + b + c + neither`,
//!   `acc_a − acc_b = (b − c)/n`. Items both variants got right (or both
//!   wrong) carry no information about which is better.
//! * [`mcnemar_exact`]: the exact two-sided McNemar test, the sign test on
//!   the `m = b + c` discordant items: under "same accuracy" every
//!   discordant item is `only_a` with probability ½, so with
//!   `X ~ Bin(m, ½)` and `k = min(b, c)`
//!   `p = min(1, 2·P[X ≤ k])` and the mid-p `min(1, 2·(P[X ≤ k] − ½·P[X = k]))`;
//!   `p = 1` when `m = 0`.
//! * [`paired_bootstrap`]: percentile bootstrap 95% interval of
//!   `acc_a − acc_b`, items resampled with replacement; [`paired_diff_wald`]:
//!   its closed-form counterpart
//!   `(b − c)/n ± 1.96·√(((b + c) − (b − c)²/n)/n²)`, clamped to `[−1, 1]`.
//! * [`paired_sequential`]: early stopping for an item-by-item comparison,
//!   two one-sided Wald SPRTs on the discordant items (see
//!   [`SequentialSettings`]).
//!
//! No function panics on any input and no result holds NaN or an infinity;
//! inputs that support no answer (no items, no resamples, invalid settings)
//! are a [`StatsError`].

use std::collections::BTreeMap;
use std::f64::consts::PI;
use std::fmt;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::StatsError;
use crate::normal;
use crate::tally::Z95;

/// The 2×2 table of two variants on the same items.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairedCounts {
    /// Items both variants answered correctly.
    pub both: u64,
    /// Items only A answered correctly (`b` in McNemar's notation).
    pub only_a: u64,
    /// Items only B answered correctly (`c`).
    pub only_b: u64,
    /// Items neither answered correctly.
    pub neither: u64,
}

impl PairedCounts {
    /// Counts `(a correct, b correct)` per item.
    pub fn from_items<I: IntoIterator<Item = (bool, bool)>>(items: I) -> PairedCounts {
        let mut counts = PairedCounts::default();
        for (a, b) in items {
            counts.add(a, b);
        }
        counts
    }

    /// Adds one item (counts saturate at `u64::MAX`).
    pub fn add(&mut self, a_correct: bool, b_correct: bool) {
        let slot = match (a_correct, b_correct) {
            (true, true) => &mut self.both,
            (true, false) => &mut self.only_a,
            (false, true) => &mut self.only_b,
            (false, false) => &mut self.neither,
        };
        *slot = slot.saturating_add(1);
    }

    /// Items (saturating).
    pub fn n(&self) -> u64 {
        self.both
            .saturating_add(self.only_a)
            .saturating_add(self.only_b)
            .saturating_add(self.neither)
    }

    /// Items on which exactly one variant was right, `b + c` (saturating).
    pub fn discordant(&self) -> u64 {
        self.only_a.saturating_add(self.only_b)
    }

    /// `(both + only_a)/n`; `None` without items.
    pub fn accuracy_a(&self) -> Option<f64> {
        self.share(self.both.saturating_add(self.only_a))
    }

    /// `(both + only_b)/n`; `None` without items.
    pub fn accuracy_b(&self) -> Option<f64> {
        self.share(self.both.saturating_add(self.only_b))
    }

    /// `acc_a − acc_b = (only_a − only_b)/n`; `None` without items.
    pub fn difference(&self) -> Option<f64> {
        let n = self.n();
        (n > 0).then(|| (self.only_a as f64 - self.only_b as f64) / n as f64)
    }

    fn share(&self, k: u64) -> Option<f64> {
        let n = self.n();
        (n > 0).then(|| (k as f64 / n as f64).min(1.0))
    }
}

impl FromIterator<(bool, bool)> for PairedCounts {
    fn from_iter<I: IntoIterator<Item = (bool, bool)>>(items: I) -> PairedCounts {
        PairedCounts::from_items(items)
    }
}

/// The exact McNemar test of "A and B have the same accuracy".
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct McNemar {
    /// `b + c`, the items the test looks at.
    pub discordant: u64,
    /// Exact two-sided p-value `min(1, 2·P[X ≤ min(b, c)])`, `X ~ Bin(b + c, ½)`.
    pub p_value: f64,
    /// Mid-p `min(1, 2·(P[X ≤ k] − ½·P[X = k]))`: less conservative, not
    /// guaranteed to keep the level.
    pub mid_p: f64,
}

/// Above this many discordant items the binomial tail is the normal
/// approximation with continuity correction (its error is `O(1/m)` for
/// `p = ½`, below 1e−12 here); at and below it the tail is summed exactly.
const EXACT_TAIL_MAX: u64 = 1_000_000_000_000;

/// The exact two-sided McNemar test (see the module docs).
///
/// The binomial terms are computed in log space: `ln P[X = k]` from
/// Loader's saddle-point form (Stirling remainders plus the deviance
/// `bd0`, accurate to about 1e−15 for any `m`), and
/// `P[X ≤ k] = P[X = k]·Σ_{i ≤ k} r_i` with `r_k = 1`,
/// `r_{i−1} = r_i·i/(m − i + 1)` summed until the terms no longer change
/// the sum. Nothing overflows; a tail below the smallest `f64` is 0.
pub fn mcnemar_exact(counts: &PairedCounts) -> McNemar {
    let (b, c) = (counts.only_a, counts.only_b);
    let m = counts.discordant();
    if m == 0 {
        return McNemar {
            discordant: 0,
            p_value: 1.0,
            mid_p: 1.0,
        };
    }
    let k = b.min(c).min(m / 2);
    let ln_point = ln_binom_pmf(k, m, 0.5);
    let point = ln_point.exp();
    let (tail, mid) = if m <= EXACT_TAIL_MAX {
        // Σ r_i, largest term first (k ≤ m/2, so the terms fall as i falls).
        let mut sum = 1.0f64;
        let mut r = 1.0f64;
        let mut i = k;
        while i > 0 {
            r *= i as f64 / (m - i + 1) as f64;
            let next = sum + r;
            if next == sum {
                break;
            }
            sum = next;
            i -= 1;
        }
        let ln_sum = sum.ln();
        let tail = (ln_point + ln_sum).exp();
        // P[X ≤ k] − ½P[X = k] = P[X = k]·(Σ r_i − ½).
        let mid = (ln_point + (sum - 0.5).ln()).exp();
        (tail, mid)
    } else {
        let sd = (m as f64).sqrt() / 2.0;
        let tail = normal::cdf((k as f64 + 0.5 - m as f64 / 2.0) / sd);
        (tail, (tail - 0.5 * point).max(0.0))
    };
    McNemar {
        discordant: m,
        p_value: finite_probability(2.0 * tail),
        mid_p: finite_probability(2.0 * mid),
    }
}

/// Clamps into `[0, 1]`; NaN (never expected) becomes 1, "no evidence".
fn finite_probability(p: f64) -> f64 {
    if p.is_nan() {
        1.0
    } else {
        p.clamp(0.0, 1.0)
    }
}

/// `ln P[X = k]` for `X ~ Bin(m, p)`, `k ≤ m`, `0 < p < 1` (R's
/// `dbinom_raw`, after C. Loader, "Fast and accurate computation of
/// binomial probabilities", 2000):
/// `ln f = δ(m) − δ(k) − δ(m − k) − bd0(k, mp) − bd0(m − k, mq)
///  − ½·ln(2π·k(m − k)/m)`, `δ` the Stirling remainder; `ln f = m·ln q`
/// at `k = 0` and `m·ln p` at `k = m`.
fn ln_binom_pmf(k: u64, m: u64, p: f64) -> f64 {
    let q = 1.0 - p;
    if k == 0 {
        return m as f64 * (-p).ln_1p();
    }
    if k >= m {
        return m as f64 * p.ln();
    }
    let (kf, mf) = (k as f64, m as f64);
    let jf = (m - k) as f64;
    let lc = stirling_remainder(m)
        - stirling_remainder(k)
        - stirling_remainder(m - k)
        - bd0(kf, mf * p)
        - bd0(jf, mf * q);
    let lf = (2.0 * PI).ln() + kf.ln() + (-kf / mf).ln_1p();
    lc - 0.5 * lf
}

/// `δ(n) = ln n! − [(n + ½)·ln n − n + ½·ln(2π)]` for `n ≥ 1`.
fn stirling_remainder(n: u64) -> f64 {
    let nf = n as f64;
    if n <= 15 {
        let ln_factorial: f64 = (2..=n).map(|i| (i as f64).ln()).sum();
        return ln_factorial - (nf + 0.5) * nf.ln() + nf - 0.5 * (2.0 * PI).ln();
    }
    const S0: f64 = 1.0 / 12.0;
    const S1: f64 = 1.0 / 360.0;
    const S2: f64 = 1.0 / 1260.0;
    const S3: f64 = 1.0 / 1680.0;
    const S4: f64 = 1.0 / 1188.0;
    let nn = nf * nf;
    (S0 - (S1 - (S2 - (S3 - S4 / nn) / nn) / nn) / nn) / nf
}

/// The deviance term `x·ln(x/np) + np − x`, by its series when `x ≈ np`
/// (where the direct form cancels).
fn bd0(x: f64, np: f64) -> f64 {
    if (x - np).abs() < 0.1 * (x + np) {
        let v = (x - np) / (x + np);
        let mut s = (x - np) * v;
        let mut ej = 2.0 * x * v;
        let v2 = v * v;
        for j in 1..1000 {
            ej *= v2;
            let next = s + ej / f64::from(2 * j + 1);
            if next == s {
                return next;
            }
            s = next;
        }
        s
    } else {
        x * (x / np).ln() + np - x
    }
}

/// A difference of accuracies `acc_a − acc_b` with a 95% interval, all in
/// `[−1, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DiffCi {
    pub difference: f64,
    pub low: f64,
    pub high: f64,
}

/// Percentile bootstrap 95% interval of `acc_a − acc_b`.
///
/// Each of `resamples` bootstrap samples draws `n` items with replacement
/// and records `Σ (a_i − b_i)/n`. That sum depends on the draws only
/// through how many landed on `only_a` items (`X_a`) and on `only_b` items
/// (`X_b`), which are multinomial, so each resample draws them exactly:
/// `X_a ~ Bin(n, b/n)`, then `X_b ~ Bin(n − X_a, c/(n − b))`, each by
/// inversion of one uniform from ChaCha8 seeded with `seed`. The result
/// is the same in distribution as resampling item by item, costs two
/// random numbers per resample instead of `n`, and depends only on the
/// counts, `resamples` and `seed` (not on the order of the items).
///
/// `low` and `high` are the 2.5% and 97.5% quantiles of the `resamples`
/// values (linear interpolation between order statistics,
/// `h = (R − 1)·q`); `difference` is the observed one. Memory is bounded
/// by the number of distinct bootstrap values, not by `resamples`.
///
/// Errors: no items, or `resamples == 0`.
pub fn paired_bootstrap(
    items: &[(bool, bool)],
    resamples: usize,
    seed: u64,
) -> Result<DiffCi, StatsError> {
    if items.is_empty() {
        return Err(StatsError::NoItems);
    }
    if resamples == 0 {
        return Err(StatsError::NoResamples);
    }
    let counts = PairedCounts::from_items(items.iter().copied());
    let nf = counts.n() as f64;
    let observed = (counts.only_a as f64 - counts.only_b as f64) / nf;
    let histogram = bootstrap_sums(&counts, resamples, seed);
    let quantile = |q: f64| {
        let h = (resamples - 1) as f64 * q;
        let below = h.floor();
        let lo = order_statistic(&histogram, below as u64);
        let hi = order_statistic(&histogram, h.ceil() as u64);
        (lo + (h - below) * (hi - lo)) / nf
    };
    Ok(DiffCi {
        difference: observed,
        low: quantile(0.025).clamp(-1.0, 1.0),
        high: quantile(0.975).clamp(-1.0, 1.0),
    })
}

/// The bootstrap distribution of `X_a − X_b` (see [`paired_bootstrap`]):
/// value → how many of the `resamples` gave it.
fn bootstrap_sums(counts: &PairedCounts, resamples: usize, seed: u64) -> BTreeMap<i64, u64> {
    let n = counts.n();
    let (b, c) = (counts.only_a, counts.only_b);
    let rest = n.saturating_sub(b);
    let first = Binomial::new(n, b as f64 / n as f64);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut histogram: BTreeMap<i64, u64> = BTreeMap::new();
    for _ in 0..resamples {
        let x_a = first.sample(uniform(&mut rng));
        let u = uniform(&mut rng);
        let x_b = if rest == 0 {
            0
        } else {
            Binomial::new(n - x_a, c as f64 / rest as f64).sample(u)
        };
        let sum = i64::try_from(x_a)
            .unwrap_or(i64::MAX)
            .saturating_sub(i64::try_from(x_b).unwrap_or(i64::MAX));
        *histogram.entry(sum).or_default() += 1;
    }
    histogram
}

/// A uniform number in `[0, 1)` with 53 random bits.
fn uniform(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
}

/// `Bin(trials, p)` sampled by inversion, searching from the mode: with
/// `F` the CDF, a uniform `u` gives the smallest `x` with `F(x) > u`.
/// `F(mode)` is summed once (terms from the mode down, by the ratio
/// `f(x − 1)/f(x) = x·q/((trials − x + 1)·p)`, until they no longer change
/// the sum), so a draw costs `O(|x − mode|)` steps plus that set-up,
/// `O(√(trials·p·q))`. For `p > ½` it samples `trials − Bin(trials, 1 − p)`.
#[derive(Debug, Clone, Copy)]
struct Binomial {
    trials: u64,
    /// In `[0, ½]`.
    p: f64,
    flipped: bool,
    mode: u64,
    pmf_mode: f64,
    cdf_mode: f64,
}

impl Binomial {
    fn new(trials: u64, p: f64) -> Binomial {
        let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        let flipped = p > 0.5;
        let p = if flipped { 1.0 - p } else { p };
        let mut b = Binomial {
            trials,
            p,
            flipped,
            mode: 0,
            pmf_mode: 1.0,
            cdf_mode: 1.0,
        };
        if trials == 0 || p <= 0.0 {
            return b;
        }
        let mode = (((trials as f64 + 1.0) * p).floor() as u64).min(trials);
        let pmf_mode = ln_binom_pmf(mode, trials, p).exp();
        let odds = (1.0 - p) / p;
        let mut sum = 1.0f64;
        let mut r = 1.0f64;
        let mut x = mode;
        while x > 0 {
            r *= x as f64 / (trials - x + 1) as f64 * odds;
            let next = sum + r;
            if next == sum {
                break;
            }
            sum = next;
            x -= 1;
        }
        b.mode = mode;
        b.pmf_mode = pmf_mode;
        b.cdf_mode = (pmf_mode * sum).min(1.0);
        b
    }

    fn sample(&self, u: f64) -> u64 {
        let x = self.sample_low(u);
        if self.flipped {
            self.trials - x
        } else {
            x
        }
    }

    /// A draw of `Bin(trials, p)` with `p ≤ ½`.
    fn sample_low(&self, u: f64) -> u64 {
        let n = self.trials;
        if n == 0 || self.p <= 0.0 {
            return 0;
        }
        let odds = self.p / (1.0 - self.p);
        let (mut x, mut f, mut cdf) = (self.mode, self.pmf_mode, self.cdf_mode);
        if u < cdf {
            // Down: while F(x − 1) = F(x) − f(x) still exceeds u.
            while x > 0 && f > 0.0 && cdf - f > u {
                cdf -= f;
                f *= x as f64 / ((n - x + 1) as f64 * odds);
                x -= 1;
            }
        } else {
            // Up: until F(x) exceeds u.
            while x < n {
                f *= (n - x) as f64 / (x + 1) as f64 * odds;
                x += 1;
                cdf += f;
                if cdf > u || f <= 0.0 {
                    break;
                }
            }
        }
        x
    }
}

/// The value of 0-based rank `rank` in the sorted sample a histogram holds
/// (the largest value for a rank past the end).
fn order_statistic(histogram: &BTreeMap<i64, u64>, rank: u64) -> f64 {
    let mut seen = 0u64;
    let mut last = 0i64;
    for (&value, &count) in histogram {
        seen = seen.saturating_add(count);
        last = value;
        if rank < seen {
            break;
        }
    }
    last as f64
}

/// Closed-form 95% interval of `acc_a − acc_b` on paired items:
/// `d = (b − c)/n`, `Var(d) = ((b + c) − (b − c)²/n)/n²` (the variance of a
/// mean of per-item differences in {−1, 0, 1}, divided by `n`),
/// `d ± 1.96·√Var(d)`, clamped to `[−1, 1]`.
///
/// With no discordant items the interval has width 0. Error: no items.
pub fn paired_diff_wald(counts: &PairedCounts) -> Result<DiffCi, StatsError> {
    let n = counts.n();
    if n == 0 {
        return Err(StatsError::NoItems);
    }
    let nf = n as f64;
    let (b, c) = (counts.only_a as f64, counts.only_b as f64);
    let d = ((b - c) / nf).clamp(-1.0, 1.0);
    let var = (((b + c) - (b - c) * ((b - c) / nf)) / (nf * nf)).max(0.0);
    let half = Z95 * var.sqrt();
    let half = if half.is_finite() { half } else { 0.0 };
    Ok(DiffCi {
        difference: d,
        low: (d - half).clamp(-1.0, 1.0),
        high: (d + half).clamp(-1.0, 1.0),
    })
}

/// Settings of [`paired_sequential`].
///
/// The rule runs two one-sided Wald SPRTs on the discordant items, with
/// `θ = P(only A right | exactly one right)`:
///
/// * "A better": `H0: θ = ½` against `H1: θ = ½ + delta`,
///   `LLR_A = b·ln(1 + 2δ) + c·ln(1 − 2δ)`;
/// * "B better": the same with `b` and `c` swapped, `LLR_B`.
///
/// Each gets half of `alpha`, so with `α' = α/2` the Wald bounds are
/// `lower = ln(β/(1 − α'))` and `upper = ln((1 − β)/α')`. Under equal
/// accuracy `θ = ½` exactly, whatever the correlation between A and B or
/// the items' difficulties. Each likelihood ratio is then a martingale
/// with mean 1, so by Ville's inequality it ever reaches
/// `e^upper = (1 − β)/(α/2)` with probability at most `α/(2(1 − β))`: the
/// false "better" rate is at most `α/(1 − β)` (0.0526 at the defaults)
/// however often the counts are checked, and Wald's approximation puts it
/// near `α`. Pass `alpha·(1 − β)` to guarantee `alpha` itself.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SequentialSettings {
    /// Probability of declaring either variant better when they are equal.
    pub alpha: f64,
    /// Probability of missing a difference of `delta` (declaring "no
    /// difference" when `θ = ½ ± delta`).
    pub beta: f64,
    /// The effect size on the discordant items, in `(0, ½)`.
    pub delta: f64,
    /// No verdict before this many items.
    pub min_items: u64,
    /// At this many items without a verdict, stop: [`SequentialVerdict::Inconclusive`].
    pub max_items: u64,
}

impl Default for SequentialSettings {
    /// `alpha = 0.05`, `beta = 0.05`, `delta = 0.1`, no minimum, no cap.
    fn default() -> SequentialSettings {
        SequentialSettings {
            alpha: 0.05,
            beta: 0.05,
            delta: 0.1,
            min_items: 0,
            max_items: u64::MAX,
        }
    }
}

impl SequentialSettings {
    /// Checked constructor: `alpha`, `beta` in `(0, 1)` with
    /// `alpha/2 + beta < 1`, `delta` in `(0, ½)`, `min_items ≤ max_items`.
    pub fn new(
        alpha: f64,
        beta: f64,
        delta: f64,
        min_items: u64,
        max_items: u64,
    ) -> Result<SequentialSettings, StatsError> {
        let bad = |key: &str, value: String, reason: &str| StatsError::InvalidValue {
            key: key.to_owned(),
            value,
            reason: reason.to_owned(),
        };
        for (key, value) in [("alpha", alpha), ("beta", beta)] {
            if !(value > 0.0 && value < 1.0) {
                return Err(bad(
                    key,
                    value.to_string(),
                    "must be strictly between 0 and 1",
                ));
            }
        }
        if alpha / 2.0 + beta >= 1.0 {
            return Err(bad(
                "beta",
                beta.to_string(),
                &format!("alpha/2 + beta must be below 1 (alpha is {alpha})"),
            ));
        }
        if !(delta > 0.0 && delta < 0.5) {
            return Err(bad(
                "delta",
                delta.to_string(),
                "must be strictly between 0 and 0.5",
            ));
        }
        if min_items > max_items {
            return Err(bad(
                "min_items",
                min_items.to_string(),
                &format!("must not exceed max_items ({max_items})"),
            ));
        }
        Ok(SequentialSettings {
            alpha,
            beta,
            delta,
            min_items,
            max_items,
        })
    }

    /// `(lower, upper)` = `(ln(β/(1 − α/2)), ln((1 − β)/(α/2)))`.
    ///
    /// For settings that bypassed [`SequentialSettings::new`], alpha and
    /// beta are first clamped into `[1e−12, ½]` (NaN: 0.05) so that the
    /// bounds stay finite.
    pub fn bounds(&self) -> (f64, f64) {
        let clamp = |x: f64| {
            if x.is_nan() {
                0.05
            } else {
                x.clamp(1e-12, 0.5)
            }
        };
        let (side, beta) = (clamp(self.alpha) / 2.0, clamp(self.beta));
        ((beta / (1.0 - side)).ln(), ((1.0 - beta) / side).ln())
    }

    /// `delta` clamped into `[1e−6, 0.499]` (NaN: 0.1).
    fn effect(&self) -> f64 {
        if self.delta.is_nan() {
            0.1
        } else {
            self.delta.clamp(1e-6, 0.499)
        }
    }
}

/// The decision of [`paired_sequential`] at the current counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SequentialVerdict {
    /// `LLR_A ≥ upper`: A is more accurate.
    ABetter,
    /// `LLR_B ≥ upper`: B is more accurate.
    BBetter,
    /// Both LLRs `≤ lower`: any difference is smaller than `delta` on the
    /// discordant items.
    NoDifference,
    /// `max_items` reached without crossing a bound.
    Inconclusive,
    /// Keep going.
    Continue,
}

impl fmt::Display for SequentialVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SequentialVerdict::ABetter => "A better",
            SequentialVerdict::BBetter => "B better",
            SequentialVerdict::NoDifference => "no difference",
            SequentialVerdict::Inconclusive => "inconclusive (item limit reached)",
            SequentialVerdict::Continue => "continue",
        })
    }
}

/// The two LLRs, the bounds and the verdict; all finite.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SequentialResult {
    pub llr_a: f64,
    pub llr_b: f64,
    pub lower_bound: f64,
    pub upper_bound: f64,
    pub verdict: SequentialVerdict,
}

/// Early stopping for an item-by-item comparison (rule and error rates in
/// [`SequentialSettings`]). Call it with the counts so far after every
/// item (or batch) and stop at the first verdict other than `Continue`:
///
/// 1. fewer than `min_items` items: `Continue`;
/// 2. `LLR_A ≥ upper`: `ABetter`; `LLR_B ≥ upper`: `BBetter` (both cannot
///    hold: `LLR_A + LLR_B = (b + c)·ln(1 − 4δ²) ≤ 0`);
/// 3. `LLR_A ≤ lower` and `LLR_B ≤ lower`: `NoDifference`;
/// 4. at least `max_items` items: `Inconclusive`; otherwise `Continue`.
pub fn paired_sequential(counts: &PairedCounts, settings: &SequentialSettings) -> SequentialResult {
    let delta = settings.effect();
    let (up, down) = ((2.0 * delta).ln_1p(), (-2.0 * delta).ln_1p());
    let (b, c) = (counts.only_a as f64, counts.only_b as f64);
    let finite = |x: f64| if x.is_finite() { x } else { 0.0 };
    let llr_a = finite(b * up + c * down);
    let llr_b = finite(c * up + b * down);
    let (lower_bound, upper_bound) = settings.bounds();
    let n = counts.n();
    let verdict = if n < settings.min_items && n < settings.max_items {
        SequentialVerdict::Continue
    } else if llr_a >= upper_bound {
        SequentialVerdict::ABetter
    } else if llr_b >= upper_bound {
        SequentialVerdict::BBetter
    } else if llr_a <= lower_bound && llr_b <= lower_bound {
        SequentialVerdict::NoDifference
    } else if n >= settings.max_items {
        SequentialVerdict::Inconclusive
    } else {
        SequentialVerdict::Continue
    };
    SequentialResult {
        llr_a,
        llr_b,
        lower_bound,
        upper_bound,
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn counts(only_a: u64, only_b: u64) -> PairedCounts {
        PairedCounts {
            both: 0,
            only_a,
            only_b,
            neither: 0,
        }
    }

    fn close(got: f64, want: f64, tol: f64) -> bool {
        (got - want).abs() <= tol
    }

    #[test]
    fn counts_from_items() {
        let items = [
            (true, true),
            (true, false),
            (true, false),
            (false, true),
            (false, false),
            (true, true),
            (true, true),
            (false, false),
        ];
        let c = PairedCounts::from_items(items);
        assert_eq!(
            c,
            PairedCounts {
                both: 3,
                only_a: 2,
                only_b: 1,
                neither: 2
            }
        );
        assert_eq!(c, items.iter().copied().collect::<PairedCounts>());
        assert_eq!(c.n(), 8);
        assert_eq!(c.discordant(), 3);
        assert_eq!(c.accuracy_a(), Some(5.0 / 8.0));
        assert_eq!(c.accuracy_b(), Some(4.0 / 8.0));
        assert_eq!(c.difference(), Some(1.0 / 8.0));
        let empty = PairedCounts::default();
        assert_eq!(empty.n(), 0);
        assert_eq!(empty.accuracy_a(), None);
        assert_eq!(empty.accuracy_b(), None);
        assert_eq!(empty.difference(), None);
        let huge = PairedCounts {
            both: u64::MAX,
            only_a: u64::MAX,
            only_b: 1,
            neither: 1,
        };
        assert_eq!(huge.n(), u64::MAX);
        assert_eq!(huge.discordant(), u64::MAX);
        assert!(huge.accuracy_a().unwrap() <= 1.0);
        let mut h = huge;
        h.add(true, true);
        assert_eq!(h.both, u64::MAX);
    }

    #[test]
    fn mcnemar_hand_values() {
        // b = 0, c = 5: P[X ≤ 0] = 1/32, p = 2/32; mid-p = 2(1/32 − 1/64).
        let t = mcnemar_exact(&counts(0, 5));
        assert_eq!(t.discordant, 5);
        assert!(close(t.p_value, 0.0625, 1e-15), "{t:?}");
        assert!(close(t.mid_p, 0.03125, 1e-15), "{t:?}");
        // b = 1, c = 9: P[X ≤ 1] = 11/1024, p = 22/1024; mid-p = 2·6/1024.
        let t = mcnemar_exact(&counts(1, 9));
        assert!(close(t.p_value, 0.021_484_375, 1e-15), "{t:?}");
        assert!(close(t.mid_p, 0.011_718_75, 1e-15), "{t:?}");
        // b = 3, c = 12: P[X ≤ 3] = (1 + 15 + 105 + 455)/32768 = 576/32768.
        let t = mcnemar_exact(&counts(3, 12));
        assert!(close(t.p_value, 1152.0 / 32768.0, 1e-15), "{t:?}");
        assert!(close(t.mid_p, 2.0 * (576.0 - 227.5) / 32768.0, 1e-15));
        // b = c: p = 1, mid-p = 1; no discordant items: 1.
        for k in [1, 2, 7, 50, 1000, 123_456] {
            let t = mcnemar_exact(&counts(k, k));
            assert!(close(t.p_value, 1.0, 1e-12), "{k}: {t:?}");
            assert!(close(t.mid_p, 1.0, 1e-12), "{k}: {t:?}");
        }
        let none = PairedCounts {
            both: 10,
            only_a: 0,
            only_b: 0,
            neither: 3,
        };
        assert_eq!(
            mcnemar_exact(&none),
            McNemar {
                discordant: 0,
                p_value: 1.0,
                mid_p: 1.0
            }
        );
        // b and c one apart: P[X ≤ (m − 1)/2] = ½ exactly.
        assert!(close(mcnemar_exact(&counts(20, 21)).p_value, 1.0, 1e-12));
    }

    /// Every table with `b + c ≤ 60` against the exact sum of binomial
    /// coefficients (Pascal's triangle, exact in f64 up to C(60, 30)).
    #[test]
    fn mcnemar_matches_direct_sums() {
        let mut row = vec![1.0f64];
        for m in 1..=60u64 {
            let mut next = vec![1.0f64; row.len() + 1];
            for i in 1..row.len() {
                next[i] = row[i - 1] + row[i];
            }
            row = next;
            let total = 2f64.powi(m as i32);
            for b in 0..=m {
                let c = m - b;
                let k = b.min(c) as usize;
                let tail: f64 = row[..=k].iter().sum::<f64>() / total;
                let want_p = (2.0 * tail).min(1.0);
                let want_mid = (2.0 * (tail - 0.5 * row[k] / total)).min(1.0);
                let t = mcnemar_exact(&counts(b, c));
                assert!(
                    (t.p_value - want_p).abs() <= 1e-13 * want_p.max(1e-300),
                    "b={b} c={c}: {} vs {want_p}",
                    t.p_value
                );
                assert!(
                    (t.mid_p - want_mid).abs() <= 1e-13 * want_mid.max(1e-300),
                    "b={b} c={c}: {} vs {want_mid}",
                    t.mid_p
                );
            }
        }
    }

    #[test]
    fn mcnemar_is_symmetric_and_handles_large_counts() {
        for (b, c) in [(0, 5), (1, 9), (40_000, 41_000), (3, 300), (123, 456)] {
            assert_eq!(mcnemar_exact(&counts(b, c)), mcnemar_exact(&counts(c, b)));
        }
        let t = mcnemar_exact(&counts(40_000, 41_000));
        assert!(t.p_value.is_finite() && t.p_value > 0.0 && t.p_value <= 1.0);
        assert!(t.mid_p.is_finite() && t.mid_p > 0.0 && t.mid_p < t.p_value);
        // Summed independently with lgamma: 4.478218231e−4.
        assert!((t.p_value / 4.478_218_231e-4 - 1.0).abs() < 1e-7, "{t:?}");
        // Normal approximation: z = (40 000.5 − 40 500)/(√81 000/2) = −3.5097,
        // 2Φ(z) ≈ 4.48e−4; the exact value must be close.
        let approx = 2.0 * normal::cdf((40_000.5 - 40_500.0) / (81_000f64.sqrt() / 2.0));
        assert!((t.p_value / approx - 1.0).abs() < 0.01, "{t:?} vs {approx}");
        // b + c = 10⁶.
        let t = mcnemar_exact(&counts(499_000, 501_000));
        let approx = 2.0 * normal::cdf((499_000.5 - 500_000.0) / 500.0);
        assert!((t.p_value / approx - 1.0).abs() < 0.01, "{t:?} vs {approx}");
        assert_eq!(mcnemar_exact(&counts(0, 1_000_000)).p_value, 0.0);
        assert!(close(
            mcnemar_exact(&counts(500_000, 500_000)).p_value,
            1.0,
            1e-12
        ));
        // Either side of the switch to the normal approximation.
        let below = mcnemar_exact(&counts(
            EXACT_TAIL_MAX / 2 - 1_000_000,
            EXACT_TAIL_MAX / 2 + 1_000_000,
        ));
        let above = mcnemar_exact(&counts(
            EXACT_TAIL_MAX / 2 - 999_999,
            EXACT_TAIL_MAX / 2 + 1_000_001,
        ));
        assert!(below.p_value > 0.0 && above.p_value > 0.0, "{below:?}");
        assert!(
            (below.p_value / above.p_value - 1.0).abs() < 1e-3,
            "{below:?} {above:?}"
        );
        let t = mcnemar_exact(&counts(u64::MAX / 2, u64::MAX / 2));
        assert!(close(t.p_value, 1.0, 1e-9), "{t:?}");
    }

    #[test]
    fn ln_pmf_matches_direct_values() {
        // C(10, 3)/1024 = 120/1024; C(100, 50)/2¹⁰⁰ = 0.0795892373871787.
        assert!(close(ln_binom_pmf(3, 10, 0.5).exp(), 120.0 / 1024.0, 1e-15));
        assert!(close(
            ln_binom_pmf(50, 100, 0.5).exp(),
            0.079_589_237_387_178_7,
            1e-15
        ));
        assert!(close(
            ln_binom_pmf(0, 4, 0.5),
            -4.0 * std::f64::consts::LN_2,
            1e-15
        ));
    }

    #[test]
    fn wald_interval_by_hand() {
        // n = 100, b = 10, c = 5: d = 0.05, Var = (15 − 25/100)/10⁴.
        let c = PairedCounts {
            both: 60,
            only_a: 10,
            only_b: 5,
            neither: 25,
        };
        let ci = paired_diff_wald(&c).unwrap();
        let half = 1.96 * (14.75f64 / 10_000.0).sqrt();
        assert!(close(ci.difference, 0.05, 1e-15));
        assert!(close(ci.low, 0.05 - half, 1e-15), "{ci:?}");
        assert!(close(ci.high, 0.05 + half, 1e-15), "{ci:?}");
        // b = 3, c = 0, n = 4: d = 0.75 ± 1.96·√(0.75/16) → clamped at 1.
        let ci = paired_diff_wald(&PairedCounts {
            both: 0,
            only_a: 3,
            only_b: 0,
            neither: 1,
        })
        .unwrap();
        assert_eq!(ci.high, 1.0);
        assert!(close(ci.low, 0.75 - 1.96 * (0.75f64 / 16.0).sqrt(), 1e-15));
        // No discordant items: zero width at 0.
        let ci = paired_diff_wald(&PairedCounts {
            both: 5,
            only_a: 0,
            only_b: 0,
            neither: 5,
        })
        .unwrap();
        assert_eq!((ci.difference, ci.low, ci.high), (0.0, 0.0, 0.0));
        assert_eq!(
            paired_diff_wald(&PairedCounts::default()),
            Err(StatsError::NoItems)
        );
    }

    fn random_items(seed: u64, n: usize) -> Vec<(bool, bool)> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let u: f64 = rng.gen();
                if u < 0.55 {
                    (true, true)
                } else if u < 0.67 {
                    (true, false)
                } else if u < 0.75 {
                    (false, true)
                } else {
                    (false, false)
                }
            })
            .collect()
    }

    #[test]
    fn bootstrap_is_deterministic_and_agrees_with_wald() {
        let items = random_items(11, 1000);
        let a = paired_bootstrap(&items, 1000, 5).unwrap();
        assert_eq!(a, paired_bootstrap(&items, 1000, 5).unwrap());
        assert_ne!(a, paired_bootstrap(&items, 1000, 6).unwrap());
        let wald = paired_diff_wald(&PairedCounts::from_items(items.iter().copied())).unwrap();
        assert_eq!(a.difference, wald.difference);
        assert!(a.low < a.difference && a.difference < a.high, "{a:?}");
        assert!((a.low - wald.low).abs() < 0.01, "{a:?} {wald:?}");
        assert!((a.high - wald.high).abs() < 0.01, "{a:?} {wald:?}");
        assert_eq!(paired_bootstrap(&[], 10, 1), Err(StatsError::NoItems));
        assert_eq!(paired_bootstrap(&items, 0, 1), Err(StatsError::NoResamples));
        let one = paired_bootstrap(&[(true, false)], 1, 1).unwrap();
        assert_eq!((one.difference, one.low, one.high), (1.0, 1.0, 1.0));
        let same = paired_bootstrap(&[(true, true), (false, false)], 50, 1).unwrap();
        assert_eq!((same.difference, same.low, same.high), (0.0, 0.0, 0.0));
    }

    /// Inversion sampling reproduces the binomial distribution: the share
    /// of uniforms on a fine grid that map to each `x` is `P[X = x]`.
    #[test]
    fn binomial_inversion_matches_the_pmf() {
        for (trials, p) in [
            (10u64, 0.3),
            (25, 0.5),
            (40, 0.9),
            (300, 0.08),
            (7, 0.0),
            (7, 1.0),
        ] {
            let sampler = Binomial::new(trials, p);
            let grid = 200_000;
            let mut hits = vec![0u64; trials as usize + 1];
            for i in 0..grid {
                let u = (i as f64 + 0.5) / grid as f64;
                hits[sampler.sample(u) as usize] += 1;
            }
            for (x, &h) in hits.iter().enumerate() {
                let want = if p == 0.0 {
                    f64::from(u8::from(x == 0))
                } else if p == 1.0 {
                    f64::from(u8::from(x as u64 == trials))
                } else {
                    ln_binom_pmf(x as u64, trials, p).exp()
                };
                let got = h as f64 / grid as f64;
                assert!(
                    (got - want).abs() <= 2.0 / grid as f64,
                    "Bin({trials}, {p}) at {x}: {got} vs {want}"
                );
            }
        }
        // Extreme uniforms stay in range.
        let b = Binomial::new(1_000_000, 0.3);
        assert!(b.sample(0.0) < 300_000 && b.sample(1.0 - 1e-16) <= 1_000_000);
    }

    /// The multinomial shortcut has the distribution of resampling item by
    /// item: compare both bootstrap distributions on 60 items.
    #[test]
    fn bootstrap_shortcut_matches_item_resampling() {
        let items = random_items(21, 60);
        let counts = PairedCounts::from_items(items.iter().copied());
        let resamples = 40_000;
        let shortcut = bootstrap_sums(&counts, resamples, 9);
        let mut naive: BTreeMap<i64, u64> = BTreeMap::new();
        let mut rng = ChaCha8Rng::seed_from_u64(10);
        for _ in 0..resamples {
            let sum: i64 = (0..items.len())
                .map(|_| {
                    let (a, b) = items[rng.gen_range(0..items.len())];
                    i64::from(a) - i64::from(b)
                })
                .sum();
            *naive.entry(sum).or_default() += 1;
        }
        let moments = |h: &BTreeMap<i64, u64>| {
            let r = resamples as f64;
            let mean = h.iter().map(|(&v, &k)| v as f64 * k as f64).sum::<f64>() / r;
            let var = h
                .iter()
                .map(|(&v, &k)| (v as f64 - mean).powi(2) * k as f64)
                .sum::<f64>()
                / r;
            (mean, var)
        };
        let (m1, v1) = moments(&shortcut);
        let (m2, v2) = moments(&naive);
        // Per item d ∈ {−1, 0, 1}: mean and variance of the sum of 60 draws.
        let d = (counts.only_a as f64 - counts.only_b as f64) / 60.0;
        let e2 = (counts.only_a + counts.only_b) as f64 / 60.0;
        let (mean, var) = (60.0 * d, 60.0 * (e2 - d * d));
        let se = (var / resamples as f64).sqrt();
        assert!((m1 - mean).abs() < 4.0 * se, "{m1} vs {mean}");
        assert!((m2 - mean).abs() < 4.0 * se, "{m2} vs {mean}");
        assert!((v1 / var - 1.0).abs() < 0.03, "{v1} vs {var}");
        assert!((v2 / var - 1.0).abs() < 0.03, "{v2} vs {var}");
        let keys: std::collections::BTreeSet<i64> =
            shortcut.keys().chain(naive.keys()).copied().collect();
        let tv: f64 = keys
            .iter()
            .map(|k| {
                let a = *shortcut.get(k).unwrap_or(&0) as f64;
                let b = *naive.get(k).unwrap_or(&0) as f64;
                (a - b).abs()
            })
            .sum::<f64>()
            / (2.0 * resamples as f64);
        eprintln!("shortcut mean {m1:.3} var {v1:.3}, item by item mean {m2:.3} var {v2:.3}, exact {mean:.3} {var:.3}, total variation {tv:.4}");
        assert!(tv < 0.02, "total variation {tv}");
    }

    #[test]
    fn order_statistics_of_a_histogram() {
        let h: BTreeMap<i64, u64> = [(-2, 1), (0, 2), (5, 1)].into_iter().collect();
        let values: Vec<f64> = (0..5).map(|r| order_statistic(&h, r)).collect();
        assert_eq!(values, vec![-2.0, 0.0, 0.0, 5.0, 5.0]);
    }

    #[test]
    fn sequential_settings_are_checked() {
        let d = SequentialSettings::default();
        assert_eq!(
            SequentialSettings::new(d.alpha, d.beta, d.delta, d.min_items, d.max_items),
            Ok(d)
        );
        let key = |r: Result<SequentialSettings, StatsError>| match r {
            Err(StatsError::InvalidValue { key, .. }) => key,
            other => panic!("expected an invalid value, got {other:?}"),
        };
        assert_eq!(key(SequentialSettings::new(0.0, 0.05, 0.1, 0, 10)), "alpha");
        assert_eq!(
            key(SequentialSettings::new(f64::NAN, 0.05, 0.1, 0, 10)),
            "alpha"
        );
        assert_eq!(key(SequentialSettings::new(0.05, 1.0, 0.1, 0, 10)), "beta");
        assert_eq!(key(SequentialSettings::new(0.9, 0.6, 0.1, 0, 10)), "beta");
        assert_eq!(
            key(SequentialSettings::new(0.05, 0.05, 0.5, 0, 10)),
            "delta"
        );
        assert_eq!(
            key(SequentialSettings::new(0.05, 0.05, 0.0, 0, 10)),
            "delta"
        );
        assert_eq!(
            key(SequentialSettings::new(0.05, 0.05, 0.1, 11, 10)),
            "min_items"
        );
        // ln(0.05/0.975) and ln(0.95/0.025) = ln 38.
        let (lo, hi) = d.bounds();
        assert!(close(lo, (0.05f64 / 0.975).ln(), 1e-15));
        assert!(close(hi, 38f64.ln(), 1e-15));
    }

    #[test]
    fn sequential_verdicts() {
        let s = SequentialSettings::default();
        let v = |b: u64, c: u64| paired_sequential(&counts(b, c), &s).verdict;
        assert_eq!(v(0, 0), SequentialVerdict::Continue);
        // 20·ln 1.2 = 3.646 ≥ ln 38 = 3.638; 19 is not enough.
        assert_eq!(v(19, 0), SequentialVerdict::Continue);
        assert_eq!(v(20, 0), SequentialVerdict::ABetter);
        assert_eq!(v(0, 20), SequentialVerdict::BBetter);
        // b = c = 80: LLR = 80·ln(0.96) = −3.27 ≤ −2.97 for both.
        assert_eq!(v(80, 80), SequentialVerdict::NoDifference);
        assert_eq!(v(60, 60), SequentialVerdict::Continue);
        let r = paired_sequential(&counts(10, 4), &s);
        assert!(close(
            r.llr_a,
            10.0 * 1.2f64.ln() + 4.0 * 0.8f64.ln(),
            1e-12
        ));
        assert!(close(
            r.llr_b,
            4.0 * 1.2f64.ln() + 10.0 * 0.8f64.ln(),
            1e-12
        ));
        let capped = SequentialSettings {
            min_items: 30,
            max_items: 40,
            ..s
        };
        let at = |both: u64, b: u64, c: u64| {
            paired_sequential(
                &PairedCounts {
                    both,
                    only_a: b,
                    only_b: c,
                    neither: 0,
                },
                &capped,
            )
            .verdict
        };
        assert_eq!(at(0, 25, 0), SequentialVerdict::Continue);
        assert_eq!(at(5, 25, 0), SequentialVerdict::ABetter);
        assert_eq!(at(39, 1, 0), SequentialVerdict::Inconclusive);
        assert_eq!(at(38, 1, 0), SequentialVerdict::Continue);
        assert_eq!(SequentialVerdict::ABetter.to_string(), "A better");
    }

    /// Random counts of every magnitude, and settings that bypassed the
    /// checks: every number stays finite and every probability in [0, 1].
    #[test]
    fn random_inputs_never_give_nan() {
        fn count(rng: &mut ChaCha8Rng) -> u64 {
            match rng.gen_range(0..6) {
                0 => 0,
                1 => 1,
                2 => rng.gen_range(0..10),
                3 => rng.gen_range(0..1_000),
                4 => rng.gen_range(0..1_000_000),
                _ => rng.gen_range(0..u64::MAX),
            }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let settings = [
            SequentialSettings::default(),
            SequentialSettings {
                alpha: f64::NAN,
                beta: -1.0,
                delta: f64::INFINITY,
                min_items: 5,
                max_items: 0,
            },
            SequentialSettings {
                alpha: 2.0,
                beta: 0.0,
                delta: 0.0,
                min_items: u64::MAX,
                max_items: u64::MAX,
            },
        ];
        for _ in 0..2_000 {
            let c = PairedCounts {
                both: count(&mut rng),
                only_a: count(&mut rng),
                only_b: count(&mut rng),
                neither: count(&mut rng),
            };
            let t = mcnemar_exact(&c);
            for p in [t.p_value, t.mid_p] {
                assert!(p.is_finite() && (0.0..=1.0).contains(&p), "{c:?} {t:?}");
            }
            assert!(t.mid_p <= t.p_value, "{c:?} {t:?}");
            if c.n() > 0 {
                let w = paired_diff_wald(&c).unwrap();
                for x in [w.difference, w.low, w.high] {
                    assert!(x.is_finite() && (-1.0..=1.0).contains(&x), "{c:?} {w:?}");
                }
                assert!(w.low <= w.difference && w.difference <= w.high, "{w:?}");
            }
            for s in &settings {
                let r = paired_sequential(&c, s);
                for x in [r.llr_a, r.llr_b, r.lower_bound, r.upper_bound] {
                    assert!(x.is_finite(), "{c:?} {s:?} {r:?}");
                }
            }
        }
    }
}
