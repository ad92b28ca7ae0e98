//! Games with their moves and self-evaluations.

use rusqlite::{params, OptionalExtension, Row};

use crate::error::is_unique_violation;
use crate::{
    json_col_opt, json_text, GameId, GameRecord, GameScoring, MoveRecord, NewGame, Result, RunId,
    ScoringMethod, SelfEvalRecord, Store, StoreError,
};

const GAME_COLUMNS: &str = "id, run_id, point_index, game_index, pair_index, opening, seed, \
     black_engine_id, white_engine_id, result, winner, score, termination, move_count, record, \
     record_format, started_at, ended_at, duration_ms, variant_params, settings, scoring, \
     dead_stones, scoring_claims";

fn game_from_row(row: &Row<'_>) -> rusqlite::Result<GameRecord> {
    Ok(GameRecord {
        id: row.get(0)?,
        run: row.get(1)?,
        point_index: row.get(2)?,
        game_index: row.get(3)?,
        pair_index: row.get(4)?,
        opening: row.get(5)?,
        seed: row.get(6)?,
        black_engine: row.get(7)?,
        white_engine: row.get(8)?,
        result: row.get(9)?,
        winner: row.get(10)?,
        score: row.get(11)?,
        termination: row.get(12)?,
        move_count: row.get(13)?,
        record: row.get(14)?,
        record_format: row.get(15)?,
        started_at: row.get(16)?,
        ended_at: row.get(17)?,
        duration_ms: row.get(18)?,
        variant_params: json_col_opt(row, 19)?,
        settings: json_col_opt(row, 20)?,
        scoring: row
            .get::<_, Option<ScoringMethod>>(21)?
            .map(|method| -> rusqlite::Result<GameScoring> {
                let dead: Option<String> = row.get(22)?;
                Ok(GameScoring {
                    method,
                    dead_stones: dead.map(|d| d.split_whitespace().map(str::to_string).collect()),
                    claims: json_col_opt(row, 23)?,
                })
            })
            .transpose()?,
    })
}

impl Store {
    /// Stores a finished (or aborted) game with all its moves and
    /// self-evaluations in one transaction: either everything is written or
    /// nothing is. `move_count` is the number of moves given.
    ///
    /// A game whose `(run, point_index, game_index)` is already stored is
    /// refused with [`StoreError::DuplicateGame`]. Floating-point NaN is
    /// stored as NULL (SQLite has no NaN) and reads back as `None`.
    pub fn insert_game(&self, g: &NewGame) -> Result<GameId> {
        self.insert_game_scored(g, None)
    }

    /// [`Store::insert_game`] for a Go game counted by qarena: `scoring`
    /// (method, removed dead stones, each party's claim) is written in the
    /// same transaction.
    pub fn insert_game_scored(&self, g: &NewGame, scoring: Option<&GameScoring>) -> Result<GameId> {
        const OP: &str = "storing a game";
        self.write(OP, |tx| {
            let inserted = tx.execute(
                "INSERT INTO games (run_id, point_index, game_index, pair_index, opening, seed,
                     black_engine_id, white_engine_id, result, winner, score, termination,
                     move_count, record, record_format, started_at, ended_at, duration_ms,
                     variant_params, settings, scoring, dead_stones, scoring_claims)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                         ?17, ?18, ?19, ?20, ?21, ?22, ?23)",
                params![
                    g.run,
                    g.point_index,
                    g.game_index,
                    g.pair_index,
                    g.opening,
                    g.seed,
                    g.black_engine,
                    g.white_engine,
                    g.result,
                    g.winner,
                    g.score,
                    g.termination,
                    g.moves.len() as i64,
                    g.record,
                    g.record_format,
                    g.started_at,
                    g.ended_at,
                    g.duration_ms,
                    g.variant_params.as_ref().map(json_text),
                    g.settings.as_ref().map(json_text),
                    scoring.map(|s| s.method),
                    scoring
                        .and_then(|s| s.dead_stones.as_ref())
                        .map(|d| d.join(" ")),
                    scoring.and_then(|s| s.claims.as_ref()).map(json_text),
                ],
            );
            if let Err(e) = inserted {
                return Err(if is_unique_violation(&e) {
                    StoreError::DuplicateGame {
                        path: self.path_buf(),
                        run: g.run,
                        point_index: g.point_index,
                        game_index: g.game_index,
                    }
                } else {
                    self.sql_error(OP, e)
                });
            }
            let game = GameId(tx.last_insert_rowid());

            let children = || -> rusqlite::Result<()> {
                let mut mv = tx.prepare_cached(
                    "INSERT INTO moves (game_id, ply, color, mv, time_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for m in &g.moves {
                    mv.execute(params![game, m.ply, m.color, m.mv, m.time_ms])?;
                }
                let mut ev = tx.prepare_cached(
                    "INSERT INTO self_evals (game_id, ply, engine_id, winrate, score_lead,
                         score_cp, mate, depth, nodes, visits, time_ms, pv, top_k)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )?;
                for s in &g.self_evals {
                    ev.execute(params![
                        game,
                        s.ply,
                        s.engine,
                        s.winrate,
                        s.score_lead,
                        s.score_cp,
                        s.mate,
                        s.depth,
                        s.nodes,
                        s.visits,
                        s.time_ms,
                        s.pv,
                        s.top_k.as_ref().map(json_text),
                    ])?;
                }
                let mut cost = tx.prepare_cached(
                    "INSERT INTO game_costs (game_id, engine_id, cpu_seconds, peak_rss_bytes)
                     VALUES (?1, ?2, ?3, ?4)",
                )?;
                for c in &g.costs {
                    cost.execute(params![game, c.engine, c.cpu_seconds, c.peak_rss_bytes])?;
                }
                Ok(())
            };
            children().map_err(|e| self.sql_error(OP, e))?;
            Ok(game)
        })
    }

    /// The `(point_index, game_index)` keys of every stored game of a run,
    /// sorted. Aborted games count: their key is taken, so a resume skips
    /// them rather than failing on a duplicate.
    pub fn finished_games(&self, run: RunId) -> Result<Vec<(i64, i64)>> {
        self.call("listing finished games", |c| {
            let mut stmt = c.prepare(
                "SELECT point_index, game_index FROM games WHERE run_id = ?1
                 ORDER BY point_index, game_index",
            )?;
            let rows = stmt.query_map([run], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    /// Deletes the aborted games of one sweep point of a run (with their
    /// moves and self-evaluations, by cascade) so that a resume replays
    /// them. Returns how many were deleted.
    pub fn delete_aborted_games(&self, run: RunId, point_index: i64) -> Result<usize> {
        self.write("deleting aborted games", |tx| {
            tx.execute(
                "DELETE FROM games WHERE run_id = ?1 AND point_index = ?2
                 AND termination = 'aborted'",
                params![run, point_index],
            )
            .map_err(|e| self.sql_error("deleting aborted games", e))
        })
    }

    /// Every game of a run, ordered by sweep point and game index.
    pub fn games(&self, run: RunId) -> Result<Vec<GameRecord>> {
        self.call("reading games", |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {GAME_COLUMNS} FROM games WHERE run_id = ?1
                 ORDER BY point_index, game_index"
            ))?;
            let rows = stmt.query_map([run], game_from_row)?;
            rows.collect()
        })
    }

    /// One game by id.
    pub fn game(&self, game: GameId) -> Result<Option<GameRecord>> {
        self.call("reading a game", |c| {
            c.query_row(
                &format!("SELECT {GAME_COLUMNS} FROM games WHERE id = ?1"),
                [game],
                game_from_row,
            )
            .optional()
        })
    }

    /// The moves of a game in ply order.
    pub fn game_moves(&self, game: GameId) -> Result<Vec<MoveRecord>> {
        self.call("reading moves", |c| {
            let mut stmt = c.prepare(
                "SELECT game_id, ply, color, mv, time_ms FROM moves WHERE game_id = ?1
                 ORDER BY ply",
            )?;
            let rows = stmt.query_map([game], |r| {
                Ok(MoveRecord {
                    game: r.get(0)?,
                    ply: r.get(1)?,
                    color: r.get(2)?,
                    mv: r.get(3)?,
                    time_ms: r.get(4)?,
                })
            })?;
            rows.collect()
        })
    }

    /// The self-evaluations of a game in ply order.
    pub fn game_self_evals(&self, game: GameId) -> Result<Vec<SelfEvalRecord>> {
        self.call("reading self-evaluations", |c| {
            let mut stmt = c.prepare(
                "SELECT game_id, ply, engine_id, winrate, score_lead, score_cp, mate, depth,
                        nodes, visits, time_ms, pv, top_k
                 FROM self_evals WHERE game_id = ?1 ORDER BY ply",
            )?;
            let rows = stmt.query_map([game], |r| {
                Ok(SelfEvalRecord {
                    game: r.get(0)?,
                    ply: r.get(1)?,
                    engine: r.get(2)?,
                    winrate: r.get(3)?,
                    score_lead: r.get(4)?,
                    score_cp: r.get(5)?,
                    mate: r.get(6)?,
                    depth: r.get(7)?,
                    nodes: r.get(8)?,
                    visits: r.get(9)?,
                    time_ms: r.get(10)?,
                    pv: r.get(11)?,
                    top_k: json_col_opt(r, 12)?,
                })
            })?;
            rows.collect()
        })
    }
}
