//! A GTP engine: an [`Engine`] process plus the GTP request/response cycle.
//!
//! Every command carries a numeric id and a deadline; a reply with another id
//! or a line that is not GTP is a protocol error, never silently skipped.
//! Waiting is sliced so a shutdown request interrupts a long `genmove`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use qarena_engine::{Engine, EngineError, EngineSpec};
use qarena_gtp::{Response, ResponseReader};

use crate::failure::Failure;
use crate::settings::Timeouts;

/// A running GTP engine with its discovered capabilities.
pub struct GtpEngine {
    engine: Engine,
    next_id: u32,
    commands: HashSet<String>,
    pub name: Option<String>,
    pub version: Option<String>,
    timeouts: Timeouts,
    stop: Arc<AtomicBool>,
    transcript: Option<PathBuf>,
    /// A referee engine started on this engine's behalf; it lives and dies
    /// with this handle, so it is started at most once per engine process.
    referee: Option<Box<GtpEngine>>,
}

impl GtpEngine {
    /// Starts the process and discovers its name, version and command list
    /// within the start-up deadline.
    pub fn start(
        spec: EngineSpec,
        timeouts: Timeouts,
        stop: Arc<AtomicBool>,
    ) -> Result<GtpEngine, Failure> {
        let transcript = spec.transcript.clone();
        let engine = Engine::spawn(spec).map_err(Failure::from_engine)?;
        let mut e = GtpEngine {
            engine,
            next_id: 1,
            commands: HashSet::new(),
            name: None,
            version: None,
            timeouts,
            stop,
            transcript,
            referee: None,
        };
        let startup = Instant::now() + timeouts.startup();
        let list = e.command_until("list_commands", startup)?;
        if !list.success {
            return Err(Failure::BadResponse {
                label: e.engine.label().to_string(),
                detail: format!("`list_commands` failed: {}", list.text),
            });
        }
        e.commands = qarena_gtp::parse_list_commands(&list.text)
            .into_iter()
            .collect();
        let deadline = Instant::now() + timeouts.command();
        if let Ok(r) = e.command_until("name", deadline) {
            if r.success {
                e.name = Some(r.text);
            }
        }
        let deadline = Instant::now() + timeouts.command();
        if let Ok(r) = e.command_until("version", deadline) {
            if r.success {
                e.version = Some(r.text);
            }
        }
        Ok(e)
    }

    pub fn label(&self) -> &str {
        self.engine.label()
    }

    pub fn supports(&self, command: &str) -> bool {
        self.commands.contains(command)
    }

    /// Whether the engine's transcript reached a limit and dropped lines.
    pub fn transcript_capped(&self) -> bool {
        self.engine.transcript_capped()
    }

    pub fn stderr_tail(&self) -> String {
        self.engine.stderr_tail()
    }

    /// The engine process itself (its pid, CPU time and peak memory).
    pub fn process(&self) -> &qarena_engine::Engine {
        &self.engine
    }

    pub fn note(&mut self, text: &str) {
        self.engine.note(text);
    }

    /// Sends a command with the default command deadline.
    pub fn command(&mut self, cmd: &str) -> Result<Response, Failure> {
        let deadline = Instant::now() + self.timeouts.command();
        self.command_until(cmd, deadline)
    }

    /// Sends a command that must succeed (`=`), with the default deadline.
    pub fn expect_ok(&mut self, cmd: &str) -> Result<String, Failure> {
        let r = self.command(cmd)?;
        if r.success {
            Ok(r.text)
        } else {
            Err(Failure::BadResponse {
                label: self.label().to_string(),
                detail: format!("`{cmd}` was refused: ? {}", r.text),
            })
        }
    }

    /// Starts another GTP engine (`argv`) with this engine's deadlines and
    /// stop flag; its transcript goes next to this engine's, named with
    /// `suffix` (`p0-w1-a.log` gives `p0-w1-referee.log` for `referee`).
    pub fn start_sibling(
        &self,
        label: &str,
        suffix: &str,
        argv: Vec<String>,
    ) -> Result<GtpEngine, Failure> {
        let mut spec = EngineSpec::new(label, argv);
        spec.transcript = self.transcript.as_ref().map(|t| {
            let stem = t
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            let base = stem.rsplit_once('-').map(|(b, _)| b).unwrap_or(&stem);
            t.with_file_name(format!("{base}-{suffix}.log"))
        });
        GtpEngine::start(spec, self.timeouts, self.stop.clone())
    }

    /// Takes the referee engine kept with this handle, if one was started.
    pub fn take_referee(&mut self) -> Option<GtpEngine> {
        self.referee.take().map(|b| *b)
    }

    /// Keeps a referee engine with this handle for the next game.
    pub fn keep_referee(&mut self, referee: GtpEngine) {
        self.referee = Some(Box::new(referee));
    }

    /// Sends a command that may think (`genmove`, `final_status_list`),
    /// with the move deadline.
    pub fn move_command(&mut self, cmd: &str) -> Result<Response, Failure> {
        let deadline = Instant::now() + self.timeouts.mv();
        self.command_until(cmd, deadline)
    }

    pub fn command_until(&mut self, cmd: &str, deadline: Instant) -> Result<Response, Failure> {
        let id = self.next_id;
        self.next_id += 1;
        let line = qarena_gtp::format_command(Some(id), cmd);
        self.engine
            .write_line(&line)
            .map_err(Failure::from_engine)?;
        let mut reader = ResponseReader::new();
        loop {
            let line = self.read_line(deadline, cmd)?;
            match reader.push(&line) {
                None => continue,
                Some(Ok(resp)) => {
                    if resp.id.is_some() && resp.id != Some(id) {
                        return Err(Failure::BadResponse {
                            label: self.label().to_string(),
                            detail: format!(
                                "reply to `{cmd}` carries id {:?}, expected {id}",
                                resp.id
                            ),
                        });
                    }
                    return Ok(resp);
                }
                Some(Err(e)) => {
                    return Err(Failure::BadResponse {
                        label: self.label().to_string(),
                        detail: format!("unparseable reply to `{cmd}`: {e}"),
                    })
                }
            }
        }
    }

    /// Reads one line, waking every 100 ms to honour a stop request.
    fn read_line(&mut self, deadline: Instant, what: &str) -> Result<String, Failure> {
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return Err(Failure::Interrupted);
            }
            let now = Instant::now();
            let slice = (now + Duration::from_millis(100)).min(deadline);
            match self.engine.read_line(slice, what) {
                Ok(l) => return Ok(l),
                Err(EngineError::Timeout { .. }) if slice < deadline => continue,
                Err(EngineError::Timeout { label, .. }) => {
                    let waited = self.timeout_for(what);
                    self.engine.note(&format!(
                        "timeout: no reply to `{what}` within {:.3} s",
                        waited.as_secs_f64()
                    ));
                    return Err(Failure::Timeout {
                        label,
                        what: what.to_string(),
                        waited: self.timeout_for(what),
                    });
                }
                Err(e) => return Err(Failure::from_engine(e)),
            }
        }
    }

    fn timeout_for(&self, what: &str) -> Duration {
        if what.contains("genmove") || what.starts_with("final_status_list") {
            self.timeouts.mv()
        } else {
            self.timeouts.command()
        }
    }

    /// Asks the engine to quit, then kills its process group.
    pub fn shutdown(mut self) {
        if let Some(r) = self.referee.take() {
            r.shutdown();
        }
        self.engine
            .shutdown(Some("quit"), Duration::from_millis(500));
    }

    /// Kills the process group at once (after a fault).
    pub fn kill(mut self) {
        if let Some(r) = self.referee.take() {
            r.kill();
        }
        self.engine.kill();
    }
}
