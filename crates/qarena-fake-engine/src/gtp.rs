//! The GTP front end: a small but honest GTP engine that plays random legal
//! moves on a board tracked with `qarena-go`, plus the GTP shape of each fault.

use qarena_go::{format_result, format_vertex, parse_vertex, Color, Game, Move, Point, Rules};
use rand::seq::SliceRandom;

use crate::{say, Cue, Mode, Session};

const COMMANDS: &[&str] = &[
    "protocol_version",
    "name",
    "version",
    "list_commands",
    "known_command",
    "boardsize",
    "clear_board",
    "komi",
    "play",
    "genmove",
    "final_score",
    "quit",
];

/// The GTP side of the session.
pub(crate) struct State {
    size: u8,
    komi: f32,
    game: Game,
}

impl State {
    pub(crate) fn new() -> State {
        State {
            size: 19,
            komi: 7.5,
            game: fresh(19, 7.5),
        }
    }
}

fn fresh(size: u8, komi: f32) -> Game {
    // Sizes and komi are checked before they get here; fall back to a
    // standard board rather than panic if that ever changes.
    Game::new(size, komi, Rules::default())
        .or_else(|_| Game::new(19, 7.5, Rules::default()))
        .unwrap_or_else(|_| unreachable!("a 19x19 board with komi 7.5 is always valid"))
}

/// Handles one command line; returns false when the session should end.
pub(crate) fn handle(s: &mut Session<'_>, line: &str) -> bool {
    // GTP: comments start with '#', and an optional numeric id leads the command.
    let line = line.split('#').next().unwrap_or("").trim();
    let mut words = line.split_whitespace().peekable();
    let id = match words.peek() {
        Some(w) if w.bytes().all(|b| b.is_ascii_digit()) => words.next().unwrap_or(""),
        _ => "",
    };
    let Some(command) = words.next() else {
        return true;
    };
    let args: Vec<&str> = words.collect();
    let reply = |ok: bool, text: &str| {
        let mark = if ok { '=' } else { '?' };
        let sep = if text.is_empty() { "" } else { " " };
        say(&format!("{mark}{id}{sep}{text}\n"));
    };
    match command {
        "protocol_version" => reply(true, "2"),
        "name" => reply(true, &s.opts.name),
        "version" => reply(true, env!("CARGO_PKG_VERSION")),
        "list_commands" => reply(true, &COMMANDS.join("\n")),
        "known_command" => {
            let known = args.first().is_some_and(|c| COMMANDS.contains(c));
            reply(true, if known { "true" } else { "false" });
        }
        "boardsize" => match args.first().and_then(|a| a.parse::<u8>().ok()) {
            Some(n) if Game::new(n, s.gtp.komi, Rules::default()).is_ok() => {
                s.gtp.size = n;
                s.gtp.game = fresh(n, s.gtp.komi);
                reply(true, "");
            }
            _ => reply(false, "unacceptable size"),
        },
        "clear_board" => {
            s.gtp.game = fresh(s.gtp.size, s.gtp.komi);
            reply(true, "");
        }
        "komi" => match args
            .first()
            .and_then(|a| a.parse::<f32>().ok())
            .filter(|k| k.is_finite())
        {
            Some(k) => {
                s.gtp.komi = k;
                // Komi only matters for scoring; keep the position.
                let moves = s.gtp.game.moves().to_vec();
                s.gtp.game = Game::replay(s.gtp.size, k, Rules::default(), &moves)
                    .unwrap_or_else(|_| fresh(s.gtp.size, k));
                reply(true, "");
            }
            None => reply(false, "syntax error"),
        },
        "play" => {
            let parsed = match args.as_slice() {
                [c, v] => Color::parse(c).zip(parse_vertex(v, s.gtp.size).ok()),
                _ => None,
            };
            match parsed {
                None => reply(false, "syntax error"),
                Some((color, mv)) => match s.gtp.game.play(color, mv) {
                    Ok(()) => reply(true, ""),
                    Err(_) => reply(false, "illegal move"),
                },
            }
        }
        "genmove" => {
            let Some(color) = args.first().and_then(|c| Color::parse(c)) else {
                reply(false, "syntax error");
                return true;
            };
            match s.move_request() {
                Cue::Normal => {
                    let mv = choose(s, color);
                    // Our own choice is legal by construction; recorded so
                    // later `play` commands are checked against the true board.
                    let _ = s.gtp.game.play(color, mv);
                    reply(true, &format_vertex(mv, s.gtp.size));
                }
                Cue::Fault(Mode::Garbage) => say("%%garbage%% \u{a4}\u{a4}\n"),
                Cue::Fault(Mode::BadBestmove) => reply(true, "xyz"),
                Cue::Fault(Mode::NullMove) => reply(true, "pass"),
                Cue::Fault(Mode::Illegal) => reply(true, &illegal_vertex(&s.gtp.game, s.gtp.size)),
                Cue::Fault(_) => {}
            }
        }
        "final_score" => reply(true, &format_result(s.gtp.game.area_score())),
        "quit" => {
            reply(true, "");
            return false;
        }
        _ => reply(false, "unknown command"),
    }
    true
}

/// A random legal move that does not fill one of the mover's own
/// single-point eyes (so random games end), or pass.
fn choose(s: &mut Session<'_>, color: Color) -> Move {
    let game = &s.gtp.game;
    let size = usize::from(s.gtp.size);
    if game.moves().len() >= 2 * size * size {
        return Move::Pass;
    }
    let candidates: Vec<Move> = game
        .legal_moves(color)
        .into_iter()
        .filter(|mv| match mv {
            Move::Play(p) => !is_own_eye(game, *p, color),
            Move::Pass => false,
        })
        .collect();
    candidates.choose(&mut s.rng).copied().unwrap_or(Move::Pass)
}

fn is_own_eye(game: &Game, p: Point, color: Color) -> bool {
    let size = game.size();
    let mut neighbours = Vec::with_capacity(4);
    if p.x > 0 {
        neighbours.push(Point::new(p.x - 1, p.y));
    }
    if p.x + 1 < size {
        neighbours.push(Point::new(p.x + 1, p.y));
    }
    if p.y > 0 {
        neighbours.push(Point::new(p.x, p.y - 1));
    }
    if p.y + 1 < size {
        neighbours.push(Point::new(p.x, p.y + 1));
    }
    neighbours.iter().all(|&n| game.stone(n) == Some(color))
}

/// An occupied point if there is one, else a vertex just off the board.
fn illegal_vertex(game: &Game, size: u8) -> String {
    for y in 0..size {
        for x in 0..size {
            let p = Point::new(x, y);
            if game.stone(p).is_some() {
                return format_vertex(Move::Play(p), size);
            }
        }
    }
    format!("A{}", u32::from(size) + 1)
}
