//! KataGo analysis-engine grammar and Go verdicts, with no process handling.
//!
//! One query per game asks for every turn `0..=n` of the game's legal,
//! non-resign prefix. Answers arrive one line per turn, in any order; they
//! are matched by `id` and `turnNumber`. [`verdicts`] turns the per-turn
//! evaluations into one [`JudgeMove`] per played move.
//!
//! Invariants:
//! - [`parse_response`] is total: any line, however malformed, yields a
//!   [`Response`] (unknown shapes become [`Response::Other`]), never a panic.
//! - Evaluations are parsed in the engine's reporting perspective, which the
//!   caller states ([`Perspective`]); verdicts are always from the mover's
//!   view: `before`/`after` are the mover's winrate (and score lead) before
//!   and after its move, and a loss is `before − after` clamped at 0.

use qarena_go::{parse_vertex, Color, Game, Rules};
use qarena_store::{GameId, JudgeMove, MoveRecord};
use serde_json::{json, Value};

/// The position of a Go game to analyse: its legal, non-resign moves.
#[derive(Debug, Clone, PartialEq)]
pub struct GoPosition {
    pub board_size: u8,
    pub komi: f64,
    /// `(colour, vertex)` with colour `B`/`W` and vertex as in GTP or `pass`.
    pub moves: Vec<(Color, String)>,
    /// The stored ply of each move in `moves`.
    pub plies: Vec<i64>,
    /// How many leading moves are the pair's opening (book moves nobody
    /// chose): they are analysed as context but get no verdict.
    pub book: usize,
    /// Why the stored moves were cut short, if they were (an illegal or
    /// unreadable move). A trailing `resign` is not a cut.
    pub truncated: Option<String>,
}

/// The number of book moves of a stored Go game: its `opening` column holds
/// the opening's vertices.
pub fn book_len(opening: Option<&str>) -> usize {
    opening.map_or(0, |o| o.split_whitespace().count())
}

impl GoPosition {
    /// Turns to analyse: the position before every move and after the last.
    pub fn turns(&self) -> usize {
        self.moves.len() + 1
    }
}

/// Reads a stored Go game: stops at `resign` (which has no position after
/// it) and at the first move that is unreadable or illegal under
/// Tromp-Taylor rules (what the judge is asked to use), so the engine is
/// never sent a position it would refuse.
pub fn go_position(board_size: u8, komi: f64, moves: &[MoveRecord]) -> GoPosition {
    let mut out = GoPosition {
        board_size,
        komi,
        moves: Vec::with_capacity(moves.len()),
        plies: Vec::with_capacity(moves.len()),
        book: 0,
        truncated: None,
    };
    let mut game = match Game::new(board_size, komi as f32, Rules::tromp_taylor()) {
        Ok(g) => g,
        Err(e) => {
            out.truncated = Some(format!("board size {board_size}: {e}"));
            return out;
        }
    };
    for m in moves {
        if m.mv.eq_ignore_ascii_case("resign") {
            break;
        }
        let Some(color) = Color::parse(m.color.as_str()) else {
            out.truncated = Some(format!("ply {}: unknown colour `{}`", m.ply, m.color));
            break;
        };
        let mv = match parse_vertex(&m.mv, board_size) {
            Ok(mv) => mv,
            Err(e) => {
                out.truncated = Some(format!("ply {}: `{}`: {e}", m.ply, m.mv));
                break;
            }
        };
        if let Err(e) = game.play(color, mv) {
            out.truncated = Some(format!("ply {}: illegal move `{}`: {e}", m.ply, m.mv));
            break;
        }
        out.moves
            .push((color, m.mv.to_ascii_uppercase().replace("PASS", "pass")));
        out.plies.push(m.ply);
    }
    out
}

/// The analysis query for one game: all turns, fixed visits, no policy.
pub fn query(id: &str, pos: &GoPosition, max_visits: u32) -> String {
    let moves: Vec<Value> = pos
        .moves
        .iter()
        .map(|(c, v)| json!([c.sgf_char().to_string(), v]))
        .collect();
    let turns: Vec<usize> = (0..pos.turns()).collect();
    json!({
        "id": id,
        "moves": moves,
        "rules": "tromp-taylor",
        "komi": pos.komi,
        "boardXSize": pos.board_size,
        "boardYSize": pos.board_size,
        "analyzeTurns": turns,
        "maxVisits": max_visits,
        "includePolicy": false,
    })
    .to_string()
}

/// The version query sent first: it proves the engine is up and names it.
pub fn version_query(id: &str) -> String {
    json!({"id": id, "action": "query_version"}).to_string()
}

/// Whose view the engine's winrates and score leads are reported from
/// (`reportAnalysisWinratesAs` in the analysis config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perspective {
    Black,
    White,
    SideToMove,
}

impl Perspective {
    /// Reads `reportAnalysisWinratesAs` from a KataGo config file's text;
    /// KataGo's default (side to move) when the key is absent.
    pub fn from_config(text: &str) -> Perspective {
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            if k.trim() == "reportAnalysisWinratesAs" {
                return match v.trim().to_ascii_uppercase().as_str() {
                    "BLACK" => Perspective::Black,
                    "WHITE" => Perspective::White,
                    _ => Perspective::SideToMove,
                };
            }
        }
        Perspective::SideToMove
    }

    /// The setting's spelling, for `-override-config`.
    pub fn as_config(self) -> &'static str {
        match self {
            Perspective::Black => "BLACK",
            Perspective::White => "WHITE",
            Perspective::SideToMove => "SIDETOMOVE",
        }
    }
}

/// One candidate move of a turn, values in the engine's perspective.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub mv: String,
    pub order: i64,
    pub visits: Option<i64>,
    pub winrate: Option<f64>,
    pub score_lead: Option<f64>,
    pub prior: Option<f64>,
}

/// The evaluation of one analysed turn, values in the engine's perspective.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnEval {
    pub id: String,
    pub turn: usize,
    pub winrate: f64,
    pub score_lead: Option<f64>,
    pub visits: Option<i64>,
    /// Sorted by `order` (0 = the move the engine would play).
    pub candidates: Vec<Candidate>,
}

/// What one output line of the analysis engine means.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// A final result for one turn.
    Turn(TurnEval),
    /// `{"error": .., "id": ..}`: the whole query was refused.
    Error {
        id: Option<String>,
        message: String,
        field: Option<String>,
    },
    /// `{"warning": ..}`: the query still runs.
    Warning { id: Option<String>, message: String },
    /// The answer to `query_version`.
    Version { id: String, version: String },
    /// Anything else (intermediate results, unknown shapes, non-JSON).
    Other(String),
}

/// Reads one line of analysis-engine output. Total: see the module docs.
pub fn parse_response(line: &str) -> Response {
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return Response::Other(line.to_string());
    };
    let id = v.get("id").and_then(Value::as_str).map(str::to_string);
    if let Some(msg) = v.get("error") {
        return Response::Error {
            id,
            message: value_text(msg),
            field: v.get("field").and_then(Value::as_str).map(str::to_string),
        };
    }
    if let Some(msg) = v.get("warning") {
        return Response::Warning {
            id,
            message: value_text(msg),
        };
    }
    if v.get("action").and_then(Value::as_str) == Some("query_version") {
        // The query itself has the same action but no version.
        if let Some(version) = v.get("version").and_then(Value::as_str) {
            return Response::Version {
                id: id.unwrap_or_default(),
                version: version.to_string(),
            };
        }
        return Response::Other(line.to_string());
    }
    if v.get("isDuringSearch").and_then(Value::as_bool) == Some(true) {
        return Response::Other(line.to_string());
    }
    let (Some(id), Some(turn), Some(root)) = (
        id,
        v.get("turnNumber").and_then(Value::as_u64),
        v.get("rootInfo"),
    ) else {
        return Response::Other(line.to_string());
    };
    let Some(winrate) = root.get("winrate").and_then(finite) else {
        return Response::Other(line.to_string());
    };
    let mut candidates: Vec<Candidate> = v
        .get("moveInfos")
        .and_then(Value::as_array)
        .map(|infos| {
            infos
                .iter()
                .enumerate()
                .filter_map(|(i, m)| {
                    Some(Candidate {
                        mv: m.get("move")?.as_str()?.to_string(),
                        order: m.get("order").and_then(Value::as_i64).unwrap_or(i as i64),
                        visits: m.get("visits").and_then(Value::as_i64),
                        winrate: m.get("winrate").and_then(finite),
                        score_lead: m.get("scoreLead").and_then(finite),
                        prior: m.get("prior").and_then(finite),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    candidates.sort_by_key(|c| c.order);
    Response::Turn(TurnEval {
        id,
        turn: turn as usize,
        winrate,
        score_lead: root.get("scoreLead").and_then(finite),
        visits: root.get("visits").and_then(Value::as_i64),
        candidates,
    })
}

fn finite(v: &Value) -> Option<f64> {
    v.as_f64().filter(|x| x.is_finite())
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Settings of the verdicts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VerdictRules {
    /// A move whose (clamped) winrate loss reaches this is a blunder.
    pub blunder_winrate: f64,
    /// How many candidates go into `top_k`.
    pub top_k: usize,
    pub perspective: Perspective,
}

/// The mover's view of a value reported in `perspective`, at a turn where
/// `to_move` is to play. Winrates flip as `1 − x`, score leads as `−x`.
fn view(perspective: Perspective, to_move: Color, mover: Color, x: f64, winrate: bool) -> f64 {
    let reported_for = match perspective {
        Perspective::Black => Color::Black,
        Perspective::White => Color::White,
        Perspective::SideToMove => to_move,
    };
    match (reported_for == mover, winrate) {
        (true, _) => x,
        (false, true) => 1.0 - x,
        (false, false) => -x,
    }
}

/// One verdict per move of `pos`. `evals[t]` must be the evaluation of turn
/// `t` for every `t` in `0..pos.turns()`.
pub fn verdicts(
    game: GameId,
    pos: &GoPosition,
    evals: &[TurnEval],
    rules: &VerdictRules,
) -> Vec<JudgeMove> {
    let mut out = Vec::with_capacity(pos.moves.len());
    for (p, ((mover, _), ply)) in pos.moves.iter().zip(&pos.plies).enumerate() {
        if p < pos.book {
            continue;
        }
        let (Some(before), Some(after)) = (evals.get(p), evals.get(p + 1)) else {
            break;
        };
        let mover = *mover;
        // Turn p has the mover to play; turn p+1 the opponent (whatever the
        // stored colours say, KataGo plays them as given).
        let next = pos
            .moves
            .get(p + 1)
            .map(|(c, _)| *c)
            .unwrap_or(mover.opposite());
        let wr_before = view(rules.perspective, mover, mover, before.winrate, true);
        let wr_after = view(rules.perspective, next, mover, after.winrate, true);
        let sc_before = before
            .score_lead
            .map(|s| view(rules.perspective, mover, mover, s, false));
        let sc_after = after
            .score_lead
            .map(|s| view(rules.perspective, next, mover, s, false));
        let loss_winrate = (wr_before - wr_after).max(0.0);
        let loss_score = match (sc_before, sc_after) {
            (Some(b), Some(a)) => Some((b - a).max(0.0)),
            _ => None,
        };
        let top: Vec<Value> = before
            .candidates
            .iter()
            .take(rules.top_k)
            .map(|c| {
                json!({
                    "move": c.mv,
                    "visits": c.visits,
                    "winrate": c.winrate.map(|w| view(rules.perspective, mover, mover, w, true)),
                    "score_lead": c.score_lead.map(|s| view(rules.perspective, mover, mover, s, false)),
                    "prior": c.prior,
                })
            })
            .collect();
        out.push(JudgeMove {
            game,
            ply: *ply,
            before_winrate: Some(wr_before),
            after_winrate: Some(wr_after),
            before_score: sc_before,
            after_score: sc_after,
            best_move: before.candidates.first().map(|c| c.mv.clone()),
            loss_winrate: Some(loss_winrate),
            loss_score,
            loss_cp: None,
            blunder: loss_winrate >= rules.blunder_winrate,
            top_k: Some(Value::Array(top)),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv(ply: i64, color: &str, mv: &str) -> MoveRecord {
        MoveRecord {
            game: GameId(1),
            ply,
            color: color.parse().unwrap(),
            mv: mv.into(),
            time_ms: 0,
        }
    }

    fn eval(turn: usize, winrate: f64, lead: f64, best: &str) -> TurnEval {
        TurnEval {
            id: "g".into(),
            turn,
            winrate,
            score_lead: Some(lead),
            visits: Some(8),
            candidates: vec![Candidate {
                mv: best.into(),
                order: 0,
                visits: Some(5),
                winrate: Some(winrate),
                score_lead: Some(lead),
                prior: Some(0.5),
            }],
        }
    }

    #[test]
    fn position_stops_at_resign_and_illegal_moves() {
        let moves = [mv(0, "B", "E5"), mv(1, "W", "pass"), mv(2, "B", "resign")];
        let p = go_position(9, 7.0, &moves);
        assert_eq!(p.moves.len(), 2);
        assert_eq!(p.turns(), 3);
        assert!(p.truncated.is_none());

        let moves = [mv(0, "B", "E5"), mv(1, "W", "E5"), mv(2, "B", "C3")];
        let p = go_position(9, 7.0, &moves);
        assert_eq!(p.moves.len(), 1);
        assert!(p.truncated.as_deref().unwrap().contains("ply 1"));

        let p = go_position(9, 7.0, &[mv(0, "B", "Z99")]);
        assert!(p.moves.is_empty() && p.truncated.is_some());
    }

    #[test]
    fn query_lists_every_turn() {
        let p = go_position(9, 6.5, &[mv(0, "B", "e5"), mv(1, "W", "PASS")]);
        let q: Value = serde_json::from_str(&query("g7", &p, 64)).unwrap();
        assert_eq!(q["analyzeTurns"], json!([0, 1, 2]));
        assert_eq!(q["moves"], json!([["B", "E5"], ["W", "pass"]]));
        assert_eq!(q["komi"], json!(6.5));
        assert_eq!(q["maxVisits"], json!(64));
        assert_eq!(q["includePolicy"], json!(false));
    }

    #[test]
    fn parses_transcript_lines_and_never_panics() {
        // The recorded KataGo analysis session shipped beside the project.
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/katago/analysis_transcript.jsonl");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let mut turns = 0;
        for line in text.lines() {
            match parse_response(line) {
                Response::Turn(t) => {
                    turns += 1;
                    assert!((0.0..=1.0).contains(&t.winrate));
                    assert!(t.candidates.windows(2).all(|w| w[0].order <= w[1].order));
                }
                Response::Version { version, .. } => assert_eq!(version, "1.17.2"),
                _ => {}
            }
        }
        assert!(turns >= 2, "{turns}");
        for bad in [
            "",
            "{",
            "null",
            "[1]",
            r#"{"id":"x","turnNumber":-1}"#,
            r#"{"id":"x","turnNumber":1,"rootInfo":{"winrate":"a"}}"#,
        ] {
            assert!(matches!(parse_response(bad), Response::Other(_)), "{bad}");
        }
        assert!(matches!(
            parse_response(r#"{"error":"Illegal move 1: E5","field":"moves","id":"b"}"#),
            Response::Error { id: Some(_), .. }
        ));
    }

    #[test]
    fn verdicts_are_from_the_movers_view() {
        let p = go_position(9, 7.0, &[mv(0, "B", "E5"), mv(1, "W", "C3")]);
        // Black's view: 0.55 before E5, 0.60 after it, 0.80 after C3.
        let evals = [
            eval(0, 0.55, 1.0, "E5"),
            eval(1, 0.60, 2.0, "C5"),
            eval(2, 0.80, 5.0, "D4"),
        ];
        let rules = VerdictRules {
            blunder_winrate: 0.1,
            top_k: 3,
            perspective: Perspective::Black,
        };
        let v = verdicts(GameId(1), &p, &evals, &rules);
        assert_eq!(v.len(), 2);
        // Black gained: no loss.
        assert_eq!(v[0].loss_winrate, Some(0.0));
        assert!(!v[0].blunder);
        // White: 0.40 -> 0.20, a loss of 0.2 and 3 points.
        let w = &v[1];
        assert!((w.before_winrate.unwrap() - 0.40).abs() < 1e-12);
        assert!((w.after_winrate.unwrap() - 0.20).abs() < 1e-12);
        assert!((w.loss_winrate.unwrap() - 0.20).abs() < 1e-12);
        assert!((w.loss_score.unwrap() - 3.0).abs() < 1e-12);
        assert!(w.blunder);
        assert_eq!(w.best_move.as_deref(), Some("C5"));
        assert_eq!(w.top_k.as_ref().unwrap()[0]["winrate"], json!(0.4));

        // The same numbers reported for the side to move give the same verdicts.
        let stm = [
            eval(0, 0.55, 1.0, "E5"),
            eval(1, 0.40, -2.0, "C5"),
            eval(2, 0.80, 5.0, "D4"),
        ];
        let rules = VerdictRules {
            perspective: Perspective::SideToMove,
            ..rules
        };
        let v2 = verdicts(GameId(1), &p, &stm, &rules);
        assert_eq!(v2[1].loss_winrate, v[1].loss_winrate);
        assert_eq!(v2[1].loss_score, v[1].loss_score);

        // A book move is context, not a choice: it gets no verdict.
        let mut booked = p.clone();
        booked.book = book_len(Some("E5"));
        let v3 = verdicts(GameId(1), &booked, &stm, &rules);
        assert_eq!(v3.len(), 1);
        assert_eq!(v3[0].ply, 1);
        assert_eq!(v3[0].loss_winrate, v[1].loss_winrate);
    }

    #[test]
    fn perspective_from_config() {
        assert_eq!(
            Perspective::from_config("# x\nreportAnalysisWinratesAs = BLACK # c\n"),
            Perspective::Black
        );
        assert_eq!(
            Perspective::from_config("maxVisits = 3"),
            Perspective::SideToMove
        );
    }
}
