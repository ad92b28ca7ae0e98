//! The qarena store: one SQLite database per workspace holding runs,
//! engines, games with their moves and self-evaluations, events, and the
//! model/strategy/variant/sweep/judge catalogue; `merge.rs` combines the
//! databases of a sharded run into one.
//!
//! Invariants:
//! - The store is the only writer of the database. Other crates read through
//!   typed queries here (the per-game metric views through the getters of
//!   `metrics.rs`) or through [`Store::with_conn`], which runs their closure
//!   on a connection switched to `query_only`.
//! - A game is written in one transaction with its moves and self-evals:
//!   after a crash a game is either fully present or absent, and a game that
//!   `insert_game` reported as stored survives the process being killed.
//! - A game key `(run, point_index, game_index)` is stored at most once;
//!   a second write fails with [`StoreError::DuplicateGame`] so resuming can
//!   never double-count a game.
//! - The schema only moves forward through the ordered migrations in `schema.rs`; a database
//!   from a newer build is refused, never modified.
//!
//! Every write transaction starts with `BEGIN IMMEDIATE`, so two processes
//! sharing a file queue on SQLite's busy timeout (10 s by default) instead of
//! failing on a lock upgrade; a lock held longer surfaces as
//! [`StoreError::Locked`] naming the file.

mod catalog;
mod costs;
mod error;
mod evolutions;
mod games;
mod llm;
mod merge;
mod metrics;
mod probes;
mod ratings;
mod runs;
mod schema;
mod sqlfn;
mod types;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

pub use costs::{GameCostMetrics, PointCost};
pub use error::{EngineConflict, GameConflict, StoreError};
pub use evolutions::{
    EvolutionCheck, EvolutionMatch, EvolutionRecord, GenomeRecord, GenomeResult, NewEvolution,
    NewGenome,
};
pub use llm::{KvStatRow, LlmEvalKey, LlmEvalRecord, NewLlmEval, TeacherCacheEntry};
pub use merge::{
    definition_of, ExpectedGames, JudgeShards, RunCoverage, RunMerge, ShardMerge, ShardSet,
    MERGED_SHARDS_KEY, SHARD_KEY,
};
pub use metrics::{
    GameJudgeMetrics, GameOverconfidence, GameSelfMetrics, GameSummary, JudgeCoverage,
};
pub use probes::{NewProbe, ProbeKey, ProbeRecord};
pub use schema::SCHEMA_VERSION;
pub use types::*;

/// Re-exported so readers using [`Store::with_conn`] need no own dependency.
pub use rusqlite;

/// Result alias of this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// How long a statement waits for another connection's lock before failing.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// What the error messages call an in-memory database.
const MEMORY_PATH: &str = ":memory:";

/// A handle on the database. Cloning is cheap and clones share one
/// connection behind a mutex: writes are small, so serialising them inside a
/// process costs little and keeps transactions simple. Other processes open
/// their own `Store` and meet at SQLite's file lock.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    busy_timeout: Duration,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if missing) the database at `path` and migrates it to
    /// [`SCHEMA_VERSION`]. The directory must exist.
    pub fn open(path: &Path) -> Result<Store> {
        Store::open_with_timeout(path, DEFAULT_BUSY_TIMEOUT)
    }

    /// Like [`Store::open`] with a custom busy timeout.
    pub fn open_with_timeout(path: &Path, busy_timeout: Duration) -> Result<Store> {
        let conn = Connection::open(path).map_err(|e| open_error(path, e))?;
        Store::prepare(conn, path.to_path_buf(), busy_timeout, true)
    }

    /// A private, empty, fully migrated database in memory, for tests.
    pub fn open_in_memory() -> Result<Store> {
        let path = PathBuf::from(MEMORY_PATH);
        let conn = Connection::open_in_memory().map_err(|e| open_error(&path, e))?;
        Store::prepare(conn, path, DEFAULT_BUSY_TIMEOUT, false)
    }

    fn prepare(
        mut conn: Connection,
        path: PathBuf,
        busy_timeout: Duration,
        on_disk: bool,
    ) -> Result<Store> {
        let setup = |conn: &Connection| -> rusqlite::Result<()> {
            conn.busy_timeout(busy_timeout)?;
            if on_disk {
                // WAL lets readers (reports, `runs list`) proceed while a
                // match is writing, and makes each commit one append.
                conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))?;
            }
            // NORMAL is durable against process crashes in WAL mode; only an
            // OS crash can lose the last commits, which a resume replays.
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.pragma_update(None, "foreign_keys", true)?;
            sqlfn::register_math_functions(conn)?;
            Ok(())
        };
        // Switching a new file to WAL takes an exclusive lock and answers
        // "busy" at once, without the busy handler, while another process
        // is creating or migrating the same database: retry until the
        // busy timeout has passed.
        let deadline = std::time::Instant::now() + busy_timeout;
        loop {
            match setup(&conn) {
                Ok(()) => break,
                Err(e) if error::is_busy(&e) && std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) if error::is_busy(&e) => {
                    return Err(locked(&path, "opening", busy_timeout, e))
                }
                Err(e) => return Err(open_error(&path, e)),
            }
        }
        migrate(&mut conn, &path, busy_timeout)?;
        Ok(Store {
            inner: Arc::new(Inner {
                path,
                busy_timeout,
                conn: Mutex::new(conn),
            }),
        })
    }

    /// The database file (`:memory:` for in-memory stores).
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The schema version stored in the file.
    pub fn schema_version(&self) -> Result<i64> {
        self.call("reading the schema version", |c| {
            c.pragma_query_value(None, "user_version", |r| r.get(0))
        })
    }

    /// Runs SQLite's full integrity check; a healthy database gives `"ok"`,
    /// otherwise the problems, one per line.
    pub fn integrity_check(&self) -> Result<String> {
        self.call("checking integrity", |c| {
            let mut stmt = c.prepare("PRAGMA integrity_check")?;
            let lines = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(lines.join("\n"))
        })
    }

    /// Runs `f` on the connection for ad-hoc reads (statistics, reports).
    /// The connection is `query_only` for the duration, so writes fail: the
    /// store stays the only writer. Holds the store's mutex, so keep `f` short
    /// and do not call back into the store from inside it.
    pub fn with_conn<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        self.call("running a read query", |c| {
            c.pragma_update(None, "query_only", true)?;
            // Reset even if `f` panics, so a caught panic cannot leave the
            // shared connection read-only.
            struct Reset<'a>(&'a Connection);
            impl Drop for Reset<'_> {
                fn drop(&mut self) {
                    let _ = self.0.pragma_update(None, "query_only", false);
                }
            }
            let _reset = Reset(c);
            f(c)
        })
    }

    /// Locks the shared connection. A panic in another thread while holding
    /// it cannot leave a half-written game (the transaction rolls back on
    /// drop), so a poisoned mutex is safe to reuse.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.inner
            .conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` with the connection, leaving errors raw for callers that
    /// map some of them (constraint violations) to their own variants.
    pub(crate) fn call_raw<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        f(&mut self.conn())
    }

    /// Runs `f` with the connection and turns SQLite errors into
    /// [`StoreError`]s that name the file and `op`.
    pub(crate) fn call<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let mut conn = self.conn();
        f(&mut conn).map_err(|e| self.sql_error(op, e))
    }

    /// Runs `f` inside one `BEGIN IMMEDIATE` transaction, committing on `Ok`
    /// and rolling back on any error.
    pub(crate) fn write<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.sql_error(op, e))?;
        let value = f(&tx)?;
        tx.commit().map_err(|e| self.sql_error(op, e))?;
        Ok(value)
    }

    pub(crate) fn sql_error(&self, op: &'static str, e: rusqlite::Error) -> StoreError {
        if error::is_busy(&e) {
            locked(&self.inner.path, op, self.inner.busy_timeout, e)
        } else if let Some((problem, hint)) = error::storage_problem(&e) {
            StoreError::Storage {
                path: self.inner.path.clone(),
                op,
                problem,
                hint,
                source: Box::new(e),
            }
        } else {
            StoreError::Sqlite {
                path: self.inner.path.clone(),
                op,
                source: Box::new(e),
            }
        }
    }

    pub(crate) fn path_buf(&self) -> PathBuf {
        self.inner.path.clone()
    }
}

fn open_error(path: &Path, e: rusqlite::Error) -> StoreError {
    let hint = match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => {
            "the file is not a SQLite database; choose another database path"
        }
        Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
            "the file is damaged; restore it from a backup or choose another database path"
        }
        Some(rusqlite::ErrorCode::ReadOnly) => {
            "the database is read-only; make the file, its -wal/-shm files and its folder writable"
        }
        Some(rusqlite::ErrorCode::DiskFull | rusqlite::ErrorCode::SystemIoFailure) => {
            "the disk is full or failing; free space and try again"
        }
        _ => "check the directory exists and is writable",
    };
    // SQLite appends ": <path>" to some open failures; the message already
    // names the path once.
    let reason = match &e {
        rusqlite::Error::SqliteFailure(_, Some(msg)) => {
            let suffix = format!(": {}", path.display());
            msg.strip_suffix(&suffix).unwrap_or(msg).to_string()
        }
        other => other.to_string(),
    };
    StoreError::Open {
        path: path.to_path_buf(),
        reason,
        hint,
        source: Box::new(e),
    }
}

fn locked(path: &Path, op: &'static str, waited: Duration, e: rusqlite::Error) -> StoreError {
    StoreError::Locked {
        path: path.to_path_buf(),
        op,
        waited,
        source: Box::new(e),
    }
}

/// Brings the database up to [`SCHEMA_VERSION`], one transaction per step.
fn migrate(conn: &mut Connection, path: &Path, busy_timeout: Duration) -> Result<()> {
    let read_version = |conn: &Connection| -> rusqlite::Result<i64> {
        conn.pragma_query_value(None, "user_version", |r| r.get(0))
    };
    let too_new = |found: i64| StoreError::TooNew {
        path: path.to_path_buf(),
        found,
        known: SCHEMA_VERSION,
    };
    let current = read_version(conn).map_err(|e| {
        if error::is_busy(&e) {
            locked(path, "reading the schema version", busy_timeout, e)
        } else {
            open_error(path, e)
        }
    })?;
    if !(0..=SCHEMA_VERSION).contains(&current) {
        return Err(too_new(current));
    }
    for (index, migration) in schema::MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i64 + 1;
        let fail = |e: rusqlite::Error| {
            if error::is_busy(&e) {
                locked(path, "migrating the schema", busy_timeout, e)
            } else {
                StoreError::Migration {
                    path: path.to_path_buf(),
                    version,
                    source: Box::new(e),
                }
            }
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail)?;
        // Another process may have migrated while this one waited for the lock.
        let now = read_version(&tx).map_err(fail)?;
        if now > SCHEMA_VERSION {
            return Err(too_new(now));
        }
        if now >= version {
            continue;
        }
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version     INTEGER PRIMARY KEY,
                 description TEXT NOT NULL,
                 applied_at  TEXT NOT NULL
             ) STRICT;",
        )
        .map_err(fail)?;
        tx.execute_batch(migration.sql).map_err(fail)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![version, migration.description, now_rfc3339()],
        )
        .map_err(fail)?;
        tx.pragma_update(None, "user_version", version)
            .map_err(fail)?;
        tx.commit().map_err(fail)?;
    }
    Ok(())
}

/// Serialises a JSON value for a TEXT column.
pub(crate) fn json_text(v: &serde_json::Value) -> String {
    v.to_string()
}

/// Reads a JSON TEXT column, reporting malformed JSON as a conversion error
/// of that column.
pub(crate) fn json_col<T: serde::de::DeserializeOwned>(
    row: &rusqlite::Row<'_>,
    idx: usize,
) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// Like [`json_col`] for a nullable column.
pub(crate) fn json_col_opt<T: serde::de::DeserializeOwned>(
    row: &rusqlite::Row<'_>,
    idx: usize,
) -> rusqlite::Result<Option<T>> {
    let text: Option<String> = row.get(idx)?;
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
        })
    })
    .transpose()
}
