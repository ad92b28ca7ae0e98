//! Opening suites: EPD and PGN files, the shipped default suite, the order
//! in which a match walks through them, and the generator that builds a
//! balanced suite by random play filtered by an engine's evaluation (the
//! engine is a closure, supplied by the arena).
//!
//! Invariants:
//! - Every [`Opening`] that exists was replayed with shakmaty when it was
//!   loaded: its FEN is a legal position and its moves are legal from it,
//!   so a game never fails on its own opening.
//! - An opening is chosen by the pair index alone (plus the settings), so
//!   both games of a pair, and a resumed run, get the same opening.
//! - Files are parsed once per process and shared (`Arc`) across workers.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use qarena_uci::Score;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use shakmaty::fen::Epd;
use shakmaty::san::San;
use shakmaty::{Chess, EnPassantMode, Position};

use crate::position::{fen_of, mix, parse_fen, random_walk, uci_of};
use crate::tactics::{write_suite, Generated};
use crate::{Error, Place};

/// The suite used when the settings name no file: 200 positions generated
/// by `generate_openings` (8 random plies, |eval| ≤ 50 cp, seed 1).
const DEFAULT_SUITE: &str = include_str!("../../../openings/default.epd");
const DEFAULT_SUITE_NAME: &str = "openings/default.epd (built in)";

/// The order in which pairs walk through the opening suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OpeningOrder {
    #[default]
    Sequential,
    Random,
}

/// A start position for one pair of games.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opening {
    /// Full six-field FEN, or `None` for the standard start position.
    pub fen: Option<String>,
    /// Book moves (UCI) played from `fen` before the engines take over.
    pub moves: Vec<String>,
    /// Where it came from, e.g. `default.epd:17`, for messages.
    pub source: String,
}

impl Opening {
    /// The position the opening starts from (before its book moves).
    pub fn root(&self) -> Result<Chess, Error> {
        match &self.fen {
            None => Ok(Chess::default()),
            Some(fen) => parse_fen(fen),
        }
    }
}

type Cache = Mutex<HashMap<(Option<PathBuf>, Option<u32>), Arc<Vec<Opening>>>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The openings in `file` (EPD, or PGN by its extension, cut to `plies`
/// plies), or the built-in suite for `None`, parsed once per process.
/// Errors name the file and the offending line.
pub fn load_openings(file: Option<&Path>, plies: Option<u32>) -> Result<Arc<Vec<Opening>>, Error> {
    let key = (file.map(Path::to_path_buf), plies);
    if let Some(hit) = cache().lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(Arc::clone(hit));
    }
    let list = match file {
        None => parse_epd(DEFAULT_SUITE, DEFAULT_SUITE_NAME)?,
        Some(path) => load_file(path, plies)?,
    };
    if list.is_empty() {
        let name = file
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| DEFAULT_SUITE_NAME.to_string());
        return Err(Error::NoOpenings { name });
    }
    let list = Arc::new(list);
    cache()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, Arc::clone(&list));
    Ok(list)
}

fn load_file(path: &Path, plies: Option<u32>) -> Result<Vec<Opening>, Error> {
    let text = fs_err::read_to_string(path).map_err(Error::ReadOpenings)?;
    let name = path.display().to_string();
    let is_pgn = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("pgn"));
    if is_pgn {
        parse_pgn_openings(&text, &name, plies)
    } else {
        parse_epd(&text, &name)
    }
}

/// Which opening pair `pair_index` plays. Sequential walks the file in
/// order; random uses a seeded permutation per pass through the file, so
/// every opening is used once before any repeats.
pub fn opening_index(count: usize, order: OpeningOrder, seed: u64, pair_index: u32) -> usize {
    if count == 0 {
        return 0;
    }
    let pair = pair_index as usize;
    match order {
        OpeningOrder::Sequential => pair % count,
        OpeningOrder::Random => {
            let pass = (pair / count) as u64;
            let mut perm: Vec<usize> = (0..count).collect();
            let mut rng = ChaCha8Rng::seed_from_u64(mix(seed ^ 0x6f70_656e_696e_6773, pass));
            perm.shuffle(&mut rng);
            perm[pair % count]
        }
    }
}

/// EPD lines (`<board> <side> <castling> <ep> [opcodes;]`) or plain FENs,
/// one per line; `#` starts a comment line. The `hmvc` and `fmvn` opcodes
/// set the move counters, which default to `0 1`.
pub fn parse_epd(text: &str, name: &str) -> Result<Vec<Opening>, Error> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = Place::line(name, i + 1);
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 4 {
            return Err(Error::NotEpdOrFen {
                at,
                line: line.to_string(),
            });
        }
        let four = fields[..4].join(" ");
        let is_fen = fields.len() >= 6
            && fields[4].parse::<u32>().is_ok()
            && fields[5].parse::<u32>().is_ok();
        let (halfmoves, fullmoves) = if is_fen {
            (fields[4].to_string(), fields[5].to_string())
        } else {
            let rest = fields[4..].join(" ");
            (
                opcode(&rest, "hmvc").unwrap_or_else(|| "0".to_string()),
                opcode(&rest, "fmvn").unwrap_or_else(|| "1".to_string()),
            )
        };
        let fen = format!("{four} {halfmoves} {fullmoves}");
        let pos = parse_fen(&fen).map_err(|e| e.at(&at))?;
        if pos.is_game_over() {
            return Err(Error::GameOver {
                at,
                line: line.to_string(),
            });
        }
        out.push(Opening {
            fen: Some(fen_of(&pos)),
            moves: Vec::new(),
            source: at.to_string(),
        });
    }
    Ok(out)
}

/// The operand of an EPD opcode such as `hmvc 3;`.
fn opcode(rest: &str, name: &str) -> Option<String> {
    rest.split(';').find_map(|op| {
        let mut words = op.split_whitespace();
        (words.next() == Some(name))
            .then(|| words.next().map(str::to_string))
            .flatten()
    })
}

/// Games of a PGN file as openings: the `FEN` tag (if any) and the first
/// `plies` moves of the main line (all of them when `plies` is `None`).
/// Comments, variations, NAGs and move numbers are skipped.
pub fn parse_pgn_openings(
    text: &str,
    name: &str,
    plies: Option<u32>,
) -> Result<Vec<Opening>, Error> {
    scan_pgn(text, name, plies, false)
}

/// Whole games of a PGN file: the `FEN` tag (if any) and every move of the
/// main line. Unlike an opening, a game may end in mate or stalemate.
pub fn parse_pgn_games(text: &str, name: &str) -> Result<Vec<Opening>, Error> {
    scan_pgn(text, name, None, true)
}

fn scan_pgn(
    text: &str,
    name: &str,
    plies: Option<u32>,
    may_end_game: bool,
) -> Result<Vec<Opening>, Error> {
    let mut out = Vec::new();
    let mut game = PgnScan::default();
    let mut depth_var = 0usize;
    let mut in_movetext = false;
    let mut game_no = 0usize;
    let mut chars = text.char_indices().peekable();
    let line_of = |at: usize| text[..at].matches('\n').count() + 1;

    let mut finish = |g: &mut PgnScan, game_no: usize| -> Result<(), Error> {
        if let Some(op) = g.take(name, game_no, plies, may_end_game)? {
            out.push(op);
        }
        Ok(())
    };

    while let Some((at, c)) = chars.next() {
        match c {
            '[' if depth_var == 0 => {
                if in_movetext {
                    finish(&mut game, game_no)?;
                    in_movetext = false;
                }
                if !game.started {
                    game_no += 1;
                    game.started = true;
                    game.line = line_of(at);
                }
                let mut tag = String::new();
                for (_, c) in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                    tag.push(c);
                }
                if let Some((key, value)) = parse_tag(&tag) {
                    if key == "FEN" {
                        game.fen = Some(value);
                    }
                }
            }
            '{' => {
                for (_, c) in chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                }
            }
            ';' => {
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '(' => depth_var += 1,
            ')' => depth_var = depth_var.saturating_sub(1),
            c if c.is_whitespace() => {}
            _ => {
                let mut token = String::from(c);
                while let Some(&(_, n)) = chars.peek() {
                    if n.is_whitespace() || "{}()[];".contains(n) {
                        break;
                    }
                    token.push(n);
                    chars.next();
                }
                if !game.started {
                    game_no += 1;
                    game.started = true;
                    game.line = line_of(at);
                }
                in_movetext = true;
                if depth_var > 0 {
                    continue;
                }
                if matches!(token.as_str(), "1-0" | "0-1" | "1/2-1/2" | "*") {
                    finish(&mut game, game_no)?;
                    in_movetext = false;
                    continue;
                }
                if token.starts_with('$') {
                    continue;
                }
                // "12." / "12..." / "12.e4": drop the move number.
                let san = token.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
                if san.is_empty() {
                    continue;
                }
                game.sans.push((san.to_string(), line_of(at)));
            }
        }
    }
    if game.started {
        finish(&mut game, game_no)?;
    }
    Ok(out)
}

#[derive(Default)]
struct PgnScan {
    started: bool,
    line: usize,
    fen: Option<String>,
    sans: Vec<(String, usize)>,
}

impl PgnScan {
    fn take(
        &mut self,
        name: &str,
        no: usize,
        plies: Option<u32>,
        may_end_game: bool,
    ) -> Result<Option<Opening>, Error> {
        let scan = std::mem::take(self);
        if !scan.started {
            return Ok(None);
        }
        let at = Place {
            game: Some(no),
            ..Place::line(name, scan.line)
        };
        let mut pos = match &scan.fen {
            Some(f) => parse_fen(f).map_err(|e| e.at(&at))?,
            None => Chess::default(),
        };
        let limit = plies.map_or(usize::MAX, |p| p as usize);
        let mut moves = Vec::new();
        for (san, line) in scan.sans.iter().take(limit) {
            let here = || Place::line(name, *line);
            let mv = san
                .parse::<San>()
                .map_err(|_| Error::NotSan {
                    at: here(),
                    san: san.clone(),
                })?
                .to_move(&pos)
                .map_err(|reason| Error::IllegalSan {
                    at: here(),
                    san: san.clone(),
                    reason,
                })?;
            moves.push(uci_of(&mv));
            pos.play_unchecked(&mv);
        }
        if pos.is_game_over() && !may_end_game {
            return Err(Error::OpeningEndsGame { at });
        }
        Ok(Some(Opening {
            fen: scan
                .fen
                .map(|f| parse_fen(&f).map(|p| fen_of(&p)).unwrap_or(f)),
            moves,
            source: at.to_string(),
        }))
    }
}

/// `Key "value"` with `\"` and `\\` escapes.
fn parse_tag(tag: &str) -> Option<(String, String)> {
    let tag = tag.trim();
    let (key, rest) = tag.split_once(char::is_whitespace)?;
    let rest = rest.trim();
    let inner = rest.strip_prefix('"')?.strip_suffix('"')?;
    let mut value = String::new();
    let mut esc = false;
    for c in inner.chars() {
        if esc {
            value.push(c);
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else {
            value.push(c);
        }
    }
    Some((key.to_string(), value))
}

/// How many nodes a generator evaluation searches: deterministic for a
/// single-threaded engine, and deep enough to drop lopsided positions.
pub const GENERATE_NODES: u64 = 20_000;

/// Builds a balanced opening suite: random legal play of `plies` plies
/// from the start position (seeded), kept when `evaluate` (an engine at
/// [`GENERATE_NODES`] nodes, given the FEN) scores the final position
/// within ±`max_eval_cp` and not as a mate, and not a duplicate. Returns
/// the text of an EPD file with `count` positions (fewer only if the
/// attempts run out); [`write_openings`] saves it.
pub fn generate_openings<E>(
    plies: u32,
    max_eval_cp: i32,
    count: usize,
    seed: u64,
    mut evaluate: impl FnMut(&str) -> Result<Option<Score>, E>,
) -> Result<Generated, E> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut seen = HashSet::new();
    let mut lines = Vec::new();
    let max_attempts = count.saturating_mul(200).max(1000);
    let mut attempts = 0usize;
    while lines.len() < count && attempts < max_attempts {
        attempts += 1;
        let Some(pos) = random_walk(&mut rng, plies) else {
            continue;
        };
        let epd = Epd::from_position(pos.clone(), EnPassantMode::Legal).to_string();
        if !seen.insert(epd.clone()) {
            continue;
        }
        match evaluate(&fen_of(&pos))? {
            Some(Score::Cp(cp)) if cp.abs() <= max_eval_cp => {
                lines.push(format!("{epd} ce {cp}; c0 \"qarena generated\";"));
            }
            _ => {}
        }
    }
    let mut text = format!(
        "# qarena opening suite: {} positions, {plies} random plies from the start position,\n\
         # |eval| <= {max_eval_cp} cp at {GENERATE_NODES} nodes (ce = centipawns for the side to move), seed {seed}.\n",
        lines.len()
    );
    for l in &lines {
        text.push_str(l);
        text.push('\n');
    }
    Ok(Generated {
        text,
        count: lines.len(),
    })
}

/// Writes a generated suite to `out` (creating its folder) and lets a
/// later [`load_openings`] in the same process see the new file.
pub fn write_openings(out: &Path, suite: &Generated) -> Result<(), Error> {
    write_suite(out, suite)?;
    cache()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|(path, _), _| path.as_deref() != Some(out));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_suite_loads() {
        let list = parse_epd(DEFAULT_SUITE, "default").unwrap();
        assert_eq!(list.len(), 200);
        let distinct: HashSet<_> = list.iter().map(|o| o.fen.clone()).collect();
        assert_eq!(distinct.len(), 200);
    }

    #[test]
    fn epd_and_fen_lines() {
        let text = "# comment\n\
            rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq - hmvc 0; fmvn 1;\n\
            rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1\n";
        let list = parse_epd(text, "t").unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(
            list[0].fen.as_deref(),
            Some("rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq - 0 1")
        );
        assert_eq!(list[0].source, "t:2");
        let err = parse_epd("8/8/8/8 w - -\n", "bad").unwrap_err().to_string();
        assert!(err.starts_with("bad:1"), "{err}");
        let short = parse_epd("8/8 w\n", "x.epd").unwrap_err().to_string();
        assert_eq!(short, "x.epd:1: expected an EPD or FEN line, got `8/8 w`");
    }

    #[test]
    fn pgn_openings_take_plies() {
        let text = r#"[Event "x"]
[White "a"]

1. e4 {best} e5 (1... c5 2. Nf3) 2. Nf3 $1 Nc6 3. Bb5 a6 *

[Event "y"]
[FEN "rnbqkbnr/pppppppp/8/8/3P4/8/PPP1PPPP/RNBQKBNR b KQkq - 0 1"]
[SetUp "1"]

1... d5 2. c4 1/2-1/2
"#;
        let list = parse_pgn_openings(text, "t.pgn", Some(4)).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].moves, ["e2e4", "e7e5", "g1f3", "b8c6"]);
        assert_eq!(list[0].fen, None);
        assert_eq!(list[1].moves, ["d7d5", "c2c4"]);
        assert!(list[1].fen.is_some());
        let all = parse_pgn_openings(text, "t.pgn", None).unwrap();
        assert_eq!(all[0].moves.len(), 6);
        let bad = parse_pgn_openings("1. e4 e4 *", "b.pgn", None)
            .unwrap_err()
            .to_string();
        assert!(bad.contains("b.pgn:1") && bad.contains("`e4`"), "{bad}");
        let mate = "\n1. f3 e5 2. g4 Qh4# 0-1";
        let game = parse_pgn_games(mate, "m.pgn").unwrap();
        assert_eq!(game[0].moves, ["f2f3", "e7e5", "g2g4", "d8h4"]);
        let over = parse_pgn_openings(mate, "m.pgn", None)
            .unwrap_err()
            .to_string();
        assert_eq!(over, "m.pgn:2 (game 1): the opening ends the game");
    }

    #[test]
    fn random_order_is_a_permutation_per_pass() {
        let n = 7;
        let first: HashSet<_> = (0..n as u32)
            .map(|p| opening_index(n, OpeningOrder::Random, 5, p))
            .collect();
        assert_eq!(first.len(), n);
        let again: Vec<_> = (0..n as u32)
            .map(|p| opening_index(n, OpeningOrder::Random, 5, p))
            .collect();
        let other: Vec<_> = (0..n as u32)
            .map(|p| opening_index(n, OpeningOrder::Random, 6, p))
            .collect();
        assert_ne!(again, other);
        assert_eq!(opening_index(n, OpeningOrder::Sequential, 5, 9), 2);
    }

    #[test]
    fn generator_filters_on_the_evaluation_and_writes_a_loadable_suite() {
        let evaluate = |fen: &str| -> Result<Option<Score>, ()> {
            Ok(Some(Score::Cp(if fen.len().is_multiple_of(2) {
                20
            } else {
                400
            })))
        };
        let suite = generate_openings(6, 50, 5, 11, evaluate).unwrap();
        assert_eq!(suite.count, 5);
        assert!(suite
            .text
            .starts_with("# qarena opening suite: 5 positions, 6 random plies"));
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sub").join("g.epd");
        write_openings(&out, &suite).unwrap();
        let list = load_openings(Some(&out), None).unwrap();
        assert_eq!(list.len(), 5);
        assert!(list
            .iter()
            .all(|o| o.source.starts_with(&out.display().to_string())));
        let mates = generate_openings(6, 50, 2, 11, |_| Ok::<_, ()>(Some(Score::Mate(3))));
        assert_eq!(mates.unwrap().count, 0);
        let none = load_openings(Some(&dir.path().join("missing.epd")), None).unwrap_err();
        assert!(none.to_string().starts_with("reading openings: "), "{none}");
    }
}
