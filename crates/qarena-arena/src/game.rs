//! The outcome of one game, whatever the protocol: what the runner stores.

use serde::Serialize;

use crate::failure::{Failure, Termination};

pub use qarena_store::Slot;
use qarena_store::{EventKind, MoveColor, RecordFormat};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlayedMove {
    /// `B`/`W` for Go, `w`/`b` for chess.
    pub color: MoveColor,
    /// GTP vertex, `pass`, `resign`, or a UCI move.
    pub mv: String,
    pub time_ms: u64,
}

/// What the engine that moved believed at move time.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct SelfEval {
    pub ply: u32,
    pub slot: Option<Slot>,
    /// Win probability for the side to move, 0..1.
    pub winrate: Option<f64>,
    /// Go: points ahead for the side to move.
    pub score_lead: Option<f64>,
    pub score_cp: Option<i64>,
    pub mate: Option<i64>,
    pub depth: Option<i64>,
    pub nodes: Option<i64>,
    pub visits: Option<i64>,
    pub time_ms: Option<i64>,
    pub pv: Option<String>,
    pub top_k: Option<serde_json::Value>,
}

/// Something worth recording that happened during a game.
#[derive(Debug, Clone)]
pub struct GameEvent {
    pub kind: EventKind,
    pub slot: Option<Slot>,
    pub message: String,
    pub stderr_tail: Option<String>,
}

#[derive(Debug)]
pub struct GameOutcome {
    /// `B+3.5`, `W+R`, `B+F`, `1-0`, `1/2-1/2`; `None` when aborted.
    pub result: Option<String>,
    /// The winning slot; `None` for a draw or an aborted game.
    pub winner: Option<Slot>,
    /// Go: score from Black's point of view (komi included), after removing
    /// the dead stones when they were resolved.
    pub score: Option<f64>,
    pub termination: Termination,
    pub moves: Vec<PlayedMove>,
    pub self_evals: Vec<SelfEval>,
    pub events: Vec<GameEvent>,
    pub record: String,
    pub record_format: RecordFormat,
    /// Chess: the opening (FEN or name) this game started from.
    pub opening: Option<String>,
    /// The per-game seed (node jitter), when one was used.
    pub seed: Option<i64>,
    /// The engine whose fault ended the game, with the fault.
    pub fault: Option<(Slot, Failure)>,
    /// Go games ended by passes or the move cap: how they were counted.
    pub scoring: Option<qarena_store::GameScoring>,
}

impl GameOutcome {
    /// Score of slot A in this game: 1, ½ or 0; `None` when aborted.
    pub fn score_of_a(&self) -> Option<f64> {
        if self.termination == Termination::Aborted {
            return None;
        }
        Some(match self.winner {
            Some(Slot::A) => 1.0,
            Some(Slot::B) => 0.0,
            None => 0.5,
        })
    }
}
