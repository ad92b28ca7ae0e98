//! A UCI engine: an [`Engine`] process plus the UCI handshake, option
//! setting, the network-load probe, and `go` with a deadline.
//!
//! Invariants:
//! - No wait is unbounded: the handshake has the start-up deadline, every
//!   other exchange the command deadline, and every `go` the deadline the
//!   referee derived from the search limit, whatever the limit type.
//! - Waiting is sliced into 100 ms steps so the stop flag interrupts even
//!   a long search.
//! - An engine asked to load `EvalFile` is only returned after it has
//!   confirmed, in its own words, that it evaluates with exactly that file;
//!   anything else is [`Failure::Rejected`] carrying the engine's errors.
//! - Lines the grammar does not know are tolerated and counted, never fatal.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use qarena_engine::{Engine, EngineError, EngineSpec};
use qarena_uci::{classify_info_strings, parse_line, Info, Message, NetLoad, Score};

use crate::failure::Failure;
use crate::settings::Timeouts;

/// How many unknown lines per search are kept verbatim for a warning.
const KEEP_UNKNOWN: usize = 3;
/// Upper bound on the MultiPV lines kept per search, whatever was requested.
pub const MAX_MULTIPV_KEPT: u32 = 256;

/// A running UCI engine.
pub struct UciEngine {
    pub name: Option<String>,
    pub author: Option<String>,
    engine: Engine,
    timeouts: Timeouts,
    stop: Arc<AtomicBool>,
    /// The MultiPV value last sent (`None`: never set, engine default).
    multipv: Option<u32>,
}

/// When a search must end, counted from the moment `go` is sent.
#[derive(Debug, Clone, Copy)]
pub struct GoDeadline {
    /// No `bestmove` by then is a timeout.
    pub hard: Duration,
    /// Under a clock: when the mover's time (plus margin) has run out, send
    /// `stop` so an engine that ignores its clock still answers and stays
    /// in step; the move is lost on time either way.
    pub stop_after: Option<Duration>,
}

/// What a search produced.
#[derive(Debug, Clone)]
pub struct GoReply {
    /// The move token as printed (may be a null move or garbage).
    pub bestmove: String,
    pub ponder: Option<String>,
    /// The latest scored `info` line per MultiPV index (1 when absent).
    pub lines: BTreeMap<u32, Info>,
    /// From sending `go` to reading `bestmove`.
    pub elapsed: Duration,
    /// `stop` had to be sent (see [`GoDeadline::stop_after`]).
    pub stopped: bool,
    /// Lines the grammar did not recognise: count and the first few.
    pub unknown: (usize, Vec<String>),
}

impl GoReply {
    /// The principal line's info, if the engine printed a score.
    pub fn main_line(&self) -> Option<&Info> {
        self.lines.get(&1).or_else(|| self.lines.values().next())
    }
}

impl UciEngine {
    /// Starts the process: `uci` → `uciok` within the start-up deadline,
    /// `setoption` for each option (a relative `EvalFile` is made absolute
    /// against the harness's working directory), `isready` → `readyok`, and
    /// with `EvalFile`, the probe described in the module docs.
    pub fn start(
        spec: EngineSpec,
        timeouts: Timeouts,
        options: &BTreeMap<String, String>,
        stop: Arc<AtomicBool>,
    ) -> Result<UciEngine, Failure> {
        let engine = Engine::spawn(spec).map_err(Failure::from_engine)?;
        let mut e = UciEngine {
            name: None,
            author: None,
            engine,
            timeouts,
            stop,
            multipv: None,
        };
        let startup = Instant::now() + timeouts.startup();
        e.send("uci")?;
        loop {
            match parse_line(&e.read_line(startup, "uci")?) {
                Message::IdName(n) => e.name = Some(n),
                Message::IdAuthor(a) => e.author = Some(a),
                Message::UciOk => break,
                _ => {}
            }
        }
        let mut eval_file = None;
        for (name, value) in options {
            let value = if name.eq_ignore_ascii_case("EvalFile") {
                // Stockfish loads its embedded net for a bare default name,
                // and its cwd may differ from ours: always an absolute path.
                let abs = crate::command::absolute(Path::new(value))
                    .display()
                    .to_string();
                eval_file = Some(abs.clone());
                abs
            } else {
                value.clone()
            };
            let v = (!value.is_empty()).then_some(value.as_str());
            e.send(&qarena_uci::format_setoption(name, v))?;
            if name.eq_ignore_ascii_case("MultiPV") {
                e.multipv = value.parse().ok();
            }
        }
        // Loading a network happens during setoption; give it the start-up
        // deadline rather than the shorter command one.
        let ready = Instant::now() + timeouts.startup();
        e.sync(ready)?;
        if let Some(path) = eval_file {
            e.probe_net(&path)?;
        }
        Ok(e)
    }

    /// `position startpos` + `go nodes 1`, then judge the `info string`
    /// lines (Stockfish reports the network only when it searches).
    fn probe_net(&mut self, requested: &str) -> Result<(), Failure> {
        let label = self.label().to_string();
        self.send(&qarena_uci::format_position(None, &[]))?;
        self.send("go nodes 1")?;
        let deadline = Instant::now() + self.timeouts.startup();
        let mut strings = Vec::new();
        let mut ended: Option<Failure> = None;
        loop {
            match self.read_line(deadline, "go nodes 1 (network probe)") {
                Ok(line) => match parse_line(&line) {
                    Message::Info(Info {
                        string: Some(s), ..
                    }) => strings.push(s),
                    Message::BestMove { .. } => break,
                    _ => {}
                },
                Err(Failure::Interrupted) => return Err(Failure::Interrupted),
                Err(f @ Failure::Timeout { .. }) => return Err(f),
                Err(f) => {
                    // Stockfish exits after printing its errors: judge them.
                    ended = Some(f);
                    break;
                }
            }
        }
        let verdict = classify_info_strings(&strings);
        let detail = match verdict {
            NetLoad::Enabled { path } if path == requested => return Ok(()),
            NetLoad::Enabled { path } => {
                format!("EvalFile {requested} was requested but the engine evaluates with `{path}`")
            }
            NetLoad::Error { lines } => format!(
                "EvalFile {requested} was not loaded; the engine said:\n  {}",
                lines.join("\n  ")
            ),
            NetLoad::Unknown => format!(
                "EvalFile {requested}: the engine never confirmed loading it \
                 (no `NNUE evaluation using … enabled` line after `go nodes 1`){}",
                if strings.is_empty() {
                    String::new()
                } else {
                    format!("; its info strings: {}", strings.join(" | "))
                }
            ),
        };
        let mut detail = detail;
        if let Some(f) = ended {
            detail.push_str(&format!("\n({f})"));
        }
        let tail = self.stderr_tail();
        if !tail.trim().is_empty() {
            detail.push_str(&format!("\nstderr:\n{tail}"));
        }
        Err(Failure::Rejected { label, detail })
    }

    /// The match's move timeout: the deadline of a nodes or depth search.
    pub fn move_timeout(&self) -> Duration {
        self.timeouts.mv()
    }

    pub fn label(&self) -> &str {
        self.engine.label()
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

    /// Writes a `#` note into the engine's transcript.
    pub fn note(&mut self, text: &str) {
        self.engine.note(text);
    }

    /// The highest MultiPV index whose lines are kept: the value sent (1 if
    /// none), never more than [`MAX_MULTIPV_KEPT`].
    fn multipv_cap(&self) -> u32 {
        self.multipv.unwrap_or(1).clamp(1, MAX_MULTIPV_KEPT)
    }

    /// Prepares a new game: MultiPV if it changed, `ucinewgame`, and an
    /// `isready` round trip so the engine has finished clearing its hash
    /// before the first search is timed.
    pub fn new_game(&mut self, multipv: Option<u32>) -> Result<(), Failure> {
        // Only touch MultiPV when asked for, or to undo an earlier request,
        // so engines without the option never see it.
        let want = multipv.unwrap_or(1);
        if self.multipv.unwrap_or(1) != want {
            let value = want.to_string();
            self.send(&qarena_uci::format_setoption("MultiPV", Some(&value)))?;
            self.multipv = Some(want);
        }
        self.send("ucinewgame")?;
        let deadline = Instant::now() + self.timeouts.command();
        self.sync(deadline)
    }

    /// Sends `position` and `go`, and reads until `bestmove` or the deadline.
    pub fn go(
        &mut self,
        position: &str,
        go: &str,
        deadline: GoDeadline,
    ) -> Result<GoReply, Failure> {
        self.send(position)?;
        self.send(go)?;
        let started = Instant::now();
        let hard = started + deadline.hard;
        let stop_at = deadline.stop_after.map(|d| started + d);
        let mut lines: BTreeMap<u32, Info> = BTreeMap::new();
        let mut unknown: (usize, VecDeque<String>) = (0, VecDeque::new());
        let mut stopped = false;
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return Err(Failure::Interrupted);
            }
            let target = match stop_at {
                Some(at) if !stopped => at.min(hard),
                _ => hard,
            };
            let slice = (Instant::now() + Duration::from_millis(100)).min(target);
            match self.engine.read_line(slice, go) {
                Ok(line) => match parse_line(&line) {
                    Message::BestMove { mv, ponder } => {
                        return Ok(GoReply {
                            bestmove: mv,
                            ponder,
                            lines,
                            elapsed: started.elapsed(),
                            stopped,
                            unknown: (unknown.0, unknown.1.into()),
                        })
                    }
                    // Only the lines asked for are kept: an engine inventing
                    // a new MultiPV index on every line must not grow the table.
                    Message::Info(info)
                        if info.string.is_none()
                            && info.score.is_some()
                            && info.multipv.unwrap_or(1) <= self.multipv_cap() =>
                    {
                        lines.insert(info.multipv.unwrap_or(1), info);
                    }
                    Message::Unknown(text) if !text.trim().is_empty() => {
                        unknown.0 += 1;
                        if unknown.1.len() < KEEP_UNKNOWN {
                            unknown.1.push_back(text.chars().take(200).collect());
                        }
                    }
                    _ => {}
                },
                Err(EngineError::Timeout { .. }) if Instant::now() < target => continue,
                Err(EngineError::Timeout { .. }) if target < hard => {
                    self.send("stop")?;
                    stopped = true;
                }
                Err(EngineError::Timeout { label, .. }) => {
                    let waited = started.elapsed();
                    self.engine.note(&format!(
                        "timeout: no bestmove for `{go}` after {:.3} s",
                        waited.as_secs_f64()
                    ));
                    return Err(Failure::Timeout {
                        label,
                        what: go.to_string(),
                        waited,
                    });
                }
                Err(e) => return Err(Failure::from_engine(e)),
            }
        }
    }

    /// Searches `fen` for `nodes` nodes and returns the principal score
    /// (side to move's view). Used to filter generated openings.
    pub fn evaluate(
        &mut self,
        fen: &str,
        nodes: u64,
        deadline: Duration,
    ) -> Result<Option<Score>, Failure> {
        let position = qarena_uci::format_position(Some(fen), &[]);
        let go = qarena_uci::format_go(&qarena_uci::GoLimit::Nodes(nodes));
        let reply = self.go(
            &position,
            &go,
            GoDeadline {
                hard: deadline,
                stop_after: None,
            },
        )?;
        Ok(reply.main_line().and_then(|i| i.score))
    }

    /// Asks the engine to quit, then kills its process group after 500 ms.
    pub fn shutdown(mut self) {
        self.engine
            .shutdown(Some("quit"), Duration::from_millis(500));
    }

    /// Kills the process group at once (after a fault).
    pub fn kill(mut self) {
        self.engine.kill();
    }

    fn send(&mut self, line: &str) -> Result<(), Failure> {
        self.engine.write_line(line).map_err(Failure::from_engine)
    }

    /// `isready` → `readyok`, skipping whatever comes before it.
    fn sync(&mut self, deadline: Instant) -> Result<(), Failure> {
        self.send("isready")?;
        loop {
            if let Message::ReadyOk = parse_line(&self.read_line(deadline, "isready")?) {
                return Ok(());
            }
        }
    }

    /// Reads one line, waking every 100 ms to honour a stop request.
    fn read_line(&mut self, deadline: Instant, what: &str) -> Result<String, Failure> {
        let called = Instant::now();
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return Err(Failure::Interrupted);
            }
            let slice = (Instant::now() + Duration::from_millis(100)).min(deadline);
            match self.engine.read_line(slice, what) {
                Ok(l) => return Ok(l),
                Err(EngineError::Timeout { .. }) if Instant::now() < deadline => continue,
                Err(EngineError::Timeout { label, .. }) => {
                    let waited = called.elapsed();
                    self.engine.note(&format!(
                        "timeout: no reply to `{what}` after {:.3} s",
                        waited.as_secs_f64()
                    ));
                    return Err(Failure::Timeout {
                        label,
                        what: what.to_string(),
                        waited,
                    });
                }
                Err(e) => return Err(Failure::from_engine(e)),
            }
        }
    }
}
