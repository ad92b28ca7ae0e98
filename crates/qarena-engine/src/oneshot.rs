//! Running a program once, to completion, under the same rules as an
//! [`Engine`](crate::Engine): its own process group, registered with the
//! process-wide registry and the watchdog, a deadline, and a stop flag.
//!
//! For the short jobs around matches: exporting a net, a reference run of
//! an analysis engine on a query file. The input is nothing, a few bytes, or
//! a file; standard output goes to a file or is kept as a bounded tail, and
//! standard error is always kept as a bounded tail.
//!
//! Invariants:
//! - The child's group never outlives [`run_to_completion`]: when the leader
//!   exits, times out or is stopped, the whole group (helpers it forked
//!   included) is killed before the leader is reaped, and on every other
//!   path (errors, panics) a drop guard does the same.
//! - The stop flag, the shutdown flag of [`crate::install_shutdown_flag`]
//!   and the deadline are checked at least every [`POLL`], so a stop request
//!   ends the call (group killed and reaped) within a few of those.
//! - Captured output costs at most twice `tail_bytes` plus one read chunk
//!   per stream, however much the child prints.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::{groups, leader_exited, set_nonblocking, wait_writable, EngineError};

/// Longest wait between two looks at the leader, the deadline and the stop flags.
pub const POLL: Duration = Duration::from_millis(10);

/// Default for [`RunSpec::tail_bytes`].
pub const DEFAULT_TAIL_BYTES: usize = 16 * 1024;

/// After the group is gone, how long to wait for the readers to see the end
/// of their streams (a helper that left the group could hold them open).
const DRAIN: Duration = Duration::from_millis(250);

/// Size of one read from an output pipe.
const CHUNK: usize = 16 * 1024;

/// What the child reads on standard input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Nothing (`/dev/null`).
    Null,
    /// These bytes, then end of file.
    Bytes(Vec<u8>),
    /// The contents of this file.
    File(PathBuf),
}

/// Where the child's standard output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputTo {
    /// Kept as a tail of at most [`RunSpec::tail_bytes`].
    Tail,
    /// Written to this file (created or truncated), whole.
    File(PathBuf),
}

/// How to run a program once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    /// Short name used in errors, e.g. "stockfish-export".
    pub label: String,
    /// Program and arguments; `argv[0]` is looked up in `PATH` as usual.
    pub argv: Vec<String>,
    /// Working directory; the caller's own if None.
    pub cwd: Option<PathBuf>,
    /// Extra environment variables, added to the inherited environment.
    pub env: Vec<(String, String)>,
    pub stdin: Input,
    pub stdout: OutputTo,
    /// From the start of the process to its exit; the group is killed then.
    pub timeout: Duration,
    /// Most bytes kept of each captured stream (its end).
    pub tail_bytes: usize,
}

impl RunSpec {
    /// A spec with no input, stdout kept as a tail, no cwd and no extra
    /// environment.
    pub fn new(label: impl Into<String>, argv: Vec<String>, timeout: Duration) -> Self {
        RunSpec {
            label: label.into(),
            argv,
            cwd: None,
            env: Vec::new(),
            stdin: Input::Null,
            stdout: OutputTo::Tail,
            timeout,
            tail_bytes: DEFAULT_TAIL_BYTES,
        }
    }

    /// The program name (`argv[0]`), or "" for an empty command.
    pub fn program(&self) -> &str {
        self.argv.first().map(String::as_str).unwrap_or("")
    }
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunOutput {
    pub status: ExitStatus,
    /// The end of standard output (empty when it went to a file); invalid
    /// UTF-8, and a character cut at the start, become U+FFFD.
    pub stdout_tail: String,
    /// The end of standard error.
    pub stderr_tail: String,
    /// Bytes read from the stdout pipe (0 when it went to a file).
    pub stdout_bytes: u64,
    /// Bytes read from the stderr pipe.
    pub stderr_bytes: u64,
    /// From the start of the process to the exit of its leader.
    pub elapsed: Duration,
}

impl RunOutput {
    /// Whether the leader exited with status 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }
}

/// Runs `spec` to completion. Errors: `Spawn` when the program cannot be
/// started, `Io` when an input or output file cannot be opened, `Timeout`
/// when the deadline passes first, `Stopped` when `stop` (or the process
/// shutdown flag) is raised first. A non-zero exit is not an error: look at
/// [`RunOutput::status`].
pub fn run_to_completion(spec: &RunSpec, stop: &AtomicBool) -> Result<RunOutput, EngineError> {
    let label = spec.label.clone();
    let program = spec.program().to_string();
    let io_err = |what: String, e: io::Error| EngineError::Io {
        label: label.clone(),
        program: program.clone(),
        source: io::Error::new(e.kind(), format!("{what}: {e}")),
    };
    let spawn_err = |source: io::Error| EngineError::Spawn {
        label: label.clone(),
        program: program.clone(),
        source,
    };
    if program.is_empty() {
        return Err(spawn_err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "empty command",
        )));
    }

    let mut cmd = Command::new(&program);
    cmd.args(&spec.argv[1..])
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stderr(Stdio::piped());
    if let Some(dir) = &spec.cwd {
        cmd.current_dir(dir);
    }
    let mut input = None;
    match &spec.stdin {
        Input::Null => {
            cmd.stdin(Stdio::null());
        }
        Input::Bytes(bytes) => {
            cmd.stdin(Stdio::piped());
            input = Some(bytes.as_slice());
        }
        Input::File(path) => {
            let f = std::fs::File::open(path)
                .map_err(|e| io_err(format!("opening {}", path.display()), e))?;
            cmd.stdin(Stdio::from(f));
        }
    }
    match &spec.stdout {
        OutputTo::Tail => {
            cmd.stdout(Stdio::piped());
        }
        OutputTo::File(path) => {
            let f = std::fs::File::create(path)
                .map_err(|e| io_err(format!("creating {}", path.display()), e))?;
            cmd.stdout(Stdio::from(f));
        }
    }

    let start = Instant::now();
    let deadline = start + spec.timeout;
    let child = groups::spawn_leader(&mut cmd).map_err(spawn_err)?;
    // From here on the guard kills and reaps the group on every path.
    let mut leader = Leader::new(child);
    drop(cmd);

    let tail_cap = spec.tail_bytes.max(1);
    let stdout = leader
        .child
        .stdout
        .take()
        .map(|pipe| TailReader::start(&label, "stdout", pipe, tail_cap))
        .transpose()
        .map_err(|e| io_err("starting the stdout reader".into(), e))?;
    let stderr = leader
        .child
        .stderr
        .take()
        .map(|pipe| TailReader::start(&label, "stderr", pipe, tail_cap))
        .transpose()
        .map_err(|e| io_err("starting the stderr reader".into(), e))?;
    let mut feed = match (leader.child.stdin.take(), input) {
        (Some(pipe), Some(bytes)) => {
            set_nonblocking(&pipe).map_err(|e| io_err("preparing stdin".into(), e))?;
            Some(Feed { pipe, rest: bytes })
        }
        _ => None,
    };

    loop {
        if leader_exited(leader.pgid) {
            break;
        }
        let now = Instant::now();
        if stop.load(Ordering::SeqCst) || groups::shutdown_requested() {
            // The group is killed even if reaping fails; the stop is the news.
            let _ = leader.finish();
            return Err(EngineError::Stopped {
                label,
                program,
                after: start.elapsed(),
            });
        }
        if now >= deadline {
            let _ = leader.finish();
            return Err(EngineError::Timeout {
                label,
                program,
                waited: start.elapsed(),
                what: "the whole run (it did not exit)".into(),
            });
        }
        let slice = deadline.saturating_duration_since(now).min(POLL);
        match feed.as_mut() {
            // Wait for room in the pipe rather than sleep, so input flows
            // at pipe speed; the slice bounds the wait either way.
            Some(f) => {
                if f.push() {
                    feed = None;
                } else {
                    wait_writable(&f.pipe, slice);
                }
            }
            None => thread::sleep(slice),
        }
    }
    let elapsed = start.elapsed();
    drop(feed);
    let status = leader
        .finish()
        .map_err(|e| io_err("waiting for the process".into(), e))?;
    // The group is dead, so the pipes end now unless a helper escaped it.
    let drain = Instant::now() + DRAIN;
    let (stdout_tail, stdout_bytes) = stdout
        .map(|r| r.finish(drain))
        .unwrap_or_else(|| (String::new(), 0));
    let (stderr_tail, stderr_bytes) = stderr
        .map(|r| r.finish(drain))
        .unwrap_or_else(|| (String::new(), 0));
    Ok(RunOutput {
        status,
        stdout_tail,
        stderr_tail,
        stdout_bytes,
        stderr_bytes,
        elapsed,
    })
}

/// The leader of the group: kills the group and reaps it exactly once.
struct Leader {
    child: Child,
    pgid: i32,
    status: Option<ExitStatus>,
}

impl Leader {
    fn new(child: Child) -> Leader {
        let pgid = child.id() as i32;
        Leader {
            child,
            pgid,
            status: None,
        }
    }

    /// Kills what is left of the group and reaps the leader.
    fn finish(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        groups::release(self.pgid);
        let status = self.child.wait()?;
        self.status = Some(status);
        Ok(status)
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// Bytes still to be written to the child's (non-blocking) stdin.
struct Feed<'a> {
    pipe: ChildStdin,
    rest: &'a [u8],
}

impl Feed<'_> {
    /// Writes what the pipe takes now. True when done: everything written,
    /// or the child closed its end (it is exiting or does not want more).
    fn push(&mut self) -> bool {
        while !self.rest.is_empty() {
            match self.pipe.write(self.rest) {
                Ok(0) => return true,
                Ok(n) => self.rest = &self.rest[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(_) => return true,
            }
        }
        true
    }
}

/// The last bytes of a stream and how many it carried.
struct Tail {
    buf: Vec<u8>,
    total: u64,
}

/// A thread keeping the tail of one output stream.
struct TailReader {
    tail: Arc<Mutex<Tail>>,
    cap: usize,
    /// Disconnects when the thread ends.
    done: Receiver<()>,
}

impl TailReader {
    fn start(
        label: &str,
        stream: &'static str,
        mut pipe: impl Read + Send + 'static,
        cap: usize,
    ) -> io::Result<TailReader> {
        let tail = Arc::new(Mutex::new(Tail {
            buf: Vec::new(),
            total: 0,
        }));
        let (done_tx, done) = mpsc::channel::<()>();
        let shared = Arc::clone(&tail);
        thread::Builder::new()
            .name(format!("{label}-{stream}"))
            .spawn(move || {
                let _done = done_tx;
                let mut chunk = vec![0u8; CHUNK];
                loop {
                    let n = match pipe.read(&mut chunk) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(_) => break,
                    };
                    let mut t = shared.lock().unwrap_or_else(|p| p.into_inner());
                    t.total += n as u64;
                    t.buf.extend_from_slice(&chunk[..n]);
                    // Trimming only past twice the cap keeps the copying
                    // amortised while the bound holds.
                    if t.buf.len() > 2 * cap {
                        let cut = t.buf.len() - cap;
                        t.buf.drain(..cut);
                    }
                }
            })?;
        Ok(TailReader { tail, cap, done })
    }

    /// Waits for the end of the stream until `until`, then returns the tail
    /// as text and the byte count.
    fn finish(self, until: Instant) -> (String, u64) {
        let wait = until.saturating_duration_since(Instant::now());
        match self.done.recv_timeout(wait) {
            Ok(()) | Err(RecvTimeoutError::Disconnected | RecvTimeoutError::Timeout) => {}
        }
        let t = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        let start = t.buf.len().saturating_sub(self.cap);
        (
            String::from_utf8_lossy(&t.buf[start..]).into_owned(),
            t.total,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, timeout: Duration) -> RunSpec {
        RunSpec::new(
            "t-sh",
            vec!["sh".into(), "-c".into(), script.into()],
            timeout,
        )
    }

    fn gone(pid: i32) -> bool {
        // A zombie waiting for init to reap it no longer runs.
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        }
    }

    fn wait_gone(pid: i32) -> bool {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(30) {
            if gone(pid) {
                return true;
            }
            thread::sleep(Duration::from_millis(10));
        }
        false
    }

    fn read_pid(path: &std::path::Path) -> i32 {
        let t0 = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(path) {
                if let Ok(pid) = text.trim().parse() {
                    return pid;
                }
            }
            assert!(t0.elapsed() < Duration::from_secs(60), "no pid written");
            thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn returns_the_exit_status_and_both_tails() {
        let out = run_to_completion(
            &sh("echo out; echo err >&2; exit 3", Duration::from_secs(60)),
            &AtomicBool::new(false),
        )
        .unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert!(!out.success());
        assert_eq!(out.stdout_tail, "out\n");
        assert_eq!(out.stderr_tail, "err\n");
        assert_eq!((out.stdout_bytes, out.stderr_bytes), (4, 4));
    }

    #[test]
    fn feeds_bytes_and_files_and_writes_stdout_to_a_file() {
        let never = AtomicBool::new(false);
        // More than a pipe holds, so the feeding has to wait for room.
        let input: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let mut spec = RunSpec::new("t-cat", vec!["cat".into()], Duration::from_secs(60));
        spec.stdin = Input::Bytes(input.clone());
        spec.tail_bytes = input.len();
        let out = run_to_completion(&spec, &never).unwrap();
        assert!(out.success());
        assert_eq!(out.stdout_bytes, input.len() as u64);
        assert_eq!(out.stdout_tail.as_bytes(), &input[..]);

        let dir = tempfile::tempdir().unwrap();
        let (src, dst) = (dir.path().join("in"), dir.path().join("out"));
        std::fs::write(&src, "line 1\nline 2\n").unwrap();
        spec.stdin = Input::File(src);
        spec.stdout = OutputTo::File(dst.clone());
        let out = run_to_completion(&spec, &never).unwrap();
        assert!(out.success());
        assert_eq!(out.stdout_tail, "");
        assert_eq!(std::fs::read_to_string(&dst).unwrap(), "line 1\nline 2\n");
    }

    #[test]
    fn captured_output_is_bounded_to_its_tail() {
        let mut spec = sh(
            "head -c 3000000 /dev/zero | tr '\\0' x; echo end; \
             head -c 2000000 /dev/zero | tr '\\0' y >&2",
            Duration::from_secs(60),
        );
        spec.tail_bytes = 1000;
        let out = run_to_completion(&spec, &AtomicBool::new(false)).unwrap();
        assert!(out.success());
        assert_eq!(out.stdout_bytes, 3_000_004);
        assert_eq!(out.stderr_bytes, 2_000_000);
        assert_eq!(out.stdout_tail.len(), 1000);
        assert!(out.stdout_tail.ends_with("xxxend\n"));
        assert_eq!(out.stderr_tail, "y".repeat(1000));
    }

    #[test]
    fn the_deadline_kills_the_child_and_its_helpers() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let script = format!("sleep 300 & echo $! > '{}'; sleep 300", pids.display());
        // A deadline that passes before the shell has even forked its
        // helper proves nothing, so a slow machine gets a longer one.
        for ms in [500, 2_000, 10_000, 60_000] {
            let t0 = Instant::now();
            let err = run_to_completion(
                &sh(&script, Duration::from_millis(ms)),
                &AtomicBool::new(false),
            )
            .unwrap_err();
            let took = t0.elapsed();
            println!("a {ms} ms deadline ended the run after {took:?}");
            assert!(matches!(err, EngineError::Timeout { .. }), "{err}");
            assert!(err.to_string().contains("t-sh"), "{err}");
            let Some(helper) = std::fs::read_to_string(&pids)
                .ok()
                .and_then(|t| t.trim().parse::<i32>().ok())
            else {
                continue;
            };
            assert!(wait_gone(helper), "helper {helper} survived the deadline");
            return;
        }
        panic!("the shell never started its helper");
    }

    #[test]
    fn a_stop_request_kills_the_group_and_returns_promptly() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let script = format!("sleep 300 & echo $$ > '{}'; sleep 300", pids.display());
        let stop = Arc::new(AtomicBool::new(false));
        let raised = Arc::new(Mutex::new(None::<Instant>));
        let (stop2, raised2, pids2) = (Arc::clone(&stop), Arc::clone(&raised), pids.clone());
        let trigger = thread::spawn(move || {
            // Stop once the child is surely running.
            let leader = read_pid(&pids2);
            *raised2.lock().unwrap() = Some(Instant::now());
            stop2.store(true, Ordering::SeqCst);
            leader
        });
        let err = run_to_completion(&sh(&script, Duration::from_secs(600)), &stop).unwrap_err();
        let returned = Instant::now();
        let leader = trigger.join().unwrap();
        let latency = returned - raised.lock().unwrap().unwrap();
        println!("returned {latency:?} after the stop request");
        assert!(matches!(err, EngineError::Stopped { .. }), "{err}");
        // The bound is generous on purpose: the promise is ~20 ms, but a
        // loaded machine must not fail the test.
        assert!(latency < Duration::from_secs(1), "{latency:?}");
        assert!(!crate::live_process_groups().contains(&leader));
        assert!(gone(leader), "leader {leader} still runs");
    }

    #[test]
    fn missing_programs_and_files_are_named() {
        let never = AtomicBool::new(false);
        let spec = RunSpec::new(
            "t-missing",
            vec!["qarena-no-such-program-xyz".into()],
            Duration::from_secs(5),
        );
        let err = run_to_completion(&spec, &never).unwrap_err();
        assert!(matches!(err, EngineError::Spawn { .. }), "{err}");
        assert!(err.to_string().contains("qarena-no-such-program-xyz"));

        let mut spec = RunSpec::new("t-in", vec!["cat".into()], Duration::from_secs(5));
        spec.stdin = Input::File(PathBuf::from("/nonexistent/qarena-input"));
        let err = run_to_completion(&spec, &never).unwrap_err();
        assert!(matches!(err, EngineError::Io { .. }), "{err}");
        assert!(err.to_string().contains("qarena-input"), "{err}");

        let err = run_to_completion(
            &RunSpec::new("t-empty", vec![], Duration::from_secs(5)),
            &never,
        )
        .unwrap_err();
        assert!(matches!(err, EngineError::Spawn { .. }), "{err}");
    }
}
