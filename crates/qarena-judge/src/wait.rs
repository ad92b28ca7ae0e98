//! Waiting for a judge engine's output: fixed deadlines and stop requests.
//!
//! Invariants:
//! - A deadline is fixed by the caller when the command or query is sent;
//!   reading lines never moves it. An engine that keeps printing (warnings,
//!   `info` lines, anything that is not the awaited answer) still fails at
//!   the deadline, because the deadline is checked before every read, not
//!   only when the engine is silent.
//! - Every wait is cut into slices of at most [`STOP_POLL`], and the stop
//!   flag is checked before each slice, so a stop request (SIGINT/SIGTERM)
//!   ends any wait within about that long.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use qarena_engine::{Engine, EngineError};

use crate::JudgeError;

/// Longest slice of any wait between two looks at the stop flag.
pub(crate) const STOP_POLL: Duration = Duration::from_millis(100);

/// True once a stop was requested.
pub(crate) fn stopped(stop: Option<&AtomicBool>) -> bool {
    stop.is_some_and(|s| s.load(Ordering::SeqCst))
}

/// The next stdout line of `engine`, if it comes before `deadline`.
///
/// `since` is when the awaited command was sent (for the message), `what`
/// names it (built only when the deadline has passed). Errors:
/// [`JudgeError::Interrupted`] on a stop request; an
/// [`EngineError::Timeout`] once `deadline` has passed, however many lines
/// arrived meanwhile; other engine errors as they come (`LineTooLong` is
/// not fatal, the caller may read on).
pub(crate) fn next_line(
    engine: &mut Engine,
    deadline: Instant,
    since: Instant,
    what: &dyn Fn() -> String,
    stop: Option<&AtomicBool>,
) -> Result<String, JudgeError> {
    loop {
        if stopped(stop) {
            return Err(JudgeError::Interrupted);
        }
        let now = Instant::now();
        if now >= deadline {
            let what = what();
            let waited = now.saturating_duration_since(since);
            engine.note(&format!(
                "timeout: no answer to {what} within {:.3} s",
                waited.as_secs_f64()
            ));
            return Err(JudgeError::Engine(EngineError::Timeout {
                label: engine.label().to_string(),
                program: engine.program().to_string(),
                waited,
                what,
            }));
        }
        let slice = deadline.min(now + STOP_POLL);
        match engine.read_line(slice, "") {
            Ok(line) => return Ok(line),
            // The end of a slice, not the deadline: look at the flag again.
            Err(EngineError::Timeout { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
