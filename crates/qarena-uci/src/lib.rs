//! The Universal Chess Interface as plain grammar: [`parse_line`] for what
//! chess engines print, `format_*` for what we send, and Stockfish-specific
//! checks that a network file really loaded ([`classify_info_strings`]).
//!
//! Nothing here touches a process, a pipe or a clock; the engine layer reads
//! lines and asks this crate what they mean, so every rule is tested with
//! strings (including lines captured from Stockfish 15.1).
//!
//! Invariants:
//! - [`parse_line`] is total: it never panics and never fails. Lines it cannot
//!   read become [`Message::Unknown`]; inside `info`, unknown or malformed
//!   fields are skipped and the rest of the line is still read.
//! - Formatters never emit a control character or newline, so one call
//!   produces exactly one command line and cannot smuggle in a second one.

mod format;
mod nnue;
mod parse;

pub use format::{format_go, format_position, format_setoption, GoLimit};
pub use nnue::{classify_info_strings, NetLoad};
pub use parse::{is_null_move, parse_line, Bound, Info, Message, Score, UciOption};
