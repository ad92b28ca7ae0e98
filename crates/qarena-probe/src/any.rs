//! One probe for any supported model: the kind is read from the model
//! file (KataGo nets get `katago-raw-nn`, Stockfish NNUE nets `nnue-eval`),
//! so the CLI, the sweep and the store work with [`AnyProbe`] and never
//! name a model kind. A new kind (a language model's next-token logits)
//! is one more variant here.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use qarena_models::Format;

use crate::katago::{KataGoProbe, RawNnOutputs};
use crate::nnue::{NnueEvals, NnueProbe};
use crate::{Comparison, EngineCost, Probe, ProbeError, Suite};

/// The shipped 9×9 Go suite (`suites/go9-default.suite`).
const GO9_DEFAULT: &str = include_str!("../../../suites/go9-default.suite");
/// The shipped chess suite (`suites/chess-default.suite`).
const CHESS_DEFAULT: &str = include_str!("../../../suites/chess-default.suite");

/// The shipped 9×9 Go calibration suite (`suites/go9-calib.suite`):
/// other positions than the default suite's.
const GO9_CALIB: &str = include_str!("../../../suites/go9-calib.suite");

/// The shipped 9×9 Go evolution suite (`suites/go9-evolve.suite`): 800
/// positions in neither of the above, its even and odd halves from
/// different games.
const GO9_EVOLVE: &str = include_str!("../../../suites/go9-evolve.suite");

/// The shipped chess calibration suite (`suites/chess-calib.suite`):
/// positions of games, none in the default chess suite.
const CHESS_CALIB: &str = include_str!("../../../suites/chess-calib.suite");

/// The shipped calibration suite for a game (`go` or `chess`), whose
/// positions no default probe reports on.
pub fn calibration_suite(game: &str) -> Result<Suite, ProbeError> {
    match game {
        "go" => Suite::parse("go9-calib", GO9_CALIB),
        "chess" => Suite::parse("chess-calib", CHESS_CALIB),
        other => Err(ProbeError::Setup(format!(
            "no calibration suite for `{other}` (go or chess)"
        ))),
    }
}

/// The suite evolutions screen on (its even positions) and check on (its
/// odd ones) by default: for Go the shipped `go9-evolve` (the halves from
/// different games, none in the probe's or the calibration's suite), for
/// chess the default suite.
pub fn evolution_suite(game: &str) -> Result<Suite, ProbeError> {
    match game {
        "go" => Suite::parse("go9-evolve", GO9_EVOLVE),
        other => default_suite(other),
    }
}

/// The shipped suite for a game (`go` or `chess`).
pub fn default_suite(game: &str) -> Result<Suite, ProbeError> {
    match game {
        "go" => Suite::parse("go9-default", GO9_DEFAULT),
        "chess" => Suite::parse("chess-default", CHESS_DEFAULT),
        other => Err(ProbeError::Setup(format!(
            "no default suite for `{other}` (go or chess)"
        ))),
    }
}

/// The engines probes may use.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeEngines {
    /// The `katago` program and a GTP config for KataGo nets.
    pub katago: Option<(PathBuf, PathBuf)>,
    /// The Stockfish program for NNUE nets.
    pub stockfish: Option<PathBuf>,
}

/// The probe for one kind of model.
#[derive(Debug, Clone)]
pub enum AnyProbe {
    KataGo(KataGoProbe),
    Nnue(NnueProbe),
}

/// The outputs of an [`AnyProbe`].
#[derive(Debug, Clone)]
pub enum AnyOutputs {
    KataGo(RawNnOutputs),
    Nnue(NnueEvals),
}

impl AnyProbe {
    /// The probe for `model`'s format, with the engine it needs.
    pub fn for_model(model: &Path, engines: &ProbeEngines) -> Result<AnyProbe, ProbeError> {
        let format = qarena_models::detect(model)
            .map_err(|e| ProbeError::Setup(format!("{}: {e}", model.display())))?;
        match format {
            Format::Nnue => match &engines.stockfish {
                Some(sf) => Ok(AnyProbe::Nnue(NnueProbe::new(sf))),
                None => Err(ProbeError::Setup(format!(
                    "{} is a Stockfish NNUE net: the probe needs Stockfish (--stockfish)",
                    model.display()
                ))),
            },
            Format::KataGoBin | Format::KataGoBinGz | Format::KataGoTxt | Format::KataGoTxtGz => {
                match &engines.katago {
                    Some((katago, config)) => Ok(AnyProbe::KataGo(KataGoProbe::new(katago, config))),
                    None => Err(ProbeError::Setup(format!(
                        "{} is a KataGo net: the probe needs KataGo and a GTP config (--katago, --katago-config)",
                        model.display()
                    ))),
                }
            }
            Format::Safetensors => Err(ProbeError::Setup(format!(
                "{}: safetensors models have no probe yet (KataGo and NNUE nets do)",
                model.display()
            ))),
        }
    }

    /// The game its suites hold (`go` or `chess`).
    pub fn game(&self) -> &'static str {
        match self {
            AnyProbe::KataGo(_) => "go",
            AnyProbe::Nnue(_) => "chess",
        }
    }

    /// Its shipped suite.
    pub fn default_suite(&self) -> Result<Suite, ProbeError> {
        default_suite(self.game())
    }
}

impl Probe for AnyProbe {
    type Outputs = AnyOutputs;

    fn name(&self) -> &'static str {
        match self {
            AnyProbe::KataGo(p) => p.name(),
            AnyProbe::Nnue(p) => p.name(),
        }
    }

    fn settings(&self) -> serde_json::Value {
        match self {
            AnyProbe::KataGo(p) => p.settings(),
            AnyProbe::Nnue(p) => p.settings(),
        }
    }

    fn evaluate(
        &self,
        model: &Path,
        suite: &Suite,
        stop: &AtomicBool,
    ) -> Result<AnyOutputs, ProbeError> {
        match self {
            AnyProbe::KataGo(p) => p.evaluate(model, suite, stop).map(AnyOutputs::KataGo),
            AnyProbe::Nnue(p) => p.evaluate(model, suite, stop).map(AnyOutputs::Nnue),
        }
    }

    fn compare(
        &self,
        reference: &AnyOutputs,
        variant: &AnyOutputs,
    ) -> Result<Comparison, ProbeError> {
        match (self, reference, variant) {
            (AnyProbe::KataGo(p), AnyOutputs::KataGo(r), AnyOutputs::KataGo(v)) => p.compare(r, v),
            (AnyProbe::Nnue(p), AnyOutputs::Nnue(r), AnyOutputs::Nnue(v)) => p.compare(r, v),
            _ => Err(ProbeError::Setup(
                "the reference and the variant were evaluated by different probes".into(),
            )),
        }
    }

    fn cost(&self, outputs: &AnyOutputs) -> EngineCost {
        match (self, outputs) {
            (AnyProbe::KataGo(p), AnyOutputs::KataGo(o)) => p.cost(o),
            (AnyProbe::Nnue(p), AnyOutputs::Nnue(o)) => p.cost(o),
            _ => EngineCost::default(),
        }
    }

    fn noise_floor(
        &self,
        reference: &Path,
        suite: &Suite,
        stop: &AtomicBool,
    ) -> Result<Option<Comparison>, ProbeError> {
        match self {
            AnyProbe::KataGo(p) => p.noise_floor(reference, suite, stop),
            AnyProbe::Nnue(p) => p.noise_floor(reference, suite, stop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_suites_load() {
        let go = default_suite("go").unwrap();
        assert_eq!(go.game(), "go");
        assert!(go.len() >= 200);
        let chess = default_suite("chess").unwrap();
        assert!(chess.len() >= 500);
        assert!(default_suite("shogi").is_err());
    }
}
