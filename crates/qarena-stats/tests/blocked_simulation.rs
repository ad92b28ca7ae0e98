//! Paired figures over the tokens of one text, checked by simulation with
//! fixed seeds: neighbouring tokens are correlated, so an interval that
//! treats each token as independent is too narrow, and the blocked
//! intervals (`RatioCi::blocked`, `MeanCi::blocked_difference`) cover.
//!
//! Run with `cargo test -p qarena-stats --test blocked_simulation --
//! --nocapture` to see the numbers that `docs/statistics.md` quotes.

#![allow(clippy::unwrap_used, clippy::print_stdout)] // test code

mod common;
use common::Uniforms;

use qarena_stats::normal::student_quantile;
use qarena_stats::*;

/// One standard normal (Box–Muller).
fn normal(rng: &mut Uniforms) -> f64 {
    let u = rng.next().max(1e-12);
    let v = rng.next();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// A stationary AR(1) series of unit variance with lag-1 correlation `rho`.
fn ar1(rng: &mut Uniforms, n: usize, rho: f64) -> Vec<f64> {
    let mut x = normal(rng);
    let e = (1.0 - rho * rho).sqrt();
    (0..n)
        .map(|_| {
            let now = x;
            x = rho * x + e * normal(rng);
            now
        })
        .collect()
}

/// Per-token KL of two variants against one reference: log-normal, heavy
/// tailed, sharing the text's difficulty (`shared`) and each with its own
/// correlated part, A's mean `ratio` times B's.
fn kls(rng: &mut Uniforms, n: usize, rho: f64, ratio: f64) -> (Vec<f64>, Vec<f64>) {
    let (x, u, v) = (ar1(rng, n, rho), ar1(rng, n, rho), ar1(rng, n, rho));
    let (shared, own) = (1.0, 0.7);
    let a = (0..n)
        .map(|i| (ratio.ln() - 4.0 + shared * x[i] + own * u[i]).exp())
        .collect();
    let b = (0..n)
        .map(|i| (-4.0 + shared * x[i] + own * v[i]).exp())
        .collect();
    (a, b)
}

const RUNS: usize = 1000;
const TOKENS: usize = 2048;
const BLOCK: usize = 64;

/// Coverage of the true ratio by the blocked and the per-token intervals.
fn ratio_coverage(seed: u64, rho: f64) -> (f64, f64) {
    let mut rng = Uniforms::new(seed);
    let truth = 0.76;
    let (mut blocked, mut naive) = (0, 0);
    for _ in 0..RUNS {
        let (a, b) = kls(&mut rng, TOKENS, rho, truth);
        let r = RatioCi::blocked(&a, &b, BLOCK).unwrap();
        assert_eq!(r.n, TOKENS / BLOCK);
        blocked += usize::from(r.lower() <= truth && truth <= r.upper());
        let p = RatioCi::paired(&a, &b).unwrap();
        naive += usize::from(p.lower() <= truth && truth <= p.upper());
    }
    (blocked as f64 / RUNS as f64, naive as f64 / RUNS as f64)
}

/// Three standard errors of a 95% coverage estimated from `RUNS` runs.
fn three_se() -> f64 {
    3.0 * (0.95 * 0.05 / RUNS as f64).sqrt()
}

#[test]
fn blocked_ratio_covers_where_per_token_intervals_do_not() {
    // Lag-1 correlation 0.3, four times what the per-token KL of two
    // 4-bit SmolLM2 variants shows on data/llm/text-eval.txt (0.07).
    let (blocked, naive) = ratio_coverage(31, 0.3);
    println!("rho 0.3: blocked {blocked:.3}, per token {naive:.3}");
    assert!((blocked - 0.95).abs() <= three_se(), "blocked {blocked}");
    assert!(naive < 0.93, "per token {naive}");
    // Correlated over a few tokens (0.7), the blocked interval still
    // covers about 94% (0.93-0.95 over seeds 31-34), per-token ones 70%.
    let (blocked, naive) = ratio_coverage(32, 0.7);
    println!("rho 0.7: blocked {blocked:.3}, per token {naive:.3}");
    assert!(
        blocked > 0.92 && naive < 0.8,
        "blocked {blocked}, per token {naive}"
    );
    // Over about ten tokens (0.9), blocks of 64 are only nearly
    // independent: 90-92% (seeds 11 and 14), against 41% per token.
    let (blocked, naive) = ratio_coverage(14, 0.9);
    println!("rho 0.9: blocked {blocked:.3}, per token {naive:.3}");
    assert!(
        blocked > 0.88 && naive < 0.5,
        "blocked {blocked}, per token {naive}"
    );
    // Independent tokens: blocking costs nothing in coverage.
    let (blocked, naive) = ratio_coverage(12, 0.0);
    println!("rho 0:   blocked {blocked:.3}, per token {naive:.3}");
    assert!((blocked - 0.95).abs() <= three_se(), "blocked {blocked}");
    assert!((naive - 0.95).abs() <= three_se(), "per token {naive}");
}

#[test]
fn blocked_difference_of_top1_agreement_covers() {
    // Same-top-1 indicators of two variants, correlated along the text:
    // A agrees where its latent score clears 1.2, B where B's clears 1.0.
    let mut rng = Uniforms::new(13);
    let p = |c: f64| 1.0 - normal_cdf(c);
    let truth = p(-1.2 / 2f64.sqrt()) - p(-1.0 / 2f64.sqrt());
    let mut covered = 0;
    for _ in 0..RUNS {
        let (x, u, v) = (
            ar1(&mut rng, TOKENS, 0.7),
            ar1(&mut rng, TOKENS, 0.7),
            ar1(&mut rng, TOKENS, 0.7),
        );
        let a: Vec<f64> = (0..TOKENS)
            .map(|i| f64::from(u8::from(x[i] + u[i] > -1.2)))
            .collect();
        let b: Vec<f64> = (0..TOKENS)
            .map(|i| f64::from(u8::from(x[i] + v[i] > -1.0)))
            .collect();
        let d = MeanCi::blocked_difference(&a, &b, BLOCK).unwrap();
        let h = d.half_width.unwrap();
        covered += usize::from((d.mean - truth).abs() <= h);
    }
    let coverage = covered as f64 / RUNS as f64;
    println!("top-1 difference {truth:.4}: blocked coverage {coverage:.3}");
    assert!((coverage - 0.95).abs() <= three_se(), "{coverage}");
}

fn normal_cdf(z: f64) -> f64 {
    qarena_stats::normal::cdf(z)
}

#[test]
fn student_quantiles_match_tables_and_blocks_are_cut_as_documented() {
    for (df, want) in [(5.0, 2.5706), (10.0, 2.2281), (31.0, 2.0395), (1e9, 1.96)] {
        let got = student_quantile(0.975, df);
        assert!((got - want).abs() < 2e-3, "df {df}: {got} against {want}");
    }
    // 100 values in blocks of 64: one block and a 36-value tail of its
    // own (36 ≥ 32); 90 values: the 26-value tail joins the first block,
    // leaving one block and no interval.
    let ones = vec![1.0; 100];
    assert_eq!(RatioCi::blocked(&ones, &ones, 64).unwrap().n, 2);
    assert!(RatioCi::blocked(&ones[..90], &ones[..90], 64).is_none());
    let mut a = ones.clone();
    a[3] = f64::NAN;
    assert!(RatioCi::blocked(&a, &ones, 10).is_none());
    assert!(MeanCi::blocked_difference(&ones, &ones[..50], 10).is_none());
}
