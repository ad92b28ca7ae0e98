//! Ending games early on the engines' own scores, the way established
//! chess match runners do, each rule off unless configured.
//!
//! - Resign: both engines agree one side is lost: for `resign_moves`
//!   consecutive moves *of each side* (2 × N plies) the score, seen from
//!   White, stays at or beyond ∓`resign_score_cp` in the same direction.
//! - Draw: from move `draw_after_move` on (the PGN move number), the last
//!   `draw_moves` moves of each side all scored within ±`draw_score_cp`.
//!   Like cutechess, a capture or pawn move restarts the count: a position
//!   still being simplified is not yet a settled draw.
//! - A ply without a score (the engine printed none) restarts both counts,
//!   so a silent engine is never adjudicated on stale numbers.
//! - Mate scores count as beyond any centipawn threshold.

use qarena_uci::Score;
use serde::{Deserialize, Serialize};
use shakmaty::Color;

/// The `[chess.adjudication]` table. A rule is on when its score is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Adjudication {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resign_score_cp: Option<i32>,
    /// Default 3.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resign_moves: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draw_score_cp: Option<i32>,
    /// Default 8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draw_moves: Option<u32>,
    /// Default 34.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draw_after_move: Option<u32>,
    /// Plies in the record (book moves included) after which the game is
    /// a draw (`MoveCap`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_plies: Option<u32>,
}

pub const DEFAULT_RESIGN_MOVES: u32 = 3;
pub const DEFAULT_DRAW_MOVES: u32 = 8;
pub const DEFAULT_DRAW_AFTER_MOVE: u32 = 34;

/// A centipawn value standing in for a mate score.
const MATE_CP: i64 = 100_000;

/// What the adjudicator decided after a ply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// `loser` is lost by agreement of both engines.
    Resign {
        loser: Color,
    },
    Draw,
}

/// Running counts for one game.
#[derive(Debug, Clone)]
pub struct Adjudicator {
    resign: Option<(i64, u32)>,
    draw: Option<(i64, u32, u32)>,
    /// Consecutive plies with White at or below −R / at or above +R.
    white_lost: u32,
    black_lost: u32,
    /// Consecutive reversible plies within the draw window.
    drawish: u32,
}

impl Adjudicator {
    pub fn new(cfg: &Adjudication) -> Adjudicator {
        Adjudicator {
            resign: cfg.resign_score_cp.map(|cp| {
                (
                    i64::from(cp).abs(),
                    cfg.resign_moves.unwrap_or(DEFAULT_RESIGN_MOVES).max(1),
                )
            }),
            draw: cfg.draw_score_cp.map(|cp| {
                (
                    i64::from(cp).abs(),
                    cfg.draw_moves.unwrap_or(DEFAULT_DRAW_MOVES).max(1),
                    cfg.draw_after_move.unwrap_or(DEFAULT_DRAW_AFTER_MOVE),
                )
            }),
            white_lost: 0,
            black_lost: 0,
            drawish: 0,
        }
    }

    /// Feeds one engine move: who moved, its score (from the mover's point
    /// of view), whether the move was a capture or pawn move, and the PGN
    /// move number of the position after it.
    pub fn record(
        &mut self,
        mover: Color,
        score: Option<Score>,
        irreversible: bool,
        move_number: u32,
    ) -> Option<Verdict> {
        let Some(score) = score else {
            self.white_lost = 0;
            self.black_lost = 0;
            self.drawish = 0;
            return None;
        };
        let mover_cp = as_cp(score);
        let white_cp = if mover == Color::White {
            mover_cp
        } else {
            -mover_cp
        };
        if let Some((r, n)) = self.resign {
            self.white_lost = if white_cp <= -r {
                self.white_lost + 1
            } else {
                0
            };
            self.black_lost = if white_cp >= r {
                self.black_lost + 1
            } else {
                0
            };
            if self.white_lost >= 2 * n {
                return Some(Verdict::Resign {
                    loser: Color::White,
                });
            }
            if self.black_lost >= 2 * n {
                return Some(Verdict::Resign {
                    loser: Color::Black,
                });
            }
        }
        if let Some((d, n, after)) = self.draw {
            self.drawish = if irreversible || mover_cp.abs() > d {
                0
            } else {
                self.drawish + 1
            };
            if self.drawish >= 2 * n && move_number >= after {
                return Some(Verdict::Draw);
            }
        }
        None
    }
}

fn as_cp(score: Score) -> i64 {
    match score {
        Score::Cp(cp) => i64::from(cp),
        // Mate 0 (already mated) counts as lost for the side to move.
        Score::Mate(n) if n > 0 => MATE_CP - i64::from(n),
        Score::Mate(n) => -MATE_CP - i64::from(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Adjudication {
        Adjudication {
            resign_score_cp: Some(500),
            resign_moves: Some(2),
            draw_score_cp: Some(10),
            draw_moves: Some(2),
            draw_after_move: Some(10),
            max_plies: None,
        }
    }

    #[test]
    fn resign_needs_both_sides_for_n_moves() {
        let mut a = Adjudicator::new(&cfg());
        // White mover says −600, Black mover says +600: White is lost.
        let seq = [
            (Color::White, -600),
            (Color::Black, 600),
            (Color::White, -700),
        ];
        for (c, s) in seq {
            assert_eq!(a.record(c, Some(Score::Cp(s)), false, 5), None);
        }
        assert_eq!(
            a.record(Color::Black, Some(Score::Mate(3)), false, 6),
            Some(Verdict::Resign {
                loser: Color::White
            })
        );
        // One dissenting ply resets.
        let mut a = Adjudicator::new(&cfg());
        a.record(Color::White, Some(Score::Cp(-600)), false, 5);
        a.record(Color::Black, Some(Score::Cp(100)), false, 5);
        a.record(Color::White, Some(Score::Cp(-600)), false, 6);
        assert_eq!(a.record(Color::Black, Some(Score::Cp(600)), false, 6), None);
    }

    #[test]
    fn draw_waits_for_move_number_and_resets_on_captures() {
        let mut a = Adjudicator::new(&cfg());
        for i in 0..4 {
            assert_eq!(
                a.record(Color::White, Some(Score::Cp(0)), false, 6 + i),
                None
            );
        }
        assert_eq!(
            a.record(Color::White, Some(Score::Cp(5)), false, 10),
            Some(Verdict::Draw)
        );
        let mut a = Adjudicator::new(&cfg());
        for _ in 0..3 {
            a.record(Color::White, Some(Score::Cp(0)), false, 20);
        }
        assert_eq!(a.record(Color::Black, Some(Score::Cp(0)), true, 20), None);
        assert_eq!(a.record(Color::Black, None, false, 20), None);
        assert_eq!(a.record(Color::Black, Some(Score::Cp(0)), false, 20), None);
    }

    #[test]
    fn off_by_default() {
        let mut a = Adjudicator::new(&Adjudication::default());
        for _ in 0..100 {
            assert_eq!(a.record(Color::White, Some(Score::Cp(0)), false, 99), None);
            assert_eq!(
                a.record(Color::Black, Some(Score::Mate(-1)), false, 99),
                None
            );
        }
    }
}
