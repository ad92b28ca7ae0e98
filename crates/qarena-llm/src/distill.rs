//! Palette distillation: the code-table (LUT) values of a variant's MLP
//! weights refined by gradient descent on the KD loss against a teacher-
//! logit cache, every other weight and every code index fixed.
//!
//! Each palette tensor `W[r, c] = P[r, idx[r, c]]` becomes a variable `P`
//! (`[rows, entries]`) with fixed indices; a step runs the model on a few
//! windows of the training cache through [`Llama::forward_train`],
//! averages the KD loss ([`TeacherCache::kd_window`]) and takes an AdamW
//! step, the learning rate following a linear warm-up and a cosine decay.
//! The validation windows (the cache's last part, never trained on) pick
//! the best checkpoint; the result's palettes are snapped to f16, as the
//! code tables are stored.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use serde::Serialize;

use crate::error::{LlmError, Result};
use crate::model::Llama;
use crate::teacher::{scored_range, TeacherCache};
use crate::weights::LlmModel;

/// How a distillation runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DistillSettings {
    pub steps: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Steps of linear warm-up to the peak.
    pub warmup_steps: usize,
    /// The cosine decays to `lr * min_lr_ratio`.
    pub min_lr_ratio: f64,
    /// Cache windows per step.
    pub batch: usize,
    /// The share of the cache's windows held out for picking the best
    /// checkpoint (at least one window).
    pub val_fraction: f64,
    /// Validate every this many steps.
    pub eval_every: usize,
}

impl Default for DistillSettings {
    fn default() -> Self {
        DistillSettings {
            steps: 60,
            lr: 2e-3,
            warmup_steps: 5,
            min_lr_ratio: 0.1,
            batch: 2,
            val_fraction: 0.2,
            eval_every: 10,
        }
    }
}

impl DistillSettings {
    /// The learning rate at `step` (0-based).
    pub fn lr_at(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let span = self.steps.saturating_sub(self.warmup_steps).max(1) as f64;
        let t = ((step - self.warmup_steps) as f64 / span).min(1.0);
        let min = self.lr * self.min_lr_ratio;
        min + 0.5 * (self.lr - min) * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

/// What a distillation did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DistillReport {
    pub settings: DistillSettings,
    pub palettes: usize,
    pub palette_values: usize,
    pub train_windows: usize,
    pub val_windows: usize,
    /// Validation KD loss before the first step, at the end and at its best.
    pub initial: f64,
    pub final_loss: f64,
    pub best: f64,
    pub best_step: usize,
    /// (step, mean training KD loss of the step's windows).
    pub train_curve: Vec<(usize, f64)>,
    /// (step, validation KD loss).
    pub val_curve: Vec<(usize, f64)>,
}

/// One palette tensor: its name, code indices and the variable.
struct Palette {
    name: String,
    idx: Tensor,
    var: Var,
}

/// The palette and indices of a weight whose rows each take at most
/// `max_entries` distinct values.
fn palette_of(
    name: &str,
    shape: &[usize],
    data: &[f32],
    max_entries: usize,
) -> Result<(Vec<f32>, Vec<u32>, usize)> {
    let (rows, cols) = (shape[0], shape[1]);
    let mut tables: Vec<Vec<f32>> = Vec::with_capacity(rows);
    let mut idx = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        let row = &data[r * cols..(r + 1) * cols];
        let mut vals: Vec<f32> = row.to_vec();
        vals.sort_by(f32::total_cmp);
        vals.dedup();
        if vals.len() > max_entries {
            return Err(LlmError::Mismatch(format!(
                "{name}: row {r} takes {} distinct values; palette distillation needs a code-table (lut) variant of at most {max_entries} entries per row",
                vals.len()
            )));
        }
        for x in row {
            idx.push(vals.partition_point(|v| v < x) as u32);
        }
        tables.push(vals);
    }
    let width = tables.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let mut flat = Vec::with_capacity(rows * width);
    for t in &tables {
        let last = t.last().copied().unwrap_or(0.0);
        flat.extend(t.iter().copied());
        flat.extend(std::iter::repeat_n(last, width - t.len()));
    }
    Ok((flat, idx, width))
}

const MLP: [&str; 3] = ["ffn_gate", "ffn_up", "ffn_down"];

/// Refines the MLP palettes of `student` (a variant whose MLP weights are
/// code tables, e.g. `lut2` per channel) against `cache`.
pub fn refine(
    student: &LlmModel,
    cache: &TeacherCache,
    s: &DistillSettings,
    progress: &dyn Fn(&str),
) -> Result<(LlmModel, DistillReport)> {
    if s.steps == 0 || s.batch == 0 {
        return Err(LlmError::Mismatch(
            "distillation needs at least one step and one window per step".into(),
        ));
    }
    let model = Llama::new(student)?;
    let layout: Vec<(usize, usize, usize)> = cache
        .window_layout()
        .into_iter()
        .filter(|(_, len, _)| !scored_range(*len, cache.header.warmup).is_empty())
        .collect();
    if layout.len() < 2 {
        return Err(LlmError::Mismatch(format!(
            "the cache has {} scored window(s); distillation needs at least two (one held out)",
            layout.len()
        )));
    }
    let val_n =
        ((layout.len() as f64 * s.val_fraction).round() as usize).clamp(1, layout.len() - 1);
    let (train, val) = layout.split_at(layout.len() - val_n);

    let mut palettes = Vec::new();
    for l in 0..student.config.layers {
        for m in MLP {
            let name = format!("blk.{l}.{m}.weight");
            let w = student
                .weights
                .get(&name)
                .ok_or_else(|| LlmError::Mismatch(format!("{name} is missing")))?;
            let (flat, idx, width) = palette_of(&name, &w.shape, &w.data, 16)?;
            let var = Var::from_vec(flat, (w.shape[0], width), &Device::Cpu)?;
            let idx = Tensor::from_vec(idx, (w.shape[0], w.shape[1]), &Device::Cpu)?;
            palettes.push(Palette { name, idx, var });
        }
    }
    let weights_of = |p: &[Palette], snap: bool| -> Result<Vec<[Tensor; 3]>> {
        let mut out = Vec::new();
        for chunk in p.chunks(3) {
            let w = |q: &Palette| -> Result<Tensor> {
                let t = q.var.as_tensor();
                let t = if snap {
                    t.to_dtype(DType::F16)?.to_dtype(DType::F32)?
                } else {
                    t.clone()
                };
                Ok(t.gather(&q.idx, 1)?)
            };
            out.push([w(&chunk[0])?, w(&chunk[1])?, w(&chunk[2])?]);
        }
        Ok(out)
    };
    let loss_over = |windows: &[(usize, usize, usize)], mlp: &[[Tensor; 3]]| -> Result<Tensor> {
        let mut total: Option<Tensor> = None;
        for (st, len, first) in windows {
            let logits = model.forward_train(&cache.token_ids[*st..st + len], mlp)?;
            let l = cache.kd_window(&logits, *len, *first)?;
            total = Some(match total {
                Some(t) => (t + l)?,
                None => l,
            });
        }
        let total = total.ok_or_else(|| LlmError::Mismatch("no windows".into()))?;
        Ok((total / windows.len() as f64)?)
    };
    let val_loss = |p: &[Palette]| -> Result<f64> {
        let mlp = weights_of(p, true)?;
        Ok(f64::from(loss_over(val, &mlp)?.to_scalar::<f32>()?))
    };
    let mut opt = AdamW::new(
        palettes.iter().map(|p| p.var.clone()).collect(),
        ParamsAdamW {
            lr: s.lr_at(0),
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        },
    )?;
    let initial = val_loss(&palettes)?;
    progress(&format!(
        "step 0: validation KD {initial:.5} ({} palettes, {} train / {} validation windows)",
        palettes.len(),
        train.len(),
        val.len()
    ));
    let snapshot = |p: &[Palette]| -> Result<Vec<Tensor>> {
        p.iter().map(|q| Ok(q.var.as_tensor().copy()?)).collect()
    };
    let mut best = (initial, 0usize, snapshot(&palettes)?);
    let (mut train_curve, mut val_curve) = (Vec::new(), vec![(0, initial)]);
    let mut last_val = initial;
    for step in 0..s.steps {
        opt.set_learning_rate(s.lr_at(step));
        let batch: Vec<(usize, usize, usize)> = (0..s.batch)
            .map(|b| train[(step * s.batch + b) % train.len()])
            .collect();
        let mlp = weights_of(&palettes, false)?;
        let loss = loss_over(&batch, &mlp)?;
        opt.backward_step(&loss)?;
        let l = f64::from(loss.to_scalar::<f32>()?);
        if !l.is_finite() {
            return Err(LlmError::Mismatch(format!(
                "the KD loss became {l} at step {step}; lower --lr"
            )));
        }
        train_curve.push((step + 1, l));
        if (step + 1) % s.eval_every.max(1) == 0 || step + 1 == s.steps {
            last_val = val_loss(&palettes)?;
            val_curve.push((step + 1, last_val));
            if last_val < best.0 {
                best = (last_val, step + 1, snapshot(&palettes)?);
            }
            progress(&format!(
                "step {}: train KD {l:.5}, validation KD {last_val:.5} (best {:.5} at step {})",
                step + 1,
                best.0,
                best.1
            ));
        }
    }
    let mut out = student.clone();
    for (p, t) in palettes.iter().zip(&best.2) {
        let w = t
            .to_dtype(DType::F16)?
            .to_dtype(DType::F32)?
            .gather(&p.idx, 1)?;
        let data = w.flatten_all()?.to_vec1::<f32>()?;
        if let Some(dst) = out.weights.get_mut(&p.name) {
            dst.data = data;
        }
    }
    let report = DistillReport {
        settings: *s,
        palettes: palettes.len(),
        palette_values: palettes
            .iter()
            .map(|p| p.var.as_tensor().elem_count())
            .sum(),
        train_windows: train.len(),
        val_windows: val.len(),
        initial,
        final_loss: last_val,
        best: best.0,
        best_step: best.1,
        train_curve,
        val_curve,
    };
    Ok((out, report))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code
    use super::*;

    #[test]
    fn the_schedule_warms_up_then_decays_by_a_cosine() {
        let s = DistillSettings {
            steps: 20,
            lr: 1.0,
            warmup_steps: 4,
            min_lr_ratio: 0.1,
            ..DistillSettings::default()
        };
        assert_eq!(s.lr_at(0), 0.25);
        assert_eq!(s.lr_at(3), 1.0);
        assert!((s.lr_at(4) - 1.0).abs() < 1e-12);
        assert!((s.lr_at(12) - 0.55).abs() < 1e-12);
        assert!((s.lr_at(20) - 0.1).abs() < 1e-12);
        assert!((4..20).all(|i| s.lr_at(i + 1) <= s.lr_at(i)));
    }

    #[test]
    fn palettes_and_indices_rebuild_the_weight() {
        let data = [0.5, -1.0, 0.5, 2.0, 3.0, 3.0, 3.0, 3.0];
        let (p, idx, width) = palette_of("w", &[2, 4], &data, 4).unwrap();
        assert_eq!(width, 3);
        assert_eq!(p, [-1.0, 0.5, 2.0, 3.0, 3.0, 3.0]);
        let rebuilt: Vec<f32> = idx
            .iter()
            .enumerate()
            .map(|(i, k)| p[(i / 4) * width + *k as usize])
            .collect();
        assert_eq!(rebuilt, data);
        assert!(
            palette_of("w", &[1, 8], &[1., 2., 3., 4., 5., 6., 7., 8.], 4)
                .unwrap_err()
                .to_string()
                .contains("code-table")
        );
    }
}
