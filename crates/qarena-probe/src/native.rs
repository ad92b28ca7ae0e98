//! KataGo's raw network outputs computed by qarena's own forward pass
//! ([`qarena_models::katago_net`]) instead of a `katago` process: the same
//! [`RawNnOutputs`] as the `katago-raw-nn` probe, for calibration and for
//! screening many variants in one process.
//!
//! The forward pass is checked against `kata-raw-nn` on the default 9×9
//! suite under every symmetry (`tests/katago_forward.rs`).

use std::time::Instant;

use qarena_go::{v7_inputs, Color, KataRules, Move, NetInputs};
use qarena_models::katago_net::KataNet;
use qarena_models::Model;

use crate::error::ProbeError;
use crate::katago::{RawNn, RawNnOutputs};
use crate::suite::{Positions, Suite};

/// Positions evaluated per forward pass.
pub const BATCH: usize = 64;

/// The network inputs of every position of a Go suite.
pub fn suite_inputs(suite: &Suite) -> Result<Vec<NetInputs>, ProbeError> {
    let Positions::Go { setup, lines } = suite.positions() else {
        return Err(ProbeError::Setup(format!(
            "suite {} holds {} positions; KataGo's inputs need Go positions",
            suite.name,
            suite.game()
        )));
    };
    let rules = KataRules::parse(&setup.rules).map_err(|e| {
        ProbeError::Setup(format!(
            "suite {}: rules `{}`: {e}",
            suite.name, setup.rules
        ))
    })?;
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let moves = with_colours(line);
            v7_inputs(setup.board_size, setup.komi, &rules, &moves)
                .map_err(|e| ProbeError::Setup(format!("suite {} position {i}: {e}", suite.name)))
        })
        .collect()
}

/// Black first, colours alternating (as suites store lines).
pub fn with_colours(line: &[Move]) -> Vec<(Color, Move)> {
    line.iter()
        .enumerate()
        .map(|(k, &m)| {
            let c = if k % 2 == 0 {
                Color::Black
            } else {
                Color::White
            };
            (c, m)
        })
        .collect()
}

/// Evaluates `model` on every position of `suite` under `symmetry`.
pub fn evaluate(model: &Model, suite: &Suite, symmetry: u8) -> Result<RawNnOutputs, ProbeError> {
    let started = Instant::now();
    let net = KataNet::from_model(model).map_err(|e| ProbeError::Setup(e.to_string()))?;
    let inputs = suite_inputs(suite)?;
    evaluate_inputs(&net, &inputs, symmetry, started)
}

/// Evaluates prepared inputs (all on one board size).
pub fn evaluate_inputs(
    net: &KataNet,
    inputs: &[NetInputs],
    symmetry: u8,
    started: Instant,
) -> Result<RawNnOutputs, ProbeError> {
    if symmetry > 7 {
        return Err(ProbeError::Setup(format!(
            "symmetry {symmetry} does not exist: KataGo's symmetries are 0..=7"
        )));
    }
    let board_size = inputs.first().map(|i| i.size).unwrap_or(0);
    let first = Instant::now();
    let mut positions = Vec::with_capacity(inputs.len());
    for chunk in inputs.chunks(BATCH) {
        let evals = net
            .evaluate(chunk, symmetry)
            .map_err(|e| ProbeError::Setup(e.to_string()))?;
        for (inp, e) in chunk.iter().zip(evals) {
            let white = inp.to_move == Color::White;
            positions.push(RawNn {
                to_move: inp.to_move,
                policy: e.policy.iter().map(|&p| f64::from(p)).collect(),
                pass: f64::from(e.pass),
                winrate: f64::from(if white { e.white_win } else { e.white_loss }),
                lead: f64::from(if white { e.white_lead } else { -e.white_lead }),
            });
        }
    }
    Ok(RawNnOutputs {
        board_size,
        symmetry,
        positions,
        seconds: started.elapsed().as_secs_f64(),
        answer_seconds: first.elapsed().as_secs_f64(),
        // In this process: no engine of its own to measure.
        peak_rss_bytes: None,
        cpu_seconds: None,
    })
}
