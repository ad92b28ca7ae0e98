//! Error-compensating rounding (GPTQ, Frantar et al. 2022) of a weight
//! matrix `W` (`[outputs, inputs]`, row-major) from the statistics of the
//! inputs the layer sees: `H = Σ x xᵀ` over calibration inputs `x`.
//!
//! Columns (inputs) are rounded in turn, by decreasing `H_ii` when
//! `act_order` is set; each column's rounding error, scaled by the inverse
//! Hessian, is pushed onto the columns not yet rounded, so that the
//! layer's output `W x` moves as little as the calibration inputs can
//! tell. Updates run in blocks of columns (lazy batch updates). The grids
//! are the spec's own, one per scale group along the input dimension,
//! fitted to the original weights before any update (GPTQ's static
//! groups), so bytes and layout are those of round-to-nearest and every
//! integer and code-table scheme works, symmetric or not.
//!
//! `damp` adds `damp · mean(diag H)` to the diagonal; columns no input
//! ever reaches (`H_ii = 0`) are rounded as they are.

use rayon::prelude::*;

use crate::error::QuantError;
use crate::metrics::compare;
use crate::quantize::{fit_row_groups, predicted_bytes, QuantOutput};
use crate::scheme::{QuantSpec, Scheme};
use crate::tensor::TensorInfo;

/// `Σ x xᵀ` over the calibration inputs of one layer, in f64.
#[derive(Debug, Clone, PartialEq)]
pub struct Hessian {
    pub cols: usize,
    /// Inputs summed.
    pub n: u64,
    /// Row-major `cols × cols`.
    pub h: Vec<f64>,
}

impl Hessian {
    pub fn new(cols: usize) -> Hessian {
        Hessian {
            cols,
            n: 0,
            h: vec![0.0; cols * cols],
        }
    }

    /// Adds inputs, `rows × cols` row-major.
    pub fn add(&mut self, x: &[f32]) {
        let c = self.cols;
        if c == 0 {
            return;
        }
        let rows = x.len() / c;
        self.h.par_chunks_mut(c).enumerate().for_each(|(i, hrow)| {
            for r in 0..rows {
                let xr = &x[r * c..(r + 1) * c];
                let xi = f64::from(xr[i]);
                if xi == 0.0 {
                    continue;
                }
                for (h, xj) in hrow.iter_mut().zip(xr) {
                    *h += xi * f64::from(*xj);
                }
            }
        });
        self.n += rows as u64;
    }

    /// Adds another Hessian of the same size.
    pub fn merge(&mut self, other: &Hessian) {
        for (a, b) in self.h.iter_mut().zip(&other.h) {
            *a += b;
        }
        self.n += other.n;
    }
}

/// How GPTQ runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GptqSettings {
    /// Dampening, as a share of the mean diagonal (0.01 in the paper).
    pub damp: f64,
    /// Columns per lazy batch update.
    pub block: usize,
    /// Round columns by decreasing `H_ii`.
    pub act_order: bool,
}

impl Default for GptqSettings {
    fn default() -> Self {
        GptqSettings {
            damp: 0.01,
            block: 128,
            act_order: true,
        }
    }
}

/// In-place lower Cholesky factor of a symmetric positive definite
/// matrix (`n × n`, row-major); `false` if it is not positive definite.
fn cholesky(a: &mut [f64], n: usize) -> bool {
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= a[j * n + k] * a[j * n + k];
        }
        if d <= 0.0 || !d.is_finite() {
            return false;
        }
        let d = d.sqrt();
        a[j * n + j] = d;
        // Rows below j, in parallel.
        let (head, tail) = a.split_at_mut((j + 1) * n);
        let row_j = &head[j * n..j * n + j];
        tail.par_chunks_mut(n).for_each(|row_i| {
            let mut s = row_i[j];
            for k in 0..j {
                s -= row_i[k] * row_j[k];
            }
            row_i[j] = s / d;
        });
    }
    for i in 0..n {
        for j in i + 1..n {
            a[i * n + j] = 0.0;
        }
    }
    true
}

/// The upper Cholesky factor `U` of `H⁻¹` (`H⁻¹ = Uᵀ U`), as GPTQ uses it.
fn inverse_cholesky_upper(h: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = h.to_vec();
    if !cholesky(&mut l, n) {
        return None;
    }
    // H⁻¹ column by column (in parallel): L y = e_c, then Lᵀ x = y.
    let mut lt = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            lt[j * n + i] = l[i * n + j];
        }
    }
    let mut inv = vec![0.0; n * n];
    inv.par_chunks_mut(n).enumerate().for_each(|(c, x)| {
        let mut y = vec![0.0; n];
        for i in c..n {
            let mut s = if i == c { 1.0 } else { 0.0 };
            for k in c..i {
                s -= l[i * n + k] * y[k];
            }
            y[i] = s / l[i * n + i];
        }
        for i in (0..n).rev() {
            let mut s = y[i];
            for k in i + 1..n {
                s -= lt[i * n + k] * x[k];
            }
            x[i] = s / l[i * n + i];
        }
    });
    // (Symmetric: column c is row c.)
    if !cholesky(&mut inv, n) {
        return None;
    }
    // Upper = (lower)ᵀ.
    let mut u = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            u[j * n + i] = inv[i * n + j];
        }
    }
    Some(u)
}

/// What GPTQ needs of a Hessian, computed once for every matrix that
/// shares its inputs: the column order and the upper Cholesky factor of
/// the dampened inverse in that order.
#[derive(Debug, Clone, PartialEq)]
pub struct GptqPlan {
    pub cols: usize,
    order: Vec<usize>,
    u: Vec<f64>,
    block: usize,
}

impl GptqPlan {
    /// Errors when the Hessian is not positive definite even after
    /// dampening (`name` names the layer).
    pub fn new(h: &Hessian, s: &GptqSettings, name: &str) -> Result<GptqPlan, QuantError> {
        let cols = h.cols;
        let mut hm = h.h.clone();
        // Columns no input reaches: rounded as they are.
        for i in 0..cols {
            if hm[i * cols + i] <= 0.0 {
                hm[i * cols + i] = 1.0;
            }
        }
        let mean_diag = (0..cols).map(|i| hm[i * cols + i]).sum::<f64>() / cols.max(1) as f64;
        for i in 0..cols {
            hm[i * cols + i] += s.damp.max(0.0) * mean_diag;
        }
        let mut order: Vec<usize> = (0..cols).collect();
        if s.act_order {
            order.sort_by(|&a, &b| hm[b * cols + b].total_cmp(&hm[a * cols + a]));
        }
        let mut hp = vec![0.0; cols * cols];
        for (i, &oi) in order.iter().enumerate() {
            for (j, &oj) in order.iter().enumerate() {
                hp[i * cols + j] = hm[oi * cols + oj];
            }
        }
        let u = inverse_cholesky_upper(&hp, cols).ok_or_else(|| QuantError::Unsupported {
            name: name.to_string(),
            what: "error-compensating rounding",
            why: "the calibration Hessian is not positive definite even after dampening",
        })?;
        Ok(GptqPlan {
            cols,
            order,
            u,
            block: s.block.max(1),
        })
    }
}

/// Quantizes `values` (`info.shape`, a matrix of `[outputs, inputs]`)
/// with `spec`, compensating each rounding error with `h` (the inputs'
/// `Σ x xᵀ`, `inputs × inputs`). Bytes and grids are those of
/// round-to-nearest.
///
/// Errors: as `quantize_tensor`; a tensor that is not a matrix of
/// `h.cols` inputs; outliers; schemes without scale groups.
pub fn quantize_gptq(
    info: &TensorInfo,
    values: &[f32],
    spec: &QuantSpec,
    h: &Hessian,
    s: &GptqSettings,
) -> Result<QuantOutput, QuantError> {
    quantize_gptq_planned(info, values, spec, &GptqPlan::new(h, s, &info.name)?)
}

/// [`quantize_gptq`] with the Hessian's plan made beforehand.
pub fn quantize_gptq_planned(
    info: &TensorInfo,
    values: &[f32],
    spec: &QuantSpec,
    plan: &GptqPlan,
) -> Result<QuantOutput, QuantError> {
    quantize_gptq_blocks(info, values, spec, &[(0, plan)])
}

/// [`quantize_gptq`] for a block-diagonal Hessian: `blocks` are the
/// diagonal blocks as `(first input, plan)`, in order and covering every
/// input. Inputs of different blocks never occur together (an NNUE feature
/// transformer's features under different king buckets), so each block's
/// errors stay within it; the grids span the rows as the spec says.
pub fn quantize_gptq_blocks(
    info: &TensorInfo,
    values: &[f32],
    spec: &QuantSpec,
    blocks: &[(usize, &GptqPlan)],
) -> Result<QuantOutput, QuantError> {
    let unsupported = |why: &'static str| QuantError::Unsupported {
        name: info.name.clone(),
        what: "error-compensating rounding",
        why,
    };
    if spec.scheme == Scheme::Keep || spec.scheme.cast_type().is_some() {
        return Err(unsupported("keep, fp16 and bf16 do not round to a grid"));
    }
    if spec.outlier_percent > 0.0 {
        return Err(unsupported("outliers are not combined with it"));
    }
    if spec.granularity == crate::Granularity::Tensor {
        return Err(unsupported(
            "one scale for the whole tensor; use channel or group granularity",
        ));
    }
    let numel = info.numel();
    let cols: usize = blocks.iter().map(|(_, p)| p.cols).sum();
    let mut next = 0;
    for (start, p) in blocks {
        if *start != next {
            return Err(unsupported(
                "the Hessian's blocks do not cover the inputs in order",
            ));
        }
        next += p.cols;
    }
    if info.shape.len() < 2 || numel == 0 || numel / info.shape[0] != cols {
        return Err(unsupported(
            "it needs a matrix whose rows are as long as the calibration inputs",
        ));
    }
    // The grids of round-to-nearest, fitted on the original weights.
    let (fitted, layout) = fit_row_groups(info, values, spec)?;
    let mut w: Vec<f64> = values.iter().map(|x| f64::from(*x)).collect();
    // Row by row in parallel: each row's updates touch only that row.
    let out: Vec<Vec<f32>> = w
        .par_chunks_mut(cols)
        .enumerate()
        .map(|(r, full_row)| {
            let mut q = vec![0.0f32; cols];
            for (offset, plan) in blocks {
                let (order, u, block, n) = (&plan.order, &plan.u, plan.block, plan.cols);
                let row = &mut full_row[*offset..offset + n];
                let mut err = vec![0.0f64; block];
                let mut d = vec![0.0f64; n];
                let mut start = 0;
                while start < n {
                    let end = (start + block).min(n);
                    for i in start..end {
                        let col = order[i];
                        let x = row[col];
                        let grid = &fitted[layout.group_of(r * cols + offset + col)];
                        let y = grid.round(x as f32);
                        q[offset + col] = y;
                        let e = (x - f64::from(y)) / u[i * n + i];
                        err[i - start] = e;
                        // Within the block of columns at once.
                        for j in i + 1..end {
                            row[order[j]] -= e * u[i * n + j];
                        }
                    }
                    // The rest, lazily, after the block of columns: each
                    // later column's correction sums the block's errors in
                    // order (i outermost, so `u` is read along its rows).
                    let rest = &mut d[..n - end];
                    rest.fill(0.0);
                    for i in start..end {
                        let e = err[i - start];
                        let ui = &u[i * n + end..(i + 1) * n];
                        for (dj, uij) in rest.iter_mut().zip(ui) {
                            *dj += e * uij;
                        }
                    }
                    for (j, dj) in (end..n).zip(rest.iter()) {
                        row[order[j]] -= dj;
                    }
                    start = end;
                }
            }
            q
        })
        .collect();
    let out: Vec<f32> = out.into_iter().flatten().collect();
    let bytes = predicted_bytes(info, spec);
    Ok(QuantOutput {
        metrics: compare(values, &out),
        effective_bits: bytes as f64 * 8.0 / numel as f64,
        bytes,
        values: out,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code
    use super::*;
    use crate::tensor::{Role, StorageType};
    use crate::{quantize_tensor, quantize_tensor_grids, Granularity};

    fn noise(seed: u64, n: usize) -> Vec<f32> {
        let mut z = seed;
        (0..n)
            .map(|_| {
                z = z
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn matrix(rows: usize, cols: usize) -> TensorInfo {
        TensorInfo {
            name: "w".into(),
            shape: vec![rows, cols],
            dtype: StorageType::F32,
            role: Role::Trunk,
            layer: Some(0),
            is_bias: false,
        }
    }

    /// Inputs with strongly correlated features and unequal scales.
    fn inputs(n: usize, cols: usize) -> Vec<f32> {
        let z = noise(7, n * 4);
        let e = noise(9, n * cols);
        let mut x = vec![0.0; n * cols];
        for r in 0..n {
            for c in 0..cols {
                let f = z[r * 4 + c % 4] * (1.0 + c as f32 / 8.0);
                x[r * cols + c] = f + 0.1 * e[r * cols + c];
            }
        }
        x
    }

    fn output_error(w: &[f32], q: &[f32], x: &[f32], cols: usize) -> f64 {
        let rows = w.len() / cols;
        let mut total = 0.0;
        for xr in x.chunks(cols) {
            for r in 0..rows {
                let d: f64 = (0..cols)
                    .map(|c| f64::from(w[r * cols + c] - q[r * cols + c]) * f64::from(xr[c]))
                    .sum();
                total += d * d;
            }
        }
        total
    }

    #[test]
    fn with_uncorrelated_inputs_it_is_round_to_nearest() {
        let (rows, cols) = (6, 24);
        let w = noise(3, rows * cols);
        let mut h = Hessian::new(cols);
        for i in 0..cols {
            h.h[i * cols + i] = 1.0;
        }
        let spec = QuantSpec::new("int4".parse().unwrap()).with_granularity(Granularity::Group(8));
        let g =
            quantize_gptq(&matrix(rows, cols), &w, &spec, &h, &GptqSettings::default()).unwrap();
        let rtn = quantize_tensor(&matrix(rows, cols), &w, &spec).unwrap();
        assert_eq!(g.values, rtn.values);
        assert_eq!(g.bytes, rtn.bytes);
    }

    #[test]
    fn it_moves_the_outputs_less_than_rounding_to_nearest_and_stays_on_the_grids() {
        let (rows, cols, n) = (12, 32, 512);
        let w = noise(5, rows * cols);
        let x = inputs(n, cols);
        let mut h = Hessian::new(cols);
        h.add(&x[..n * cols / 2]);
        h.add(&x[n * cols / 2..]);
        assert_eq!(h.n, n as u64);
        let info = matrix(rows, cols);
        for (scheme, g) in [
            ("int3", Granularity::Channel),
            ("uint4", Granularity::Group(16)),
            ("nf4", Granularity::Group(16)),
            ("lut2", Granularity::Channel),
        ] {
            let spec = QuantSpec::new(scheme.parse().unwrap()).with_granularity(g);
            for act_order in [false, true] {
                let s = GptqSettings {
                    act_order,
                    block: 8,
                    ..GptqSettings::default()
                };
                let q = quantize_gptq(&info, &w, &spec, &h, &s).unwrap();
                let rtn = quantize_tensor(&info, &w, &spec).unwrap();
                let (eg, er) = (
                    output_error(&w, &q.values, &x, cols),
                    output_error(&w, &rtn.values, &x, cols),
                );
                assert!(
                    eg < 0.6 * er,
                    "{scheme} act_order {act_order}: {eg} vs {er}"
                );
                // Every value is on its group's round-to-nearest grid.
                let (_, grids) = quantize_tensor_grids(&info, &w, &spec).unwrap();
                let per_row = grids.len() / rows;
                let glen = cols / per_row;
                for (i, y) in q.values.iter().enumerate() {
                    let grid = &grids[(i / cols) * per_row + (i % cols) / glen];
                    assert_eq!(grid.value_of(grid.code_of(*y)), *y, "{scheme} {i}");
                }
                assert_eq!(q.bytes, rtn.bytes);
            }
        }
    }

    #[test]
    fn a_block_diagonal_hessian_splits_into_independent_blocks() {
        let (rows, n) = (5, 256);
        let x = inputs(n, 20);
        // Inputs 0..8 and 8..20 never occur together.
        let mut dense = Hessian::new(20);
        let (mut a, mut b) = (Hessian::new(8), Hessian::new(12));
        let mut xa = Vec::new();
        let mut xb = Vec::new();
        for (k, row) in x.chunks(20).enumerate() {
            let mut masked = row.to_vec();
            if k % 2 == 0 {
                masked[8..].iter_mut().for_each(|v| *v = 0.0);
                xa.extend_from_slice(&row[..8]);
            } else {
                masked[..8].iter_mut().for_each(|v| *v = 0.0);
                xb.extend_from_slice(&row[8..]);
            }
            dense.add(&masked);
        }
        a.add(&xa);
        b.add(&xb);
        let s = GptqSettings {
            damp: 0.0,
            block: 4,
            act_order: false,
        };
        let w = noise(11, rows * 20);
        let info = matrix(rows, 20);
        let spec = QuantSpec::new("int3".parse().unwrap());
        let whole = quantize_gptq(&info, &w, &spec, &dense, &s).unwrap();
        let (pa, pb) = (
            GptqPlan::new(&a, &s, "a").unwrap(),
            GptqPlan::new(&b, &s, "b").unwrap(),
        );
        let split = quantize_gptq_blocks(&info, &w, &spec, &[(0, &pa), (8, &pb)]).unwrap();
        assert_eq!(whole.values, split.values);
        // Blocks that do not cover the inputs in order are refused.
        assert!(quantize_gptq_blocks(&info, &w, &spec, &[(8, &pb), (0, &pa)]).is_err());
        assert!(quantize_gptq_blocks(&info, &w, &spec, &[(0, &pa)]).is_err());
    }

    #[test]
    fn what_it_cannot_do_is_refused_by_name() {
        let h = Hessian::new(8);
        let spec = QuantSpec::new("int4".parse().unwrap());
        let s = GptqSettings::default();
        let v = vec![0.5; 16];
        // Rows of the wrong length, a vector, a cast scheme.
        assert!(quantize_gptq(&matrix(4, 4), &v, &spec, &h, &s).is_err());
        assert!(quantize_gptq(
            &TensorInfo {
                shape: vec![16],
                ..matrix(1, 16)
            },
            &v,
            &spec,
            &h,
            &s
        )
        .is_err());
        let e = quantize_gptq(
            &matrix(2, 8),
            &v,
            &QuantSpec::new("fp16".parse().unwrap()),
            &h,
            &s,
        )
        .unwrap_err();
        assert!(e.to_string().contains('w'), "{e}");
        // All inputs zero: every column is dead and rounds as it is.
        let q = quantize_gptq(&matrix(2, 8), &v, &spec, &h, &s).unwrap();
        assert_eq!(
            q.values,
            quantize_tensor(&matrix(2, 8), &v, &spec).unwrap().values
        );
    }
}
