//! Activation-aware scaling (AWQ-style) of the weight layers that read one
//! input, with the inverse scale folded into the batch norm that produces
//! that input.
//!
//! For a group of layers reading the same channels `c`, the weights of
//! channel `c` are multiplied by `s_c = rms_c^α` (normalised so that
//! `√(max s · min s) = 1`), rounded to nearest, and the norm's output is
//! divided by `s_c`: its variance becomes `s_c² (var + eps) − eps` and its
//! bias `bias / s_c`, which divides its output by `s_c` exactly and, the
//! activation being ReLU (positively homogeneous), the layers' inputs too.
//! `rms_c` comes from the Hessians' diagonals; `α` is searched on a grid of
//! 0, 0.1, …, 1 for the least output error `Σ_rows Δw H Δwᵀ` over the
//! group (α = 0 is plain rounding, so the search never does worse on the
//! calibration inputs).

use std::collections::HashMap;
use std::sync::Arc;

use qarena_quant::{quantize_tensor, Hessian, QuantSpec, Rounding, TensorInfo};
use rayon::prelude::*;

/// Which input channel a weight column belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnChannels {
    /// A convolution `[out, in, ky, kx]`: `taps` consecutive columns per
    /// channel.
    Taps(usize),
    /// A matrix product over pooled channels `[mean…, scaled mean…, max…]`:
    /// column `j` is channel `j % channels`.
    Pooled,
}

/// One layer of a scale group.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaledLayer {
    pub tensor: String,
    pub columns: ColumnChannels,
}

/// Layers reading the output of one batch norm (through a ReLU).
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleGroup {
    pub layers: Vec<ScaledLayer>,
    pub channels: usize,
    /// The norm's variance and (if it has one) bias tensors.
    pub norm_variance: String,
    pub norm_bias: Option<String>,
    pub eps: f32,
}

/// One layer of a group as the search sees it: what it is, its values,
/// its spec (rounding to nearest) and its inputs' Hessian.
pub(crate) type LayerInput = (TensorInfo, Vec<f32>, QuantSpec, Arc<Hessian>);

/// What the search decided for one group.
#[derive(Debug, Clone)]
pub(crate) struct Scaled {
    /// Column scales per weight tensor.
    pub weights: HashMap<String, Vec<f32>>,
    /// New values of the norm's tensors.
    pub norm: HashMap<String, Vec<f32>>,
    pub alpha: f64,
}

fn channel_of(col: usize, columns: ColumnChannels, channels: usize) -> usize {
    match columns {
        ColumnChannels::Taps(t) => col / t.max(1),
        ColumnChannels::Pooled => col % channels.max(1),
    }
}

/// `Σ_rows Δw H Δwᵀ` of quantizing `w ⊙ s` to nearest and scaling back.
fn output_error(
    info: &TensorInfo,
    w: &[f32],
    spec: &QuantSpec,
    col_scale: &[f32],
    h: &Hessian,
) -> Result<f64, qarena_quant::QuantError> {
    let cols = h.cols;
    let scaled: Vec<f32> = w
        .iter()
        .enumerate()
        .map(|(i, x)| x * col_scale[i % cols])
        .collect();
    let q = quantize_tensor(info, &scaled, spec)?;
    let err: Vec<f64> = q
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| f64::from(v / col_scale[i % cols]) - f64::from(w[i]))
        .collect();
    Ok(err
        .par_chunks(cols)
        .map(|d| {
            let mut total = 0.0;
            for (a, da) in d.iter().enumerate() {
                if *da == 0.0 {
                    continue;
                }
                let row = &h.h[a * cols..(a + 1) * cols];
                let hd: f64 = row.iter().zip(d).map(|(x, y)| x * y).sum();
                total += da * hd;
            }
            total
        })
        .sum())
}

/// Searches α for `group`; `None` when a layer lacks its Hessian, values
/// or spec (the group is then left unscaled).
pub(crate) fn search(
    group: &ScaleGroup,
    layers: &[LayerInput],
    norm_variance: &[f32],
    norm_bias: Option<&[f32]>,
) -> Result<Option<Scaled>, (String, qarena_quant::QuantError)> {
    let c = group.channels;
    if c == 0 || layers.is_empty() || norm_variance.len() != c {
        return Ok(None);
    }
    // Mean square input per channel, over every layer's columns.
    let mut ms = vec![0f64; c];
    let mut count = vec![0f64; c];
    for ((_, _, _, h), l) in layers.iter().zip(&group.layers) {
        let n = (h.n as f64).max(1.0);
        for j in 0..h.cols {
            let ch = channel_of(j, l.columns, c);
            if ch < c {
                ms[ch] += h.h[j * h.cols + j] / n;
                count[ch] += 1.0;
            }
        }
    }
    let rms: Vec<f64> = ms
        .iter()
        .zip(&count)
        .map(|(m, k)| if *k > 0.0 { (m / k).sqrt() } else { 0.0 })
        .collect();
    let scales_for = |alpha: f64| -> Vec<f32> {
        let raw: Vec<f64> = rms
            .iter()
            .map(|r| if *r > 0.0 { r.powf(alpha) } else { 1.0 })
            .collect();
        let (lo, hi) = raw.iter().fold((f64::INFINITY, 0f64), |(lo, hi), x| {
            (lo.min(*x), hi.max(*x))
        });
        let norm = (lo * hi).sqrt().max(1e-12);
        raw.iter()
            .map(|x| (x / norm).clamp(1e-4, 1e4) as f32)
            .collect()
    };
    let col_scales = |s: &[f32]| -> Vec<Vec<f32>> {
        layers
            .iter()
            .zip(&group.layers)
            .map(|((_, _, _, h), l)| {
                (0..h.cols)
                    .map(|j| s[channel_of(j, l.columns, c).min(c - 1)])
                    .collect()
            })
            .collect()
    };
    let mut best: Option<(f64, f64, Vec<f32>)> = None;
    for step in 0..=10 {
        let alpha = f64::from(step) / 10.0;
        let s = scales_for(alpha);
        let mut total = 0.0;
        for ((info, w, spec, h), cs) in layers.iter().zip(col_scales(&s)) {
            total += output_error(info, w, spec, &cs, h).map_err(|e| (info.name.clone(), e))?;
        }
        if best.as_ref().is_none_or(|(e, _, _)| total < *e) {
            best = Some((total, alpha, s));
        }
    }
    let Some((_, alpha, s)) = best else {
        return Ok(None);
    };
    let mut weights = HashMap::new();
    for ((info, _, _, _), cs) in layers.iter().zip(col_scales(&s)) {
        weights.insert(info.name.clone(), cs);
    }
    let eps = f64::from(group.eps);
    let mut norm = HashMap::new();
    norm.insert(
        group.norm_variance.clone(),
        norm_variance
            .iter()
            .zip(&s)
            .map(|(v, sc)| {
                let sc = f64::from(*sc);
                (sc * sc * (f64::from(*v) + eps) - eps) as f32
            })
            .collect(),
    );
    if let (Some(name), Some(b)) = (&group.norm_bias, norm_bias) {
        norm.insert(
            name.clone(),
            b.iter().zip(&s).map(|(b, sc)| b / sc).collect(),
        );
    }
    Ok(Some(Scaled {
        weights,
        norm,
        alpha,
    }))
}

/// True when every layer of `group` rounds activation-aware under its spec.
pub(crate) fn wanted(group: &ScaleGroup, spec_of: &dyn Fn(&str) -> Option<QuantSpec>) -> bool {
    group.layers.iter().all(|l| {
        spec_of(&l.tensor).is_some_and(|s| {
            s.rounding == Rounding::ActivationAware && s.scheme != qarena_quant::Scheme::Keep
        })
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use qarena_quant::{Role, Scheme, StorageType};

    /// A 1×1 conv, 8 outputs × 4 input channels, whose channel 0 carries
    /// inputs 100 times larger than the others.
    fn setup() -> (ScaleGroup, Vec<LayerInput>) {
        let info = TensorInfo {
            name: "conv".into(),
            shape: vec![8, 4, 1, 1],
            dtype: StorageType::F32,
            role: Role::Trunk,
            layer: Some(0),
            is_bias: false,
        };
        let w: Vec<f32> = (0..32)
            .map(|i| ((i * 37 % 17) as f32 - 8.0) / 8.0)
            .collect();
        let mut h = Hessian::new(4);
        for (i, m) in [100.0f64, 1.0, 1.0, 1.0].iter().enumerate() {
            h.h[i * 4 + i] = m * m;
        }
        h.n = 1;
        let spec = QuantSpec::new(Scheme::Int {
            bits: 3,
            symmetric: true,
        });
        let group = ScaleGroup {
            layers: vec![ScaledLayer {
                tensor: "conv".into(),
                columns: ColumnChannels::Taps(1),
            }],
            channels: 4,
            norm_variance: "norm/variance".into(),
            norm_bias: Some("norm/bias".into()),
            eps: 1e-5,
        };
        (group, vec![(info, w, spec, Arc::new(h))])
    }

    #[test]
    fn the_search_never_loses_to_plain_rounding_and_folds_exactly() {
        let (group, layers) = setup();
        let var = vec![1.0f32, 2.0, 0.5, 1.0];
        let bias = vec![0.5f32, -1.0, 0.25, 0.0];
        let found = search(&group, &layers, &var, Some(&bias)).unwrap().unwrap();
        let (info, w, spec, h) = &layers[0];
        let cs = &found.weights["conv"];
        let plain = output_error(info, w, spec, &[1.0; 4], h).unwrap();
        let chosen = output_error(info, w, spec, cs, h).unwrap();
        assert!(chosen <= plain, "{chosen} > {plain}");
        // The large channel gets the larger scale whenever α > 0.
        if found.alpha > 0.0 {
            assert!(cs[0] > cs[1]);
        }
        // The norm's output is divided by the channel scale exactly:
        // sqrt(var' + eps) = s · sqrt(var + eps), bias' = bias / s.
        let v2 = &found.norm["norm/variance"];
        let b2 = &found.norm["norm/bias"];
        for c in 0..4 {
            let s = f64::from(cs[c]);
            let before = (f64::from(var[c]) + 1e-5).sqrt();
            let after = (f64::from(v2[c]) + 1e-5).sqrt();
            assert!((after - s * before).abs() < 1e-5 * s * before);
            assert!((f64::from(b2[c]) * s - f64::from(bias[c])).abs() < 1e-6);
        }
    }

    #[test]
    fn a_group_without_channels_is_left_alone() {
        let (mut group, layers) = setup();
        group.channels = 0;
        assert!(search(&group, &layers, &[], None).unwrap().is_none());
    }
}
