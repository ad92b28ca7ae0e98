//! The UCI front end: random legal chess moves via shakmaty, plus the UCI
//! shape of each fault.

use rand::seq::SliceRandom;
use rand::Rng;
use shakmaty::fen::Fen;
use shakmaty::uci::UciMove;
use shakmaty::{CastlingMode, Chess, Position};

use crate::{say, Cue, Mode, Session};

/// The UCI side of the session.
pub(crate) struct State {
    position: Chess,
}

impl State {
    pub(crate) fn new() -> State {
        State {
            position: Chess::default(),
        }
    }
}

/// Handles one command line; returns false when the session should end.
pub(crate) fn handle(s: &mut Session<'_>, line: &str) -> bool {
    let mut words = line.split_whitespace();
    let Some(command) = words.next() else {
        return true;
    };
    let args: Vec<&str> = words.collect();
    match command {
        "uci" => {
            say(&format!("id name {}", s.opts.name));
            say("id author qarena");
            say("uciok");
        }
        "isready" => say("readyok"),
        "ucinewgame" => s.uci.position = Chess::default(),
        // Options are accepted and ignored: random play has nothing to tune.
        "setoption" | "stop" | "ponderhit" | "debug" | "register" => {}
        "position" => match parse_position(&args) {
            Ok(pos) => s.uci.position = pos,
            Err(msg) => {
                eprintln!("fake: bad position command: {msg}");
                say(&format!("info string bad position: {msg}"));
            }
        },
        "go" => go(s),
        "quit" => return false,
        other => say(&format!("info string unknown command {other}")),
    }
    true
}

fn go(s: &mut Session<'_>) {
    let legal = s.uci.position.legal_moves();
    let best = legal
        .choose(&mut s.rng)
        .map(|m| m.to_uci(CastlingMode::Standard).to_string());
    let nodes: u32 = s.rng.gen_range(1..10_000);
    match s.move_request() {
        Cue::Normal => {}
        Cue::Fault(Mode::Garbage) => {
            // Malformed info lines must be tolerated by a harness; the
            // bestmove that follows is fine.
            say("info depth x score cp banana");
            say("info %%garbage%% \u{a4}\u{a4} pv");
        }
        Cue::Fault(Mode::BadBestmove) => return say("bestmove xyz"),
        Cue::Fault(Mode::NullMove) => return say("bestmove 0000"),
        Cue::Fault(Mode::Illegal) => {
            return say(&format!("bestmove {}", illegal_move(&s.uci.position)))
        }
        Cue::Fault(_) => return,
    }
    match best {
        Some(mv) => {
            say(&format!(
                "info depth 1 score cp 0 nodes {} pv {mv}",
                nodes / 2
            ));
            say(&format!("info depth 2 score cp 0 nodes {nodes} pv {mv}"));
            say(&format!("bestmove {mv}"));
        }
        None => {
            say("info depth 0 score cp 0");
            say("bestmove (none)");
        }
    }
}

/// `position startpos|fen <fen> [moves m1 m2 ...]`.
fn parse_position(args: &[&str]) -> Result<Chess, String> {
    let moves_at = args
        .iter()
        .position(|&w| w == "moves")
        .unwrap_or(args.len());
    let (setup, moves) = args.split_at(moves_at);
    let mut pos = match setup {
        ["startpos"] => Chess::default(),
        ["fen", fen @ ..] if !fen.is_empty() => {
            let fen: Fen = fen.join(" ").parse().map_err(|e| format!("bad FEN: {e}"))?;
            fen.into_position(CastlingMode::Standard)
                .map_err(|e| format!("impossible position: {e}"))?
        }
        _ => return Err("expected `startpos` or `fen <fen>`".to_string()),
    };
    for text in moves.iter().skip(1) {
        let uci: UciMove = text.parse().map_err(|_| format!("bad move `{text}`"))?;
        let mv = uci
            .to_move(&pos)
            .map_err(|_| format!("illegal move `{text}`"))?;
        pos = pos
            .play(&mv)
            .map_err(|_| format!("illegal move `{text}`"))?;
    }
    Ok(pos)
}

/// A move that parses as UCI but is not legal here.
fn illegal_move(pos: &Chess) -> String {
    ["e1e8", "a1h8", "h8a1", "a1a1"]
        .into_iter()
        .find(|cand| {
            cand.parse::<UciMove>()
                .map(|u| u.to_move(pos).is_err())
                .unwrap_or(true)
        })
        .unwrap_or("a1a1")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_with_moves() {
        let pos = parse_position(&["startpos", "moves", "e2e4", "e7e5"]).unwrap();
        assert_eq!(pos.fullmoves().get(), 2);
        assert!(parse_position(&["startpos", "moves", "e2e5"]).is_err());
        assert!(parse_position(&["fen", "nonsense"]).is_err());
    }

    #[test]
    fn illegal_move_is_illegal() {
        let pos = Chess::default();
        let mv: UciMove = illegal_move(&pos).parse().unwrap();
        assert!(mv.to_move(&pos).is_err());
    }
}
