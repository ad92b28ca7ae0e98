//! The judge: replays the stored games of a run with the strongest engine
//! available and stores a verdict on every played move.
//!
//! Go games go to KataGo's analysis engine (`katago analysis`), one JSON
//! query per game with every turn, several games in flight, at fixed visits
//! ([`go`], `katago`). Chess games go to a UCI engine at fixed nodes or depth
//! with MultiPV ([`chess`]). [`judge`] ties both to the store; [`bench`]
//! measures the judge's throughput against the engine alone.
//!
//! Invariants:
//! - A move is judged at most once per judge run: a game's verdicts are
//!   written in one `insert_judge_moves` call, and games that already have
//!   verdicts in the matching judge run are skipped, so a second run with
//!   the same settings resumes instead of repeating work.
//! - A game is stored fully judged or not at all; engine failures leave the
//!   game without verdicts (and an event), never with some of them.
//! - Verdicts are from the mover's view: `before_winrate`/`after_winrate`
//!   (and scores) are the mover's before and after its move; losses are
//!   `before − after` clamped at 0 (the raw difference stays computable
//!   from the stored before and after values).
//! - The judge's engine process never outlives a call (it is an
//!   `qarena_engine::Engine`).
//! - Every wait for the engine has a deadline fixed when the query or
//!   command was sent; output that is not the awaited answer never extends
//!   it. Every wait also checks [`JudgeOptions::stop`] at least every
//!   100 ms: a stop ends the call with the verdicts stored so far and
//!   [`JudgeReport::interrupted`] set.

pub mod bench;
pub mod chess;
mod error;
pub mod go;
mod katago;
mod run;
mod subset;
mod wait;

pub use error::JudgeError;
pub use run::{
    judge, ChessJudgeSettings, GameFailure, GoJudgeSettings, JudgeKind, JudgeOptions, JudgeReport,
    Progress, SlotSummary, TranscriptTarget,
};
pub use subset::{GameRange, GameRangeError, GameSubset};
