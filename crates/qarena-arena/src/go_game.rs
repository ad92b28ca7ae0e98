//! Plays one Go game between two GTP engines.
//!
//! qarena is the referee: every move is checked against its own rules before
//! it reaches the opponent, and games that end by passes or the move cap are
//! scored by qarena (area scoring), with the engines' `final_score` only
//! compared and any disagreement recorded.

use std::time::Instant;

use qarena_go::{format_vertex, Color, Game, Rules, SgfGame, SgfMove};
use serde_json::json;

use crate::failure::{Failure, Termination};
use crate::game::{GameEvent, GameOutcome, PlayedMove, SelfEval, Slot};
use crate::gtp_client::GtpEngine;
use crate::settings::GoSettings;

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
                        kind: "error",
                        slot: None,
                        message: format!("invalid board: {e}"),
                        stderr_tail: None,
                    }],
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
                color: color_str(color).to_string(),
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
            color: color_str(color).to_string(),
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

fn color_str(c: Color) -> &'static str {
    if c == Color::Black {
        "B"
    } else {
        "W"
    }
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
        kind: "illegal_move",
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
            Termination::Timeout => "timeout",
            Termination::EngineCrash => "crash",
            _ => "bad_response",
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
    let score = f64::from(ctx.game.area_score());
    let result = qarena_go::format_result(score as f32);
    let winner = if score > 0.0 {
        Some(ctx.black)
    } else if score < 0.0 {
        Some(ctx.black.other())
    } else {
        None
    };
    if ctx.settings.check_final_score && term == Termination::TwoPasses {
        for slot in [Slot::A, Slot::B] {
            let e = &mut eng[slot.index()];
            if !e.supports("final_score") {
                continue;
            }
            match e.command("final_score") {
                Ok(r) if r.success => {
                    let agrees = match qarena_gtp::parse_final_score(&r.text) {
                        Ok(fs) => {
                            let w = fs.winner;
                            let ours = if score > 0.0 {
                                Some('B')
                            } else if score < 0.0 {
                                Some('W')
                            } else {
                                None
                            };
                            w == ours
                                && fs
                                    .margin
                                    .is_none_or(|m| (f64::from(m) - score.abs()).abs() < 0.01)
                        }
                        Err(_) => false,
                    };
                    if !agrees {
                        ctx.events.push(GameEvent {
                            kind: "score_mismatch",
                            slot: Some(slot),
                            message: format!(
                                "engine '{}' scores the game `{}`, qarena's area count is `{}`",
                                e.label(),
                                r.text,
                                result
                            ),
                            stderr_tail: None,
                        });
                    }
                }
                Ok(r) => ctx.events.push(GameEvent {
                    kind: "warning",
                    slot: Some(slot),
                    message: format!("engine '{}' refused final_score: {}", e.label(), r.text),
                    stderr_tail: None,
                }),
                Err(f) => ctx.events.push(GameEvent {
                    kind: "warning",
                    slot: Some(slot),
                    message: format!("final_score failed: {f}"),
                    stderr_tail: Some(e.stderr_tail()),
                }),
            }
        }
    }
    finish_with(ctx, term, winner, Some(result), Some(score), meta)
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
        root_comment: Some(format!(
            "qarena {}; termination: {}",
            env!("CARGO_PKG_VERSION"),
            termination
        )),
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
        record_format: "sgf",
        opening: None,
        seed: Some(i64::from(meta.seed)),
        fault: None,
    }
}
