//! Chess for qarena, the rules side: positions and moves (via shakmaty),
//! opening and tactical suites, search limits, adjudication and PGN.
//!
//! Nothing here starts a process or touches the store; the arena drives the
//! engines and calls in here for everything about the game itself, as it
//! does with `qarena-go` for Go. The generators take the engine as a
//! closure, so their selection rules are tested without an engine.
//!
//! Invariants:
//! - A position or suite entry that exists was checked with shakmaty when
//!   it was parsed: its FEN is legal and its moves are legal from it.
//! - Every error names what it is about: the file and line, the FEN, the
//!   move or the setting as the user wrote it.

mod adjudication;
mod error;
mod limit;
mod openings;
mod pgn;
mod position;
mod tactics;

pub use adjudication::{
    Adjudication, Adjudicator, Verdict, DEFAULT_DRAW_AFTER_MOVE, DEFAULT_DRAW_MOVES,
    DEFAULT_RESIGN_MOVES,
};
pub use error::{Error, Place};
pub use limit::{Limit, TimeControl};
pub use openings::{
    generate_openings, load_openings, opening_index, parse_epd, parse_pgn_games,
    parse_pgn_openings, write_openings, Opening, OpeningOrder, GENERATE_NODES,
};
pub use pgn::{export_pgn, write_pgn, PgnGame, PgnMove};
pub use position::{fen_of, legal_move, mix, parse_fen, random_walk, uci_of};
pub use tactics::{
    generate_tactics, load_tactics, parse_tactics, solves, write_tactics, Generated,
    TacticalFailure, TacticalPosition, TacticsReport, TwoLines, TACTICS_MAX_EVAL_CP,
    TACTICS_MIN_GAP_CP,
};
