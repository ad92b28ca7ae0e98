//! Balanced Go opening books, drawn from a net's own policy.
//!
//! Each opening is a walk from the empty board: a number of plies drawn
//! from a range, every move sampled in proportion to the net's policy
//! (passes and moves qarena's rules refuse are never drawn). The final
//! position is kept when the net, averaged over the 8 board symmetries,
//! gives Black a winrate within `max_gap` of one half, and when no opening
//! already kept is the same move sequence under a board symmetry. Matches
//! then play each opening twice with colours swapped, so the games spread
//! over many positions instead of replaying the few lines a strong engine
//! prefers from the empty board.

use std::collections::HashSet;
use std::ops::RangeInclusive;

use qarena_go::{Game, GoOpening, KataRules, Move, Point, Rules};
use qarena_models::katago_net::KataNet;
use qarena_models::Model;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::native::with_colours;
use crate::ProbeError;

/// What book to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct BookSpec {
    pub count: usize,
    /// Plies per opening, drawn uniformly from this range.
    pub plies: RangeInclusive<usize>,
    /// Largest distance of Black's winrate from 0.5.
    pub max_gap: f32,
    pub seed: u64,
    pub size: u8,
    pub komi: f32,
}

/// One opening of a drawn book, with the net's verdict on it.
#[derive(Debug, Clone, PartialEq)]
pub struct BookEntry {
    pub moves: Vec<Move>,
    /// Black's winrate after the opening, the mean over 8 symmetries.
    pub black_winrate: f32,
}

/// Walks per kept opening before the draw gives up.
const TRIES_PER_OPENING: usize = 100;

/// Draws `spec.count` balanced openings with `model`'s policy and value.
/// `progress` is called with the number kept so far after each keep.
pub fn balanced_book(
    model: &Model,
    spec: &BookSpec,
    mut progress: impl FnMut(usize),
) -> Result<Vec<BookEntry>, ProbeError> {
    let points = usize::from(spec.size) * usize::from(spec.size);
    if spec.plies.is_empty() || *spec.plies.end() >= points {
        return Err(ProbeError::Setup(format!(
            "plies {}..={} do not fit a {}x{} board: give a range within 0..{points}",
            spec.plies.start(),
            spec.plies.end(),
            spec.size,
            spec.size
        )));
    }
    if !(spec.max_gap.is_finite() && (0.0..=0.5).contains(&spec.max_gap)) {
        return Err(ProbeError::Setup(format!(
            "the largest winrate gap must be in [0, 0.5], got {}",
            spec.max_gap
        )));
    }
    let net = KataNet::from_model(model).map_err(|e| ProbeError::Setup(e.to_string()))?;
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut seen: HashSet<Vec<u16>> = HashSet::new();
    let mut out = Vec::with_capacity(spec.count);
    let tries = spec
        .count
        .saturating_mul(TRIES_PER_OPENING)
        .max(TRIES_PER_OPENING);
    for _ in 0..tries {
        if out.len() == spec.count {
            break;
        }
        let plies = rng.gen_range(spec.plies.clone());
        let Some(moves) = walk(&net, spec, plies, &mut rng)? else {
            continue;
        };
        let key = qarena_go::symmetry_key(&moves, spec.size);
        if seen.contains(&key) {
            continue;
        }
        let black = black_winrate(&net, spec, &moves)?;
        if (black - 0.5).abs() > spec.max_gap {
            continue;
        }
        seen.insert(key);
        out.push(BookEntry {
            moves,
            black_winrate: black,
        });
        progress(out.len());
    }
    if out.len() < spec.count {
        return Err(ProbeError::Setup(format!(
            "{tries} walks gave only {} of {} balanced openings: widen the winrate gap or shorten the plies",
            out.len(),
            spec.count
        )));
    }
    Ok(out)
}

/// One walk of `plies` policy-sampled moves; `None` when a position had no
/// playable move with policy mass.
fn walk(
    net: &KataNet,
    spec: &BookSpec,
    plies: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Option<Vec<Move>>, ProbeError> {
    let mut game = Game::new(spec.size, spec.komi, Rules::default())
        .map_err(|e| ProbeError::Setup(e.to_string()))?;
    let mut moves = Vec::with_capacity(plies);
    let n = usize::from(spec.size);
    for k in 0..plies {
        let eval = evaluate(net, spec, &moves, rng.gen_range(0..8))?;
        let mut weights: Vec<(usize, f64)> = eval
            .policy
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_finite() && **p > 0.0)
            .map(|(i, &p)| (i, f64::from(p)))
            .collect();
        loop {
            let total: f64 = weights.iter().map(|w| w.1).sum();
            if weights.is_empty() || total <= 0.0 {
                return Ok(None);
            }
            let mut r = rng.gen::<f64>() * total;
            let mut pick = weights.len() - 1;
            for (j, w) in weights.iter().enumerate() {
                if r < w.1 {
                    pick = j;
                    break;
                }
                r -= w.1;
            }
            let i = weights[pick].0;
            let mv = Move::Play(Point {
                x: (i % n) as u8,
                y: (i / n) as u8,
            });
            if game.play(GoOpening::color(k), mv).is_ok() {
                moves.push(mv);
                break;
            }
            weights.swap_remove(pick);
        }
    }
    Ok(Some(moves))
}

fn evaluate(
    net: &KataNet,
    spec: &BookSpec,
    moves: &[Move],
    symmetry: u8,
) -> Result<qarena_models::katago_net::Evaluation, ProbeError> {
    let inputs = qarena_go::v7_inputs(
        spec.size,
        spec.komi,
        &KataRules::default(),
        &with_colours(moves),
    )
    .map_err(|e| ProbeError::Setup(e.to_string()))?;
    net.evaluate(&[inputs], symmetry)
        .map_err(|e| ProbeError::Setup(e.to_string()))?
        .pop()
        .ok_or_else(|| ProbeError::Setup("the forward pass returned nothing".to_string()))
}

/// Black's winrate (win against loss) after `moves`, over all 8 symmetries.
fn black_winrate(net: &KataNet, spec: &BookSpec, moves: &[Move]) -> Result<f32, ProbeError> {
    let mut sum = 0.0;
    for s in 0..8 {
        let e = evaluate(net, spec, moves, s)?;
        let decided = e.white_win + e.white_loss;
        sum += if decided > 0.0 {
            e.white_loss / decided
        } else {
            0.5
        };
    }
    Ok(sum / 8.0)
}

/// The book as a file `qarena match --openings` reads: a header naming how
/// it was drawn, `board_size` and `komi`, then one opening per line with
/// Black's winrate as a comment line above it.
pub fn write_book(entries: &[BookEntry], spec: &BookSpec, drawn_with: &str) -> String {
    let mut s = String::new();
    s.push_str("# qarena Go opening book\n");
    s.push_str(&format!(
        "# {} openings of {}..={} plies drawn from the policy of {drawn_with}, seed {};\n",
        entries.len(),
        spec.plies.start(),
        spec.plies.end(),
        spec.seed
    ));
    s.push_str(&format!(
        "# each kept when Black's winrate (mean of 8 symmetries) is within {} of 0.5.\n",
        spec.max_gap
    ));
    s.push_str(&format!("board_size {}\nkomi {}\n", spec.size, spec.komi));
    for e in entries {
        let opening = GoOpening {
            moves: e.moves.clone(),
            source: String::new(),
        };
        s.push_str(&format!(
            "# black {:.3}\n{}\n",
            e.black_winrate,
            opening.text(spec.size)
        ));
    }
    s
}
