//! The screen of language-model genomes (`evolve run` on a GGUF or
//! safetensors model, or `smollm2`).
//!
//! A language model has no engine and no position suite: a genome is
//! screened by building its variant in memory with the quantizer every
//! `llm` command uses ([`qarena_llm::apply_cached`]: tensors a genome
//! quantizes as an earlier one did come from a bounded cache, so a child
//! quantizes only what it changed) and measuring its next-token
//! agreement with the original over a screening text ([`qarena_llm::kl`]),
//! in windows from an empty cache. The quality is the mean KL (lower is
//! better); the same-top-1 rate is the agreement a collapse floor looks
//! at, as top-1 agreement is for a Go net. Figures are stored as a probe
//! keyed by the variant, the model, the text's sha256 and the window
//! settings, so a resumed evolution reads them back.
//!
//! The screening text is tuning data: report a strategy's quality on
//! other text (`qarena llm kl MODEL --strategy BEST.toml --text
//! data/llm/text-eval.txt`). A calibrated screen ([`LlmScreen::new`] with
//! `calibrated`) also builds genes with error-compensating (GPTQ)
//! rounding, from the inputs every linear layer sees over the screening
//! text's tokens after those the screen reads: calibration and screen
//! never share a token. Without it such genes die with a `build_error`
//! naming the calibration they would need.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use qarena_llm::eval::{kl_cached, KlSettings, ReferenceWindows};
use qarena_llm::{Llama, LlmError, LlmModel};
use qarena_probe::report::Comparison;
use qarena_probe::Metric;
use qarena_quant::Strategy;

use crate::evolve::EvolveError;

/// The name the language-model screen's comparisons are stored under.
pub const LLM_PROBE: &str = "llm-kl";

/// How much of the screening text a genome is measured on: windows of 128
/// tokens whose first 32 only give context, 384 scored tokens.
pub const SCREEN_KL: KlSettings = KlSettings {
    window: 128,
    warmup: 32,
    max_tokens: 384,
};

/// Calibration tokens at most (after the screened ones), in windows of
/// [`CALIB_WINDOW`]; a calibrated screen needs at least [`MIN_CALIB_TOKENS`].
pub const CALIB_TOKENS: usize = 4096;
/// Window of the calibration pass.
pub const CALIB_WINDOW: usize = 512;
/// Fewest calibration tokens a calibrated screen accepts.
pub const MIN_CALIB_TOKENS: usize = 256;

/// Floats of quantized tensors the screen keeps (2 GiB of f32 at most,
/// about four SmolLM2-135M variants).
const CACHE_FLOATS: usize = 1 << 29;

/// Whether `path` is a language model the `llm` commands load (GGUF, or
/// safetensors with a `config.json` naming a supported architecture).
pub fn is_language_model(path: &Path) -> bool {
    let gguf = std::fs::File::open(path)
        .and_then(|mut f| {
            let mut magic = [0u8; 4];
            std::io::Read::read_exact(&mut f, &mut magic).map(|_| magic)
        })
        .is_ok_and(|m| &m == b"GGUF");
    gguf || (path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"))
        && path.with_file_name("config.json").is_file())
}

/// What screening a strategy said.
#[derive(Debug, Clone)]
pub enum LlmOutcome {
    /// The variant's agreement with the original.
    Compared(Comparison),
    /// The variant could not be made.
    BuildError(String),
    /// The variant's outputs are not finite numbers.
    NonFinite(String),
    /// A stop request came during the measurement.
    Interrupted,
}

/// The screen of one language model on one text; see the module docs.
pub struct LlmScreen {
    model: LlmModel,
    /// Quantized tensors by name and spec, so a child quantizes only the
    /// tensors its specs change.
    cache: qarena_llm::VariantCache,
    /// The original's log-probabilities over the scored windows, once.
    reference: ReferenceWindows,
    text: PathBuf,
    text_sha256: String,
    /// GPTQ's input statistics and what the probe key records of them,
    /// when the screen is calibrated.
    calibration: Option<(qarena_llm::Calibration, serde_json::Value)>,
}

fn llm_err(what: &str, e: LlmError) -> EvolveError {
    EvolveError::Screen(format!("{what}: {e}"))
}

impl LlmScreen {
    /// Loads the model and tokenizes the screening text; `calibrated`
    /// also measures the inputs of every linear layer over the text's
    /// tokens after the screened ones (up to [`CALIB_TOKENS`]), for genes
    /// with error-compensating rounding.
    pub fn new(model: &Path, text: &Path, calibrated: bool) -> Result<LlmScreen, EvolveError> {
        let m = LlmModel::load(model).map_err(|e| llm_err("language model", e))?;
        let body = qarena_llm::read_text(text).map_err(|e| llm_err("screening text", e))?;
        let tokens = m
            .tokenizer
            .encode(&body)
            .map_err(|e| llm_err("screening text", e))?;
        if tokens.len() <= SCREEN_KL.warmup + 1 {
            return Err(EvolveError::Screen(format!(
                "screening text {}: {} tokens, too few to score any after a context of {}; give a longer text (--text)",
                text.display(),
                tokens.len(),
                SCREEN_KL.warmup
            )));
        }
        let original = Llama::new(&m).map_err(|e| llm_err("language model", e))?;
        let reference = ReferenceWindows::new(&original, &tokens, SCREEN_KL)
            .map_err(|e| llm_err("the original on the screening text", e))?;
        let calibration = if calibrated {
            let start = reference.covered_tokens().min(tokens.len());
            let rest = &tokens[start..tokens.len().min(start + CALIB_TOKENS)];
            if rest.len() < MIN_CALIB_TOKENS {
                return Err(EvolveError::Screen(format!(
                    "screening text {}: {} tokens after the {start} the screen reads, and calibrated \
                     genes calibrate on those: give a text with at least {MIN_CALIB_TOKENS} more \
                     (data/llm/text-calib.txt has about 3,300), or leave out --calibrated",
                    text.display(),
                    rest.len(),
                )));
            }
            let cal = original
                .calibrate(rest, CALIB_WINDOW)
                .map_err(|e| llm_err("calibration on the screening text", e))?;
            let settings = qarena_quant::GptqSettings::default();
            let facts = serde_json::json!({
                "method": "gptq",
                "first_token": start,
                "tokens": rest.len(),
                "window": CALIB_WINDOW,
                "damp": settings.damp,
                "act_order": settings.act_order,
            });
            Some((cal, facts))
        } else {
            None
        };
        Ok(LlmScreen {
            model: m,
            cache: qarena_llm::variant_cache(CACHE_FLOATS),
            reference,
            text: text.to_path_buf(),
            text_sha256: crate::evolve::sha256_hex(&body),
            calibration,
        })
    }

    /// The calibration of a calibrated screen, as the probe key records
    /// it: which tokens of the screening text, and GPTQ's settings.
    pub fn calibration(&self) -> Option<&serde_json::Value> {
        self.calibration.as_ref().map(|(_, f)| f)
    }

    /// The loaded model (its catalogue is the genome's layout).
    pub fn model(&self) -> &LlmModel {
        &self.model
    }

    /// The screening text's path and sha256.
    pub fn text(&self) -> (&Path, &str) {
        (&self.text, &self.text_sha256)
    }

    /// Tokens a genome is scored on.
    pub fn scored_tokens(&self) -> usize {
        self.reference.scored_tokens()
    }

    /// What the probe key records besides the text: the window settings,
    /// and the calibration of a calibrated screen (every genome's figures
    /// are keyed by it, so a resumed evolution reads back only figures of
    /// a screen calibrated the same way).
    pub fn key_settings(&self) -> serde_json::Value {
        let mut k = serde_json::json!({
            "window": SCREEN_KL.window,
            "warmup": SCREEN_KL.warmup,
            "max_tokens": SCREEN_KL.max_tokens,
        });
        if let (Some(o), Some(c)) = (k.as_object_mut(), self.calibration()) {
            o.insert("calibration".into(), c.clone());
        }
        k
    }

    /// Builds the strategy's variant in memory and measures it.
    pub fn screen(
        &self,
        strategy: &Strategy,
        stop: &AtomicBool,
    ) -> Result<LlmOutcome, EvolveError> {
        let calibration = self.calibration.as_ref().map(|(c, _)| c);
        let variant = match qarena_llm::apply_calibrated_cached(
            &self.model,
            strategy,
            calibration,
            &self.cache,
        ) {
            Ok((v, _)) => v,
            Err(e) => return Ok(LlmOutcome::BuildError(e.to_string())),
        };
        let subject = Llama::new(&variant).map_err(|e| llm_err("variant", e))?;
        let r = match kl_cached(&self.reference, &subject, stop) {
            Ok(r) => r,
            Err(LlmError::Interrupted) => return Ok(LlmOutcome::Interrupted),
            // The text was checked long enough and the variant has the
            // original's vocabulary: what is left is non-finite outputs.
            Err(LlmError::Mismatch(why)) => return Ok(LlmOutcome::NonFinite(why)),
            Err(e) => return Err(llm_err("screen", e)),
        };
        Ok(LlmOutcome::Compared(Comparison {
            primary: "kl_mean".to_string(),
            metrics: vec![
                Metric::new("kl_mean", r.mean_kl),
                Metric::new("kl_p99", r.p99_kl),
                Metric::new("top1_agreement", r.same_top1),
                Metric::new("ln_ppl_ratio", r.ln_ppl_ratio),
            ],
            per_position: Vec::new(),
        }))
    }
}
