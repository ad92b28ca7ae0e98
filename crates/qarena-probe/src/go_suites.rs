//! Go suites from games: positions sampled from stored games, or from
//! self-play with the reference engine.
//!
//! Both return a checked [`Suite`] and are deterministic by seed:
//!
//! - [`sample_from_games`] takes move lists (from SGF records with
//!   [`games_from_sgf`], or from the store) and draws positions spread over
//!   the game phases: the move numbers are cut into equal-width strata and
//!   the strata take turns giving up a random position, so late positions
//!   are not crowded out by the many early ones. No two positions share a
//!   move sequence, and a game's final position is never taken.
//! - [`SelfPlay`] plays KataGo against itself at low visits
//!   (`kata-set-param maxVisits`), each game opened by uniformly random
//!   moves (one per colour by default), `genmove` alternating; a game ends
//!   on two passes, a resignation or the move cap. Up to `per_game`
//!   distinct positions are sampled per game from move `min_move` on,
//!   never the terminal one. KataGo's search is seeded through
//!   `-override-config searchRandSeed=…,nnRandSeed=…`; with one search
//!   thread (the shipped `gtp.cfg`) the same seed gives the same games.
//!   With several search threads the games depend on timing and are not
//!   reproducible.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use qarena_engine::EngineSpec;
use qarena_go::{format_vertex, parse_vertex, Color, Game, Move, Rules, SgfGame};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::ProbeError;
use crate::gtp::Conversation;
use crate::katago::ProbeTimeouts;
use crate::suite::{GoSetup, Suite};

/// Most move-number strata used by [`sample_from_games`].
const STRATA: usize = 10;

/// The main lines of SGF records as move lists, each cut where the colours
/// stop alternating from Black (handicap placements, two moves in a row).
pub fn games_from_sgf(records: &[SgfGame]) -> Vec<Vec<Move>> {
    records
        .iter()
        .map(|r| {
            r.moves
                .iter()
                .enumerate()
                .take_while(|(i, m)| m.color == colour_of_move(*i))
                .map(|(_, m)| m.mv)
                .collect()
        })
        .collect()
}

/// Draws `count` positions (fewer if the games hold fewer distinct ones)
/// from `games`, each the first `k` moves of a game with
/// `min_move <= k < len`, spread over move numbers (see the module docs).
pub fn sample_from_games(
    name: &str,
    setup: GoSetup,
    games: &[Vec<Move>],
    count: usize,
    min_move: usize,
    seed: u64,
) -> Result<Suite, ProbeError> {
    let mut seen: HashSet<&[Move]> = HashSet::new();
    // (game, k) of every distinct position.
    let mut candidates: Vec<(usize, usize)> = Vec::new();
    for (g, moves) in games.iter().enumerate() {
        for k in min_move..moves.len() {
            if seen.insert(&moves[..k]) {
                candidates.push((g, k));
            }
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut chosen: Vec<(usize, usize)> = Vec::with_capacity(count);
    if let (Some(lo), Some(hi)) = (
        candidates.iter().map(|c| c.1).min(),
        candidates.iter().map(|c| c.1).max(),
    ) {
        let span = hi - lo + 1;
        let strata = STRATA.min(span);
        let mut bins: Vec<Vec<(usize, usize)>> = vec![Vec::new(); strata];
        for &c in &candidates {
            bins[(c.1 - lo) * strata / span].push(c);
        }
        for bin in &mut bins {
            bin.shuffle(&mut rng);
        }
        while chosen.len() < count && bins.iter().any(|b| !b.is_empty()) {
            for bin in &mut bins {
                if chosen.len() == count {
                    break;
                }
                if let Some(c) = bin.pop() {
                    chosen.push(c);
                }
            }
        }
    }
    chosen.sort_unstable();
    let lines = chosen
        .into_iter()
        .map(|(g, k)| games[g][..k].to_vec())
        .collect();
    Suite::go(name, setup, lines)
}

/// How a self-play game ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GameEnd {
    TwoPasses,
    /// The colour that resigned.
    Resigned(Color),
    MoveCap,
}

/// One self-play game.
#[derive(Debug, Clone, PartialEq)]
pub struct SelfPlayGame {
    pub moves: Vec<Move>,
    pub end: GameEnd,
}

/// A suite made by self-play, with the games it came from.
#[derive(Debug, Clone)]
pub struct SelfPlaySuite {
    pub suite: Suite,
    pub games: Vec<SelfPlayGame>,
}

/// Self-play with the reference engine; see the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct SelfPlay {
    pub katago: PathBuf,
    pub model: PathBuf,
    /// A GTP config (`gtp.cfg`): resignation and threads come from it.
    pub config: PathBuf,
    /// `maxVisits` per move.
    pub visits: u32,
    /// Uniformly random opening moves per game, colours alternating.
    pub random_moves: usize,
    /// A game stops after this many moves.
    pub max_moves: usize,
    /// Most positions sampled from one game.
    pub per_game: usize,
    /// Positions are taken from move `min_move` on.
    pub min_move: usize,
    pub seed: u64,
    pub timeouts: ProbeTimeouts,
    pub transcript: Option<PathBuf>,
}

impl SelfPlay {
    /// 16 visits, 2 random moves, 150 moves at most, up to 8 positions per
    /// game from move 2 on, seed 1.
    pub fn new(
        katago: impl Into<PathBuf>,
        model: impl Into<PathBuf>,
        config: impl Into<PathBuf>,
    ) -> SelfPlay {
        SelfPlay {
            katago: katago.into(),
            model: model.into(),
            config: config.into(),
            visits: 16,
            random_moves: 2,
            max_moves: 150,
            per_game: 8,
            min_move: 2,
            seed: 1,
            timeouts: ProbeTimeouts::default(),
            transcript: None,
        }
    }

    /// Plays games until `positions` distinct positions are sampled (the
    /// last game's sample is cut to fit) and returns them as a suite.
    pub fn suite(
        &self,
        name: &str,
        setup: GoSetup,
        positions: usize,
        stop: &AtomicBool,
    ) -> Result<SelfPlaySuite, ProbeError> {
        if self.per_game == 0 && positions > 0 {
            return Err(ProbeError::Setup(
                "self-play with per_game = 0 samples no positions".to_string(),
            ));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut conv = self.start(&setup, stop)?;
        let mut seen: HashSet<Vec<Move>> = HashSet::new();
        let mut lines: Vec<Vec<Move>> = Vec::with_capacity(positions);
        let mut games = Vec::new();
        // A game that yields nothing (resigned at once) must not loop forever.
        let max_games = 10 + 4 * positions.div_ceil(self.per_game.max(1));
        while lines.len() < positions {
            if games.len() >= max_games {
                return Err(ProbeError::Setup(format!(
                    "{} self-play games gave only {} of {positions} positions",
                    games.len(),
                    lines.len()
                )));
            }
            let game = self.play_game(&mut conv, &setup, &mut rng)?;
            let mut ks: Vec<usize> = (self.min_move..game.moves.len())
                .filter(|&k| !seen.contains(&game.moves[..k]))
                .collect();
            ks.shuffle(&mut rng);
            ks.truncate(self.per_game.min(positions - lines.len()));
            ks.sort_unstable();
            for k in ks {
                let line = game.moves[..k].to_vec();
                seen.insert(line.clone());
                lines.push(line);
            }
            games.push(game);
        }
        conv.finish();
        Ok(SelfPlaySuite {
            suite: Suite::go(name, setup, lines)?,
            games,
        })
    }

    /// Plays `count` games (for sampling with [`sample_from_games`]).
    pub fn games(
        &self,
        setup: &GoSetup,
        count: usize,
        stop: &AtomicBool,
    ) -> Result<Vec<SelfPlayGame>, ProbeError> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut conv = self.start(setup, stop)?;
        let games = (0..count)
            .map(|_| self.play_game(&mut conv, setup, &mut rng))
            .collect::<Result<Vec<_>, _>>()?;
        conv.finish();
        Ok(games)
    }

    fn start<'s>(
        &self,
        setup: &GoSetup,
        stop: &'s AtomicBool,
    ) -> Result<Conversation<'s, ()>, ProbeError> {
        let mut spec = EngineSpec::new(
            "suite-selfplay",
            vec![
                self.katago.display().to_string(),
                "gtp".to_string(),
                "-model".to_string(),
                self.model.display().to_string(),
                "-config".to_string(),
                self.config.display().to_string(),
                "-override-config".to_string(),
                format!("searchRandSeed=qarena{0},nnRandSeed=qarena{0}", self.seed),
            ],
        );
        spec.transcript = self.transcript.clone();
        let mut conv = Conversation::start(spec, stop)?;
        let t = self.timeouts;
        conv.call(&format!("boardsize {}", setup.board_size), (), t.startup)?;
        conv.call(&format!("komi {}", setup.komi), (), t.answer)?;
        conv.call(&format!("kata-set-rules {}", setup.rules), (), t.answer)?;
        conv.call(
            &format!("kata-set-param maxVisits {}", self.visits),
            (),
            t.answer,
        )?;
        Ok(conv)
    }

    fn play_game(
        &self,
        conv: &mut Conversation<'_, ()>,
        setup: &GoSetup,
        rng: &mut ChaCha8Rng,
    ) -> Result<SelfPlayGame, ProbeError> {
        let size = setup.board_size;
        let t = self.timeouts;
        let mut game = Game::new(size, setup.komi, Rules::default())
            .map_err(|e| ProbeError::Setup(e.to_string()))?;
        conv.call("clear_board", (), t.answer)?;
        let mut moves = Vec::new();
        let illegal = |mv: Move, e: &dyn std::fmt::Display| ProbeError::Protocol {
            label: "suite-selfplay".to_string(),
            why: format!("move {} is illegal: {e}", format_vertex(mv, size)),
        };
        while moves.len() < self.random_moves.min(self.max_moves) {
            let colour = game.to_move();
            let legal: Vec<Move> = game
                .legal_moves(colour)
                .into_iter()
                .filter(|m| matches!(m, Move::Play(_)))
                .collect();
            if legal.is_empty() {
                break;
            }
            let mv = legal[rng.gen_range(0..legal.len())];
            game.play(colour, mv).map_err(|e| illegal(mv, &e))?;
            conv.call(
                &format!("play {} {}", gtp_colour(colour), format_vertex(mv, size)),
                (),
                t.answer,
            )?;
            moves.push(mv);
        }
        let end = loop {
            if moves.len() >= self.max_moves {
                break GameEnd::MoveCap;
            }
            let colour = game.to_move();
            let answer = conv.call(&format!("genmove {}", gtp_colour(colour)), (), t.answer)?;
            let word = qarena_gtp::parse_genmove(&answer).map_err(|e| ProbeError::Protocol {
                label: "suite-selfplay".to_string(),
                why: format!("unreadable genmove answer: {e}"),
            })?;
            if word == "resign" {
                break GameEnd::Resigned(colour);
            }
            let mv = parse_vertex(&word, size).map_err(|e| ProbeError::Protocol {
                label: "suite-selfplay".to_string(),
                why: format!("genmove answered `{word}`: {e}"),
            })?;
            game.play(colour, mv).map_err(|e| illegal(mv, &e))?;
            moves.push(mv);
            if game.consecutive_passes() >= 2 {
                break GameEnd::TwoPasses;
            }
        };
        Ok(SelfPlayGame { moves, end })
    }
}

fn gtp_colour(c: Color) -> char {
    match c {
        Color::Black => 'b',
        Color::White => 'w',
    }
}

/// The colour of the `i`-th move (0-based) of an alternating game.
fn colour_of_move(i: usize) -> Color {
    if i.is_multiple_of(2) {
        Color::Black
    } else {
        Color::White
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::Positions;
    use qarena_go::Point;

    fn point(x: u8, y: u8) -> Move {
        Move::Play(Point::new(x, y))
    }

    fn lines(s: &Suite) -> Vec<Vec<Move>> {
        match s.positions() {
            Positions::Go { lines, .. } => lines.clone(),
            Positions::Chess { .. } => panic!("a go suite"),
        }
    }

    /// A legal 9×9 game of `n` moves: stones on distinct points, filled
    /// row by row from alternating ends so nothing is captured early.
    fn game(n: usize, offset: usize) -> Vec<Move> {
        (0..n)
            .map(|i| {
                let j = (i + offset) % 40;
                point(
                    (j % 9) as u8,
                    if i % 2 == 0 {
                        (j / 9) as u8
                    } else {
                        8 - (j / 9) as u8
                    },
                )
            })
            .collect()
    }

    #[test]
    fn sampling_is_deterministic_distinct_and_spread() {
        let games: Vec<Vec<Move>> = (0..6).map(|g| game(30 + g, g)).collect();
        let a = sample_from_games("t", GoSetup::default(), &games, 40, 2, 7).unwrap();
        let b = sample_from_games("t", GoSetup::default(), &games, 40, 2, 7).unwrap();
        let c = sample_from_games("t", GoSetup::default(), &games, 40, 2, 8).unwrap();
        assert_eq!(a.sha256(), b.sha256());
        assert_ne!(a.sha256(), c.sha256());
        let ls = lines(&a);
        assert_eq!(ls.len(), 40);
        let distinct: HashSet<&Vec<Move>> = ls.iter().collect();
        assert_eq!(distinct.len(), 40);
        // Never a final position, never before move 2.
        for l in &ls {
            assert!(l.len() >= 2);
            assert!(!games.iter().any(|g| g == l), "a final position was taken");
        }
        // Every tenth of the move range (2..=34) is represented.
        let phases: HashSet<usize> = ls.iter().map(|l| (l.len() - 2) * 10 / 33).collect();
        assert_eq!(phases.len(), 10, "{phases:?}");
    }

    #[test]
    fn sampling_takes_what_there_is() {
        let games = vec![game(5, 0), game(5, 0)];
        let s = sample_from_games("t", GoSetup::default(), &games, 100, 2, 1).unwrap();
        // Prefixes of length 2, 3, 4 of one game (the two games are the same).
        assert_eq!(s.len(), 3);
        let empty = sample_from_games("t", GoSetup::default(), &[], 10, 0, 1).unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn sgf_main_lines_stop_where_colours_stop_alternating() {
        let text = "(;GM[1]SZ[9]KM[7];B[cc];W[gg];W[ee];B[dd])";
        let rec = qarena_go::parse_sgf(text).unwrap();
        let g = games_from_sgf(&[rec]);
        assert_eq!(g, vec![vec![point(2, 2), point(6, 6)]]);
    }
}
