//! Chess suites built from what qarena already has: an opening book, and
//! stored games.
//!
//! * [`from_openings`]: each opening's position, then a few random legal
//!   plies, so the suite covers the early middlegame around the book.
//! * [`from_games`]: positions taken from played games, spread over their
//!   phases (each game's plies are cut into equal bands, one position per
//!   band), never the final position.
//! * [`combine`]: several suites as one, duplicates dropped.
//!
//! Invariants: the same input and seed give the same suite; no suite holds
//! a position twice (same board, side, castling and en passant square, move
//! counters aside), a position in check (Stockfish has no static
//! evaluation for it) or a finished game.

use std::collections::HashSet;
use std::ops::RangeInclusive;

use qarena_chess::{fen_of, legal_move, mix, parse_pgn_games, Opening};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use shakmaty::{Chess, Position};

use crate::error::ProbeError;
use crate::suite::{Positions, Suite};

/// Random walks tried per opening before it is given up (every walk that
/// ends in check, a finished game or a duplicate is tried again).
const TRIES: usize = 20;

/// `per_opening` positions per opening: the opening's position after its
/// book moves, then a random number of uniformly random legal plies from
/// `plies`, seeded by `seed` and the opening's index.
pub fn from_openings(
    name: &str,
    openings: &[Opening],
    plies: RangeInclusive<u32>,
    per_opening: usize,
    seed: u64,
) -> Result<Suite, ProbeError> {
    let mut picked = Picked::default();
    for (i, opening) in openings.iter().enumerate() {
        let root = replay(name, opening)?.pop().unwrap_or_default();
        let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, i as u64));
        let mut found = 0;
        for _ in 0..per_opening * TRIES {
            if found == per_opening {
                break;
            }
            let n = rng.gen_range(plies.clone());
            let Some(pos) = walk(root.clone(), n, &mut rng) else {
                continue;
            };
            found += usize::from(picked.add(&pos));
        }
    }
    Suite::chess(name, picked.fens)
}

/// `per_game` positions per game, one from each of `per_game` equal bands
/// of the game's plies (so openings, middlegames and endings all appear),
/// leaving out the final position, positions in check and duplicates.
/// Each game is its start (`fen`, the standard position when `None`) and
/// its moves in UCI.
pub fn from_games(
    name: &str,
    games: &[Opening],
    per_game: usize,
    seed: u64,
) -> Result<Suite, ProbeError> {
    let mut picked = Picked::default();
    for (g, game) in games.iter().enumerate() {
        let mut line = replay(name, game)?;
        // The final position is where the game was decided, not a position
        // either engine had to judge.
        line.pop();
        let usable: Vec<Chess> = line.into_iter().filter(usable).collect();
        if usable.is_empty() || per_game == 0 {
            continue;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(mix(seed ^ 0x6761_6d65, g as u64));
        let bands = per_game.min(usable.len());
        for b in 0..bands {
            let lo = b * usable.len() / bands;
            let hi = (b + 1) * usable.len() / bands;
            let mut band: Vec<usize> = (lo..hi).collect();
            band.shuffle(&mut rng);
            // The first band member that is new; a band of repeats adds nothing.
            for k in band {
                if picked.add(&usable[k]) {
                    break;
                }
            }
        }
    }
    Suite::chess(name, picked.fens)
}

/// The games of a PGN text (as written by `qarena export pgn`), for
/// [`from_games`]. Errors name the text's `name` and line.
pub fn games_from_pgn(text: &str, name: &str) -> Result<Vec<Opening>, ProbeError> {
    parse_pgn_games(text, name).map_err(|e| ProbeError::Suite {
        name: name.to_string(),
        line: 0,
        why: e.to_string(),
    })
}

/// The positions of several chess suites in order, each once.
pub fn combine(name: &str, suites: &[&Suite]) -> Result<Suite, ProbeError> {
    let mut seen = HashSet::new();
    let mut fens = Vec::new();
    for suite in suites {
        let Positions::Chess { fens: more } = suite.positions() else {
            return Err(ProbeError::Suite {
                name: suite.name.clone(),
                line: 0,
                why: format!("a {} suite cannot join a chess suite", suite.game()),
            });
        };
        for fen in more {
            if seen.insert(position_key(fen)) {
                fens.push(fen.clone());
            }
        }
    }
    Suite::chess(name, fens)
}

/// The positions a suite collects, in order, without repeats.
#[derive(Default)]
struct Picked {
    seen: HashSet<String>,
    fens: Vec<String>,
}

impl Picked {
    /// Adds `pos` if it is usable and new; tells whether it was added.
    fn add(&mut self, pos: &Chess) -> bool {
        if !usable(pos) {
            return false;
        }
        let fen = fen_of(pos);
        if !self.seen.insert(position_key(&fen)) {
            return false;
        }
        self.fens.push(fen);
        true
    }
}

/// Whether a probe can ask about `pos`: not in check, game not over.
fn usable(pos: &Chess) -> bool {
    !pos.is_check() && !pos.is_game_over()
}

/// A FEN without its move counters: two positions that differ only there
/// are the same to an evaluation.
fn position_key(fen: &str) -> String {
    fen.split_whitespace().take(4).collect::<Vec<_>>().join(" ")
}

/// Every position of `game`, from its start to after its last move.
fn replay(name: &str, game: &Opening) -> Result<Vec<Chess>, ProbeError> {
    let bad = |why: String| ProbeError::Suite {
        name: name.to_string(),
        line: 0,
        why: format!("{}: {why}", game.source),
    };
    let mut pos = game.root().map_err(|e| bad(e.to_string()))?;
    let mut line = vec![pos.clone()];
    for (k, token) in game.moves.iter().enumerate() {
        let mv = legal_move(&pos, token)
            .ok_or_else(|| bad(format!("move {} (`{token}`) is not legal", k + 1)))?;
        pos.play_unchecked(&mv);
        line.push(pos.clone());
    }
    Ok(line)
}

/// `plies` random legal moves from `pos`; `None` when the game ends on
/// the way or the walk ends in an unusable position.
fn walk(mut pos: Chess, plies: u32, rng: &mut ChaCha8Rng) -> Option<Chess> {
    for _ in 0..plies {
        let moves = pos.legal_moves();
        let mv = moves.choose(rng)?.clone();
        pos.play_unchecked(&mv);
    }
    usable(&pos).then_some(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fens(s: &Suite) -> Vec<String> {
        match s.positions() {
            Positions::Chess { fens } => fens.clone(),
            Positions::Go { .. } => panic!("a chess suite"),
        }
    }

    fn check_clean(s: &Suite) {
        let f = fens(s);
        let keys: HashSet<String> = f.iter().map(|x| position_key(x)).collect();
        assert_eq!(keys.len(), f.len(), "duplicates");
        for fen in &f {
            assert!(usable(&qarena_chess::parse_fen(fen).unwrap()), "{fen}");
        }
    }

    #[test]
    fn opening_suites_are_seeded_and_clean() {
        let book = qarena_chess::load_openings(None, None).unwrap();
        let a = from_openings("a", &book[..20], 2..=6, 2, 7).unwrap();
        let b = from_openings("b", &book[..20], 2..=6, 2, 7).unwrap();
        let c = from_openings("c", &book[..20], 2..=6, 2, 8).unwrap();
        assert_eq!(a.len(), 40);
        assert_eq!(a.sha256(), b.sha256());
        assert_ne!(a.sha256(), c.sha256());
        check_clean(&a);
    }

    #[test]
    fn game_suites_skip_the_end_checks_and_repeats() {
        // Fool's mate, twice, and a game that repeats the start position.
        let pgn = "[Event \"a\"]\n\n1. f3 e5 2. g4 Qh4# 0-1\n\n[Event \"b\"]\n\n1. f3 e5 2. g4 Qh4# 0-1\n\n\
                   [Event \"c\"]\n\n1. Nf3 Nf6 2. Ng1 Ng8 3. e4 e5 4. Bc4 Bc5 5. Bxf7+ Kxf7 6. Nf3 Nc6 *\n";
        let games = games_from_pgn(pgn, "t.pgn").unwrap();
        assert_eq!(games.len(), 3);
        let s = from_games("g", &games, 100, 1).unwrap();
        check_clean(&s);
        let f = fens(&s);
        // Game a gives the 4 positions before mate; b only repeats them; c
        // gives its 13 positions minus the final one, the check after
        // Bxf7+, and the start position (seen in a, and again after 2... Ng8).
        assert_eq!(f.len(), 4 + (13 - 1 - 1 - 2), "{f:#?}");
        assert!(!f
            .iter()
            .any(|x| x.starts_with("rnb1kbnr/pppp1ppp/8/4p3/6Pq")));
        let again = from_games("g", &games, 100, 1).unwrap();
        assert_eq!(again.sha256(), s.sha256());
        // Fewer per game: one from each band.
        let few = from_games("g", &games[2..], 3, 1).unwrap();
        assert_eq!(few.len(), 3);
    }

    #[test]
    fn combined_suites_drop_repeats() {
        let book = qarena_chess::load_openings(None, None).unwrap();
        let a = from_openings("a", &book[..5], 1..=1, 1, 1).unwrap();
        let b = from_openings("b", &book[..10], 1..=1, 1, 1).unwrap();
        let both = combine("ab", &[&a, &b]).unwrap();
        assert_eq!(both.len(), 10);
        check_clean(&both);
        let bad = games_from_pgn("1. e4 e4 *", "b.pgn").unwrap_err();
        assert!(bad.to_string().contains("b.pgn"), "{bad}");
    }
}
