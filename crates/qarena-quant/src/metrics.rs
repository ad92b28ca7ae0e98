//! Error metrics between an original tensor and its quantized copy.
//!
//! Invariant: every field is finite, so metrics can be stored as JSON and
//! summed. An exact copy has infinite SQNR mathematically; we report
//! [`SQNR_CAP_DB`] instead (and `-SQNR_CAP_DB` for a zero signal with a
//! non-zero error). 200 dB is far beyond anything quantization produces
//! (f32 round-off of unit-scale data sits near 150 dB), so the cap never
//! hides a real difference between variants.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Reported SQNR, in dB, of an exact copy.
pub const SQNR_CAP_DB: f64 = 200.0;

/// Chunk size for parallel passes: large enough to amortise task overhead,
/// small enough to balance across cores.
pub(crate) const PAR_CHUNK: usize = 1 << 16;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ErrorMetrics {
    /// Mean squared error.
    pub mse: f64,
    /// 10·log10(signal power / mse), clamped to ±[`SQNR_CAP_DB`].
    pub sqnr_db: f64,
    /// Largest absolute error of any element.
    pub max_abs: f64,
    /// Cosine similarity of the flattened tensors (1 when both are zero).
    pub cosine: f64,
    /// Mean square of the original values; with `mse` it lets summaries
    /// pool SQNR over many tensors (energy-weighted).
    pub signal_power: f64,
}

impl ErrorMetrics {
    /// The metrics of an exact copy of a tensor with the given signal power.
    pub fn exact(signal_power: f64) -> Self {
        ErrorMetrics {
            mse: 0.0,
            sqnr_db: SQNR_CAP_DB,
            max_abs: 0.0,
            cosine: 1.0,
            signal_power,
        }
    }
}

/// SQNR in dB from signal and error energies (any common normalisation).
pub fn sqnr_db(signal: f64, error: f64) -> f64 {
    if error <= 0.0 {
        return SQNR_CAP_DB;
    }
    if signal <= 0.0 {
        return -SQNR_CAP_DB;
    }
    (10.0 * (signal / error).log10()).clamp(-SQNR_CAP_DB, SQNR_CAP_DB)
}

#[derive(Default, Clone, Copy)]
struct Sums {
    xx: f64,
    yy: f64,
    xy: f64,
    ee: f64,
    max: f64,
}

impl Sums {
    fn add(self, o: Sums) -> Sums {
        Sums {
            xx: self.xx + o.xx,
            yy: self.yy + o.yy,
            xy: self.xy + o.xy,
            ee: self.ee + o.ee,
            max: self.max.max(o.max),
        }
    }
}

/// Compare `original` with `quantized` (same length, finite values).
pub fn compare(original: &[f32], quantized: &[f32]) -> ErrorMetrics {
    assert_eq!(original.len(), quantized.len(), "compare: lengths differ");
    let n = original.len();
    if n == 0 {
        return ErrorMetrics::exact(0.0);
    }
    let s = original
        .par_chunks(PAR_CHUNK)
        .zip(quantized.par_chunks(PAR_CHUNK))
        .map(|(a, b)| {
            // f64 accumulation per chunk keeps 23M-element sums accurate.
            let mut s = Sums::default();
            for (&x, &y) in a.iter().zip(b) {
                let (x, y) = (f64::from(x), f64::from(y));
                let e = x - y;
                s.xx += x * x;
                s.yy += y * y;
                s.xy += x * y;
                s.ee += e * e;
                s.max = s.max.max(e.abs());
            }
            s
        })
        .reduce(Sums::default, Sums::add);
    let nf = n as f64;
    let cosine = if s.xx == 0.0 && s.yy == 0.0 {
        1.0
    } else if s.xx == 0.0 || s.yy == 0.0 {
        0.0
    } else {
        (s.xy / (s.xx.sqrt() * s.yy.sqrt())).clamp(-1.0, 1.0)
    };
    ErrorMetrics {
        mse: s.ee / nf,
        sqnr_db: sqnr_db(s.xx, s.ee),
        max_abs: s.max,
        cosine,
        signal_power: s.xx / nf,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_copy_is_capped_and_finite() {
        let x = [1.0f32, -2.0, 3.0];
        let m = compare(&x, &x);
        assert_eq!(m.sqnr_db, SQNR_CAP_DB);
        assert_eq!(m.mse, 0.0);
        assert_eq!(m.cosine, 1.0);
        assert!((m.signal_power - 14.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn zeros_and_known_error() {
        let z = [0.0f32; 4];
        let m = compare(&z, &z);
        assert_eq!((m.sqnr_db, m.cosine), (SQNR_CAP_DB, 1.0));
        let m = compare(&z, &[1.0, 0.0, 0.0, 0.0]);
        assert_eq!((m.sqnr_db, m.cosine, m.mse), (-SQNR_CAP_DB, 0.0, 0.25));
        let m = compare(&[1.0, 1.0], &[1.1, 0.9]);
        assert!((m.sqnr_db - 20.0).abs() < 1e-4, "{}", m.sqnr_db);
        assert!((m.max_abs - 0.1).abs() < 1e-6);
    }
}
