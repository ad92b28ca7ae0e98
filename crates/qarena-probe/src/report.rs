//! What a probe reports: named figures over the suite and per position.
//!
//! Figures are named so that every kind of model (a Go net, an NNUE net,
//! later a language model's next-token logits) reports through the same
//! type: the store, the CLI table and the report read names and values,
//! and each probe documents its names.

use serde::{Deserialize, Serialize};

/// One named figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub name: String,
    pub value: f64,
}

impl Metric {
    pub fn new(name: &str, value: f64) -> Metric {
        Metric {
            name: name.to_string(),
            value,
        }
    }
}

/// The value of the figure called `name`.
pub fn metric(metrics: &[Metric], name: &str) -> Option<f64> {
    metrics.iter().find(|m| m.name == name).map(|m| m.value)
}

/// A variant compared with its reference on one suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The figure that sums the comparison up (plotted against bits and
    /// Elo), e.g. `kl_mean` or `cp_error_mean`.
    pub primary: String,
    /// Figures over the whole suite, in display order.
    pub metrics: Vec<Metric>,
    /// Figures per position (the same names for every position).
    pub per_position: Vec<Vec<Metric>>,
}

impl Comparison {
    /// The primary figure.
    pub fn primary_value(&self) -> Option<f64> {
        metric(&self.metrics, &self.primary)
    }
}

/// A finished probe: the comparison, the noise floor where the probe has
/// one (the reference against itself under another view of the same
/// positions), and what it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// `katago-raw-nn`, `nnue-eval`, ...
    pub probe: String,
    pub suite: String,
    pub suite_sha256: String,
    pub positions: usize,
    pub comparison: Comparison,
    pub noise_floor: Option<Comparison>,
    /// Wall time of the whole probe, engine start included.
    pub seconds: f64,
}

/// What evaluating a model cost the engine: speed and memory.
///
/// A fake-quantized variant runs at the original's precision, so these
/// figures reflect the engine's arithmetic and the file it loaded, not the
/// nominal bits; they are there to catch a variant that makes the engine
/// slower or bigger, and for engines with their own low-precision modes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EngineCost {
    /// Positions evaluated per second of wall time (engine start left
    /// out): what a user waits, and what the machine's load changes.
    pub positions_per_second: Option<f64>,
    /// CPU seconds of the engine process over the whole evaluation, start
    /// included: the engine's own work, which load hardly changes.
    pub cpu_seconds: Option<f64>,
    /// Peak resident memory of the engine process.
    pub peak_rss_bytes: Option<u64>,
}

impl EngineCost {
    /// The variant's cost as probe figures, with its ratios to the
    /// reference's where both are known: `positions_per_second` (wall),
    /// `cpu_seconds` and `speed_ratio` (reference CPU seconds over the
    /// variant's on the same suite; below 1 is slower), `peak_rss_mib` and
    /// `memory_ratio` (above 1 is bigger). The speed ratio is taken from
    /// CPU time because wall time swings with whatever else the machine
    /// runs (two evolutions side by side moved it by a factor of four).
    pub fn metrics(&self, reference: &EngineCost) -> Vec<Metric> {
        let mut out = Vec::new();
        if let Some(v) = self.positions_per_second {
            out.push(Metric::new("positions_per_second", v));
        }
        if let Some(v) = self.cpu_seconds {
            out.push(Metric::new("cpu_seconds", v));
            if let Some(r) = reference.cpu_seconds.filter(|r| *r > 0.0) {
                if v > 0.0 {
                    out.push(Metric::new("speed_ratio", r / v));
                }
            }
        }
        if let Some(v) = self.peak_rss_bytes {
            out.push(Metric::new("peak_rss_mib", v as f64 / 1048576.0));
            if let Some(r) = reference.peak_rss_bytes.filter(|r| *r > 0) {
                out.push(Metric::new("memory_ratio", v as f64 / r as f64));
            }
        }
        out
    }
}

/// Mean, median, p90, p99 and max of a sample (nearest-rank percentiles).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub mean: f64,
    pub median: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Spread {
    /// `None` for an empty sample; non-finite values are left out.
    pub fn of(xs: &[f64]) -> Option<Spread> {
        let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let rank = |q: f64| {
            let k = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
            v[k - 1]
        };
        Some(Spread {
            mean: v.iter().sum::<f64>() / v.len() as f64,
            median: rank(0.5),
            p90: rank(0.9),
            p99: rank(0.99),
            max: v[v.len() - 1],
        })
    }

    /// The five figures as metrics named `<prefix>_mean`, `_median`, ...
    pub fn metrics(&self, prefix: &str) -> Vec<Metric> {
        vec![
            Metric::new(&format!("{prefix}_mean"), self.mean),
            Metric::new(&format!("{prefix}_median"), self.median),
            Metric::new(&format!("{prefix}_p90"), self.p90),
            Metric::new(&format!("{prefix}_p99"), self.p99),
            Metric::new(&format!("{prefix}_max"), self.max),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_uses_nearest_rank_percentiles() {
        let xs: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = Spread::of(&xs).unwrap();
        assert_eq!(s.mean, 50.5);
        assert_eq!(s.median, 50.0);
        assert_eq!(s.p90, 90.0);
        assert_eq!(s.p99, 99.0);
        assert_eq!(s.max, 100.0);
        assert_eq!(Spread::of(&[]), None);
        assert_eq!(Spread::of(&[f64::NAN, 2.0]).unwrap().max, 2.0);
        let m = s.metrics("kl");
        assert_eq!(metric(&m, "kl_p99"), Some(99.0));
    }
}
