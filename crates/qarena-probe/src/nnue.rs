//! `nnue-eval`: Stockfish's static evaluation with a given NNUE net on a
//! chess suite, compared with the reference net's.
//!
//! One Stockfish process per net evaluates every position with its `eval`
//! command and reports the `NNUE evaluation` line (pawns, White's view);
//! the comparison is the error in centipawns after clamping both sides to
//! ±[`CLAMP_CP`], and how often the two nets agree on who is better.
//! Optionally both nets also search every position to a small fixed depth
//! and the best moves are compared.
//!
//! Invariants:
//! - A net is only evaluated after Stockfish has said, in its own words
//!   (`info string NNUE evaluation using <path> enabled` after `go nodes 1`),
//!   that it evaluates with exactly that file; Stockfish silently keeps its
//!   embedded net for a file it cannot read, so anything else is
//!   [`ProbeError::NetRejected`] naming the file.
//! - The net is always given as an absolute path: for the bare default
//!   name Stockfish would use its embedded net whatever the file holds.
//! - Every wait has a deadline and is sliced so the stop flag ends it
//!   within about 100 ms; the process never outlives the evaluation.
//! - Evaluations are pipelined (`position`, `eval`, `isready` per position,
//!   `readyok` closing each answer) with at most [`WINDOW`] positions in
//!   flight, so neither side can fill the other's pipe and block.
//! - A position in check has no NNUE evaluation (`Final evaluation: none
//!   (in check)`): it is recorded as missing and left out of the comparison,
//!   which reports how many were left out.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use qarena_engine::{Engine, EngineError, EngineSpec};
use qarena_uci::{classify_info_strings, parse_line, Info, Message, NetLoad};
use serde::{Deserialize, Serialize};

use crate::error::ProbeError;
use crate::report::{Comparison, EngineCost, Metric, Spread};
use crate::suite::{Positions, Suite};
use crate::Probe;

/// Both evaluations are clamped to ±this many centipawns before they are
/// compared, so a won position's exact size does not swamp the mean.
pub const CLAMP_CP: i32 = 2000;

/// Positions whose commands are sent before their answers are read: about
/// 75 output lines each, well inside the engine handle's line queue.
pub const WINDOW: usize = 8;

/// How long one read waits before the stop flag is looked at again.
const SLICE: Duration = Duration::from_millis(100);

/// Stockfish's static evaluation of every suite position with one net.
#[derive(Debug, Clone)]
pub struct NnueProbe {
    /// The Stockfish program (15.1, whose `eval` prints the NNUE line).
    pub stockfish: PathBuf,
    /// When set, each position is also searched with `go depth N` and the
    /// best moves are compared (`bestmove_agreement`). Off by default: it
    /// costs a search per position.
    pub bestmove_depth: Option<u32>,
    /// Start-up, loading the net and its check.
    pub startup_timeout: Duration,
    /// The longest wait for any one answer (an `eval`, a search).
    pub answer_timeout: Duration,
}

impl NnueProbe {
    /// A probe with the default deadlines and no best-move comparison.
    pub fn new(stockfish: impl Into<PathBuf>) -> NnueProbe {
        NnueProbe {
            stockfish: stockfish.into(),
            bestmove_depth: None,
            startup_timeout: Duration::from_secs(30),
            answer_timeout: Duration::from_secs(30),
        }
    }

    /// A probe with `stockfish` found on `PATH` or in `/usr/games`.
    pub fn find() -> Option<NnueProbe> {
        qarena_engine::command::find_program("stockfish").map(NnueProbe::new)
    }
}

/// One net's answers on a suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NnueEvals {
    /// The net, as given to Stockfish (absolute).
    pub net: PathBuf,
    /// Per position: the NNUE evaluation in centipawns from White's view;
    /// `None` for a position in check (Stockfish does not evaluate it).
    pub cp: Vec<Option<i32>>,
    /// Per position, the best move at the probe's depth, when asked for.
    pub bestmoves: Option<Vec<String>>,
    /// Wall time, engine start included.
    pub seconds: f64,
    /// Time of the `eval` queries alone (engine start and net check left
    /// out).
    #[serde(default)]
    pub eval_seconds: f64,
    /// Stockfish's peak resident memory.
    #[serde(default)]
    pub peak_rss_bytes: Option<u64>,
    /// Stockfish's CPU seconds, start included.
    #[serde(default)]
    pub cpu_seconds: Option<f64>,
}

impl NnueEvals {
    /// Positions without an evaluation (in check).
    pub fn missing(&self) -> usize {
        self.cp.iter().filter(|c| c.is_none()).count()
    }
}

/// What one line of `eval` output says about the NNUE evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalLine {
    /// `NNUE evaluation  +0.28 (white side)`, in centipawns.
    Nnue(i32),
    /// `Final evaluation: none (in check)`.
    InCheck,
}

/// Reads an `eval` output line; `None` for every other line.
pub fn parse_eval_line(line: &str) -> Option<EvalLine> {
    let line = line.trim();
    if line.starts_with("Final evaluation: none") {
        return Some(EvalLine::InCheck);
    }
    let rest = line.strip_prefix("NNUE evaluation")?;
    let pawns: f64 = rest.split_whitespace().next()?.parse().ok()?;
    // Stockfish prints at most a few hundred pawns; anything else is garbage.
    if !pawns.is_finite() || pawns.abs() > 1.0e6 {
        return None;
    }
    Some(EvalLine::Nnue((pawns * 100.0).round() as i32))
}

impl Probe for NnueProbe {
    type Outputs = NnueEvals;

    fn name(&self) -> &'static str {
        "nnue-eval"
    }

    /// Only the best-move depth changes the figures (deadlines do not).
    fn settings(&self) -> serde_json::Value {
        serde_json::json!({ "bestmove_depth": self.bestmove_depth })
    }

    fn evaluate(
        &self,
        model: &Path,
        suite: &Suite,
        stop: &AtomicBool,
    ) -> Result<NnueEvals, ProbeError> {
        let started = Instant::now();
        let Positions::Chess { fens } = suite.positions() else {
            return Err(ProbeError::WrongKind {
                suite: suite.name.clone(),
                suite_kind: suite.game(),
                model: model.display().to_string(),
                model_kind: "chess (NNUE)",
            });
        };
        let net = qarena_engine::command::absolute(model);
        if !net.is_file() {
            return Err(ProbeError::NetRejected {
                net,
                detail: "no such file".to_string(),
            });
        }
        let mut sf = Session::start(self, &net, stop)?;
        let evals_started = Instant::now();
        let cp = sf.evals(fens)?;
        let eval_seconds = evals_started.elapsed().as_secs_f64();
        let bestmoves = match self.bestmove_depth {
            Some(depth) => Some(sf.bestmoves(fens, depth)?),
            None => None,
        };
        let peak_rss_bytes = sf.engine.peak_rss_bytes();
        let cpu_seconds = sf.engine.cpu_seconds();
        sf.engine.shutdown(Some("quit"), Duration::from_millis(500));
        Ok(NnueEvals {
            net,
            cp,
            bestmoves,
            seconds: started.elapsed().as_secs_f64(),
            eval_seconds,
            peak_rss_bytes,
            cpu_seconds,
        })
    }

    /// Static evaluations per second and Stockfish's peak memory.
    fn cost(&self, outputs: &NnueEvals) -> EngineCost {
        EngineCost {
            positions_per_second: (outputs.eval_seconds > 0.0)
                .then(|| outputs.cp.len() as f64 / outputs.eval_seconds),
            cpu_seconds: outputs.cpu_seconds,
            peak_rss_bytes: outputs.peak_rss_bytes,
        }
    }

    fn compare(
        &self,
        reference: &NnueEvals,
        variant: &NnueEvals,
    ) -> Result<Comparison, ProbeError> {
        compare_evals(reference, variant)
    }
}

/// The comparison of two nets' evaluations (see the module docs). Figures:
/// `cp_error_mean`, `_median`, `_p90`, `_p99`, `_max`, `sign_agreement`,
/// `positions_compared`, `positions_missing` and, when both sides searched,
/// `bestmove_agreement`; per position `position` (0-based index in the
/// suite), `cp_error`, `sign_agree`, `reference_cp`, `variant_cp`.
pub fn compare_evals(reference: &NnueEvals, variant: &NnueEvals) -> Result<Comparison, ProbeError> {
    if reference.cp.len() != variant.cp.len() {
        return Err(ProbeError::Mismatch {
            reference: reference.cp.len(),
            variant: variant.cp.len(),
        });
    }
    let mut errors = Vec::new();
    let mut agree = 0usize;
    let mut per_position = Vec::new();
    for (i, pair) in reference.cp.iter().zip(&variant.cp).enumerate() {
        let (Some(r), Some(v)) = pair else { continue };
        let (r, v) = (
            (*r).clamp(-CLAMP_CP, CLAMP_CP),
            (*v).clamp(-CLAMP_CP, CLAMP_CP),
        );
        let err = f64::from((r - v).abs());
        // Zero is "no opinion": it agrees with either side.
        let same = r == 0 || v == 0 || r.signum() == v.signum();
        agree += usize::from(same);
        errors.push(err);
        per_position.push(vec![
            Metric::new("position", i as f64),
            Metric::new("cp_error", err),
            Metric::new("sign_agree", if same { 1.0 } else { 0.0 }),
            Metric::new("reference_cp", f64::from(r)),
            Metric::new("variant_cp", f64::from(v)),
        ]);
    }
    let missing = reference.cp.len() - errors.len();
    let Some(spread) = Spread::of(&errors) else {
        return Err(ProbeError::NothingToCompare {
            why: format!(
                "all {} positions lack an NNUE evaluation (in check)",
                reference.cp.len()
            ),
        });
    };
    let mut metrics = spread.metrics("cp_error");
    metrics.push(Metric::new(
        "sign_agreement",
        agree as f64 / errors.len() as f64,
    ));
    metrics.push(Metric::new("positions_compared", errors.len() as f64));
    metrics.push(Metric::new("positions_missing", missing as f64));
    if let (Some(a), Some(b)) = (&reference.bestmoves, &variant.bestmoves) {
        if a.len() != b.len() {
            return Err(ProbeError::Mismatch {
                reference: a.len(),
                variant: b.len(),
            });
        }
        if !a.is_empty() {
            let same = a.iter().zip(b).filter(|(x, y)| x == y).count();
            metrics.push(Metric::new(
                "bestmove_agreement",
                same as f64 / a.len() as f64,
            ));
        }
    }
    Ok(Comparison {
        primary: "cp_error_mean".to_string(),
        metrics,
        per_position,
    })
}

/// One Stockfish process with one net loaded and checked.
struct Session<'a> {
    engine: Engine,
    label: String,
    net: PathBuf,
    answer_timeout: Duration,
    stop: &'a AtomicBool,
}

impl<'a> Session<'a> {
    /// Starts Stockfish, loads `net` and checks that it is the one in use.
    fn start(
        probe: &NnueProbe,
        net: &Path,
        stop: &'a AtomicBool,
    ) -> Result<Session<'a>, ProbeError> {
        let file = net
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let label = format!("nnue-eval {file}");
        let spec = EngineSpec::new(label.clone(), vec![probe.stockfish.display().to_string()]);
        let engine = Engine::spawn(spec).map_err(|source| ProbeError::Engine {
            label: label.clone(),
            source,
        })?;
        let mut s = Session {
            engine,
            label,
            net: net.to_path_buf(),
            answer_timeout: probe.answer_timeout,
            stop,
        };
        let startup = Instant::now() + probe.startup_timeout;
        s.send("uci")?;
        while !matches!(parse_line(&s.read_line(startup, "uci")?), Message::UciOk) {}
        let path = net.display().to_string();
        s.send("setoption name Threads value 1")?;
        s.send("setoption name Hash value 16")?;
        s.send(&qarena_uci::format_setoption("EvalFile", Some(&path)))?;
        s.send("isready")?;
        while !matches!(
            parse_line(&s.read_line(startup, "isready")?),
            Message::ReadyOk
        ) {}
        s.check_net(&path, Instant::now() + probe.startup_timeout)?;
        Ok(s)
    }

    /// `go nodes 1` and the verdict of the `info string` lines.
    fn check_net(&mut self, requested: &str, deadline: Instant) -> Result<(), ProbeError> {
        self.send("position startpos")?;
        self.send("go nodes 1")?;
        let mut strings = Vec::new();
        let mut ended = None;
        loop {
            match self.read_line(deadline, "go nodes 1 (network check)") {
                Ok(line) => match parse_line(&line) {
                    Message::Info(Info {
                        string: Some(s), ..
                    }) => strings.push(s),
                    Message::BestMove { .. } => break,
                    _ => {}
                },
                // Stockfish exits after printing its errors: judge them.
                Err(ProbeError::Engine {
                    source: e @ EngineError::Exited { .. },
                    ..
                }) => {
                    ended = Some(e);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        let mut detail = match classify_info_strings(&strings) {
            NetLoad::Enabled { path } if path == requested => return Ok(()),
            NetLoad::Enabled { path } => format!("Stockfish evaluates with `{path}` instead"),
            NetLoad::Error { lines } => {
                format!("Stockfish refused it:\n  {}", lines.join("\n  "))
            }
            NetLoad::Unknown => format!(
                "Stockfish never confirmed loading it (no `NNUE evaluation using … enabled` \
                 line after `go nodes 1`){}",
                if strings.is_empty() {
                    String::new()
                } else {
                    format!("; its info strings: {}", strings.join(" | "))
                }
            ),
        };
        if let Some(e) = ended {
            detail.push_str(&format!(" ({e})"));
        }
        Err(ProbeError::NetRejected {
            net: self.net.clone(),
            detail,
        })
    }

    /// The NNUE evaluation of every position, pipelined (module docs).
    fn evals(&mut self, fens: &[String]) -> Result<Vec<Option<i32>>, ProbeError> {
        let mut out = Vec::with_capacity(fens.len());
        let mut sent = 0;
        let mut current: Option<Option<i32>> = None;
        let mut deadline = Instant::now() + self.answer_timeout;
        while out.len() < fens.len() {
            while sent < fens.len() && sent - out.len() < WINDOW {
                self.send(&qarena_uci::format_position(Some(&fens[sent]), &[]))?;
                self.send("eval")?;
                self.send("isready")?;
                sent += 1;
            }
            let line = self.read_line(deadline, "eval")?;
            match parse_eval_line(&line) {
                Some(EvalLine::Nnue(cp)) => current = Some(Some(cp)),
                Some(EvalLine::InCheck) => current = Some(None),
                None if line.trim() == "readyok" => {
                    let Some(answer) = current.take() else {
                        return Err(ProbeError::BadAnswer {
                            label: self.label.clone(),
                            position: out.len() + 1,
                            why: "`eval` printed no `NNUE evaluation` line".to_string(),
                        });
                    };
                    out.push(answer);
                    deadline = Instant::now() + self.answer_timeout;
                }
                None => {}
            }
        }
        Ok(out)
    }

    /// The best move of every position at `depth`, each search from a
    /// cleared hash so the answer does not depend on the order.
    fn bestmoves(&mut self, fens: &[String], depth: u32) -> Result<Vec<String>, ProbeError> {
        let go = format!("go depth {depth}");
        let mut out = Vec::with_capacity(fens.len());
        for fen in fens {
            self.send("ucinewgame")?;
            self.send(&qarena_uci::format_position(Some(fen), &[]))?;
            self.send(&go)?;
            let deadline = Instant::now() + self.answer_timeout;
            loop {
                if let Message::BestMove { mv, .. } = parse_line(&self.read_line(deadline, &go)?) {
                    out.push(mv);
                    break;
                }
            }
        }
        Ok(out)
    }

    fn send(&mut self, line: &str) -> Result<(), ProbeError> {
        if self.stop.load(Ordering::SeqCst) {
            return Err(ProbeError::Interrupted);
        }
        self.engine
            .write_line(line)
            .map_err(|source| ProbeError::Engine {
                label: self.label.clone(),
                source,
            })
    }

    /// One line, waking every [`SLICE`] to honour the stop flag.
    fn read_line(&mut self, deadline: Instant, what: &str) -> Result<String, ProbeError> {
        let called = Instant::now();
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return Err(ProbeError::Interrupted);
            }
            let slice = (Instant::now() + SLICE).min(deadline);
            match self.engine.read_line(slice, what) {
                Ok(line) => return Ok(line),
                Err(EngineError::Timeout { .. }) if Instant::now() < deadline => {}
                Err(EngineError::Timeout {
                    label,
                    program,
                    what,
                    ..
                }) => {
                    return Err(ProbeError::Engine {
                        label: self.label.clone(),
                        source: EngineError::Timeout {
                            label,
                            program,
                            waited: called.elapsed(),
                            what,
                        },
                    })
                }
                Err(source) => {
                    return Err(ProbeError::Engine {
                        label: self.label.clone(),
                        source,
                    })
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evals(cp: &[Option<i32>]) -> NnueEvals {
        NnueEvals {
            net: PathBuf::from("/n.nnue"),
            cp: cp.to_vec(),
            bestmoves: None,
            seconds: 0.0,
            eval_seconds: 0.0,
            peak_rss_bytes: None,
            cpu_seconds: None,
        }
    }

    #[test]
    fn eval_lines_are_read_in_centipawns_from_whites_view() {
        assert_eq!(
            parse_eval_line("NNUE evaluation        +0.14 (white side)"),
            Some(EvalLine::Nnue(14))
        );
        assert_eq!(
            parse_eval_line("NNUE evaluation        -12.35 (white side)"),
            Some(EvalLine::Nnue(-1235))
        );
        assert_eq!(
            parse_eval_line("Final evaluation: none (in check)"),
            Some(EvalLine::InCheck)
        );
        for other in [
            "info string NNUE evaluation using nn-ad9b42354671.nnue enabled",
            " NNUE network contributions (Black to move)",
            "Classical evaluation   +0.58 (white side)",
            "Final evaluation       +0.18 (white side) [with scaled NNUE, hybrid, ...]",
            "NNUE evaluation",
            "NNUE evaluation nan (white side)",
            "",
        ] {
            assert_eq!(parse_eval_line(other), None, "{other}");
        }
    }

    #[test]
    fn comparison_clamps_skips_missing_and_counts_sign_agreement() {
        let r = evals(&[Some(100), Some(3000), None, Some(0), Some(-50)]);
        let v = evals(&[Some(90), Some(2500), None, Some(-40), Some(20)]);
        let c = compare_evals(&r, &v).unwrap();
        assert_eq!(c.primary, "cp_error_mean");
        let m = |n: &str| crate::metric(&c.metrics, n).unwrap();
        // Errors 10, 0 (both clamped to 2000), 40, 70.
        assert_eq!(m("cp_error_mean"), 30.0);
        assert_eq!(m("cp_error_max"), 70.0);
        assert_eq!(m("cp_error_p99"), 70.0);
        assert_eq!(m("sign_agreement"), 0.75);
        assert_eq!(m("positions_compared"), 4.0);
        assert_eq!(m("positions_missing"), 1.0);
        assert_eq!(crate::metric(&c.metrics, "bestmove_agreement"), None);
        assert_eq!(c.per_position.len(), 4);
        assert_eq!(crate::metric(&c.per_position[2], "position"), Some(3.0));

        let same = compare_evals(&r, &r).unwrap();
        assert_eq!(same.primary_value(), Some(0.0));
        assert_eq!(crate::metric(&same.metrics, "sign_agreement"), Some(1.0));
    }

    #[test]
    fn comparison_needs_the_same_positions_and_one_evaluation() {
        let e = compare_evals(&evals(&[Some(1)]), &evals(&[Some(1), Some(2)])).unwrap_err();
        assert!(matches!(e, ProbeError::Mismatch { .. }), "{e}");
        let e = compare_evals(&evals(&[None]), &evals(&[None])).unwrap_err();
        assert!(e.to_string().contains("in check"), "{e}");
    }

    #[test]
    fn bestmove_agreement_is_reported_when_both_searched() {
        let mut r = evals(&[Some(1), Some(2)]);
        let mut v = r.clone();
        r.bestmoves = Some(vec!["e2e4".into(), "d2d4".into()]);
        v.bestmoves = Some(vec!["e2e4".into(), "c2c4".into()]);
        let c = compare_evals(&r, &v).unwrap();
        assert_eq!(crate::metric(&c.metrics, "bestmove_agreement"), Some(0.5));
    }
}
