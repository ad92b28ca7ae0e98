//! The arena: plays matches between engine processes and records them.
//!
//! `runner` schedules games on workers and writes the store; `go_game` and
//! `chess` referee one game each; `gtp_client` wraps an engine process in the
//! GTP request/response cycle. Protocol grammar lives in `qarena-gtp` /
//! `qarena-uci`, process handling in `qarena-engine`, rules in `qarena-go`
//! and shakmaty.

pub mod chess;
pub mod failure;
pub mod game;
pub mod go_game;
pub mod gtp_client;
pub mod runfolder;
pub mod runner;
pub mod settings;
pub mod summary;

pub use failure::{Failure, Termination};
pub use game::{GameOutcome, Slot};
/// Command templates and program lookup live with the process handling.
pub use qarena_engine::command;
pub use runfolder::RunTag;
pub use runner::{run_match, MatchRequest, MatchSummary, RunError};
pub use settings::{EngineConfig, GoSettings, MatchConfig, Protocol, Timeouts};
