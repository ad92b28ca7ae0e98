//! The arena: plays matches between engine processes and records them.
//!
//! `runner` schedules games on workers and writes the store; `go` and
//! `chess` referee one game each over their protocol clients. Protocol grammar lives in `qarena-gtp` /
//! `qarena-uci`, process handling in `qarena-engine`, rules in `qarena-go`
//! and shakmaty.

pub mod chess;
pub mod failure;
pub mod game;
pub mod go;
mod referee;
pub mod runfolder;
pub mod runner;
pub mod settings;
pub mod shardfolder;
pub mod summary;

pub use failure::{Failure, Termination};
pub use game::{GameOutcome, Slot};
/// Command templates and program lookup live with the process handling.
pub use qarena_engine::command;
pub use runfolder::RunTag;
pub use runner::{run_match, MatchRequest, Observer, Quiet, RunError, RunNote, RunStart};
pub use settings::{ConfigError, EngineConfig, GoSettings, MatchConfig, Protocol, Timeouts};
pub use summary::MatchSummary;
