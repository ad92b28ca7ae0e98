//! Chess verdicts from a UCI engine (Stockfish) at fixed nodes or depth.
//!
//! Every position of a game (before each move, and after the last) is
//! searched once with MultiPV K; the verdict on move p compares the best
//! line at position p with the engine's view of position p+1, negated.
//!
//! Mate scores become centipawns so losses stay integers:
//! `mate +n` (side to move mates in n moves) is `10000 − (2n − 1)`, `mate −n`
//! is `−(10000 − 2n)`, and a checkmated side to move is `−10000`: a faster
//! mate is worth more, and any mate outweighs any material score. A
//! stalemated side to move is 0. `loss_cp = max(0, before − after)`.
//!
//! Invariants:
//! - Positions come from shakmaty, so the engine is only sent legal moves;
//!   the game is cut at the first unreadable or illegal move.
//! - Game-over positions (mate, stalemate) are scored here, not searched.
//! - Nothing the engine prints can panic this module: scores come from
//!   `qarena_uci::parse_line`, which is total.
//! - Every command has one deadline, fixed when it is sent; `info` lines
//!   (or any other output) never extend it, so an engine that floods `info`
//!   without `bestmove` fails at the deadline. Waits stop within 100 ms of
//!   a stop request.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use qarena_engine::{Engine, EngineSpec};
use qarena_store::{GameId, JudgeMove, MoveRecord};
use qarena_uci::{
    format_go, format_position, format_setoption, parse_line, GoLimit, Message, Score,
};
use serde_json::{json, Value};
use shakmaty::fen::Fen;
use shakmaty::uci::UciMove;
use shakmaty::{CastlingMode, Chess, Position};

use crate::wait::next_line;
use crate::JudgeError;

/// The centipawn value of being mated now; see the module docs.
pub const MATE_CP: i64 = 10_000;

/// A UCI score as centipawns from the side to move, mates mapped as in the
/// module docs.
pub fn score_cp(score: Score) -> i64 {
    match score {
        Score::Cp(cp) => i64::from(cp),
        Score::Mate(n) if n > 0 => MATE_CP - (2 * i64::from(n) - 1),
        Score::Mate(n) => -(MATE_CP - 2 * i64::from(n).abs()),
    }
}

/// A stored chess game ready to replay.
#[derive(Debug, Clone, PartialEq)]
pub struct ChessGame {
    /// `None` for the standard start position.
    pub start_fen: Option<String>,
    /// Legal moves in UCI notation.
    pub moves: Vec<String>,
    /// The stored ply of each move.
    pub plies: Vec<i64>,
    /// For each position `0..=moves.len()`: its score if the game is over
    /// there (side to move's view), else `None` (the engine searches it).
    pub terminal: Vec<Option<i64>>,
    /// Why the moves were cut short, if they were.
    pub truncated: Option<String>,
}

impl ChessGame {
    /// Positions to evaluate: before every move and after the last.
    pub fn positions(&self) -> usize {
        self.moves.len() + 1
    }
}

/// Why a stored chess game cannot be replayed at all.
#[derive(Debug, thiserror::Error)]
pub enum ChessGameError {
    #[error("opening FEN `{fen}`: {reason}")]
    BadFen {
        fen: String,
        reason: shakmaty::fen::ParseFenError,
    },
    #[error("opening FEN `{fen}`: {reason}")]
    ImpossibleFen {
        fen: String,
        reason: Box<shakmaty::PositionError<Chess>>,
    },
}

/// Reads a stored chess game from its opening FEN and UCI moves.
pub fn chess_game(
    opening: Option<&str>,
    moves: &[MoveRecord],
) -> Result<ChessGame, ChessGameError> {
    let mut pos = match opening.filter(|f| !f.trim().is_empty() && f.trim() != "startpos") {
        None => Chess::default(),
        Some(fen) => Fen::from_ascii(fen.trim().as_bytes())
            .map_err(|reason| ChessGameError::BadFen {
                fen: fen.to_string(),
                reason,
            })?
            .into_position::<Chess>(CastlingMode::Standard)
            .map_err(|reason| ChessGameError::ImpossibleFen {
                fen: fen.to_string(),
                reason: Box::new(reason),
            })?,
    };
    let mut g = ChessGame {
        start_fen: opening
            .map(str::trim)
            .filter(|f| !f.is_empty() && *f != "startpos")
            .map(str::to_string),
        moves: Vec::with_capacity(moves.len()),
        plies: Vec::with_capacity(moves.len()),
        terminal: vec![terminal_score(&pos)],
        truncated: None,
    };
    for m in moves {
        if g.terminal.last().copied().flatten().is_some() {
            g.truncated = Some(format!(
                "ply {}: move `{}` after the game ended",
                m.ply, m.mv
            ));
            break;
        }
        let legal = UciMove::from_ascii(m.mv.trim().as_bytes())
            .map_err(|e| e.to_string())
            .and_then(|u| u.to_move(&pos).map_err(|e| e.to_string()));
        let mv = match legal {
            Ok(mv) => mv,
            Err(e) => {
                // A trailing resignation or null move is how a game ends,
                // not a broken record.
                if !qarena_uci::is_null_move(&m.mv) && !m.mv.eq_ignore_ascii_case("resign") {
                    g.truncated = Some(format!("ply {}: move `{}`: {e}", m.ply, m.mv));
                }
                break;
            }
        };
        pos.play_unchecked(&mv);
        g.moves.push(m.mv.trim().to_string());
        g.plies.push(m.ply);
        g.terminal.push(terminal_score(&pos));
    }
    Ok(g)
}

fn terminal_score(pos: &Chess) -> Option<i64> {
    if pos.is_checkmate() {
        Some(-MATE_CP)
    } else if pos.is_stalemate() {
        Some(0)
    } else {
        None
    }
}

/// The engine's evaluation of one position, side to move's view.
#[derive(Debug, Clone, PartialEq)]
pub struct PosEval {
    pub cp: i64,
    /// Expected score (win + draw/2) when the engine reports WDL.
    pub winrate: Option<f64>,
    pub best: Option<String>,
    /// One entry per MultiPV line: move, cp, mate, depth, pv.
    pub top: Vec<Value>,
}

impl PosEval {
    /// A game-over position scored without the engine.
    pub fn terminal(cp: i64) -> PosEval {
        PosEval {
            cp,
            winrate: Some(if cp == 0 {
                0.5
            } else if cp > 0 {
                1.0
            } else {
                0.0
            }),
            best: None,
            top: Vec::new(),
        }
    }
}

/// One verdict per move; `evals[p]` is position p's evaluation.
pub fn verdicts(game: GameId, g: &ChessGame, evals: &[PosEval], blunder_cp: i64) -> Vec<JudgeMove> {
    g.plies
        .iter()
        .enumerate()
        .filter_map(|(p, ply)| {
            let before = evals.get(p)?;
            let after = evals.get(p + 1)?;
            let after_cp = -after.cp;
            let loss_cp = (before.cp - after_cp).max(0);
            let wr_after = after.winrate.map(|w| 1.0 - w);
            Some(JudgeMove {
                game,
                ply: *ply,
                before_winrate: before.winrate,
                after_winrate: wr_after,
                before_score: Some(before.cp as f64),
                after_score: Some(after_cp as f64),
                best_move: before.best.clone(),
                loss_winrate: match (before.winrate, wr_after) {
                    (Some(b), Some(a)) => Some((b - a).max(0.0)),
                    _ => None,
                },
                loss_score: None,
                loss_cp: Some(loss_cp),
                blunder: loss_cp >= blunder_cp,
                top_k: Some(Value::Array(before.top.clone())),
            })
        })
        .collect()
}

/// A started UCI engine configured for judging.
pub(crate) struct Uci<'s> {
    pub engine: Engine,
    pub name: Option<String>,
    pub wdl: bool,
    /// MultiPV lines asked for; `info` of a higher index is ignored.
    multipv: u32,
    stop: Option<&'s AtomicBool>,
}

impl<'s> Uci<'s> {
    pub fn start(
        label: &str,
        argv: &[String],
        transcript: Option<PathBuf>,
        multipv: u32,
        startup_timeout: Duration,
        stop: Option<&'s AtomicBool>,
    ) -> Result<Uci<'s>, JudgeError> {
        let mut spec = EngineSpec::new(label, argv.to_vec());
        spec.transcript = transcript;
        let mut engine = Engine::spawn(spec)?;
        let sent = Instant::now();
        engine.write_line("uci")?;
        let deadline = sent + startup_timeout;
        let mut name = None;
        let mut options = Vec::new();
        loop {
            let what = || "uci".to_string();
            match parse_line(&next_line(&mut engine, deadline, sent, &what, stop)?) {
                Message::IdName(n) => name = Some(n),
                Message::Option(o) => options.push(o.name),
                Message::UciOk => break,
                _ => {}
            }
        }
        let has = |n: &str| options.iter().any(|o| o.eq_ignore_ascii_case(n));
        if multipv > 1 {
            if !has("MultiPV") {
                return Err(JudgeError::BadResponse {
                    label: label.to_string(),
                    program: engine.program().to_string(),
                    detail: "the engine has no MultiPV option; use --multipv 1".into(),
                });
            }
            engine.write_line(&format_setoption("MultiPV", Some(&multipv.to_string())))?;
        }
        let wdl = has("UCI_ShowWDL");
        if wdl {
            engine.write_line(&format_setoption("UCI_ShowWDL", Some("true")))?;
        }
        let mut uci = Uci {
            engine,
            name,
            wdl,
            multipv: multipv.max(1),
            stop,
        };
        uci.ready(deadline)?;
        Ok(uci)
    }

    /// The next line before `deadline` (see [`next_line`]).
    fn line(&mut self, deadline: Instant, sent: Instant, what: &str) -> Result<String, JudgeError> {
        next_line(
            &mut self.engine,
            deadline,
            sent,
            &|| what.to_string(),
            self.stop,
        )
    }

    fn ready(&mut self, deadline: Instant) -> Result<(), JudgeError> {
        let sent = Instant::now();
        self.engine.write_line("isready")?;
        loop {
            if let Message::ReadyOk = parse_line(&self.line(deadline, sent, "isready")?) {
                return Ok(());
            }
        }
    }

    pub fn new_game(&mut self, timeout: Duration) -> Result<(), JudgeError> {
        let sent = Instant::now();
        self.engine.write_line("ucinewgame")?;
        self.ready(sent + timeout)
    }

    /// Searches one position and returns the best line's evaluation.
    pub fn evaluate(
        &mut self,
        fen: Option<&str>,
        moves: &[String],
        limit: GoLimit,
        timeout: Duration,
    ) -> Result<PosEval, JudgeError> {
        self.engine.write_line(&format_position(fen, moves))?;
        let go = format_go(&limit);
        let sent = Instant::now();
        self.engine.write_line(&go)?;
        let deadline = sent + timeout;
        // Latest scored line per MultiPV index (1-based).
        let mut lines: Vec<Option<qarena_uci::Info>> = Vec::new();
        let best = loop {
            match parse_line(&self.line(deadline, sent, &go)?) {
                Message::Info(info) if info.score.is_some() && !info.pv.is_empty() => {
                    let k = info.multipv.unwrap_or(1).max(1) as usize;
                    // Only the lines asked for: an engine counting MultiPV
                    // up without end must not grow this table.
                    if k > self.multipv as usize {
                        continue;
                    }
                    if lines.len() < k {
                        lines.resize(k, None);
                    }
                    lines[k - 1] = Some(info);
                }
                Message::BestMove { mv, .. } => break mv,
                _ => {}
            }
        };
        let Some(Some(first)) = lines.first() else {
            return Err(JudgeError::BadResponse {
                label: self.engine.label().to_string(),
                program: self.engine.program().to_string(),
                detail: format!("`{go}` ended with `bestmove {best}` but no scored info line"),
            });
        };
        let cp = first.score.map(score_cp).unwrap_or(0);
        let winrate = first
            .wdl
            .map(|(w, d, l)| {
                let total = f64::from(w + d + l).max(1.0);
                (f64::from(w) + f64::from(d) / 2.0) / total
            })
            .filter(|_| self.wdl);
        let top = lines
            .iter()
            .flatten()
            .map(|i| {
                let (cp, mate) = match i.score {
                    Some(Score::Cp(c)) => (Some(i64::from(c)), None),
                    Some(Score::Mate(m)) => (Some(score_cp(Score::Mate(m))), Some(m)),
                    None => (None, None),
                };
                json!({
                    "move": i.pv.first(),
                    "cp": cp,
                    "mate": mate,
                    "depth": i.depth,
                    "nodes": i.nodes,
                    "pv": i.pv.join(" "),
                })
            })
            .collect();
        Ok(PosEval {
            cp,
            winrate,
            best: first.pv.first().cloned().or(Some(best)),
            top,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv(ply: i64, mv: &str) -> MoveRecord {
        MoveRecord {
            game: GameId(1),
            ply,
            color: if ply % 2 == 0 { "w" } else { "b" }.parse().unwrap(),
            mv: mv.into(),
            time_ms: 0,
        }
    }

    #[test]
    fn mate_scores_order_and_stay_large() {
        assert_eq!(score_cp(Score::Mate(1)), 9_999);
        assert_eq!(score_cp(Score::Mate(3)), 9_995);
        assert_eq!(score_cp(Score::Mate(-2)), -9_996);
        assert_eq!(score_cp(Score::Mate(0)), -MATE_CP);
        assert!(score_cp(Score::Mate(-30)) < score_cp(Score::Cp(-3000)));
        assert_eq!(score_cp(Score::Cp(-35)), -35);
    }

    #[test]
    fn fools_mate_is_terminal_and_cut_at_illegal_moves() {
        let moves = [mv(0, "f2f3"), mv(1, "e7e5"), mv(2, "g2g4"), mv(3, "d8h4")];
        let g = chess_game(None, &moves).unwrap();
        assert_eq!(g.moves.len(), 4);
        assert_eq!(g.terminal.last(), Some(&Some(-MATE_CP)));
        assert!(g.truncated.is_none());

        let g = chess_game(None, &[mv(0, "e2e4"), mv(1, "e2e4")]).unwrap();
        assert_eq!(g.moves.len(), 1);
        assert!(g.truncated.unwrap().contains("ply 1"));

        let bad = chess_game(Some("not a fen"), &[]).unwrap_err().to_string();
        assert!(bad.starts_with("opening FEN `not a fen`: "), "{bad}");
        let impossible = chess_game(Some("8/8/8/8/8/8/8/8 w - - 0 1"), &[])
            .unwrap_err()
            .to_string();
        assert!(
            impossible.starts_with("opening FEN `8/8/8/8/8/8/8/8 w - - 0 1`: "),
            "{impossible}"
        );
        let fen = "8/8/8/8/8/5k2/8/5K1q w - - 0 1";
        let g = chess_game(Some(fen), &[]).unwrap();
        assert_eq!(g.start_fen.as_deref(), Some(fen));
    }

    #[test]
    fn verdicts_negate_the_next_position() {
        let g = chess_game(None, &[mv(0, "e2e4"), mv(1, "f7f6")]).unwrap();
        let e = |cp, w| PosEval {
            cp,
            winrate: Some(w),
            best: Some("x".into()),
            top: vec![],
        };
        // White +30 before e4; Black sees -40 after e4; White sees +250 after f6.
        let evals = [e(30, 0.55), e(-40, 0.45), e(250, 0.9)];
        let v = verdicts(GameId(1), &g, &evals, 200);
        assert_eq!(v[0].loss_cp, Some(0));
        assert_eq!(v[0].after_score, Some(40.0));
        assert_eq!(v[1].before_score, Some(-40.0));
        assert_eq!(v[1].after_score, Some(-250.0));
        assert_eq!(v[1].loss_cp, Some(210));
        assert!(v[1].blunder && !v[0].blunder);
        assert!((v[1].loss_winrate.unwrap() - 0.35).abs() < 1e-12);
    }
}
