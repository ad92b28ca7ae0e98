#![allow(clippy::print_stdout, clippy::print_stderr)] // a command line program prints
//! `qarena-fake-engine`: a GTP or UCI engine that plays random legal moves
//! and misbehaves on cue, so qarena's engine handling can be tested against
//! every failure mode without a real engine that happens to fail.
//!
//! Usage: `qarena-fake-engine [--protocol gtp|uci] [--mode MODE] [--at N]
//! [--seed S] [--name NAME] [--delay-ms MS]`. `--at N` picks which
//! `genmove`/`go` (1-based) triggers a one-shot fault. Modes are listed in
//! [`Mode`]; `--help` prints them.
//!
//! Invariants: every line is flushed as soon as it is written (a harness
//! waiting on a pipe must see it), the process exits with status 0 on
//! `quit` or end of stdin unless the mode says otherwise, and nothing the
//! harness sends makes it panic.

mod gtp;
mod uci;

use std::io::{self, BufRead, Write};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::thread;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const USAGE: &str = "\
usage: qarena-fake-engine [--protocol gtp|uci] [--mode MODE] [--at N]
                          [--seed S] [--name NAME] [--delay-ms MS] [--fault-rate P]

A GTP/UCI engine that plays random legal moves and injects faults on cue.
--at N picks which genmove/go (1-based, default 1) triggers a one-shot fault.

modes:
  random        legal random play (default)
  hang          on the Nth move request, never reply (stay alive, stop reading)
  exit          on the Nth move request, print to stderr and exit(1) without replying
  garbage       on the Nth move request, print garbage (GTP: instead of the reply;
                UCI: garbage info lines, then a normal bestmove)
  bad-bestmove  on the Nth move request, answer an unparseable move (`bestmove xyz`, `= xyz`)
  illegal       on the Nth move request, answer a well-formed but illegal move
  null-move     on the Nth move request, answer `bestmove 0000` (GTP: `= pass`)
  slow-start    sleep --delay-ms before reading anything
  slow-move     sleep --delay-ms before every move reply
  huge-line     on the Nth move request, print one 10 MB line, then answer nothing
  silence       never answer anything (keep reading stdin until it closes)
  fork-hang     start a helper process in the same process group, then act like hang
  sleep         sleep forever without reading stdin (the helper fork-hang starts)
  flood-invalid on the Nth move request, print endless lines of invalid UTF-8
                (0xFF bytes, just under 1 MiB each) and never answer
  flood-multipv on the Nth move request, print endless `info ... multipv K` lines with
                a new K on every line (GTP gets them too) and never answer
  flood-stderr  on the Nth move request, print endless lines to stderr and never answer
  chaos         on every move request from the Nth on, with probability --fault-rate
                (percent, default 5), one fault picked at random from all the
                move-time modes above (the pick differs between processes)

exit status: 0 on quit or end of input, 1 when a fault says so, 2 on bad usage.
";

/// Which fault to inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Random,
    Hang,
    Exit,
    Garbage,
    BadBestmove,
    Illegal,
    NullMove,
    SlowStart,
    SlowMove,
    HugeLine,
    Silence,
    ForkHang,
    Sleep,
    FloodInvalid,
    FloodMultipv,
    FloodStderr,
    Chaos,
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Mode, String> {
        Ok(match s {
            "random" => Mode::Random,
            "hang" => Mode::Hang,
            "exit" => Mode::Exit,
            "garbage" => Mode::Garbage,
            "bad-bestmove" => Mode::BadBestmove,
            "illegal" => Mode::Illegal,
            "null-move" => Mode::NullMove,
            "slow-start" => Mode::SlowStart,
            "slow-move" => Mode::SlowMove,
            "huge-line" => Mode::HugeLine,
            "silence" => Mode::Silence,
            "fork-hang" => Mode::ForkHang,
            "sleep" => Mode::Sleep,
            "flood-invalid" => Mode::FloodInvalid,
            "flood-multipv" => Mode::FloodMultipv,
            "flood-stderr" => Mode::FloodStderr,
            "chaos" => Mode::Chaos,
            other => return Err(format!("unknown mode `{other}`")),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Gtp,
    Uci,
}

/// Parsed command line.
#[derive(Debug)]
pub(crate) struct Options {
    protocol: Protocol,
    pub(crate) mode: Mode,
    pub(crate) at: u64,
    pub(crate) seed: u64,
    pub(crate) name: String,
    pub(crate) delay: Duration,
    /// Percent of move requests that fail in `chaos` mode.
    pub(crate) fault_rate: u64,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut opts = Options {
        protocol: Protocol::Gtp,
        mode: Mode::Random,
        at: 1,
        seed: 1,
        name: "qarena-fake".to_string(),
        delay: Duration::from_millis(3000),
        fault_rate: 5,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        if flag == "--help" || flag == "-h" {
            return Err(String::new());
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--protocol" => {
                opts.protocol = match value()?.as_str() {
                    "gtp" => Protocol::Gtp,
                    "uci" => Protocol::Uci,
                    other => return Err(format!("unknown protocol `{other}` (gtp or uci)")),
                }
            }
            "--mode" => opts.mode = value()?.parse()?,
            "--at" => {
                opts.at = number(&flag, &value()?)?;
                if opts.at == 0 {
                    return Err("--at counts from 1".to_string());
                }
            }
            "--seed" => opts.seed = number(&flag, &value()?)?,
            "--name" => opts.name = value()?,
            "--delay-ms" => opts.delay = Duration::from_millis(number(&flag, &value()?)?),
            "--fault-rate" => {
                opts.fault_rate = number(&flag, &value()?)?;
                if opts.fault_rate > 100 {
                    return Err("--fault-rate is a percentage (0-100)".to_string());
                }
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(opts)
}

fn number(flag: &str, text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| format!("{flag} expects a non-negative integer, got `{text}`"))
}

fn main() {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(msg) if msg.is_empty() => {
            print!("{USAGE}");
            return;
        }
        Err(msg) => {
            eprintln!("qarena-fake-engine: {msg}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    match opts.mode {
        Mode::Sleep => sleep_forever(),
        Mode::SlowStart => thread::sleep(opts.delay),
        Mode::ForkHang => fork_helper(),
        _ => {}
    }
    let mut session = Session::new(&opts);
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match input.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
        if opts.mode == Mode::Silence || session.silent {
            continue;
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end_matches(['\n', '\r']);
        let go_on = match opts.protocol {
            Protocol::Gtp => gtp::handle(&mut session, line),
            Protocol::Uci => uci::handle(&mut session, line),
        };
        if !go_on {
            break;
        }
    }
}

/// State shared by both protocol front ends.
pub(crate) struct Session<'a> {
    pub(crate) opts: &'a Options,
    pub(crate) rng: StdRng,
    /// Move requests (`genmove`/`go`) seen so far.
    pub(crate) requests: u64,
    /// Set after a fault that ends all answering (huge-line).
    pub(crate) silent: bool,
    pub(crate) gtp: gtp::State,
    pub(crate) uci: uci::State,
    /// Picks chaos faults; seeded per process so restarts differ.
    chaos: StdRng,
}

/// What to do with the current move request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Cue {
    /// Answer normally.
    Normal,
    /// Apply this protocol-specific fault instead.
    Fault(Mode),
}

impl<'a> Session<'a> {
    fn new(opts: &'a Options) -> Session<'a> {
        Session {
            opts,
            rng: StdRng::seed_from_u64(opts.seed),
            requests: 0,
            silent: false,
            gtp: gtp::State::new(),
            uci: uci::State::new(),
            chaos: StdRng::seed_from_u64(opts.seed ^ u64::from(std::process::id()) << 20),
        }
    }

    /// Counts a move request and handles the faults that look the same in
    /// both protocols; the rest are returned for the front end to apply.
    pub(crate) fn move_request(&mut self) -> Cue {
        self.requests += 1;
        if self.opts.mode == Mode::SlowMove {
            thread::sleep(self.opts.delay);
        }
        let mode = if self.opts.mode == Mode::Chaos {
            if self.requests < self.opts.at || self.chaos.gen_range(0..100) >= self.opts.fault_rate
            {
                return Cue::Normal;
            }
            CHAOS[self.chaos.gen_range(0..CHAOS.len())]
        } else if self.requests != self.opts.at {
            return Cue::Normal;
        } else {
            self.opts.mode
        };
        let chaos = self.opts.mode == Mode::Chaos;
        match mode {
            // In the plain modes these act from the start (see `main`).
            Mode::ForkHang if chaos => {
                fork_helper();
                sleep_forever()
            }
            Mode::SlowMove if chaos => {
                thread::sleep(self.opts.delay);
                Cue::Normal
            }
            Mode::Hang | Mode::ForkHang => sleep_forever(),
            Mode::Exit => {
                eprintln!("fake: exiting on cue (move request {})", self.requests);
                std::process::exit(1);
            }
            Mode::HugeLine => {
                huge_line();
                self.silent = true;
                Cue::Fault(Mode::HugeLine)
            }
            Mode::FloodInvalid | Mode::FloodMultipv | Mode::FloodStderr => flood(mode),
            Mode::Garbage | Mode::BadBestmove | Mode::Illegal | Mode::NullMove => Cue::Fault(mode),
            _ => Cue::Normal,
        }
    }
}

/// The faults `chaos` mode picks from.
const CHAOS: [Mode; 12] = [
    Mode::Hang,
    Mode::Exit,
    Mode::Garbage,
    Mode::BadBestmove,
    Mode::Illegal,
    Mode::NullMove,
    Mode::HugeLine,
    Mode::FloodInvalid,
    Mode::FloodMultipv,
    Mode::FloodStderr,
    Mode::ForkHang,
    Mode::SlowMove,
];

/// Writes one line and flushes it. If the harness has gone away there is
/// nobody left to talk to, so the fake ends quietly.
pub(crate) fn say(line: &str) {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let ok = out
        .write_all(line.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    if ok.is_err() {
        std::process::exit(0);
    }
}

/// One line of 10 MB, written in pieces so the fake itself stays small.
fn huge_line() {
    let piece = vec![b'x'; 64 * 1024];
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut ok = out.write_all(b"huge ");
    for _ in 0..(10 * 1024 * 1024 / piece.len()) {
        ok = ok.and_then(|()| out.write_all(&piece));
    }
    if ok
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

/// Prints without end until the reader goes away (then exits quietly).
fn flood(mode: Mode) -> ! {
    let invalid = {
        let mut line = vec![0xFFu8; 1024 * 1024 - 1];
        line.push(b'\n');
        line
    };
    let mut stdout = io::stdout().lock();
    let mut stderr = io::stderr().lock();
    for k in 1u64.. {
        let ok = match mode {
            Mode::FloodInvalid => stdout.write_all(&invalid).and_then(|()| stdout.flush()),
            Mode::FloodMultipv => writeln!(
                stdout,
                "info depth 1 seldepth 1 multipv {k} score cp 0 nodes 1 nps 1 time 1 pv e2e4 e7e5 g1f3"
            )
            .and_then(|()| stdout.flush()),
            _ => writeln!(stderr, "fake: warning {k}: something is slightly off, carrying on"),
        };
        if ok.is_err() {
            std::process::exit(0);
        }
    }
    sleep_forever()
}

fn sleep_forever() -> ! {
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}

/// Starts a copy of this program in `sleep` mode. It stays in our process
/// group and inherits stdout and stderr, like the helper processes real
/// engines start, so only a group kill gets rid of it.
fn fork_helper() {
    let started = std::env::current_exe().and_then(|exe| {
        Command::new(exe)
            .args(["--mode", "sleep"])
            .stdin(Stdio::null())
            .spawn()
    });
    match started {
        Ok(child) => eprintln!("fake: started helper pid {}", child.id()),
        Err(e) => eprintln!("fake: cannot start helper: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Options, String> {
        parse_args(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_flags_in_both_spellings() {
        let o = args(&[
            "--protocol",
            "uci",
            "--mode=illegal",
            "--at",
            "3",
            "--seed=9",
        ])
        .unwrap();
        assert_eq!(o.protocol, Protocol::Uci);
        assert_eq!(o.mode, Mode::Illegal);
        assert_eq!((o.at, o.seed), (3, 9));
    }

    #[test]
    fn rejects_bad_usage() {
        assert!(args(&["--mode", "wobble"]).unwrap_err().contains("wobble"));
        assert!(args(&["--at", "0"]).is_err());
        assert!(args(&["--at"]).is_err());
        assert!(args(&["--frobnicate"]).is_err());
    }
}
