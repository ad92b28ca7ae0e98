//! Policy regret: how much winrate a net's policy gives away, judged by the
//! original net's own value one move ahead.
//!
//! A policy KL measures how far a variant's policy is from the original's,
//! whichever way it moves. Play cares about the direction: mass moved from
//! a good move to a worse one costs games, mass moved the other way can win
//! them. For every legal move `m` of a position the original net is run on
//! the position after `m`; `v(m)` is the mover's winrate there (the mean of
//! two board symmetries). A policy `q` then has the regret
//! `Σ q(m) (max v − v(m)) / Σ q(m)` over the legal board moves (pass is left
//! out: its value is the game's end, not a move's). The probe metric
//! `policy_regret` is the variant's mean regret minus the original's on the
//! same positions, in winrate: negative when the variant's policy prefers
//! moves the original itself judges better.

use qarena_go::{v7_inputs, Color, KataRules, Move, Point};
use qarena_models::katago_net::KataNet;

use crate::error::ProbeError;
use crate::katago::RawNnOutputs;
use crate::native::{with_colours, BATCH};
use crate::suite::{Positions, Suite};

/// The original net's value of every legal move of every position of a
/// suite, and the original's own regret on them.
#[derive(Debug, Clone)]
pub struct MoveValues {
    /// Per position: (policy index, the mover's winrate after the move).
    moves: Vec<Vec<(usize, f64)>>,
    /// The original policy's mean regret.
    reference: f64,
}

/// Symmetries each move's value is averaged over.
const SYMMETRIES: [u8; 2] = [0, 5];

impl MoveValues {
    /// Evaluates every legal move of every position of `suite` with `net`,
    /// whose outputs on the suite itself are `original`.
    pub fn new(
        net: &KataNet,
        suite: &Suite,
        original: &RawNnOutputs,
    ) -> Result<MoveValues, ProbeError> {
        let Positions::Go { setup, lines } = suite.positions() else {
            return Err(ProbeError::Setup(format!(
                "policy regret needs a Go suite; {} is not one",
                suite.name
            )));
        };
        if original.positions.len() != lines.len() {
            return Err(ProbeError::Setup(format!(
                "{} outputs for the {} positions of {}",
                original.positions.len(),
                lines.len(),
                suite.name
            )));
        }
        let rules = KataRules::parse(&setup.rules).map_err(|e| ProbeError::Setup(e.to_string()))?;
        let n = usize::from(setup.board_size);
        let mut moves = Vec::with_capacity(lines.len());
        for (line, out) in lines.iter().zip(&original.positions) {
            let mover = if line.len() % 2 == 0 {
                Color::Black
            } else {
                Color::White
            };
            let legal: Vec<usize> = (0..n * n)
                .filter(|&j| out.policy.get(j).is_some_and(|p| p.is_finite()))
                .collect();
            let mut children = Vec::with_capacity(legal.len());
            for &j in &legal {
                let mut next = line.clone();
                next.push(Move::Play(Point::new((j % n) as u8, (j / n) as u8)));
                children.push(
                    v7_inputs(setup.board_size, setup.komi, &rules, &with_colours(&next))
                        .map_err(|e| ProbeError::Setup(e.to_string()))?,
                );
            }
            let mut value = vec![0.0; legal.len()];
            for s in SYMMETRIES {
                for (k, chunk) in children.chunks(BATCH).enumerate() {
                    let evals = net
                        .evaluate(chunk, s)
                        .map_err(|e| ProbeError::Setup(e.to_string()))?;
                    for (i, e) in evals.iter().enumerate() {
                        let decided = f64::from(e.white_win + e.white_loss);
                        let white = if decided > 0.0 {
                            f64::from(e.white_win) / decided
                        } else {
                            0.5
                        };
                        let mine = if mover == Color::White {
                            white
                        } else {
                            1.0 - white
                        };
                        value[k * BATCH + i] += mine / SYMMETRIES.len() as f64;
                    }
                }
            }
            moves.push(legal.into_iter().zip(value).collect());
        }
        let mut mv = MoveValues {
            moves,
            reference: 0.0,
        };
        mv.reference = mv.regret(original).unwrap_or(0.0);
        Ok(mv)
    }

    /// The regret of each position's policy in `outputs` (the suite's
    /// positions in order); `None` when they do not match the suite.
    pub fn per_position(&self, outputs: &RawNnOutputs) -> Option<Vec<f64>> {
        if outputs.positions.len() != self.moves.len() || self.moves.is_empty() {
            return None;
        }
        let mut out = Vec::with_capacity(self.moves.len());
        for (moves, pos) in self.moves.iter().zip(&outputs.positions) {
            let best = moves.iter().map(|m| m.1).fold(0.0, f64::max);
            let (mut mass, mut lost) = (0.0, 0.0);
            for &(j, v) in moves {
                let q = pos.policy.get(j).copied().filter(|q| q.is_finite())?;
                mass += q;
                lost += q * (best - v);
            }
            out.push(if mass > 0.0 { lost / mass } else { 0.0 });
        }
        Some(out)
    }

    /// The mean regret of the policies in `outputs`.
    pub fn regret(&self, outputs: &RawNnOutputs) -> Option<f64> {
        let per = self.per_position(outputs)?;
        Some(per.iter().sum::<f64>() / per.len() as f64)
    }

    /// The variant's regret minus the original's: the `policy_regret`
    /// metric.
    pub fn excess(&self, outputs: &RawNnOutputs) -> Option<f64> {
        self.regret(outputs).map(|r| r - self.reference)
    }

    /// The original policy's own mean regret.
    pub fn reference(&self) -> f64 {
        self.reference
    }
}
