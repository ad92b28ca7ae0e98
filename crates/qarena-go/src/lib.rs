//! Go rules and game records for qarena, in pure Rust.
//!
//! The match runner uses this crate as the referee between two GTP engines:
//! it checks every move an engine sends ([`Game::play`]), decides when a game
//! ends (two consecutive passes), scores finished games with Tromp-Taylor
//! area scoring ([`Game::area_score`]), or by area once a checked list of dead
//! stones is removed ([`Game::dead_chains`], [`Game::area_score_without`]),
//! and writes and reads SGF records
//! ([`write_sgf`], [`parse_sgf`]). It also computes KataGo's V7 neural-network
//! inputs for a position ([`v7_inputs`]), so that a network can be run on
//! exactly what KataGo would feed it.
//!
//! Invariants shared by every module:
//! - Coordinates are SGF-oriented: [`Point::x`] is the column from the left
//!   and [`Point::y`] the row from the *top*, both 0-based. Only GTP vertices
//!   ([`parse_vertex`], [`format_vertex`]) count rows from the bottom.
//! - Board sizes are 2..=25, the range GTP vertex letters (A..Z without I)
//!   can name.
//! - No function panics on any input: bad input yields a typed error.

mod features;
mod game;
mod openings;
mod sgf;
mod vertex;
mod zobrist;

use std::fmt;

pub use features::{
    v7_inputs, KataRules, KataRulesError, KoRule, NetInputs, ScoringRule, TaxRule, V7_GLOBAL,
    V7_SPATIAL,
};
pub use game::{
    format_result, format_vertices, DeadStonesError, Game, GoError, IllegalMove, Rules, Superko,
    MAX_SIZE, MIN_SIZE,
};
pub use openings::{
    book_header, load_book, merge_books, parse_book, parse_book_noted, read_book, symmetric_index,
    symmetry_key, BookError, BookMerge, GoOpening, MAX_BOOK_BYTES, MAX_OPENINGS,
};
pub use sgf::{parse_sgf, write_sgf, SgfError, SgfGame, SgfMove};
pub use vertex::{format_vertex, parse_vertex, VertexError};

/// A player's colour.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Color {
    Black,
    White,
}

impl Color {
    /// The other colour.
    pub fn opposite(self) -> Color {
        match self {
            Color::Black => Color::White,
            Color::White => Color::Black,
        }
    }

    /// The SGF property letter for a move by this colour: `'B'` or `'W'`.
    pub fn sgf_char(self) -> char {
        match self {
            Color::Black => 'B',
            Color::White => 'W',
        }
    }

    /// Parses a GTP colour: `b`, `w`, `black` or `white` in any case.
    pub fn parse(s: &str) -> Option<Color> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("b") || s.eq_ignore_ascii_case("black") {
            Some(Color::Black)
        } else if s.eq_ignore_ascii_case("w") || s.eq_ignore_ascii_case("white") {
            Some(Color::White)
        } else {
            None
        }
    }

    /// Index used for per-colour arrays (captures, hash keys).
    pub(crate) fn index(self) -> usize {
        match self {
            Color::Black => 0,
            Color::White => 1,
        }
    }
}

impl fmt::Display for Color {
    /// Writes the GTP spelling, `black` or `white`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Color::Black => "black",
            Color::White => "white",
        })
    }
}

/// A board intersection: `x` is the column from the left, `y` the row from
/// the top, both 0-based (SGF orientation).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Point {
    pub x: u8,
    pub y: u8,
}

impl Point {
    pub fn new(x: u8, y: u8) -> Point {
        Point { x, y }
    }
}

/// A move on the board. Resignation is not a move: the match runner handles
/// it as a way for a game to end.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Move {
    Pass,
    Play(Point),
}
