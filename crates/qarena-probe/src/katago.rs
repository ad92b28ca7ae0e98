//! The `katago-raw-nn` probe: one raw evaluation of a KataGo network per
//! position (GTP `kata-raw-nn`, no search), variant against reference.
//!
//! **Evaluation.** One `katago gtp -model M -config C` process per network.
//! It is sent `boardsize`, `komi` and `kata-set-rules` from the suite, then
//! for every position `clear_board`, the `play` commands (Black first,
//! colours alternating) and `kata-raw-nn S`. Commands are pipelined: they
//! are written ahead of their answers, with at most [`WINDOW_LINES`] lines
//! of answers outstanding, so neither the engine nor the harness ever
//! blocks on a full pipe. Every wait has a deadline ([`ProbeTimeouts`]) and
//! checks the stop flag every 100 ms (pass the flag from
//! [`qarena_engine::install_shutdown_flag`] to stop on Ctrl-C); an error
//! names the position (0-based index in the suite).
//!
//! **Outputs** ([`RawNn`]): the policy over the board (`NaN` where the move
//! is illegal) and for passing, and the value head's winrate and score
//! lead. `kata-raw-nn` prints the values from White's view; they are
//! stored from the view of the side to move (as `kata-analyze` reports
//! them): winrate = `whiteWin` when White is to move and `whiteLoss` when
//! Black is, lead = ±`whiteLead`. The differences compared below are the
//! same in either view.
//!
//! **Comparison** (per position, then over the suite):
//! - `kl`: KL(reference ‖ variant) in nats over the legal moves plus pass.
//!   `kata-raw-nn` prints probabilities with 6 decimals, so a printed zero
//!   only says "below 5e-7": each probability is floored at
//!   [`PROB_FLOOR`] = 5e-7 and each distribution renormalised before the
//!   KL. The floor limits resolution to about 1e-3 nats (INT8 and FP16
//!   level); a network against itself gives exactly 0.
//! - `top1`: 1 when both policies' argmax (first on ties) is the same move.
//! - `top5_overlap`: |top-5 ∩ top-5| / 5 (over fewer when fewer moves are
//!   legal).
//! - `dwinrate`, `dlead`: |Δ winrate| and |Δ score lead| in points.
//!
//! Suite figures: `kl_mean`, `kl_median`, `kl_p90`, `kl_p99`, `kl_max`,
//! `top1_agreement`, `top5_overlap`, `dwinrate_mean`, `dwinrate_max`,
//! `dlead_mean`, `dlead_max`; the primary figure is `kl_mean`.
//!
//! **Noise floor.** The reference under other board symmetries compared
//! with the probe's own symmetry, averaged over the symmetries, all in one
//! engine process. By default only symmetry 1: on g170-b6c96 and the
//! default 9×9 suite it gives `kl_mean` 0.090 against 0.091 for the mean
//! over symmetries 1..=7 (single symmetries range 0.083–0.104), in 1.1 s
//! instead of 3.5 s. One symmetry flip moves the raw policy about as much
//! as a good INT4 variant does.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use qarena_engine::EngineSpec;
use qarena_go::{format_vertex, Color, Move, Point};

use crate::error::ProbeError;
use crate::gtp::Conversation;
use crate::report::{Comparison, EngineCost, Metric, Spread};
use crate::suite::{Positions, Suite};
use crate::Probe;

/// Probabilities below this print as 0.000000; see the module docs.
pub const PROB_FLOOR: f64 = 5e-7;

/// Most answer lines in flight: half the engine handle's stdout queue.
pub const WINDOW_LINES: usize = 512;

/// How long the probe waits for the engine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeTimeouts {
    /// From start to the answer of the first command (loading the net).
    pub startup: Duration,
    /// For each later answer, counted from when it is awaited.
    pub answer: Duration,
}

impl Default for ProbeTimeouts {
    fn default() -> ProbeTimeouts {
        ProbeTimeouts {
            startup: Duration::from_secs(120),
            answer: Duration::from_secs(30),
        }
    }
}

/// The raw-network probe for KataGo nets.
#[derive(Debug, Clone, PartialEq)]
pub struct KataGoProbe {
    /// The `katago` binary.
    pub katago: PathBuf,
    /// A GTP config (`gtp.cfg`).
    pub config: PathBuf,
    /// The board symmetry (0..=7) every evaluation uses.
    pub symmetry: u8,
    /// The symmetries compared with `symmetry` for the noise floor.
    pub noise_symmetries: Vec<u8>,
    pub timeouts: ProbeTimeouts,
    /// Optional transcript of every engine's stdin/stdout/stderr.
    pub transcript: Option<PathBuf>,
}

/// One position as the network saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct RawNn {
    pub to_move: Color,
    /// Row-major from the top-left point (A9 on 9×9); `NaN` = illegal.
    pub policy: Vec<f64>,
    pub pass: f64,
    /// The side to move's win probability.
    pub winrate: f64,
    /// The side to move's expected score lead, in points.
    pub lead: f64,
}

impl RawNn {
    /// The policy over the legal moves, pass last.
    pub fn legal_policy(&self, board_size: u8) -> Vec<(Move, f64)> {
        let n = usize::from(board_size);
        let mut out: Vec<(Move, f64)> = self
            .policy
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.is_nan())
            .map(|(i, &p)| {
                let point = Point::new((i % n) as u8, (i / n) as u8);
                (Move::Play(point), p)
            })
            .collect();
        out.push((Move::Pass, self.pass));
        out
    }
}

/// One network's raw outputs on every position of a suite.
#[derive(Debug, Clone, PartialEq)]
pub struct RawNnOutputs {
    pub board_size: u8,
    pub symmetry: u8,
    pub positions: Vec<RawNn>,
    /// Wall time of the whole evaluation, engine start included (shared
    /// by the outputs of one process).
    pub seconds: f64,
    /// From the first to the last answer about a position: the engine's
    /// own time for the queries.
    pub answer_seconds: f64,
    /// The engine's peak resident memory (shared by the outputs of one
    /// process).
    pub peak_rss_bytes: Option<u64>,
    /// The engine's CPU seconds, start included (shared likewise).
    pub cpu_seconds: Option<f64>,
}

impl KataGoProbe {
    /// A probe at symmetry 0 with symmetry 1 as the noise floor.
    pub fn new(katago: impl Into<PathBuf>, config: impl Into<PathBuf>) -> KataGoProbe {
        KataGoProbe {
            katago: katago.into(),
            config: config.into(),
            symmetry: 0,
            noise_symmetries: vec![1],
            timeouts: ProbeTimeouts::default(),
            transcript: None,
        }
    }

    /// Evaluates `model` under each of `symmetries` in one engine process
    /// (the outputs in the same order).
    pub fn evaluate_symmetries(
        &self,
        model: &Path,
        suite: &Suite,
        symmetries: &[u8],
        stop: &AtomicBool,
    ) -> Result<Vec<RawNnOutputs>, ProbeError> {
        let started = Instant::now();
        let Positions::Go { setup, lines } = suite.positions() else {
            return Err(ProbeError::WrongKind {
                suite: suite.name.clone(),
                suite_kind: suite.game(),
                model: model.display().to_string(),
                model_kind: "go",
            });
        };
        if let Some(bad) = symmetries.iter().find(|&&s| s > 7) {
            return Err(ProbeError::Setup(format!(
                "symmetry {bad} does not exist: KataGo's symmetries are 0..=7"
            )));
        }
        let size = setup.board_size;
        let cells = usize::from(size) * usize::from(size);
        let raw_lines = 2 * usize::from(size) + 16;
        let mut spec = EngineSpec::new(
            format!("probe-{}", file_label(model)),
            vec![
                self.katago.display().to_string(),
                "gtp".to_string(),
                "-model".to_string(),
                model.display().to_string(),
                "-config".to_string(),
                self.config.display().to_string(),
            ],
        );
        spec.transcript = self.transcript.clone();
        let mut conv: Conversation<'_, Option<usize>> = Conversation::start(spec, stop)?;
        conv.call(&format!("boardsize {size}"), None, self.timeouts.startup)?;
        conv.call(&format!("komi {}", setup.komi), None, self.timeouts.answer)?;
        conv.call(
            &format!("kata-set-rules {}", setup.rules),
            None,
            self.timeouts.answer,
        )?;

        let mut outs: Vec<RawNnOutputs> = symmetries
            .iter()
            .map(|&symmetry| RawNnOutputs {
                board_size: size,
                symmetry,
                positions: Vec::with_capacity(lines.len()),
                seconds: 0.0,
                answer_seconds: 0.0,
                peak_rss_bytes: None,
                cpu_seconds: None,
            })
            .collect();
        let mut first_answer: Option<Instant> = None;
        let mut last_answer = Instant::now();
        let mut take = |conv: &mut Conversation<'_, Option<usize>>| -> Result<(), ProbeError> {
            let (sent, resp) = conv.recv(self.timeouts.answer)?;
            let now = Instant::now();
            first_answer.get_or_insert(now);
            last_answer = now;
            if !resp.success {
                return Err(conv.bad(
                    &sent,
                    format!("`{}` was refused: ? {}", sent.command, resp.text),
                ));
            }
            let Some(k) = sent.tag else {
                return Ok(());
            };
            let position = sent.position.unwrap_or(0);
            let reply = parse_raw_nn(&resp.text, size).map_err(|why| conv.bad(&sent, why))?;
            if reply.symmetry != Some(symmetries[k]) {
                return Err(conv.bad(
                    &sent,
                    format!(
                        "asked for symmetry {} but the answer is for {:?}",
                        symmetries[k], reply.symmetry
                    ),
                ));
            }
            let to_move = color_after(lines[position].len());
            let (winrate, lead) = match to_move {
                Color::White => (reply.white_win, reply.white_lead),
                Color::Black => (reply.white_loss, -reply.white_lead),
            };
            debug_assert_eq!(reply.policy.len(), cells);
            outs[k].positions.push(RawNn {
                to_move,
                policy: reply.policy,
                pass: reply.pass,
                winrate,
                lead,
            });
            Ok(())
        };

        for (i, moves) in lines.iter().enumerate() {
            let need = 2 * (moves.len() + 1) + raw_lines * symmetries.len();
            while conv.has_pending() && conv.pending_lines() + need > WINDOW_LINES {
                take(&mut conv)?;
            }
            conv.send("clear_board", Some(i), None, 2)?;
            for (j, mv) in moves.iter().enumerate() {
                let colour = if j.is_multiple_of(2) { 'b' } else { 'w' };
                let command = format!("play {colour} {}", format_vertex(*mv, size));
                conv.send(&command, Some(i), None, 2)?;
            }
            for (k, s) in symmetries.iter().enumerate() {
                conv.send(&format!("kata-raw-nn {s}"), Some(i), Some(k), raw_lines)?;
            }
        }
        while conv.has_pending() {
            take(&mut conv)?;
        }
        let (peak_rss_bytes, cpu_seconds) = conv.finish();
        let seconds = started.elapsed().as_secs_f64();
        let answer_seconds = first_answer
            .map(|f| last_answer.duration_since(f).as_secs_f64())
            .unwrap_or(0.0);
        for out in &mut outs {
            out.seconds = seconds;
            out.answer_seconds = answer_seconds;
            out.peak_rss_bytes = peak_rss_bytes;
            out.cpu_seconds = cpu_seconds;
        }
        Ok(outs)
    }
}

impl Probe for KataGoProbe {
    type Outputs = RawNnOutputs;

    fn name(&self) -> &'static str {
        "katago-raw-nn"
    }

    /// The symmetries change the figures; the engine binary and config
    /// only the speed (the suite sets board, komi and rules).
    fn settings(&self) -> serde_json::Value {
        serde_json::json!({
            "symmetry": self.symmetry,
            "noise_symmetries": self.noise_symmetries,
        })
    }

    fn evaluate(
        &self,
        model: &Path,
        suite: &Suite,
        stop: &AtomicBool,
    ) -> Result<RawNnOutputs, ProbeError> {
        let mut outs = self.evaluate_symmetries(model, suite, &[self.symmetry], stop)?;
        outs.pop()
            .ok_or_else(|| ProbeError::Setup("the evaluation returned no outputs".to_string()))
    }

    fn compare(
        &self,
        reference: &RawNnOutputs,
        variant: &RawNnOutputs,
    ) -> Result<Comparison, ProbeError> {
        compare_outputs(reference, variant)
    }

    /// Positions per second over the queries (engine start left out), the
    /// engine's CPU seconds and its peak memory.
    fn cost(&self, outputs: &RawNnOutputs) -> EngineCost {
        EngineCost {
            positions_per_second: (outputs.answer_seconds > 0.0)
                .then(|| outputs.positions.len() as f64 / outputs.answer_seconds),
            cpu_seconds: outputs.cpu_seconds,
            peak_rss_bytes: outputs.peak_rss_bytes,
        }
    }

    fn noise_floor(
        &self,
        reference: &Path,
        suite: &Suite,
        stop: &AtomicBool,
    ) -> Result<Option<Comparison>, ProbeError> {
        let mut symmetries = vec![self.symmetry];
        symmetries.extend(
            self.noise_symmetries
                .iter()
                .copied()
                .filter(|&s| s != self.symmetry),
        );
        if symmetries.len() < 2 {
            return Ok(None);
        }
        let outs = self.evaluate_symmetries(reference, suite, &symmetries, stop)?;
        let comparisons = outs[1..]
            .iter()
            .map(|o| compare_outputs(&outs[0], o))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(average(&comparisons)))
    }
}

/// The per-position figures of one comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PositionDiff {
    kl: f64,
    top1: f64,
    top5: f64,
    dwinrate: f64,
    dlead: f64,
    /// KL of the variant's win/loss from the reference's, as a
    /// two-outcome distribution.
    value_kl: f64,
}

/// KL(p ‖ q) of two-outcome distributions, the probabilities kept off 0
/// and 1 by 1e-6.
fn binary_kl(p: f64, q: f64) -> f64 {
    let c = |x: f64| x.clamp(1e-6, 1.0 - 1e-6);
    let (p, q) = (c(p), c(q));
    p * (p / q).ln() + (1.0 - p) * ((1.0 - p) / (1.0 - q)).ln()
}

/// Compares a variant's raw outputs with the reference's.
pub fn compare_outputs(
    reference: &RawNnOutputs,
    variant: &RawNnOutputs,
) -> Result<Comparison, ProbeError> {
    if reference.positions.len() != variant.positions.len()
        || reference.board_size != variant.board_size
    {
        return Err(ProbeError::Mismatch {
            reference: reference.positions.len(),
            variant: variant.positions.len(),
        });
    }
    let diffs = reference
        .positions
        .iter()
        .zip(&variant.positions)
        .enumerate()
        .map(|(i, (r, v))| position_diff(i, r, v))
        .collect::<Result<Vec<_>, _>>()?;
    let n = diffs.len().max(1) as f64;
    let column = |f: fn(&PositionDiff) -> f64| diffs.iter().map(f).collect::<Vec<f64>>();
    let kl = column(|d| d.kl);
    let dwinrate = column(|d| d.dwinrate);
    let dlead = column(|d| d.dlead);
    let mut metrics = match Spread::of(&kl) {
        Some(s) => s.metrics("kl"),
        None => Spread {
            mean: 0.0,
            median: 0.0,
            p90: 0.0,
            p99: 0.0,
            max: 0.0,
        }
        .metrics("kl"),
    };
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / n;
    let max = |xs: &[f64]| xs.iter().copied().fold(0.0, f64::max);
    metrics.push(Metric::new("top1_agreement", mean(&column(|d| d.top1))));
    metrics.push(Metric::new("top5_overlap", mean(&column(|d| d.top5))));
    metrics.push(Metric::new("dwinrate_mean", mean(&dwinrate)));
    metrics.push(Metric::new("dwinrate_max", max(&dwinrate)));
    metrics.push(Metric::new("dlead_mean", mean(&dlead)));
    metrics.push(Metric::new("dlead_max", max(&dlead)));
    metrics.push(Metric::new("value_kl_mean", mean(&column(|d| d.value_kl))));
    let per_position = diffs
        .iter()
        .map(|d| {
            vec![
                Metric::new("kl", d.kl),
                Metric::new("top1", d.top1),
                Metric::new("top5_overlap", d.top5),
                Metric::new("dwinrate", d.dwinrate),
                Metric::new("dlead", d.dlead),
                Metric::new("value_kl", d.value_kl),
            ]
        })
        .collect();
    Ok(Comparison {
        primary: "kl_mean".to_string(),
        metrics,
        per_position,
    })
}

fn position_diff(i: usize, r: &RawNn, v: &RawNn) -> Result<PositionDiff, ProbeError> {
    let mismatch = |why: String| ProbeError::BadAnswer {
        label: "comparison".to_string(),
        position: i,
        why,
    };
    if r.policy.len() != v.policy.len() {
        return Err(mismatch(format!(
            "policies of {} and {} points",
            r.policy.len(),
            v.policy.len()
        )));
    }
    let mut p = Vec::with_capacity(r.policy.len() + 1);
    let mut q = Vec::with_capacity(r.policy.len() + 1);
    for (k, (&a, &b)) in r.policy.iter().zip(&v.policy).enumerate() {
        match (a.is_nan(), b.is_nan()) {
            (true, true) => {}
            (false, false) => {
                p.push(a);
                q.push(b);
            }
            _ => {
                return Err(mismatch(format!(
                    "the two networks disagree on whether point {k} is legal"
                )))
            }
        }
    }
    p.push(r.pass);
    q.push(v.pass);
    let p = floored(&p);
    let q = floored(&q);
    let kl = p
        .iter()
        .zip(&q)
        .map(|(&a, &b)| a * (a / b).ln())
        .sum::<f64>()
        .max(0.0);
    let top1 = if argmax(&p) == argmax(&q) { 1.0 } else { 0.0 };
    let (tp, tq) = (top_k(&p, 5), top_k(&q, 5));
    let shared = tp.iter().filter(|i| tq.contains(i)).count();
    let top5 = shared as f64 / tp.len().max(1) as f64;
    Ok(PositionDiff {
        kl,
        top1,
        top5,
        dwinrate: (r.winrate - v.winrate).abs(),
        dlead: (r.lead - v.lead).abs(),
        value_kl: binary_kl(r.winrate, v.winrate),
    })
}

/// Floors every probability at [`PROB_FLOOR`] and renormalises.
fn floored(xs: &[f64]) -> Vec<f64> {
    let v: Vec<f64> = xs.iter().map(|&x| x.max(PROB_FLOOR)).collect();
    let sum: f64 = v.iter().sum();
    v.iter().map(|x| x / sum).collect()
}

/// The index of the largest value (the first on ties).
fn argmax(xs: &[f64]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, &x) in xs.iter().enumerate() {
        if best.is_none_or(|b| x > xs[b]) {
            best = Some(i);
        }
    }
    best
}

/// The indices of the `k` largest values (earlier index first on ties).
fn top_k(xs: &[f64], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..xs.len()).collect();
    idx.sort_by(|&a, &b| xs[b].total_cmp(&xs[a]).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}

/// The mean of comparisons with the same figures (e.g. over symmetries).
fn average(comparisons: &[Comparison]) -> Comparison {
    let n = comparisons.len().max(1) as f64;
    let mean_of = |rows: Vec<&Vec<Metric>>| -> Vec<Metric> {
        let Some(first) = rows.first() else {
            return Vec::new();
        };
        first
            .iter()
            .enumerate()
            .map(|(j, m)| {
                let sum: f64 = rows.iter().filter_map(|r| r.get(j)).map(|x| x.value).sum();
                Metric::new(&m.name, sum / n)
            })
            .collect()
    };
    let Some(first) = comparisons.first() else {
        return Comparison {
            primary: "kl_mean".to_string(),
            metrics: Vec::new(),
            per_position: Vec::new(),
        };
    };
    let metrics = mean_of(comparisons.iter().map(|c| &c.metrics).collect());
    let per_position = (0..first.per_position.len())
        .map(|i| {
            mean_of(
                comparisons
                    .iter()
                    .filter_map(|c| c.per_position.get(i))
                    .collect(),
            )
        })
        .collect();
    Comparison {
        primary: first.primary.clone(),
        metrics,
        per_position,
    }
}

/// Who is to move after `moves` moves from the empty board.
fn color_after(moves: usize) -> Color {
    if moves.is_multiple_of(2) {
        Color::Black
    } else {
        Color::White
    }
}

fn file_label(model: &Path) -> String {
    model
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".to_string())
}

/// What `kata-raw-nn` printed, White's view.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawNnReply {
    pub symmetry: Option<u8>,
    pub white_win: f64,
    pub white_loss: f64,
    pub white_lead: f64,
    pub policy: Vec<f64>,
    pub pass: f64,
}

/// Reads a `kata-raw-nn S` answer on a `size`×`size` board.
pub(crate) fn parse_raw_nn(text: &str, size: u8) -> Result<RawNnReply, String> {
    let n = usize::from(size);
    let mut symmetry = None;
    let mut white_win = None;
    let mut white_loss = None;
    let mut white_lead = None;
    let mut pass = None;
    let mut policy: Option<Vec<f64>> = None;
    let mut lines = text.lines();
    let number = |key: &str, value: Option<&str>| -> Result<f64, String> {
        value
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|x| x.is_finite())
            .ok_or_else(|| format!("`{key}` has no number: `{}`", value.unwrap_or("")))
    };
    while let Some(line) = lines.next() {
        let mut words = line.split_whitespace();
        let Some(key) = words.next() else { continue };
        let value = words.next();
        match key {
            "symmetry" => {
                symmetry = Some(
                    value
                        .and_then(|v| v.parse::<u8>().ok())
                        .ok_or_else(|| format!("bad symmetry line `{line}`"))?,
                )
            }
            "whiteWin" => white_win = Some(number(key, value)?),
            "whiteLoss" => white_loss = Some(number(key, value)?),
            "whiteLead" => white_lead = Some(number(key, value)?),
            "policyPass" => pass = Some(number(key, value)?),
            "policy" => {
                let mut grid = Vec::with_capacity(n * n);
                for row in 0..n {
                    let Some(row_line) = lines.next() else {
                        return Err(format!("the policy ends after {row} of {n} rows"));
                    };
                    let before = grid.len();
                    for word in row_line.split_whitespace() {
                        if word.eq_ignore_ascii_case("nan") {
                            grid.push(f64::NAN);
                            continue;
                        }
                        match word.parse::<f64>() {
                            Ok(p) if p.is_finite() && (0.0..=1.0).contains(&p) => grid.push(p),
                            _ => {
                                return Err(format!(
                                    "policy row {row}: `{word}` is not a probability"
                                ))
                            }
                        }
                    }
                    if grid.len() - before != n {
                        return Err(format!(
                            "policy row {row} has {} values, expected {n}",
                            grid.len() - before
                        ));
                    }
                }
                policy = Some(grid);
            }
            // The ownership map and the rest are not used.
            "whiteOwnership" => break,
            _ => {}
        }
    }
    let missing = |what: &str| format!("no `{what}` in the answer");
    let pass = pass.ok_or_else(|| missing("policyPass"))?;
    if !(0.0..=1.0).contains(&pass) {
        return Err(format!("policyPass {pass} is not a probability"));
    }
    Ok(RawNnReply {
        symmetry,
        white_win: white_win.ok_or_else(|| missing("whiteWin"))?,
        white_loss: white_loss.ok_or_else(|| missing("whiteLoss"))?,
        white_lead: white_lead.ok_or_else(|| missing("whiteLead"))?,
        policy: policy.ok_or_else(|| missing("policy"))?,
        pass,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real answer (KataGo 1.17.2, g170-b6c96, 9×9).
    const ANSWER: &str = "symmetry 0
whiteWin 0.461918
whiteLoss 0.538082
noResult 0.000000
whiteLead -0.810
whiteScoreSelfplay -0.911
whiteScoreSelfplaySq 155.393
varTimeLeft -1.000
shorttermWinlossError -1.000
shorttermScoreError -1.000
policy
0.000023 0.000029 0.000026 0.000032 0.000037 0.000031 0.000025 0.000030 0.000026 
0.000038 0.000063 0.000049 0.000070 0.000119 0.000083 0.000063 0.000041 0.000038 
0.000042 0.000070 0.000886 0.030355 0.009727 0.035903 0.001760 0.000064 0.000032 
0.000029 0.000750 0.263420 0.120659 0.000504 0.004859 0.046487 0.000120 0.000041 
0.000030 0.000082 0.415014 0.000736     NAN 0.000211 0.008653 0.000152 0.000044 
0.000023 0.000057     NAN     NAN 0.000034 0.000490 0.003786 0.000068 0.000039 
0.000025 0.000026     NAN 0.049769 0.000524 0.001712 0.000242 0.000048 0.000029 
0.000031 0.000023 0.000068 0.000248 0.000779 0.000115 0.000052 0.000035 0.000031 
0.000024 0.000024 0.000019 0.000039 0.000049 0.000046 0.000025 0.000029 0.000027 
policyPass 0.000009 
whiteOwnership
-0.0590809 -0.1563940 -0.2273947 -0.1396986 -0.1989958 -0.1849445 -0.1598158 -0.1604216 -0.1084937";

    fn raw(policy: Vec<f64>, pass: f64, winrate: f64) -> RawNn {
        RawNn {
            to_move: Color::Black,
            policy,
            pass,
            winrate,
            lead: 0.0,
        }
    }

    fn outputs(positions: Vec<RawNn>) -> RawNnOutputs {
        RawNnOutputs {
            board_size: 2,
            symmetry: 0,
            positions,
            seconds: 0.0,
            answer_seconds: 0.0,
            peak_rss_bytes: None,
            cpu_seconds: None,
        }
    }

    #[test]
    fn reads_a_real_answer() {
        let r = parse_raw_nn(ANSWER, 9).unwrap();
        assert_eq!(r.symmetry, Some(0));
        assert_eq!(r.white_win, 0.461918);
        assert_eq!(r.white_lead, -0.810);
        assert_eq!(r.pass, 0.000009);
        assert_eq!(r.policy.len(), 81);
        // E5 (row 4 from the top, column 4) and C3 are occupied.
        assert!(r.policy[4 * 9 + 4].is_nan());
        assert!(r.policy[6 * 9 + 2].is_nan());
        assert_eq!(r.policy[4 * 9 + 2], 0.415014);
        let legal = RawNn {
            to_move: Color::Black,
            policy: r.policy,
            pass: r.pass,
            winrate: 0.0,
            lead: 0.0,
        }
        .legal_policy(9);
        assert_eq!(legal.len(), 81 - 4 + 1);
        assert_eq!(legal[legal.len() - 1], (Move::Pass, 0.000009));
    }

    #[test]
    fn rejects_broken_answers() {
        let cut: String = ANSWER.lines().take(14).collect::<Vec<_>>().join("\n");
        assert!(parse_raw_nn(&cut, 9).unwrap_err().contains("rows"));
        let bad = ANSWER.replace("0.415014", "1.5");
        assert!(parse_raw_nn(&bad, 9).unwrap_err().contains("1.5"));
        let short = ANSWER.replace("0.000019 0.000039", "0.000019");
        assert!(parse_raw_nn(&short, 9).unwrap_err().contains("8 values"));
        let nowin = ANSWER.replace("whiteWin 0.461918\n", "");
        assert!(parse_raw_nn(&nowin, 9).unwrap_err().contains("whiteWin"));
    }

    #[test]
    fn identical_outputs_compare_as_zero() {
        let a = outputs(vec![raw(vec![0.5, f64::NAN, 0.3, 0.0], 0.2, 0.6)]);
        let c = compare_outputs(&a, &a).unwrap();
        assert_eq!(c.primary_value(), Some(0.0));
        assert_eq!(crate::metric(&c.metrics, "top1_agreement"), Some(1.0));
        assert_eq!(crate::metric(&c.metrics, "top5_overlap"), Some(1.0));
        assert_eq!(crate::metric(&c.metrics, "dwinrate_max"), Some(0.0));
        assert_eq!(c.per_position.len(), 1);
    }

    #[test]
    fn kl_floors_printed_zeros_and_renormalises() {
        let a = outputs(vec![raw(vec![0.5, f64::NAN, 0.5, 0.0], 0.0, 0.6)]);
        let b = outputs(vec![raw(vec![0.25, f64::NAN, 0.75, 0.0], 0.0, 0.5)]);
        let c = compare_outputs(&a, &b).unwrap();
        let f = |x: f64| x.max(PROB_FLOOR);
        let (sa, sb) = (1.0 + 2.0 * PROB_FLOOR, 1.0 + 2.0 * PROB_FLOOR);
        let p = [f(0.5) / sa, f(0.5) / sa, PROB_FLOOR / sa, PROB_FLOOR / sa];
        let q = [f(0.25) / sb, f(0.75) / sb, PROB_FLOOR / sb, PROB_FLOOR / sb];
        let want: f64 = p.iter().zip(&q).map(|(a, b)| a * (a / b).ln()).sum();
        let kl = c.primary_value().unwrap();
        assert!((kl - want).abs() < 1e-12, "{kl} vs {want}");
        assert_eq!(crate::metric(&c.metrics, "top1_agreement"), Some(0.0));
        assert!((crate::metric(&c.metrics, "dwinrate_mean").unwrap() - 0.1).abs() < 1e-12);
        // Legality must agree.
        let d = outputs(vec![raw(vec![0.5, 0.1, 0.4, 0.0], 0.0, 0.6)]);
        let e = compare_outputs(&a, &d).unwrap_err();
        assert!(e.to_string().contains("position 0"), "{e}");
        let e = compare_outputs(&a, &outputs(vec![])).unwrap_err();
        assert!(matches!(e, ProbeError::Mismatch { .. }), "{e}");
    }

    #[test]
    fn top5_and_averages() {
        assert_eq!(top_k(&[0.1, 0.3, 0.3, 0.2], 2), vec![1, 2]);
        assert_eq!(argmax(&[0.1, 0.3, 0.3]), Some(1));
        let a = outputs(vec![raw(vec![0.5, 0.2, 0.2, 0.1], 0.0, 0.6)]);
        let b = outputs(vec![raw(vec![0.1, 0.2, 0.2, 0.5], 0.0, 0.4)]);
        let c1 = compare_outputs(&a, &a).unwrap();
        let c2 = compare_outputs(&a, &b).unwrap();
        let avg = average(&[c1, c2.clone()]);
        let half = crate::metric(&c2.metrics, "kl_mean").unwrap() / 2.0;
        assert!((avg.primary_value().unwrap() - half).abs() < 1e-15);
        assert_eq!(crate::metric(&avg.metrics, "top1_agreement"), Some(0.5));
        assert_eq!(avg.per_position[0][0].name, "kl");
    }
}
