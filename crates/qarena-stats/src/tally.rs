//! Counting finished games, and summarising a per-game quantity.
//!
//! [`Tally`] is the one place where games become W/D/L counts and pairs:
//! the runner's live counts, a match summary, the report's per-point table
//! and the `stats` command all feed it games and ask it for Elo, so they
//! cannot disagree on the rule that picks the model: **pentanomial when
//! every finished game belongs to a complete colour-swapped pair, trinomial
//! otherwise**.
//!
//! [`MeanCi`] is the one mean with a 95% interval (normal approximation,
//! mean ± 1.96 · s / √n with the sample standard deviation) used for
//! per-game judge and self-evaluation metrics; the SQL views compute the
//! same figure (`docs/metrics.md`).

use std::collections::BTreeMap;

use crate::elo::{elo_penta, elo_wdl, EloReport, Penta, Wdl};
use crate::sprt::{sprt_penta, sprt_wdl, SprtParams, SprtResult};

/// The result of one finished game from the point of view of the engine
/// being measured (slot A).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Win,
    Draw,
    Loss,
}

impl Outcome {
    /// 1, ½ or 0.
    pub fn score(self) -> f64 {
        match self {
            Outcome::Win => 1.0,
            Outcome::Draw => 0.5,
            Outcome::Loss => 0.0,
        }
    }
}

/// The counts of a set of games: W/D/L, games without a result, and the
/// scores of colour-swapped pairs by pair index.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    wdl: Wdl,
    aborted: u64,
    by_pair: BTreeMap<i64, Vec<f64>>,
    /// The pentanomial of the complete pairs in `by_pair`, kept as games
    /// arrive so that the SPRT a runner checks after every game costs the
    /// same at game 30,000 as at game 2.
    complete: Penta,
}

/// Which model a [`Tally`] uses for Elo and SPRT.
#[derive(Debug, Clone, PartialEq)]
pub enum Counted {
    /// Every finished game is in a complete pair.
    Pairs(Penta),
    /// Some game is unpaired (or there are no pairs): game by game.
    Games(Wdl),
}

impl Tally {
    pub fn new() -> Tally {
        Tally::default()
    }

    /// Adds a finished game (its pair index if it was played as half of a
    /// colour-swapped pair).
    pub fn add(&mut self, outcome: Outcome, pair: Option<i64>) {
        match outcome {
            Outcome::Win => self.wdl.wins += 1,
            Outcome::Draw => self.wdl.draws += 1,
            Outcome::Loss => self.wdl.losses += 1,
        }
        if let Some(p) = pair {
            let scores = self.by_pair.entry(p).or_default();
            // A pair is complete with exactly two games: a third game (which
            // no runner plays) takes it out of the counts again.
            if let Some(k) = pentanomial_cell(scores) {
                self.complete.counts[k] -= 1;
            }
            scores.push(outcome.score());
            if let Some(k) = pentanomial_cell(scores) {
                self.complete.counts[k] += 1;
            }
        }
    }

    /// Adds a game without a result (interrupted; replayed on resume).
    pub fn add_aborted(&mut self) {
        self.aborted += 1;
    }

    pub fn wdl(&self) -> Wdl {
        self.wdl
    }

    /// Finished games.
    pub fn games(&self) -> u64 {
        self.wdl.games()
    }

    pub fn aborted(&self) -> u64 {
        self.aborted
    }

    /// A's mean score, `None` before the first finished game.
    pub fn score(&self) -> Option<f64> {
        let n = self.games();
        (n > 0).then(|| (self.wdl.wins as f64 + 0.5 * self.wdl.draws as f64) / n as f64)
    }

    /// The scores of A in both games of every complete pair, by pair index.
    pub fn pairs(&self) -> Vec<(f64, f64)> {
        self.by_pair
            .values()
            .filter(|v| v.len() == 2)
            .map(|v| (v[0], v[1]))
            .collect()
    }

    /// The number of complete pairs.
    pub fn complete_pairs(&self) -> u64 {
        self.complete.pairs()
    }

    /// The counts the statistics use: pairs when every finished game belongs
    /// to a complete pair, single games otherwise.
    pub fn counted(&self) -> Counted {
        let pairs = self.complete_pairs();
        if pairs > 0 && 2 * pairs == self.games() {
            Counted::Pairs(self.complete)
        } else {
            Counted::Games(self.wdl)
        }
    }

    /// Elo with its interval at `confidence`; `None` before the first
    /// finished game.
    pub fn elo(&self, confidence: f64) -> Option<EloReport> {
        (self.games() > 0).then(|| self.counted().elo(confidence))
    }

    /// The GSPRT over complete pairs, `None` while there are none (the
    /// runner's early stop looks only at pairs).
    pub fn sprt_pairs(&self, params: &SprtParams) -> Option<SprtResult> {
        (self.complete_pairs() > 0).then(|| sprt_penta(&self.complete, params))
    }
}

/// The pentanomial cell (half points of the pair, 0..=4) of a pair's game
/// scores, `None` unless it holds exactly two games.
fn pentanomial_cell(scores: &[f64]) -> Option<usize> {
    match scores {
        [a, b] => Some(((a + b) * 2.0).round() as usize),
        _ => None,
    }
}

impl Counted {
    pub fn elo(&self, confidence: f64) -> EloReport {
        match self {
            Counted::Pairs(p) => elo_penta(p, confidence),
            Counted::Games(w) => elo_wdl(w, confidence),
        }
    }

    pub fn sprt(&self, params: &SprtParams) -> SprtResult {
        match self {
            Counted::Pairs(p) => sprt_penta(p, params),
            Counted::Games(w) => sprt_wdl(w, params),
        }
    }
}

/// A mean over independent units (games) with its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct MeanCi {
    pub n: usize,
    pub mean: f64,
    /// 1.96 · s / √n (Student's t over blocks for
    /// [`MeanCi::blocked_difference`]); `None` with fewer than two values.
    pub half_width: Option<f64>,
}

/// The normal quantile of a two-sided 95% interval.
pub const Z95: f64 = 1.96;

/// The ratio of two means over the same units (paired: `a[i]` and `b[i]`
/// measured on the same position), `mean(a) / mean(b)`, with its 95%
/// interval by the delta method: the residuals `a[i] − R·b[i]` have mean 0,
/// and `se(R) = sd(residuals) / (√n · mean(b))`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RatioCi {
    pub n: usize,
    pub ratio: f64,
    pub half_width: f64,
}

impl RatioCi {
    /// `None` with fewer than two pairs, unequal lengths, a non-finite
    /// value, or `mean(b)` not above 0.
    pub fn paired(a: &[f64], b: &[f64]) -> Option<RatioCi> {
        if b.len() != a.len() || a.iter().chain(b).any(|x| !x.is_finite()) {
            return None;
        }
        delta_ratio(a, b, Z95)
    }

    /// [`RatioCi::paired`] for series whose neighbours are correlated,
    /// such as the tokens of one text: the pairs are summed in contiguous
    /// blocks of `block` (a last block shorter than half of `block` joins
    /// the one before), the blocks are the independent units, and the 95%
    /// interval uses Student's t on blocks − 1 degrees of freedom. `n`
    /// counts blocks. `None` with fewer than two blocks, unequal lengths,
    /// a non-finite value, or `mean(b)` not above 0.
    pub fn blocked(a: &[f64], b: &[f64], block: usize) -> Option<RatioCi> {
        if b.len() != a.len() || a.iter().chain(b).any(|x| !x.is_finite()) {
            return None;
        }
        let (sa, sb) = (block_sums(a, block), block_sums(b, block));
        let t = crate::normal::student_quantile(0.975, sa.len().saturating_sub(1) as f64);
        delta_ratio(&sa, &sb, t)
    }

    pub fn lower(&self) -> f64 {
        self.ratio - self.half_width
    }

    pub fn upper(&self) -> f64 {
        self.ratio + self.half_width
    }
}

/// `mean(a)/mean(b)` over paired units (equal lengths, finite) with the
/// delta method's interval, `quantile` standard errors either side; `None`
/// with fewer than two units or `mean(b)` not above 0.
fn delta_ratio(a: &[f64], b: &[f64], quantile: f64) -> Option<RatioCi> {
    let n = a.len();
    if n < 2 {
        return None;
    }
    let mean_a = a.iter().sum::<f64>() / n as f64;
    let mean_b = b.iter().sum::<f64>() / n as f64;
    if mean_b <= 0.0 {
        return None;
    }
    let ratio = mean_a / mean_b;
    let var = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - ratio * y).powi(2))
        .sum::<f64>()
        / (n - 1) as f64;
    Some(RatioCi {
        n,
        ratio,
        half_width: quantile * var.sqrt() / ((n as f64).sqrt() * mean_b),
    })
}

/// Sums of contiguous blocks of `block` values (at least 1); a last block
/// shorter than half of `block` joins the one before.
fn block_sums(xs: &[f64], block: usize) -> Vec<f64> {
    let block = block.max(1);
    let mut sums: Vec<f64> = xs.chunks(block).map(|c| c.iter().sum()).collect();
    let tail = xs.len() % block;
    if sums.len() >= 2 && tail > 0 && 2 * tail < block {
        let last = sums.pop().unwrap_or(0.0);
        if let Some(before) = sums.last_mut() {
            *before += last;
        }
    }
    sums
}

impl MeanCi {
    /// The mean of `a[i] − b[i]` over paired series whose neighbours are
    /// correlated, with a 95% interval from contiguous blocks of `block`
    /// pairs as [`RatioCi::blocked`] cuts them. `n` counts pairs. `None`
    /// for unequal lengths, a non-finite value, or fewer than two blocks.
    pub fn blocked_difference(a: &[f64], b: &[f64], block: usize) -> Option<MeanCi> {
        if a.len() != b.len() {
            return None;
        }
        let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
        let ones = vec![1.0; d.len()];
        let r = RatioCi::blocked(&d, &ones, block)?;
        Some(MeanCi {
            n: d.len(),
            mean: r.ratio,
            half_width: Some(r.half_width),
        })
    }

    /// The finite values of `xs`; `None` when there are none.
    pub fn of(xs: &[f64]) -> Option<MeanCi> {
        let xs: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
        let n = xs.len();
        if n == 0 {
            return None;
        }
        let mean = xs.iter().sum::<f64>() / n as f64;
        let half_width = (n >= 2).then(|| {
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            Z95 * (var / n as f64).sqrt()
        });
        Some(MeanCi {
            n,
            mean,
            half_width,
        })
    }

    /// The mean of `a[i] − b[i]` over paired units (two variants measured
    /// on the same positions), with its 95% interval; pairs with a
    /// non-finite value are left out. `None` for unequal lengths or fewer
    /// than two finite pairs.
    pub fn paired_difference(a: &[f64], b: &[f64]) -> Option<MeanCi> {
        if a.len() != b.len() {
            return None;
        }
        let d: Vec<f64> = a
            .iter()
            .zip(b)
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|(x, y)| x - y)
            .collect();
        MeanCi::of(&d).filter(|m| m.n >= 2)
    }

    pub fn lower(&self) -> Option<f64> {
        self.half_width.map(|h| self.mean - h)
    }

    pub fn upper(&self) -> Option<f64> {
        self.half_width.map(|h| self.mean + h)
    }

    /// The half-width, 0 with a single value.
    pub fn half_width_or_zero(&self) -> f64 {
        self.half_width.unwrap_or(0.0)
    }

    /// `0.123 ± 0.045` with `digits` decimals (scaled by `scale`).
    pub fn fmt(&self, digits: usize, scale: f64) -> String {
        match self.half_width {
            Some(h) => format!(
                "{:.*} ± {:.*}",
                digits,
                self.mean * scale,
                digits,
                h * scale
            ),
            None => format!("{:.*}", digits, self.mean * scale),
        }
    }
}

/// The mean of the finite values, `None` when there are none.
pub fn mean(xs: &[f64]) -> Option<f64> {
    MeanCi::of(xs).map(|m| m.mean)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elo::penta_from_pairs;

    #[test]
    fn tally_counts_and_picks_pentanomial_only_when_every_game_is_paired() {
        let mut t = Tally::new();
        t.add(Outcome::Win, Some(0));
        t.add(Outcome::Draw, Some(0));
        t.add(Outcome::Loss, Some(1));
        t.add(Outcome::Loss, Some(1));
        t.add_aborted();
        assert_eq!(t.wdl(), Wdl::new(1, 1, 2));
        assert_eq!(t.games(), 4);
        assert_eq!(t.aborted(), 1);
        assert_eq!(t.pairs(), vec![(1.0, 0.5), (0.0, 0.0)]);
        assert!(matches!(t.counted(), Counted::Pairs(_)));
        assert_eq!(t.score(), Some(1.5 / 4.0));
        t.add(Outcome::Win, Some(2));
        assert!(matches!(t.counted(), Counted::Games(_)));
        t.add(Outcome::Win, None);
        assert!(matches!(t.counted(), Counted::Games(_)));
        assert_eq!(t.pairs().len(), 2);
        assert!(Tally::new().elo(0.95).is_none());
        assert!(t.elo(0.95).is_some());
    }

    #[test]
    fn running_pentanomial_equals_a_recount_from_the_pairs() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut t = Tally::new();
        let outcomes = [Outcome::Win, Outcome::Draw, Outcome::Loss];
        for step in 0..3000 {
            // Pairs arrive out of order, some stay single, a few get a
            // third game, and some games carry no pair at all.
            let pair = (step % 10 != 0).then(|| rng.gen_range(0..1200i64));
            t.add(outcomes[rng.gen_range(0..3)], pair);
            let recount = penta_from_pairs(&t.pairs());
            assert_eq!(t.complete_pairs(), t.pairs().len() as u64);
            let params =
                SprtParams::new(0.0, 5.0, 0.05, 0.05, crate::sprt::SprtModel::default()).unwrap();
            assert_eq!(
                t.sprt_pairs(&params),
                (recount.pairs() > 0).then(|| sprt_penta(&recount, &params))
            );
        }
        assert!(t.by_pair.values().any(|v| v.len() > 2));
        assert!(t.complete_pairs() > 100);
    }

    #[test]
    fn elo_of_a_tally_is_the_model_it_names() {
        let mut t = Tally::new();
        for i in 0..20 {
            t.add(Outcome::Win, Some(i));
            t.add(
                if i % 3 == 0 {
                    Outcome::Loss
                } else {
                    Outcome::Draw
                },
                Some(i),
            );
        }
        let e = t.elo(0.95).unwrap();
        assert_eq!(e, elo_penta(&penta_from_pairs(&t.pairs()), 0.95));
        t.add(Outcome::Draw, None);
        assert_eq!(t.elo(0.95).unwrap(), elo_wdl(&t.wdl(), 0.95));
    }

    #[test]
    fn mean_ci_matches_hand_computation() {
        let m = MeanCi::of(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(m.n, 4);
        assert!((m.mean - 2.5).abs() < 1e-12);
        // sd = sqrt(5/3), se = sd / 2
        let h = 1.96 * (5.0f64 / 3.0).sqrt() / 2.0;
        assert!((m.half_width.unwrap() - h).abs() < 1e-12);
        assert_eq!(MeanCi::of(&[0.5]).unwrap().half_width, None);
        assert_eq!(MeanCi::of(&[0.5]).unwrap().half_width_or_zero(), 0.0);
        assert!(MeanCi::of(&[]).is_none());
        assert!(MeanCi::of(&[f64::NAN]).is_none());
        assert_eq!(m.fmt(2, 1.0), format!("2.50 ± {h:.2}"));
        assert_eq!(mean(&[1.0, f64::INFINITY, 3.0]), Some(2.0));
    }

    /// Simulation, fixed seed: two measurements of the same 400 units
    /// sharing each unit's own level (as two variants on the same
    /// positions), 2,000 trials. The paired interval covers the true
    /// difference about 95% of the time, and is far narrower than the
    /// unpaired spread of either measurement would allow.
    #[test]
    fn a_paired_difference_covers_the_true_difference_at_its_level() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(14);
        let mut normal = move || {
            let (u, v): (f64, f64) = (rng.gen_range(1e-12..1.0), rng.gen_range(0.0..1.0));
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        let (trials, n, truth) = (2_000, 400, 0.01);
        let mut covered = 0;
        let mut widths = 0.0;
        for _ in 0..trials {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for _ in 0..n {
                let level = normal();
                a.push(level + truth + 0.05 * normal());
                b.push(level + 0.05 * normal());
            }
            let m = MeanCi::paired_difference(&a, &b).unwrap();
            let (lo, hi) = (m.lower().unwrap(), m.upper().unwrap());
            covered += usize::from(lo <= truth && truth <= hi);
            widths += hi - lo;
        }
        let rate = covered as f64 / trials as f64;
        assert!((0.935..=0.965).contains(&rate), "coverage {rate}");
        // sd of a difference is 0.05·√2, so the width is about
        // 2·1.96·0.0707/20 = 0.0139; unpaired it would be about 0.28.
        let mean_width = widths / trials as f64;
        assert!((0.012..0.016).contains(&mean_width), "{mean_width}");
        // Unequal lengths, too few finite pairs.
        assert!(MeanCi::paired_difference(&[1.0, 2.0], &[1.0]).is_none());
        assert!(MeanCi::paired_difference(&[1.0, f64::NAN], &[0.0, 0.0]).is_none());
        let m = MeanCi::paired_difference(&[3.0, f64::NAN, 5.0], &[1.0, 0.0, 2.0]).unwrap();
        assert_eq!((m.n, m.mean), (2, 2.5));
    }
}
