//! Hand-computed cases and published reference vectors (fastchess
//! `app/tests/elo_test.cpp`, `app/tests/sprt_test.cpp`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

use qarena_stats::*;

fn assert_close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, want {want} ± {tol}"
    );
}

/// Relative tolerance as in doctest's `Approx(x).epsilon(0.01)`.
fn assert_rel(got: f64, want: f64, rel: f64, what: &str) {
    let tol = rel * got.abs().max(want.abs());
    assert_close(got, want, tol, what);
}

fn value(e: &Estimate) -> (f64, f64, f64) {
    match e {
        Estimate::Value {
            value,
            lower,
            upper,
        } => (*value, *lower, *upper),
        other => panic!("expected a two-sided estimate, got {other:?}"),
    }
}

#[test]
fn sixty_twenty_twenty_by_hand() {
    // 60 W, 20 D, 20 L: N = 100, μ = (60 + 10)/100 = 0.7.
    // σ² = [60·0.3² + 20·0.2² + 20·0.7²]/100 = (5.4 + 0.8 + 9.8)/100 = 0.16,
    // se = √(0.16/100) = 0.04.
    // Elo = −400·log10(1/0.7 − 1) = 400·log10(7/3) = 147.1907.
    // z = 1.959964: score interval 0.7 ∓ 0.0783986 = [0.6216014, 0.7783986],
    // Elo(0.6216014) = 400·log10(0.6216014/0.3783986) = 86.2250,
    // Elo(0.7783986) = 400·log10(0.7783986/0.2216014) = 218.2518.
    // LOS = Φ(0.2/0.04) = Φ(5) = 0.9999997.
    // nElo = 0.2/√0.16·800/ln 10 = 0.5·347.4356 = 173.7178, ± z·347.4356/10 = 68.0961.
    let r = elo_wdl(&Wdl::new(60, 20, 20), 0.95);
    assert_eq!(r.games, 100);
    assert_eq!(r.model, "trinomial");
    assert_close(r.score, 0.7, 1e-12, "score");
    assert_close(r.draw_ratio, 0.2, 1e-12, "draw ratio");
    assert_close(r.score_lower, 0.621_601_4, 1e-6, "score lower");
    assert_close(r.score_upper, 0.778_398_6, 1e-6, "score upper");
    let (e, lo, hi) = value(&r.elo);
    assert_close(e, 147.1907, 5e-5, "Elo");
    assert_close(lo, 86.2250, 5e-5, "Elo lower");
    assert_close(hi, 218.2518, 5e-5, "Elo upper");
    assert_close(r.los.unwrap(), 0.999_999_713_3, 1e-9, "LOS");
    let (n, nlo, nhi) = value(&r.nelo);
    assert_close(n, 173.7178, 5e-5, "nElo");
    assert_close((nhi - nlo) / 2.0, 68.0961, 5e-5, "nElo half width");
}

#[test]
fn elo_and_score_are_inverse() {
    assert_close(elo_from_score(0.5), 0.0, 1e-12, "Elo(½)");
    assert_close(elo_from_score(0.75), 190.8485, 5e-5, "Elo(¾) = 400·log10 3");
    assert_close(score_from_elo(400.0), 10.0 / 11.0, 1e-12, "L(400)");
    for e in [-800.0, -50.0, 0.0, 10.0, 300.0] {
        assert_close(elo_from_score(score_from_elo(e)), e, 1e-9, "round trip");
    }
}

#[test]
fn fastchess_trinomial_vectors() {
    // EloWDL 2: W 136, L 96, D 111 → Elo 40.70 ± 30.43, nElo 49.77 ± 36.77,
    // LOS 99.60 %.
    let r = elo_wdl(&Wdl::new(136, 111, 96), 0.95);
    let (e, _, _) = value(&r.elo);
    assert_rel(e, 40.70, 0.01, "Elo");
    assert_rel(r.elo.half_width().unwrap(), 30.43, 0.01, "Elo ±");
    assert_rel(r.nelo.value().unwrap(), 49.77, 0.01, "nElo");
    assert_rel(r.nelo.half_width().unwrap(), 36.77, 0.01, "nElo ±");
    assert_close(r.los.unwrap() * 100.0, 99.60, 0.005, "LOS %");
    // Our own precise values (independently computed): 40.7025, ±30.4272.
    assert_close(e, 40.7025, 5e-5, "Elo 4 decimals");
    assert_close(
        r.elo.half_width().unwrap(),
        30.4272,
        5e-5,
        "Elo ± 4 decimals",
    );

    // EloWDL 1: W 76, L 89, D 123 → nElo −20.76 ± 40.13, LOS 15.53 %.
    let r = elo_wdl(&Wdl::new(76, 123, 89), 0.95);
    assert_rel(r.nelo.value().unwrap(), -20.76, 0.01, "nElo");
    assert_rel(r.nelo.half_width().unwrap(), 40.13, 0.01, "nElo ±");
    assert_close(r.los.unwrap() * 100.0, 15.53, 0.005, "LOS %");

    // EloWDL 3: W 34, L 356, D 0 → nElo −508.44 ± 34.48.
    let r = elo_wdl(&Wdl::new(34, 0, 356), 0.95);
    assert_rel(r.nelo.value().unwrap(), -508.44, 0.01, "nElo");
    assert_rel(r.nelo.half_width().unwrap(), 34.48, 0.01, "nElo ±");
    assert_close(r.elo.value().unwrap(), -407.9884, 5e-5, "Elo");
}

#[test]
fn fastchess_pentanomial_vectors() {
    // fastchess Stats(LL, LD, WL, DD, WD, WW); our counts merge WL + DD.
    let cases = [
        // (counts, Elo, Elo ±, nElo, nElo ±, LOS %)
        (
            [34, 54, 31 + 32, 64, 75],
            55.58,
            27.65,
            57.94,
            28.28,
            Some(100.00),
        ),
        (
            [332, 433, 457 + 41, 333, 334],
            -8.64,
            10.33,
            -9.17,
            10.96,
            Some(5.05),
        ),
        (
            [7895, 8757, 5485 + 200, 568, 9999],
            -21.04,
            2.95,
            -19.01,
            2.65,
            None,
        ),
    ];
    for (counts, elo, elo_pm, nelo, nelo_pm, los) in cases {
        let r = elo_penta(&Penta::new(counts), 0.95);
        assert_eq!(r.model, "pentanomial");
        assert_eq!(r.games, 2 * counts.iter().sum::<u64>());
        assert_rel(r.elo.value().unwrap(), elo, 0.01, "Elo");
        assert_rel(r.elo.half_width().unwrap(), elo_pm, 0.01, "Elo ±");
        assert_rel(r.nelo.value().unwrap(), nelo, 0.01, "nElo");
        assert_rel(r.nelo.half_width().unwrap(), nelo_pm, 0.01, "nElo ±");
        if let Some(los) = los {
            assert_close(r.los.unwrap() * 100.0, los, 0.005, "LOS %");
        }
    }
    // 4-decimal check of the first case (independently computed):
    // μ = 0.5793103, Elo 55.5798 [28.2762, 83.5830].
    let r = elo_penta(&Penta::new([34, 54, 63, 64, 75]), 0.95);
    let (e, lo, hi) = value(&r.elo);
    assert_close(e, 55.5798, 5e-5, "Elo");
    assert_close(lo, 28.2762, 5e-5, "Elo lower");
    assert_close(hi, 83.5830, 5e-5, "Elo upper");
}

fn params(elo0: f64, elo1: f64, model: SprtModel) -> SprtParams {
    SprtParams::new(elo0, elo1, 0.05, 0.05, model).unwrap()
}

#[test]
fn fastchess_sprt_vectors() {
    use SprtModel::{Logistic, Normalized};
    // fastchess Stats(W, L, D); ours Wdl(W, D, L).
    let tri = [
        (Wdl::new(36433, 68692, 36027), 0.0, 2.0, Normalized, 0.92),
        (Wdl::new(10871, 20431, 10650), -1.75, 0.25, Normalized, 2.30),
        (Wdl::new(21404, 40708, 21184), 0.5, 2.5, Logistic, -1.57),
        (Wdl::new(57433, 106_593, 57030), 0.0, 2.0, Logistic, -2.59),
    ];
    for (w, e0, e1, m, want) in tri {
        let r = sprt_wdl(&w, &params(e0, e1, m));
        assert_rel(r.llr, want, 0.01, &format!("LLR {w:?} [{e0}, {e1}] {m}"));
    }
    let penta = [
        (
            [365, 16618, 36029 + 200, 16974, 390],
            0.0,
            2.0,
            Normalized,
            2.25,
        ),
        (
            [127, 4883, 10311 + 401, 5150, 104],
            -1.75,
            0.25,
            Normalized,
            3.01,
        ),
        (
            [223, 9863, 20279 + 1000, 10037, 246],
            0.5,
            2.5,
            Logistic,
            -3.07,
        ),
        (
            [871, 26175, 55003 + 980, 26678, 821],
            0.0,
            2.0,
            Logistic,
            -4.98,
        ),
    ];
    for (c, e0, e1, m, want) in penta {
        let r = sprt_penta(&Penta::new(c), &params(e0, e1, m));
        assert_rel(r.llr, want, 0.01, &format!("LLR {c:?} [{e0}, {e1}] {m}"));
    }
    // Four decimals against an independent bisection implementation.
    let r = sprt_wdl(&Wdl::new(21404, 40708, 21184), &params(0.5, 2.5, Logistic));
    assert_close(r.llr, -1.5719, 5e-5, "logistic trinomial LLR");
    let r = sprt_penta(
        &Penta::new([871, 26175, 55983, 26678, 821]),
        &params(0.0, 2.0, Logistic),
    );
    assert_close(r.llr, -4.9787, 5e-5, "logistic pentanomial LLR");
    let r = sprt_penta(
        &Penta::new([127, 4883, 10712, 5150, 104]),
        &params(-1.75, 0.25, Normalized),
    );
    assert_close(r.llr, 3.0102, 5e-5, "normalized pentanomial LLR");
    assert_eq!(r.verdict, SprtVerdict::AcceptH1);
    // cutechess issue #543: 880 W, 1863 D, 759 L with [0, 5] gave 2.95.
    let r = sprt_wdl(&Wdl::new(880, 1863, 759), &params(0.0, 5.0, Logistic));
    assert_close(r.llr, 2.9472, 5e-4, "cutechess #543");
    assert_eq!(r.verdict, SprtVerdict::AcceptH1);
}

#[test]
fn sprt_on_degenerate_counts_is_the_converged_glr() {
    // fastchess's own tests list 2.97 (16700 draws) and 2.94 (104 WW pairs)
    // for [0, 5] normalized; those numbers come from its loose stopping
    // rule (1e−4) near a pole of the likelihood. The exact GLR is below:
    // with all draws, H0 (nElo 0) fits the data exactly, so the LLR must be
    // negative.
    let p = params(0.0, 5.0, SprtModel::Normalized);
    let r = sprt_wdl(&Wdl::new(0, 16700, 0), &p);
    assert_close(r.llr, -3.4505, 5e-4, "all draws");
    assert_eq!(r.verdict, SprtVerdict::AcceptH0);
    let r = sprt_penta(&Penta::new([0, 0, 0, 0, 104]), &p);
    assert_close(r.llr, 2.0950, 5e-4, "all WW");
    assert_eq!(r.verdict, SprtVerdict::Continue);
}

#[test]
fn sprt_bounds_and_verdicts() {
    let p = SprtParams::parse("elo0=-10,elo1=0").unwrap();
    assert_eq!(p.alpha, 0.05);
    assert_eq!(p.beta, 0.05);
    assert_eq!(p.model, SprtModel::Logistic);
    let (lo, hi) = p.bounds();
    assert_close(lo, -2.944_439, 1e-6, "lower bound");
    assert_close(hi, 2.944_439, 1e-6, "upper bound");
    // No games: LLR ≈ 0, continue.
    let r = sprt_wdl(&Wdl::default(), &p);
    assert!(r.llr.abs() < 1e-3);
    assert_eq!(r.verdict, SprtVerdict::Continue);
    // A variant that clearly loses 50 Elo is rejected.
    let r = sprt_wdl(&Wdl::new(300, 400, 440), &p);
    assert_eq!(r.verdict, SprtVerdict::AcceptH0, "{r:?}");
    let r = sprt_wdl(&Wdl::new(440, 400, 300), &p);
    assert_eq!(r.verdict, SprtVerdict::AcceptH1, "{r:?}");
}

#[test]
fn sprt_parse_errors_name_the_key() {
    let p =
        SprtParams::parse(" elo0=-10, elo1=0, alpha=0.01, beta=0.1, model=normalized ").unwrap();
    assert_eq!(p.model, SprtModel::Normalized);
    assert_eq!((p.alpha, p.beta), (0.01, 0.1));
    assert_eq!(SprtParams::parse(&p.to_string()).unwrap(), p);

    let err = |s: &str| SprtParams::parse(s).unwrap_err().to_string();
    assert!(err("elo1=0").contains("`elo0` is missing"));
    assert!(err("elo0=0").contains("`elo1` is missing"));
    assert!(err("elo0=0,elo1=5,gamma=1").contains("`gamma`"));
    assert!(err("elo0=x,elo1=5").contains("`elo0`"));
    assert!(err("elo0=5,elo1=5").contains("`elo1`"));
    assert!(err("elo0=0,elo1=5,alpha=0").contains("`alpha`"));
    assert!(err("elo0=0,elo1=5,beta=1.5").contains("`beta`"));
    assert!(err("elo0=0,elo1=5,alpha=0.6,beta=0.5").contains("alpha + beta"));
    assert!(err("elo0=0,elo1=5,model=bayes").contains("`model`"));
    assert!(err("elo0=0,elo0=1,elo1=5").contains("twice"));
    assert!(err("elo0=0,elo1=nan").contains("`elo1`"));
    assert!(err("elo0=0,elo1").contains("key=value"));
}

#[test]
fn edge_cases_stay_finite_and_say_why() {
    // 0 games.
    let r = elo_wdl(&Wdl::default(), 0.95);
    assert!(matches!(r.elo, Estimate::NotEstimable { .. }));
    assert!(matches!(r.nelo, Estimate::NotEstimable { .. }));
    assert_eq!(r.los, None);
    assert_eq!(r.games, 0);
    let r = elo_penta(&Penta::default(), 0.95);
    assert!(matches!(r.elo, Estimate::NotEstimable { .. }));

    // 1 game won: a lower bound only, from Wilson: 1/(1 + z²) = 0.20653.
    let r = elo_wdl(&Wdl::new(1, 0, 0), 0.95);
    match &r.elo {
        Estimate::LowerBound { lower, reason } => {
            assert_close(
                *lower,
                elo_from_score(1.0 / (1.0 + 1.959_964f64.powi(2))),
                1e-3,
                "",
            );
            assert!(reason.contains("won all 1 games"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.los, Some(1.0));
    // 1 game drawn: zero variance.
    let r = elo_wdl(&Wdl::new(0, 1, 0), 0.95);
    assert!(
        matches!(&r.elo, Estimate::NotEstimable { reason } if reason.contains("zero variance"))
    );
    assert_eq!(r.los, None);

    // 0 losses (some draws): μ < 1 with spread, but 10 W 2 D puts the
    // upper end of the score interval above 1 → lower bound only.
    let r = elo_wdl(&Wdl::new(10, 2, 0), 0.95);
    assert!(matches!(&r.elo, Estimate::LowerBound { reason, .. } if reason.contains("upper end")));
    // Many games with 0 losses can still give a two-sided interval.
    let r = elo_wdl(&Wdl::new(30, 300, 0), 0.95);
    assert!(matches!(r.elo, Estimate::Value { .. }), "{:?}", r.elo);
    // 0 wins.
    let r = elo_wdl(&Wdl::new(0, 2, 10), 0.95);
    assert!(matches!(r.elo, Estimate::UpperBound { .. }));
    // All losses.
    let r = elo_wdl(&Wdl::new(0, 0, 50), 0.95);
    assert!(
        matches!(&r.elo, Estimate::UpperBound { reason, .. } if reason.contains("lost all 50"))
    );
    assert_eq!(r.los, Some(0.0));
    // All draws.
    let r = elo_wdl(&Wdl::new(0, 500, 0), 0.95);
    assert!(matches!(r.elo, Estimate::NotEstimable { .. }));
    assert!(matches!(r.nelo, Estimate::NotEstimable { .. }));
    assert!(r.score_lower < 0.5 && r.score_upper > 0.5);
    // Every pair identical (deterministic engines): all 1.5 pairs.
    let r = elo_penta(&Penta::new([0, 0, 0, 100, 0]), 0.95);
    assert!(matches!(&r.elo, Estimate::NotEstimable { reason } if reason.contains("game pairs")));
    assert_close(r.score, 0.75, 1e-12, "score");
    assert_eq!(r.los, Some(1.0));
    // All pairs WW / LL.
    assert!(matches!(
        elo_penta(&Penta::new([0, 0, 0, 0, 7]), 0.95).elo,
        Estimate::LowerBound { .. }
    ));
    assert!(matches!(
        elo_penta(&Penta::new([7, 0, 0, 0, 0]), 0.95).elo,
        Estimate::UpperBound { .. }
    ));
    // One win, one loss: the interval covers all of (0, 1).
    let r = elo_wdl(&Wdl::new(1, 0, 1), 0.95);
    assert!(matches!(r.elo, Estimate::NotEstimable { .. }));
    // Invalid confidence.
    let r = elo_wdl(&Wdl::new(60, 20, 20), f64::NAN);
    assert!(matches!(r.elo, Estimate::NotEstimable { .. }));
    assert_eq!(r.confidence, 0.0);
    let r = elo_wdl(&Wdl::new(60, 20, 20), 1.0);
    assert!(matches!(&r.elo, Estimate::NotEstimable { reason } if reason.contains("confidence")));
}

#[test]
fn pairs_become_pentanomial_counts() {
    let pairs = [
        (0.0, 0.0),
        (0.5, 0.0),
        (0.0, 0.5),
        (1.0, 0.0),
        (0.5, 0.5),
        (1.0, 0.5),
        (1.0, 1.0),
        (0.7, 1.0),
        (f64::NAN, 1.0),
    ];
    assert_eq!(penta_from_pairs(&pairs).counts, [1, 2, 2, 1, 1]);
    let err = try_penta_from_pairs(&pairs).unwrap_err();
    assert!(err.to_string().contains("pair 7"), "{err}");
    assert_eq!(
        try_penta_from_pairs(&pairs[..7]).unwrap(),
        Penta::new([1, 2, 2, 1, 1])
    );
}

#[test]
fn gate_rules() {
    let gate = Gate {
        min_score: Some(0.45),
        max_elo_loss: Some(50.0),
        confidence: 0.95,
        ..Gate::default()
    };
    // 48% over 1000 games, draws 40%: Elo −13.9, interval about ±17.
    let r = elo_wdl(&Wdl::new(280, 400, 320), 0.95);
    let out = check_gate(&r, &gate);
    assert!(out.passed(), "{out:?}");
    assert_eq!(out.reasons.len(), 2);
    assert!(out.reasons[0].contains("0.4800") && out.reasons[0].contains("pass"));
    assert!(out.reasons[1].contains("lower bound"));

    // Same score with 100 games: the interval is too wide to rule out −50.
    let r = elo_wdl(&Wdl::new(28, 40, 32), 0.95);
    let out = check_gate(&r, &gate);
    assert!(!out.passed());
    assert!(out.reasons[0].contains("pass"));
    assert!(out.reasons[1].contains("FAIL"), "{out:?}");

    // Score below the threshold.
    let r = elo_wdl(&Wdl::new(240, 400, 360), 0.95);
    let out = check_gate(&r, &gate);
    assert!(!out.passed());
    assert!(out.reasons[0].contains("FAIL"));

    // A report at 95% checked at 50%: recomputed, narrower, passes.
    let r = elo_wdl(&Wdl::new(28, 40, 32), 0.95);
    let loose = Gate {
        confidence: 0.5,
        min_score: None,
        max_elo_loss: Some(40.0),
        ..Gate::default()
    };
    let out = check_gate(&r, &loose);
    assert!(out.passed(), "{out:?}");
    assert!(out.reasons[0].contains("50% interval"));

    // No lower bound (all lost), not estimable (no games), no checks.
    assert!(!check_gate(&elo_wdl(&Wdl::new(0, 0, 5), 0.95), &gate).passed());
    assert!(!check_gate(&elo_wdl(&Wdl::default(), 0.95), &gate).passed());
    let out = check_gate(&r, &Gate::default());
    assert!(out.passed() && out.reasons[0].contains("no checks"));
    // All won: the lower bound counts.
    let out = check_gate(
        &elo_wdl(&Wdl::new(20, 0, 0), 0.95),
        &Gate {
            min_score: None,
            max_elo_loss: Some(50.0),
            confidence: 0.95,
            ..Gate::default()
        },
    );
    assert!(out.passed(), "{out:?}");
}

#[test]
fn estimates_display_and_serialize_shape() {
    let r = elo_wdl(&Wdl::new(60, 20, 20), 0.95);
    assert_eq!(r.elo.to_string(), "+147.2 [+86.2, +218.3]");
    let r = elo_wdl(&Wdl::new(0, 0, 3), 0.95);
    assert!(r.elo.to_string().starts_with("≤ "));
}
