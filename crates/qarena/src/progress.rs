//! How a running match or sweep is shown: a progress bar when stderr is a
//! terminal, one line per game otherwise (logs, CI); warnings and sweep
//! lines always as lines.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressStyle};
use qarena_arena::{Observer, RunNote};

/// The console observer of `match`, `sweep` and `demo`.
#[derive(Debug)]
pub struct Console {
    terminal: bool,
    /// The bar of the match (sweep point) being played.
    bar: Mutex<Option<ProgressBar>>,
}

impl Console {
    pub fn new() -> Arc<Console> {
        Arc::new(Console {
            terminal: std::io::stderr().is_terminal(),
            bar: Mutex::new(None),
        })
    }

    fn bar(&self) -> std::sync::MutexGuard<'_, Option<ProgressBar>> {
        self.bar.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Prints a line without tearing the bar.
    fn line(&self, text: &str) {
        match self.bar().as_ref() {
            Some(bar) => bar.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }
}

impl Observer for Console {
    fn note(&self, note: RunNote<'_>) {
        match note {
            RunNote::Started { total, done } => {
                if self.terminal {
                    let bar = ProgressBar::new(u64::from(total));
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} games  {msg}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    bar.set_position(u64::from(done));
                    *self.bar() = Some(bar);
                }
            }
            RunNote::Warning(w) => self.line(&format!("warning: {w}")),
            RunNote::Info(text) => self.line(text),
            RunNote::GameEnded {
                index,
                total,
                result,
                termination,
                counts,
            } => match self.bar().as_ref() {
                Some(bar) => {
                    bar.set_message(counts.to_string());
                    bar.inc(1);
                }
                None => eprintln!(
                    "game {:>4}/{}: {:<8} {:<14} ({})",
                    index + 1,
                    total,
                    result.unwrap_or("-"),
                    termination.as_str(),
                    counts
                ),
            },
            RunNote::Finished => {
                if let Some(bar) = self.bar().take() {
                    bar.finish_and_clear();
                }
            }
        }
    }
}
