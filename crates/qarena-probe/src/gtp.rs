//! A pipelined GTP conversation with one engine process.
//!
//! Commands carry numeric ids and are written ahead of their answers; the
//! answers are read back in order and matched by id. The caller bounds the
//! answers in flight ([`Conversation::pending_lines`]) so that neither side
//! blocks: the engine's unread answers stay within the engine handle's
//! stdout queue, and the commands it has not read yet stay far below a pipe
//! buffer. Every wait has a deadline and is cut into 100 ms slices that
//! check the stop flag.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use qarena_engine::{Engine, EngineError, EngineSpec};
use qarena_gtp::{Response, ResponseReader};

use crate::error::ProbeError;

/// How often a wait checks the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// How long a polite `quit` may take before the process group is killed.
const QUIT_GRACE: Duration = Duration::from_millis(500);

/// A command written and not yet answered.
#[derive(Debug, Clone)]
pub(crate) struct Sent<T> {
    pub id: u32,
    pub command: String,
    /// The position the command is about (0-based), for error messages.
    pub position: Option<usize>,
    /// What the caller wants to do with the answer.
    pub tag: T,
    /// Lines the answer is expected to take (its blank line included).
    lines: usize,
}

/// One engine process and the commands in flight to it.
pub(crate) struct Conversation<'s, T> {
    engine: Engine,
    label: String,
    next_id: u32,
    inflight: VecDeque<Sent<T>>,
    inflight_lines: usize,
    reader: ResponseReader,
    stop: &'s AtomicBool,
}

impl<'s, T> Conversation<'s, T> {
    pub fn start(
        spec: EngineSpec,
        stop: &'s AtomicBool,
    ) -> Result<Conversation<'s, T>, ProbeError> {
        let label = spec.label.clone();
        let engine = Engine::spawn(spec).map_err(|source| ProbeError::Engine {
            label: label.clone(),
            source,
        })?;
        Ok(Conversation {
            engine,
            label,
            next_id: 1,
            inflight: VecDeque::new(),
            inflight_lines: 0,
            reader: ResponseReader::new(),
            stop,
        })
    }

    /// Lines of the answers still expected.
    pub fn pending_lines(&self) -> usize {
        self.inflight_lines
    }

    pub fn has_pending(&self) -> bool {
        !self.inflight.is_empty()
    }

    /// Writes one command without waiting for its answer.
    pub fn send(
        &mut self,
        command: &str,
        position: Option<usize>,
        tag: T,
        lines: usize,
    ) -> Result<(), ProbeError> {
        if self.stop.load(Ordering::SeqCst) {
            return Err(ProbeError::Interrupted);
        }
        let id = self.next_id;
        self.next_id += 1;
        let line = qarena_gtp::format_command(Some(id), command);
        if let Err(source) = self.engine.write_line(&line) {
            return Err(self.engine_error(position, source));
        }
        self.inflight_lines += lines;
        self.inflight.push_back(Sent {
            id,
            command: command.to_string(),
            position,
            tag,
            lines,
        });
        Ok(())
    }

    /// The answer to the oldest command in flight, waiting at most `wait`.
    pub fn recv(&mut self, wait: Duration) -> Result<(Sent<T>, Response), ProbeError> {
        let Some(sent) = self.inflight.pop_front() else {
            return Err(ProbeError::Protocol {
                label: self.label.clone(),
                why: "an answer was awaited with no command in flight".to_string(),
            });
        };
        self.inflight_lines = self.inflight_lines.saturating_sub(sent.lines);
        let deadline = Instant::now() + wait;
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return Err(ProbeError::Interrupted);
            }
            let slice = (Instant::now() + STOP_CHECK).min(deadline);
            let line = match self.engine.read_line(slice, &sent.command) {
                Ok(line) => line,
                Err(EngineError::Timeout { .. }) if slice < deadline => continue,
                Err(e) => return Err(self.engine_error(sent.position, e)),
            };
            match self.reader.push(&line) {
                None => {}
                Some(Ok(resp)) => {
                    if resp.id.is_some() && resp.id != Some(sent.id) {
                        return Err(self.bad(
                            &sent,
                            format!(
                                "the answer to `{}` carries id {:?}, expected {}",
                                sent.command, resp.id, sent.id
                            ),
                        ));
                    }
                    return Ok((sent, resp));
                }
                Some(Err(e)) => {
                    return Err(self.bad(
                        &sent,
                        format!("unreadable answer to `{}`: {e}", sent.command),
                    ))
                }
            }
        }
    }

    /// Sends `command` and waits for a successful answer.
    pub fn call(&mut self, command: &str, tag: T, wait: Duration) -> Result<String, ProbeError> {
        self.send(command, None, tag, 2)?;
        let (sent, resp) = self.recv(wait)?;
        if !resp.success {
            return Err(self.bad(&sent, format!("`{command}` was refused: ? {}", resp.text)));
        }
        Ok(resp.text)
    }

    /// The error for an answer that cannot be used.
    pub fn bad(&self, sent: &Sent<T>, why: String) -> ProbeError {
        match sent.position {
            Some(position) => ProbeError::BadAnswer {
                label: self.label.clone(),
                position,
                why,
            },
            None => ProbeError::Protocol {
                label: self.label.clone(),
                why,
            },
        }
    }

    fn engine_error(&self, position: Option<usize>, source: EngineError) -> ProbeError {
        match position {
            Some(position) => ProbeError::EngineAt {
                label: self.label.clone(),
                position,
                source: Box::new(source),
            },
            None => ProbeError::Engine {
                label: self.label.clone(),
                source,
            },
        }
    }

    /// Asks the engine to quit and kills its process group; returns the
    /// engine's peak resident memory and CPU seconds, read just before.
    pub fn finish(mut self) -> (Option<u64>, Option<f64>) {
        let peak = self.engine.peak_rss_bytes();
        let cpu = self.engine.cpu_seconds();
        self.engine.shutdown(Some("quit"), QUIT_GRACE);
        (peak, cpu)
    }
}
