//! Language-model evaluations: next-token KL of a variant against the
//! reference over a text, and multiple-choice answers, each with its
//! per-token or per-item rows. Stored under everything that decides the
//! result, so asking again reads it back.

use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use crate::{json_col, json_text, now_rfc3339, LlmEvalId, Result, Store};

/// What decides an evaluation's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmEvalKey {
    /// `kl` or `mc`.
    pub kind: String,
    pub subject_sha256: String,
    /// The reference's sha256 (`kl`), empty where there is none (`mc`).
    pub reference_sha256: String,
    pub data_sha256: String,
    pub settings: serde_json::Value,
}

/// An evaluation to store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewLlmEval {
    pub key: LlmEvalKey,
    /// What the subject is, for people (a path, `smollm2`, a strategy name).
    pub subject: String,
    /// The strategy as canonical JSON, for a variant built in memory.
    pub strategy: Option<serde_json::Value>,
    pub bits_per_weight: Option<f64>,
    pub data_name: String,
    pub summary: serde_json::Value,
    pub seconds: f64,
    /// `(item id, figures)` per scored token or item, in order.
    pub items: Vec<(Option<String>, serde_json::Value)>,
    /// What entered the quantized key/value cache, when collected.
    #[serde(default)]
    pub kv_stats: Vec<KvStatRow>,
}

/// What entered a quantized key/value cache in one layer's keys or
/// values of one head during an evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KvStatRow {
    pub layer: i64,
    /// `k` or `v`.
    pub part: String,
    pub head: i64,
    pub values: i64,
    pub absmax: f64,
    /// Values outside their group's grid.
    pub clipped: i64,
    pub scale_min: f64,
    pub scale_max: f64,
    /// `floor(log2 scale)` → groups, as JSON.
    pub scale_log2_hist: serde_json::Value,
}

/// A stored evaluation (without its rows; see [`Store::llm_eval_items`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmEvalRecord {
    pub id: LlmEvalId,
    pub key: LlmEvalKey,
    pub subject: String,
    pub strategy: Option<serde_json::Value>,
    pub bits_per_weight: Option<f64>,
    pub data_name: String,
    pub summary: serde_json::Value,
    pub seconds: f64,
    pub created_at: String,
}

const COLUMNS: &str = "id, kind, subject_sha256, reference_sha256, data_sha256, settings, subject,
     strategy, bits_per_weight, data_name, summary, seconds, created_at";

fn record(r: &Row<'_>) -> rusqlite::Result<LlmEvalRecord> {
    let strategy: Option<String> = r.get(7)?;
    Ok(LlmEvalRecord {
        id: r.get(0)?,
        key: LlmEvalKey {
            kind: r.get(1)?,
            subject_sha256: r.get(2)?,
            reference_sha256: r.get(3)?,
            data_sha256: r.get(4)?,
            settings: json_col(r, 5)?,
        },
        subject: r.get(6)?,
        strategy: strategy.and_then(|s| serde_json::from_str(&s).ok()),
        bits_per_weight: r.get(8)?,
        data_name: r.get(9)?,
        summary: json_col(r, 10)?,
        seconds: r.get(11)?,
        created_at: r.get(12)?,
    })
}

impl Store {
    /// The evaluation stored under `key`, if any.
    pub fn find_llm_eval(&self, key: &LlmEvalKey) -> Result<Option<LlmEvalRecord>> {
        self.call("reading a language-model evaluation", |c| {
            c.query_row(
                &format!(
                    "SELECT {COLUMNS} FROM llm_evals WHERE kind = ?1 AND subject_sha256 = ?2
                       AND reference_sha256 = ?3 AND data_sha256 = ?4 AND settings = ?5"
                ),
                params![
                    key.kind,
                    key.subject_sha256,
                    key.reference_sha256,
                    key.data_sha256,
                    json_text(&key.settings)
                ],
                record,
            )
            .optional()
        })
    }

    /// Stores an evaluation with its rows in one transaction; one already
    /// stored under the same key is kept (its id is returned).
    pub fn insert_llm_eval(&self, e: &NewLlmEval) -> Result<LlmEvalId> {
        let op = "storing a language-model evaluation";
        self.write(op, |tx| {
            let settings = json_text(&e.key.settings);
            let existing: Option<LlmEvalId> = tx
                .query_row(
                    "SELECT id FROM llm_evals WHERE kind = ?1 AND subject_sha256 = ?2
                       AND reference_sha256 = ?3 AND data_sha256 = ?4 AND settings = ?5",
                    params![
                        e.key.kind,
                        e.key.subject_sha256,
                        e.key.reference_sha256,
                        e.key.data_sha256,
                        settings
                    ],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|err| self.sql_error(op, err))?;
            if let Some(id) = existing {
                return Ok(id);
            }
            let id: LlmEvalId = tx
                .query_row(
                    "INSERT INTO llm_evals (kind, subject_sha256, reference_sha256, data_sha256,
                        settings, subject, strategy, bits_per_weight, data_name, summary, seconds,
                        created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) RETURNING id",
                    params![
                        e.key.kind,
                        e.key.subject_sha256,
                        e.key.reference_sha256,
                        e.key.data_sha256,
                        settings,
                        e.subject,
                        e.strategy.as_ref().map(json_text),
                        e.bits_per_weight,
                        e.data_name,
                        json_text(&e.summary),
                        e.seconds,
                        now_rfc3339()
                    ],
                    |r| r.get(0),
                )
                .map_err(|err| self.sql_error(op, err))?;
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO llm_eval_items (eval_id, idx, item_id, result) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(|err| self.sql_error(op, err))?;
            for (i, (item, result)) in e.items.iter().enumerate() {
                stmt.execute(params![id, i as i64, item, json_text(result)])
                    .map_err(|err| self.sql_error(op, err))?;
            }
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO kv_stats (eval_id, layer, part, head, n_values, absmax, clipped,
                        scale_min, scale_max, scale_log2_hist)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(|err| self.sql_error(op, err))?;
            for k in &e.kv_stats {
                stmt.execute(params![
                    id,
                    k.layer,
                    k.part,
                    k.head,
                    k.values,
                    k.absmax,
                    k.clipped,
                    k.scale_min,
                    k.scale_max,
                    json_text(&k.scale_log2_hist)
                ])
                .map_err(|err| self.sql_error(op, err))?;
            }
            Ok(id)
        })
    }

    /// Every stored evaluation, oldest first.
    pub fn llm_evals(&self) -> Result<Vec<LlmEvalRecord>> {
        self.call("reading language-model evaluations", |c| {
            let mut stmt = c.prepare(&format!("SELECT {COLUMNS} FROM llm_evals ORDER BY id"))?;
            let rows = stmt.query_map([], record)?;
            rows.collect()
        })
    }

    /// The key/value-cache statistics of an evaluation, by layer, part
    /// and head (empty when none were collected).
    pub fn kv_stats(&self, id: LlmEvalId) -> Result<Vec<KvStatRow>> {
        self.call("reading key/value-cache statistics", |c| {
            let mut stmt = c.prepare(
                "SELECT layer, part, head, n_values, absmax, clipped, scale_min, scale_max,
                        scale_log2_hist
                   FROM kv_stats WHERE eval_id = ?1 ORDER BY layer, part, head",
            )?;
            let rows = stmt.query_map([id], |r| {
                Ok(KvStatRow {
                    layer: r.get(0)?,
                    part: r.get(1)?,
                    head: r.get(2)?,
                    values: r.get(3)?,
                    absmax: r.get(4)?,
                    clipped: r.get(5)?,
                    scale_min: r.get(6)?,
                    scale_max: r.get(7)?,
                    scale_log2_hist: json_col(r, 8)?,
                })
            })?;
            rows.collect()
        })
    }

    /// The rows of an evaluation, in order: `(item id, figures)`.
    pub fn llm_eval_items(
        &self,
        id: LlmEvalId,
    ) -> Result<Vec<(Option<String>, serde_json::Value)>> {
        self.call("reading a language-model evaluation's items", |c| {
            let mut stmt = c.prepare(
                "SELECT item_id, result FROM llm_eval_items WHERE eval_id = ?1 ORDER BY idx",
            )?;
            let rows = stmt.query_map([id], |r| Ok((r.get(0)?, json_col(r, 1)?)))?;
            rows.collect()
        })
    }
}

/// A registered teacher-logit cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeacherCacheEntry {
    pub name: String,
    pub path: String,
    pub k: i64,
    pub tokens: i64,
    pub positions: i64,
    pub sha256: String,
    pub model_sha256: String,
    pub text_sha256: String,
    pub notes: Option<String>,
}

impl Store {
    /// Registers a cache under its name, replacing an entry of that name.
    pub fn register_teacher_cache(&self, e: &TeacherCacheEntry) -> Result<()> {
        self.call("registering a teacher-logit cache", |c| {
            c.execute(
                "INSERT INTO teacher_caches (name, path, k, tokens, positions, sha256, model_sha256,
                     text_sha256, notes, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (name) DO UPDATE SET path = excluded.path, k = excluded.k,
                     tokens = excluded.tokens, positions = excluded.positions,
                     sha256 = excluded.sha256, model_sha256 = excluded.model_sha256,
                     text_sha256 = excluded.text_sha256, notes = excluded.notes,
                     created_at = excluded.created_at",
                params![
                    e.name,
                    e.path,
                    e.k,
                    e.tokens,
                    e.positions,
                    e.sha256,
                    e.model_sha256,
                    e.text_sha256,
                    e.notes,
                    now_rfc3339()
                ],
            )
            .map(|_| ())
        })
    }

    /// The registered caches, by name.
    pub fn teacher_caches(&self) -> Result<Vec<TeacherCacheEntry>> {
        self.call("reading teacher-logit caches", |c| {
            let mut stmt = c.prepare(
                "SELECT name, path, k, tokens, positions, sha256, model_sha256, text_sha256, notes
                 FROM teacher_caches ORDER BY name",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(TeacherCacheEntry {
                    name: r.get(0)?,
                    path: r.get(1)?,
                    k: r.get(2)?,
                    tokens: r.get(3)?,
                    positions: r.get(4)?,
                    sha256: r.get(5)?,
                    model_sha256: r.get(6)?,
                    text_sha256: r.get(7)?,
                    notes: r.get(8)?,
                })
            })?;
            rows.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code
    use super::*;

    #[test]
    fn an_evaluation_is_stored_once_with_its_items_and_found_by_its_key() {
        let store = Store::open_in_memory().unwrap();
        let key = LlmEvalKey {
            kind: "mc".into(),
            subject_sha256: "abc".into(),
            reference_sha256: String::new(),
            data_sha256: "items".into(),
            settings: serde_json::json!({"limit": 2}),
        };
        assert!(store.find_llm_eval(&key).unwrap().is_none());
        let e = NewLlmEval {
            kv_stats: Vec::new(),
            key: key.clone(),
            subject: "smollm2 int8".into(),
            strategy: Some(serde_json::json!({"name": "int8"})),
            bits_per_weight: Some(8.25),
            data_name: "items.jsonl".into(),
            summary: serde_json::json!({"acc": 0.5}),
            seconds: 1.5,
            items: vec![
                (Some("sci-001".into()), serde_json::json!({"correct": true})),
                (
                    Some("sci-002".into()),
                    serde_json::json!({"correct": false}),
                ),
            ],
        };
        let id = store.insert_llm_eval(&e).unwrap();
        assert_eq!(store.insert_llm_eval(&e).unwrap(), id);
        let found = store.find_llm_eval(&key).unwrap().unwrap();
        assert_eq!((found.id, found.bits_per_weight), (id, Some(8.25)));
        assert_eq!(found.summary, serde_json::json!({"acc": 0.5}));
        let items = store.llm_eval_items(id).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].0.as_deref(), Some("sci-002"));
        assert_eq!(store.llm_evals().unwrap().len(), 1);
        let other = LlmEvalKey {
            settings: serde_json::json!({"limit": 3}),
            ..key
        };
        assert!(store.find_llm_eval(&other).unwrap().is_none());
    }
}
