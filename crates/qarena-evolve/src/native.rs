//! The in-process screen of KataGo genomes (`evolve run --screen native`).
//!
//! The engine screen writes every genome's variant to the cache and has
//! KataGo's `kata-raw-nn` evaluate it in a process of its own. For a KataGo
//! net that qarena's own forward pass evaluates
//! ([`qarena_models::katago_net`], checked against `kata-raw-nn` to 1e-5),
//! this screen does the same work in memory: each tensor is quantized as
//! [`qarena_variant::build_variant_calibrated`] quantizes it
//! ([`qarena_variant::quantize_values`]), set into a copy of the loaded
//! model, and the copy is evaluated on the screening suite's network
//! inputs, prepared once. The figures are those of the engine probe (same
//! comparison, [`qarena_probe::katago::compare_outputs`], symmetry 0).
//!
//! Quantized tensors are kept by tensor and spec in a bounded cache, so a
//! child that differs from its parent in one group quantizes only that
//! group's tensors again. Nothing is written to disk: the variant of a
//! genome worth keeping is built by `evolve export`, `check` and `games`.
//! The screen measures no engine speed or memory (the fake-quantized net
//! runs at the original's precision either way): those terms of the
//! survival score count as even.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use qarena_go::NetInputs;
use qarena_models::katago_net::KataNet;
use qarena_models::Model;
use qarena_probe::katago::{compare_outputs, RawNnOutputs};
use qarena_probe::regret::{MoveValues, RegretKind};
use qarena_probe::report::Comparison;
use qarena_probe::{native, Suite};
use qarena_quant::{Scheme, Strategy, TensorCache};

use crate::evolve::EvolveError;

/// Floats of quantized tensors the screen keeps (1 GiB of f32 at most).
const CACHE_FLOATS: usize = 1 << 28;

/// Whether the native screen evaluates the model at `path` (a KataGo net
/// the forward pass supports).
pub fn evaluable(path: &Path) -> bool {
    Model::load(path).is_ok_and(|m| KataNet::from_model(&m).is_ok())
}

/// What screening a strategy in process said.
#[derive(Debug, Clone)]
pub enum NativeOutcome {
    /// The variant's outputs against the original's.
    Compared(Comparison),
    /// The variant could not be made (a value the model cannot hold).
    BuildError(String),
}

/// The in-process screen of one KataGo net on one suite; see the module
/// docs.
pub struct NativeScreen {
    path: PathBuf,
    model: Model,
    inputs: Vec<NetInputs>,
    reference: RawNnOutputs,
    /// Quantized tensors by tensor index and spec.
    cache: Mutex<TensorCache<(usize, String), Vec<f32>>>,
    /// The original's value of every legal move, when the screen also
    /// measures `policy_regret` ([`NativeScreen::with_regret`]).
    regret: Option<MoveValues>,
}

impl std::fmt::Debug for NativeScreen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeScreen")
            .field("path", &self.path)
            .field("positions", &self.inputs.len())
            .finish_non_exhaustive()
    }
}

impl NativeScreen {
    /// Loads the net, prepares the suite's inputs and evaluates the
    /// original on them; refused for a model the forward pass does not
    /// evaluate (another format, an unsupported KataGo architecture).
    pub fn new(model_path: &Path, suite: &Suite) -> Result<NativeScreen, EvolveError> {
        let model =
            qarena_models::Model::load_with(model_path, &qarena_models::LoadOptions::default())
                .map_err(|source| EvolveError::Model {
                    path: model_path.to_path_buf(),
                    source,
                })?;
        let refuse = |why: String| {
            EvolveError::Screen(format!(
                "the native screen evaluates KataGo nets in process, and {}: {why}; use --screen engine",
                model_path.display()
            ))
        };
        let net = KataNet::from_model(&model).map_err(|e| refuse(e.to_string()))?;
        if suite.game() != "go" {
            return Err(refuse(format!("suite {} is not a Go suite", suite.name)));
        }
        let inputs = native::suite_inputs(suite).map_err(|e| refuse(e.to_string()))?;
        let reference = native::evaluate_inputs(&net, &inputs, 0, Instant::now())
            .map_err(|e| refuse(e.to_string()))?;
        Ok(NativeScreen {
            path: model_path.to_path_buf(),
            model,
            inputs,
            reference,
            cache: Mutex::new(TensorCache::new(CACHE_FLOATS)),
            regret: None,
        })
    }

    /// Also measures `policy_regret` and `top1_regret` (see
    /// [`qarena_probe::regret`]): the
    /// original net is run once on the position after every legal move of
    /// every screening position, about 60 evaluations per 9×9 position.
    pub fn with_regret(mut self, suite: &Suite) -> Result<NativeScreen, EvolveError> {
        let net = KataNet::from_model(&self.model)
            .map_err(|e| EvolveError::Screen(format!("policy regret: {e}")))?;
        let values = MoveValues::new(&net, suite, &self.reference)
            .map_err(|e| EvolveError::Screen(format!("policy regret: {e}")))?;
        self.regret = Some(values);
        Ok(self)
    }

    /// Whether the screen measures `policy_regret`.
    pub fn measures_regret(&self) -> bool {
        self.regret.is_some()
    }

    /// Positions of the screening suite.
    pub fn positions(&self) -> usize {
        self.inputs.len()
    }

    /// Quantizes the net by `strategy` in memory and compares its outputs
    /// with the original's. `calibration` is needed when the strategy
    /// rounds error-compensating (as for a variant build).
    pub fn screen(
        &self,
        strategy: &Strategy,
        calibration: Option<&qarena_variant::Calibration>,
    ) -> Result<NativeOutcome, EvolveError> {
        let started = Instant::now();
        let catalogue = self.model.catalogue();
        let mut model = self.model.clone();
        for (i, info) in catalogue.iter().enumerate() {
            let mut spec = strategy.resolve(info).1;
            if spec.scheme == Scheme::Keep {
                continue;
            }
            let key = (i, format!("{spec:?}"));
            let held = self
                .cache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&key);
            let values = match held {
                Some(v) => v,
                None => {
                    let mut values =
                        self.model
                            .try_tensor_values(i)
                            .map_err(|source| EvolveError::Model {
                                path: self.path.clone(),
                                source,
                            })?;
                    if let Err(e) =
                        qarena_variant::quantize_values(info, &mut values, &mut spec, calibration)
                    {
                        return Ok(NativeOutcome::BuildError(format!(
                            "quantizing tensor '{}': {e}",
                            info.name
                        )));
                    }
                    let n = values.len();
                    let v = Arc::new(values);
                    self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(
                        key,
                        Arc::clone(&v),
                        n,
                    );
                    v
                }
            };
            if let Err(e) = model.set_tensor_values(i, &values) {
                return Ok(NativeOutcome::BuildError(e.to_string()));
            }
        }
        let net = KataNet::from_model(&model)
            .map_err(|e| EvolveError::Screen(format!("the quantized net: {e}")))?;
        let out = native::evaluate_inputs(&net, &self.inputs, 0, started)
            .map_err(|e| EvolveError::Screen(e.to_string()))?;
        let mut c = compare_outputs(&self.reference, &out)
            .map_err(|e| EvolveError::Screen(e.to_string()))?;
        if let Some(r) = &self.regret {
            for kind in RegretKind::ALL {
                if let Some(x) = r.excess(kind, &out) {
                    c.metrics.push(qarena_probe::Metric::new(kind.metric(), x));
                }
            }
        }
        Ok(NativeOutcome::Compared(c))
    }
}
