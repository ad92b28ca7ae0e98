//! qarena's KataGo forward pass (input features, trunk, heads,
//! post-processing) against KataGo's own `kata-raw-nn` on the default 9×9
//! suite, under every board symmetry. The binary comes from `QARENA_KATAGO`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::Path;
use std::sync::atomic::AtomicBool;

use qarena_models::Model;
use qarena_probe::{native, KataGoProbe, RawNnOutputs, Suite};

fn default_suite() -> Suite {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../suites/go9-default.suite");
    Suite::load(&path).unwrap()
}

/// Largest differences between two evaluations of the same positions:
/// policy probability (over legal moves and pass), winrate, lead; and the
/// number of positions whose legal-move sets differ.
fn max_diffs(a: &RawNnOutputs, b: &RawNnOutputs) -> (f64, f64, f64, usize) {
    assert_eq!(a.positions.len(), b.positions.len());
    let (mut dp, mut dw, mut dl, mut legal) = (0f64, 0f64, 0f64, 0);
    for (x, y) in a.positions.iter().zip(&b.positions) {
        assert_eq!(x.to_move, y.to_move);
        if x.policy
            .iter()
            .zip(&y.policy)
            .any(|(p, q)| p.is_nan() != q.is_nan())
        {
            legal += 1;
        }
        for (p, q) in x.policy.iter().zip(&y.policy) {
            if !p.is_nan() && !q.is_nan() {
                dp = dp.max((p - q).abs());
            }
        }
        dp = dp.max((x.pass - y.pass).abs());
        dw = dw.max((x.winrate - y.winrate).abs());
        dl = dl.max((x.lead - y.lead).abs());
    }
    (dp, dw, dl, legal)
}

#[test]
fn the_forward_pass_matches_kata_raw_nn_under_every_symmetry() {
    let (bin, net, cfg) = qarena_testkit::katago();
    let suite = default_suite();
    let model = Model::load(&net).unwrap();
    let probe = KataGoProbe::new(bin, cfg);
    let symmetries: Vec<u8> = (0..8).collect();
    let theirs = probe
        .evaluate_symmetries(&net, &suite, &symmetries, &AtomicBool::new(false))
        .unwrap();
    for (s, reference) in symmetries.iter().zip(&theirs) {
        let ours = native::evaluate(&model, &suite, *s).unwrap();
        let (dp, dw, dl, legal) = max_diffs(&ours, reference);
        println!(
            "symmetry {s}: {} positions, max |Δ policy| {dp:.2e}, |Δ winrate| {dw:.2e}, |Δ lead| {dl:.2e}, legal sets differing {legal}",
            ours.positions.len()
        );
        assert_eq!(legal, 0, "symmetry {s}: legal moves differ");
        // kata-raw-nn prints probabilities with 6 decimals and the lead
        // (the net's output × 20) with 3: the bounds are 1e-4 on what the
        // net computes plus the printing's rounding.
        assert!(dp < 1e-4, "symmetry {s}: policy differs by {dp}");
        assert!(dw < 1e-4, "symmetry {s}: winrate differs by {dw}");
        assert!(
            (dl - 5e-4) / 20.0 < 1e-4,
            "symmetry {s}: lead differs by {dl}"
        );
    }
}

/// Random legal games (seeded) on `size`, cut at spread move numbers.
fn random_lines(size: u8, games: usize, seed: u64) -> Vec<Vec<qarena_go::Move>> {
    use qarena_go::{Game, Rules};
    let mut state = seed;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    let mut lines = Vec::new();
    for g in 0..games {
        let mut game = Game::new(size, 7.0, Rules::default()).unwrap();
        let len = 10 + g * usize::from(size) * 2;
        while game.moves().len() < len {
            let c = game.to_move();
            let legal = game.legal_moves(c);
            // Pass only now and then, so stones (and ladders) accumulate.
            let playable: Vec<_> = legal
                .iter()
                .filter(|m| **m != qarena_go::Move::Pass)
                .copied()
                .collect();
            let mv = if playable.is_empty() || next() % 40 == 0 {
                qarena_go::Move::Pass
            } else {
                playable[next() % playable.len()]
            };
            game.play(c, mv).unwrap();
        }
        lines.push(game.moves().iter().map(|(_, m)| *m).collect());
    }
    lines
}

#[test]
fn the_forward_pass_matches_on_other_board_sizes_and_rules() {
    let (bin, net, cfg) = qarena_testkit::katago();
    let model = Model::load(&net).unwrap();
    let probe = KataGoProbe::new(bin, cfg);
    for (size, rules, komi) in [
        (13u8, "japanese", 6.5f32),
        (19, "koSIMPLEscoreAREAtaxNONEsui1", 7.5),
        (7, "koSITUATIONALscoreTERRITORYtaxSEKIsui0", 0.5),
    ] {
        let setup = qarena_probe::GoSetup {
            board_size: size,
            komi,
            rules: rules.to_string(),
        };
        let suite = Suite::go("random", setup, random_lines(size, 4, u64::from(size))).unwrap();
        let theirs = probe
            .evaluate_symmetries(&net, &suite, &[0, 5], &AtomicBool::new(false))
            .unwrap();
        for (s, reference) in [0u8, 5].iter().zip(&theirs) {
            let ours = native::evaluate(&model, &suite, *s).unwrap();
            let (dp, dw, dl, legal) = max_diffs(&ours, reference);
            println!("{size}x{size} {rules} symmetry {s}: |Δ policy| {dp:.2e}, |Δ winrate| {dw:.2e}, |Δ lead| {dl:.2e}");
            assert_eq!(legal, 0, "{size}x{size} {rules}: legal moves differ");
            assert!(dp < 1e-4 && dw < 1e-4 && (dl - 5e-4) / 20.0 < 1e-4);
        }
    }
}

#[test]
fn inputs_the_forward_pass_cannot_take_are_refused_with_a_reason() {
    use qarena_go::{v7_inputs, KataRules};
    use qarena_models::katago_net::KataNet;
    let (_, net, _) = qarena_testkit::katago();
    let model = Model::load(&net).unwrap();
    let knet = KataNet::from_model(&model).unwrap();
    let rules = KataRules::default();
    let nine = v7_inputs(9, 7.0, &rules, &[]).unwrap();
    let seven = v7_inputs(7, 7.0, &rules, &[]).unwrap();
    let err = knet.evaluate(&[nine.clone(), seven], 0).unwrap_err();
    assert!(err.to_string().contains("mixes board sizes"), "{err}");
    let mut short = nine.clone();
    short.spatial.truncate(100);
    let err = knet.evaluate(&[short], 0).unwrap_err();
    assert!(err.to_string().contains("planes"), "{err}");
    let mut no_mask = nine;
    no_mask.legal.clear();
    assert!(knet.evaluate(&[no_mask], 0).is_err());
    assert!(knet.evaluate(&[], 0).unwrap().is_empty());
}
