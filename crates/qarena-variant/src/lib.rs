//! Variants: a strategy applied to a model.
//!
//! A variant is the fake-quantized model file, in the model's own format so
//! the unchanged engine loads it, plus a JSON manifest that says what it
//! costs (effective bits per weight including scales, zero points, palettes
//! and kept outliers) and how much error it adds (MSE, SQNR, max abs error,
//! cosine per tensor).
//!
//! Invariants: a variant's id is the hash of the input model's sha256, the
//! strategy's canonical JSON and the quantizer version, so the same request
//! always maps to the same cache entry; a cache entry is complete only when
//! its manifest exists (the model is written first, the manifest last, each
//! via a temporary file and a rename), so an interrupted build is rebuilt.

mod awq;

pub use awq::{ColumnChannels, ScaleGroup, ScaledLayer};

use std::path::{Path, PathBuf};
use std::time::Instant;

use qarena_models::{LoadOptions, Model};
use std::collections::HashMap;
use std::sync::Arc;

use qarena_quant::{
    quantize_gptq, quantize_tensor, GptqSettings, Hessian, RoleSummary, Rounding, Strategy,
    StrategyApplication, TensorReport,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Bumped whenever quantizer output changes for the same inputs, so old
/// cache entries are not reused.
pub const QUANTIZER_VERSION: &str = "1";

#[derive(Debug, thiserror::Error)]
pub enum VariantError {
    #[error(transparent)]
    Model(#[from] qarena_models::ModelError),
    #[error("quantizing tensor '{tensor}' of {model}: {source}")]
    Quant {
        model: String,
        tensor: String,
        source: qarena_quant::QuantError,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("manifest {path} is unreadable ({reason}); delete the variant folder to rebuild it")]
    BadManifest { path: String, reason: String },
    #[error("strategy {strategy} rounds from calibration activations (rounding = \"error_compensating\" or \"activation_aware\"), which needs calibration data: give calibration positions (`--calib`), or use rounding = \"nearest\"")]
    NeedsCalibration { strategy: String },
}

/// The input model of a variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFacts {
    pub path: String,
    pub sha256: String,
    pub format: String,
    pub description: String,
    pub bytes: u64,
    pub params: u64,
}

/// Everything a variant is, as written to `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub id: String,
    pub qarena_version: String,
    pub quantizer_version: String,
    pub input: ModelFacts,
    /// The variant file (its path relative to the manifest, and its hash).
    pub output_file: String,
    pub output_sha256: String,
    pub output_bytes: u64,
    pub strategy_name: String,
    /// The resolved strategy as TOML (what was applied, defaults filled in).
    pub strategy_toml: String,
    pub tensors: Vec<TensorReport>,
    pub roles: Vec<RoleSummary>,
    pub total: RoleSummary,
    pub seconds: f64,
    /// Added by `qarena quantize --probe`: the variant's probe against its
    /// input model (suite, figures), as stored in the database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<serde_json::Value>,
    /// The calibration behind error-compensating rules, when any rule used it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<CalibrationFacts>,
}

/// What a calibration was made from, as recorded in manifests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationFacts {
    /// `gptq`.
    pub method: String,
    /// Where the calibration data came from (a suite file, a text file).
    pub source: String,
    /// sha256 of the calibration data (the suite's or the text's own hash).
    pub sha256: String,
    /// Positions (or tokens) the Hessians were summed over.
    pub samples: usize,
    /// GPTQ dampening (share of the mean Hessian diagonal) and column order.
    pub damp: f64,
    pub act_order: bool,
    /// Activation-aware scaling: the exponent chosen for each group of
    /// layers, named by the norm its scales were folded into.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub awq: Vec<AwqChoice>,
}

/// The scaling exponent chosen for one group (0 = plain rounding).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AwqChoice {
    pub norm: String,
    pub alpha: f64,
}

/// Hessians of a model's weight layers (by tensor name) for
/// `rounding = "error_compensating"`, and where they came from.
#[derive(Debug, Clone)]
pub struct Calibration {
    pub hessians: HashMap<String, Arc<Hessian>>,
    /// Block-diagonal Hessians (the diagonal blocks in order, covering the
    /// inputs): inputs of different blocks never occur together, as an
    /// NNUE feature transformer's features under different king buckets.
    pub hessian_blocks: HashMap<String, Vec<Arc<Hessian>>>,
    /// Layers whose input scales can be folded into the norm before them
    /// (for `rounding = "activation_aware"`).
    pub scale_groups: Vec<ScaleGroup>,
    pub facts: CalibrationFacts,
}

impl Calibration {
    fn settings(&self) -> GptqSettings {
        GptqSettings {
            damp: self.facts.damp,
            act_order: self.facts.act_order,
            ..GptqSettings::default()
        }
    }
}

/// True when some rule of `strategy` rounds from calibration activations
/// (error-compensating or activation-aware).
pub fn needs_calibration(strategy: &Strategy) -> bool {
    strategy
        .rules()
        .iter()
        .any(|r| r.spec.rounding != Rounding::Nearest)
        || strategy
            .default_spec()
            .is_some_and(|d| d.rounding != Rounding::Nearest)
}

/// A built or cached variant.
#[derive(Debug, Clone)]
pub struct Variant {
    pub id: String,
    pub dir: PathBuf,
    pub path: PathBuf,
    pub manifest: Manifest,
    /// True when the variant came from the cache.
    pub cached: bool,
}

/// The content address of `strategy` applied to the model with `model_sha256`.
pub fn variant_id(model_sha256: &str, strategy: &Strategy, late_blocks: usize) -> String {
    variant_id_calibrated(model_sha256, strategy, late_blocks, None)
}

/// [`variant_id`] of a build with calibration: its data and settings are
/// part of the address when the strategy uses them.
pub fn variant_id_calibrated(
    model_sha256: &str,
    strategy: &Strategy,
    late_blocks: usize,
    calibration: Option<&CalibrationFacts>,
) -> String {
    let mut h = Sha256::new();
    if let Some(c) = calibration.filter(|_| needs_calibration(strategy)) {
        h.update(
            format!(
                "calibration\0{}\0{}\0{}\0{}\0{}\0",
                c.method, c.sha256, c.samples, c.damp, c.act_order
            )
            .as_bytes(),
        );
    }
    h.update(model_sha256.as_bytes());
    h.update(b"\0");
    h.update(strategy.canonical_json().as_bytes());
    h.update(b"\0");
    h.update(QUANTIZER_VERSION.as_bytes());
    h.update(late_blocks.to_le_bytes());
    let hex = format!("{:x}", h.finalize());
    hex[..16].to_string()
}

/// File name of the variant inside its folder: keeps the original's
/// extensions, since engines and our loader detect formats by them.
fn output_name(model: &Path) -> String {
    let name = model
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "model".to_string());
    for ext in [
        ".bin.gz",
        ".txt.gz",
        ".nnue",
        ".safetensors",
        ".bin",
        ".txt",
    ] {
        if name.ends_with(ext) {
            return format!("variant{ext}");
        }
    }
    "variant.bin".to_string()
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> VariantError {
    let context = context.into();
    move |source| VariantError::Io { context, source }
}

/// Tensors above this many elements are quantized in blocks of rows, so
/// only one block's output exists next to the tensor's values (peak memory
/// about the file plus one f32 copy of the largest tensor).
const BLOCK_ELEMENTS: usize = 1 << 20;

/// Quantizes `values` and overwrites them with the result; returns the
/// accounting (with an empty `values`). Row blocks give exactly the result
/// of the whole tensor when every scale group lies inside one row (channel
/// and group granularity) and no outliers are chosen across rows.
fn quantize_in_place(
    info: &qarena_quant::TensorInfo,
    values: &mut [f32],
    spec: &qarena_quant::QuantSpec,
) -> Result<qarena_quant::QuantOutput, qarena_quant::QuantError> {
    let rows = info.shape.first().copied().unwrap_or(1).max(1);
    let numel = values.len();
    let row_len = numel / rows;
    let blockable = numel > BLOCK_ELEMENTS
        && info.shape.len() >= 2
        && row_len * rows == numel
        && spec.outlier_percent == 0.0
        && !matches!(spec.granularity, qarena_quant::Granularity::Tensor);
    if spec.scheme == qarena_quant::Scheme::Keep || !blockable {
        let mut out = quantize_tensor(info, values, spec)?;
        values.copy_from_slice(&out.values);
        out.values = Vec::new();
        return Ok(out);
    }
    let rows_per_block = (BLOCK_ELEMENTS / row_len.max(1)).max(1);
    let (mut xx, mut yy, mut xy, mut ee, mut max) = (0f64, 0f64, 0f64, 0f64, 0f64);
    // Counted for the whole tensor: blocks each rounded up to whole bytes
    // would count a few bytes more than the tensor holds.
    let bytes = qarena_quant::predicted_bytes(info, spec);
    for block in values.chunks_mut(rows_per_block * row_len) {
        let mut sub = info.clone();
        sub.shape[0] = block.len() / row_len;
        let out = quantize_tensor(&sub, block, spec)?;
        for (x, y) in block.iter().zip(&out.values) {
            let (x, y) = (f64::from(*x), f64::from(*y));
            let e = x - y;
            xx += x * x;
            yy += y * y;
            xy += x * y;
            ee += e * e;
            max = max.max(e.abs());
        }
        block.copy_from_slice(&out.values);
    }
    let n = numel as f64;
    let cosine = if xx == 0.0 && yy == 0.0 {
        1.0
    } else if xx == 0.0 || yy == 0.0 {
        0.0
    } else {
        (xy / (xx.sqrt() * yy.sqrt())).clamp(-1.0, 1.0)
    };
    Ok(qarena_quant::QuantOutput {
        values: Vec::new(),
        bytes,
        effective_bits: bytes as f64 * 8.0 / n,
        metrics: qarena_quant::ErrorMetrics {
            mse: ee / n,
            sqnr_db: qarena_quant::sqnr_db(xx, ee),
            max_abs: max,
            cosine,
            signal_power: xx / n,
        },
    })
}

/// Quantizes one tensor's `values` in place as [`build_variant_calibrated`]
/// does: by GPTQ from `calibration`'s Hessian (or block-diagonal Hessians)
/// when `spec` rounds error-compensating and the calibration has one for
/// the tensor, to nearest otherwise (`spec.rounding` is then set to what
/// was done). Returns the accounting, with empty `values`.
pub fn quantize_values(
    info: &qarena_quant::TensorInfo,
    values: &mut [f32],
    spec: &mut qarena_quant::QuantSpec,
    calibration: Option<&Calibration>,
) -> Result<qarena_quant::QuantOutput, qarena_quant::QuantError> {
    let hessian = calibration.and_then(|c| c.hessians.get(&info.name));
    let blocks = calibration.and_then(|c| c.hessian_blocks.get(&info.name));
    Ok(match (spec.rounding, hessian, calibration) {
        (Rounding::ErrorCompensating, None, Some(c))
            if blocks.is_some() && spec.scheme != qarena_quant::Scheme::Keep =>
        {
            let blocks = blocks.map(Vec::as_slice).unwrap_or_default();
            let plans = blocks
                .iter()
                .enumerate()
                .map(|(b, h)| {
                    qarena_quant::GptqPlan::new(
                        h,
                        &c.settings(),
                        &format!("{} block {b}", info.name),
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut start = 0;
            let spans: Vec<(usize, &qarena_quant::GptqPlan)> = plans
                .iter()
                .map(|p| {
                    let s = start;
                    start += p.cols;
                    (s, p)
                })
                .collect();
            let mut out = qarena_quant::quantize_gptq_blocks(info, values, spec, &spans)?;
            values.copy_from_slice(&out.values);
            out.values = Vec::new();
            out
        }
        (Rounding::ErrorCompensating, Some(h), Some(c))
            if spec.scheme != qarena_quant::Scheme::Keep =>
        {
            let mut out = quantize_gptq(info, values, spec, h, &c.settings())?;
            values.copy_from_slice(&out.values);
            out.values = Vec::new();
            out
        }
        _ => {
            spec.rounding = Rounding::Nearest;
            quantize_in_place(info, values, spec)?
        }
    })
}

/// Options of a build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Where variants are cached: `<cache>/<id>/{variant.<ext>, manifest.json}`.
    pub cache_dir: PathBuf,
    /// KataGo: the last N trunk blocks get the role `late`.
    pub late_blocks: usize,
    /// Rebuild even when the cache has the variant.
    pub force: bool,
}

/// Applies `strategy` to the model at `model_path`, or returns the cached
/// variant with the same id.
pub fn build_variant(
    model_path: &Path,
    strategy: &Strategy,
    opts: &BuildOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Variant, VariantError> {
    build_variant_calibrated(model_path, strategy, opts, None, progress)
}

/// [`build_variant`] where rules with `rounding = "error_compensating"`
/// round by GPTQ from `calibration`'s Hessians. Tensors without one (norms,
/// biases: no matrix product reads them) are rounded to nearest.
pub fn build_variant_calibrated(
    model_path: &Path,
    strategy: &Strategy,
    opts: &BuildOptions,
    calibration: Option<&Calibration>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Variant, VariantError> {
    let t0 = Instant::now();
    let uses_calibration = needs_calibration(strategy);
    if uses_calibration && calibration.is_none() {
        return Err(VariantError::NeedsCalibration {
            strategy: strategy.name().to_string(),
        });
    }
    let calibration = calibration.filter(|_| uses_calibration);
    let model_sha = qarena_models::sha256_file(model_path)?;
    let id = variant_id_calibrated(
        &model_sha,
        strategy,
        opts.late_blocks,
        calibration.map(|c| &c.facts),
    );
    let dir = opts.cache_dir.join(&id);
    let out_name = output_name(model_path);
    let out_path = dir.join(&out_name);
    let manifest_path = dir.join("manifest.json");
    if !opts.force && manifest_path.is_file() && out_path.is_file() {
        let text = fs_err::read_to_string(&manifest_path).map_err(io("reading the manifest"))?;
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|e| VariantError::BadManifest {
                path: manifest_path.display().to_string(),
                reason: e.to_string(),
            })?;
        return Ok(Variant {
            id,
            dir,
            path: out_path,
            manifest,
            cached: true,
        });
    }

    let load = LoadOptions {
        late_blocks: opts.late_blocks,
    };
    let mut model = Model::load_with(model_path, &load)?;
    let catalogue = model.catalogue().to_vec();
    let total = catalogue.len();
    // Activation-aware scaling: the column scales of the weights and the
    // new values of the norms they fold into, decided before rounding.
    let mut col_scales: HashMap<String, Vec<f32>> = HashMap::new();
    let mut norm_values: HashMap<String, Vec<f32>> = HashMap::new();
    let mut awq_choices = Vec::new();
    if let Some(c) = calibration {
        let spec_of = |name: &str| {
            model
                .tensor_index(name)
                .map(|i| strategy.resolve(&catalogue[i]).1)
        };
        for group in &c.scale_groups {
            if !awq::wanted(group, &spec_of) {
                continue;
            }
            let mut layers = Vec::new();
            for l in &group.layers {
                let (Some(i), Some(h)) = (model.tensor_index(&l.tensor), c.hessians.get(&l.tensor))
                else {
                    continue;
                };
                let mut spec = strategy.resolve(&catalogue[i]).1;
                spec.rounding = Rounding::Nearest;
                layers.push((
                    catalogue[i].clone(),
                    model.try_tensor_values(i)?,
                    spec,
                    h.clone(),
                ));
            }
            if layers.len() != group.layers.len() {
                continue;
            }
            let Some(vi) = model.tensor_index(&group.norm_variance) else {
                continue;
            };
            let var = model.try_tensor_values(vi)?;
            let bias = match group
                .norm_bias
                .as_deref()
                .and_then(|n| model.tensor_index(n))
            {
                Some(bi) => Some(model.try_tensor_values(bi)?),
                None => None,
            };
            let found = awq::search(group, &layers, &var, bias.as_deref()).map_err(
                |(tensor, source)| VariantError::Quant {
                    model: model_path.display().to_string(),
                    tensor,
                    source,
                },
            )?;
            if let Some(found) = found {
                awq_choices.push(AwqChoice {
                    norm: group.norm_variance.clone(),
                    alpha: found.alpha,
                });
                col_scales.extend(found.weights);
                norm_values.extend(found.norm);
            }
        }
    }
    let done = std::sync::atomic::AtomicUsize::new(0);
    // Tensors are independent: quantize them in parallel, write back in order.
    let results: Vec<_> = catalogue
        .par_iter()
        .enumerate()
        .map(|(i, info)| {
            let (rule, mut spec) = strategy.resolve(info);
            let mut values = match norm_values.get(&info.name) {
                Some(v) => v.clone(),
                None => model.try_tensor_values(i)?,
            };
            let overridden = norm_values.contains_key(&info.name);
            if let Some(cs) = col_scales.get(&info.name) {
                let cols = cs.len().max(1);
                for (k, v) in values.iter_mut().enumerate() {
                    *v *= cs[k % cols];
                }
                spec.rounding = Rounding::Nearest;
            }
            let quant_err = |source| VariantError::Quant {
                model: model_path.display().to_string(),
                tensor: info.name.clone(),
                source,
            };
            let out =
                quantize_values(info, &mut values, &mut spec, calibration).map_err(quant_err)?;
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(n, total);
            // Unchanged tensors are not written back: drop their copy now.
            let values =
                (spec.scheme != qarena_quant::Scheme::Keep || overridden).then_some(values);
            Ok::<_, VariantError>((rule, spec, out, values))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut app = StrategyApplication::new(strategy.clone());
    for (i, (rule, spec, out, values)) in results.into_iter().enumerate() {
        if let Some(values) = values {
            model.set_tensor_values(i, &values)?;
        }
        app.record(&catalogue[i], rule, spec, &out);
    }

    fs_err::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    // One temporary name per process: two processes building the same
    // variant at once (evolutions on one cache) each rename a whole file.
    let tmp = dir.join(format!(".tmp-{}-{out_name}", std::process::id()));
    model.write(&tmp)?;
    fs_err::rename(&tmp, &out_path).map_err(io("moving the variant into place"))?;
    let output_sha256 = qarena_models::sha256_file(&out_path)?;
    let output_bytes = fs_err::metadata(&out_path)
        .map_err(io("reading the variant's size"))?
        .len();
    let manifest = Manifest {
        id: id.clone(),
        qarena_version: env!("CARGO_PKG_VERSION").to_string(),
        quantizer_version: QUANTIZER_VERSION.to_string(),
        input: ModelFacts {
            path: model_path.display().to_string(),
            sha256: model_sha,
            format: model.format().name().to_string(),
            description: model.description(),
            bytes: model.file_bytes(),
            params: model.num_params(),
        },
        output_file: out_name,
        output_sha256,
        output_bytes,
        strategy_name: strategy.name().to_string(),
        strategy_toml: strategy.to_toml(),
        roles: app.role_summaries(),
        total: app.total(),
        tensors: app.tensors,
        seconds: t0.elapsed().as_secs_f64(),
        probe: None,
        calibration: calibration.map(|c| CalibrationFacts {
            awq: awq_choices,
            ..c.facts.clone()
        }),
    };
    write_manifest(&dir, &manifest)?;
    Ok(Variant {
        id,
        dir,
        path: out_path,
        manifest,
        cached: false,
    })
}

/// Writes `manifest.json` in `dir` through a temporary file and a rename,
/// so a reader never sees half a manifest.
pub fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), VariantError> {
    let text = serde_json::to_string_pretty(manifest).map_err(|e| VariantError::Io {
        context: "serialising the manifest".into(),
        source: std::io::Error::other(e),
    })?;
    let tmp = dir.join(format!(".tmp-{}-manifest.json", std::process::id()));
    fs_err::write(&tmp, text + "\n").map_err(io("writing the manifest"))?;
    fs_err::rename(&tmp, dir.join("manifest.json")).map_err(io("moving the manifest into place"))
}

/// The per-role table of a manifest (same layout as the quantizer's).
pub fn role_table(m: &Manifest) -> String {
    let app = StrategyApplication {
        strategy: match Strategy::parse(&m.strategy_toml, &m.strategy_name) {
            Ok(s) => s,
            Err(_) => return String::new(),
        },
        tensors: m.tensors.clone(),
    };
    app.summary_table()
}
