//! The one error type of this crate.
//!
//! Invariant: every message names the engine's label and its program
//! (`argv[0]`), so a line in a log of a long match says which of many engine
//! processes misbehaved and which command to look at.

use std::io;
use std::time::Duration;

/// Why talking to an engine process failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The program could not be started at all (missing, not executable, bad cwd).
    #[error("engine '{label}': cannot start `{program}`: {source} — check the command")]
    Spawn {
        label: String,
        program: String,
        #[source]
        source: io::Error,
    },

    /// No (complete) reply arrived before the deadline.
    #[error("engine '{label}' (`{program}`): no reply to `{what}` within {:.3} s", waited.as_secs_f64())]
    Timeout {
        label: String,
        program: String,
        waited: Duration,
        what: String,
    },

    /// A stop was requested (Ctrl-C, SIGTERM) before a one-shot run
    /// finished; its process group was killed.
    #[error("engine '{label}' (`{program}`): stopped on request after {:.3} s", after.as_secs_f64())]
    Stopped {
        label: String,
        program: String,
        after: Duration,
    },

    /// The engine closed its stdout or its process is gone.
    #[error(
        "engine '{label}' (`{program}`) exited ({}); last stderr: {}",
        status.as_deref().unwrap_or("process still running but stdout closed"),
        if stderr_tail.is_empty() { "(empty)" } else { stderr_tail.as_str() }
    )]
    Exited {
        label: String,
        program: String,
        status: Option<String>,
        stderr_tail: String,
    },

    /// The engine printed a line longer than the spec's `max_line_bytes`;
    /// the line was discarded (later lines are still delivered).
    #[error(
        "engine '{label}' (`{program}`): output line exceeded the limit of {limit} bytes \
         ({bytes} bytes seen before it was discarded)"
    )]
    LineTooLong {
        label: String,
        program: String,
        bytes: usize,
        limit: usize,
    },

    /// Any other I/O failure on the engine's pipes.
    #[error("engine '{label}' (`{program}`): I/O error: {source}")]
    Io {
        label: String,
        program: String,
        #[source]
        source: io::Error,
    },
}

impl EngineError {
    /// The label of the engine this error is about.
    pub fn label(&self) -> &str {
        match self {
            EngineError::Spawn { label, .. }
            | EngineError::Timeout { label, .. }
            | EngineError::Stopped { label, .. }
            | EngineError::Exited { label, .. }
            | EngineError::LineTooLong { label, .. }
            | EngineError::Io { label, .. } => label,
        }
    }

    /// True for failures after which the process cannot be trusted to answer
    /// again (it is gone, or it stalled): the caller should kill and maybe restart it.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, EngineError::LineTooLong { .. })
    }
}
