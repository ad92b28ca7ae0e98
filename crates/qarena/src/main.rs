#![allow(clippy::print_stdout, clippy::print_stderr)] // a command line program prints
//! The `qarena` command line: parses arguments and calls the library crates.
//!
//! Exit codes: 0 success; 1 a check or gate failed (or a gate's SPRT is
//! undecided); 2 usage or input error
//! (bad flags, config, model file, database path); 3 an engine failed beyond
//! recovery; 4 storage failed (disk full, read-only database).

mod cli;
mod evolve_cmd;
mod judge_cmd;
mod kv_sweep_cmd;
mod llm_cmd;
mod match_cmd;
mod merge_cmd;
mod probe_cmd;
mod progress;
mod quant_cmd;
mod ratings_cmd;
mod report_cmd;
mod runs_cmd;
mod slurm_cmd;
mod stats_cmd;
mod sweep_cmd;

use std::process::ExitCode;

use clap::Parser;

/// An error with the exit code it maps to.
#[derive(Debug)]
pub struct Exit {
    pub code: u8,
    pub error: anyhow::Error,
}

impl Exit {
    pub fn input(e: impl Into<anyhow::Error>) -> Exit {
        Exit {
            code: 2,
            error: e.into(),
        }
    }
    pub fn engine(e: impl Into<anyhow::Error>) -> Exit {
        Exit {
            code: 3,
            error: e.into(),
        }
    }
    pub fn check_failed(e: impl Into<anyhow::Error>) -> Exit {
        Exit {
            code: 1,
            error: e.into(),
        }
    }

    pub fn storage(e: impl Into<anyhow::Error>) -> Exit {
        Exit {
            code: 4,
            error: e.into(),
        }
    }
}

impl From<qarena_arena::RunError> for Exit {
    fn from(e: qarena_arena::RunError) -> Exit {
        match e {
            qarena_arena::RunError::Engine(_) => Exit::engine(e),
            qarena_arena::RunError::Store(e) => e.into(),
            // Writing the run folder failed: the disk, not the input.
            qarena_arena::RunError::Io { .. } => Exit::storage(e),
            other => Exit::input(other),
        }
    }
}

impl From<qarena_store::StoreError> for Exit {
    fn from(e: qarena_store::StoreError) -> Exit {
        if e.is_storage() {
            Exit::storage(e)
        } else {
            Exit::input(e)
        }
    }
}

pub type CliResult = Result<(), Exit>;

/// `qarena ... | head` closes our stdout early; `println!` then panics.
/// End quietly instead, as command-line tools do. (SIGPIPE stays ignored:
/// a dead engine's pipe must give an error, not kill the harness.)
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("failed printing to stdout") {
            qarena_engine::kill_all();
            std::process::exit(0);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    qarena_engine::set_warning_sink(|w| eprintln!("warning: {w}"));
    let args = cli::Cli::parse();
    match cli::dispatch(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(exit) => {
            let mut msg = format!("error: {}", exit.error);
            for cause in exit.error.chain().skip(1) {
                msg.push_str(&format!(": {cause}"));
            }
            eprintln!("{msg}");
            ExitCode::from(exit.code)
        }
    }
}
