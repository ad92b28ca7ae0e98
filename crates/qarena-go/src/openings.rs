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
    parse_book(&read_book(path)?, &path.display().to_string(), size)
}

/// A book file's text, refused unread when it is larger than
/// [`MAX_BOOK_BYTES`] or not UTF-8.
pub fn read_book(path: &Path) -> Result<String, BookError> {
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
    String::from_utf8(bytes).map_err(|e| {
        read(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 text ({e})"),
        ))
    })
}

/// The first value of a header line (`board_size`, `komi`, …) in a book's
/// text, if it has one.
pub fn book_header<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next() == Some(key)).then(|| words.next()).flatten()
    })
}

/// Parses and checks a book's text; `name` labels messages.
pub fn parse_book(text: &str, name: &str, size: u8) -> Result<Vec<GoOpening>, BookError> {
    Ok(parse_book_noted(text, name, size)?
        .into_iter()
        .map(|(opening, _)| opening)
        .collect())
}

/// [`parse_book`], each opening with the comment line right above it
/// (`# black 0.503` in a book `qarena openings go` drew), if any.
pub fn parse_book_noted(
    text: &str,
    name: &str,
    size: u8,
) -> Result<Vec<(GoOpening, Option<String>)>, BookError> {
    let line_err = |line: usize, reason: String| BookError::Line {
        name: name.to_string(),
        line,
        reason,
    };
    let points = usize::from(size) * usize::from(size);
    let mut out = Vec::new();
    let mut note: Option<&str> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let above = note.take();
        if line.starts_with('#') {
            note = Some(line);
            continue;
        }
        if line.is_empty() {
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
                        format!("the book is for board size `{given}`, not {size}x{size}"),
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
        out.push((
            GoOpening {
                moves,
                source: format!("{name}:{}", i + 1),
            },
            above.map(str::to_string),
        ));
    }
    if out.is_empty() {
        return Err(BookError::Empty {
            name: name.to_string(),
        });
    }
    Ok(out)
}

/// Where point (x, y) of a `side × side` board goes under one of its 8
/// symmetries: flip y (bit 0), flip x (bit 1), transpose (bit 2), in that
/// order; as the index `y · side + x`.
pub fn symmetric_index(x: usize, y: usize, side: usize, symmetry: u8) -> usize {
    let (mut x, mut y) = (x, y);
    if symmetry & 2 != 0 {
        x = side - 1 - x;
    }
    if symmetry & 1 != 0 {
        y = side - 1 - y;
    }
    if symmetry & 4 != 0 {
        std::mem::swap(&mut x, &mut y);
    }
    y * side + x
}

/// The least of a move sequence's 8 images under the board's symmetries
/// (turns and mirrors), as point indices, a pass as `u16::MAX`: two
/// openings with the same key are one opening turned or mirrored.
pub fn symmetry_key(moves: &[Move], size: u8) -> Vec<u16> {
    let n = usize::from(size);
    (0..8u8)
        .map(|s| {
            moves
                .iter()
                .map(|m| match *m {
                    Move::Pass => u16::MAX,
                    Move::Play(p) => {
                        symmetric_index(usize::from(p.x), usize::from(p.y), n, s) as u16
                    }
                })
                .collect::<Vec<u16>>()
        })
        .min()
        .unwrap_or_default()
}

/// Books joined one at a time: every opening in order, book after book,
/// kept the first time it or a turned or mirrored image of it appears.
/// Only the kept openings are held, so a merge of many books never holds
/// more than them and the book being added.
#[derive(Debug)]
pub struct BookMerge {
    size: u8,
    seen: std::collections::HashSet<Vec<u16>>,
    kept: Vec<(GoOpening, Option<String>)>,
}

impl BookMerge {
    /// An empty merge of books for a `size`×`size` board.
    pub fn new(size: u8) -> BookMerge {
        BookMerge {
            size,
            seen: std::collections::HashSet::new(),
            kept: Vec::new(),
        }
    }

    /// Adds the openings of `book` not kept before; returns how many.
    pub fn add(&mut self, book: Vec<(GoOpening, Option<String>)>) -> usize {
        let before = self.kept.len();
        for entry in book {
            if self.seen.insert(symmetry_key(&entry.0.moves, self.size)) {
                self.kept.push(entry);
            }
        }
        self.kept.len() - before
    }

    /// Openings kept so far.
    pub fn len(&self) -> usize {
        self.kept.len()
    }

    /// Whether nothing was kept.
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// The kept openings, with their notes, in order.
    pub fn into_openings(self) -> Vec<(GoOpening, Option<String>)> {
        self.kept
    }
}

/// Several books as one ([`BookMerge`] over all of them): the kept
/// openings (with their notes) and how many each book gave.
#[allow(clippy::type_complexity)]
pub fn merge_books(
    books: Vec<Vec<(GoOpening, Option<String>)>>,
    size: u8,
) -> (Vec<(GoOpening, Option<String>)>, Vec<usize>) {
    let mut merge = BookMerge::new(size);
    let gave = books.into_iter().map(|b| merge.add(b)).collect();
    (merge.into_openings(), gave)
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
    fn symmetric_openings_share_a_key() {
        let p = |x, y| Move::Play(crate::Point { x, y });
        let a = [p(2, 2), p(6, 6)];
        let images = [[p(6, 2), p(2, 6)], [p(2, 6), p(6, 2)], [p(6, 6), p(2, 2)]];
        for image in images {
            assert_eq!(symmetry_key(&a, 9), symmetry_key(&image, 9));
        }
        // An opening no symmetry maps onto itself has 8 images, and no
        // other two-move opening shares their key.
        let b = [p(1, 0), p(3, 2)];
        let points: Vec<_> = (0..9).flat_map(|x| (0..9).map(move |y| p(x, y))).collect();
        let same = points
            .iter()
            .flat_map(|&u| points.iter().map(move |&v| [u, v]))
            .filter(|m| m[0] != m[1] && symmetry_key(m, 9) == symmetry_key(&b, 9))
            .count();
        assert_eq!(same, 8);
        assert_ne!(symmetry_key(&a, 9), symmetry_key(&[p(2, 2), p(6, 5)], 9));
    }

    #[test]
    fn merging_keeps_the_first_of_each_opening_up_to_symmetry() {
        let one = "board_size 9\n# black 0.5\nC3 G7\nE5\n";
        let two = "# black 0.4\nG3 C7\n# black 0.6\nD4 F6\nE5\n";
        let books = [one, two]
            .iter()
            .enumerate()
            .map(|(k, t)| parse_book_noted(t, &format!("b{k}.txt"), 9).unwrap())
            .collect();
        let (kept, gave) = merge_books(books, 9);
        assert_eq!(gave, vec![2, 1]);
        let text: Vec<String> = kept.iter().map(|(o, _)| o.text(9)).collect();
        assert_eq!(text, ["C3 G7", "E5", "D4 F6"]);
        assert_eq!(kept[0].1.as_deref(), Some("# black 0.5"));
        assert_eq!(kept[1].1, None);
        assert_eq!(kept[2].1.as_deref(), Some("# black 0.6"));
        assert_eq!(book_header(one, "board_size"), Some("9"));
        assert_eq!(book_header(two, "board_size"), None);
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
