//! Applying a strategy to a tensor catalogue: which spec each tensor gets
//! ([`plan`]), and the record of what quantization cost
//! ([`StrategyApplication`]) with per-role summaries for the CLI and the
//! variant manifest.
//!
//! Invariant: summaries are computed from the per-tensor records only, so a
//! manifest that stores the records can always recompute them. Pooled SQNR
//! is energy-weighted (total signal energy over total error energy), i.e.
//! the SQNR of the role's weights concatenated, not an average of dB.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metrics::{sqnr_db, ErrorMetrics};
use crate::quantize::QuantOutput;
use crate::scheme::QuantSpec;
use crate::strategy::Strategy;
use crate::tensor::{Role, StorageType, TensorInfo};

/// The spec for every tensor of `catalogue`, as `(catalogue index, spec)`
/// in catalogue order; tensors no rule matches get the default (or keep).
pub fn plan(catalogue: &[TensorInfo], s: &Strategy) -> Vec<(usize, QuantSpec)> {
    catalogue
        .iter()
        .enumerate()
        .map(|(i, t)| (i, s.resolve(t).1))
        .collect()
}

/// What quantizing one tensor did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorReport {
    pub name: String,
    pub role: Role,
    pub layer: Option<u32>,
    pub shape: Vec<usize>,
    pub dtype: StorageType,
    /// Index of the strategy rule that chose the spec (`None`: default).
    pub rule: Option<usize>,
    pub spec: QuantSpec,
    pub params: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Original bits per weight (the storage type's width).
    pub bits_before: f64,
    /// Bits per weight after quantization, including all side data.
    pub effective_bits: f64,
    pub metrics: ErrorMetrics,
}

/// Totals over a set of tensors (one role, or the whole model).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleSummary {
    /// `None` for the whole-model total.
    pub role: Option<Role>,
    pub tensors: usize,
    pub params: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// `bytes_after * 8 / params`.
    pub effective_bits: f64,
    /// Energy-weighted SQNR over the set (see module docs).
    pub sqnr_db: f64,
}

/// The record of one strategy applied to one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyApplication {
    pub strategy: Strategy,
    pub tensors: Vec<TensorReport>,
}

impl StrategyApplication {
    pub fn new(strategy: Strategy) -> Self {
        StrategyApplication {
            strategy,
            tensors: Vec::new(),
        }
    }

    /// Record one tensor's result; `rule` and `spec` as from
    /// [`Strategy::resolve`].
    pub fn record(
        &mut self,
        info: &TensorInfo,
        rule: Option<usize>,
        spec: QuantSpec,
        out: &QuantOutput,
    ) {
        self.tensors.push(TensorReport {
            name: info.name.clone(),
            role: info.role,
            layer: info.layer,
            shape: info.shape.clone(),
            dtype: info.dtype,
            rule,
            spec,
            params: info.numel() as u64,
            bytes_before: info.bytes(),
            bytes_after: out.bytes,
            bits_before: f64::from(info.dtype.bits()),
            effective_bits: out.effective_bits,
            metrics: out.metrics,
        });
    }

    /// One summary per role present, in [`Role`] order.
    pub fn role_summaries(&self) -> Vec<RoleSummary> {
        let mut by_role: BTreeMap<Role, Vec<&TensorReport>> = BTreeMap::new();
        for t in &self.tensors {
            by_role.entry(t.role).or_default().push(t);
        }
        by_role
            .into_iter()
            .map(|(role, ts)| summarise(Some(role), &ts))
            .collect()
    }

    /// Whole-model totals.
    pub fn total(&self) -> RoleSummary {
        let all: Vec<&TensorReport> = self.tensors.iter().collect();
        summarise(None, &all)
    }

    /// Plain-text per-role table with a total line, for the CLI.
    pub fn summary_table(&self) -> String {
        let mut rows = self.role_summaries();
        rows.push(self.total());
        let mut out = format!(
            "{:<20} {:>7} {:>12} {:>14} {:>14} {:>8} {:>9}\n",
            "role", "tensors", "params", "bytes before", "bytes after", "bits/w", "SQNR dB"
        );
        for r in rows {
            out += &format!(
                "{:<20} {:>7} {:>12} {:>14} {:>14} {:>8.3} {:>9.2}\n",
                r.role.map_or("total", Role::as_str),
                r.tensors,
                r.params,
                r.bytes_before,
                r.bytes_after,
                r.effective_bits,
                r.sqnr_db
            );
        }
        out
    }
}

fn summarise(role: Option<Role>, ts: &[&TensorReport]) -> RoleSummary {
    let params: u64 = ts.iter().map(|t| t.params).sum();
    let bytes_after: u64 = ts.iter().map(|t| t.bytes_after).sum();
    let signal: f64 = ts
        .iter()
        .map(|t| t.metrics.signal_power * t.params as f64)
        .sum();
    let error: f64 = ts.iter().map(|t| t.metrics.mse * t.params as f64).sum();
    RoleSummary {
        role,
        tensors: ts.len(),
        params,
        bytes_before: ts.iter().map(|t| t.bytes_before).sum(),
        bytes_after,
        effective_bits: if params == 0 {
            0.0
        } else {
            bytes_after as f64 * 8.0 / params as f64
        },
        sqnr_db: sqnr_db(signal, error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{compare, quantize_tensor};

    fn t(name: &str, role: Role, shape: &[usize]) -> TensorInfo {
        TensorInfo {
            name: name.into(),
            shape: shape.to_vec(),
            dtype: StorageType::F32,
            role,
            layer: Some(0),
            is_bias: false,
        }
    }

    fn values(n: usize, k: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 31 + k * 7) % 97) as f32 - 48.0)
            .collect()
    }

    #[test]
    fn plan_apply_and_summarise() {
        let cat = vec![
            t("a", Role::Trunk, &[4, 32]),
            t("b", Role::PolicyHead, &[2, 32]),
            t("c", Role::Trunk, &[8, 16]),
        ];
        let s = Strategy::parse(
            "[[rule]]\nrole = \"policy_head\"\nscheme = \"keep\"\n[default]\nscheme = \"int4\"\n",
            "s",
        )
        .unwrap();
        let p = plan(&cat, &s);
        assert_eq!(p.iter().map(|x| x.0).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(p[1].1, QuantSpec::KEEP);

        let mut app = StrategyApplication::new(s.clone());
        let mut trunk_x = Vec::new();
        let mut trunk_y = Vec::new();
        for (i, spec) in p {
            let v = values(cat[i].numel(), i);
            let out = quantize_tensor(&cat[i], &v, &spec).unwrap();
            if cat[i].role == Role::Trunk {
                trunk_x.extend_from_slice(&v);
                trunk_y.extend_from_slice(&out.values);
            }
            app.record(&cat[i], s.resolve(&cat[i]).0, spec, &out);
        }
        let roles = app.role_summaries();
        assert_eq!(roles.len(), 2);
        let trunk = &roles[0];
        assert_eq!(trunk.role, Some(Role::Trunk));
        assert_eq!((trunk.tensors, trunk.params), (2, 256));
        assert_eq!(trunk.bytes_before, 1024);
        // int4 per channel: 128 bytes of codes + 12 f16 scales.
        assert_eq!(trunk.bytes_after, 128 + 24);
        assert_eq!(trunk.effective_bits, 152.0 * 8.0 / 256.0);
        // Pooled SQNR is the SQNR of the concatenated role weights.
        let direct = compare(&trunk_x, &trunk_y).sqnr_db;
        assert!((trunk.sqnr_db - direct).abs() < 1e-9);
        let head = &roles[1];
        assert_eq!(head.sqnr_db, crate::SQNR_CAP_DB);
        assert_eq!(head.bytes_after, head.bytes_before);

        let total = app.total();
        assert_eq!(total.role, None);
        assert_eq!(total.bytes_after, 152 + 256);
        let table = app.summary_table();
        assert!(
            table.contains("policy_head") && table.contains("total"),
            "{table}"
        );
        let json = serde_json::to_string(&app).unwrap();
        let back: StrategyApplication = serde_json::from_str(&json).unwrap();
        // serde_json parses floats to within an ulp (no float_roundtrip
        // feature in the workspace), so compare the exact parts.
        assert_eq!(back.strategy, app.strategy);
        assert_eq!(back.total().bytes_after, total.bytes_after);
    }
}
