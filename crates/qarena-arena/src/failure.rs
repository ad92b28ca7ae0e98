//! How a game can end, and the engine faults that end it early.

use std::time::Duration;

use qarena_engine::EngineError;

pub use qarena_store::Termination;

/// An engine fault or an interruption met while talking to an engine.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("engine '{label}' cannot be started: {detail}")]
    Spawn { label: String, detail: String },
    #[error("engine '{label}' did not answer `{what}` within {waited:.1?}")]
    Timeout {
        label: String,
        what: String,
        waited: Duration,
    },
    #[error("engine '{label}' exited ({status})")]
    Crash { label: String, status: String },
    #[error("engine '{label}' sent a bad response: {detail}")]
    BadResponse { label: String, detail: String },
    #[error("engine '{label}' failed: {detail}")]
    Io { label: String, detail: String },
    /// The engine runs but refused its configuration (e.g. Stockfish did not
    /// load the requested net). Restarting cannot help: the run stops.
    #[error("engine '{label}' rejected its configuration: {detail}")]
    Rejected { label: String, detail: String },
    #[error("interrupted")]
    Interrupted,
}

impl Failure {
    pub fn from_engine(e: EngineError) -> Failure {
        let label = e.label().to_string();
        match e {
            EngineError::Spawn { .. } => Failure::Spawn {
                label,
                detail: e.to_string(),
            },
            EngineError::Timeout { waited, what, .. } => Failure::Timeout {
                label,
                what,
                waited,
            },
            EngineError::Exited { status, .. } => Failure::Crash {
                label,
                status: status.unwrap_or_else(|| "stdout closed".to_string()),
            },
            EngineError::Stopped { .. } => Failure::Interrupted,
            EngineError::LineTooLong { bytes, limit, .. } => Failure::BadResponse {
                label,
                detail: format!("an output line of {bytes}+ bytes (limit {limit})"),
            },
            other => Failure::Io {
                label,
                detail: other.to_string(),
            },
        }
    }

    /// The termination reason this failure gives the game it ends.
    pub fn termination(&self) -> Termination {
        match self {
            Failure::Timeout { .. } => Termination::Timeout,
            Failure::Crash { .. }
            | Failure::Spawn { .. }
            | Failure::Io { .. }
            | Failure::Rejected { .. } => Termination::EngineCrash,
            Failure::BadResponse { .. } => Termination::BadResponse,
            Failure::Interrupted => Termination::Aborted,
        }
    }
}
