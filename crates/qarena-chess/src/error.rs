//! The one error type of the crate. Each variant names what it is about;
//! the messages are what the user reads, so they quote the input.

use std::fmt;

use shakmaty::fen::ParseFenError;
use shakmaty::san::SanError;
use shakmaty::{Chess, PositionError};

/// A line of a suite file, e.g. `default.epd:17` or, for a PGN game,
/// `book.pgn:40 (game 3)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based game number within a PGN file.
    pub game: Option<usize>,
}

impl Place {
    pub fn line(file: &str, line: usize) -> Place {
        Place {
            file: file.to_string(),
            line,
            game: None,
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(g) = self.game {
            write!(f, " (game {g})")?;
        }
        Ok(())
    }
}

/// Why chess input could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad FEN `{fen}`: {reason}")]
    Fen { fen: String, reason: ParseFenError },
    #[error("impossible position `{fen}`: {reason}")]
    Position {
        fen: String,
        reason: Box<PositionError<Chess>>,
    },
    /// A FEN in a file that is bad or impossible.
    #[error("{at}: {reason}")]
    FenAt { at: Place, reason: Box<Error> },
    #[error("{at}: expected an EPD or FEN line, got `{line}`")]
    NotEpdOrFen { at: Place, line: String },
    #[error("{at}: expected an EPD line, got `{line}`")]
    NotEpd { at: Place, line: String },
    #[error("{at}: the position is already over: `{line}`")]
    GameOver { at: Place, line: String },
    #[error("{at}: the opening ends the game")]
    OpeningEndsGame { at: Place },
    #[error("{at}: `{san}` is not a SAN move")]
    NotSan { at: Place, san: String },
    #[error("{at}: `{san}` is not legal here: {reason}")]
    IllegalSan {
        at: Place,
        san: String,
        reason: SanError,
    },
    #[error("{at}: no `bm` (best move) opcode in `{line}`")]
    NoBestMove { at: Place, line: String },
    #[error("{at}: bm `{san}` is not a SAN move")]
    BestMoveNotSan { at: Place, san: String },
    #[error("{at}: bm `{san}` is not legal in `{fen}`: {reason}")]
    BestMoveIllegal {
        at: Place,
        san: String,
        fen: String,
        reason: SanError,
    },
    #[error("{at}: unterminated string in `{operations}`")]
    UnterminatedString { at: Place, operations: String },
    #[error("{at}: operation `{operation}` is not ended by `;`")]
    UnendedOperation { at: Place, operation: String },
    #[error("opening file {name} holds no positions")]
    NoOpenings { name: String },
    #[error("tactical suite {name} holds no positions")]
    NoTactics { name: String },
    #[error("reading openings: {0}")]
    ReadOpenings(std::io::Error),
    #[error("reading tactics: {0}")]
    ReadTactics(std::io::Error),
    /// Writing a generated suite; the message names the path.
    #[error("{0}")]
    Write(std::io::Error),
    #[error("limit `{text}`: expected nodes=N, depth=N, movetime=MS or tc=BASE+INC")]
    LimitSyntax { text: String },
    #[error("limit `{text}`: `{value}` is not a whole number")]
    LimitNumber { text: String, value: String },
    #[error("limit `{text}`: depth too large")]
    DepthTooLarge { text: String },
    #[error("limit `{text}`: unknown kind `{kind}` (nodes, depth, movetime, tc)")]
    LimitKind { text: String, kind: String },
    #[error("time control `{text}`: expected [moves/]seconds[+increment], e.g. 10+0.1")]
    TimeControlSyntax { text: String },
    #[error("time control `{text}` gives no time at all")]
    NoTime { text: String },
}

impl Error {
    /// This error (a bad FEN) as found at `at` in a file.
    pub(crate) fn at(self, at: &Place) -> Error {
        Error::FenAt {
            at: at.clone(),
            reason: Box::new(self),
        }
    }
}
