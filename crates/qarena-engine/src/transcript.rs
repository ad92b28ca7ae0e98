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
//! of the harness): the buffer is flushed at least every
//! [`FLUSH_EVERY`], on every note and stderr line (the evidence of a
//! fault), and when the transcript is dropped. A harness killed with
//! SIGKILL loses at most the last [`FLUSH_EVERY`] of protocol lines.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest time a protocol line may sit in the buffer.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_millis(50);

struct Sink {
    out: BufWriter<File>,
    last_flush: Instant,
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
    file: Mutex<Option<Sink>>,
}

impl Transcript {
    /// Opens (appending) the file at `path`, or makes a transcript that
    /// records nothing when `path` is None or the file cannot be opened.
    pub(crate) fn open(label: &str, path: Option<&Path>, start: Instant) -> Transcript {
        let file = path.and_then(|p| {
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                // A failure here shows up as the open error below.
                let _ = fs::create_dir_all(dir);
            }
            match OpenOptions::new().create(true).append(true).open(p) {
                Ok(f) => Some(Sink {
                    out: BufWriter::with_capacity(64 * 1024, f),
                    last_flush: Instant::now(),
                }),
                Err(e) => {
                    eprintln!(
                        "warning: engine '{label}': cannot open transcript {}: {e}; \
                         continuing without it",
                        p.display()
                    );
                    None
                }
            }
        });
        Transcript {
            label: label.to_string(),
            path: path.map(Path::to_path_buf),
            start,
            file: Mutex::new(file),
        }
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
        let urgent = matches!(dir, Dir::Note | Dir::Stderr);
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
            eprintln!(
                "warning: engine '{}': writing transcript {shown} failed: {e}; \
                 no further transcript lines for this engine",
                self.label
            );
            *guard = None;
        }
    }
}
