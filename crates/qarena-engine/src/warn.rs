//! Warnings the engine layer cannot return to a caller (a transcript that
//! cannot be written, a signal handler or watchdog that cannot start): they
//! go to the sink the program installs once ([`set_warning_sink`]); the
//! library itself never prints. Without a sink they are dropped.

use std::sync::OnceLock;

static SINK: OnceLock<fn(&str)> = OnceLock::new();

/// Where warnings go, e.g. `|w| eprintln!("warning: {w}")` in a command
/// line program. The first call wins.
pub fn set_warning_sink(sink: fn(&str)) {
    let _ = SINK.set(sink);
}

pub(crate) fn warn(message: &str) {
    if let Some(sink) = SINK.get() {
        sink(message);
    }
}
