//! Referees one chess game between two UCI engines.
//!
//! Decisions taken here (and relied on by the tests):
//! - A well-formed but illegal `bestmove`, and a null move (`0000`,
//!   `(none)`) in a position that has legal moves, lose by `IllegalMove`.
//!   The engine is still in step with the protocol, so it is not restarted.
//! - A `bestmove` that is not a UCI move at all (`xyz`) is `BadResponse`:
//!   a protocol fault; the engine loses and the runner restarts it.
//! - With a clock, qarena measures the time from `go` to `bestmove`. A move
//!   arriving later than the mover's remaining time + `time_margin_ms`
//!   loses on time (`TimeForfeit`), unless the opponent has insufficient
//!   material to mate, which makes it a draw (same termination). At that
//!   moment qarena also sends `stop`; no `bestmove` within
//!   `move_deadline_slack_ms` after that is a `Timeout` fault.
//! - Draw rules are applied automatically (no claims): threefold repetition
//!   counts positions since the game's root, book moves included.
//! - `max_plies` counts every ply of the record, book moves included.

use qarena_store::{EventKind, MoveColor, RecordFormat};
use qarena_uci::{format_go, format_position, is_null_move, GoLimit, Info, Score};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use shakmaty::san::SanPlus;
use shakmaty::uci::UciMove;
use shakmaty::zobrist::{Zobrist64, ZobristHash};
use shakmaty::{CastlingMode, Chess, Color, EnPassantMode, Position, Role};

use qarena_chess::{
    fen_of, mix, opening_index, write_pgn, Adjudicator, Limit, Opening, PgnGame, PgnMove,
    TimeControl, Verdict,
};

use super::uci_client::{GoDeadline, GoReply, UciEngine};
use super::ChessSettings;
use crate::failure::{Failure, Termination};
use crate::game::{GameEvent, GameOutcome, PlayedMove, SelfEval, Slot};
use crate::referee::{Forfeit, Referee};

/// Names and labels that go into the game record.
pub struct ChessGameMeta<'a> {
    /// Display names of slot A and slot B.
    pub names: [&'a str; 2],
    /// `YYYY-MM-DD`.
    pub date: String,
    pub game_name: String,
    pub round: u32,
    /// Both games of a pair share this index and so their opening.
    pub pair_index: u32,
    /// The game's index in the match; seeds its node jitter.
    pub game_index: u32,
}

/// The clock qarena keeps under a time control.
struct Clock {
    tc: TimeControl,
    /// Remaining milliseconds, White then Black.
    remaining: [u64; 2],
    /// Moves made by White, Black.
    made: [u32; 2],
}

impl Clock {
    fn new(tc: TimeControl) -> Clock {
        Clock {
            tc,
            remaining: [tc.base_ms; 2],
            made: [0; 2],
        }
    }

    fn movestogo(&self, c: Color) -> Option<u32> {
        self.tc.moves.map(|m| m - self.made[ci(c)] % m)
    }

    /// Charges a move that came in time: subtract, add the increment, and
    /// a new period's base time when one starts.
    fn charge(&mut self, c: Color, used_ms: u64) {
        let i = ci(c);
        self.remaining[i] = self.remaining[i].saturating_sub(used_ms) + self.tc.increment_ms;
        self.made[i] += 1;
        if let Some(m) = self.tc.moves {
            if self.made[i].checked_rem(m) == Some(0) {
                self.remaining[i] += self.tc.base_ms;
            }
        }
    }
}

fn ci(c: Color) -> usize {
    match c {
        Color::White => 0,
        Color::Black => 1,
    }
}

struct Ctx<'a> {
    white: Slot,
    settings: &'a ChessSettings,
    opening: &'a Opening,
    /// Where the record starts (the opening's root position).
    root: Chess,
    pos: Chess,
    /// Every move since the root, book moves first, in UCI.
    uci: Vec<String>,
    /// Zobrist key of every position since the root, root included.
    keys: Vec<u64>,
    pgn_moves: Vec<PgnMove>,
    /// FEN of the position where the engines took over.
    start_fen: String,
    moves: Vec<PlayedMove>,
    self_evals: Vec<SelfEval>,
    events: Vec<GameEvent>,
    warned_unknown: [bool; 2],
    clock: Option<Clock>,
    jitter: Option<(u64, ChaCha8Rng)>,
}

impl Ctx<'_> {
    fn slot_of(&self, c: Color) -> Slot {
        if c == Color::White {
            self.white
        } else {
            self.white.other()
        }
    }

    fn color_of(&self, s: Slot) -> Color {
        if s == self.white {
            Color::White
        } else {
            Color::Black
        }
    }

    fn push_position(&mut self, mv: &shakmaty::Move, comment: Option<String>) {
        let san = SanPlus::from_move(self.pos.clone(), mv).to_string();
        self.uci
            .push(UciMove::from_move(mv, CastlingMode::Standard).to_string());
        self.pos.play_unchecked(mv);
        self.keys.push(key(&self.pos));
        self.pgn_moves.push(PgnMove { san, comment });
    }
}

fn key(pos: &Chess) -> u64 {
    let z: Zobrist64 = pos.zobrist_hash(EnPassantMode::Legal);
    z.0
}

/// Plays one game; `engines[0]` is slot A, `engines[1]` slot B, and
/// `first` is the slot playing White. Without settings the defaults apply.
pub fn play_chess_game(
    engines: [&mut UciEngine; 2],
    first: Slot,
    settings: Option<&ChessSettings>,
    meta: &ChessGameMeta<'_>,
) -> GameOutcome {
    let defaults = ChessSettings::default();
    let settings = settings.unwrap_or(&defaults);
    let [a, b] = engines;
    let mut eng: [&mut UciEngine; 2] = [a, b];

    let openings = match settings.load_openings() {
        Ok(list) => list,
        Err(e) => return setup_error(first, settings, meta, format!("openings: {e}")),
    };
    let index = opening_index(
        openings.len(),
        settings.opening_order,
        settings.seed,
        meta.pair_index,
    );
    let opening = &openings[index];
    let root = match opening.root() {
        Ok(p) => p,
        Err(e) => return setup_error(first, settings, meta, format!("{}: {e}", opening.source)),
    };
    let jitter = match settings.limit {
        Limit::Nodes(_) if settings.node_jitter > 0.0 => {
            let seed = mix(settings.seed, u64::from(meta.game_index));
            Some((seed, ChaCha8Rng::seed_from_u64(seed)))
        }
        _ => None,
    };
    let mut ctx = Ctx {
        white: first,
        settings,
        opening,
        root: root.clone(),
        pos: root.clone(),
        uci: Vec::new(),
        keys: vec![key(&root)],
        pgn_moves: Vec::new(),
        start_fen: String::new(),
        moves: Vec::new(),
        self_evals: Vec::new(),
        events: Vec::new(),
        warned_unknown: [false; 2],
        clock: match settings.limit {
            Limit::Tc(tc) => Some(Clock::new(tc)),
            _ => None,
        },
        jitter,
    };
    for text in &opening.moves {
        // Validated when the file was loaded; re-checked so a bug cannot
        // turn into an illegal record.
        let mv = match text
            .parse::<UciMove>()
            .ok()
            .and_then(|u| u.to_move(&ctx.pos).ok())
        {
            Some(mv) => mv,
            None => {
                let why = format!("{}: book move `{text}` is illegal", opening.source);
                return setup_error(first, settings, meta, why);
            }
        };
        ctx.push_position(&mv, Some("book".to_string()));
    }
    ctx.start_fen = fen_of(&ctx.pos);

    for slot in [Slot::A, Slot::B] {
        let e = &mut eng[slot.index()];
        e.note(&format!(
            "new game: {} ({} as {})",
            meta.game_name,
            meta.names[slot.index()],
            if slot == first { "white" } else { "black" }
        ));
        if let Err(f) = e.new_game(settings.multipv) {
            let tail = e.stderr_tail();
            return ctx.fault(slot, f, Some(tail), meta);
        }
    }

    let mut adjudicator = Adjudicator::new(&settings.adjudication);
    loop {
        if let Some((term, winner)) = rules_end(&ctx) {
            return finish(ctx, term, Some(winner), None, meta);
        }
        if let Some(max) = settings.adjudication.max_plies {
            if ctx.uci.len() as u64 >= u64::from(max) {
                let why = format!("Draw by adjudication: maximum length of {max} plies");
                return finish(ctx, Termination::MoveCap, Some(None), Some(why), meta);
            }
        }
        let color = ctx.pos.turn();
        let mover = ctx.slot_of(color);
        let (limit, deadline) = next_limit(&mut ctx, color, eng[mover.index()].move_timeout());
        let root_fen = ctx.opening.fen.clone();
        let position = format_position(root_fen.as_deref(), &ctx.uci);
        let go = format_go(&limit);
        let e = &mut eng[mover.index()];
        let reply = match e.go(&position, &go, deadline) {
            Ok(r) => r,
            Err(f) => {
                let tail = e.stderr_tail();
                return ctx.fault(mover, f, Some(tail), meta);
            }
        };
        let label = e.label().to_string();
        let time_ms = reply.elapsed.as_millis() as u64;
        if reply.unknown.0 > 0 && !ctx.warned_unknown[mover.index()] {
            ctx.warned_unknown[mover.index()] = true;
            ctx.events.push(GameEvent {
                kind: EventKind::Warning,
                slot: Some(mover),
                message: format!(
                    "engine '{label}' printed {} unrecognised line(s) while searching, e.g. {:?}",
                    reply.unknown.0, reply.unknown.1
                ),
                stderr_tail: None,
            });
        }

        if let Some(clock) = ctx.clock.as_mut() {
            let left = clock.remaining[ci(color)];
            let margin = settings.time_margin().as_millis() as u64;
            if reply.stopped || time_ms > left + margin {
                return time_forfeit(ctx, color, time_ms, left, meta);
            }
            clock.charge(color, time_ms);
        }

        if is_null_move(&reply.bestmove) {
            let why = "a null move while legal moves exist";
            return ctx.illegal_move(mover, &label, &reply.bestmove, why, meta);
        }
        let Ok(uci) = reply.bestmove.parse::<UciMove>() else {
            let f = Failure::BadResponse {
                label,
                detail: format!("`bestmove {}` is not a UCI move", reply.bestmove),
            };
            let tail = eng[mover.index()].stderr_tail();
            return ctx.fault(mover, f, Some(tail), meta);
        };
        let mv = match uci.to_move(&ctx.pos) {
            Ok(mv) => mv,
            Err(_) => {
                let why = format!("not legal in {}", fen_of(&ctx.pos));
                return ctx.illegal_move(mover, &label, &reply.bestmove, &why, meta);
            }
        };

        let ply = ctx.moves.len() as u32;
        let main = reply.main_line().cloned();
        let score = main.as_ref().and_then(|i| i.score);
        let comment = move_comment(main.as_ref(), time_ms);
        if let Some(ev) = self_eval(&reply, ply, mover, time_ms, settings.multipv) {
            ctx.self_evals.push(ev);
        }
        let irreversible = mv.is_capture() || mv.role() == Role::Pawn;
        ctx.push_position(&mv, Some(comment));
        ctx.moves.push(PlayedMove {
            color: if color == Color::White {
                MoveColor::ChessWhite
            } else {
                MoveColor::ChessBlack
            },
            mv: ctx.uci.last().cloned().unwrap_or_default(),
            time_ms,
        });

        let verdict = adjudicator.record(color, score, irreversible, ctx.pos.fullmoves().get());
        if rules_end(&ctx).is_none() {
            match verdict {
                Some(Verdict::Resign { loser }) => {
                    let why = format!(
                        "{} wins by adjudication: both engines agree {} is lost",
                        side(!loser),
                        side(loser)
                    );
                    return finish(
                        ctx,
                        Termination::AdjudicatedResign,
                        Some(Some(!loser)),
                        Some(why),
                        meta,
                    );
                }
                Some(Verdict::Draw) => {
                    let why = "Draw by adjudication".to_string();
                    return finish(
                        ctx,
                        Termination::AdjudicatedDraw,
                        Some(None),
                        Some(why),
                        meta,
                    );
                }
                None => {}
            }
        }
    }
}

/// The `go` limit for this move and how long to wait for its answer.
fn next_limit(
    ctx: &mut Ctx<'_>,
    color: Color,
    move_timeout: std::time::Duration,
) -> (GoLimit, GoDeadline) {
    let s = ctx.settings;
    let plain = |hard| GoDeadline {
        hard,
        stop_after: None,
    };
    match s.limit {
        Limit::Nodes(n) => {
            let nodes = match ctx.jitter.as_mut() {
                Some((_, rng)) => {
                    let j = s.node_jitter;
                    let f: f64 = rng.gen_range(-j..=j);
                    ((n as f64) * (1.0 + f)).round().max(1.0) as u64
                }
                None => n,
            };
            (GoLimit::Nodes(nodes), plain(move_timeout))
        }
        Limit::Depth(d) => (GoLimit::Depth(d), plain(move_timeout)),
        Limit::MovetimeMs(ms) => (
            GoLimit::MoveTime(ms),
            plain(std::time::Duration::from_millis(ms) + s.slack()),
        ),
        Limit::Tc(tc) => {
            let clock = ctx.clock.get_or_insert_with(|| Clock::new(tc));
            let left = std::time::Duration::from_millis(clock.remaining[ci(color)]);
            let out = left + s.time_margin();
            (
                GoLimit::Clock {
                    wtime_ms: clock.remaining[0],
                    btime_ms: clock.remaining[1],
                    winc_ms: tc.increment_ms,
                    binc_ms: tc.increment_ms,
                    movestogo: clock.movestogo(color),
                },
                GoDeadline {
                    hard: out + s.slack(),
                    stop_after: Some(out),
                },
            )
        }
    }
}

/// How the rules end the game in the current position, if they do:
/// the termination and the winner (`None` = draw).
fn rules_end(ctx: &Ctx<'_>) -> Option<(Termination, Option<Color>)> {
    let pos = &ctx.pos;
    if pos.is_checkmate() {
        return Some((Termination::Checkmate, Some(!pos.turn())));
    }
    if pos.is_stalemate() {
        return Some((Termination::Stalemate, None));
    }
    if pos.is_insufficient_material() {
        return Some((Termination::InsufficientMaterial, None));
    }
    if pos.halfmoves() >= 100 {
        return Some((Termination::FiftyMoves, None));
    }
    let now = ctx.keys.last().copied();
    if ctx.keys.iter().filter(|&&k| Some(k) == now).count() >= 3 {
        return Some((Termination::Repetition, None));
    }
    None
}

fn side(c: Color) -> &'static str {
    match c {
        Color::White => "White",
        Color::Black => "Black",
    }
}

/// `+0.31/12 0.050s`, `-M3/20 0.120s`, or just the time without a score
/// (milliseconds shown: fast node-limited moves take a few of them).
fn move_comment(info: Option<&Info>, time_ms: u64) -> String {
    let t = format!("{:.3}s", time_ms as f64 / 1000.0);
    let Some(info) = info else { return t };
    let score = match info.score {
        Some(Score::Cp(cp)) => format!("{:+.2}", f64::from(cp) / 100.0),
        Some(Score::Mate(m)) if m > 0 => format!("+M{m}"),
        Some(Score::Mate(m)) => format!("-M{}", m.unsigned_abs()),
        None => return t,
    };
    match info.depth {
        Some(d) => format!("{score}/{d} {t}"),
        None => format!("{score} {t}"),
    }
}

fn self_eval(
    reply: &GoReply,
    ply: u32,
    mover: Slot,
    time_ms: u64,
    multipv: Option<u32>,
) -> Option<SelfEval> {
    let main = reply.main_line()?;
    let (score_cp, mate) = match main.score {
        Some(Score::Cp(cp)) => (Some(i64::from(cp)), None),
        Some(Score::Mate(m)) => (None, Some(i64::from(m))),
        None => (None, None),
    };
    let winrate = main.wdl.and_then(|(w, d, l)| {
        let total = f64::from(w) + f64::from(d) + f64::from(l);
        (total > 0.0).then(|| (f64::from(w) + f64::from(d) / 2.0) / total)
    });
    let top_k = (multipv.unwrap_or(1) > 1 || reply.lines.len() > 1).then(|| {
        serde_json::Value::Array(
            reply
                .lines
                .iter()
                .map(|(k, i)| {
                    let (cp, mate) = match i.score {
                        Some(Score::Cp(cp)) => (Some(cp), None),
                        Some(Score::Mate(m)) => (None, Some(m)),
                        None => (None, None),
                    };
                    json!({"multipv": k, "move": i.pv.first(), "score_cp": cp, "mate": mate,
                           "depth": i.depth, "nodes": i.nodes, "pv": i.pv.join(" ")})
                })
                .collect(),
        )
    });
    Some(SelfEval {
        ply,
        slot: Some(mover),
        winrate,
        score_cp,
        mate,
        depth: main.depth.map(i64::from),
        nodes: main.nodes.and_then(|n| i64::try_from(n).ok()),
        time_ms: Some(time_ms as i64),
        pv: (!main.pv.is_empty()).then(|| main.pv.join(" ")),
        top_k,
        ..SelfEval::default()
    })
}

fn time_forfeit(
    mut ctx: Ctx<'_>,
    c: Color,
    used_ms: u64,
    left_ms: u64,
    meta: &ChessGameMeta<'_>,
) -> GameOutcome {
    let over = used_ms.saturating_sub(left_ms);
    let mover = ctx.slot_of(c);
    ctx.events.push(GameEvent {
        kind: EventKind::Timeout,
        slot: Some(mover),
        message: format!(
            "{} ({}) used {used_ms} ms with {left_ms} ms on its clock: lost on time ({over} ms overrun)",
            side(c),
            meta.names[mover.index()]
        ),
        stderr_tail: None,
    });
    // No side can win on time without mating material.
    if ctx.pos.has_insufficient_material(!c) {
        let text = format!(
            "{} loses on time, but {} has insufficient material: draw",
            side(c),
            side(!c)
        );
        return finish(ctx, Termination::TimeForfeit, Some(None), Some(text), meta);
    }
    let text = format!("{} loses on time ({over} ms overrun)", side(c));
    finish(
        ctx,
        Termination::TimeForfeit,
        Some(Some(!c)),
        Some(text),
        meta,
    )
}

impl<'m> Referee<ChessGameMeta<'m>> for Ctx<'_> {
    fn events(&mut self) -> &mut Vec<GameEvent> {
        &mut self.events
    }

    /// The loser's colour loses, with the reason PGN's Termination tag shows.
    fn forfeit(self, loser: Slot, why: Forfeit<'_>, meta: &ChessGameMeta<'m>) -> GameOutcome {
        let c = self.color_of(loser);
        let (term, text) = match why {
            Forfeit::IllegalMove { mv } => (
                Termination::IllegalMove,
                format!("{} makes an illegal move: {mv}", side(c)),
            ),
            Forfeit::Fault(term) => (
                term,
                match term {
                    Termination::Timeout => format!("{}'s connection stalls", side(c)),
                    Termination::EngineCrash => format!("{} disconnects", side(c)),
                    _ => format!("{} sends an invalid reply", side(c)),
                },
            ),
        };
        finish(self, term, Some(Some(!c)), Some(text), meta)
    }

    fn abort(self, meta: &ChessGameMeta<'m>) -> GameOutcome {
        finish(self, Termination::Aborted, None, None, meta)
    }
}

/// A game that cannot even start (its opening is unusable): aborted, with
/// the reason as an event. `ChessSettings::validate` catches this earlier.
fn setup_error(
    first: Slot,
    settings: &ChessSettings,
    meta: &ChessGameMeta<'_>,
    why: String,
) -> GameOutcome {
    let opening = Opening {
        fen: None,
        moves: Vec::new(),
        source: "none".to_string(),
    };
    let ctx = Ctx {
        white: first,
        settings,
        opening: &opening,
        root: Chess::default(),
        pos: Chess::default(),
        uci: Vec::new(),
        keys: Vec::new(),
        pgn_moves: Vec::new(),
        start_fen: String::new(),
        moves: Vec::new(),
        self_evals: Vec::new(),
        events: vec![GameEvent {
            kind: EventKind::Error,
            slot: None,
            message: why,
            stderr_tail: None,
        }],
        warned_unknown: [false; 2],
        clock: None,
        jitter: None,
    };
    let mut out = finish(ctx, Termination::Aborted, None, None, meta);
    out.opening = None;
    out
}

/// Builds the outcome and its PGN. `winner`: `None` = aborted (no result),
/// `Some(None)` = draw, `Some(Some(c))` = `c` won.
fn finish(
    ctx: Ctx<'_>,
    termination: Termination,
    winner: Option<Option<Color>>,
    reason: Option<String>,
    meta: &ChessGameMeta<'_>,
) -> GameOutcome {
    let result = winner.map(|w| match w {
        Some(Color::White) => "1-0",
        Some(Color::Black) => "0-1",
        None => "1/2-1/2",
    });
    let reason = reason.or_else(|| {
        Some(match termination {
            Termination::Checkmate => {
                format!("{} mates", side(!ctx.pos.turn()))
            }
            Termination::Stalemate => "Draw by stalemate".to_string(),
            Termination::Repetition => "Draw by 3-fold repetition".to_string(),
            Termination::FiftyMoves => "Draw by fifty moves rule".to_string(),
            Termination::InsufficientMaterial => "Draw by insufficient mating material".to_string(),
            Termination::Aborted => "Game aborted".to_string(),
            other => other.to_string(),
        })
    });
    let pgn_termination = match termination {
        Termination::Checkmate
        | Termination::Stalemate
        | Termination::Repetition
        | Termination::FiftyMoves
        | Termination::InsufficientMaterial
        | Termination::Resign
        | Termination::TwoPasses => "normal",
        Termination::AdjudicatedResign | Termination::AdjudicatedDraw | Termination::MoveCap => {
            "adjudication"
        }
        Termination::TimeForfeit => "time forfeit",
        Termination::IllegalMove => "illegal move",
        Termination::Timeout => "stalled connection",
        Termination::EngineCrash => "abandoned",
        Termination::BadResponse => "rules infraction",
        Termination::Aborted => "unterminated",
    };
    let s = ctx.settings;
    let white_name = meta.names[ctx.white.index()];
    let black_name = meta.names[ctx.white.other().index()];
    let date = if meta.date.len() >= 10 {
        meta.date[..10].replace('-', ".")
    } else {
        "????.??.??".to_string()
    };
    let mut tags: Vec<(String, String)> = vec![
        ("Event".into(), meta.game_name.clone()),
        ("Site".into(), "qarena".into()),
        ("Date".into(), date),
        ("Round".into(), meta.round.to_string()),
        ("White".into(), white_name.to_string()),
        ("Black".into(), black_name.to_string()),
        ("Result".into(), result.unwrap_or("*").to_string()),
    ];
    if let Some(fen) = &ctx.opening.fen {
        tags.push(("SetUp".into(), "1".into()));
        tags.push(("FEN".into(), fen.clone()));
    }
    tags.push(("Termination".into(), pgn_termination.into()));
    tags.push(("PlyCount".into(), ctx.pgn_moves.len().to_string()));
    let tc = match s.limit {
        Limit::Tc(tc) => tc.to_string(),
        _ => "-".to_string(),
    };
    tags.push(("TimeControl".into(), tc));
    tags.push(("Limit".into(), s.limit.to_string()));
    tags.push(("GameIndex".into(), meta.game_index.to_string()));
    tags.push(("PairIndex".into(), meta.pair_index.to_string()));
    tags.push(("OpeningSource".into(), ctx.opening.source.clone()));
    if let Some((seed, _)) = &ctx.jitter {
        tags.push(("Seed".into(), seed.to_string()));
    }
    tags.push(("QarenaTermination".into(), termination.to_string()));
    let game = PgnGame {
        tags,
        first_move_number: ctx.root.fullmoves().get(),
        black_starts: ctx.root.turn() == Color::Black,
        moves: ctx.pgn_moves,
        final_comment: reason,
        result: result.unwrap_or("*").to_string(),
    };
    GameOutcome {
        result: result.map(str::to_string),
        winner: winner.flatten().map(|c| {
            if c == Color::White {
                ctx.white
            } else {
                ctx.white.other()
            }
        }),
        score: None,
        termination,
        moves: ctx.moves,
        self_evals: ctx.self_evals,
        events: ctx.events,
        record: write_pgn(&game),
        record_format: RecordFormat::Pgn,
        opening: Some(ctx.start_fen),
        seed: ctx.jitter.map(|(seed, _)| seed as i64),
        fault: None,
        scoring: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_show_score_depth_and_time() {
        let info = Info {
            depth: Some(12),
            score: Some(Score::Cp(31)),
            ..Info::default()
        };
        assert_eq!(move_comment(Some(&info), 50), "+0.31/12 0.050s");
        let mate = Info {
            depth: Some(20),
            score: Some(Score::Mate(-3)),
            ..Info::default()
        };
        assert_eq!(move_comment(Some(&mate), 1234), "-M3/20 1.234s");
        assert_eq!(move_comment(None, 7), "0.007s");
    }

    #[test]
    fn clock_charges_increment_and_periods() {
        let mut c = Clock::new("2/10+1".parse().unwrap());
        assert_eq!(c.movestogo(Color::White), Some(2));
        c.charge(Color::White, 4000);
        assert_eq!(c.remaining, [7000, 10_000]);
        assert_eq!(c.movestogo(Color::White), Some(1));
        c.charge(Color::White, 2000);
        // Second move of the period: a new 10 s period starts.
        assert_eq!(c.remaining[0], 16_000);
        assert_eq!(c.movestogo(Color::White), Some(2));
        c.charge(Color::Black, 20_000);
        assert_eq!(
            c.remaining[1], 1000,
            "never below zero before the increment"
        );
    }
}
