//! Position suites: the fixed set of positions a probe evaluates.
//!
//! A suite is a text file with a short header and one position per line:
//!
//! ```text
//! # qarena probe suite
//! game go
//! board_size 9
//! komi 7
//! rules koPOSITIONALscoreAREAtaxNONEsui0
//! positions 2
//! C3 G7 E5
//! -
//! ```
//!
//! Go positions are the moves from the empty board as GTP vertices, Black
//! first, colours alternating (`-` is the empty board); chess positions are
//! FEN (EPD's first four fields are enough). Lines starting with `#` after
//! the first are comments. Every position is checked when the suite is read
//! (each Go move legal under simple ko and positional superko, each FEN a
//! legal position), so a suite that exists is one an engine can be asked
//! about. Its identity is the sha256 of its canonical text (header and
//! positions, no comments): probes are stored under that hash.

use std::fmt::Write;
use std::path::Path;

use qarena_go::{format_vertex, parse_vertex, Game, Move, Rules};
use sha2::{Digest, Sha256};

use crate::error::ProbeError;

/// The largest suite file read (the shipped ones are a few KiB; a million
/// chess positions fit).
pub const MAX_SUITE_BYTES: u64 = 64 << 20;

/// The first line of every suite file.
pub const SUITE_MAGIC: &str = "# qarena probe suite";

/// What a Go suite is played under.
#[derive(Debug, Clone, PartialEq)]
pub struct GoSetup {
    pub board_size: u8,
    pub komi: f32,
    /// KataGo's rules (given to `kata-set-rules`). The default is area
    /// scoring with positional superko and suicide illegal — the rules the
    /// suite's own legality check applies.
    pub rules: String,
}

impl Default for GoSetup {
    fn default() -> GoSetup {
        GoSetup {
            board_size: 9,
            komi: 7.0,
            rules: "koPOSITIONALscoreAREAtaxNONEsui0".to_string(),
        }
    }
}

/// The positions of a suite.
#[derive(Debug, Clone, PartialEq)]
pub enum Positions {
    Go {
        setup: GoSetup,
        /// Each position as the moves leading to it, Black first.
        lines: Vec<Vec<Move>>,
    },
    Chess {
        /// Each position as FEN.
        fens: Vec<String>,
    },
}

/// A checked set of positions with its content hash.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    /// Where it came from (a file stem), for messages.
    pub name: String,
    positions: Positions,
    sha256: String,
}

impl Suite {
    /// A Go suite; every move sequence is replayed and must be legal.
    pub fn go(name: &str, setup: GoSetup, lines: Vec<Vec<Move>>) -> Result<Suite, ProbeError> {
        let bad = |line: usize, why: String| ProbeError::Suite {
            name: name.to_string(),
            line,
            why,
        };
        let empty = Game::new(setup.board_size, setup.komi, Rules::default())
            .map_err(|e| bad(0, e.to_string()))?;
        for (i, moves) in lines.iter().enumerate() {
            let mut game = empty.clone();
            for (k, mv) in moves.iter().enumerate() {
                let color = game.to_move();
                game.play(color, *mv).map_err(|e| {
                    bad(
                        i + 1,
                        format!(
                            "move {} ({}) is illegal: {e}",
                            k + 1,
                            format_vertex(*mv, setup.board_size)
                        ),
                    )
                })?;
            }
        }
        Ok(Suite::with_hash(name, Positions::Go { setup, lines }))
    }

    /// A chess suite; every FEN must be a legal position.
    pub fn chess(name: &str, fens: Vec<String>) -> Result<Suite, ProbeError> {
        let mut canonical = Vec::with_capacity(fens.len());
        for (i, fen) in fens.iter().enumerate() {
            let pos = qarena_chess::parse_fen(fen).map_err(|e| ProbeError::Suite {
                name: name.to_string(),
                line: i + 1,
                why: e.to_string(),
            })?;
            canonical.push(qarena_chess::fen_of(&pos));
        }
        Ok(Suite::with_hash(name, Positions::Chess { fens: canonical }))
    }

    fn with_hash(name: &str, positions: Positions) -> Suite {
        let mut s = Suite {
            name: name.to_string(),
            positions,
            sha256: String::new(),
        };
        s.sha256 = format!("{:x}", Sha256::digest(s.to_text().as_bytes()));
        s
    }

    /// Reads a suite file.
    /// Reads a suite file of at most [`MAX_SUITE_BYTES`] (read in bounded
    /// memory whatever the file claims to be).
    pub fn load(path: &Path) -> Result<Suite, ProbeError> {
        use std::io::Read;
        let io = |e| ProbeError::Io {
            path: path.to_path_buf(),
            source: e,
        };
        let file = fs_err::File::open(path).map_err(io)?;
        let mut bytes = Vec::new();
        file.take(MAX_SUITE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        if bytes.len() as u64 > MAX_SUITE_BYTES {
            return Err(ProbeError::Suite {
                name,
                line: 0,
                why: format!("larger than {} MiB: not a suite", MAX_SUITE_BYTES >> 20),
            });
        }
        let text = String::from_utf8(bytes).map_err(|e| ProbeError::Suite {
            name: name.clone(),
            line: 0,
            why: format!("not UTF-8 text ({e})"),
        })?;
        Suite::parse(&name, &text)
    }

    /// Parses suite text (see the module documentation).
    pub fn parse(name: &str, text: &str) -> Result<Suite, ProbeError> {
        let bad = |line: usize, why: String| ProbeError::Suite {
            name: name.to_string(),
            line,
            why,
        };
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
        match lines.next() {
            Some((_, first)) if first == SUITE_MAGIC => {}
            _ => return Err(bad(1, format!("the first line must be `{SUITE_MAGIC}`"))),
        }
        let mut body = lines.filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
        let mut header = |key: &str| -> Result<(usize, String), ProbeError> {
            match body.next() {
                Some((n, l)) => match l.split_once(' ') {
                    Some((k, v)) if k == key => Ok((n, v.trim().to_string())),
                    _ => Err(bad(n, format!("expected `{key} ...`, found `{l}`"))),
                },
                None => Err(bad(0, format!("the header ends before `{key}`"))),
            }
        };
        let (n, game) = header("game")?;
        let suite = match game.as_str() {
            "go" => {
                let (n, size) = header("board_size")?;
                let board_size: u8 = size
                    .parse()
                    .map_err(|_| bad(n, format!("board_size `{size}` is not a number")))?;
                let (n, komi) = header("komi")?;
                let komi: f32 = komi
                    .parse()
                    .ok()
                    .filter(|k: &f32| k.is_finite())
                    .ok_or_else(|| bad(n, format!("komi `{komi}` is not a number")))?;
                let (_, rules) = header("rules")?;
                let setup = GoSetup {
                    board_size,
                    komi,
                    rules,
                };
                let count = expect_count(name, &mut header)?;
                let mut moves = Vec::new();
                for (n, line) in body {
                    let seq = if line == "-" {
                        Vec::new()
                    } else {
                        line.split_whitespace()
                            .map(|v| {
                                parse_vertex(v, board_size)
                                    .map_err(|e| bad(n, format!("`{v}`: {e}")))
                            })
                            .collect::<Result<Vec<Move>, ProbeError>>()?
                    };
                    moves.push(seq);
                }
                check_count(name, count, moves.len())?;
                Suite::go(name, setup, moves)?
            }
            "chess" => {
                let count = expect_count(name, &mut header)?;
                let fens: Vec<String> = body.map(|(_, l)| epd_fen(l)).collect();
                check_count(name, count, fens.len())?;
                Suite::chess(name, fens)?
            }
            other => {
                return Err(bad(
                    n,
                    format!("unknown game `{other}` (expected go or chess)"),
                ))
            }
        };
        Ok(suite)
    }

    /// The canonical text: what is hashed and written.
    pub fn to_text(&self) -> String {
        let mut out = format!("{SUITE_MAGIC}\n");
        match &self.positions {
            Positions::Go { setup, lines } => {
                let _ = writeln!(out, "game go");
                let _ = writeln!(out, "board_size {}", setup.board_size);
                let _ = writeln!(out, "komi {}", setup.komi);
                let _ = writeln!(out, "rules {}", setup.rules);
                let _ = writeln!(out, "positions {}", lines.len());
                for moves in lines {
                    if moves.is_empty() {
                        out.push_str("-\n");
                        continue;
                    }
                    let words: Vec<String> = moves
                        .iter()
                        .map(|m| format_vertex(*m, setup.board_size))
                        .collect();
                    let _ = writeln!(out, "{}", words.join(" "));
                }
            }
            Positions::Chess { fens } => {
                let _ = writeln!(out, "game chess");
                let _ = writeln!(out, "positions {}", fens.len());
                for fen in fens {
                    let _ = writeln!(out, "{fen}");
                }
            }
        }
        out
    }

    /// The positions whose index `keep` accepts, in order, as a suite
    /// called `name` (e.g. a screening half and a held-out half).
    pub fn subset(&self, name: &str, keep: impl Fn(usize) -> bool) -> Result<Suite, ProbeError> {
        match &self.positions {
            Positions::Go { setup, lines } => Suite::go(
                name,
                setup.clone(),
                lines
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| keep(*i))
                    .map(|(_, l)| l.clone())
                    .collect(),
            ),
            Positions::Chess { fens } => Suite::chess(
                name,
                fens.iter()
                    .enumerate()
                    .filter(|(i, _)| keep(*i))
                    .map(|(_, f)| f.clone())
                    .collect(),
            ),
        }
    }

    /// Writes the canonical text to `path`.
    pub fn save(&self, path: &Path) -> Result<(), ProbeError> {
        self.save_with_comments(path, &[])
    }

    /// The canonical text with `comments` as `#` lines right after the
    /// first line (say where the positions came from); comments leave the
    /// hash unchanged.
    pub fn to_text_with_comments(&self, comments: &[String]) -> String {
        let text = self.to_text();
        let body = text.strip_prefix(SUITE_MAGIC).unwrap_or(&text);
        let mut out = SUITE_MAGIC.to_string();
        out.push('\n');
        for c in comments.iter().flat_map(|c| c.lines()) {
            out.push_str(if c.is_empty() { "#" } else { "# " });
            out.push_str(c);
            out.push('\n');
        }
        out.push_str(body.trim_start_matches('\n'));
        out
    }

    /// Writes the text of [`Suite::to_text_with_comments`] to `path`.
    pub fn save_with_comments(&self, path: &Path, comments: &[String]) -> Result<(), ProbeError> {
        fs_err::write(path, self.to_text_with_comments(comments)).map_err(|e| ProbeError::Io {
            path: path.to_path_buf(),
            source: e,
        })
    }

    pub fn positions(&self) -> &Positions {
        &self.positions
    }

    /// The sha256 of the canonical text, lower-case hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// `go` or `chess`.
    pub fn game(&self) -> &'static str {
        match self.positions {
            Positions::Go { .. } => "go",
            Positions::Chess { .. } => "chess",
        }
    }

    pub fn len(&self) -> usize {
        match &self.positions {
            Positions::Go { lines, .. } => lines.len(),
            Positions::Chess { fens } => fens.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn expect_count(
    name: &str,
    header: &mut impl FnMut(&str) -> Result<(usize, String), ProbeError>,
) -> Result<(usize, usize), ProbeError> {
    let (n, count) = header("positions")?;
    count
        .parse()
        .map(|c| (n, c))
        .map_err(|_| ProbeError::Suite {
            name: name.to_string(),
            line: n,
            why: format!("positions `{count}` is not a number"),
        })
}

fn check_count(name: &str, (line, said): (usize, usize), found: usize) -> Result<(), ProbeError> {
    if said == found {
        return Ok(());
    }
    Err(ProbeError::Suite {
        name: name.to_string(),
        line,
        why: format!("the header says {said} positions but the file holds {found} (truncated?)"),
    })
}

/// The FEN of an EPD or FEN line: EPD has four fields and operations; the
/// move counters default to `0 1`.
fn epd_fen(line: &str) -> String {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let counters_present = fields.len() >= 6
        && fields[4].bytes().all(|b| b.is_ascii_digit())
        && fields[5].bytes().all(|b| b.is_ascii_digit());
    if counters_present {
        fields[..6].join(" ")
    } else {
        let mut f: Vec<&str> = fields.iter().take(4).copied().collect();
        f.extend(["0", "1"]);
        f.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GO: &str = "# qarena probe suite\n# a comment\ngame go\nboard_size 9\nkomi 7\nrules tromp-taylor\npositions 3\nC3 G7 E5\n-\nC3 pass\n";

    #[test]
    fn go_suites_round_trip_and_hash_their_canonical_text() {
        let s = Suite::parse("t", GO).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s.game(), "go");
        let again = Suite::parse("other", &s.to_text()).unwrap();
        assert_eq!(again.sha256(), s.sha256());
        assert_eq!(s.sha256().len(), 64);
        // Comments do not change the identity; a move does.
        let changed = Suite::parse("t", &GO.replace("C3 G7 E5", "C3 G7 E6")).unwrap();
        assert_ne!(changed.sha256(), s.sha256());
        // A subset keeps the setup and the chosen positions in order.
        let odd = s.subset("odd", |i| i % 2 == 1).unwrap();
        assert_eq!(odd.len(), 1);
        assert!(odd.to_text().ends_with("-\n"), "{}", odd.to_text());
        let noted = s.to_text_with_comments(&["made by hand\n\nfor a test".to_string()]);
        assert!(noted.starts_with(&format!(
            "{SUITE_MAGIC}\n# made by hand\n#\n# for a test\ngame go\n"
        )));
        assert_eq!(Suite::parse("t", &noted).unwrap().sha256(), s.sha256());
    }

    #[test]
    fn bad_suites_name_the_line() {
        let e = Suite::parse("t", &GO.replace("C3 pass", "C3 C3")).unwrap_err();
        assert!(e.to_string().contains("line 3"), "{e}");
        let e = Suite::parse("t", &GO.replace("positions 3", "positions 4")).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        let e = Suite::parse("t", "game go\n").unwrap_err();
        assert!(e.to_string().contains("first line"), "{e}");
        let e = Suite::parse("t", &GO.replace("C3 G7 E5", "C3 Z9")).unwrap_err();
        assert!(e.to_string().contains("Z9"), "{e}");
    }

    #[test]
    fn oversized_and_binary_files_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.suite");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_SUITE_BYTES + 10).unwrap();
        let e = Suite::load(&big).unwrap_err();
        assert!(
            e.to_string().contains("big") && e.to_string().contains("MiB"),
            "{e}"
        );
        let bin = dir.path().join("bin.suite");
        std::fs::write(&bin, [0xffu8, 0xfe, 0x00]).unwrap();
        let e = Suite::load(&bin).unwrap_err();
        assert!(e.to_string().contains("UTF-8"), "{e}");
    }

    #[test]
    fn chess_suites_accept_epd_and_fen() {
        let text = "# qarena probe suite\ngame chess\npositions 2\nrnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq - bm e5;\nrnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1\n";
        let s = Suite::parse("c", text).unwrap();
        assert_eq!(s.len(), 2);
        let Positions::Chess { fens } = s.positions() else {
            panic!("a chess suite");
        };
        assert!(fens[0].starts_with("rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq"));
        let e = Suite::parse("c", &text.replace("4P3", "9")).unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
    }
}
