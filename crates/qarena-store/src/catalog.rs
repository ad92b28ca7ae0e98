//! The catalogue behind sweeps and judging: models and strategies keyed by
//! content hash, variants keyed by (model, strategy), sweeps with their
//! points, and judge runs with their per-move verdicts. Upserts make every
//! step re-runnable: registering the same content twice yields the same id.

use rusqlite::{params, OptionalExtension, Row};

use crate::{
    json_col, json_col_opt, json_text, now_rfc3339, EngineId, JudgeMove, JudgeRunId,
    JudgeRunRecord, ModelId, ModelRecord, NewSweepPoint, NewVariant, Result, RunId, Store,
    StrategyId, StrategyRecord, SweepId, SweepPointId, SweepPointRecord, SweepRecord, VariantId,
    VariantRecord,
};

fn variant_from_row(r: &Row<'_>) -> rusqlite::Result<VariantRecord> {
    Ok(VariantRecord {
        id: r.get(0)?,
        model: r.get(1)?,
        strategy: r.get(2)?,
        path: r.get(3)?,
        sha256: r.get(4)?,
        manifest: json_col(r, 5)?,
        effective_bits: r.get(6)?,
        bytes: r.get(7)?,
        created_at: r.get(8)?,
    })
}

fn model_from_row(r: &Row<'_>) -> rusqlite::Result<ModelRecord> {
    Ok(ModelRecord {
        id: r.get(0)?,
        path: r.get(1)?,
        sha256: r.get(2)?,
        format: r.get(3)?,
        bytes: r.get(4)?,
        created_at: r.get(5)?,
    })
}

fn sweep_from_row(r: &Row<'_>) -> rusqlite::Result<SweepRecord> {
    Ok(SweepRecord {
        id: r.get(0)?,
        run: r.get(1)?,
        name: r.get(2)?,
        definition: json_col(r, 3)?,
    })
}

const VARIANT_COLUMNS: &str =
    "id, model_id, strategy_id, path, sha256, manifest, effective_bits, bytes, created_at";

impl Store {
    /// Registers a model file by content hash. The same hash seen at a new
    /// path keeps its id and remembers the latest path.
    pub fn upsert_model(
        &self,
        path: &str,
        sha256: &str,
        format: &str,
        bytes: i64,
    ) -> Result<ModelId> {
        self.call("registering a model", |c| {
            c.query_row(
                "INSERT INTO models (path, sha256, format, bytes, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (sha256) DO UPDATE SET path = excluded.path
                 RETURNING id",
                params![path, sha256, format, bytes, now_rfc3339()],
                |r| r.get(0),
            )
        })
    }

    /// A model by content hash.
    pub fn model_by_sha256(&self, sha256: &str) -> Result<Option<ModelRecord>> {
        self.call("reading a model", |c| {
            c.query_row(
                "SELECT id, path, sha256, format, bytes, created_at FROM models WHERE sha256 = ?1",
                [sha256],
                model_from_row,
            )
            .optional()
        })
    }

    /// The models that have a variant with content hash `sha256` (normally
    /// one), by id.
    pub fn models_of_variant_sha256(&self, sha256: &str) -> Result<Vec<ModelRecord>> {
        self.call("reading the model of a variant", |c| {
            let mut stmt = c.prepare(
                "SELECT DISTINCT m.id, m.path, m.sha256, m.format, m.bytes, m.created_at
                 FROM models m JOIN variants v ON v.model_id = m.id
                 WHERE v.sha256 = ?1 ORDER BY m.id",
            )?;
            let rows = stmt.query_map([sha256], model_from_row)?;
            rows.collect()
        })
    }

    /// Registers a strategy by the hash of its TOML. The first name given to
    /// some content is kept, so ids and names stay stable across re-runs.
    pub fn upsert_strategy(&self, name: &str, toml: &str, sha256: &str) -> Result<StrategyId> {
        self.call("registering a strategy", |c| {
            c.query_row(
                "INSERT INTO strategies (name, toml, sha256) VALUES (?1, ?2, ?3)
                 ON CONFLICT (sha256) DO UPDATE SET name = strategies.name
                 RETURNING id",
                params![name, toml, sha256],
                |r| r.get(0),
            )
        })
    }

    /// A strategy by id.
    pub fn strategy(&self, id: StrategyId) -> Result<Option<StrategyRecord>> {
        self.call("reading a strategy", |c| {
            c.query_row(
                "SELECT id, name, toml, sha256 FROM strategies WHERE id = ?1",
                [id],
                |r| {
                    Ok(StrategyRecord {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        toml: r.get(2)?,
                        sha256: r.get(3)?,
                    })
                },
            )
            .optional()
        })
    }

    /// Registers the variant of a (model, strategy) pair; a rebuilt variant
    /// replaces the stored file facts but keeps its id.
    pub fn upsert_variant(&self, v: &NewVariant) -> Result<VariantId> {
        self.call("registering a variant", |c| {
            c.query_row(
                "INSERT INTO variants (model_id, strategy_id, path, sha256, manifest,
                                       effective_bits, bytes, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (model_id, strategy_id) DO UPDATE SET
                     path = excluded.path, sha256 = excluded.sha256,
                     manifest = excluded.manifest, effective_bits = excluded.effective_bits,
                     bytes = excluded.bytes
                 RETURNING id",
                params![
                    v.model,
                    v.strategy,
                    v.path,
                    v.sha256,
                    json_text(&v.manifest),
                    v.effective_bits,
                    v.bytes,
                    now_rfc3339()
                ],
                |r| r.get(0),
            )
        })
    }

    /// A variant by id.
    pub fn variant(&self, id: VariantId) -> Result<Option<VariantRecord>> {
        self.call("reading a variant", |c| {
            c.query_row(
                &format!("SELECT {VARIANT_COLUMNS} FROM variants WHERE id = ?1"),
                [id],
                variant_from_row,
            )
            .optional()
        })
    }

    /// The variants of a model, in registration order.
    pub fn variants_of_model(&self, model: ModelId) -> Result<Vec<VariantRecord>> {
        self.call("reading variants", |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {VARIANT_COLUMNS} FROM variants WHERE model_id = ?1 ORDER BY id"
            ))?;
            let rows = stmt.query_map([model], variant_from_row)?;
            rows.collect()
        })
    }

    /// Creates the named sweep of a run, or refreshes its definition when a
    /// resumed run registers it again.
    pub fn upsert_sweep(
        &self,
        run: RunId,
        name: &str,
        definition: &serde_json::Value,
    ) -> Result<SweepId> {
        self.call("registering a sweep", |c| {
            c.query_row(
                "INSERT INTO sweeps (run_id, name, definition) VALUES (?1, ?2, ?3)
                 ON CONFLICT (run_id, name) DO UPDATE SET definition = excluded.definition
                 RETURNING id",
                params![run, name, json_text(definition)],
                |r| r.get(0),
            )
        })
    }

    /// The sweeps of a run.
    pub fn sweeps(&self, run: RunId) -> Result<Vec<SweepRecord>> {
        self.call("reading sweeps", |c| {
            let mut stmt = c.prepare(
                "SELECT id, run_id, name, definition FROM sweeps WHERE run_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([run], sweep_from_row)?;
            rows.collect()
        })
    }

    /// The sweeps called `name` across all runs, the newest run first.
    pub fn sweeps_named(&self, name: &str) -> Result<Vec<SweepRecord>> {
        self.call("reading sweeps by name", |c| {
            let mut stmt = c.prepare(
                "SELECT id, run_id, name, definition FROM sweeps WHERE name = ?1
                 ORDER BY run_id DESC",
            )?;
            let rows = stmt.query_map([name], sweep_from_row)?;
            rows.collect()
        })
    }

    /// Creates or refreshes one point of a sweep (keyed by its index).
    pub fn upsert_sweep_point(&self, p: &NewSweepPoint) -> Result<SweepPointId> {
        self.call("registering a sweep point", |c| {
            c.query_row(
                "INSERT INTO sweep_points (sweep_id, point_index, label, variant_id, params)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (sweep_id, point_index) DO UPDATE SET
                     label = excluded.label, variant_id = excluded.variant_id,
                     params = excluded.params
                 RETURNING id",
                params![
                    p.sweep,
                    p.point_index,
                    p.label,
                    p.variant,
                    json_text(&p.params)
                ],
                |r| r.get(0),
            )
        })
    }

    /// The points of a sweep by index.
    pub fn sweep_points(&self, sweep: SweepId) -> Result<Vec<SweepPointRecord>> {
        self.call("reading sweep points", |c| {
            let mut stmt = c.prepare(
                "SELECT id, sweep_id, point_index, label, variant_id, params
                 FROM sweep_points WHERE sweep_id = ?1 ORDER BY point_index",
            )?;
            let rows = stmt.query_map([sweep], |r| {
                Ok(SweepPointRecord {
                    id: r.get(0)?,
                    sweep: r.get(1)?,
                    point_index: r.get(2)?,
                    label: r.get(3)?,
                    variant: r.get(4)?,
                    params: json_col(r, 5)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Starts a judge run: `run` is the judge's own run, `engine` the judge.
    pub fn create_judge_run(
        &self,
        run: RunId,
        engine: EngineId,
        settings: &serde_json::Value,
    ) -> Result<JudgeRunId> {
        self.call("creating a judge run", |c| {
            c.execute(
                "INSERT INTO judge_runs (run_id, engine_id, settings, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![run, engine, json_text(settings), now_rfc3339()],
            )?;
            Ok(JudgeRunId(c.last_insert_rowid()))
        })
    }

    /// The judge runs recorded under a run.
    pub fn judge_runs(&self, run: RunId) -> Result<Vec<JudgeRunRecord>> {
        self.call("reading judge runs", |c| {
            let mut stmt = c.prepare(
                "SELECT id, run_id, engine_id, settings, created_at FROM judge_runs
                 WHERE run_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([run], |r| {
                Ok(JudgeRunRecord {
                    id: r.get(0)?,
                    run: r.get(1)?,
                    engine: r.get(2)?,
                    settings: json_col(r, 3)?,
                    created_at: r.get(4)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Stores the verdicts on one judged game (or any batch) in one
    /// transaction. Re-judging a ply replaces its verdict, so an interrupted
    /// judge run can simply redo its last game.
    pub fn insert_judge_moves(&self, judge_run: JudgeRunId, moves: &[JudgeMove]) -> Result<()> {
        const OP: &str = "storing judge verdicts";
        self.write(OP, |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO judge_moves (judge_run_id, game_id, ply,
                         before_winrate, after_winrate, before_score, after_score, best_move,
                         loss_winrate, loss_score, loss_cp, blunder, top_k)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )
                .map_err(|e| self.sql_error(OP, e))?;
            for m in moves {
                stmt.execute(params![
                    judge_run,
                    m.game,
                    m.ply,
                    m.before_winrate,
                    m.after_winrate,
                    m.before_score,
                    m.after_score,
                    m.best_move,
                    m.loss_winrate,
                    m.loss_score,
                    m.loss_cp,
                    m.blunder,
                    m.top_k.as_ref().map(json_text),
                ])
                .map_err(|e| self.sql_error(OP, e))?;
            }
            Ok(())
        })
    }

    /// The verdicts of a judge run, by game and ply.
    pub fn judge_moves(&self, judge_run: JudgeRunId) -> Result<Vec<JudgeMove>> {
        self.call("reading judge verdicts", |c| {
            let mut stmt = c.prepare(
                "SELECT game_id, ply, before_winrate, after_winrate, before_score, after_score,
                        best_move, loss_winrate, loss_score, loss_cp, blunder, top_k
                 FROM judge_moves WHERE judge_run_id = ?1 ORDER BY game_id, ply",
            )?;
            let rows = stmt.query_map([judge_run], |r| {
                Ok(JudgeMove {
                    game: r.get(0)?,
                    ply: r.get(1)?,
                    before_winrate: r.get(2)?,
                    after_winrate: r.get(3)?,
                    before_score: r.get(4)?,
                    after_score: r.get(5)?,
                    best_move: r.get(6)?,
                    loss_winrate: r.get(7)?,
                    loss_score: r.get(8)?,
                    loss_cp: r.get(9)?,
                    blunder: r.get(10)?,
                    top_k: json_col_opt(r, 11)?,
                })
            })?;
            rows.collect()
        })
    }
}
