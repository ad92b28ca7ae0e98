//! Probes: how much a variant changed a network, in seconds and without
//! games. A probe evaluates the reference and the variant on a fixed
//! [`Suite`] of positions and compares their raw outputs, the way
//! llama.cpp's KL-divergence statistics compare a quantized language model
//! with its original.
//!
//! * [`suite`]: position suites (Go move sequences, chess FEN) with a
//!   content hash.
//! * [`Probe`]: the interface every model kind implements — evaluate one
//!   model on a suite, compare two evaluations — so callers (the CLI, the
//!   sweep, the store) never depend on the kind of model.
//! * [`any`]: the probe for whatever model it is given ([`AnyProbe`]) and
//!   the shipped suites.
//! * [`go_suites`]: Go suites sampled from stored games or made by
//!   self-play with the reference engine.
//! * [`katago`]: the `katago-raw-nn` probe (KataGo's raw policy and value
//!   on Go positions).
//! * [`report`]: named figures ([`Metric`]) over the suite and per
//!   position, and their [`Spread`].
//! * [`stored`]: probes kept in the store under everything that decides
//!   their result, so asking again is free.
//! * [`nnue`]: the `nnue-eval` probe, Stockfish's static evaluation with
//!   the reference net and with a variant.
//! * [`chess_suites`]: chess suites from an opening book and from stored
//!   games.

pub mod any;
pub mod chess_suites;
pub mod error;
pub mod go_openings;
pub mod go_suites;
mod gtp;
pub mod katago;
pub mod native;
pub mod nnue;
pub mod regret;
pub mod report;
pub mod stored;
pub mod suite;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

pub use any::{
    calibration_suite, default_suite, evolution_suite, AnyOutputs, AnyProbe, ProbeEngines,
};
pub use error::ProbeError;
pub use katago::{KataGoProbe, ProbeTimeouts, RawNn, RawNnOutputs};
pub use nnue::{NnueEvals, NnueProbe};
pub use report::{metric, Comparison, EngineCost, Metric, ProbeReport, Spread};
pub use suite::{GoSetup, Positions, Suite, SUITE_MAGIC};

/// A way to look into one kind of network.
pub trait Probe {
    /// A model's raw outputs on every position of a suite.
    type Outputs;

    /// The probe's name, stored with its results (`katago-raw-nn`, ...).
    fn name(&self) -> &'static str;

    /// The settings that change its figures (symmetry, search depth...),
    /// part of the key a stored probe is found by.
    fn settings(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// Evaluates `model` on every position of `suite`; `stop` ends the
    /// evaluation early with [`ProbeError::Interrupted`].
    fn evaluate(
        &self,
        model: &Path,
        suite: &Suite,
        stop: &AtomicBool,
    ) -> Result<Self::Outputs, ProbeError>;

    /// Compares a variant's outputs with the reference's.
    fn compare(
        &self,
        reference: &Self::Outputs,
        variant: &Self::Outputs,
    ) -> Result<Comparison, ProbeError>;

    /// What evaluating cost the engine (speed, peak memory); unknown by
    /// default.
    fn cost(&self, _outputs: &Self::Outputs) -> EngineCost {
        EngineCost::default()
    }

    /// The reference against itself under another view of the same
    /// positions (e.g. a board symmetry): how much difference is noise.
    /// `None` for probes without one.
    fn noise_floor(
        &self,
        _reference: &Path,
        _suite: &Suite,
        _stop: &AtomicBool,
    ) -> Result<Option<Comparison>, ProbeError> {
        Ok(None)
    }
}

/// Probes `variant` against `reference` on `suite`. A caller that probes
/// many variants against one reference evaluates the reference once with
/// [`Probe::evaluate`] and calls [`probe_against`].
pub fn probe<P: Probe>(
    p: &P,
    reference: &Path,
    variant: &Path,
    suite: &Suite,
    with_noise_floor: bool,
    stop: &AtomicBool,
) -> Result<ProbeReport, ProbeError> {
    let started = Instant::now();
    let ref_out = p.evaluate(reference, suite, stop)?;
    let mut report = probe_against(p, &ref_out, variant, suite, stop)?;
    if with_noise_floor {
        report.noise_floor = p.noise_floor(reference, suite, stop)?;
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Probes `variant` against reference outputs already evaluated.
pub fn probe_against<P: Probe>(
    p: &P,
    reference: &P::Outputs,
    variant: &Path,
    suite: &Suite,
    stop: &AtomicBool,
) -> Result<ProbeReport, ProbeError> {
    let started = Instant::now();
    let out = p.evaluate(variant, suite, stop)?;
    let mut comparison = p.compare(reference, &out)?;
    comparison
        .metrics
        .extend(p.cost(&out).metrics(&p.cost(reference)));
    Ok(ProbeReport {
        probe: p.name().to_string(),
        suite: suite.name.clone(),
        suite_sha256: suite.sha256().to_string(),
        positions: suite.len(),
        comparison,
        noise_floor: None,
        seconds: started.elapsed().as_secs_f64(),
    })
}
