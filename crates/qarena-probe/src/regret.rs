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
//!
//! A net that plays without search (one visit) plays its policy's top move,
//! so what that play gives away is the regret of the top move alone:
//! `max v − v(argmax q)`, the top taken over the same legal board moves.
//! The probe metric `top1_regret` is the variant's mean of it minus the
//! original's. It changes only where the two nets' top moves differ, and
//! then by what the original judges the swap to cost, so it weighs a
//! disagreement between two near-equal moves at nothing and a blunder at
//! its full price.

use qarena_go::{v7_inputs, Color, KataRules, Move, Point};
use qarena_models::katago_net::KataNet;

use crate::error::ProbeError;
use crate::katago::RawNnOutputs;
use crate::native::{with_colours, BATCH};
use crate::suite::{Positions, Suite};

/// Which regret: of the whole policy, or of its top move alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegretKind {
    /// Every legal move weighed by its policy mass (`policy_regret`).
    Policy,
    /// The policy's top move, what one-visit play plays (`top1_regret`).
    TopMove,
}

impl RegretKind {
    pub const ALL: [RegretKind; 2] = [RegretKind::Policy, RegretKind::TopMove];

    /// The probe metric of the variant's mean minus the original's.
    pub fn metric(self) -> &'static str {
        match self {
            RegretKind::Policy => "policy_regret",
            RegretKind::TopMove => "top1_regret",
        }
    }

    /// Its place in [`RegretKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The original net's value of every legal move of every position of a
/// suite, and the original's own regret on them.
#[derive(Debug, Clone)]
pub struct MoveValues {
    /// Per position: (policy index, the mover's winrate after the move).
    moves: Vec<Vec<(usize, f64)>>,
    /// The original's mean regret of each kind, by [`RegretKind::index`].
    reference: [f64; 2],
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
            reference: [0.0; 2],
        };
        mv.reference = RegretKind::ALL.map(|kind| mv.mean(kind, original).unwrap_or(0.0));
        Ok(mv)
    }

    /// `regret` of every position of `outputs` (the suite's positions in
    /// order), given the position's (policy index, value) moves, the best
    /// value and the policy; `None` when they do not match the suite or a
    /// legal move has no finite policy.
    fn each_position(
        &self,
        outputs: &RawNnOutputs,
        regret: impl Fn(&[(usize, f64)], f64, &[f64]) -> Option<f64>,
    ) -> Option<Vec<f64>> {
        if outputs.positions.len() != self.moves.len() || self.moves.is_empty() {
            return None;
        }
        self.moves
            .iter()
            .zip(&outputs.positions)
            .map(|(moves, pos)| {
                let best = moves.iter().map(|m| m.1).fold(0.0, f64::max);
                regret(moves, best, &pos.policy)
            })
            .collect()
    }

    /// The regret of each position of `outputs` (the suite's positions in
    /// order): of its policy, or of its top move (the first of equal tops;
    /// see the module docs); `None` when they do not match the suite.
    pub fn per_position(&self, kind: RegretKind, outputs: &RawNnOutputs) -> Option<Vec<f64>> {
        match kind {
            RegretKind::Policy => self.each_position(outputs, |moves, best, policy| {
                let (mut mass, mut lost) = (0.0, 0.0);
                for &(j, v) in moves {
                    let q = policy.get(j).copied().filter(|q| q.is_finite())?;
                    mass += q;
                    lost += q * (best - v);
                }
                Some(if mass > 0.0 { lost / mass } else { 0.0 })
            }),
            RegretKind::TopMove => self.each_position(outputs, |moves, best, policy| {
                let mut top: Option<(f64, f64)> = None;
                for &(j, v) in moves {
                    let q = policy.get(j).copied().filter(|q| q.is_finite())?;
                    if top.is_none_or(|(tq, _)| q > tq) {
                        top = Some((q, v));
                    }
                }
                Some(top.map_or(0.0, |(_, v)| best - v))
            }),
        }
    }

    /// The mean regret over the positions of `outputs`.
    pub fn mean(&self, kind: RegretKind, outputs: &RawNnOutputs) -> Option<f64> {
        let per = self.per_position(kind, outputs)?;
        Some(per.iter().sum::<f64>() / per.len() as f64)
    }

    /// The variant's mean regret minus the original's: the probe metric
    /// [`RegretKind::metric`].
    pub fn excess(&self, kind: RegretKind, outputs: &RawNnOutputs) -> Option<f64> {
        self.mean(kind, outputs).map(|r| r - self.reference(kind))
    }

    /// The original's own mean regret.
    pub fn reference(&self, kind: RegretKind) -> f64 {
        self.reference[kind.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::katago::RawNn;

    fn outputs(policies: &[Vec<f64>]) -> RawNnOutputs {
        RawNnOutputs {
            board_size: 2,
            symmetry: 0,
            positions: policies
                .iter()
                .map(|p| RawNn {
                    to_move: Color::Black,
                    policy: p.clone(),
                    pass: 0.0,
                    winrate: 0.5,
                    lead: 0.0,
                })
                .collect(),
            seconds: 0.0,
            answer_seconds: 0.0,
            peak_rss_bytes: None,
            cpu_seconds: None,
        }
    }

    #[test]
    fn top_move_regret_prices_a_changed_top_move_at_what_the_swap_costs() {
        // Two positions; point 3 is illegal in the first (NaN policy).
        let values = MoveValues {
            moves: vec![
                vec![(0, 0.60), (1, 0.59), (2, 0.20)],
                vec![(0, 0.50), (1, 0.10), (2, 0.45), (3, 0.30)],
            ],
            reference: [0.0; 2],
        };
        let original = outputs(&[
            vec![0.50, 0.40, 0.10, f64::NAN],
            vec![0.70, 0.10, 0.10, 0.10],
        ]);
        // The original plays the best move in both: no top-move regret.
        assert_eq!(
            values.per_position(RegretKind::TopMove, &original),
            Some(vec![0.0, 0.0])
        );
        // A variant whose top moves are the near-equal second (costs 0.01)
        // and a blunder (costs 0.40): priced at exactly that.
        let variant = outputs(&[
            vec![0.40, 0.50, 0.10, f64::NAN],
            vec![0.20, 0.50, 0.20, 0.10],
        ]);
        let per = values.per_position(RegretKind::TopMove, &variant).unwrap();
        assert!((per[0] - 0.01).abs() < 1e-12 && (per[1] - 0.40).abs() < 1e-12);
        assert!((values.mean(RegretKind::TopMove, &variant).unwrap() - 0.205).abs() < 1e-12);
        // The policy regret of the same variant weighs every move by its
        // mass, so the two differ.
        let policy = values.mean(RegretKind::Policy, &variant).unwrap();
        assert!((policy - 0.205).abs() > 0.01, "{policy}");
        // A legal move without a finite policy, or another suite: none.
        let broken = outputs(&[vec![f64::NAN; 4], vec![0.25; 4]]);
        assert_eq!(values.per_position(RegretKind::TopMove, &broken), None);
        assert_eq!(
            values.per_position(RegretKind::TopMove, &outputs(&[vec![0.25; 4]])),
            None
        );
    }
}
