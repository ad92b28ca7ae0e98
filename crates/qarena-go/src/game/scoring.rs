//! Scoring with dead stones: checking a claimed list of dead stones against
//! the position, and counting the area once they are removed.
//!
//! Engines that pass with dead stones still on the board name them with GTP
//! `final_status_list dead`. Such a list is a claim, not a fact: every named
//! point must hold a stone, and a stone is dead only together with its whole
//! chain, so a list naming one stone of a chain removes the chain.

use thiserror::Error;

use super::{empty_region, Board, Game, Scratch};
use crate::vertex::{format_vertex, parse_vertex, VertexError};
use crate::{Color, Move, Point};

/// Why a claimed list of dead stones does not fit the position.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DeadStonesError {
    #[error("{0}")]
    Vertex(#[from] VertexError),
    #[error("the list names `pass`, which is not a stone")]
    Pass,
    #[error("the list names {vertex}, an empty point")]
    EmptyPoint { vertex: String },
}

impl Game {
    /// Checks a claimed list of dead stones (GTP vertices) against the
    /// current position and returns the whole chains of the named stones,
    /// each point once, sorted. Naming an empty point, an off-board point or
    /// `pass` rejects the whole list: such a list does not describe this game.
    pub fn dead_chains(&self, vertices: &[&str]) -> Result<Vec<Point>, DeadStonesError> {
        let size = self.size();
        let mut points = Vec::with_capacity(vertices.len());
        for v in vertices {
            match parse_vertex(v, size)? {
                Move::Pass => return Err(DeadStonesError::Pass),
                Move::Play(p) => points.push(p),
            }
        }
        let board = &self.board;
        let mut dead = vec![false; board.cells.len()];
        let mut scratch = Scratch::new(board.cells.len());
        for p in points {
            let Some(i) = self.index(p) else {
                // parse_vertex only yields points on the board.
                continue;
            };
            let Some(color) = board.cells[i] else {
                return Err(DeadStonesError::EmptyPoint {
                    vertex: format_vertex(Move::Play(p), size),
                });
            };
            if dead[i] {
                continue;
            }
            chain(board, i, color, &mut scratch);
            for &j in &scratch.group {
                dead[j] = true;
            }
        }
        let mut out: Vec<Point> = dead
            .iter()
            .enumerate()
            .filter(|(_, &d)| d)
            .map(|(i, _)| Point {
                // Both coordinates are below size <= MAX_SIZE, so they fit a u8.
                x: (i % board.size) as u8,
                y: (i / board.size) as u8,
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Area score after removing the stones at `dead` (points without a
    /// stone are ignored): each side's stones plus the empty regions that
    /// touch only that side, Black minus White minus komi. With no dead
    /// stones this is [`Game::area_score`].
    pub fn area_score_without(&self, dead: &[Point]) -> f32 {
        let mut board = self.board.clone();
        for &p in dead {
            if let Some(i) = self.index(p) {
                board.cells[i] = None;
            }
        }
        area(&board) as f32 - self.komi
    }
}

/// The stones of the chain at `start` (of `color`), left in `scratch.group`.
fn chain(board: &Board, start: usize, color: Color, scratch: &mut Scratch) {
    scratch.next_generation();
    scratch.visit(start);
    scratch.stack.push(start);
    while let Some(i) = scratch.stack.pop() {
        scratch.group.push(i);
        for j in board.neighbors(i).iter() {
            if board.cells[j] == Some(color) && scratch.visit(j) {
                scratch.stack.push(j);
            }
        }
    }
}

/// Black's area minus White's area (no komi).
pub(super) fn area(board: &Board) -> i64 {
    let mut scratch = Scratch::new(board.cells.len());
    let mut seen = vec![false; board.cells.len()];
    let mut black = 0i64;
    let mut white = 0i64;
    for start in 0..board.cells.len() {
        match board.cells[start] {
            Some(Color::Black) => black += 1,
            Some(Color::White) => white += 1,
            None if !seen[start] => {
                let (region, touches_black, touches_white) =
                    empty_region(board, start, &mut scratch, &mut seen);
                match (touches_black, touches_white) {
                    (true, false) => black += region,
                    (false, true) => white += region,
                    _ => {}
                }
            }
            None => {}
        }
    }
    black - white
}

/// Formats points as GTP vertices separated by single spaces.
pub fn format_vertices(points: &[Point], size: u8) -> String {
    points
        .iter()
        .map(|&p| format_vertex(Move::Play(p), size))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rules;

    /// A 5x5 position: a Black wall on column B, a White wall on column C,
    /// and one White stone at A3 dead inside Black's area.
    fn position() -> Game {
        let rows = [
            ". X O . .",
            ". X O . .",
            "O X O . .",
            ". X O . .",
            ". X O . .",
        ];
        let mut game = Game::new(5, 0.5, Rules::default()).unwrap();
        for color in [Color::White, Color::Black] {
            let symbol = if color == Color::Black { 'X' } else { 'O' };
            for (y, row) in rows.iter().enumerate() {
                for (x, c) in row.split_whitespace().enumerate() {
                    if c.starts_with(symbol) {
                        game.play(color, Move::Play(Point::new(x as u8, y as u8)))
                            .unwrap();
                    }
                }
            }
        }
        game
    }

    #[test]
    fn removing_a_dead_stone_gives_its_region_to_the_other_side() {
        let game = position();
        // All alive, the left regions touch both colours and count for
        // nobody: Black 5, White 6 stones + 10 points.
        let all_alive = game.area_score();
        assert_eq!(all_alive, 5.0 - 16.0 - 0.5);
        let dead = game.dead_chains(&["A3"]).unwrap();
        assert_eq!(dead, vec![Point::new(0, 2)]);
        let removed = game.area_score_without(&dead);
        // Black: 5 stones + 5 left points = 10; White: 5 stones + 10 right = 15.
        assert_eq!(removed, 10.0 - 15.0 - 0.5);
        assert!(removed > all_alive);
        assert_eq!(game.area_score_without(&[]), all_alive);
    }

    #[test]
    fn one_named_stone_removes_its_whole_chain() {
        let game = position();
        let dead = game.dead_chains(&["b5"]).unwrap();
        assert_eq!(dead.len(), 5);
        assert!(dead.iter().all(|&p| p.x == 1));
        assert_eq!(format_vertices(&dead, 5), "B5 B4 B3 B2 B1");
        // Naming stones twice or in several spellings changes nothing.
        assert_eq!(game.dead_chains(&["B1", "B3", "b1"]).unwrap(), dead);
        assert_eq!(game.dead_chains(&[]).unwrap(), vec![]);
    }

    #[test]
    fn lists_that_do_not_fit_the_position_are_rejected() {
        let game = position();
        assert_eq!(
            game.dead_chains(&["A3", "E5"]),
            Err(DeadStonesError::EmptyPoint {
                vertex: "E5".into()
            })
        );
        assert_eq!(game.dead_chains(&["pass"]), Err(DeadStonesError::Pass));
        assert!(matches!(
            game.dead_chains(&["F1"]),
            Err(DeadStonesError::Vertex(VertexError::OffBoard { .. }))
        ));
        assert!(matches!(
            game.dead_chains(&["hello"]),
            Err(DeadStonesError::Vertex(_))
        ));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn dead_chains_never_panics_and_removes_only_stones(
                tokens in prop::collection::vec("[A-Za-z]{0,2}[0-9]{0,3}|pass|\\PC{0,4}", 0..12)
            ) {
                let game = position();
                let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
                if let Ok(dead) = game.dead_chains(&refs) {
                    prop_assert!(dead.iter().all(|&p| game.stone(p).is_some()));
                    let _ = game.area_score_without(&dead);
                }
            }
        }
    }
}
