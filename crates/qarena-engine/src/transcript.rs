//! The per-engine transcript: an append-only log of everything exchanged.
//!
//! Line format: `<seconds since spawn, 3 decimals> <dir> <text>`, where dir
//! is `>` (we wrote to stdin), `<` (engine stdout), `!` (engine stderr) or
//! `#` (a note from the harness).
//!
//! Invariant: the transcript is evidence, never a cause of failure. Write
//! errors are reported once on the harness's stderr and the transcript is
//! then switched off for that engine; the engine itself keeps running.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

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
    file: Mutex<Option<File>>,
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
                Ok(f) => Some(f),
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
        let Some(file) = guard.as_mut() else { return };
        let secs = self.start.elapsed().as_secs_f64();
        let mut out = String::with_capacity(text.len() + 16);
        for part in text.split('\n') {
            out.push_str(&format!("{secs:.3} {} {part}\n", dir.mark()));
        }
        if let Err(e) = file.write_all(out.as_bytes()) {
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
