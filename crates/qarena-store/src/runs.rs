//! Runs, their engine slots and their events.

use rusqlite::{params, OptionalExtension, Row};

use crate::error::is_unique_violation;
use crate::{
    json_col, json_text, now_rfc3339, EngineId, EngineRecord, EventRecord, NewEngine, NewEvent,
    NewRun, Result, RunId, RunRecord, RunStatus, RunSummary, Store, StoreError, VariantId,
};

const RUN_COLUMNS: &str =
    "id, tag, kind, created_at, argv, settings, software_version, status, finished_at, notes";

fn run_from_row(row: &Row<'_>) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        id: row.get(0)?,
        tag: row.get(1)?,
        kind: row.get(2)?,
        created_at: row.get(3)?,
        argv: json_col(row, 4)?,
        settings: json_col(row, 5)?,
        software_version: row.get(6)?,
        status: row.get(7)?,
        finished_at: row.get(8)?,
        notes: row.get(9)?,
    })
}

const ENGINE_COLUMNS: &str = "id, run_id, slot, label, command, protocol, name, version, \
                              model_path, model_sha256, variant_id";

fn engine_from_row(row: &Row<'_>) -> rusqlite::Result<EngineRecord> {
    Ok(EngineRecord {
        id: row.get(0)?,
        run: row.get(1)?,
        slot: row.get(2)?,
        label: row.get(3)?,
        command: json_col(row, 4)?,
        protocol: row.get(5)?,
        name: row.get(6)?,
        version: row.get(7)?,
        model_path: row.get(8)?,
        model_sha256: row.get(9)?,
        variant: row.get(10)?,
    })
}

impl Store {
    /// Creates a run with status `running`. Fails with
    /// [`StoreError::RunExists`] if the tag is taken.
    pub fn create_run(&self, r: &NewRun) -> Result<RunId> {
        let argv = json_text(&serde_json::Value::from(r.argv.clone()));
        let result = self.call_raw(|c| {
            c.execute(
                "INSERT INTO runs (tag, kind, created_at, argv, settings, software_version, status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    r.tag,
                    r.kind,
                    now_rfc3339(),
                    argv,
                    json_text(&r.settings),
                    r.software_version,
                    RunStatus::Running
                ],
            )?;
            Ok(RunId(c.last_insert_rowid()))
        });
        result.map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::RunExists {
                    path: self.path_buf(),
                    tag: r.tag.clone(),
                }
            } else {
                self.sql_error("creating a run", e)
            }
        })
    }

    /// The run with this id, if any.
    pub fn run(&self, run: RunId) -> Result<Option<RunRecord>> {
        self.call("reading a run", |c| {
            c.query_row(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
                [run],
                run_from_row,
            )
            .optional()
        })
    }

    /// The run with this tag, if any.
    pub fn run_by_tag(&self, tag: &str) -> Result<Option<RunRecord>> {
        self.call("reading a run", |c| {
            c.query_row(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE tag = ?1"),
                [tag],
                run_from_row,
            )
            .optional()
        })
    }

    /// Every run, oldest first, with its game and event counts.
    pub fn list_runs(&self) -> Result<Vec<RunSummary>> {
        self.call("listing runs", |c| {
            let cols = RUN_COLUMNS
                .split(", ")
                .map(|col| format!("r.{col}"))
                .collect::<Vec<_>>()
                .join(", ");
            let mut stmt = c.prepare(&format!(
                "SELECT {cols},
                        (SELECT count(*) FROM games g WHERE g.run_id = r.id),
                        (SELECT count(*) FROM events e WHERE e.run_id = r.id)
                 FROM runs r ORDER BY r.created_at, r.id"
            ))?;
            let rows = stmt.query_map([], |row| {
                Ok(RunSummary {
                    run: run_from_row(row)?,
                    games: row.get(10)?,
                    events: row.get(11)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Sets the status. Terminal states stamp `finished_at`; going back to
    /// `running` (a resume) clears it.
    pub fn set_run_status(&self, run: RunId, status: RunStatus) -> Result<()> {
        let finished_at = status.is_terminal().then(now_rfc3339);
        let changed = self.call("setting the run status", |c| {
            c.execute(
                "UPDATE runs SET status = ?2, finished_at = ?3 WHERE id = ?1",
                params![run, status, finished_at],
            )
        })?;
        self.expect_run(run, changed)
    }

    /// Replaces the free-text notes of a run.
    pub fn set_run_notes(&self, run: RunId, notes: Option<&str>) -> Result<()> {
        let changed = self.call("setting the run notes", |c| {
            c.execute(
                "UPDATE runs SET notes = ?2 WHERE id = ?1",
                params![run, notes],
            )
        })?;
        self.expect_run(run, changed)
    }

    /// Deletes a run with its engines, games, moves, self-evals, events,
    /// sweeps and judge runs (foreign keys cascade), in one transaction.
    pub fn delete_run(&self, run: RunId) -> Result<()> {
        let changed = self.write("deleting a run", |tx| {
            tx.execute("DELETE FROM runs WHERE id = ?1", [run])
                .map_err(|e| self.sql_error("deleting a run", e))
        })?;
        self.expect_run(run, changed)
    }

    fn expect_run(&self, run: RunId, changed: usize) -> Result<()> {
        if changed == 0 {
            Err(StoreError::RunNotFound {
                path: self.path_buf(),
                run,
            })
        } else {
            Ok(())
        }
    }

    /// Registers the engine in a slot of a run and returns its id.
    ///
    /// Resuming a run registers its engines again: if the slot is taken by
    /// the same engine (same protocol and, when both are known, same model
    /// hash) the stored row is refreshed (label, command, paths, reported
    /// name and version) and its id returned. A different engine in a taken
    /// slot is refused with [`StoreError::EngineMismatch`].
    pub fn add_engine(&self, e: &NewEngine) -> Result<EngineId> {
        const OP: &str = "registering an engine";
        let command = json_text(&serde_json::Value::from(e.command.clone()));
        self.write(OP, |tx| {
            let existing = tx
                .query_row(
                    "SELECT id, protocol, model_sha256 FROM engines WHERE run_id = ?1 AND slot = ?2",
                    params![e.run, e.slot],
                    |r| {
                        Ok((
                            r.get::<_, EngineId>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, Option<String>>(2)?,
                        ))
                    },
                )
                .optional()
                .map_err(|err| self.sql_error(OP, err))?;
            let Some((id, protocol, sha)) = existing else {
                tx.execute(
                    "INSERT INTO engines (run_id, slot, label, command, protocol, name, version,
                                          model_path, model_sha256)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        e.run,
                        e.slot,
                        e.label,
                        command,
                        e.protocol,
                        e.name,
                        e.version,
                        e.model_path,
                        e.model_sha256
                    ],
                )
                .map_err(|err| self.sql_error(OP, err))?;
                return Ok(EngineId(tx.last_insert_rowid()));
            };
            let mismatch = |field: &'static str, stored: String, new: String| {
                Err(StoreError::EngineMismatch {
                    path: self.path_buf(),
                    run: e.run,
                    slot: e.slot,
                    field,
                    stored,
                    new,
                })
            };
            if protocol != e.protocol.as_str() {
                return mismatch("protocol", protocol, e.protocol.to_string());
            }
            if let (Some(stored), Some(new)) = (&sha, &e.model_sha256) {
                if stored != new {
                    return mismatch("model_sha256", stored.clone(), new.clone());
                }
            }
            tx.execute(
                "UPDATE engines SET label = ?2, command = ?3,
                        name = coalesce(?4, name), version = coalesce(?5, version),
                        model_path = coalesce(?6, model_path),
                        model_sha256 = coalesce(?7, model_sha256)
                 WHERE id = ?1",
                params![
                    id,
                    e.label,
                    command,
                    e.name,
                    e.version,
                    e.model_path,
                    e.model_sha256
                ],
            )
            .map_err(|err| self.sql_error(OP, err))?;
            Ok(id)
        })
    }

    /// Records the name and version an engine reported after it started.
    pub fn set_engine_identity(
        &self,
        engine: EngineId,
        name: Option<&str>,
        version: Option<&str>,
    ) -> Result<()> {
        let changed = self.call("recording the engine identity", |c| {
            c.execute(
                "UPDATE engines SET name = ?2, version = ?3 WHERE id = ?1",
                params![engine, name, version],
            )
        })?;
        self.expect_engine(engine, changed)
    }

    /// Links an engine to the variant it plays with.
    pub fn set_engine_variant(&self, engine: EngineId, variant: Option<VariantId>) -> Result<()> {
        let changed = self.call("linking an engine to its variant", |c| {
            c.execute(
                "UPDATE engines SET variant_id = ?2 WHERE id = ?1",
                params![engine, variant],
            )
        })?;
        self.expect_engine(engine, changed)
    }

    fn expect_engine(&self, engine: EngineId, changed: usize) -> Result<()> {
        if changed == 0 {
            Err(StoreError::EngineNotFound {
                path: self.path_buf(),
                engine,
            })
        } else {
            Ok(())
        }
    }

    /// The engines of a run, in registration order.
    pub fn engines(&self, run: RunId) -> Result<Vec<EngineRecord>> {
        self.call("reading engines", |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {ENGINE_COLUMNS} FROM engines WHERE run_id = ?1 ORDER BY id"
            ))?;
            let rows = stmt.query_map([run], engine_from_row)?;
            rows.collect()
        })
    }

    /// One engine by id.
    pub fn engine(&self, engine: EngineId) -> Result<Option<EngineRecord>> {
        self.call("reading an engine", |c| {
            c.query_row(
                &format!("SELECT {ENGINE_COLUMNS} FROM engines WHERE id = ?1"),
                [engine],
                engine_from_row,
            )
            .optional()
        })
    }

    /// Appends an event, stamped with the current time.
    pub fn record_event(&self, e: &NewEvent) -> Result<()> {
        self.call("recording an event", |c| {
            c.execute(
                "INSERT INTO events (run_id, game_index, engine_id, at, kind, message, stderr_tail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    e.run,
                    e.game_index,
                    e.engine,
                    now_rfc3339(),
                    e.kind,
                    e.message,
                    e.stderr_tail
                ],
            )
            .map(drop)
        })
    }

    /// The events of a run in the order they were recorded.
    pub fn events(&self, run: RunId) -> Result<Vec<EventRecord>> {
        self.call("reading events", |c| {
            let mut stmt = c.prepare(
                "SELECT id, run_id, game_index, engine_id, at, kind, message, stderr_tail
                 FROM events WHERE run_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([run], |r| {
                Ok(EventRecord {
                    id: r.get(0)?,
                    run: r.get(1)?,
                    game_index: r.get(2)?,
                    engine: r.get(3)?,
                    at: r.get(4)?,
                    kind: r.get(5)?,
                    message: r.get(6)?,
                    stderr_tail: r.get(7)?,
                })
            })?;
            rows.collect()
        })
    }
}
