//! Typed reads of the metric views (`docs/metrics.md`): the per-game views
//! of migration 2 and `game_summary`, one row per game and player.
//!
//! The per-game figures (average judge loss, blunders, self winrate, policy
//! entropy, overconfidence) are defined once, in SQL, by the views; readers
//! get them here as rows of one game and one engine each, and summarise
//! them over games themselves (the game is the independent unit). Every
//! getter orders its rows by point, game and engine so callers that collect
//! per-game values into samples get them in a stable order.

use rusqlite::Row;

use qarena_stats::Outcome;

use crate::{
    EngineId, EngineSlot, GameId, JudgeRunId, Result, RunId, Slot, Store, Termination, VariantId,
};

/// The judge's verdict on one side's play in one game (`game_judge_metrics`).
#[derive(Debug, Clone, PartialEq)]
pub struct GameJudgeMetrics {
    pub judge_run: JudgeRunId,
    pub run: RunId,
    pub point_index: i64,
    pub game: GameId,
    /// The engine that played the judged moves.
    pub engine: EngineId,
    pub slot: EngineSlot,
    pub variant: Option<VariantId>,
    /// Verdicts on this engine's moves.
    pub moves_judged: u64,
    /// Mean clamped winrate loss (Go; chess when the judge reports WDL).
    pub avg_loss_winrate: Option<f64>,
    /// Mean clamped score loss in points (Go).
    pub avg_loss_score: Option<f64>,
    /// Mean centipawn loss (chess).
    pub avg_loss_cp: Option<f64>,
    pub blunders: u64,
    /// The judge's winrate after the game's last judged move, from this
    /// engine's view.
    pub final_winrate: Option<f64>,
    /// Same for the score (points in Go, centipawns in chess).
    pub final_score: Option<f64>,
}

impl GameJudgeMetrics {
    /// Blunders per judged move, `None` when no move was judged.
    pub fn blunder_rate(&self) -> Option<f64> {
        (self.moves_judged > 0).then(|| self.blunders as f64 / self.moves_judged as f64)
    }
}

/// What one engine believed while it played one game (`game_self_metrics`).
#[derive(Debug, Clone, PartialEq)]
pub struct GameSelfMetrics {
    pub run: RunId,
    pub point_index: i64,
    pub game: GameId,
    pub engine: EngineId,
    pub slot: EngineSlot,
    pub variant: Option<VariantId>,
    /// Self-evaluations the engine reported in this game.
    pub self_evals: u64,
    pub avg_self_winrate: Option<f64>,
    /// Go: mean score lead in points.
    pub avg_self_score_lead: Option<f64>,
    /// Chess: mean centipawn score.
    pub avg_self_cp: Option<f64>,
    /// Mean Shannon entropy (nats) of the normalised top-K priors
    /// (`self_eval_entropy`).
    pub avg_policy_entropy: Option<f64>,
}

/// One engine's own winrate against the judge's in one game
/// (`game_overconfidence`); positive means overconfident.
#[derive(Debug, Clone, PartialEq)]
pub struct GameOverconfidence {
    pub judge_run: JudgeRunId,
    pub run: RunId,
    pub point_index: i64,
    pub game: GameId,
    pub engine: EngineId,
    pub slot: EngineSlot,
    pub variant: Option<VariantId>,
    /// Plies with both a self winrate and a verdict.
    pub moves: u64,
    /// Mean of self winrate − the judge's winrate before the same move.
    pub avg_self_minus_judge_before: Option<f64>,
    /// Mean of self winrate − the judge's winrate after the move.
    pub avg_self_minus_judge_after: Option<f64>,
    /// Chess: mean of self centipawns − the judge's score before the move.
    pub avg_self_minus_judge_cp: Option<f64>,
}

/// How much of a run one judge run has covered (`judge_coverage`).
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeCoverage {
    pub judge_run: JudgeRunId,
    pub run: RunId,
    /// The judge's game (`go`, `chess`) as its settings name it.
    pub game_kind: Option<String>,
    /// Games of the run in the judge's record format.
    pub games_played: u64,
    /// Games with at least one verdict.
    pub games_judged: u64,
    /// Judged / played; `None` when the run has no such game.
    pub coverage: Option<f64>,
}

/// One game from one player's side (`game_summary`): the game's facts,
/// this player's result and variant, the verdicts of the run's newest judge
/// run on its moves and its own beliefs while it played.
#[derive(Debug, Clone, PartialEq)]
pub struct GameSummary {
    pub run: RunId,
    pub run_tag: String,
    pub point_index: i64,
    pub game_index: i64,
    pub game: GameId,
    pub pair_index: Option<i64>,
    /// The player.
    pub engine: EngineId,
    pub slot: EngineSlot,
    pub label: String,
    pub variant: Option<VariantId>,
    /// True when this player had Black (Go: moved first; chess: second).
    pub black: bool,
    pub result: Option<String>,
    pub winner: Option<Slot>,
    pub termination: Termination,
    pub move_count: i64,
    /// This player's result; `None` for an aborted game.
    pub outcome: Option<Outcome>,
    /// The run's newest judge run; `None` when the run was never judged.
    pub judge_run: Option<JudgeRunId>,
    /// Verdicts of `judge_run` on this player's moves (0: not judged).
    pub moves_judged: u64,
    pub avg_loss_winrate: Option<f64>,
    pub avg_loss_score: Option<f64>,
    pub avg_loss_cp: Option<f64>,
    pub blunders: Option<u64>,
    pub final_winrate: Option<f64>,
    pub final_score: Option<f64>,
    /// Self-evaluations this player reported (0: none).
    pub self_evals: u64,
    pub avg_self_winrate: Option<f64>,
    pub avg_self_score_lead: Option<f64>,
    pub avg_self_cp: Option<f64>,
    pub avg_policy_entropy: Option<f64>,
}

fn judge_metrics_from_row(r: &Row<'_>) -> rusqlite::Result<GameJudgeMetrics> {
    Ok(GameJudgeMetrics {
        judge_run: r.get(0)?,
        run: r.get(1)?,
        point_index: r.get(2)?,
        game: r.get(3)?,
        engine: r.get(4)?,
        slot: r.get(5)?,
        variant: r.get(6)?,
        moves_judged: r.get(7)?,
        avg_loss_winrate: r.get(8)?,
        avg_loss_score: r.get(9)?,
        avg_loss_cp: r.get(10)?,
        blunders: r.get(11)?,
        final_winrate: r.get(12)?,
        final_score: r.get(13)?,
    })
}

fn self_metrics_from_row(r: &Row<'_>) -> rusqlite::Result<GameSelfMetrics> {
    Ok(GameSelfMetrics {
        run: r.get(0)?,
        point_index: r.get(1)?,
        game: r.get(2)?,
        engine: r.get(3)?,
        slot: r.get(4)?,
        variant: r.get(5)?,
        self_evals: r.get(6)?,
        avg_self_winrate: r.get(7)?,
        avg_self_score_lead: r.get(8)?,
        avg_self_cp: r.get(9)?,
        avg_policy_entropy: r.get(10)?,
    })
}

fn overconfidence_from_row(r: &Row<'_>) -> rusqlite::Result<GameOverconfidence> {
    Ok(GameOverconfidence {
        judge_run: r.get(0)?,
        run: r.get(1)?,
        point_index: r.get(2)?,
        game: r.get(3)?,
        engine: r.get(4)?,
        slot: r.get(5)?,
        variant: r.get(6)?,
        moves: r.get(7)?,
        avg_self_minus_judge_before: r.get(8)?,
        avg_self_minus_judge_after: r.get(9)?,
        avg_self_minus_judge_cp: r.get(10)?,
    })
}

fn summary_from_row(r: &Row<'_>) -> rusqlite::Result<GameSummary> {
    let color: String = r.get(10)?;
    let outcome: Option<String> = r.get(15)?;
    let outcome = match outcome.as_deref() {
        None => None,
        Some("win") => Some(Outcome::Win),
        Some("loss") => Some(Outcome::Loss),
        Some("draw") => Some(Outcome::Draw),
        Some(other) => {
            return Err(rusqlite::Error::FromSqlConversionFailure(
                15,
                rusqlite::types::Type::Text,
                format!("game_summary: unknown outcome '{other}'").into(),
            ))
        }
    };
    Ok(GameSummary {
        run: r.get(0)?,
        run_tag: r.get(1)?,
        point_index: r.get(2)?,
        game_index: r.get(3)?,
        game: r.get(4)?,
        pair_index: r.get(5)?,
        engine: r.get(6)?,
        slot: r.get(7)?,
        label: r.get(8)?,
        variant: r.get(9)?,
        black: color == "black",
        result: r.get(11)?,
        winner: r.get(12)?,
        termination: r.get(13)?,
        move_count: r.get(14)?,
        outcome,
        judge_run: r.get(16)?,
        moves_judged: r.get::<_, Option<u64>>(17)?.unwrap_or(0),
        avg_loss_winrate: r.get(18)?,
        avg_loss_score: r.get(19)?,
        avg_loss_cp: r.get(20)?,
        blunders: r.get(21)?,
        final_winrate: r.get(22)?,
        final_score: r.get(23)?,
        self_evals: r.get::<_, Option<u64>>(24)?.unwrap_or(0),
        avg_self_winrate: r.get(25)?,
        avg_self_score_lead: r.get(26)?,
        avg_self_cp: r.get(27)?,
        avg_policy_entropy: r.get(28)?,
    })
}

/// The rows of a per-game view for every game of `run` (by point, then
/// game), read one game at a time: SQLite pushes `game_id = ?` into the
/// view's aggregate, while a filter on the run (or `IN` over its games)
/// would aggregate the whole file. `sql` selects from the view `WHERE
/// game_id = ?1`.
pub(crate) fn rows_game_by_game<T>(
    c: &rusqlite::Connection,
    run: RunId,
    sql: &str,
    from_row: fn(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    let mut games = c.prepare("SELECT id FROM games WHERE run_id = ?1 ORDER BY point_index, id")?;
    let games = games
        .query_map([run], |r| r.get::<_, GameId>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut stmt = c.prepare(sql)?;
    let mut out = Vec::new();
    for game in games {
        for row in stmt.query_map([game], from_row)? {
            out.push(row?);
        }
    }
    Ok(out)
}

impl Store {
    /// Per game and engine of `run`: the verdicts of `judge_run`, averaged
    /// over that engine's judged moves.
    pub fn game_judge_metrics(
        &self,
        judge_run: JudgeRunId,
        run: RunId,
    ) -> Result<Vec<GameJudgeMetrics>> {
        self.call("reading per-game judge metrics", |c| {
            let mut stmt = c.prepare(
                "SELECT judge_run_id, run_id, point_index, game_id, engine_id, slot, variant_id,
                        moves_judged, avg_loss_winrate, avg_loss_score, avg_loss_cp, blunders,
                        final_winrate, final_score
                 FROM game_judge_metrics WHERE judge_run_id = ?1 AND run_id = ?2
                 ORDER BY point_index, game_id, engine_id",
            )?;
            let rows = stmt.query_map(rusqlite::params![judge_run, run], judge_metrics_from_row)?;
            rows.collect()
        })
    }

    /// Per game and engine of `run`: the engine's own evaluations, averaged
    /// over the moves it reported them for.
    pub fn game_self_metrics(&self, run: RunId) -> Result<Vec<GameSelfMetrics>> {
        self.call("reading per-game self-evaluation metrics", |c| {
            rows_game_by_game(
                c,
                run,
                "SELECT run_id, point_index, game_id, engine_id, slot, variant_id, self_evals,
                        avg_self_winrate, avg_self_score_lead, avg_self_cp, avg_policy_entropy
                 FROM game_self_metrics WHERE game_id = ?1 ORDER BY engine_id",
                self_metrics_from_row,
            )
        })
    }

    /// Per game and engine of `run`: the engine's own winrate against the
    /// verdicts of `judge_run` on the same plies.
    pub fn game_overconfidence(
        &self,
        judge_run: JudgeRunId,
        run: RunId,
    ) -> Result<Vec<GameOverconfidence>> {
        self.call("reading per-game overconfidence", |c| {
            let mut stmt = c.prepare(
                "SELECT judge_run_id, run_id, point_index, game_id, engine_id, slot, variant_id,
                        moves, avg_self_minus_judge_before, avg_self_minus_judge_after,
                        avg_self_minus_judge_cp
                 FROM game_overconfidence WHERE judge_run_id = ?1 AND run_id = ?2
                 ORDER BY point_index, game_id, engine_id",
            )?;
            let rows =
                stmt.query_map(rusqlite::params![judge_run, run], overconfidence_from_row)?;
            rows.collect()
        })
    }

    /// Per game of `run` and player: the game, this player's result and
    /// variant, the newest judge run's verdicts and the player's own
    /// evaluations (`game_summary`), ordered by point, game and engine.
    pub fn game_summary(&self, run: RunId) -> Result<Vec<GameSummary>> {
        // One query for the run: the view's aggregates are computed once
        // for the file and looked up per row (a filter on one game would
        // not reach them through the view's joins, so per-game queries
        // would each compute them again).
        self.call("reading the per-game summary", |c| {
            let mut stmt = c.prepare(
                "SELECT run_id, run_tag, point_index, game_index, game_id, pair_index,
                        engine_id, slot, label, variant_id, color, result, winner,
                        termination, move_count, outcome, judge_run_id, moves_judged,
                        avg_loss_winrate, avg_loss_score, avg_loss_cp, blunders,
                        final_winrate, final_score, self_evals, avg_self_winrate,
                        avg_self_score_lead, avg_self_cp, avg_policy_entropy
                 FROM game_summary WHERE run_id = ?1
                 ORDER BY point_index, game_index, engine_id",
            )?;
            let rows = stmt.query_map([run], summary_from_row)?;
            rows.collect()
        })
    }

    /// The coverage of every judge run recorded under `run`, by judge run.
    pub fn judge_coverage(&self, run: RunId) -> Result<Vec<JudgeCoverage>> {
        self.call("reading judge coverage", |c| {
            let mut stmt = c.prepare(
                "SELECT judge_run_id, run_id, game_kind, games_played, games_judged, coverage
                 FROM judge_coverage WHERE run_id = ?1 ORDER BY judge_run_id",
            )?;
            let rows = stmt.query_map([run], |r| {
                Ok(JudgeCoverage {
                    judge_run: r.get(0)?,
                    run: r.get(1)?,
                    game_kind: r.get(2)?,
                    games_played: r.get(3)?,
                    games_judged: r.get(4)?,
                    coverage: r.get(5)?,
                })
            })?;
            rows.collect()
        })
    }
}
