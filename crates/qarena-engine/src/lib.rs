//! A hardened handle around one engine process (a GTP or UCI program).
//!
//! Each [`Engine`] owns one child process started in its own process group,
//! with stdin, stdout and stderr piped. Two reader threads turn stdout and
//! stderr into bounded lines; stdout lines reach the handle through a
//! channel so every read has a deadline ([`Engine::read_line`]), and stderr
//! is kept as a short tail for error messages. Everything exchanged is
//! appended to an optional per-engine transcript.
//!
//! [`run_to_completion`] runs a program once (a net export, a reference
//! run) under the same rules: own process group, watchdog, deadline, stop
//! flag, bounded output. [`command`] turns command templates into argv and
//! finds the program they name.
//!
//! Invariants:
//! - An engine process never outlives its `Engine` handle: dropping the
//!   handle kills the whole process group (helpers the engine forked
//!   included) and reaps the leader.
//! - When the leader is found to have exited, the rest of its group is
//!   killed at once, before the leader is reaped, so a group id is never
//!   signalled after the kernel could reuse it.
//! - No read blocks past its deadline, and no engine output, however long
//!   or malformed, makes the harness panic or hold more than
//!   [`STDOUT_QUEUE_BYTES`] (or one line, if `max_line_bytes` is larger)
//!   of queued stdout plus `max_line_bytes` and one read chunk per stream.
//! - Errors name the engine's label and program.
//!
//! Protocol grammar (GTP, UCI) lives elsewhere; this crate only moves lines.

mod budget;
pub mod command;
mod error;
mod groups;
mod lines;
mod oneshot;
mod transcript;
mod warn;
mod watchdog;

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

pub use error::EngineError;
pub use groups::{install_shutdown_flag, kill_all, live_process_groups};
pub use oneshot::{run_to_completion, Input, OutputTo, RunOutput, RunSpec};
pub use transcript::{TranscriptBudget, DEFAULT_TRANSCRIPT_CAP};
pub use warn::set_warning_sink;

use budget::ByteBudget;
use lines::{split_lines, LineEvent};
use transcript::{Dir, Limits, Transcript};

/// Default cap on one stdout line: far above any real GTP/UCI reply
/// (a KataGo analysis line is a few KiB), far below trouble.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1024 * 1024;

/// How much stderr is kept for error messages.
const STDERR_TAIL_LINES: usize = 40;
const STDERR_TAIL_BYTES: usize = 8 * 1024;
/// Stderr lines are only kept for diagnosis, so a smaller cap suffices.
const STDERR_MAX_LINE_BYTES: usize = 64 * 1024;

/// Stdout lines buffered between the reader thread and the handle. When it
/// is full the reader stops reading, so a chattering engine blocks on its
/// own stdout instead of growing our memory.
const STDOUT_QUEUE: usize = 1024;

/// Bytes of stdout lines buffered between the reader thread and the handle
/// (one line longer than this still passes an empty queue).
pub const STDOUT_QUEUE_BYTES: usize = 4 * 1024 * 1024;

/// After stdout closes, how long to wait for the process to finish exiting
/// and for its last stderr lines, so the error can tell why it died.
const EXIT_SETTLE: Duration = Duration::from_millis(250);

/// Default for [`EngineSpec::write_timeout`].
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one wait for a full stdin pipe lasts before the deadline and a
/// stop request are checked again.
const WRITE_SLICE: Duration = Duration::from_millis(100);

/// How often a long read checks whether the engine's leader is still there.
const EXIT_CHECK_EVERY: Duration = Duration::from_millis(200);

/// How to start an engine and what to record about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineSpec {
    /// Short name used in messages and transcripts, e.g. "game3-black".
    pub label: String,
    /// Program and arguments; `argv[0]` is looked up in `PATH` as usual.
    pub argv: Vec<String>,
    /// Working directory for the process; the harness's own if None.
    pub cwd: Option<PathBuf>,
    /// Extra environment variables, added to the inherited environment.
    pub env: Vec<(String, String)>,
    /// Append-only transcript file; created with its parent folders.
    pub transcript: Option<PathBuf>,
    /// Longest stdout line accepted; longer lines yield `LineTooLong`.
    pub max_line_bytes: usize,
    /// Most bytes this engine's transcript may hold.
    pub transcript_cap: u64,
    /// A budget shared with other engines (e.g. all of one run's).
    pub transcript_budget: Option<TranscriptBudget>,
    /// Longest wait for the engine to take a line we write (its stdin pipe
    /// is full when it stops reading).
    pub write_timeout: Duration,
}

impl EngineSpec {
    /// A spec with no cwd, no extra environment, no transcript and the
    /// default line limit.
    pub fn new(label: impl Into<String>, argv: Vec<String>) -> Self {
        EngineSpec {
            label: label.into(),
            argv,
            cwd: None,
            env: Vec::new(),
            transcript: None,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            transcript_cap: DEFAULT_TRANSCRIPT_CAP,
            transcript_budget: None,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
        }
    }

    /// The program name (`argv[0]`), or "" for an empty command.
    pub fn program(&self) -> &str {
        self.argv.first().map(String::as_str).unwrap_or("")
    }
}

/// The last lines of an engine's stderr, bounded in lines and bytes.
#[derive(Default)]
struct StderrTail {
    lines: VecDeque<String>,
    bytes: usize,
}

impl StderrTail {
    fn push(&mut self, line: String) {
        self.bytes += line.len();
        self.lines.push_back(line);
        while self.lines.len() > STDERR_TAIL_LINES
            || (self.bytes > STDERR_TAIL_BYTES && self.lines.len() > 1)
        {
            if let Some(old) = self.lines.pop_front() {
                self.bytes -= old.len();
            }
        }
    }

    fn text(&self) -> String {
        let joined = self
            .lines
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n");
        if joined.len() <= STDERR_TAIL_BYTES {
            return joined;
        }
        // A single huge line: keep its end, cut on a char boundary.
        let mut cut = joined.len() - STDERR_TAIL_BYTES;
        while !joined.is_char_boundary(cut) {
            cut += 1;
        }
        joined[cut..].to_string()
    }
}

/// One running engine process. See the crate docs for the invariants.
pub struct Engine {
    label: String,
    program: String,
    child: Child,
    /// Equal to the leader's pid (the child was made a group leader).
    pgid: i32,
    stdin: Option<ChildStdin>,
    stdout: Receiver<LineEvent>,
    /// Bytes of the lines waiting in `stdout`.
    queued: Arc<ByteBudget>,
    /// An event taken by `try_read_line` that is not a line; kept for the
    /// next `read_line` so errors are never swallowed.
    pending: Option<LineEvent>,
    /// Stdout has ended (or failed); nothing more will arrive.
    stdout_closed: bool,
    stderr: Arc<Mutex<StderrTail>>,
    /// Disconnects when the stderr reader thread ends.
    stderr_done: Receiver<()>,
    transcript: Arc<Transcript>,
    max_line_bytes: usize,
    write_timeout: Duration,
    /// Set once the leader has been reaped; the group is dead by then.
    status: Option<ExitStatus>,
    reaped: bool,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("label", &self.label)
            .field("program", &self.program)
            .field("pid", &self.pgid)
            .field("reaped", &self.reaped)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Starts the engine in its own process group and its reader threads.
    pub fn spawn(spec: EngineSpec) -> Result<Engine, EngineError> {
        let label = spec.label.clone();
        let program = spec.program().to_string();
        let start = Instant::now();
        let limits = Limits {
            cap: spec.transcript_cap,
            budget: spec.transcript_budget.clone(),
        };
        let transcript = Arc::new(Transcript::open(
            &label,
            spec.transcript.as_deref(),
            limits,
            start,
        ));
        let spawn_err = |source: io::Error| EngineError::Spawn {
            label: label.clone(),
            program: program.clone(),
            source,
        };
        if program.is_empty() {
            let err = spawn_err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
            transcript.record(Dir::Note, &err.to_string());
            return Err(err);
        }

        let mut cmd = Command::new(&program);
        cmd.args(&spec.argv[1..])
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = &spec.cwd {
            cmd.current_dir(dir);
        }
        let mut child = groups::spawn_leader(&mut cmd).map_err(|e| {
            transcript.record(Dir::Note, &format!("cannot start `{program}`: {e}"));
            spawn_err(e)
        })?;
        let pgid = child.id() as i32;
        transcript.record(
            Dir::Note,
            &format!("started pid {pgid} ({}): {:?}", label, spec.argv),
        );

        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            // Cannot happen with all three set to piped; handled anyway.
            let err = io::Error::other("child pipes missing");
            abandon(&mut child, pgid);
            return Err(EngineError::Io {
                label,
                program,
                source: err,
            });
        };

        // Our end of the stdin pipe never blocks: `write_line` waits for room
        // itself, with a deadline (an engine that stops reading must not
        // hold a worker forever).
        if let Err(e) = set_nonblocking(&stdin) {
            abandon(&mut child, pgid);
            return Err(EngineError::Io {
                label,
                program,
                source: e,
            });
        }
        let (tx, rx) = mpsc::sync_channel(STDOUT_QUEUE);
        let queued = Arc::new(ByteBudget::new(STDOUT_QUEUE_BYTES));
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let tail = Arc::new(Mutex::new(StderrTail::default()));
        let max_line_bytes = spec.max_line_bytes.max(1);

        let started = spawn_stdout_reader(
            &label,
            stdout,
            tx,
            Arc::clone(&queued),
            Arc::clone(&transcript),
            max_line_bytes,
        )
        .and_then(|_| {
            spawn_stderr_reader(
                &label,
                stderr,
                done_tx,
                Arc::clone(&tail),
                Arc::clone(&transcript),
            )
        });
        if let Err(source) = started {
            abandon(&mut child, pgid);
            return Err(EngineError::Io {
                label,
                program,
                source,
            });
        }

        Ok(Engine {
            label,
            program,
            child,
            pgid,
            stdin: Some(stdin),
            stdout: rx,
            queued,
            pending: None,
            stdout_closed: false,
            stderr: tail,
            stderr_done: done_rx,
            transcript,
            max_line_bytes,
            write_timeout: spec.write_timeout,
            status: None,
            reaped: false,
        })
    }

    /// Writes `line` plus `\n` to the engine's stdin. A closed pipe (the
    /// engine is gone) yields `Exited`; an engine that does not take the
    /// line within the spec's `write_timeout` (its pipe stays full) yields
    /// `Timeout`, and so does a stop request (Ctrl-C) while waiting.
    ///
    /// `line` should not contain a newline: GTP and UCI would read two commands.
    pub fn write_line(&mut self, line: &str) -> Result<(), EngineError> {
        self.transcript.record(Dir::ToEngine, line);
        let called = Instant::now();
        let deadline = called + self.write_timeout;
        let mut buf = String::with_capacity(line.len() + 1);
        buf.push_str(line);
        buf.push('\n');
        let mut rest = buf.as_bytes();
        while !rest.is_empty() {
            let Some(stdin) = self.stdin.as_mut() else {
                return Err(self.exited_error());
            };
            match stdin.write(rest) {
                Ok(0) => {
                    self.stdin = None;
                    return Err(self.exited_error());
                }
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let now = Instant::now();
                    if now >= deadline || groups::shutdown_requested() {
                        let what = if now >= deadline {
                            format!("writing `{line}` (the engine stopped reading its input)")
                        } else {
                            format!("writing `{line}` (stopped on request)")
                        };
                        self.transcript.record(
                            Dir::Note,
                            &format!(
                                "timeout: {what} after {:.3} s",
                                called.elapsed().as_secs_f64()
                            ),
                        );
                        return Err(EngineError::Timeout {
                            label: self.label.clone(),
                            program: self.program.clone(),
                            waited: called.elapsed(),
                            what,
                        });
                    }
                    let slice = deadline.saturating_duration_since(now).min(WRITE_SLICE);
                    wait_writable(stdin, slice);
                    if !self.reaped && self.leader_exited() {
                        self.reap();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                    self.stdin = None;
                    return Err(self.exited_error());
                }
                Err(source) => return Err(self.io_error(source)),
            }
        }
        Ok(())
    }

    /// The next stdout line (without `\n` or `\r`). Waits at most until
    /// `deadline`; `what` names the command being waited on, for the error.
    pub fn read_line(&mut self, deadline: Instant, what: &str) -> Result<String, EngineError> {
        let called = Instant::now();
        let event = match self.pending.take() {
            Some(ev) => ev,
            None if self.stdout_closed => return Err(self.exited_error()),
            None => loop {
                // Wait in slices so a leader that died while a helper keeps
                // stdout open is noticed long before a distant deadline:
                // reaping it kills the helper, which ends the stream. The
                // last slice ends exactly at the deadline.
                let now = Instant::now();
                let wait = deadline
                    .saturating_duration_since(now)
                    .min(EXIT_CHECK_EVERY);
                match self.stdout.recv_timeout(wait) {
                    Ok(ev) => break self.took(ev),
                    Err(RecvTimeoutError::Disconnected) => break LineEvent::Eof,
                    Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                        if !self.reaped && self.leader_exited() {
                            self.reap();
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        // No note here: callers wait in slices, and only
                        // they know when a slice was the real deadline.
                        let waited = called.elapsed();
                        return Err(EngineError::Timeout {
                            label: self.label.clone(),
                            program: self.program.clone(),
                            waited,
                            what: what.to_string(),
                        });
                    }
                }
            },
        };
        self.deliver(event)
    }

    /// The next stdout line if one has already arrived, without waiting.
    /// End of stream and errors are kept for the next `read_line`.
    pub fn try_read_line(&mut self) -> Option<String> {
        if self.pending.is_some() || self.stdout_closed {
            return None;
        }
        match self.stdout.try_recv().map(|ev| self.took(ev)) {
            Ok(LineEvent::Line(line)) => Some(line),
            Ok(other) => {
                self.pending = Some(other);
                None
            }
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                self.pending = Some(LineEvent::Eof);
                None
            }
        }
    }

    /// The last ~40 lines (at most 8 KiB) the engine wrote to stderr.
    pub fn stderr_tail(&self) -> String {
        self.stderr.lock().unwrap_or_else(|p| p.into_inner()).text()
    }

    /// The leader's process id, which is also the process group id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident memory of the leader process so far (`VmHWM` from
    /// `/proc`), in bytes; `None` once it has exited or where `/proc` is
    /// missing. Helpers in its process group are not counted.
    pub fn peak_rss_bytes(&self) -> Option<u64> {
        peak_rss_of(self.child.id())
    }

    /// CPU time the leader process has used so far (user + system, all its
    /// threads), in seconds; `None` once it has exited or where `/proc` is
    /// missing. Unlike wall time it hardly changes with the machine's load.
    pub fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds_of(self.child.id())
    }

    /// The label from the spec.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The program (`argv[0]`) from the spec.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// How the leader exited, once it has been reaped (e.g. "exit status: 1",
    /// "signal: 9 (SIGKILL)").
    pub fn exit_status(&self) -> Option<String> {
        self.status.map(|s| s.to_string())
    }

    /// Whether the leader is still running. If it has exited, the rest of
    /// its group is killed and it is reaped.
    pub fn is_alive(&mut self) -> bool {
        if self.reaped {
            return false;
        }
        if self.leader_exited() {
            self.reap();
            return false;
        }
        true
    }

    /// SIGKILLs the whole process group and reaps the leader. Idempotent.
    pub fn kill(&mut self) {
        if self.reaped {
            return;
        }
        self.transcript
            .record(Dir::Note, &format!("killing process group {}", self.pgid));
        self.reap();
    }

    /// Polite stop: sends `quit_line` (if any), closes stdin, waits up to
    /// `grace` for the engine to exit, then kills the group whatever happened
    /// (helpers it forked must not survive it).
    pub fn shutdown(&mut self, quit_line: Option<&str>, grace: Duration) {
        if self.reaped {
            return;
        }
        let deadline = Instant::now() + grace;
        if let Some(quit) = quit_line {
            // A dead engine cannot take the quit line; the kill below covers it.
            let _ = self.write_line(quit);
        }
        self.stdin = None;
        // An exiting engine closes stdout, so waiting for end of stream needs
        // no polling. Leftover lines were already logged by the reader.
        if matches!(self.pending, Some(LineEvent::Eof | LineEvent::Error(_))) {
            self.stdout_closed = true;
        }
        self.pending = None;
        while !self.stdout_closed {
            let wait = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(wait).map(|ev| self.took(ev)) {
                Ok(LineEvent::Eof | LineEvent::Error(_)) | Err(RecvTimeoutError::Disconnected) => {
                    self.stdout_closed = true;
                }
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => break,
            }
        }
        let exited = self.wait_leader_until(deadline);
        self.transcript.record(
            Dir::Note,
            if exited {
                "shutdown: engine exited by itself"
            } else {
                "shutdown: engine still running after the grace period"
            },
        );
        self.kill();
    }

    /// Whether the transcript reached a limit and dropped engine lines
    /// (worth an event: the evidence of this engine is incomplete).
    pub fn transcript_capped(&self) -> bool {
        self.transcript.capped()
    }

    /// Writes a `#` note line into the transcript (e.g. "game 3 starts").
    pub fn note(&mut self, text: &str) {
        self.transcript.record(Dir::Note, text);
    }

    /// Gives the bytes of a line taken off the queue back to the reader.
    fn took(&self, event: LineEvent) -> LineEvent {
        if let LineEvent::Line(line) = &event {
            self.queued.release(line.len());
        }
        event
    }

    /// Turns a reader event into the result of a read.
    fn deliver(&mut self, event: LineEvent) -> Result<String, EngineError> {
        match event {
            LineEvent::Line(line) => Ok(line),
            LineEvent::TooLong { bytes } => Err(EngineError::LineTooLong {
                label: self.label.clone(),
                program: self.program.clone(),
                bytes,
                limit: self.max_line_bytes,
            }),
            LineEvent::Eof => {
                self.stdout_closed = true;
                Err(self.exited_error())
            }
            LineEvent::Error(source) => {
                self.stdout_closed = true;
                Err(self.io_error(source))
            }
        }
    }

    /// Builds `Exited`, first giving a dying engine a moment to finish
    /// exiting and flushing stderr, so the error says why it died.
    fn exited_error(&mut self) -> EngineError {
        let settle = Instant::now() + EXIT_SETTLE;
        if !self.reaped && self.wait_leader_until(settle) {
            self.reap();
        }
        // Disconnects as soon as stderr reaches end of stream; a helper that
        // keeps stderr open only costs the bounded wait.
        let _ = self
            .stderr_done
            .recv_timeout(settle.saturating_duration_since(Instant::now()));
        EngineError::Exited {
            label: self.label.clone(),
            program: self.program.clone(),
            status: self.exit_status(),
            stderr_tail: self.stderr_tail(),
        }
    }

    fn io_error(&self, source: io::Error) -> EngineError {
        EngineError::Io {
            label: self.label.clone(),
            program: self.program.clone(),
            source,
        }
    }

    /// Whether the leader has exited, without reaping it (so its pid, and
    /// with it the group id, stays reserved until we have killed the group).
    fn leader_exited(&self) -> bool {
        self.reaped || leader_exited(self.pgid)
    }

    /// Waits for the leader to exit until `deadline`. Only used on paths
    /// where the engine is already ending, so a short poll is acceptable.
    fn wait_leader_until(&self, deadline: Instant) -> bool {
        loop {
            if self.leader_exited() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            thread::sleep((deadline - now).min(Duration::from_millis(5)));
        }
    }

    /// Kills the group, unregisters it and reaps the leader (see the module
    /// invariants for why in this order).
    fn reap(&mut self) {
        if self.reaped {
            return;
        }
        groups::release(self.pgid);
        self.stdin = None;
        match self.child.wait() {
            Ok(status) => {
                self.status = Some(status);
                self.transcript
                    .record(Dir::Note, &format!("reaped: {status}"));
            }
            Err(e) => self
                .transcript
                .record(Dir::Note, &format!("reaping failed: {e}")),
        }
        self.reaped = true;
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.queued.close();
        self.kill();
    }
}

/// Whether our child `pid` has exited, without reaping it (so its pid, and
/// with it the group id, stays reserved until we have killed the group).
fn leader_exited(pid: i32) -> bool {
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    match waitid(Id::Pid(Pid::from_raw(pid)), flags) {
        Ok(WaitStatus::StillAlive) => false,
        Ok(_) => true,
        Err(Errno::ECHILD) => true,
        Err(_) => false,
    }
}

fn set_nonblocking(pipe: &ChildStdin) -> io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    use std::os::fd::AsRawFd;
    let fd = pipe.as_raw_fd();
    let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(io::Error::from)?;
    let flags = OFlag::from_bits_retain(flags) | OFlag::O_NONBLOCK;
    fcntl(fd, FcntlArg::F_SETFL(flags)).map_err(io::Error::from)?;
    Ok(())
}

/// Waits until the pipe has room or `wait` has passed (errors only shorten the wait).
fn wait_writable(pipe: &ChildStdin, wait: Duration) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let ms = u16::try_from(wait.as_millis()).unwrap_or(u16::MAX).max(1);
    let mut fds = [PollFd::new(pipe.as_fd(), PollFlags::POLLOUT)];
    let _ = poll(&mut fds, PollTimeout::from(ms));
}

/// Cleans up after a spawn that could not be completed.
fn abandon(child: &mut Child, pgid: i32) {
    groups::release(pgid);
    let _ = child.wait();
}

fn spawn_stdout_reader(
    label: &str,
    stdout: impl Read + Send + 'static,
    tx: SyncSender<LineEvent>,
    queued: Arc<ByteBudget>,
    transcript: Arc<Transcript>,
    max: usize,
) -> io::Result<()> {
    thread::Builder::new()
        .name(format!("{label}-stdout"))
        .spawn(move || {
            // Logging here, not in the handle, gives true arrival times and
            // records lines nobody read. The thread ends at end of stream or
            // when the handle (the receiver) is gone.
            split_lines(stdout, max, |event| {
                match &event {
                    LineEvent::Line(line) => transcript.record(Dir::Stdout, line),
                    LineEvent::TooLong { bytes } => transcript.record(
                        Dir::Note,
                        &format!("stdout line over {max} bytes ({bytes} seen); discarded"),
                    ),
                    LineEvent::Eof => transcript.record(Dir::Note, "stdout closed"),
                    LineEvent::Error(e) => {
                        transcript.record(Dir::Note, &format!("stdout error: {e}"))
                    }
                }
                if let LineEvent::Line(line) = &event {
                    if !queued.acquire(line.len()) {
                        return false;
                    }
                }
                tx.send(event).is_ok()
            });
        })
        .map(drop)
}

fn spawn_stderr_reader(
    label: &str,
    stderr: impl Read + Send + 'static,
    done: mpsc::Sender<()>,
    tail: Arc<Mutex<StderrTail>>,
    transcript: Arc<Transcript>,
) -> io::Result<()> {
    thread::Builder::new()
        .name(format!("{label}-stderr"))
        .spawn(move || {
            // Dropped when the thread ends, which tells the handle stderr is complete.
            let _done = done;
            split_lines(stderr, STDERR_MAX_LINE_BYTES, |event| {
                let line = match event {
                    LineEvent::Line(line) => line,
                    LineEvent::TooLong { bytes } => {
                        format!("[stderr line over {STDERR_MAX_LINE_BYTES} bytes ({bytes} seen); discarded]")
                    }
                    LineEvent::Eof => return true,
                    LineEvent::Error(e) => format!("[stderr error: {e}]"),
                };
                transcript.record(Dir::Stderr, &line);
                tail.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                true
            });
        })
        .map(drop)
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`, 100 on
/// every Linux architecture qarena runs on).
const USER_HZ: f64 = 100.0;

/// CPU time (user + system, every thread) of process `pid` in seconds,
/// from `/proc/<pid>/stat` (fields 14 and 15).
pub fn cpu_seconds_of(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count from its ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// Peak resident memory (`VmHWM`) of process `pid` in bytes, read from
/// `/proc/<pid>/status` (a few KiB, read whole).
pub fn peak_rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_tail_is_bounded() {
        let mut tail = StderrTail::default();
        for i in 0..100 {
            tail.push(format!("line {i}"));
        }
        let text = tail.text();
        assert_eq!(text.lines().count(), STDERR_TAIL_LINES);
        assert!(text.ends_with("line 99"));
        tail.push("x".repeat(20_000));
        assert_eq!(tail.text().len(), STDERR_TAIL_BYTES);
    }

    #[test]
    fn spawn_of_missing_program_names_it() {
        let spec = EngineSpec::new("t-missing", vec!["qarena-no-such-program-xyz".into()]);
        let err = Engine::spawn(spec).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, EngineError::Spawn { .. }), "{msg}");
        assert!(
            msg.contains("t-missing") && msg.contains("qarena-no-such-program-xyz"),
            "{msg}"
        );
    }

    #[test]
    fn empty_command_is_a_spawn_error() {
        let err = Engine::spawn(EngineSpec::new("t-empty", vec![])).unwrap_err();
        assert!(matches!(err, EngineError::Spawn { .. }), "{err}");
    }

    #[test]
    fn cpu_time_counts_work_not_waiting() {
        // A child that sleeps uses next to none; one that counts gathers
        // CPU time (waited for, so a loaded machine only makes it slower).
        let spawn = |script: &str| {
            Engine::spawn(EngineSpec::new(
                "t-cpu",
                vec!["sh".into(), "-c".into(), script.into()],
            ))
            .unwrap()
        };
        let idle = spawn("sleep 5");
        std::thread::sleep(std::time::Duration::from_millis(600));
        let idle_cpu = idle.cpu_seconds().unwrap();
        assert!(idle_cpu < 0.05, "{idle_cpu}");
        let busy = spawn("while :; do :; done");
        let t = std::time::Instant::now();
        while busy.cpu_seconds().unwrap() < 0.1 && t.elapsed() < std::time::Duration::from_secs(30)
        {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(busy.cpu_seconds().unwrap() >= 0.1);
    }

    #[test]
    fn peak_rss_and_cpu_time_are_read_for_a_live_process_and_none_after() {
        let own = peak_rss_of(std::process::id()).unwrap();
        assert!(own > 1024 * 1024, "{own}");
        let mut e = Engine::spawn(EngineSpec::new("t-rss", vec!["cat".into()])).unwrap();
        let peak = e.peak_rss_bytes().unwrap();
        assert!(peak > 0 && peak < own.max(64 << 20), "{peak}");
        assert!(e.cpu_seconds().is_some_and(|c| c >= 0.0));
        e.kill();
        assert!(!e.is_alive());
        assert_eq!(e.peak_rss_bytes(), None);
        assert_eq!(e.cpu_seconds(), None);
    }
}
