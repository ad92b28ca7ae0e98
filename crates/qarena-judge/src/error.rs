//! The one error type of the judge. Every variant names the run, game,
//! engine or file it is about, so a failed judge run says what to fix.

use qarena_engine::EngineError;
use qarena_store::{GameId, StoreError};

/// Why judging could not start or had to stop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JudgeError {
    /// The database failed (locked, unwritable, too new, ...).
    #[error(transparent)]
    Store(#[from] StoreError),

    /// No run with this tag in the database.
    #[error("database '{db}' has no run tagged '{tag}' — list runs with `qarena runs list`")]
    RunNotFound { db: String, tag: String },

    /// The run holds no game this judge can replay (e.g. a chess judge on a
    /// Go run).
    #[error("run '{tag}' has no {wanted} games to judge ({found}) — use the {hint} judge")]
    WrongGameKind {
        tag: String,
        wanted: &'static str,
        found: String,
        hint: &'static str,
    },

    /// The subset asked for (`--point`, `--games`) selects no game.
    #[error("run '{tag}' has no game in {subset}: {available}")]
    EmptySubset {
        tag: String,
        subset: String,
        available: String,
    },

    /// The run settings or a game lack something the judge needs.
    #[error("run '{tag}': {what}")]
    BadRun { tag: String, what: String },

    /// A judge setting is out of range.
    #[error("invalid judge setting: {0}")]
    Settings(String),

    /// The engine process failed (could not start, crashed, timed out).
    #[error(transparent)]
    Engine(#[from] EngineError),

    /// The engine answered something the judge cannot use.
    #[error("judge engine '{label}' (`{program}`): {detail}")]
    BadResponse {
        label: String,
        program: String,
        detail: String,
    },

    /// The engine refused the position of one game (illegal move, bad
    /// rules); the game stays unjudged.
    #[error("judge engine '{label}' refused game {game}: {detail}")]
    GameRefused {
        label: String,
        game: GameId,
        detail: String,
    },

    /// Writing or removing a scratch file (benchmark copies) failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),

    /// A stop was requested (SIGINT/SIGTERM) while waiting for the engine.
    /// [`crate::judge`] turns it into a report with `interrupted` set.
    #[error(
        "interrupted — games judged so far are stored; run the same judge command again to resume"
    )]
    Interrupted,
}

impl JudgeError {
    /// True for failures of the engine process itself (a restart may help),
    /// as opposed to problems with the input.
    pub fn is_engine_failure(&self) -> bool {
        matches!(self, JudgeError::Engine(_) | JudgeError::BadResponse { .. })
    }

    /// What to do about an engine failure, for the final message.
    pub fn hint(&self) -> &'static str {
        match self {
            JudgeError::Engine(EngineError::Timeout { .. }) => {
                "if the engine is only slow, allow it more time per query (`--timeout`) \
                 or give it less work (`--visits`, `--nodes`, `--window`); \
                 otherwise check the engine command and its stderr"
            }
            JudgeError::Engine(EngineError::Spawn { .. }) => "check the engine command",
            _ => "check the engine command and its stderr (in the run's events)",
        }
    }
}
