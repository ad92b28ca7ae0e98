//! The Go Text Protocol as plain grammar: parsers for what Go engines print
//! and formatters for what we send them.
//!
//! Nothing here touches a process, a pipe or a clock. The engine layer feeds
//! stdout lines into a [`ResponseReader`] and hands the finished
//! [`Response::text`] to the typed parsers ([`parse_genmove`],
//! [`parse_genmove_analyze`], [`parse_final_score`], [`parse_vertex_list`], …), so every rule is
//! tested with strings.
//!
//! Invariants:
//! - No function panics, whatever the engine prints; malformed input becomes
//!   a [`ParseError`] that quotes (a bounded snippet of) the offending text.
//! - Formatters never emit a control character or newline, so one call
//!   produces exactly one command line and cannot smuggle in a second one.
//! - Moves leave this crate normalised: `pass` and `resign` lowercase,
//!   vertices uppercase (`D4`).

mod analyze;
mod error;
mod response;
mod results;

pub use analyze::{parse_genmove_analyze, Candidate, GenmoveAnalyze, RootInfo};
pub use error::ParseError;
pub use response::{
    check_command, format_command, Response, ResponseReader, DEFAULT_MAX_RESPONSE_BYTES,
};
pub use results::{
    is_vertex, normalize_move, parse_final_score, parse_genmove, parse_list_commands,
    parse_vertex_list, FinalScore,
};
