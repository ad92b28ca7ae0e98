//! Calibration of a KataGo net: the inputs every weight layer sees over a
//! set of positions, summed as `H = Σ x xᵀ` (one Hessian per conv and
//! matmul), for error-compensating rounding.
//!
//! The forward pass hands each layer's input matrix over
//! ([`KataNet::forward_tapped`]); its columns are in the file's
//! `[ky][kx][in]` order, and the Hessian is returned in the catalogue's
//! `[in][ky][kx]` order, the order of a weight row `[out, in, ky, kx]`. The
//! products run as f32 matrix products per batch and are summed in f64.

use std::collections::BTreeMap;

use candle_core::{Device, Tensor};
use qarena_go::NetInputs;
use qarena_quant::Hessian;

use crate::katago_net::KataNet;
use crate::{Model, ModelError, Result};

/// Calibration positions, made a batch at a time so a large set never
/// sits in memory as network inputs all at once.
pub trait Positions {
    /// How many there are.
    fn count(&self) -> usize;
    /// The network inputs of positions `range` (within `0..count()`).
    fn inputs(&self, range: std::ops::Range<usize>) -> Result<Vec<NetInputs>>;
}

impl Positions for [NetInputs] {
    fn count(&self) -> usize {
        self.len()
    }

    fn inputs(&self, range: std::ops::Range<usize>) -> Result<Vec<NetInputs>> {
        Ok(self
            .get(range)
            .map(<[NetInputs]>::to_vec)
            .unwrap_or_default())
    }
}

/// Hessians of every weight layer, by catalogue index.
#[derive(Debug, Clone)]
pub struct KataCalibration {
    pub hessians: BTreeMap<usize, Hessian>,
    pub positions: usize,
}

/// One layer's running sum in the file's column order.
struct Sum {
    cols: usize,
    k: usize,
    ic: usize,
    n: u64,
    h: Vec<f64>,
}

/// Runs the net over `inputs` in batches of `batch`, position `i` under
/// board symmetry `symmetries[i % len]` (all 8 by default spread the
/// positions' orientations), and sums every weight layer's `x xᵀ`.
/// `progress(done, total)` is called after every batch.
pub fn katago_hessians(
    model: &Model,
    net: &KataNet,
    inputs: &dyn Positions,
    batch: usize,
    symmetries: &[u8],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<KataCalibration> {
    katago_hessians_of(model, net, inputs, batch, symmetries, None, progress)
}

/// [`katago_hessians`] of the layers in `only` (catalogue indices) when
/// given; each forward pass stops once they have all been seen.
pub fn katago_hessians_of(
    model: &Model,
    net: &KataNet,
    inputs: &dyn Positions,
    batch: usize,
    symmetries: &[u8],
    only: Option<&[usize]>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<KataCalibration> {
    let arch = model
        .katago_arch()
        .ok_or_else(|| ModelError::NotEvaluable {
            path: model.path().to_path_buf(),
            reason: "it is not a KataGo net".into(),
        })?;
    let mut sums: BTreeMap<usize, Sum> = BTreeMap::new();
    for layer in arch.weight_layers() {
        if only.is_some_and(|o| !o.contains(&layer.tensor())) {
            continue;
        }
        let (k, ic) = match &layer {
            crate::katago_arch::WeightLayer::Conv(c) => (c.ky, c.ic),
            crate::katago_arch::WeightLayer::MatMul(m) => (1, m.ic),
        };
        let cols = layer.fan_in();
        sums.insert(
            layer.tensor(),
            Sum {
                cols,
                k,
                ic,
                n: 0,
                h: vec![0.0; cols * cols],
            },
        );
    }
    let symmetries: Vec<u8> = if symmetries.is_empty() {
        vec![0]
    } else {
        symmetries.to_vec()
    };
    let batch = batch.max(1);
    let mut failure: Option<ModelError> = None;
    let mut done = 0;
    // Group each batch's positions by symmetry: one forward pass per group.
    let total = inputs.count();
    for start in (0..total).step_by(batch) {
        let chunk = inputs.inputs(start..(start + batch).min(total))?;
        for &sym in &symmetries {
            let group: Vec<NetInputs> = chunk
                .iter()
                .enumerate()
                .filter(|(j, _)| symmetries[(done + j) % symmetries.len()] == sym)
                .map(|(_, p)| p.clone())
                .collect();
            if group.is_empty() {
                continue;
            }
            let mut seen = 0;
            let wanted = sums.len();
            net.forward_tapped(&group, sym, &mut |tensor, x, cols| {
                if failure.is_some() {
                    return false;
                }
                let Some(sum) = sums.get_mut(&tensor) else {
                    return true;
                };
                seen += 1;
                if sum.cols != cols || cols == 0 {
                    return seen < wanted;
                }
                let rows = x.len() / cols;
                match gram(x, rows, cols) {
                    Ok(g) => {
                        for (a, b) in sum.h.iter_mut().zip(&g) {
                            *a += f64::from(*b);
                        }
                        sum.n += rows as u64;
                    }
                    Err(e) => failure = Some(e),
                }
                seen < wanted
            })?;
            if let Some(e) = failure.take() {
                return Err(e);
            }
        }
        done += chunk.len();
        progress(done, total);
    }
    let hessians = sums
        .into_iter()
        .map(|(t, s)| (t, to_catalogue_order(&s)))
        .collect();
    Ok(KataCalibration {
        hessians,
        positions: total,
    })
}

/// `xᵀ x` of a `rows × cols` matrix.
fn gram(x: &[f32], rows: usize, cols: usize) -> Result<Vec<f32>> {
    let fail = |e: candle_core::Error| ModelError::NotEvaluable {
        path: std::path::PathBuf::new(),
        reason: format!("tensor arithmetic failed: {e}"),
    };
    let t = Tensor::from_slice(x, (rows, cols), &Device::Cpu).map_err(fail)?;
    t.t()
        .and_then(|tt| tt.matmul(&t))
        .and_then(|g| g.flatten_all())
        .and_then(|g| g.to_vec1::<f32>())
        .map_err(fail)
}

/// File column `(ky·k + kx)·in + i` becomes catalogue column
/// `(i·k + ky)·k + kx`.
fn to_catalogue_order(s: &Sum) -> Hessian {
    let kk = s.k * s.k;
    let map = |c: usize| {
        let tap = c / s.ic;
        let i = c % s.ic;
        i * kk + tap
    };
    let mut h = Hessian::new(s.cols);
    for a in 0..s.cols {
        let ma = map(a);
        for b in 0..s.cols {
            h.h[ma * s.cols + map(b)] = s.h[a * s.cols + b];
        }
    }
    h.n = s.n;
    h
}
