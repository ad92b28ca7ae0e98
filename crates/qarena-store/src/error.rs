//! The one error type of the store. Every variant that can come from the
//! database names the database file, because a user with several workspaces
//! needs to know which file is unwritable, locked or too new.

use std::path::PathBuf;
use std::time::Duration;

use crate::types::{EngineId, RunId};

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The file could not be opened or prepared (missing directory, no write
    /// permission, not a SQLite database, ...). `reason` is SQLite's message
    /// without the path it sometimes appends; `hint` says what to do.
    #[error("cannot open database '{}': {reason} — {hint}", path.display())]
    Open {
        path: PathBuf,
        reason: String,
        hint: &'static str,
        #[source]
        source: Box<rusqlite::Error>,
    },

    /// The database was written by a newer qarena; reading or migrating it
    /// could lose data, so it is refused.
    #[error(
        "database '{}' has schema version {found}, but this build of qarena knows only up to version {known} — upgrade qarena or use another database",
        path.display()
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },

    /// Applying a schema migration failed; the migration was rolled back.
    #[error(
        "cannot migrate database '{}' to schema version {version}: {source}{}",
        path.display(),
        storage_problem(source).map(|(_, hint)| format!(" — {hint}")).unwrap_or_default()
    )]
    Migration {
        path: PathBuf,
        version: i64,
        #[source]
        source: Box<rusqlite::Error>,
    },

    /// Another connection held the write lock for longer than the busy timeout.
    #[error(
        "database '{}' is locked: another connection held it for more than {} s while {op} — stop the other qarena process or retry later",
        path.display(),
        waited.as_secs_f64()
    )]
    Locked {
        path: PathBuf,
        op: &'static str,
        waited: Duration,
        #[source]
        source: Box<rusqlite::Error>,
    },

    /// The disk or file under the database failed us (full, size limit,
    /// read-only, I/O error): not the user's input, and nothing committed
    /// before is lost.
    #[error("database '{}': {op} failed: {problem} — {hint}", path.display())]
    Storage {
        path: PathBuf,
        op: &'static str,
        problem: &'static str,
        hint: &'static str,
        #[source]
        source: Box<rusqlite::Error>,
    },

    /// Any other SQLite failure, with what the store was doing.
    #[error("database '{}': {op} failed: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: Box<rusqlite::Error>,
    },

    /// `create_run` with a tag that is already taken.
    #[error("database '{}' already has a run tagged '{tag}' — choose another tag or resume that run", path.display())]
    RunExists { path: PathBuf, tag: String },

    /// The run id does not exist (any more).
    #[error("database '{}' has no run with id {run}", path.display())]
    RunNotFound { path: PathBuf, run: RunId },

    /// The engine id does not exist (any more).
    #[error("database '{}' has no engine with id {engine}", path.display())]
    EngineNotFound { path: PathBuf, engine: EngineId },

    /// A game with the same (run, point, index) is already stored. Resuming
    /// must skip finished games; writing one twice would bias statistics.
    #[error(
        "database '{}' already has game {game_index} of sweep point {point_index} in run {run} — a finished game is never written twice",
        path.display()
    )]
    DuplicateGame {
        path: PathBuf,
        run: RunId,
        point_index: i64,
        game_index: i64,
    },

    /// `add_engine` for a slot that already holds a different engine: mixing
    /// two engines under one id would corrupt every statistic of the run.
    #[error(
        "database '{}': run {run} already has a different engine in slot '{slot}' ({field} differs: stored '{stored}', new '{new}') — start a new run instead of resuming",
        path.display()
    )]
    EngineMismatch {
        path: PathBuf,
        run: RunId,
        slot: crate::EngineSlot,
        field: &'static str,
        stored: String,
        new: String,
    },

    /// `merge`: the shard cannot be merged at all (missing, not a qarena
    /// database, another schema version, the output itself, or it holds
    /// evolutions). Nothing of it was written.
    #[error("cannot merge '{}' into '{}': {reason}", shard.display(), path.display())]
    MergeRefused {
        path: PathBuf,
        shard: PathBuf,
        reason: String,
    },

    /// `merge`: a run of the shard has another definition than the run of
    /// the same tag already merged (settings, kind, or shard count).
    #[error(
        "cannot merge '{}' into '{}': run '{tag}' {detail} — the shards of one run share its definition; nothing of this shard was written",
        shard.display(),
        path.display()
    )]
    MergeDefinition {
        path: PathBuf,
        shard: PathBuf,
        tag: String,
        detail: String,
    },

    /// `merge`: the same global game (run tag, point, index) has different
    /// content in the shard and in the merged database.
    #[error("{0}")]
    MergeGameConflict(Box<GameConflict>),

    /// `merge`: the same engine slot of a run holds a different engine in
    /// the shard and in the merged database.
    #[error("{0}")]
    MergeEngineConflict(Box<EngineConflict>),
}

/// A game a merge refuses: its key is in both databases with other content.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot merge '{}' into '{}': run '{tag}' game {game_index} of point {point_index} differs ({field}: merged '{merged}', shard '{shard_value}') — nothing of this shard was written",
    shard.display(),
    path.display()
)]
pub struct GameConflict {
    /// The merged database.
    pub path: PathBuf,
    pub shard: PathBuf,
    pub tag: String,
    pub point_index: i64,
    pub game_index: i64,
    /// What differs: `result`, `winner`, `termination`, `move count`,
    /// `black engine`, `white engine` or `moves`.
    pub field: &'static str,
    pub merged: String,
    pub shard_value: String,
}

/// An engine slot a merge refuses: the same run and slot with another engine.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot merge '{}' into '{}': run '{tag}' engine slot '{slot}' differs ({field}: merged '{merged}', shard '{shard_value}') — nothing of this shard was written",
    shard.display(),
    path.display()
)]
pub struct EngineConflict {
    /// The merged database.
    pub path: PathBuf,
    pub shard: PathBuf,
    pub tag: String,
    pub slot: String,
    /// What differs: `protocol`, `command` or `model sha256`.
    pub field: &'static str,
    pub merged: String,
    pub shard_value: String,
}

impl StoreError {
    /// True when the disk under the database failed (full, size limit,
    /// read-only, I/O error), not the request: the CLI's exit code 4.
    pub fn is_storage(&self) -> bool {
        match self {
            StoreError::Storage { .. } => true,
            StoreError::Open { source, .. } | StoreError::Migration { source, .. } => {
                storage_problem(source).is_some()
                    && source.sqlite_error_code() != Some(rusqlite::ErrorCode::CannotOpen)
            }
            _ => false,
        }
    }

    /// True when the error is a lock held by someone else, so callers can
    /// choose to retry.
    pub fn is_locked(&self) -> bool {
        matches!(self, StoreError::Locked { .. })
    }
}

/// True for SQLite's "busy" and "locked" results, the only ones that mean
/// "someone else holds the lock" rather than "this request is wrong".
pub(crate) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// What went wrong with the storage and what to do, for SQLite's results
/// that are about the disk rather than the request.
pub(crate) fn storage_problem(e: &rusqlite::Error) -> Option<(&'static str, &'static str)> {
    use rusqlite::ErrorCode;
    Some(match e.sqlite_error_code()? {
        ErrorCode::DiskFull => (
            "the disk is full (or a file size limit was reached)",
            "free space, then resume the run; everything committed before is kept",
        ),
        ErrorCode::ReadOnly => (
            "the database is read-only",
            "make the file, its -wal/-shm files and its folder writable, then resume the run",
        ),
        ErrorCode::SystemIoFailure => (
            "the disk reported an I/O error (often a full disk or a file size limit)",
            "check the disk and free space, then resume the run; everything committed before is kept",
        ),
        ErrorCode::CannotOpen => (
            "a file of the database cannot be opened",
            "check that the folder exists and is writable",
        ),
        _ => return None,
    })
}

/// True for a UNIQUE or PRIMARY KEY violation.
pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => {
            f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        }
        _ => false,
    }
}
