//! Probes kept in the store: a probe is looked up under its key (the
//! probe and its settings, both models' content hashes, the suite hash)
//! before it is run, and stored after, so a repeated probe costs a query.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use qarena_store::{NewProbe, ProbeId, ProbeKey, ProbeRecord, Store, VariantId};

use crate::{Comparison, Metric, Probe, ProbeError, ProbeReport, Suite};

/// Why a stored probe failed.
#[derive(Debug, thiserror::Error)]
pub enum StoredProbeError {
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error(transparent)]
    Store(#[from] qarena_store::StoreError),
    #[error("hashing {path}: {source}")]
    Hash {
        path: String,
        source: qarena_models::ModelError,
    },
    #[error("stored probe {id} cannot be read back: {why}")]
    Corrupt { id: i64, why: String },
}

/// A probe's result, its row in the store, and whether it came from there.
#[derive(Debug, Clone)]
pub struct Probed {
    pub report: ProbeReport,
    pub id: ProbeId,
    pub cached: bool,
}

fn sha256(path: &Path) -> Result<String, StoredProbeError> {
    qarena_models::sha256_file(path).map_err(|e| StoredProbeError::Hash {
        path: path.display().to_string(),
        source: e,
    })
}

/// The key `p` probing `subject` against `reference` on `suite` is stored
/// under.
pub fn key_of<P: Probe>(
    p: &P,
    reference: &Path,
    subject: &Path,
    suite: &Suite,
) -> Result<ProbeKey, StoredProbeError> {
    Ok(ProbeKey {
        probe: p.name().to_string(),
        subject_sha256: sha256(subject)?,
        reference_sha256: sha256(reference)?,
        suite_sha256: suite.sha256().to_string(),
        settings: p.settings(),
    })
}

/// Probes `subject` against `reference`, reading the result from the store
/// when it is there and storing it otherwise. `reference_outputs` lets a
/// caller that probes many subjects evaluate the reference once.
#[allow(clippy::too_many_arguments)]
pub fn probe_stored<P: Probe>(
    store: &Store,
    p: &P,
    reference: &Path,
    reference_outputs: Option<&P::Outputs>,
    subject: &Path,
    suite: &Suite,
    variant: Option<VariantId>,
    with_noise_floor: bool,
    stop: &AtomicBool,
) -> Result<Probed, StoredProbeError> {
    let key = key_of(p, reference, subject, suite)?;
    if let Some(rec) = store.find_probe(&key)? {
        let report = report_of(store, &rec)?;
        if report.noise_floor.is_some() || !with_noise_floor {
            return Ok(Probed {
                report,
                id: rec.id,
                cached: true,
            });
        }
    }
    let report = match reference_outputs {
        Some(out) => {
            let mut r = crate::probe_against(p, out, subject, suite, stop)?;
            if with_noise_floor {
                r.noise_floor = p.noise_floor(reference, suite, stop)?;
            }
            r
        }
        None => crate::probe(p, reference, subject, suite, with_noise_floor, stop)?,
    };
    let id = store.insert_probe(&NewProbe {
        key,
        suite_name: report.suite.clone(),
        variant,
        positions: report.positions as i64,
        primary_metric: report.comparison.primary.clone(),
        metrics: to_json(&report.comparison.metrics),
        noise_floor: report.noise_floor.as_ref().map(|n| to_json(&n.metrics)),
        seconds: report.seconds,
        per_position: report
            .comparison
            .per_position
            .iter()
            .map(|m| to_json(m))
            .collect(),
    })?;
    Ok(Probed {
        report,
        id,
        cached: false,
    })
}

fn to_json(metrics: &[Metric]) -> serde_json::Value {
    serde_json::to_value(metrics).unwrap_or(serde_json::Value::Null)
}

fn metrics_of(id: i64, v: &serde_json::Value) -> Result<Vec<Metric>, StoredProbeError> {
    serde_json::from_value(v.clone()).map_err(|e| StoredProbeError::Corrupt {
        id,
        why: e.to_string(),
    })
}

/// A stored probe as a report (per-position figures included).
pub fn report_of(store: &Store, rec: &ProbeRecord) -> Result<ProbeReport, StoredProbeError> {
    let id = rec.id.0;
    let per_position = store
        .probe_positions(rec.id)?
        .iter()
        .map(|v| metrics_of(id, v))
        .collect::<Result<Vec<_>, _>>()?;
    let noise_floor = rec
        .noise_floor
        .as_ref()
        .map(|v| -> Result<Comparison, StoredProbeError> {
            Ok(Comparison {
                primary: rec.primary_metric.clone(),
                metrics: metrics_of(id, v)?,
                per_position: Vec::new(),
            })
        })
        .transpose()?;
    Ok(ProbeReport {
        probe: rec.key.probe.clone(),
        suite: rec.suite_name.clone(),
        suite_sha256: rec.key.suite_sha256.clone(),
        positions: usize::try_from(rec.positions).unwrap_or(0),
        comparison: Comparison {
            primary: rec.primary_metric.clone(),
            metrics: metrics_of(id, &rec.metrics)?,
            per_position,
        },
        noise_floor,
        seconds: rec.seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A probe whose "network" is the bytes of the model file: one output
    /// per position, the byte at that index.
    struct Bytes {
        evaluations: AtomicUsize,
    }

    impl Probe for Bytes {
        type Outputs = Vec<f64>;
        fn name(&self) -> &'static str {
            "bytes"
        }
        fn evaluate(
            &self,
            model: &Path,
            suite: &Suite,
            _stop: &AtomicBool,
        ) -> Result<Vec<f64>, ProbeError> {
            self.evaluations.fetch_add(1, Ordering::SeqCst);
            let b = std::fs::read(model).unwrap_or_default();
            Ok((0..suite.len())
                .map(|i| f64::from(b.get(i).copied().unwrap_or(0)))
                .collect())
        }
        fn compare(&self, r: &Vec<f64>, v: &Vec<f64>) -> Result<Comparison, ProbeError> {
            let d: Vec<f64> = r.iter().zip(v).map(|(a, b)| (a - b).abs()).collect();
            Ok(Comparison {
                primary: "d_mean".into(),
                metrics: crate::Spread::of(&d)
                    .map(|s| s.metrics("d"))
                    .unwrap_or_default(),
                per_position: d.iter().map(|x| vec![Metric::new("d", *x)]).collect(),
            })
        }
    }

    #[test]
    fn a_repeated_probe_is_read_from_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let (reference, variant) = (dir.path().join("r"), dir.path().join("v"));
        std::fs::write(&reference, [1u8, 2, 3]).unwrap();
        std::fs::write(&variant, [1u8, 4, 9]).unwrap();
        let suite = Suite::chess(
            "s",
            vec![
                "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1".into(),
                "rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq - 0 1".into(),
                "rnbqkbnr/pppp1ppp/8/4p3/4P3/8/PPPP1PPP/RNBQKBNR w KQkq - 0 2".into(),
            ],
        )
        .unwrap();
        let store = Store::open_in_memory().unwrap();
        let p = Bytes {
            evaluations: AtomicUsize::new(0),
        };
        let stop = AtomicBool::new(false);
        let first = probe_stored(
            &store, &p, &reference, None, &variant, &suite, None, false, &stop,
        )
        .unwrap();
        assert!(!first.cached);
        assert_eq!(p.evaluations.load(Ordering::SeqCst), 2);
        assert_eq!(first.report.comparison.primary_value(), Some(8.0 / 3.0));
        let again = probe_stored(
            &store, &p, &reference, None, &variant, &suite, None, false, &stop,
        )
        .unwrap();
        assert!(again.cached);
        assert_eq!(p.evaluations.load(Ordering::SeqCst), 2);
        assert_eq!(again.report.comparison, first.report.comparison);
        // A changed variant file is another probe.
        std::fs::write(&variant, [1u8, 2, 3]).unwrap();
        let changed = probe_stored(
            &store, &p, &reference, None, &variant, &suite, None, false, &stop,
        )
        .unwrap();
        assert!(!changed.cached);
        assert_eq!(changed.report.comparison.primary_value(), Some(0.0));
    }
}
