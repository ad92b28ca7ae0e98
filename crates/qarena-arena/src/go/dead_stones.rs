//! Dead stones at the end of a Go game: what each engine claims, how the
//! claims are checked against the position, and how a disagreement is
//! settled (the referee engine) or recorded (a disputed game).

use qarena_go::{format_vertex, format_vertices, Color, Game, Move, Point};
use qarena_store::{EventKind, ScoringMethod};
use serde_json::json;

use super::gtp_client::GtpEngine;
use super::referee::Ctx;
use crate::failure::{Failure, Termination};
use crate::game::{GameEvent, Slot};
use crate::settings::GoSettings;

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
    pub(super) fn note(&self, size: u8) -> String {
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
pub(super) fn settle_dead_stones(
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

#[cfg(test)]
mod tests {
    use super::*;
    use qarena_go::Rules;

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
