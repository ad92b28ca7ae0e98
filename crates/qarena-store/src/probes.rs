//! Probes: a subject model compared with a reference on a position suite
//! (see `qarena-probe`). A probe is stored under everything that decides
//! its result — the probe, both models' content hashes, the suite's hash
//! and the settings — so asking again reads it back instead of running it.

use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use crate::{json_col, json_col_opt, json_text, now_rfc3339, ProbeId, Result, Store, VariantId};

/// What decides a probe's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeKey {
    /// `katago-raw-nn`, `nnue-eval`, ...
    pub probe: String,
    pub subject_sha256: String,
    pub reference_sha256: String,
    pub suite_sha256: String,
    /// The probe's settings (engine, symmetry, ...), stored as canonical JSON.
    pub settings: serde_json::Value,
}

/// A probe to store, with its per-position figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewProbe {
    pub key: ProbeKey,
    pub suite_name: String,
    /// The variant probed, when the subject is one.
    pub variant: Option<VariantId>,
    pub positions: i64,
    pub primary_metric: String,
    /// JSON array of `{"name", "value"}`.
    pub metrics: serde_json::Value,
    pub noise_floor: Option<serde_json::Value>,
    pub seconds: f64,
    /// One JSON array of `{"name", "value"}` per position, in suite order.
    pub per_position: Vec<serde_json::Value>,
}

/// A stored probe (without its per-position rows; see
/// [`Store::probe_positions`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeRecord {
    pub id: ProbeId,
    pub key: ProbeKey,
    pub suite_name: String,
    pub variant: Option<VariantId>,
    pub positions: i64,
    pub primary_metric: String,
    pub metrics: serde_json::Value,
    pub noise_floor: Option<serde_json::Value>,
    pub seconds: f64,
    pub created_at: String,
}

const PROBE_COLUMNS: &str = "id, probe, subject_sha256, reference_sha256, suite_sha256, settings, \
     suite_name, variant_id, positions, primary_metric, metrics, noise_floor, seconds, created_at";

fn probe_from_row(r: &Row<'_>) -> rusqlite::Result<ProbeRecord> {
    Ok(ProbeRecord {
        id: r.get(0)?,
        key: ProbeKey {
            probe: r.get(1)?,
            subject_sha256: r.get(2)?,
            reference_sha256: r.get(3)?,
            suite_sha256: r.get(4)?,
            settings: json_col(r, 5)?,
        },
        suite_name: r.get(6)?,
        variant: r.get(7)?,
        positions: r.get(8)?,
        primary_metric: r.get(9)?,
        metrics: json_col(r, 10)?,
        noise_floor: json_col_opt(r, 11)?,
        seconds: r.get(12)?,
        created_at: r.get(13)?,
    })
}

impl Store {
    /// The stored probe with this key, if any.
    pub fn find_probe(&self, key: &ProbeKey) -> Result<Option<ProbeRecord>> {
        self.call("reading a probe", |c| {
            c.query_row(
                &format!(
                    "SELECT {PROBE_COLUMNS} FROM probes
                     WHERE probe = ?1 AND subject_sha256 = ?2 AND reference_sha256 = ?3
                       AND suite_sha256 = ?4 AND settings = ?5"
                ),
                params![
                    key.probe,
                    key.subject_sha256,
                    key.reference_sha256,
                    key.suite_sha256,
                    json_text(&key.settings)
                ],
                probe_from_row,
            )
            .optional()
        })
    }

    /// Stores a probe with its per-position rows in one transaction. A probe
    /// with the same key already stored is kept (its id is returned).
    pub fn insert_probe(&self, p: &NewProbe) -> Result<ProbeId> {
        self.write("storing a probe", |tx| {
            let settings = json_text(&p.key.settings);
            let existing: Option<ProbeId> = tx
                .query_row(
                    "SELECT id FROM probes WHERE probe = ?1 AND subject_sha256 = ?2
                       AND reference_sha256 = ?3 AND suite_sha256 = ?4 AND settings = ?5",
                    params![
                        p.key.probe,
                        p.key.subject_sha256,
                        p.key.reference_sha256,
                        p.key.suite_sha256,
                        settings
                    ],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| self.sql_error("storing a probe", e))?;
            if let Some(id) = existing {
                return Ok(id);
            }
            let id: ProbeId = tx
                .query_row(
                    "INSERT INTO probes (probe, subject_sha256, reference_sha256, suite_sha256,
                                         settings, suite_name, variant_id, positions,
                                         primary_metric, metrics, noise_floor, seconds, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                     RETURNING id",
                    params![
                        p.key.probe,
                        p.key.subject_sha256,
                        p.key.reference_sha256,
                        p.key.suite_sha256,
                        settings,
                        p.suite_name,
                        p.variant,
                        p.positions,
                        p.primary_metric,
                        json_text(&p.metrics),
                        p.noise_floor.as_ref().map(json_text),
                        p.seconds,
                        now_rfc3339()
                    ],
                    |r| r.get(0),
                )
                .map_err(|e| self.sql_error("storing a probe", e))?;
            let mut stmt = tx
                .prepare(
                    "INSERT INTO probe_positions (probe_id, position, metrics) VALUES (?1, ?2, ?3)",
                )
                .map_err(|e| self.sql_error("storing a probe", e))?;
            for (i, m) in p.per_position.iter().enumerate() {
                stmt.execute(params![id, i as i64, json_text(m)])
                    .map_err(|e| self.sql_error("storing a probe", e))?;
            }
            Ok(id)
        })
    }

    /// The per-position figures of a probe, in suite order.
    pub fn probe_positions(&self, id: ProbeId) -> Result<Vec<serde_json::Value>> {
        self.call("reading probe positions", |c| {
            let mut stmt = c.prepare(
                "SELECT metrics FROM probe_positions WHERE probe_id = ?1 ORDER BY position",
            )?;
            let rows = stmt.query_map([id], |r| json_col(r, 0))?;
            rows.collect()
        })
    }

    /// Every per-position figure of a probe by name (in the order they
    /// first appear), each in suite order; `NaN` where a position lacks it.
    pub fn probe_figures(&self, id: ProbeId) -> Result<Vec<(String, Vec<f64>)>> {
        let rows = self.probe_positions(id)?;
        let named =
            |m: &serde_json::Value| m.get("name").and_then(|n| n.as_str()).map(str::to_string);
        let mut names: Vec<String> = Vec::new();
        for m in rows.iter().filter_map(|r| r.as_array()).flatten() {
            if let Some(n) = named(m) {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
        Ok(names
            .into_iter()
            .map(|name| {
                let values = rows
                    .iter()
                    .map(|row| {
                        row.as_array()
                            .and_then(|ms| ms.iter().find(|m| named(m).as_deref() == Some(&name)))
                            .and_then(|m| m.get("value"))
                            .and_then(|v| v.as_f64())
                            .unwrap_or(f64::NAN)
                    })
                    .collect();
                (name, values)
            })
            .collect())
    }

    /// Per position, in suite order, the figure the probe's headline figure
    /// is the mean of (`kl` for `kl_mean`, `cp_error` for `cp_error_mean`);
    /// empty when the probe is unknown or its headline is not such a mean.
    /// A position without the figure is `NaN`.
    pub fn probe_headline_figures(&self, id: ProbeId) -> Result<Vec<f64>> {
        let primary: Option<String> = self.call("reading a probe", |c| {
            c.query_row(
                "SELECT primary_metric FROM probes WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()
        })?;
        let Some(name) = primary.as_deref().and_then(|p| p.strip_suffix("_mean")) else {
            return Ok(Vec::new());
        };
        let figures = self.probe_figures(id)?;
        let positions = figures.first().map_or(0, |(_, v)| v.len());
        Ok(figures
            .into_iter()
            .find(|(n, _)| n == name)
            .map_or_else(|| vec![f64::NAN; positions], |(_, v)| v))
    }

    /// Probe `a`'s headline figure over probe `b`'s, paired by position,
    /// with its 95% interval ([`qarena_stats::RatioCi`]); `None` when the
    /// two probes do not have the same number of positions with figures.
    pub fn paired_probe_ratio(
        &self,
        a: ProbeId,
        b: ProbeId,
    ) -> Result<Option<qarena_stats::RatioCi>> {
        let (fa, fb) = (
            self.probe_headline_figures(a)?,
            self.probe_headline_figures(b)?,
        );
        Ok(qarena_stats::RatioCi::paired(&fa, &fb))
    }

    /// The probes of a variant, newest first.
    pub fn probes_of_variant(&self, variant: VariantId) -> Result<Vec<ProbeRecord>> {
        self.call("reading probes", |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {PROBE_COLUMNS} FROM probes WHERE variant_id = ?1 ORDER BY id DESC"
            ))?;
            let rows = stmt.query_map([variant], probe_from_row)?;
            rows.collect()
        })
    }

    /// The probes whose subject is the file with this content hash, newest
    /// first.
    pub fn probes_of_subject(&self, sha256: &str) -> Result<Vec<ProbeRecord>> {
        self.call("reading probes", |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {PROBE_COLUMNS} FROM probes WHERE subject_sha256 = ?1 ORDER BY id DESC"
            ))?;
            let rows = stmt.query_map([sha256], probe_from_row)?;
            rows.collect()
        })
    }
}
