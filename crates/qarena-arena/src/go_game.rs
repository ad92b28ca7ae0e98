//! Plays one Go game between two GTP engines.
//!
//! qarena is the referee: every move is checked against its own rules before
//! it reaches the opponent, and qarena counts the games that end by passes or
//! the move cap, with the engines' `final_score` only compared and any
//! disagreement recorded.
//!
//! Counting (`scoring = "dead-stones"`, the default): after two passes both
//! engines are asked `final_status_list dead`. A list is checked against the
//! position (every named point must hold a stone; a named stone takes its
//! whole chain with it). When both lists are the same, those stones are
//! removed and the area counted. Otherwise the referee engine, if one is
//! configured, is shown the game and its list is used; without one the game
//! is recorded as disputed with every candidate result (an engine that
//! cannot name dead stones stands for the plain area count). With
//! `scoring = "area"`, and for games stopped by the move cap, every stone
//! counts as alive (Tromp-Taylor).

use std::time::Instant;

use qarena_go::{
    format_vertex, format_vertices, Color, Game, Move, Point, Rules, SgfGame, SgfMove,
};
use qarena_store::{EventKind, GameScoring, MoveColor, RecordFormat, ScoringMethod};
use serde_json::json;

use crate::failure::{Failure, Termination};
use crate::game::{GameEvent, GameOutcome, PlayedMove, SelfEval, Slot};
use crate::gtp_client::GtpEngine;
use crate::settings::{GoSettings, Scoring};

/// Names and labels that go into the game record.
pub struct GoGameMeta<'a> {
    pub names: [&'a str; 2],
    /// Seed sent to engines that accept `set_random_seed` (GNU Go), so that
    /// deterministic engines do not replay one game over and over.
    pub seed: u32,
    pub date: String,
    pub game_name: String,
}

struct Ctx<'a> {
    game: Game,
    black: Slot,
    settings: &'a GoSettings,
    moves: Vec<PlayedMove>,
    sgf_moves: Vec<SgfMove>,
    self_evals: Vec<SelfEval>,
    events: Vec<GameEvent>,
    scoring: Option<GameScoring>,
    /// How the game was counted, for the SGF root comment.
    score_note: Option<String>,
}

impl Ctx<'_> {
    fn slot_of(&self, c: Color) -> Slot {
        if c == Color::Black {
            self.black
        } else {
            self.black.other()
        }
    }
}

/// Plays a game; `engines[0]` is slot A, `engines[1]` slot B.
pub fn play_go_game(
    engines: [&mut GtpEngine; 2],
    black: Slot,
    settings: &GoSettings,
    meta: &GoGameMeta<'_>,
) -> GameOutcome {
    let [a, b] = engines;
    let mut eng: [&mut GtpEngine; 2] = [a, b];
    let game = match Game::new(settings.board_size, settings.komi, Rules::default()) {
        Ok(g) => g,
        Err(e) => {
            // Settings are validated before a match starts; this is a bug guard.
            return finish(
                Ctx {
                    game: Game::new(9, settings.komi, Rules::default())
                        .unwrap_or_else(|_| unreachable_board()),
                    black,
                    settings,
                    moves: vec![],
                    sgf_moves: vec![],
                    self_evals: vec![],
                    events: vec![GameEvent {
                        kind: EventKind::Error,
                        slot: None,
                        message: format!("invalid board: {e}"),
                        stderr_tail: None,
                    }],
                    scoring: None,
                    score_note: None,
                },
                Termination::Aborted,
                None,
                meta,
            );
        }
    };
    let mut ctx = Ctx {
        game,
        black,
        settings,
        moves: Vec::new(),
        sgf_moves: Vec::new(),
        self_evals: Vec::new(),
        events: Vec::new(),
        scoring: None,
        score_note: None,
    };

    for slot in [Slot::A, Slot::B] {
        let e = &mut eng[slot.index()];
        e.note(&format!("new game: {}", meta.game_name));
        let setup = (|| -> Result<(), Failure> {
            e.expect_ok(&format!("boardsize {}", settings.board_size))?;
            e.expect_ok(&format!("komi {}", settings.komi))?;
            e.expect_ok("clear_board")?;
            if e.supports("set_random_seed") {
                let seed = meta.seed.wrapping_mul(2).wrapping_add(slot.index() as u32);
                e.expect_ok(&format!("set_random_seed {seed}"))?;
            }
            Ok(())
        })();
        if let Err(f) = setup {
            return fault(ctx, slot, f, meta);
        }
    }

    let cap = settings.effective_move_cap();
    loop {
        if ctx.game.consecutive_passes() >= 2 {
            return score_and_finish(ctx, &mut eng, Termination::TwoPasses, meta);
        }
        if ctx.moves.len() as u32 >= cap {
            return score_and_finish(ctx, &mut eng, Termination::MoveCap, meta);
        }
        let color = ctx.game.to_move();
        let mover = ctx.slot_of(color);
        let c = if color == Color::Black { "b" } else { "w" };
        let e = &mut eng[mover.index()];
        let analyze = settings.self_eval && e.supports("kata-genmove_analyze");
        let cmd = if analyze {
            format!("kata-genmove_analyze {c} rootInfo true maxmoves 10")
        } else {
            format!("genmove {c}")
        };
        let started = Instant::now();
        let resp = match e.move_command(&cmd) {
            Ok(r) => r,
            Err(f) => return fault(ctx, mover, f, meta),
        };
        let time_ms = started.elapsed().as_millis() as u64;
        if !resp.success {
            let f = Failure::BadResponse {
                label: e.label().to_string(),
                detail: format!("`{cmd}` was refused: ? {}", resp.text),
            };
            return fault(ctx, mover, f, meta);
        }
        let ply = ctx.moves.len() as u32;
        let (mv_text, eval) = if analyze {
            match qarena_gtp::parse_genmove_analyze(&resp.text) {
                Ok(ga) => {
                    let top: Vec<_> = ga
                        .candidates
                        .iter()
                        .map(|c| {
                            json!({"move": c.mv, "visits": c.visits, "winrate": c.winrate,
                                   "score_lead": c.score_lead, "prior": c.prior,
                                   "pv": c.pv.join(" ")})
                        })
                        .collect();
                    let pv = ga.candidates.first().map(|c| c.pv.join(" "));
                    let ev = SelfEval {
                        ply,
                        slot: Some(mover),
                        // The root's value is the search's overall belief;
                        // fall back to the played candidate's.
                        winrate: ga
                            .root_info
                            .as_ref()
                            .and_then(|r| r.winrate)
                            .or(ga.root_winrate),
                        score_lead: ga
                            .root_info
                            .as_ref()
                            .and_then(|r| r.score_lead)
                            .or(ga.root_score_lead),
                        visits: ga
                            .root_info
                            .as_ref()
                            .and_then(|r| r.visits)
                            .or(ga.total_visits)
                            .map(|v| v as i64),
                        time_ms: Some(time_ms as i64),
                        pv,
                        top_k: Some(serde_json::Value::Array(top)),
                        ..SelfEval::default()
                    };
                    (ga.mv, Some(ev))
                }
                Err(err) => {
                    let f = Failure::BadResponse {
                        label: e.label().to_string(),
                        detail: format!("unparseable `{cmd}` reply: {err}"),
                    };
                    return fault(ctx, mover, f, meta);
                }
            }
        } else {
            match qarena_gtp::parse_genmove(&resp.text) {
                Ok(m) => (m, None),
                Err(err) => {
                    let f = Failure::BadResponse {
                        label: e.label().to_string(),
                        detail: format!("unparseable `{cmd}` reply: {err}"),
                    };
                    return fault(ctx, mover, f, meta);
                }
            }
        };
        if mv_text.eq_ignore_ascii_case("resign") {
            ctx.moves.push(PlayedMove {
                color: move_color(color),
                mv: "resign".to_string(),
                time_ms,
            });
            if let Some(ev) = eval {
                ctx.self_evals.push(ev);
            }
            let winner = mover.other();
            let result = format!("{}+R", color_str(color.opposite()));
            return finish_with(
                ctx,
                Termination::Resign,
                Some(winner),
                Some(result),
                None,
                meta,
            );
        }
        let mv = match qarena_go::parse_vertex(&mv_text, settings.board_size) {
            Ok(m) => m,
            Err(err) => {
                let looks_like_vertex = mv_text.len() >= 2
                    && mv_text
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic())
                    && mv_text[1..].chars().all(|c| c.is_ascii_digit());
                let label = e.label().to_string();
                if looks_like_vertex {
                    return illegal(ctx, mover, &label, &mv_text, &err.to_string(), meta);
                }
                let f = Failure::BadResponse {
                    label,
                    detail: format!("`{mv_text}` is not a move: {err}"),
                };
                return fault(ctx, mover, f, meta);
            }
        };
        if let Err(err) = ctx.game.play(color, mv) {
            let label = e.label().to_string();
            return illegal(ctx, mover, &label, &mv_text, &err.to_string(), meta);
        }
        let vertex = format_vertex(mv, settings.board_size);
        let comment = eval.as_ref().map(eval_comment);
        if let Some(ev) = eval {
            ctx.self_evals.push(ev);
        }
        ctx.moves.push(PlayedMove {
            color: move_color(color),
            mv: vertex.clone(),
            time_ms,
        });
        ctx.sgf_moves.push(SgfMove { color, mv, comment });
        let opp = &mut eng[mover.other().index()];
        match opp.command(&format!("play {c} {vertex}")) {
            Ok(r) if r.success => {}
            Ok(r) => {
                let label = opp.label().to_string();
                let f = Failure::BadResponse {
                    label,
                    detail: format!(
                        "refused the opponent's legal move `play {c} {vertex}`: ? {}",
                        r.text
                    ),
                };
                return fault(ctx, mover.other(), f, meta);
            }
            Err(f) => return fault(ctx, mover.other(), f, meta),
        }
    }
}

fn unreachable_board() -> Game {
    // A 9x9 board is always valid; this keeps the error path panic-free.
    match Game::new(9, 0.0, Rules::default()) {
        Ok(g) => g,
        Err(_) => std::process::abort(),
    }
}

fn move_color(c: Color) -> MoveColor {
    if c == Color::Black {
        MoveColor::Black
    } else {
        MoveColor::White
    }
}

fn color_str(c: Color) -> &'static str {
    move_color(c).as_str()
}

fn eval_comment(ev: &SelfEval) -> String {
    let mut parts = Vec::new();
    if let Some(w) = ev.winrate {
        parts.push(format!("winrate {w:.3}"));
    }
    if let Some(s) = ev.score_lead {
        parts.push(format!("lead {s:+.1}"));
    }
    if let Some(v) = ev.visits {
        parts.push(format!("visits {v}"));
    }
    if let Some(pv) = &ev.pv {
        parts.push(format!("pv {pv}"));
    }
    parts.join(" ")
}

fn illegal(
    mut ctx: Ctx<'_>,
    mover: Slot,
    label: &str,
    mv: &str,
    why: &str,
    meta: &GoGameMeta<'_>,
) -> GameOutcome {
    ctx.events.push(GameEvent {
        kind: EventKind::IllegalMove,
        slot: Some(mover),
        message: format!("engine '{label}' played the illegal move `{mv}`: {why}"),
        stderr_tail: None,
    });
    let loser_color = ctx.game.to_move();
    let result = format!("{}+F", color_str(loser_color.opposite()));
    finish_with(
        ctx,
        Termination::IllegalMove,
        Some(mover.other()),
        Some(result),
        None,
        meta,
    )
}

/// Ends the game because `slot` failed; the failing engine loses.
fn fault(mut ctx: Ctx<'_>, slot: Slot, f: Failure, meta: &GoGameMeta<'_>) -> GameOutcome {
    let term = f.termination();
    if term == Termination::Aborted {
        return finish(ctx, Termination::Aborted, None, meta);
    }
    let loser_black = slot == ctx.black;
    let result = format!("{}+F", if loser_black { "W" } else { "B" });
    ctx.events.push(GameEvent {
        kind: match term {
            Termination::Timeout => EventKind::Timeout,
            Termination::EngineCrash => EventKind::Crash,
            _ => EventKind::BadResponse,
        },
        slot: Some(slot),
        message: f.to_string(),
        stderr_tail: None,
    });
    let mut out = finish_with(ctx, term, Some(slot.other()), Some(result), None, meta);
    out.fault = Some((slot, f));
    out
}

fn score_and_finish(
    mut ctx: Ctx<'_>,
    eng: &mut [&mut GtpEngine; 2],
    term: Termination,
    meta: &GoGameMeta<'_>,
) -> GameOutcome {
    let mut fault = None;
    let verdict = if term == Termination::TwoPasses && ctx.settings.scoring == Scoring::DeadStones {
        match settle_dead_stones(&mut ctx, eng, &mut fault) {
            Some(v) => v,
            // A stop request came while asking: the game is replayed on resume.
            None => return finish(ctx, Termination::Aborted, None, meta),
        }
    } else {
        let score = ctx.game.area_score();
        DeadStoneVerdict {
            method: ScoringMethod::Area,
            removed: Some(Vec::new()),
            score: Some(score),
            result: qarena_go::format_result(score),
            claims: None,
        }
    };
    let score = verdict.score.map(f64::from);
    let result = verdict.result.clone();
    let winner = score.and_then(|s| {
        if s > 0.0 {
            Some(ctx.black)
        } else if s < 0.0 {
            Some(ctx.black.other())
        } else {
            None
        }
    });
    if ctx.settings.check_final_score && term == Termination::TwoPasses {
        if let Some(score) = score {
            // An engine that just failed is not asked again.
            let skip = fault.as_ref().map(|(slot, _)| *slot);
            check_final_scores(&mut ctx, eng, score, &result, verdict.method, skip);
        }
    }
    let size = ctx.settings.board_size;
    ctx.score_note = Some(verdict.note(size));
    ctx.scoring = Some(GameScoring {
        method: verdict.method,
        dead_stones: verdict.removed.as_ref().map(|d| {
            d.iter()
                .map(|&p| format_vertex(Move::Play(p), size))
                .collect()
        }),
        claims: verdict.claims,
    });
    let mut out = finish_with(ctx, term, winner, Some(result), score, meta);
    out.fault = fault;
    out
}

/// Compares each engine's `final_score` with qarena's count; a difference
/// is recorded as a `score_mismatch` event, nothing more.
fn check_final_scores(
    ctx: &mut Ctx<'_>,
    eng: &mut [&mut GtpEngine; 2],
    score: f64,
    result: &str,
    method: ScoringMethod,
    skip: Option<Slot>,
) {
    for slot in [Slot::A, Slot::B] {
        let e = &mut eng[slot.index()];
        if !e.supports("final_score") || skip == Some(slot) {
            continue;
        }
        match e.command("final_score") {
            Ok(r) if r.success => {
                let agrees = match qarena_gtp::parse_final_score(&r.text) {
                    Ok(fs) => {
                        let ours = if score > 0.0 {
                            Some('B')
                        } else if score < 0.0 {
                            Some('W')
                        } else {
                            None
                        };
                        fs.winner == ours
                            && fs
                                .margin
                                .is_none_or(|m| (f64::from(m) - score.abs()).abs() < 0.01)
                    }
                    Err(_) => false,
                };
                if !agrees {
                    ctx.events.push(GameEvent {
                        kind: EventKind::ScoreMismatch,
                        slot: Some(slot),
                        message: format!(
                            "engine '{}' scores the game `{}`, qarena's count ({method}) is `{}`",
                            e.label(),
                            r.text,
                            result
                        ),
                        stderr_tail: None,
                    });
                }
            }
            Ok(r) => ctx.events.push(GameEvent {
                kind: EventKind::Warning,
                slot: Some(slot),
                message: format!("engine '{}' refused final_score: {}", e.label(), r.text),
                stderr_tail: None,
            }),
            Err(f) => ctx.events.push(GameEvent {
                kind: EventKind::Warning,
                slot: Some(slot),
                message: format!("final_score failed: {f}"),
                stderr_tail: Some(e.stderr_tail()),
            }),
        }
    }
}

/// What one party (an engine or the referee) said about the dead stones.
#[derive(Debug, Clone, PartialEq)]
pub enum DeadClaim {
    /// The whole chains of the stones it named, checked against the
    /// position, sorted.
    Dead(Vec<Point>),
    /// It could not say, and why: the command is unsupported, refused or
    /// timed out, or its list does not fit the position.
    Unknown(String),
}

impl DeadClaim {
    /// Reads a `final_status_list dead` reply and checks it against the
    /// position: a list naming an empty or off-board point, or anything
    /// but vertices, is not a claim about this game.
    pub fn from_reply(game: &Game, text: &str) -> DeadClaim {
        let vertices = match qarena_gtp::parse_vertex_list(text) {
            Ok(v) => v,
            Err(e) => return DeadClaim::Unknown(e.to_string()),
        };
        let refs: Vec<&str> = vertices.iter().map(String::as_str).collect();
        match game.dead_chains(&refs) {
            Ok(points) => DeadClaim::Dead(points),
            Err(e) => DeadClaim::Unknown(format!("rejected dead-stone list: {e}")),
        }
    }

    fn names_stones(&self) -> bool {
        matches!(self, DeadClaim::Dead(p) if !p.is_empty())
    }

    fn to_json(&self, game: &Game) -> serde_json::Value {
        match self {
            DeadClaim::Dead(points) => {
                let size = game.size();
                let dead: Vec<String> = points
                    .iter()
                    .map(|&p| format_vertex(Move::Play(p), size))
                    .collect();
                json!({
                    "dead": dead,
                    "result": qarena_go::format_result(game.area_score_without(points)),
                })
            }
            DeadClaim::Unknown(why) => json!({ "unknown": why }),
        }
    }
}

/// How the dead stones were settled, and the result that follows.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadStoneVerdict {
    pub method: ScoringMethod,
    /// Stones removed before the area count; `None` when no count was
    /// applied (a dispute whose candidates name different winners).
    pub removed: Option<Vec<Point>>,
    /// Black's score, komi included; `None` when the result is unknown.
    pub score: Option<f32>,
    /// `B+3`, `W+0.5`, `0` for a draw, `?` when unknown.
    pub result: String,
    /// Each party's claim (`a`, `b`, `referee`) with the result it implies.
    pub claims: Option<serde_json::Value>,
}

impl DeadStoneVerdict {
    /// One line for the SGF root comment.
    fn note(&self, size: u8) -> String {
        let mut note = format!("scoring: {}", self.method);
        match &self.removed {
            Some(d) if d.is_empty() => {}
            Some(d) => note.push_str(&format!(
                "; dead stones removed: {}",
                format_vertices(d, size)
            )),
            None => {}
        }
        if self.method == ScoringMethod::Disputed {
            if let Some(claims) = self.claims.as_ref().and_then(|c| c.as_object()) {
                let parts: Vec<String> = claims
                    .iter()
                    .map(|(who, c)| match c.get("result").and_then(|r| r.as_str()) {
                        Some(r) => format!("{who} {r}"),
                        None => format!("{who} cannot say"),
                    })
                    .collect();
                note.push_str(&format!("; candidates: {}", parts.join(", ")));
            }
        }
        note
    }
}

/// Settles the dead stones from the two engines' claims (slot A, slot B)
/// and, when they differ or cannot say, the referee's.
///
/// - Both engines name the same stones: `agreed`, those are removed.
/// - Otherwise the referee (when given) is asked; a list from it is used:
///   `referee`.
/// - Otherwise, when nobody named a dead stone: `area`, nothing removed.
/// - Otherwise `disputed`: every claim is a candidate (an engine that cannot
///   say stands for the plain area count). When all candidates name the same
///   winner (or all a draw), the one with the smallest margin is the result;
///   when they name different winners the result is `?` with no winner.
pub fn resolve_dead_stones(
    game: &Game,
    claims: [DeadClaim; 2],
    referee: Option<&mut dyn FnMut() -> DeadClaim>,
) -> DeadStoneVerdict {
    let mut json_claims = serde_json::Map::new();
    json_claims.insert("a".into(), claims[0].to_json(game));
    json_claims.insert("b".into(), claims[1].to_json(game));
    let removing = |method, dead: Vec<Point>, json_claims| {
        let score = game.area_score_without(&dead);
        DeadStoneVerdict {
            method,
            removed: Some(dead),
            score: Some(score),
            result: qarena_go::format_result(score),
            claims: Some(serde_json::Value::Object(json_claims)),
        }
    };
    if let [DeadClaim::Dead(a), DeadClaim::Dead(b)] = &claims {
        if a == b {
            return removing(ScoringMethod::Agreed, a.clone(), json_claims);
        }
    }
    if let Some(ask) = referee {
        let said = ask();
        json_claims.insert("referee".into(), said.to_json(game));
        if let DeadClaim::Dead(dead) = said {
            return removing(ScoringMethod::Referee, dead, json_claims);
        }
    }
    if !claims.iter().any(DeadClaim::names_stones) {
        return removing(ScoringMethod::Area, Vec::new(), json_claims);
    }
    let candidates: Vec<(Vec<Point>, f32)> = claims
        .iter()
        .map(|c| {
            let dead = match c {
                DeadClaim::Dead(d) => d.clone(),
                DeadClaim::Unknown(_) => Vec::new(),
            };
            let score = game.area_score_without(&dead);
            (dead, score)
        })
        .collect();
    let sign = |s: f32| {
        if s > 0.0 {
            1
        } else if s < 0.0 {
            -1
        } else {
            0
        }
    };
    let same_winner = candidates
        .iter()
        .all(|(_, s)| sign(*s) == sign(candidates[0].1));
    let claims = Some(serde_json::Value::Object(json_claims));
    match candidates
        .into_iter()
        .filter(|_| same_winner)
        .min_by(|x, y| x.1.abs().total_cmp(&y.1.abs()))
    {
        Some((dead, score)) => DeadStoneVerdict {
            method: ScoringMethod::Disputed,
            removed: Some(dead),
            score: Some(score),
            result: qarena_go::format_result(score),
            claims,
        },
        None => DeadStoneVerdict {
            method: ScoringMethod::Disputed,
            removed: None,
            score: None,
            result: "?".to_string(),
            claims,
        },
    }
}

/// Asks both engines (and the referee when needed) for the dead stones.
/// `None` when a stop request interrupted the asking. An engine that failed
/// (timeout, crash, garbled reply) is left in `fault` so it is restarted;
/// the game's result stands.
fn settle_dead_stones(
    ctx: &mut Ctx<'_>,
    eng: &mut [&mut GtpEngine; 2],
    fault: &mut Option<(Slot, Failure)>,
) -> Option<DeadStoneVerdict> {
    let mut claims = [
        DeadClaim::Unknown(String::new()),
        DeadClaim::Unknown(String::new()),
    ];
    for slot in [Slot::A, Slot::B] {
        let e = &mut eng[slot.index()];
        claims[slot.index()] = if !e.supports("final_status_list") {
            DeadClaim::Unknown("final_status_list is not supported".to_string())
        } else {
            match e.move_command("final_status_list dead") {
                Ok(r) if r.success => {
                    let claim = DeadClaim::from_reply(&ctx.game, &r.text);
                    if let DeadClaim::Unknown(why) = &claim {
                        ctx.events.push(GameEvent {
                            kind: EventKind::Warning,
                            slot: Some(slot),
                            message: format!(
                                "engine '{}' answered `final_status_list dead` with a list qarena cannot use ({why}); its claim is ignored",
                                e.label()
                            ),
                            stderr_tail: None,
                        });
                    }
                    claim
                }
                Ok(r) => DeadClaim::Unknown(format!("final_status_list refused: {}", r.text)),
                Err(Failure::Interrupted) => return None,
                Err(f) => {
                    ctx.events.push(GameEvent {
                        kind: match f.termination() {
                            Termination::Timeout => EventKind::Timeout,
                            Termination::EngineCrash => EventKind::Crash,
                            _ => EventKind::BadResponse,
                        },
                        slot: Some(slot),
                        message: format!("asking for dead stones: {f}"),
                        stderr_tail: Some(e.stderr_tail()),
                    });
                    let why = f.to_string();
                    if fault.is_none() {
                        *fault = Some((slot, f));
                    }
                    DeadClaim::Unknown(why)
                }
            }
        };
    }
    let referee_argv = match ctx.settings.referee.as_deref() {
        None => None,
        Some(cmd) => match crate::command::split_command(cmd) {
            Ok(argv) if !argv.is_empty() => Some(argv),
            _ => None,
        },
    };
    let mut interrupted = false;
    let mut referee_events = Vec::new();
    let verdict = {
        let game = &ctx.game;
        let settings = ctx.settings;
        let host = &mut *eng[0];
        let mut ask = || match ask_referee(
            host,
            referee_argv.clone().unwrap_or_default(),
            game,
            settings,
        ) {
            Ok(claim) => {
                if let DeadClaim::Unknown(why) = &claim {
                    referee_events.push(GameEvent {
                        kind: EventKind::Warning,
                        slot: None,
                        message: format!("the referee could not name the dead stones: {why}"),
                        stderr_tail: None,
                    });
                }
                claim
            }
            Err(Failure::Interrupted) => {
                interrupted = true;
                DeadClaim::Unknown("interrupted".to_string())
            }
            Err(f) => {
                referee_events.push(GameEvent {
                    kind: EventKind::Warning,
                    slot: None,
                    message: format!("the referee failed: {f}"),
                    stderr_tail: None,
                });
                DeadClaim::Unknown(f.to_string())
            }
        };
        let referee: Option<&mut dyn FnMut() -> DeadClaim> = if referee_argv.is_some() {
            Some(&mut ask)
        } else {
            None
        };
        resolve_dead_stones(game, claims, referee)
    };
    if interrupted {
        return None;
    }
    ctx.events.extend(referee_events);
    if verdict.method == ScoringMethod::Disputed {
        ctx.events.push(GameEvent {
            kind: EventKind::ScoreMismatch,
            slot: None,
            message: format!(
                "the engines do not agree on the dead stones and no referee settled them; recorded as disputed with result `{}` ({})",
                verdict.result,
                verdict
                    .note(ctx.settings.board_size)
                    .trim_start_matches("scoring: disputed; ")
            ),
            stderr_tail: None,
        });
    }
    Some(verdict)
}

/// Shows the game to the referee engine (started on first use and kept with
/// engine A's handle) and asks it for the dead stones.
fn ask_referee(
    host: &mut GtpEngine,
    argv: Vec<String>,
    game: &Game,
    settings: &GoSettings,
) -> Result<DeadClaim, Failure> {
    let mut r = match host.take_referee() {
        Some(r) => r,
        None => host.start_sibling("referee", "referee", argv)?,
    };
    let asked = (|| -> Result<DeadClaim, Failure> {
        r.expect_ok(&format!("boardsize {}", settings.board_size))?;
        r.expect_ok(&format!("komi {}", settings.komi))?;
        r.expect_ok("clear_board")?;
        for &(color, mv) in game.moves() {
            let c = if color == Color::Black { "b" } else { "w" };
            r.expect_ok(&format!(
                "play {c} {}",
                format_vertex(mv, settings.board_size)
            ))?;
        }
        if !r.supports("final_status_list") {
            return Ok(DeadClaim::Unknown(
                "the referee does not support final_status_list".to_string(),
            ));
        }
        let resp = r.move_command("final_status_list dead")?;
        if !resp.success {
            return Ok(DeadClaim::Unknown(format!(
                "final_status_list refused: {}",
                resp.text
            )));
        }
        Ok(DeadClaim::from_reply(game, &resp.text))
    })();
    match asked {
        Ok(claim) => {
            host.keep_referee(r);
            Ok(claim)
        }
        Err(f) => {
            r.kill();
            Err(f)
        }
    }
}

fn finish(
    ctx: Ctx<'_>,
    term: Termination,
    winner: Option<Slot>,
    meta: &GoGameMeta<'_>,
) -> GameOutcome {
    finish_with(ctx, term, winner, None, None, meta)
}

fn finish_with(
    ctx: Ctx<'_>,
    termination: Termination,
    winner: Option<Slot>,
    result: Option<String>,
    score: Option<f64>,
    meta: &GoGameMeta<'_>,
) -> GameOutcome {
    let names = meta.names;
    let black_name = names[ctx.black.index()];
    let white_name = names[ctx.black.other().index()];
    let sgf = SgfGame {
        size: ctx.settings.board_size,
        komi: ctx.settings.komi,
        rules: Some("Tromp-Taylor (suicide illegal, positional superko)".to_string()),
        black: Some(black_name.to_string()),
        white: Some(white_name.to_string()),
        result: result.clone(),
        date: Some(meta.date.clone()),
        root_comment: Some(match &ctx.score_note {
            Some(note) => format!(
                "qarena {}; termination: {}; {note}",
                env!("CARGO_PKG_VERSION"),
                termination
            ),
            None => format!(
                "qarena {}; termination: {}",
                env!("CARGO_PKG_VERSION"),
                termination
            ),
        }),
        game_name: Some(meta.game_name.clone()),
        moves: ctx.sgf_moves,
    };
    GameOutcome {
        result,
        winner,
        score,
        termination,
        moves: ctx.moves,
        self_evals: ctx.self_evals,
        events: ctx.events,
        record: qarena_go::write_sgf(&sgf),
        record_format: RecordFormat::Sgf,
        opening: None,
        seed: Some(i64::from(meta.seed)),
        fault: None,
        scoring: ctx.scoring,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 5x5 position with komi 0.5: a Black wall on column B, a White wall
    /// on column C, a dead White stone at A3 and a dead Black stone at E3.
    ///
    /// All alive the regions next to the dead stones count for nobody:
    /// W+0.5. Without A3 and E3: Black 10, White 15, W+5.5.
    fn position() -> Game {
        let rows = [
            ". X O . .",
            ". X O . .",
            "O X O . X",
            ". X O . .",
            ". X O . .",
        ];
        let mut game = Game::new(5, 0.5, Rules::default()).unwrap();
        for color in [Color::White, Color::Black] {
            let symbol = if color == Color::Black { "X" } else { "O" };
            for (y, row) in rows.iter().enumerate() {
                for (x, c) in row.split_whitespace().enumerate() {
                    if c == symbol {
                        let p = Point::new(x as u8, y as u8);
                        game.play(color, Move::Play(p)).unwrap();
                    }
                }
            }
        }
        game.play(Color::White, Move::Pass).unwrap();
        game.play(Color::Black, Move::Pass).unwrap();
        game
    }

    fn claim(game: &Game, reply: &str) -> DeadClaim {
        DeadClaim::from_reply(game, reply)
    }

    fn dead(v: &DeadStoneVerdict, game: &Game) -> Option<String> {
        v.removed.as_ref().map(|d| format_vertices(d, game.size()))
    }

    #[test]
    fn the_position_scores_as_documented() {
        let game = position();
        assert_eq!(qarena_go::format_result(game.area_score()), "W+0.5");
        let both = game.dead_chains(&["A3", "E3"]).unwrap();
        assert_eq!(
            qarena_go::format_result(game.area_score_without(&both)),
            "W+5.5"
        );
    }

    #[test]
    fn agreeing_engines_remove_their_stones_without_asking_the_referee() {
        let game = position();
        let mut asked = 0;
        let mut referee = || {
            asked += 1;
            DeadClaim::Dead(vec![])
        };
        // GNU Go style: one dragon per line, in another order and case.
        let v = resolve_dead_stones(
            &game,
            [claim(&game, "A3\nE3"), claim(&game, "e3 a3")],
            Some(&mut referee),
        );
        assert_eq!(asked, 0);
        assert_eq!(v.method, ScoringMethod::Agreed);
        assert_eq!(dead(&v, &game).as_deref(), Some("A3 E3"));
        assert_eq!(v.result, "W+5.5");
        assert_eq!(v.score, Some(-5.5));
        let claims = v.claims.unwrap();
        assert_eq!(claims["a"]["dead"], json!(["A3", "E3"]));
        assert_eq!(claims["b"]["result"], "W+5.5");
    }

    #[test]
    fn agreeing_on_nothing_dead_is_the_area_count() {
        let game = position();
        let v = resolve_dead_stones(&game, [claim(&game, ""), claim(&game, " \n")], None);
        assert_eq!(v.method, ScoringMethod::Agreed);
        assert_eq!(dead(&v, &game).as_deref(), Some(""));
        assert_eq!(v.result, "W+0.5");
    }

    #[test]
    fn naming_one_stone_of_a_chain_names_the_whole_chain() {
        let game = position();
        let DeadClaim::Dead(points) = claim(&game, "B3") else {
            panic!("B3 holds a stone")
        };
        assert_eq!(format_vertices(&points, 5), "B5 B4 B3 B2 B1");
        // So two spellings of the same chains agree.
        let v = resolve_dead_stones(
            &game,
            [claim(&game, "B1 A3"), claim(&game, "B2 B4 A3")],
            None,
        );
        assert_eq!(v.method, ScoringMethod::Agreed);
        assert_eq!(dead(&v, &game).as_deref(), Some("A3 B5 B4 B3 B2 B1"));
    }

    #[test]
    fn disagreement_without_referee_is_disputed_with_both_candidates() {
        let game = position();
        // A sees only A3 dead (B+5.5), B sees both (W+5.5): different
        // winners, so there is no result.
        let v = resolve_dead_stones(&game, [claim(&game, "A3"), claim(&game, "A3 E3")], None);
        assert_eq!(v.method, ScoringMethod::Disputed);
        assert_eq!(v.result, "?");
        assert_eq!(v.score, None);
        assert_eq!(v.removed, None);
        let claims = v.claims.clone().unwrap();
        assert_eq!(claims["a"]["result"], "B+5.5");
        assert_eq!(claims["b"]["result"], "W+5.5");
        assert!(claims.get("referee").is_none());
        assert_eq!(v.note(5), "scoring: disputed; candidates: a B+5.5, b W+5.5");
    }

    #[test]
    fn disagreement_on_the_margin_only_keeps_the_winner_and_the_smaller_margin() {
        let game = position();
        // A: nothing dead (W+0.5); B: both dead (W+5.5). White wins either way.
        let v = resolve_dead_stones(&game, [claim(&game, ""), claim(&game, "A3 E3")], None);
        assert_eq!(v.method, ScoringMethod::Disputed);
        assert_eq!(v.result, "W+0.5");
        assert_eq!(v.score, Some(-0.5));
        assert_eq!(dead(&v, &game).as_deref(), Some(""));
    }

    #[test]
    fn disagreement_with_referee_uses_the_referees_list() {
        let game = position();
        let mut referee = || claim(&game, "E3\nA3");
        let v = resolve_dead_stones(
            &game,
            [claim(&game, "A3"), claim(&game, "E3")],
            Some(&mut referee),
        );
        assert_eq!(v.method, ScoringMethod::Referee);
        assert_eq!(dead(&v, &game).as_deref(), Some("A3 E3"));
        assert_eq!(v.result, "W+5.5");
        assert_eq!(v.claims.unwrap()["referee"]["dead"], json!(["A3", "E3"]));
    }

    #[test]
    fn a_referee_that_cannot_say_leaves_the_game_disputed() {
        let game = position();
        let mut referee = || DeadClaim::Unknown("timed out".into());
        let v = resolve_dead_stones(
            &game,
            [claim(&game, "A3"), claim(&game, "A3 E3")],
            Some(&mut referee),
        );
        assert_eq!(v.method, ScoringMethod::Disputed);
        assert_eq!(v.result, "?");
        assert_eq!(
            v.claims.unwrap()["referee"],
            json!({"unknown": "timed out"})
        );
    }

    #[test]
    fn a_list_naming_empty_points_is_rejected_not_trusted() {
        let game = position();
        // Black's engine claims White's dead stone plus an empty point.
        let lie = claim(&game, "A3 D3");
        assert!(
            matches!(&lie, DeadClaim::Unknown(why) if why.contains("D3") && why.contains("empty")),
            "{lie:?}"
        );
        assert!(matches!(claim(&game, "A3 pass"), DeadClaim::Unknown(_)));
        assert!(matches!(claim(&game, "F9"), DeadClaim::Unknown(_)));
        assert!(matches!(claim(&game, "dead: A3"), DeadClaim::Unknown(_)));
        // The rejected list counts as "cannot say": the referee decides.
        let mut referee = || claim(&game, "A3 E3");
        let v = resolve_dead_stones(
            &game,
            [lie.clone(), claim(&game, "A3 E3")],
            Some(&mut referee),
        );
        assert_eq!(v.method, ScoringMethod::Referee);
        assert_eq!(v.result, "W+5.5");
        // Without a referee it stands for the area count: a dispute.
        let v = resolve_dead_stones(&game, [lie, claim(&game, "A3 E3")], None);
        assert_eq!(v.method, ScoringMethod::Disputed);
        assert_eq!(v.result, "W+0.5");
    }

    #[test]
    fn an_engine_declaring_all_opponent_stones_dead_cannot_win_by_it() {
        let game = position();
        // Black's engine claims every White stone is dead: a consistent
        // list, but White's engine disagrees.
        let liar = claim(&game, "C1 A3");
        let honest = claim(&game, "A3 E3");
        let v = resolve_dead_stones(&game, [liar.clone(), honest.clone()], None);
        assert_eq!(v.method, ScoringMethod::Disputed);
        assert_eq!(v.result, "?", "no winner without a referee");
        let mut referee = || claim(&game, "A3 E3");
        let v = resolve_dead_stones(&game, [liar, honest], Some(&mut referee));
        assert_eq!(v.method, ScoringMethod::Referee);
        assert_eq!(v.result, "W+5.5");
    }

    #[test]
    fn nobody_naming_dead_stones_is_the_area_count() {
        let game = position();
        let silent = || DeadClaim::Unknown("final_status_list is not supported".into());
        let v = resolve_dead_stones(&game, [silent(), silent()], None);
        assert_eq!(v.method, ScoringMethod::Area);
        assert_eq!(v.result, "W+0.5");
        assert_eq!(dead(&v, &game).as_deref(), Some(""));
        let v = resolve_dead_stones(&game, [silent(), claim(&game, "")], None);
        assert_eq!(v.method, ScoringMethod::Area);
        // One engine naming stones the silent one cannot confirm: disputed.
        let v = resolve_dead_stones(&game, [silent(), claim(&game, "E3")], None);
        assert_eq!(v.method, ScoringMethod::Disputed);
    }
}
