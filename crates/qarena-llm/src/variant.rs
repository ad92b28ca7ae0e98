//! Fake-quantized variants of a language model in memory: a strategy's
//! spec for every weight (roles `embedding`, `attention`, `mlp`, `norm`,
//! `lm_head`; layers from `blk.N`), applied with the same quantizer as
//! every other model kind, and the honest bits per weight of the result.

use std::sync::{Arc, Mutex};

use qarena_quant::{
    plan, quantize_gptq_planned, quantize_tensor, QuantSpec, Rounding, Scheme, Strategy,
    TensorCache,
};
use rayon::prelude::*;

use crate::error::{LlmError, Result};
use crate::weights::{catalogue, LlmModel};

/// What quantizing did, per tensor and in all.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VariantReport {
    pub strategy: String,
    pub parameters: u64,
    /// Bytes of the whole model after quantization, side data included
    /// (kept tensors count at the original's width: f32 here, or what the
    /// file stored for a model read in its own precision).
    pub bytes: u64,
    pub bits_per_weight: f64,
    pub tensors: Vec<TensorLine>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TensorLine {
    pub name: String,
    pub scheme: String,
    pub bits: f64,
    pub sqnr_db: f64,
}

/// One tensor's outcome: name, new values (`None`: kept), bits per
/// weight, SQNR in dB, scheme.
type Quantized = (String, Option<Vec<f32>>, f64, f64, String);

/// One tensor as a spec quantized it, kept in a [`VariantCache`].
#[derive(Debug)]
pub struct QuantizedTensor {
    values: Vec<f32>,
    bits: f64,
    sqnr_db: f64,
    label: String,
}

/// Quantized tensors by tensor name and spec, for [`apply_cached`]: one
/// cache serves one model.
pub type VariantCache = Mutex<TensorCache<(String, String), QuantizedTensor>>;

/// A [`VariantCache`] holding at most `floats` quantized values.
pub fn variant_cache(floats: usize) -> VariantCache {
    Mutex::new(TensorCache::new(floats))
}

/// `model` with every weight quantized as `strategy` says (tensors it
/// keeps stay as they are; their bits are the file's).
pub fn apply(model: &LlmModel, strategy: &Strategy) -> Result<(LlmModel, VariantReport)> {
    apply_with(model, strategy, None, None)
}

/// [`apply`], taking every tensor that `cache` holds under the same spec
/// from it and keeping the ones it quantizes there: variants that share
/// most of their specs (an evolution's children and parents) quantize
/// only the tensors they change. `cache` must have been filled from
/// `model` alone.
pub fn apply_cached(
    model: &LlmModel,
    strategy: &Strategy,
    cache: &VariantCache,
) -> Result<(LlmModel, VariantReport)> {
    apply_with(model, strategy, None, Some(cache))
}

/// [`apply_calibrated`] with the tensors `cache` holds taken from it, as
/// [`apply_cached`] does: `cache` must have been filled from `model` and
/// this same `calibration` alone (its key is the tensor and the spec).
pub fn apply_calibrated_cached(
    model: &LlmModel,
    strategy: &Strategy,
    calibration: Option<&crate::model::Calibration>,
    cache: &VariantCache,
) -> Result<(LlmModel, VariantReport)> {
    apply_with(model, strategy, calibration, Some(cache))
}

/// [`apply`] where rules with `rounding = "error_compensating"` round by
/// GPTQ from `calibration` (the inputs each linear layer saw over
/// calibration text). Tensors no input reaches through a matrix product
/// (the embedding when it is only looked up, norms) are rounded to
/// nearest, and say so in the report.
pub fn apply_calibrated(
    model: &LlmModel,
    strategy: &Strategy,
    calibration: Option<&crate::model::Calibration>,
) -> Result<(LlmModel, VariantReport)> {
    apply_with(model, strategy, calibration, None)
}

fn apply_with(
    model: &LlmModel,
    strategy: &Strategy,
    calibration: Option<&crate::model::Calibration>,
    cache: Option<&VariantCache>,
) -> Result<(LlmModel, VariantReport)> {
    let cat = catalogue(&model.weights);
    let needs = plan(&cat, strategy)
        .iter()
        .any(|(_, s)| s.rounding == Rounding::ErrorCompensating);
    if needs && calibration.is_none() {
        return Err(LlmError::Mismatch(format!(
            "strategy {} rounds with error compensation, which needs calibration text (--calib FILE): \
             the inputs each layer sees",
            strategy.name()
        )));
    }
    let specs = plan(&cat, strategy);
    let key_of = |i: usize, spec: &QuantSpec| (cat[i].name.clone(), format!("{spec:?}"));
    // One plan per distinct Hessian (inputs shared by q, k, v and by
    // gate, up), made once, and only for tensors the cache does not hold.
    let mut wanted: Vec<(String, std::sync::Arc<qarena_quant::Hessian>)> = Vec::new();
    for (i, spec) in &specs {
        if spec.rounding != Rounding::ErrorCompensating || spec.scheme == Scheme::Keep {
            continue;
        }
        if cache.is_some_and(|c| lock(c).contains(&key_of(*i, spec))) {
            continue;
        }
        if let Some(h) = calibration.and_then(|c| c.hessians.get(&cat[*i].name)) {
            if !wanted.iter().any(|(_, w)| std::sync::Arc::ptr_eq(w, h)) {
                wanted.push((cat[*i].name.clone(), h.clone()));
            }
        }
    }
    // Plans come from the calibration, which keeps them for the next
    // variant built from it; the distinct ones are made here in parallel,
    // and a tensor whose plan the calibration has dropped since (or whose
    // cached values were dropped since) gets it made again below.
    if let Some(c) = calibration {
        wanted
            .par_iter()
            .map(|(name, h)| {
                c.plan(h, name)
                    .map(|_| ())
                    .map_err(|source| LlmError::Quant {
                        tensor: name.clone(),
                        source,
                    })
            })
            .collect::<Result<Vec<()>>>()?;
    }
    let results: Vec<Result<Quantized>> = specs
        .par_iter()
        .map(|(i, spec)| {
            let info = &cat[*i];
            let w = &model.weights[&info.name];
            if spec.scheme == Scheme::Keep {
                return Ok((info.name.clone(), None, w.file_bits, 0.0, "keep".into()));
            }
            let key = key_of(*i, spec);
            if let Some(held) = cache.and_then(|c| lock(c).get(&key)) {
                return Ok((
                    info.name.clone(),
                    Some(held.values.clone()),
                    held.bits,
                    held.sqnr_db,
                    held.label.clone(),
                ));
            }
            let err = |source| LlmError::Quant {
                tensor: info.name.clone(),
                source,
            };
            let planned = match calibration.and_then(|c| c.hessians.get(&info.name).map(|h| (c, h)))
            {
                Some((c, h)) if spec.rounding == Rounding::ErrorCompensating => {
                    Some(c.plan(h, &info.name).map_err(err)?)
                }
                _ => None,
            };
            let (q, label) = match (spec.rounding, planned) {
                (Rounding::ErrorCompensating, Some(p)) => (
                    quantize_gptq_planned(info, &w.data, spec, &p.1).map_err(err)?,
                    format!("{} gptq", spec_label(spec)),
                ),
                (Rounding::ErrorCompensating, None) => (
                    quantize_tensor(info, &w.data, &spec.with_rounding(Rounding::Nearest))
                        .map_err(err)?,
                    format!("{} nearest (no inputs to calibrate)", spec_label(spec)),
                ),
                _ => (
                    quantize_tensor(info, &w.data, spec).map_err(err)?,
                    spec_label(spec),
                ),
            };
            let rel = q.metrics.sqnr_db;
            if let Some(c) = cache {
                let n = q.values.len();
                let kept = QuantizedTensor {
                    values: q.values.clone(),
                    bits: q.effective_bits,
                    sqnr_db: rel,
                    label: label.clone(),
                };
                lock(c).insert(key, Arc::new(kept), n);
            }
            Ok((
                info.name.clone(),
                Some(q.values),
                q.effective_bits,
                rel,
                label,
            ))
        })
        .collect();
    let mut out = model.clone();
    let (mut bits, mut n) = (0.0, 0u64);
    let mut tensors = Vec::new();
    for r in results {
        let (name, values, b, rel, scheme) = r?;
        let w = out
            .weights
            .get_mut(&name)
            .ok_or_else(|| LlmError::Mismatch(format!("tensor {name} vanished")))?;
        if let Some(v) = values {
            w.data = v;
            w.file_bits = b;
        }
        bits += b * w.data.len() as f64;
        n += w.data.len() as u64;
        tensors.push(TensorLine {
            name,
            scheme,
            bits: b,
            sqnr_db: rel,
        });
    }
    let report = VariantReport {
        strategy: strategy.name().to_string(),
        parameters: n,
        bytes: (bits / 8.0).ceil() as u64,
        bits_per_weight: if n == 0 { 0.0 } else { bits / n as f64 },
        tensors,
    };
    Ok((out, report))
}

fn lock(
    c: &VariantCache,
) -> std::sync::MutexGuard<'_, TensorCache<(String, String), QuantizedTensor>> {
    c.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn spec_label(s: &QuantSpec) -> String {
    format!("{:?}", s.scheme).to_lowercase()
}
