//! The board, move legality and scoring.
//!
//! A [`Game`] only ever holds legal positions: [`Game::play`] computes the
//! complete result of a move on a copy of the board (captures, suicide,
//! repetition) and commits it only if the move is legal, so a rejected move
//! leaves the game untouched.
//!
//! Repetition is checked in two layers. The simple-ko ban (the immediate
//! recapture of a single stone) is tracked directly and reported as
//! [`IllegalMove::Ko`] under every rule set, because engines and people
//! recognise that case by name. Longer cycles are caught by superko: every
//! position reached (a Zobrist hash of the stones, plus the player to move
//! for situational superko) is kept in a set, and a move that recreates one
//! is [`IllegalMove::Superko`].

use std::collections::HashSet;
use std::fmt;

use thiserror::Error;

use crate::vertex::format_vertex;
use crate::zobrist::{stone_key, to_move_key};
use crate::{Color, Move, Point};

/// Smallest supported board.
pub const MIN_SIZE: u8 = 2;
/// Largest supported board: GTP vertex letters run out at 25 columns.
pub const MAX_SIZE: u8 = 25;

/// Which whole-board repetitions are forbidden.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum Superko {
    /// Only the simple-ko ban applies.
    None,
    /// A move may not recreate any earlier arrangement of stones.
    #[default]
    Positional,
    /// A move may not recreate an earlier arrangement of stones with the
    /// same player to move.
    Situational,
}

/// The rule options that change which moves are legal.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Rules {
    /// Whether a move may leave its own group without liberties; if so, the
    /// group is removed (and counts as captured by the opponent).
    pub suicide_allowed: bool,
    pub superko: Superko,
}

impl Default for Rules {
    /// Suicide illegal, positional superko: what GTP engines such as KataGo
    /// and GNU Go accept without complaint.
    fn default() -> Rules {
        Rules {
            suicide_allowed: false,
            superko: Superko::Positional,
        }
    }
}

impl Rules {
    /// Tromp-Taylor rules: suicide allowed, positional superko.
    pub fn tromp_taylor() -> Rules {
        Rules {
            suicide_allowed: true,
            superko: Superko::Positional,
        }
    }
}

/// Why a move is not legal in the current position.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Error)]
pub enum IllegalMove {
    #[error("the point is off the board")]
    OffBoard,
    #[error("the point is already occupied")]
    Occupied,
    #[error("the move is suicide, which these rules forbid")]
    Suicide,
    #[error("the move retakes a ko immediately")]
    Ko,
    #[error("the move repeats an earlier position (superko)")]
    Superko,
}

/// Errors creating or replaying a game.
#[derive(Clone, PartialEq, Debug, Error)]
pub enum GoError {
    #[error("board size {0} is not supported; sizes are {MIN_SIZE}..={MAX_SIZE}")]
    InvalidSize(u8),
    #[error("komi {0} is not a finite number")]
    InvalidKomi(f32),
    #[error("move {number} ({color} {vertex}) is illegal: {source}")]
    IllegalMove {
        /// 1-based position of the move in the replayed sequence.
        number: usize,
        color: Color,
        vertex: String,
        source: IllegalMove,
    },
}

/// The point a player may not play on the very next move (simple ko).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct KoBan {
    index: usize,
    color: Color,
}

/// Reusable flood-fill buffers: a generation-stamped visited array avoids
/// clearing the whole board before every fill.
struct Scratch {
    stamp: Vec<u32>,
    generation: u32,
    stack: Vec<usize>,
    group: Vec<usize>,
}

impl Scratch {
    fn new(points: usize) -> Scratch {
        Scratch {
            stamp: vec![0; points],
            generation: 0,
            stack: Vec::with_capacity(points),
            group: Vec::with_capacity(points),
        }
    }

    fn next_generation(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // After wrap-around old stamps could alias the new generation.
            self.stamp.fill(0);
            self.generation = 1;
        }
        self.stack.clear();
        self.group.clear();
    }

    /// Marks `i` visited; returns false if it already was in this fill.
    fn visit(&mut self, i: usize) -> bool {
        if self.stamp[i] == self.generation {
            false
        } else {
            self.stamp[i] = self.generation;
            true
        }
    }
}

/// Up to four orthogonal neighbours of a point.
struct Neighbors {
    items: [usize; 4],
    len: usize,
}

impl Neighbors {
    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.items[..self.len].iter().copied()
    }
}

/// Stones on a square board, stored row-major from the top-left, with the
/// Zobrist hash of the stones kept up to date by every change.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Board {
    size: usize,
    cells: Vec<Option<Color>>,
    hash: u64,
}

impl Board {
    fn new(size: usize) -> Board {
        Board {
            size,
            cells: vec![None; size * size],
            hash: 0,
        }
    }

    fn neighbors(&self, i: usize) -> Neighbors {
        let (x, y) = (i % self.size, i / self.size);
        let mut n = Neighbors {
            items: [0; 4],
            len: 0,
        };
        let mut push = |j| {
            n.items[n.len] = j;
            n.len += 1;
        };
        if x > 0 {
            push(i - 1);
        }
        if x + 1 < self.size {
            push(i + 1);
        }
        if y > 0 {
            push(i - self.size);
        }
        if y + 1 < self.size {
            push(i + self.size);
        }
        n
    }

    fn toggle_key(&mut self, i: usize, color: Color) {
        self.hash ^= stone_key(color, i % self.size, i / self.size);
    }

    fn place(&mut self, i: usize, color: Color) {
        self.cells[i] = Some(color);
        self.toggle_key(i, color);
    }

    /// Whether the group containing the stone at `start` has a liberty;
    /// stops at the first one found.
    fn has_liberty(&self, start: usize, scratch: &mut Scratch) -> bool {
        let Some(color) = self.cells[start] else {
            return true;
        };
        scratch.next_generation();
        scratch.visit(start);
        scratch.stack.push(start);
        while let Some(i) = scratch.stack.pop() {
            for j in self.neighbors(i).iter() {
                match self.cells[j] {
                    None => return true,
                    Some(c) if c == color && scratch.visit(j) => scratch.stack.push(j),
                    Some(_) => {}
                }
            }
        }
        false
    }

    /// Removes the group containing the stone at `start`; returns its size.
    fn remove_group(&mut self, start: usize, scratch: &mut Scratch) -> u32 {
        let Some(color) = self.cells[start] else {
            return 0;
        };
        scratch.next_generation();
        scratch.visit(start);
        scratch.stack.push(start);
        while let Some(i) = scratch.stack.pop() {
            scratch.group.push(i);
            for j in self.neighbors(i).iter() {
                if self.cells[j] == Some(color) && scratch.visit(j) {
                    scratch.stack.push(j);
                }
            }
        }
        let mut removed = 0u32;
        for &i in &scratch.group {
            self.cells[i] = None;
            self.toggle_key(i, color);
            removed += 1;
        }
        removed
    }
}

/// The complete effect of a legal move, computed before committing it.
struct Outcome {
    board: Board,
    captured: u32,
    suicided: u32,
    ko: Option<KoBan>,
}

/// A game in progress: the current position plus everything needed to judge
/// the next move (history of positions, ko ban, passes) and to score.
#[derive(Clone, Debug)]
pub struct Game {
    komi: f32,
    rules: Rules,
    board: Board,
    to_move: Color,
    moves: Vec<(Color, Move)>,
    captures: [u32; 2],
    consecutive_passes: u32,
    ko: Option<KoBan>,
    /// Position keys of every position reached, the initial one included.
    history: HashSet<u64>,
}

impl Game {
    /// An empty `size`x`size` board with Black to move.
    pub fn new(size: u8, komi: f32, rules: Rules) -> Result<Game, GoError> {
        if !(MIN_SIZE..=MAX_SIZE).contains(&size) {
            return Err(GoError::InvalidSize(size));
        }
        if !komi.is_finite() {
            return Err(GoError::InvalidKomi(komi));
        }
        let mut game = Game {
            komi,
            rules,
            board: Board::new(usize::from(size)),
            to_move: Color::Black,
            moves: Vec::new(),
            captures: [0; 2],
            consecutive_passes: 0,
            ko: None,
            history: HashSet::new(),
        };
        let key = game.position_key(&game.board, Color::Black);
        game.history.insert(key);
        Ok(game)
    }

    /// A new game with `moves` played in order; the error names the first
    /// illegal move.
    pub fn replay(
        size: u8,
        komi: f32,
        rules: Rules,
        moves: &[(Color, Move)],
    ) -> Result<Game, GoError> {
        let mut game = Game::new(size, komi, rules)?;
        for (k, &(color, mv)) in moves.iter().enumerate() {
            game.play(color, mv)
                .map_err(|source| GoError::IllegalMove {
                    number: k + 1,
                    color,
                    vertex: format_vertex(mv, size),
                    source,
                })?;
        }
        Ok(game)
    }

    pub fn size(&self) -> u8 {
        // The board was created from a u8 size, so this cannot truncate.
        self.board.size as u8
    }

    pub fn komi(&self) -> f32 {
        self.komi
    }

    pub fn rules(&self) -> Rules {
        self.rules
    }

    /// The player expected to move next: the opponent of whoever moved last.
    pub fn to_move(&self) -> Color {
        self.to_move
    }

    /// Number of passes at the end of the move list; two end the game.
    pub fn consecutive_passes(&self) -> u32 {
        self.consecutive_passes
    }

    /// Every move played so far, in order.
    pub fn moves(&self) -> &[(Color, Move)] {
        &self.moves
    }

    /// The stone at `p`, or `None` for an empty or off-board point.
    pub fn stone(&self, p: Point) -> Option<Color> {
        self.index(p).and_then(|i| self.board.cells[i])
    }

    /// Stones captured *by* `color` so far (including the opponent's
    /// suicided stones when suicide is allowed).
    pub fn captures(&self, color: Color) -> u32 {
        self.captures[color.index()]
    }

    /// Checks whether `color` may play `mv` now, without changing the game.
    /// `color` need not be [`Game::to_move`]: GTP lets a controller play
    /// either colour at any time.
    pub fn is_legal(&self, color: Color, mv: Move) -> Result<(), IllegalMove> {
        match mv {
            Move::Pass => Ok(()),
            Move::Play(p) => {
                let mut scratch = Scratch::new(self.board.cells.len());
                self.simulate(color, p, &mut scratch).map(|_| ())
            }
        }
    }

    /// Plays `mv` for `color` if it is legal; on error the game is unchanged.
    /// Afterwards the opponent of `color` is to move.
    pub fn play(&mut self, color: Color, mv: Move) -> Result<(), IllegalMove> {
        let opponent = color.opposite();
        match mv {
            Move::Pass => {
                self.consecutive_passes = self.consecutive_passes.saturating_add(1);
                self.ko = None;
            }
            Move::Play(p) => {
                let mut scratch = Scratch::new(self.board.cells.len());
                let outcome = self.simulate(color, p, &mut scratch)?;
                self.board = outcome.board;
                self.captures[color.index()] += outcome.captured;
                self.captures[opponent.index()] += outcome.suicided;
                self.ko = outcome.ko;
                self.consecutive_passes = 0;
            }
        }
        self.to_move = opponent;
        self.moves.push((color, mv));
        let key = self.position_key(&self.board, opponent);
        self.history.insert(key);
        Ok(())
    }

    /// Every board point `color` may legally play now, row by row from the
    /// top-left. Pass is always legal and not included.
    pub fn legal_moves(&self, color: Color) -> Vec<Move> {
        let size = self.board.size;
        let mut scratch = Scratch::new(self.board.cells.len());
        let mut legal = Vec::new();
        for i in 0..self.board.cells.len() {
            if self.board.cells[i].is_some() {
                continue;
            }
            // Both coordinates are below size <= MAX_SIZE, so they fit a u8.
            let p = Point {
                x: (i % size) as u8,
                y: (i / size) as u8,
            };
            if self.simulate(color, p, &mut scratch).is_ok() {
                legal.push(Move::Play(p));
            }
        }
        legal
    }

    /// Tromp-Taylor area score: Black's stones plus empty regions that touch
    /// only Black stones, minus the same for White, minus komi. Positive
    /// means Black is ahead. Regions touching both colours (seki, dame) or
    /// neither (an empty board) count for nobody.
    pub fn area_score(&self) -> f32 {
        // At most 625 points per side, exactly representable as f32.
        scoring::area(&self.board) as f32 - self.komi
    }

    fn index(&self, p: Point) -> Option<usize> {
        let (x, y) = (usize::from(p.x), usize::from(p.y));
        (x < self.board.size && y < self.board.size).then_some(y * self.board.size + x)
    }

    fn position_key(&self, board: &Board, to_move: Color) -> u64 {
        match self.rules.superko {
            Superko::Situational => board.hash ^ to_move_key(to_move),
            Superko::None | Superko::Positional => board.hash,
        }
    }

    /// Works out what `color` playing at `p` would do, or why it is illegal.
    fn simulate(
        &self,
        color: Color,
        p: Point,
        scratch: &mut Scratch,
    ) -> Result<Outcome, IllegalMove> {
        let i = self.index(p).ok_or(IllegalMove::OffBoard)?;
        if self.board.cells[i].is_some() {
            return Err(IllegalMove::Occupied);
        }
        if self.ko == Some(KoBan { index: i, color }) {
            return Err(IllegalMove::Ko);
        }
        let opponent = color.opposite();
        let mut board = self.board.clone();
        board.place(i, color);
        let mut captured = 0;
        let mut last_captured = i;
        for j in board.neighbors(i).iter() {
            if board.cells[j] == Some(opponent) && !board.has_liberty(j, scratch) {
                captured += board.remove_group(j, scratch);
                last_captured = j;
            }
        }
        let mut suicided = 0;
        if !board.has_liberty(i, scratch) {
            if !self.rules.suicide_allowed {
                return Err(IllegalMove::Suicide);
            }
            suicided = board.remove_group(i, scratch);
        }
        if self.rules.superko != Superko::None
            && self.history.contains(&self.position_key(&board, opponent))
        {
            return Err(IllegalMove::Superko);
        }
        // A lone stone that captured one stone and whose only liberty is the
        // captured point could be retaken at once: that retake is the ko.
        let ko = if captured == 1 && suicided == 0 {
            let neighbors = board.neighbors(i);
            let friends = neighbors
                .iter()
                .filter(|&j| board.cells[j] == Some(color))
                .count();
            let liberties = neighbors
                .iter()
                .filter(|&j| board.cells[j].is_none())
                .count();
            (friends == 0 && liberties == 1).then_some(KoBan {
                index: last_captured,
                color: opponent,
            })
        } else {
            None
        };
        Ok(Outcome {
            board,
            captured,
            suicided,
            ko,
        })
    }
}

/// Flood-fills the empty region containing `start`; returns its size and
/// whether it borders Black and White stones.
fn empty_region(
    board: &Board,
    start: usize,
    scratch: &mut Scratch,
    seen: &mut [bool],
) -> (i64, bool, bool) {
    let (mut size, mut black, mut white) = (0i64, false, false);
    scratch.next_generation();
    scratch.stack.push(start);
    seen[start] = true;
    while let Some(i) = scratch.stack.pop() {
        size += 1;
        for j in board.neighbors(i).iter() {
            match board.cells[j] {
                Some(Color::Black) => black = true,
                Some(Color::White) => white = true,
                None if !seen[j] => {
                    seen[j] = true;
                    scratch.stack.push(j);
                }
                None => {}
            }
        }
    }
    (size, black, white)
}

impl fmt::Display for Game {
    /// A plain-text diagram, `X` for Black and `O` for White, top row first,
    /// for logs and test failure messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for row in self.board.cells.chunks(self.board.size) {
            for (k, cell) in row.iter().enumerate() {
                if k > 0 {
                    f.write_str(" ")?;
                }
                f.write_str(match cell {
                    Some(Color::Black) => "X",
                    Some(Color::White) => "O",
                    None => ".",
                })?;
            }
            f.write_str("\n")?;
        }
        Ok(())
    }
}

/// Formats an area score as an SGF result: `B+3.5`, `W+0.5`, or `0` for a
/// draw (jigo). A non-finite score, which [`Game::area_score`] never
/// produces, is written as SGF's "unknown result", `?`.
pub fn format_result(score: f32) -> String {
    if !score.is_finite() {
        "?".to_string()
    } else if score > 0.0 {
        format!("B+{score}")
    } else if score < 0.0 {
        format!("W+{}", -score)
    } else {
        "0".to_string()
    }
}

mod scoring;
pub use scoring::{format_vertices, DeadStonesError};

#[cfg(test)]
mod tests;
