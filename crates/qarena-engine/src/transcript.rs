//! The per-engine transcript: an append-only log of everything exchanged.
//!
//! Line format: `<seconds since spawn, 3 decimals> <dir> <text>`, where dir
//! is `>` (we wrote to stdin), `<` (engine stdout), `!` (engine stderr) or
//! `#` (a note from the harness).
//!
//! Invariant: the transcript is evidence, never a cause of failure. Write
//! errors are reported once on the harness's stderr and the transcript is
//! then switched off for that engine; the engine itself keeps running.
//!
//! Lines are buffered (one write per engine line costs more than the rest
//! of the harness): the buffer is flushed at most every [`FLUSH_EVERY`]
//! while lines arrive, on every note (the evidence of a fault), and when
//! the transcript is dropped. A harness killed with SIGKILL loses at most
//! the last [`FLUSH_EVERY`] of engine lines; a flooding engine costs one
//! write per buffer, not one per line.
//!
//! Bounded: one transcript holds at most its cap of engine lines (and a
//! small reserve for the harness's notes after that), and all transcripts
//! sharing a [`TranscriptBudget`] (one run) together at most the budget.
//! When a limit is reached a note says so, later engine lines are dropped,
//! and [`Transcript::capped`] turns true so the caller can record an event.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest time a protocol line may sit in the buffer.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// Default cap on one engine's transcript.
pub const DEFAULT_TRANSCRIPT_CAP: u64 = 64 * 1024 * 1024;

/// Notes written after the cap was reached may use this much more, so the
/// end of a run (kills, exit statuses) is still on record.
const NOTE_RESERVE: u64 = 1024 * 1024;

/// Bytes that several transcripts (e.g. every engine of one run) may write
/// together. Cloning shares the budget.
#[derive(Debug, Clone)]
pub struct TranscriptBudget(Arc<AtomicU64>);

impl TranscriptBudget {
    pub fn new(bytes: u64) -> TranscriptBudget {
        TranscriptBudget(Arc::new(AtomicU64::new(bytes)))
    }

    /// Bytes left.
    pub fn remaining(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Takes `n` bytes if that many are left.
    fn take(&self, n: u64) -> bool {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(n)
            })
            .is_ok()
    }
}

/// Two budgets are equal when they are the same shared budget.
impl PartialEq for TranscriptBudget {
    fn eq(&self, other: &TranscriptBudget) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for TranscriptBudget {}

/// Where a transcript writes and how much it may write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) cap: u64,
    pub(crate) budget: Option<TranscriptBudget>,
}

struct Sink {
    out: BufWriter<File>,
    last_flush: Instant,
    written: u64,
    /// Engine lines are no longer written (a limit was reached).
    full: bool,
}

/// Direction marker of a transcript line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    ToEngine,
    Stdout,
    Stderr,
    Note,
}

impl Dir {
    fn mark(self) -> char {
        match self {
            Dir::ToEngine => '>',
            Dir::Stdout => '<',
            Dir::Stderr => '!',
            Dir::Note => '#',
        }
    }
}

/// Shared by the engine handle and its reader threads; each line is written
/// with one `write_all` under the lock so lines never interleave.
pub(crate) struct Transcript {
    label: String,
    path: Option<PathBuf>,
    start: Instant,
    limits: Limits,
    file: Mutex<Option<Sink>>,
    capped: AtomicBool,
}

impl Transcript {
    /// Opens (appending) the file at `path`, or makes a transcript that
    /// records nothing when `path` is None or the file cannot be opened.
    pub(crate) fn open(
        label: &str,
        path: Option<&Path>,
        limits: Limits,
        start: Instant,
    ) -> Transcript {
        let file = path.and_then(|p| {
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                // A failure here shows up as the open error below.
                let _ = fs::create_dir_all(dir);
            }
            match OpenOptions::new().create(true).append(true).open(p) {
                Ok(f) => Some(Sink {
                    out: BufWriter::with_capacity(64 * 1024, f),
                    last_flush: Instant::now(),
                    written: 0,
                    full: false,
                }),
                Err(e) => {
                    crate::warn::warn(&format!(
                        "engine '{label}': cannot open transcript {}: {e}; \
                         continuing without it",
                        p.display()
                    ));
                    None
                }
            }
        });
        Transcript {
            label: label.to_string(),
            path: path.map(Path::to_path_buf),
            start,
            limits,
            file: Mutex::new(file),
            capped: AtomicBool::new(false),
        }
    }

    /// Whether a limit was reached and engine lines were dropped.
    pub(crate) fn capped(&self) -> bool {
        self.capped.load(Ordering::SeqCst)
    }

    /// Whether `n` more bytes of `dir` may be written; on the first refusal
    /// of an engine line, writes the note that says why.
    fn admit(&self, sink: &mut Sink, dir: Dir, n: u64, secs: f64) -> bool {
        let note = dir == Dir::Note;
        let cap = if note {
            self.limits.cap.saturating_add(NOTE_RESERVE)
        } else {
            self.limits.cap
        };
        if sink.full && !note {
            return false;
        }
        let within_cap = sink.written.saturating_add(n) <= cap;
        // Notes after the cap only draw on the reserve, not on the run's budget.
        let within_budget = sink.full
            || match &self.limits.budget {
                Some(b) => b.take(n),
                None => true,
            };
        if within_cap && within_budget {
            sink.written += n;
            return true;
        }
        if !sink.full {
            sink.full = true;
            self.capped.store(true, Ordering::SeqCst);
            let why = if within_cap {
                "the run's transcript budget is spent".to_string()
            } else {
                format!(
                    "this transcript reached its cap of {} bytes",
                    self.limits.cap
                )
            };
            let line =
                format!("{secs:.3} # transcript limit: {why}; further engine lines are dropped\n");
            sink.written += line.len() as u64;
            let _ = sink.out.write_all(line.as_bytes());
        }
        false
    }

    /// Appends one line; multi-line text is split so each physical line
    /// keeps the timestamp-and-direction prefix.
    pub(crate) fn record(&self, dir: Dir, text: &str) {
        let mut guard = match self.file.lock() {
            Ok(g) => g,
            // A panic elsewhere while holding the lock must not silence the log.
            Err(poisoned) => poisoned.into_inner(),
        };
        let Some(sink) = guard.as_mut() else { return };
        let secs = self.start.elapsed().as_secs_f64();
        let mut out = String::with_capacity(text.len() + 16);
        for part in text.split('\n') {
            out.push_str(&format!("{secs:.3} {} {part}\n", dir.mark()));
        }
        if !self.admit(sink, dir, out.len() as u64, secs) {
            if dir == Dir::Note {
                let _ = sink.out.flush();
            }
            return;
        }
        let urgent = dir == Dir::Note;
        let result = sink.out.write_all(out.as_bytes()).and_then(|()| {
            if urgent || sink.last_flush.elapsed() >= FLUSH_EVERY {
                sink.last_flush = Instant::now();
                sink.out.flush()
            } else {
                Ok(())
            }
        });
        if let Err(e) = result {
            let shown = self
                .path
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            crate::warn::warn(&format!(
                "engine '{}': writing transcript {shown} failed: {e}; \
                 no further transcript lines for this engine",
                self.label
            ));
            *guard = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(cap: u64, budget: Option<&TranscriptBudget>) -> Limits {
        Limits {
            cap,
            budget: budget.cloned(),
        }
    }

    #[test]
    fn engine_lines_stop_at_the_cap_with_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.log");
        let t = Transcript::open("t", Some(&path), limits(10_000, None), Instant::now());
        for i in 0..10_000 {
            t.record(Dir::Stderr, &format!("flood line {i}"));
        }
        assert!(t.capped());
        t.record(Dir::Note, "reaped: signal 9");
        drop(t);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.len() <= 10_000 + 200, "{} bytes", text.len());
        assert!(text.contains("transcript limit"), "{text}");
        assert!(text.trim_end().ends_with("reaped: signal 9"), "{text}");
    }

    #[test]
    fn transcripts_share_the_run_budget() {
        let dir = tempfile::tempdir().unwrap();
        let budget = TranscriptBudget::new(5_000);
        let a = Transcript::open(
            "a",
            Some(&dir.path().join("a.log")),
            limits(1 << 30, Some(&budget)),
            Instant::now(),
        );
        let b = Transcript::open(
            "b",
            Some(&dir.path().join("b.log")),
            limits(1 << 30, Some(&budget)),
            Instant::now(),
        );
        for i in 0..1_000 {
            a.record(Dir::Stdout, &format!("a {i}"));
            b.record(Dir::Stdout, &format!("b {i}"));
        }
        assert!(a.capped() && b.capped());
        drop((a, b));
        let total: u64 = ["a.log", "b.log"]
            .iter()
            .map(|f| std::fs::metadata(dir.path().join(f)).unwrap().len())
            .sum();
        assert!(total <= 5_000 + 400, "{total} bytes");
    }
}
