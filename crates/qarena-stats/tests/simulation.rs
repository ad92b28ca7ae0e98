//! Statistics checked by simulation with fixed seeds: interval coverage
//! (trinomial and pentanomial) and SPRT error rates and lengths.
//!
//! Run with `cargo test -p qarena-stats --test simulation -- --nocapture`
//! to see the numbers that `docs/statistics.md` quotes.

mod common;
use common::Uniforms;

use qarena_stats::*;

/// Win/draw/loss probabilities of one game with expected score `s` and
/// draw probability `d` (needs `d/2 ≤ s ≤ 1 − d/2`).
#[derive(Clone, Copy)]
struct Game {
    win: f64,
    draw: f64,
}

impl Game {
    fn new(score: f64, draw: f64) -> Game {
        let win = score - draw / 2.0;
        assert!(win >= 0.0 && win + draw <= 1.0, "score {score} draw {draw}");
        Game { win, draw }
    }

    /// Draw probability shrinking towards lopsided games: 0.4 at s = ½,
    /// `1.6·s(1 − s)` in general, which keeps every probability valid.
    fn with_natural_draws(score: f64) -> Game {
        Game::new(score, 1.6 * score * (1.0 - score))
    }

    /// The tested engine's score in one game: 1, ½ or 0.
    fn play(&self, rng: &mut Uniforms) -> f64 {
        let u = rng.next();
        if u < self.win {
            1.0
        } else if u < self.win + self.draw {
            0.5
        } else {
            0.0
        }
    }

    fn variance(&self) -> f64 {
        let s = self.win + self.draw / 2.0;
        let loss = 1.0 - self.win - self.draw;
        self.win * (1.0 - s).powi(2) + self.draw * (0.5 - s).powi(2) + loss * s * s
    }
}

fn add(w: &mut Wdl, score: f64) {
    if score == 1.0 {
        w.wins += 1;
    } else if score == 0.5 {
        w.draws += 1;
    } else {
        w.losses += 1;
    }
}

/// Monte Carlo standard error band for a proportion estimated from `n` runs.
fn noise(p: f64, n: usize) -> f64 {
    3.0 * (p * (1.0 - p) / n as f64).sqrt()
}

#[test]
fn trinomial_interval_covers_the_true_elo() {
    const MATCHES: usize = 10_000;
    const GAMES: usize = 200;
    let mut rng = Uniforms::new(0x5eed_0001);
    println!("| model | true Elo | draw ratio | matches × games | 95% coverage |");
    for true_elo in [0.0, 50.0, 200.0] {
        let game = Game::new(score_from_elo(true_elo), 0.4);
        let mut covered = 0;
        for _ in 0..MATCHES {
            let mut w = Wdl::default();
            for _ in 0..GAMES {
                add(&mut w, game.play(&mut rng));
            }
            if elo_wdl(&w, 0.95).elo.covers(true_elo) {
                covered += 1;
            }
        }
        let coverage = covered as f64 / MATCHES as f64;
        println!("| trinomial | {true_elo} | 0.40 | {MATCHES} × {GAMES} | {coverage:.4} |");
        assert!(
            (0.94..=0.96).contains(&coverage),
            "trinomial coverage {coverage} at Elo {true_elo}"
        );
    }
}

#[test]
fn pentanomial_interval_covers_the_true_elo() {
    const MATCHES: usize = 10_000;
    const PAIRS: usize = 100;
    // Each opening favours one colour by `bias` Elo, drawn uniformly from
    // these values: the tested engine plays at `elo + bias` with one
    // colour and `elo − bias` with the other, so the two games of a pair
    // are correlated (a lopsided opening gives 1-1 more often).
    let biases: Vec<f64> = (-4..=4).map(|i| 50.0 * f64::from(i)).collect();
    let mut rng = Uniforms::new(0x5eed_0002);
    println!("| model | true Elo | opening bias | matches × pairs | 95% coverage | trinomial on the same games |");
    for elo in [0.0, 50.0, 200.0] {
        // The truth is the Elo of the expected score over openings.
        let true_score = biases
            .iter()
            .map(|b| (score_from_elo(elo + b) + score_from_elo(elo - b)) / 2.0)
            .sum::<f64>()
            / biases.len() as f64;
        let truth = elo_from_score(true_score);
        let games: Vec<(Game, Game)> = biases
            .iter()
            .map(|b| {
                (
                    Game::with_natural_draws(score_from_elo(elo + b)),
                    Game::with_natural_draws(score_from_elo(elo - b)),
                )
            })
            .collect();
        let mut covered = 0;
        let mut covered_trinomial = 0;
        let mut pairs = Vec::with_capacity(PAIRS);
        for _ in 0..MATCHES {
            pairs.clear();
            let mut w = Wdl::default();
            for _ in 0..PAIRS {
                let (first, second) = games[rng.index(games.len())];
                let pair = (first.play(&mut rng), second.play(&mut rng));
                add(&mut w, pair.0);
                add(&mut w, pair.1);
                pairs.push(pair);
            }
            if elo_penta(&penta_from_pairs(&pairs), 0.95).elo.covers(truth) {
                covered += 1;
            }
            if elo_wdl(&w, 0.95).elo.covers(truth) {
                covered_trinomial += 1;
            }
        }
        let coverage = covered as f64 / MATCHES as f64;
        let coverage_trinomial = covered_trinomial as f64 / MATCHES as f64;
        println!(
            "| pentanomial | {elo} (truth {truth:.2}) | ±0..200 | {MATCHES} × {PAIRS} | {coverage:.4} | {coverage_trinomial:.4} |"
        );
        assert!(
            (0.94..=0.96).contains(&coverage),
            "pentanomial coverage {coverage} at Elo {elo}"
        );
        // Ignoring the pairing overstates the variance here, so the
        // trinomial interval is too wide: it over-covers.
        assert!(
            coverage_trinomial > coverage,
            "trinomial {coverage_trinomial} vs pentanomial {coverage}"
        );
    }
}

/// Outcome of one simulated SPRT.
struct Run {
    verdict: SprtVerdict,
    games: u64,
}

/// The W/D/L counts of a batch of `n` games, drawn with one uniform number
/// from their exact multinomial distribution; the same in law as playing
/// the `n` games one by one, ten times cheaper in random numbers.
struct Batch {
    /// `(cumulative probability, W, D, L)` over every composition of `n`.
    table: Vec<(f64, u64, u64, u64)>,
}

impl Batch {
    fn new(game: Game, n: u64) -> Batch {
        let loss = 1.0 - game.win - game.draw;
        let factorial = |k: u64| (1..=k).map(|i| i as f64).product::<f64>();
        let mut table = Vec::new();
        let mut cumulative = 0.0;
        for w in 0..=n {
            for d in 0..=n - w {
                let l = n - w - d;
                cumulative += factorial(n) / (factorial(w) * factorial(d) * factorial(l))
                    * game.win.powi(w as i32)
                    * game.draw.powi(d as i32)
                    * loss.powi(l as i32);
                table.push((cumulative, w, d, l));
            }
        }
        Batch { table }
    }

    fn play(&self, rng: &mut Uniforms, into: &mut Wdl) {
        let u = rng.next();
        let i = self.table.partition_point(|&(c, ..)| c <= u);
        let &(_, w, d, l) = &self.table[i.min(self.table.len() - 1)];
        into.wins += w;
        into.draws += d;
        into.losses += l;
    }
}

/// Plays batches of `batch` games and evaluates the SPRT after each (the
/// LLR depends only on the counts), up to `cap` games.
fn run_sprt(batch: &Batch, params: &SprtParams, cap: u64, rng: &mut Uniforms) -> Run {
    let mut w = Wdl::default();
    while w.games() < cap {
        batch.play(rng, &mut w);
        let r = sprt_wdl(&w, params);
        if r.verdict != SprtVerdict::Continue {
            return Run {
                verdict: r.verdict,
                games: w.games(),
            };
        }
    }
    Run {
        verdict: SprtVerdict::Continue,
        games: w.games(),
    }
}

#[test]
fn sprt_error_rates_and_length() {
    const RUNS: usize = 2_000;
    const CHECK_EVERY: u64 = 10;
    const CAP: u64 = 100_000;
    const DRAWS: f64 = 0.4;
    let params = SprtParams::parse("elo0=0,elo1=10,alpha=0.05,beta=0.05,model=logistic").unwrap();
    let (s0, s1) = (score_from_elo(params.elo0), score_from_elo(params.elo1));

    // Fixed-sample-size one-sided z-test with the same alpha and beta:
    // n = ((z_{1−α} + z_{1−β})·σ/δ)² with δ = s1 − s0 and the per-game σ
    // at the midpoint score.
    let z_a = normal::quantile(1.0 - params.alpha);
    let z_b = normal::quantile(1.0 - params.beta);
    let sigma = Game::new((s0 + s1) / 2.0, DRAWS).variance().sqrt();
    let fixed_n = ((z_a + z_b) * sigma / (s1 - s0)).powi(2);

    let mut rng = Uniforms::new(0x5eed_0003);
    println!(
        "| true Elo | runs | wrong verdicts | no verdict by {CAP} | mean games | fixed-N games |"
    );
    for (true_elo, wrong) in [
        (params.elo0, SprtVerdict::AcceptH1),
        (params.elo1, SprtVerdict::AcceptH0),
    ] {
        let batch = Batch::new(Game::new(score_from_elo(true_elo), DRAWS), CHECK_EVERY);
        let (mut errors, mut undecided, mut total_games) = (0usize, 0usize, 0u64);
        for _ in 0..RUNS {
            let run = run_sprt(&batch, &params, CAP, &mut rng);
            total_games += run.games;
            if run.verdict == wrong {
                errors += 1;
            }
            if run.verdict == SprtVerdict::Continue {
                undecided += 1;
            }
        }
        let rate = errors as f64 / RUNS as f64;
        let mean_games = total_games as f64 / RUNS as f64;
        println!(
            "| {true_elo} | {RUNS} | {rate:.4} | {undecided} | {mean_games:.0} | {fixed_n:.0} |"
        );
        let nominal = if true_elo == params.elo0 {
            params.alpha
        } else {
            params.beta
        };
        assert!(
            rate <= nominal + noise(nominal, RUNS),
            "error rate {rate} at Elo {true_elo} (nominal {nominal})"
        );
        assert!(undecided <= RUNS / 200, "{undecided} runs hit the cap");
        assert!(
            mean_games < fixed_n,
            "SPRT needs {mean_games} games on average, fixed-N {fixed_n}"
        );
    }
}

/// A round-robin league of five players with known Elo, fitted by
/// Bradley–Terry anchored at player 0: the intervals cover every player's
/// true rating (relative to the anchor) about 95% of the time, with and
/// without draws (the fit scales its intervals by the games' dispersion),
/// and the estimates are unbiased to a few Elo.
#[test]
fn bradley_terry_intervals_cover_the_true_ratings() {
    const LEAGUES: usize = 1_000;
    const GAMES_PER_PAIR: usize = 40;
    let truth = [0.0, -30.0, -80.0, 20.0, -150.0];
    let mut rng = Uniforms::new(0x5eed_00b7);
    println!("| draws | player | true Elo | mean estimate | 95% coverage |");
    for natural_draws in [false, true] {
        let mut covered = [0usize; 5];
        let mut sum = [0.0f64; 5];
        for _ in 0..LEAGUES {
            let mut games = Vec::new();
            for a in 0..truth.len() {
                for b in a + 1..truth.len() {
                    let s = score_from_elo(truth[a] - truth[b]);
                    let game = if natural_draws {
                        Game::with_natural_draws(s)
                    } else {
                        Game::new(s, 0.0)
                    };
                    for _ in 0..GAMES_PER_PAIR {
                        games.push(RatedGame {
                            a,
                            b,
                            score: game.play(&mut rng),
                        });
                    }
                }
            }
            let r = bradley_terry(truth.len(), &games, 0, 0.95).unwrap();
            for (i, rating) in r.ratings.iter().enumerate() {
                sum[i] += rating.elo;
                if rating.lower() <= truth[i] && truth[i] <= rating.upper() {
                    covered[i] += 1;
                }
            }
        }
        for i in 1..truth.len() {
            let coverage = covered[i] as f64 / LEAGUES as f64;
            let mean = sum[i] / LEAGUES as f64;
            println!(
                "| {natural_draws} | {i} | {} | {mean:.1} | {coverage:.3} |",
                truth[i]
            );
            assert!(
                (mean - truth[i]).abs() < 6.0,
                "player {i}: mean estimate {mean} for {}",
                truth[i]
            );
            assert!(
                (coverage - 0.95).abs() <= noise(0.95, LEAGUES),
                "player {i}: coverage {coverage}"
            );
        }
    }
}

/// The paired ratio of means (an evolved strategy's mean KL over a hand
/// recipe's on the same positions): the delta-method interval covers the
/// true ratio of expectations about 95% of the time for skewed, correlated
/// per-position figures like KL, at the suite sizes qarena uses.
#[test]
fn paired_ratio_interval_covers_the_true_ratio() {
    const RUNS: usize = 4_000;
    let mut rng = Uniforms::new(0x5eed_0a71);
    println!("| positions | true ratio | 95% coverage |");
    for n in [100, 200] {
        for true_ratio in [0.6, 1.0] {
            let mut covered = 0;
            for _ in 0..RUNS {
                // Position difficulty: exponential with mean 1 (KL is
                // skewed); each strategy adds its own exponential noise.
                let mut a = Vec::with_capacity(n);
                let mut b = Vec::with_capacity(n);
                for _ in 0..n {
                    let hard = -(1.0 - rng.next()).ln();
                    let na = -(1.0 - rng.next()).ln();
                    let nb = -(1.0 - rng.next()).ln();
                    // E[a] = true_ratio · 2, E[b] = 2.
                    a.push(true_ratio * (hard + na));
                    b.push(hard + nb);
                }
                let r = RatioCi::paired(&a, &b).unwrap();
                if r.lower() <= true_ratio && true_ratio <= r.upper() {
                    covered += 1;
                }
            }
            let coverage = covered as f64 / RUNS as f64;
            println!("| {n} | {true_ratio} | {coverage:.4} |");
            assert!(
                (coverage - 0.95).abs() <= noise(0.95, RUNS) + 0.01,
                "coverage {coverage} at n {n}, ratio {true_ratio}"
            );
        }
    }
}

/// `plan_gate` against simulated matches (fixed seed): a variant as strong
/// as its baseline (draw ratio 0.4) passes "loses < 50 Elo at 95%" with
/// the planned power (0.8) at the planned number of games — short of it
/// at 90% of the games and beyond it at 110%, so the plan is within 10%
/// of the games a simulation needs.
#[test]
fn gate_plan_agrees_with_simulated_matches() {
    const MATCHES: usize = 4_000;
    let plan = plan_gate(50.0, 0.0, 0.4, 0.95, 0.8).unwrap();
    let gate = Gate {
        min_score: None,
        max_elo_loss: Some(50.0),
        confidence: 0.95,
        ..Gate::default()
    };
    let game = Game::new(0.5, 0.4);
    let mut rng = Uniforms::new(0x5eed_9a7e);
    let mut pass_rate = |n: u64| {
        let mut passed = 0;
        for _ in 0..MATCHES {
            let mut w = Wdl::default();
            for _ in 0..n {
                add(&mut w, game.play(&mut rng));
            }
            if check_gate(&elo_wdl(&w, 0.95), &gate).passed() {
                passed += 1;
            }
        }
        passed as f64 / MATCHES as f64
    };
    let n = plan.games;
    let (short, at, beyond) = (pass_rate(n * 9 / 10), pass_rate(n), pass_rate(n * 11 / 10));
    println!(
        "| planned games | power at 90% | at 100% | at 110% |\n| {n} | {short:.3} | {at:.3} | {beyond:.3} |"
    );
    assert!((at - 0.8).abs() < 0.03, "power {at} at {n} games");
    assert!(short < 0.8 && beyond > 0.8, "{short} {beyond}");
    // 100 games cannot show "< 50 Elo" even at a perfect 50%: the interval
    // is wider than 50 Elo.
    let hundred = plan_gate(50.0, 0.0, 0.4, 0.95, 0.8)
        .map(|p| p.sigma)
        .unwrap();
    let half_width = 1.96 * hundred / 10.0;
    assert!(elo_from_score(0.5 - half_width) < -50.0);
}

/// `check_gate` on the SPRT basis, evaluated after every 5 pairs as a
/// match does (fixed seed): "loses < 50 Elo" with alpha = beta = 0.05
/// passes a variant that loses exactly 50 Elo at most about 5% of the time
/// and fails one that loses nothing at most about 5% of the time, on
/// game-by-game (trinomial) and paired (pentanomial) counts; every verdict
/// is the SPRT's (H1 pass, H0 fail, continue undecided). The SPRT itself is
/// checked by `sprt_error_rates_and_length`; this checks the gate's mapping
/// and its hypotheses `elo0 = −X`, `elo1 = 0`.
#[test]
fn sprt_gate_error_rates() {
    const RUNS: usize = 1_000;
    const PAIRS_PER_CHECK: usize = 5;
    const CAP_GAMES: u64 = 20_000;
    const DRAWS: f64 = 0.4;
    let gate = Gate {
        max_elo_loss: Some(50.0),
        basis: GateBasis::Sprt {
            alpha: 0.05,
            beta: 0.05,
        },
        ..Gate::default()
    };
    let mut rng = Uniforms::new(0x5eed_9a7f);
    println!("| counts | true Elo | runs | wrong verdicts | undecided | mean games |");
    for paired in [false, true] {
        for (true_elo, wrong, nominal) in [
            (-50.0, GateVerdict::Pass, 0.05),
            (0.0, GateVerdict::Fail, 0.05),
        ] {
            let game = Game::new(score_from_elo(true_elo), DRAWS);
            let (mut errors, mut undecided, mut total_games) = (0usize, 0usize, 0u64);
            let mut pairs = Vec::new();
            for _ in 0..RUNS {
                pairs.clear();
                let mut w = Wdl::default();
                let outcome = loop {
                    for _ in 0..PAIRS_PER_CHECK {
                        let pair = (game.play(&mut rng), game.play(&mut rng));
                        add(&mut w, pair.0);
                        add(&mut w, pair.1);
                        pairs.push(pair);
                    }
                    let report = if paired {
                        elo_penta(&penta_from_pairs(&pairs), 0.95)
                    } else {
                        elo_wdl(&w, 0.95)
                    };
                    let out = check_gate(&report, &gate);
                    if out.verdict != GateVerdict::Undecided || w.games() >= CAP_GAMES {
                        break out;
                    }
                };
                let sprt = outcome.sprt.expect("the SPRT basis reports its SPRT");
                let expected = match sprt.verdict {
                    SprtVerdict::AcceptH1 => GateVerdict::Pass,
                    SprtVerdict::AcceptH0 => GateVerdict::Fail,
                    SprtVerdict::Continue => GateVerdict::Undecided,
                };
                assert_eq!(outcome.verdict, expected, "{outcome:?}");
                total_games += w.games();
                if outcome.verdict == wrong {
                    errors += 1;
                }
                if outcome.verdict == GateVerdict::Undecided {
                    undecided += 1;
                }
            }
            let rate = errors as f64 / RUNS as f64;
            let model = if paired { "pentanomial" } else { "trinomial" };
            println!(
                "| {model} | {true_elo} | {RUNS} | {rate:.4} | {undecided} | {:.0} |",
                total_games as f64 / RUNS as f64
            );
            assert!(
                rate <= nominal + noise(nominal, RUNS),
                "{model}: wrong verdict rate {rate} at Elo {true_elo} (nominal {nominal})"
            );
            assert!(
                rate >= nominal / 5.0,
                "{model}: wrong verdict rate {rate} at Elo {true_elo} is far below {nominal}: \
                 is the gate testing the hypotheses it claims?"
            );
            assert_eq!(undecided, 0, "{model}: runs hit the cap at Elo {true_elo}");
        }
    }
}
