//! Paired comparisons of two language-model variants on the same
//! multiple-choice items, checked by simulation with fixed seeds: the
//! McNemar test's level, the bootstrap and Wald intervals' coverage, and
//! the sequential rule's error rates and lengths.
//!
//! Run with `cargo test -p qarena-stats --test paired_simulation --
//! --nocapture` to see the numbers that `docs/statistics.md` quotes.

mod common;
use common::Uniforms;

use qarena_stats::*;

/// Item difficulties: the share of items a variant of "base" quality gets
/// right is one of these, equally often.
const LEVELS: [f64; 4] = [0.25, 0.5, 0.75, 0.95];

/// Two variants on a population of items of mixed difficulty, correlated:
/// with probability `shared` an item is answered the same way by both
/// (right with the item's base probability `p`), otherwise independently,
/// A right with `p + shift`, B with `p − shift`.
#[derive(Clone, Copy)]
struct Model {
    shared: f64,
    shift: f64,
}

impl Model {
    fn item(&self, rng: &mut Uniforms) -> (bool, bool) {
        let p = LEVELS[((rng.next() * 4.0) as usize).min(3)];
        if rng.next() < self.shared {
            let right = rng.next() < p;
            (right, right)
        } else {
            (rng.next() < p + self.shift, rng.next() < p - self.shift)
        }
    }

    /// `acc_a − acc_b` over the item population.
    fn true_difference(&self) -> f64 {
        (1.0 - self.shared) * 2.0 * self.shift
    }

    /// `P(only A right | exactly one right)`.
    fn theta(&self) -> f64 {
        let (mut a, mut b) = (0.0, 0.0);
        for p in LEVELS {
            a += (p + self.shift) * (1.0 - p + self.shift);
            b += (p - self.shift) * (1.0 - p - self.shift);
        }
        a / (a + b)
    }

    fn dataset(&self, rng: &mut Uniforms, n: usize) -> Vec<(bool, bool)> {
        (0..n).map(|_| self.item(rng)).collect()
    }
}

/// Three standard errors of a rate `p` estimated from `runs` runs.
fn three_se(p: f64, runs: usize) -> f64 {
    3.0 * (p * (1.0 - p) / runs as f64).sqrt()
}

#[test]
fn mcnemar_keeps_its_level() {
    let runs = 2_000;
    let items = 300;
    let equal = Model {
        shared: 0.5,
        shift: 0.0,
    };
    let better = Model {
        shared: 0.5,
        shift: 0.04,
    };
    let mut rng = Uniforms::new(101);
    let mut rates = Vec::new();
    for model in [equal, better] {
        let (mut exact, mut mid, mut discordant) = (0usize, 0usize, 0u64);
        for _ in 0..runs {
            let counts = PairedCounts::from_items(model.dataset(&mut rng, items));
            let t = mcnemar_exact(&counts);
            exact += usize::from(t.p_value <= 0.05);
            mid += usize::from(t.mid_p <= 0.05);
            discordant += t.discordant;
        }
        let (exact, mid) = (exact as f64 / runs as f64, mid as f64 / runs as f64);
        eprintln!(
            "McNemar, {runs} datasets × {items} items, true difference {:.3}: \
             rejected at 0.05 exact {exact:.4}, mid-p {mid:.4}; mean discordant {:.1}",
            model.true_difference(),
            discordant as f64 / runs as f64
        );
        rates.push((exact, mid));
    }
    let bound = 0.05 + three_se(0.05, runs);
    assert!(
        rates[0].0 <= bound,
        "exact test size {} > {bound}",
        rates[0].0
    );
    // The mid-p test is not guaranteed to keep the level, but comes close.
    assert!(rates[0].1 <= bound, "mid-p size {} > {bound}", rates[0].1);
    // Power grows from the null: the exact test is the conservative one.
    assert!(rates[1].0 > rates[0].0 && rates[1].1 >= rates[1].0);
}

#[test]
fn bootstrap_and_wald_intervals_cover_the_true_difference() {
    let runs = 500;
    let items = 300;
    let resamples = 400;
    let mut rng = Uniforms::new(202);
    for shift in [0.0, 0.04] {
        let model = Model { shared: 0.5, shift };
        let truth = model.true_difference();
        let (mut boot, mut wald, mut width) = (0usize, 0usize, 0.0);
        for run in 0..runs {
            let data = model.dataset(&mut rng, items);
            let b = paired_bootstrap(&data, resamples, 1_000 + run as u64).unwrap();
            let w = paired_diff_wald(&PairedCounts::from_items(data.iter().copied())).unwrap();
            boot += usize::from(b.low <= truth && truth <= b.high);
            wald += usize::from(w.low <= truth && truth <= w.high);
            width += b.high - b.low;
        }
        let (boot, wald) = (boot as f64 / runs as f64, wald as f64 / runs as f64);
        eprintln!(
            "difference {truth:.3}, {runs} datasets × {items} items: bootstrap ({resamples} \
             resamples) coverage {boot:.3}, mean width {:.4}; Wald coverage {wald:.3}",
            width / runs as f64
        );
        assert!((0.92..=0.98).contains(&boot), "bootstrap coverage {boot}");
        assert!((0.92..=0.98).contains(&wald), "Wald coverage {wald}");
    }
}

struct SequentialRun {
    verdict: SequentialVerdict,
    items: u64,
}

/// Feeds items one at a time and stops at the first verdict.
fn run_sequential(
    model: &Model,
    settings: &SequentialSettings,
    rng: &mut Uniforms,
) -> SequentialRun {
    let mut counts = PairedCounts::default();
    loop {
        let (a, b) = model.item(rng);
        counts.add(a, b);
        let verdict = paired_sequential(&counts, settings).verdict;
        if verdict != SequentialVerdict::Continue {
            return SequentialRun {
                verdict,
                items: counts.n(),
            };
        }
    }
}

#[test]
fn sequential_rule_error_rates_and_length() {
    let settings = SequentialSettings {
        max_items: 5_000,
        ..SequentialSettings::default()
    };
    let mut rng = Uniforms::new(303);
    for (shift, runs) in [
        (0.0, 2_000usize),
        (0.04, 1_000),
        (-0.04, 1_000),
        (0.06, 1_000),
    ] {
        let model = Model { shared: 0.5, shift };
        let (mut a, mut b, mut none, mut inconclusive, mut items) = (0, 0, 0, 0, 0u64);
        for _ in 0..runs {
            let r = run_sequential(&model, &settings, &mut rng);
            items += r.items;
            match r.verdict {
                SequentialVerdict::ABetter => a += 1,
                SequentialVerdict::BBetter => b += 1,
                SequentialVerdict::NoDifference => none += 1,
                SequentialVerdict::Inconclusive => inconclusive += 1,
                SequentialVerdict::Continue => unreachable!(),
            }
        }
        let rate = |k: usize| k as f64 / runs as f64;
        eprintln!(
            "sequential, true difference {:+.3} (θ = {:.3}), {runs} runs: A better {:.4}, \
             B better {:.4}, no difference {:.4}, inconclusive {:.4}, mean items {:.0}",
            model.true_difference(),
            model.theta(),
            rate(a),
            rate(b),
            rate(none),
            rate(inconclusive),
            items as f64 / runs as f64
        );
        if shift == 0.0 {
            // The fixed-sample sign test with the same two-sided alpha and
            // power 1 − beta at θ = ½ + delta: m = ((z_{1−α/2}·½ +
            // z_{1−β}·√(θ(1 − θ)))/delta)² discordant items, at the
            // discordance rate of this model.
            let theta = 0.5 + settings.delta;
            let z = |p: f64| qarena_stats::normal::quantile(p);
            let m = ((z(1.0 - settings.alpha / 2.0) * 0.5
                + z(1.0 - settings.beta) * (theta * (1.0 - theta)).sqrt())
                / settings.delta)
                .powi(2);
            let discordance = (1.0 - model.shared)
                * LEVELS.iter().map(|p| 2.0 * p * (1.0 - p)).sum::<f64>()
                / LEVELS.len() as f64;
            eprintln!(
                "fixed-sample sign test, same alpha and power at θ = {theta}: \
                 {m:.0} discordant items ≈ {:.0} items (discordance {discordance:.3})",
                m / discordance
            );
            let bound = settings.alpha + three_se(settings.alpha, runs);
            assert!(
                rate(a + b) <= bound,
                "false 'better' rate {} > {bound}",
                rate(a + b)
            );
        } else {
            let (right, wrong) = if shift > 0.0 { (a, b) } else { (b, a) };
            assert!(rate(right) >= 0.8, "right side {}", rate(right));
            assert!(rate(wrong) <= 0.01, "wrong side {}", rate(wrong));
        }
    }
}
