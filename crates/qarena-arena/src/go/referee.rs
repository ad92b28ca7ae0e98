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

use qarena_go::{format_vertex, Color, Game, GoOpening, Move, Rules, SgfGame, SgfMove};
use qarena_store::{EventKind, GameScoring, MoveColor, RecordFormat, ScoringMethod};
use serde_json::json;

use super::dead_stones::{settle_dead_stones, DeadStoneVerdict};
use super::gtp_client::GtpEngine;
use crate::failure::{Failure, Termination};
use crate::game::{GameEvent, GameOutcome, PlayedMove, SelfEval, Slot};
use crate::referee::{Forfeit, Referee};
use crate::settings::{GoSettings, Scoring};

/// Names and labels that go into the game record.
pub struct GoGameMeta<'a> {
    pub names: [&'a str; 2],
    /// Seed sent to engines that accept `set_random_seed` (GNU Go), so that
    /// deterministic engines do not replay one game over and over.
    pub seed: u32,
    pub date: String,
    pub game_name: String,
    /// Book moves both engines are given before play starts (the pair's
    /// opening); they are recorded as moves with an `opening` comment.
    pub opening: Option<&'a GoOpening>,
}

pub(super) struct Ctx<'a> {
    pub(super) game: Game,
    pub(super) black: Slot,
    pub(super) settings: &'a GoSettings,
    moves: Vec<PlayedMove>,
    sgf_moves: Vec<SgfMove>,
    self_evals: Vec<SelfEval>,
    pub(super) events: Vec<GameEvent>,
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
            return ctx.fault(slot, f, None, meta);
        }
    }

    if let Some(opening) = meta.opening {
        ctx = match play_opening(ctx, &mut eng, opening, meta) {
            Ok(ctx) => ctx,
            Err(finished) => return *finished,
        };
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
            Err(f) => return ctx.fault(mover, f, None, meta),
        };
        let time_ms = started.elapsed().as_millis() as u64;
        if !resp.success {
            let f = Failure::BadResponse {
                label: e.label().to_string(),
                detail: format!("`{cmd}` was refused: ? {}", resp.text),
            };
            return ctx.fault(mover, f, None, meta);
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
                    return ctx.fault(mover, f, None, meta);
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
                    return ctx.fault(mover, f, None, meta);
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
                    return ctx.illegal_move(mover, &label, &mv_text, &err.to_string(), meta);
                }
                let f = Failure::BadResponse {
                    label,
                    detail: format!("`{mv_text}` is not a move: {err}"),
                };
                return ctx.fault(mover, f, None, meta);
            }
        };
        if let Err(err) = ctx.game.play(color, mv) {
            let label = e.label().to_string();
            return ctx.illegal_move(mover, &label, &mv_text, &err.to_string(), meta);
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
                return ctx.fault(mover.other(), f, None, meta);
            }
            Err(f) => return ctx.fault(mover.other(), f, None, meta),
        }
    }
}

/// Plays the book moves on qarena's board and on both engines. `Err` is
/// the finished game when an engine refused a move, or when the book does
/// not fit the board (books are checked when loaded: a bug guard).
fn play_opening<'a>(
    mut ctx: Ctx<'a>,
    eng: &mut [&mut GtpEngine; 2],
    opening: &GoOpening,
    meta: &GoGameMeta<'_>,
) -> Result<Ctx<'a>, Box<GameOutcome>> {
    let size = ctx.settings.board_size;
    for (k, &mv) in opening.moves.iter().enumerate() {
        let color = GoOpening::color(k);
        let vertex = format_vertex(mv, size);
        if let Err(err) = ctx.game.play(color, mv) {
            ctx.events.push(GameEvent {
                kind: EventKind::Error,
                slot: None,
                message: format!(
                    "opening {}: move {} `{vertex}` is illegal: {err}",
                    opening.source,
                    k + 1
                ),
                stderr_tail: None,
            });
            return Err(Box::new(finish(ctx, Termination::Aborted, None, meta)));
        }
        let c = if color == Color::Black { "b" } else { "w" };
        for slot in [Slot::A, Slot::B] {
            let e = &mut eng[slot.index()];
            let refused = match e.command(&format!("play {c} {vertex}")) {
                Ok(r) if r.success => None,
                Ok(r) => Some(Failure::BadResponse {
                    label: e.label().to_string(),
                    detail: format!(
                        "refused the opening's legal move `play {c} {vertex}` ({}): ? {}",
                        opening.source, r.text
                    ),
                }),
                Err(f) => Some(f),
            };
            if let Some(f) = refused {
                return Err(Box::new(ctx.fault(slot, f, None, meta)));
            }
        }
        ctx.moves.push(PlayedMove {
            color: move_color(color),
            mv: vertex,
            time_ms: 0,
        });
        ctx.sgf_moves.push(SgfMove {
            color,
            mv,
            comment: Some("opening".to_string()),
        });
    }
    Ok(ctx)
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

impl<'m> Referee<GoGameMeta<'m>> for Ctx<'_> {
    fn events(&mut self) -> &mut Vec<GameEvent> {
        &mut self.events
    }

    /// The winner's colour and `+F`, as SGF writes a forfeit.
    fn forfeit(self, loser: Slot, why: Forfeit<'_>, meta: &GoGameMeta<'m>) -> GameOutcome {
        let term = match why {
            Forfeit::IllegalMove { .. } => Termination::IllegalMove,
            Forfeit::Fault(term) => term,
        };
        let result = format!("{}+F", if loser == self.black { "W" } else { "B" });
        finish_with(self, term, Some(loser.other()), Some(result), None, meta)
    }

    fn abort(self, meta: &GoGameMeta<'m>) -> GameOutcome {
        finish(self, Termination::Aborted, None, meta)
    }
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
        opening: meta.opening.map(|o| o.text(ctx.settings.board_size)),
        seed: Some(i64::from(meta.seed)),
        fault: None,
        scoring: ctx.scoring,
    }
}
