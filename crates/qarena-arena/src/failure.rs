//! How a game can end, and the engine faults that end it early.

use std::time::Duration;

use qarena_engine::EngineError;
use serde::{Deserialize, Serialize};

/// Why a game ended. Stored per game as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Termination {
    /// An engine resigned.
    Resign,
    /// Go: two consecutive passes; scored by area.
    TwoPasses,
    /// The move cap was reached; Go scores by area, chess adjudicates a draw.
    MoveCap,
    /// An engine played a move the rules forbid; it loses.
    IllegalMove,
    /// An engine missed a deadline; it loses.
    Timeout,
    /// An engine process exited; it loses.
    EngineCrash,
    /// An engine answered something unparseable; it loses.
    BadResponse,
    /// The run was interrupted; the game has no result and is replayed on resume.
    Aborted,
    Checkmate,
    Stalemate,
    Repetition,
    FiftyMoves,
    InsufficientMaterial,
    /// Chess resign adjudication (both engines agreed on a lost score).
    AdjudicatedResign,
    /// Chess draw adjudication (scores near zero for long enough).
    AdjudicatedDraw,
    /// A chess clock ran out.
    TimeForfeit,
}

impl Termination {
    pub const ALL: [Termination; 16] = [
        Termination::Resign,
        Termination::TwoPasses,
        Termination::MoveCap,
        Termination::IllegalMove,
        Termination::Timeout,
        Termination::EngineCrash,
        Termination::BadResponse,
        Termination::Aborted,
        Termination::Checkmate,
        Termination::Stalemate,
        Termination::Repetition,
        Termination::FiftyMoves,
        Termination::InsufficientMaterial,
        Termination::AdjudicatedResign,
        Termination::AdjudicatedDraw,
        Termination::TimeForfeit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Termination::Resign => "resign",
            Termination::TwoPasses => "two_passes",
            Termination::MoveCap => "move_cap",
            Termination::IllegalMove => "illegal_move",
            Termination::Timeout => "timeout",
            Termination::EngineCrash => "engine_crash",
            Termination::BadResponse => "bad_response",
            Termination::Aborted => "aborted",
            Termination::Checkmate => "checkmate",
            Termination::Stalemate => "stalemate",
            Termination::Repetition => "repetition",
            Termination::FiftyMoves => "fifty_moves",
            Termination::InsufficientMaterial => "insufficient_material",
            Termination::AdjudicatedResign => "adjudicated_resign",
            Termination::AdjudicatedDraw => "adjudicated_draw",
            Termination::TimeForfeit => "time_forfeit",
        }
    }

    pub fn parse(s: &str) -> Option<Termination> {
        Termination::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// True when the game ended because an engine misbehaved.
    pub fn is_fault(self) -> bool {
        matches!(
            self,
            Termination::IllegalMove
                | Termination::Timeout
                | Termination::EngineCrash
                | Termination::BadResponse
        )
    }
}

impl std::fmt::Display for Termination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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
