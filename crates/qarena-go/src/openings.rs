//! Go opening books: the start positions of a match's game pairs.
//!
//! A book is a text file with one opening per line: GTP vertices separated
//! by spaces, Black first and colours alternating (`E5 C4 G3`). `#` starts a
//! comment line; blank lines are skipped. Lines `game go`, `board_size N`,
//! `komi K`, `rules R` and `positions N` are headers, so a qarena probe suite
//! is also a book. A `board_size` header must match the board the book is
//! loaded for; `komi` is informational (a book balanced at one komi is still
//! playable at another).
//!
//! Every opening is replayed on an empty board when the book is read, so an
//! illegal or off-board move, a pass, or an opening longer than the board
//! has points is an error naming the file and line, before any game starts.
//! Files larger than [`MAX_BOOK_BYTES`] or with more than [`MAX_OPENINGS`]
//! openings are refused without being read whole.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::{format_vertex, parse_vertex, Color, Game, Move, Rules};

/// The largest book file read, in bytes.
pub const MAX_BOOK_BYTES: u64 = 16 << 20;
/// The most openings one book may hold.
pub const MAX_OPENINGS: usize = 200_000;

/// One opening: moves from the empty board, Black first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoOpening {
    pub moves: Vec<Move>,
    /// Where it came from, `file:line`, for messages.
    pub source: String,
}

impl GoOpening {
    /// The colour of the `k`-th move (0-based): Black first, alternating.
    pub fn color(k: usize) -> Color {
        if k.is_multiple_of(2) {
            Color::Black
        } else {
            Color::White
        }
    }

    /// The moves as one line of GTP vertices, the book's own format.
    pub fn text(&self, size: u8) -> String {
        self.moves
            .iter()
            .map(|&m| format_vertex(m, size))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Why a book cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BookError {
    #[error("cannot read the opening book {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the opening book {path} is {bytes} bytes; books are limited to {MAX_BOOK_BYTES} bytes"
    )]
    TooLarge { path: PathBuf, bytes: u64 },
    #[error("{name}:{line}: {reason}")]
    Line {
        name: String,
        line: usize,
        reason: String,
    },
    #[error("the opening book {name} holds no openings (one line of GTP vertices per opening, e.g. `E5 C4 G3`)")]
    Empty { name: String },
    #[error("the opening book {name} holds more than {MAX_OPENINGS} openings")]
    TooMany { name: String },
}

/// Reads and checks a book for a `size × size` board.
pub fn load_book(path: &Path, size: u8) -> Result<Vec<GoOpening>, BookError> {
    let read = |source| BookError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read)?;
    let mut bytes = Vec::new();
    file.take(MAX_BOOK_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read)?;
    if bytes.len() as u64 > MAX_BOOK_BYTES {
        return Err(BookError::TooLarge {
            path: path.to_path_buf(),
            bytes: std::fs::metadata(path)
                .map(|m| m.len())
                .unwrap_or(bytes.len() as u64),
        });
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        read(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 text ({e})"),
        ))
    })?;
    parse_book(&text, &path.display().to_string(), size)
}

/// Parses and checks a book's text; `name` labels messages.
pub fn parse_book(text: &str, name: &str, size: u8) -> Result<Vec<GoOpening>, BookError> {
    let line_err = |line: usize, reason: String| BookError::Line {
        name: name.to_string(),
        line,
        reason,
    };
    let points = usize::from(size) * usize::from(size);
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or_default();
        match first {
            "game" | "komi" | "rules" | "positions" => continue,
            "board_size" => {
                let given = words.next().unwrap_or_default();
                if given.parse::<u8>().ok() != Some(size) {
                    return Err(line_err(
                        i + 1,
                        format!("the book is for board size `{given}`, the match is {size}x{size}"),
                    ));
                }
                continue;
            }
            _ => {}
        }
        if out.len() >= MAX_OPENINGS {
            return Err(BookError::TooMany {
                name: name.to_string(),
            });
        }
        let tokens: Vec<&str> = line.split_whitespace().collect();
        if tokens.len() >= points {
            return Err(line_err(
                i + 1,
                format!(
                    "{} moves; an opening must be shorter than the board has points ({points})",
                    tokens.len()
                ),
            ));
        }
        let mut game =
            Game::new(size, 7.0, Rules::default()).map_err(|e| line_err(i + 1, e.to_string()))?;
        let mut moves = Vec::with_capacity(tokens.len());
        for (k, tok) in tokens.iter().enumerate() {
            let mv = parse_vertex(tok, size)
                .map_err(|e| line_err(i + 1, format!("move {} `{tok}`: {e}", k + 1)))?;
            if mv == Move::Pass {
                return Err(line_err(
                    i + 1,
                    format!("move {} is a pass; openings are stones only", k + 1),
                ));
            }
            game.play(GoOpening::color(k), mv)
                .map_err(|e| line_err(i + 1, format!("move {} `{tok}` is illegal: {e}", k + 1)))?;
            moves.push(mv);
        }
        out.push(GoOpening {
            moves,
            source: format!("{name}:{}", i + 1),
        });
    }
    if out.is_empty() {
        return Err(BookError::Empty {
            name: name.to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_book_reads_lines_headers_and_comments() {
        let text = "# a book\ngame go\nboard_size 9\nkomi 7\n\nE5 C4 G3\nD4\n";
        let book = parse_book(text, "b.txt", 9).unwrap();
        assert_eq!(book.len(), 2);
        assert_eq!(book[0].text(9), "E5 C4 G3");
        assert_eq!(book[0].source, "b.txt:6");
        assert_eq!(book[1].moves.len(), 1);
    }

    #[test]
    fn bad_books_name_the_line_and_the_problem() {
        let cases = [
            ("E5 E5\n", "b.txt:1: move 2 `E5` is illegal"),
            ("E5 Z9\n", "b.txt:1: move 2 `Z9`"),
            ("E5 pass\n", "b.txt:1: move 2 is a pass"),
            (
                "board_size 19\nE5\n",
                "b.txt:1: the book is for board size `19`",
            ),
            ("# nothing\n", "holds no openings"),
        ];
        for (text, want) in cases {
            let e = parse_book(text, "b.txt", 9).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
        let long = ["A1"; 4].join(" ");
        let e = parse_book(&long, "b.txt", 2).unwrap_err().to_string();
        assert!(e.contains("shorter than the board"), "{e}");
    }

    #[test]
    fn an_oversized_book_is_refused_unread() {
        let dir = std::env::temp_dir().join(format!("qarena-book-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.txt");
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(MAX_BOOK_BYTES + 10).unwrap();
        let e = load_book(&path, 9).unwrap_err();
        assert!(matches!(e, BookError::TooLarge { .. }), "{e}");
        assert!(e.to_string().contains("big.txt"), "{e}");
        let e = load_book(&dir.join("missing.txt"), 9).unwrap_err();
        assert!(e.to_string().contains("missing.txt"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
