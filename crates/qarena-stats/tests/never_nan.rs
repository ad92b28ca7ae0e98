//! Random counts, from empty to huge and lopsided, never produce NaN or an
//! infinity anywhere in a report, an SPRT result or a gate outcome.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

use qarena_stats::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn finite_estimate(e: &Estimate) -> bool {
    match e {
        Estimate::Value {
            value,
            lower,
            upper,
        } => value.is_finite() && lower.is_finite() && upper.is_finite() && lower <= upper,
        Estimate::LowerBound { lower, reason } => lower.is_finite() && !reason.is_empty(),
        Estimate::UpperBound { upper, reason } => upper.is_finite() && !reason.is_empty(),
        Estimate::NotEstimable { reason } => !reason.is_empty(),
    }
}

fn check_report(r: &EloReport) {
    let numbers = [
        r.score,
        r.score_lower,
        r.score_upper,
        r.draw_ratio,
        r.confidence,
    ];
    assert!(numbers.iter().all(|x| x.is_finite()), "{r:?}");
    assert!((0.0..=1.0).contains(&r.score_lower), "{r:?}");
    assert!((0.0..=1.0).contains(&r.score_upper), "{r:?}");
    assert!(r.score_lower <= r.score_upper, "{r:?}");
    if let Some(los) = r.los {
        assert!((0.0..=1.0).contains(&los), "{r:?}");
    }
    assert!(finite_estimate(&r.elo), "{r:?}");
    assert!(finite_estimate(&r.nelo), "{r:?}");
    if let Some(v) = r.elo.value() {
        assert!(r.elo.lower().unwrap() <= v && v <= r.elo.upper().unwrap());
    }
}

/// A count of a random order of magnitude, often zero.
fn count(rng: &mut ChaCha8Rng) -> u64 {
    match rng.gen_range(0..6) {
        0 => 0,
        1 => 1,
        2 => rng.gen_range(0..10),
        3 => rng.gen_range(0..1_000),
        4 => rng.gen_range(0..1_000_000),
        _ => rng.gen_range(0..1u64 << 50),
    }
}

#[test]
fn random_counts_never_give_nan() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let sprts = [
        SprtParams::parse("elo0=-10,elo1=0").unwrap(),
        SprtParams::parse("elo0=0,elo1=5,model=normalized").unwrap(),
        SprtParams::parse("elo0=-500,elo1=500,alpha=0.001,beta=0.2").unwrap(),
        SprtParams::parse("elo0=-3000,elo1=-2999,model=normalized").unwrap(),
    ];
    let gate = Gate {
        min_score: Some(0.45),
        max_elo_loss: Some(50.0),
        confidence: 0.9,
        ..Gate::default()
    };
    for i in 0..1_200 {
        let w = Wdl::new(count(&mut rng), count(&mut rng), count(&mut rng));
        let p = Penta::new([0; 5].map(|_| count(&mut rng)));
        let confidence = [0.95, 0.5, 0.999_999, 0.0, 1.0, f64::NAN][i % 6];
        for r in [elo_wdl(&w, confidence), elo_penta(&p, confidence)] {
            check_report(&r);
            for basis in [
                GateBasis::Ci,
                GateBasis::Point,
                GateBasis::Sprt {
                    alpha: 0.05,
                    beta: 0.05,
                },
            ] {
                let out = check_gate(&r, &Gate { basis, ..gate });
                assert!(!out.reasons.is_empty());
                assert!(out
                    .reasons
                    .iter()
                    .all(|s| !s.contains("NaN") && !s.contains("inf")));
            }
        }
        for params in &sprts {
            for r in [sprt_wdl(&w, params), sprt_penta(&p, params)] {
                assert!(
                    r.llr.is_finite() && r.lower_bound.is_finite() && r.upper_bound.is_finite(),
                    "{w:?} {p:?} {params} {r:?}"
                );
            }
        }
    }
}

#[test]
fn hand_built_invalid_sprt_params_stay_finite() {
    // Parameters that bypassed the checked constructor.
    let params = SprtParams {
        elo0: 5.0,
        elo1: 5.0,
        alpha: 0.0,
        beta: f64::NAN,
        model: SprtModel::Logistic,
    };
    let r = sprt_wdl(&Wdl::new(10, 10, 10), &params);
    assert!(r.llr.is_finite() && r.lower_bound.is_finite() && r.upper_bound.is_finite());
}
