//! Everything a report needs, read from the store in one pass (read-only:
//! typed getters and `Store::with_conn`, which is `query_only`).

use std::collections::{BTreeMap, HashMap};

use qarena_store::rusqlite::{self, params};
use qarena_store::{
    EngineRecord, EngineSlot, GameRecord, JudgeRunRecord, RunRecord, Slot, Store, Termination,
};
use serde_json::Value;

use crate::{ReportError, Subject};

/// The sweep a report is about (absent for a plain match run).
#[derive(Debug, Clone)]
pub struct SweepInfo {
    pub id: i64,
    pub name: String,
    pub definition: Value,
    /// Tags of other runs of a sweep with the same name (the newest is used).
    pub other_runs: Vec<String>,
}

/// One point of the ladder: a variant played against the baseline.
#[derive(Debug, Clone)]
pub struct PointInfo {
    pub index: i64,
    pub name: String,
    pub target: Option<String>,
    pub levels: Option<u32>,
    /// Content address of the variant (`variants/<id>`).
    pub variant_id: Option<String>,
    pub variant_sha256: Option<String>,
    pub effective_bits: Option<f64>,
    pub bytes: Option<i64>,
    pub strategy_toml: Option<String>,
    pub is_baseline: bool,
    pub is_original: bool,
}

/// The model a sweep quantizes.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub path: String,
    pub sha256: String,
    pub format: String,
    pub bytes: i64,
}

/// One self-evaluation: the engine's own view before its move.
#[derive(Debug, Clone)]
pub struct SelfRow {
    pub game: i64,
    pub ply: i64,
    pub engine: i64,
    pub winrate: Option<f64>,
    /// Entropy (nats) of the normalised priors of the top-K candidates.
    pub entropy: Option<f64>,
}

/// One judged move, with the engine that played it.
#[derive(Debug, Clone)]
pub struct JudgeRow {
    pub game: i64,
    pub ply: i64,
    pub mover: i64,
    pub before_winrate: Option<f64>,
    pub loss_winrate: Option<f64>,
    pub loss_score: Option<f64>,
    pub loss_cp: Option<f64>,
    pub blunder: bool,
}

/// The judge run a report uses and its verdicts.
#[derive(Debug, Clone)]
pub struct JudgeData {
    pub run: JudgeRunRecord,
    pub rows: Vec<JudgeRow>,
    pub games_judged: usize,
}

/// A run with its sweep, games, self-evaluations and judge verdicts.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub schema_version: i64,
    pub run: RunRecord,
    pub sweep: Option<SweepInfo>,
    pub engines: Vec<EngineRecord>,
    pub points: Vec<PointInfo>,
    pub games: Vec<GameRecord>,
    pub models: Vec<ModelInfo>,
    pub self_rows: Vec<SelfRow>,
    pub judge_runs: Vec<JudgeRunRecord>,
    pub judge: Option<JudgeData>,
}

impl Loaded {
    /// Slot A for the tested variant's engines, B for the baseline's,
    /// `None` for any other (the judge).
    pub fn side_of(&self, engine: i64) -> Option<Slot> {
        self.engines
            .iter()
            .find(|e| e.id.0 == engine)
            .and_then(|e| e.slot.player())
    }

    /// Finished (not aborted) games of one point.
    pub fn finished_games(&self, point: i64) -> impl Iterator<Item = &GameRecord> {
        self.games
            .iter()
            .filter(move |g| g.point_index == point && g.termination != Termination::Aborted)
    }
}

/// Shannon entropy (nats) of the normalised `prior`s of a top-K array:
/// `H = ln T − (Σ p ln p) / T` with `T = Σ p` over positive priors.
pub fn policy_entropy(top_k: &Value) -> Option<f64> {
    let priors: Vec<f64> = top_k
        .as_array()?
        .iter()
        .filter_map(|c| c.get("prior").and_then(Value::as_f64))
        .filter(|p| p.is_finite() && *p > 0.0)
        .collect();
    let t: f64 = priors.iter().sum();
    if priors.is_empty() || t <= 0.0 {
        return None;
    }
    let s: f64 = priors.iter().map(|p| p * p.ln()).sum();
    Some((t.ln() - s / t).max(0.0))
}

fn input(msg: String) -> ReportError {
    ReportError::Input(msg)
}

/// Loads the subject of a report. `judge_run` picks a judge run by id
/// (default: the newest with verdicts).
pub fn load(
    store: &Store,
    subject: &Subject,
    judge_run: Option<i64>,
) -> Result<Loaded, ReportError> {
    let db = store.path().display().to_string();
    let (run, sweep) = match subject {
        Subject::Run(tag) => {
            let run = store
                .run_by_tag(tag)?
                .ok_or_else(|| input(format!("no run tagged '{tag}' in {db}")))?;
            let sweep = store.sweeps(run.id)?.into_iter().next().map(|s| SweepInfo {
                id: s.id.0,
                name: s.name,
                definition: s.definition,
                other_runs: Vec::new(),
            });
            (run, sweep)
        }
        Subject::Sweep(name) => {
            let found: Vec<(i64, i64, String)> = store.with_conn(|c| {
                let mut st = c.prepare(
                    "SELECT s.id, s.run_id, r.tag FROM sweeps s JOIN runs r ON r.id = s.run_id
                     WHERE s.name = ?1 ORDER BY s.run_id DESC",
                )?;
                let rows =
                    st.query_map(params![name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                rows.collect()
            })?;
            let Some((_, run_id, tag)) = found.first().cloned() else {
                return Err(input(format!("no sweep named '{name}' in {db}")));
            };
            let run = store.run_by_tag(&tag)?.ok_or_else(|| {
                input(format!("run '{tag}' of sweep '{name}' vanished from {db}"))
            })?;
            let rec = store
                .sweeps(run.id)?
                .into_iter()
                .find(|s| &s.name == name)
                .ok_or_else(|| input(format!("sweep '{name}' of run '{tag}' is unreadable")))?;
            let _ = run_id;
            (
                run,
                Some(SweepInfo {
                    id: rec.id.0,
                    name: rec.name,
                    definition: rec.definition,
                    other_runs: found.iter().skip(1).map(|f| f.2.clone()).collect(),
                }),
            )
        }
    };
    let schema_version = store.schema_version()?;
    let engines = store.engines(run.id)?;
    let games = store.games(run.id)?;
    let points = points_of(store, sweep.as_ref(), &games, &engines)?;
    let models = models_of(store, &points, &engines)?;
    let self_rows = self_rows_of(store, run.id.0)?;
    let judge_runs = store.judge_runs(run.id)?;
    let judge = judge_of(store, &judge_runs, judge_run, run.id.0, &run.tag)?;
    Ok(Loaded {
        schema_version,
        run,
        sweep,
        engines,
        points,
        games,
        models,
        self_rows,
        judge_runs,
        judge,
    })
}

fn points_of(
    store: &Store,
    sweep: Option<&SweepInfo>,
    games: &[GameRecord],
    engines: &[EngineRecord],
) -> Result<Vec<PointInfo>, ReportError> {
    // Variant parameters of the first game of each point.
    let mut params: BTreeMap<i64, &Value> = BTreeMap::new();
    for g in games {
        if let Some(p) = &g.variant_params {
            params.entry(g.point_index).or_insert(p);
        }
    }
    let baseline = sweep
        .and_then(|s| s.definition.get("baseline"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut out = Vec::new();
    if let Some(s) = sweep {
        for sp in store.sweep_points(qarena_store::SweepId(s.id))? {
            let p = &sp.params;
            let vp = params.get(&sp.point_index).copied();
            let variant = match sp.variant {
                Some(v) => store.variant(v)?,
                None => None,
            };
            let name = p
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or(&sp.label)
                .to_string();
            out.push(PointInfo {
                index: sp.point_index,
                is_baseline: baseline.as_deref() == Some(name.as_str()),
                is_original: name == "original",
                target: p.get("target").and_then(Value::as_str).map(str::to_string),
                levels: p
                    .get("levels")
                    .and_then(Value::as_u64)
                    .and_then(|l| u32::try_from(l).ok()),
                variant_id: vp
                    .and_then(|v| v.get("variant_id"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
                variant_sha256: variant.as_ref().map(|v| v.sha256.clone()),
                effective_bits: variant.as_ref().and_then(|v| v.effective_bits).or_else(|| {
                    vp.and_then(|v| v.get("effective_bits"))
                        .and_then(Value::as_f64)
                }),
                bytes: variant
                    .as_ref()
                    .and_then(|v| v.bytes)
                    .or_else(|| vp.and_then(|v| v.get("bytes")).and_then(Value::as_i64)),
                strategy_toml: p
                    .get("strategy_toml")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                name,
            });
        }
    } else {
        // A plain match: each point (normally only 0) is engine A vs engine B.
        let mut indices: Vec<i64> = games.iter().map(|g| g.point_index).collect();
        indices.sort_unstable();
        indices.dedup();
        for i in indices {
            let label = engines
                .iter()
                .find(|e| {
                    e.slot == EngineSlot::Player(Slot::A)
                        || u32::try_from(i)
                            .is_ok_and(|i| e.slot == EngineSlot::PointPlayer(Slot::A, i))
                })
                .map(|e| e.label.clone())
                .unwrap_or_else(|| "A".to_string());
            let vp = params.get(&i).copied();
            out.push(PointInfo {
                index: i,
                name: label,
                target: vp
                    .and_then(|v| v.get("target"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
                levels: None,
                variant_id: vp
                    .and_then(|v| v.get("variant_id"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
                variant_sha256: None,
                effective_bits: vp
                    .and_then(|v| v.get("effective_bits"))
                    .and_then(Value::as_f64),
                bytes: vp.and_then(|v| v.get("bytes")).and_then(Value::as_i64),
                strategy_toml: None,
                is_baseline: false,
                is_original: false,
            });
        }
    }
    out.sort_by_key(|p| p.index);
    Ok(out)
}

fn models_of(
    store: &Store,
    points: &[PointInfo],
    engines: &[EngineRecord],
) -> Result<Vec<ModelInfo>, ReportError> {
    let shas: Vec<String> = points
        .iter()
        .filter_map(|p| p.variant_sha256.clone())
        .chain(engines.iter().filter_map(|e| e.model_sha256.clone()))
        .collect();
    let models = store.with_conn(|c| {
        let mut st = c.prepare(
            "SELECT DISTINCT m.path, m.sha256, m.format, m.bytes FROM models m
             JOIN variants v ON v.model_id = m.id WHERE v.sha256 = ?1",
        )?;
        let mut out: Vec<ModelInfo> = Vec::new();
        for sha in &shas {
            let rows = st.query_map(params![sha], |r| {
                Ok(ModelInfo {
                    path: r.get(0)?,
                    sha256: r.get(1)?,
                    format: r.get(2)?,
                    bytes: r.get(3)?,
                })
            })?;
            for m in rows {
                let m = m?;
                if !out.iter().any(|o| o.sha256 == m.sha256) {
                    out.push(m);
                }
            }
        }
        Ok(out)
    })?;
    Ok(models)
}

fn self_rows_of(store: &Store, run: i64) -> Result<Vec<SelfRow>, ReportError> {
    Ok(store.with_conn(|c| {
        let mut st = c.prepare(
            "SELECT s.game_id, s.ply, s.engine_id, s.winrate, s.top_k
             FROM self_evals s JOIN games g ON g.id = s.game_id
             WHERE g.run_id = ?1 ORDER BY s.game_id, s.ply",
        )?;
        let rows = st.query_map(params![run], |r| {
            let top: Option<String> = r.get(4)?;
            let entropy = top
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .and_then(|v| policy_entropy(&v));
            Ok(SelfRow {
                game: r.get(0)?,
                ply: r.get(1)?,
                engine: r.get(2)?,
                winrate: r.get(3)?,
                entropy,
            })
        })?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
    })?)
}

fn judge_of(
    store: &Store,
    judge_runs: &[JudgeRunRecord],
    wanted: Option<i64>,
    run: i64,
    tag: &str,
) -> Result<Option<JudgeData>, ReportError> {
    let counts: HashMap<i64, usize> = store.with_conn(|c| {
        let mut st = c.prepare(
            "SELECT jm.judge_run_id, count(DISTINCT jm.game_id) FROM judge_moves jm
             JOIN judge_runs j ON j.id = jm.judge_run_id WHERE j.run_id = ?1
             GROUP BY jm.judge_run_id",
        )?;
        let rows = st.query_map(params![run], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)? as usize))
        })?;
        rows.collect()
    })?;
    let chosen = match wanted {
        Some(id) => Some(
            judge_runs
                .iter()
                .find(|j| j.id.0 == id)
                .ok_or_else(|| input(format!("run '{tag}' has no judge run {id}")))?,
        ),
        None => judge_runs
            .iter()
            .filter(|j| counts.get(&j.id.0).copied().unwrap_or(0) > 0)
            .max_by_key(|j| j.id.0),
    };
    let Some(j) = chosen else {
        return Ok(None);
    };
    let rows = store.with_conn(|c| {
        let mut st = c.prepare(
            "SELECT jm.game_id, jm.ply,
                    CASE WHEN lower(substr(m.color, 1, 1)) = 'b'
                         THEN g.black_engine_id ELSE g.white_engine_id END,
                    jm.before_winrate, jm.loss_winrate, jm.loss_score, jm.loss_cp, jm.blunder
             FROM judge_moves jm
             JOIN moves m ON m.game_id = jm.game_id AND m.ply = jm.ply
             JOIN games g ON g.id = jm.game_id
             WHERE jm.judge_run_id = ?1 ORDER BY jm.game_id, jm.ply",
        )?;
        let rows = st.query_map(params![j.id.0], |r| {
            Ok(JudgeRow {
                game: r.get(0)?,
                ply: r.get(1)?,
                mover: r.get(2)?,
                before_winrate: r.get(3)?,
                loss_winrate: r.get(4)?,
                loss_score: r.get(5)?,
                loss_cp: r.get::<_, Option<i64>>(6)?.map(|v| v as f64),
                blunder: r.get::<_, i64>(7)? != 0,
            })
        })?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
    })?;
    Ok(Some(JudgeData {
        games_judged: counts.get(&j.id.0).copied().unwrap_or(0),
        run: j.clone(),
        rows,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_of_uniform_and_peaked_priors() {
        let u =
            serde_json::json!([{"prior": 0.25}, {"prior": 0.25}, {"prior": 0.25}, {"prior": 0.25}]);
        assert!((policy_entropy(&u).unwrap() - 4f64.ln()).abs() < 1e-12);
        // Unnormalised priors are normalised first.
        let h = serde_json::json!([{"prior": 0.1}, {"prior": 0.1}]);
        assert!((policy_entropy(&h).unwrap() - 2f64.ln()).abs() < 1e-12);
        let one = serde_json::json!([{"prior": 0.9}, {"move": "pass"}]);
        assert_eq!(policy_entropy(&one), Some(0.0));
        assert_eq!(policy_entropy(&serde_json::json!([])), None);
        assert_eq!(policy_entropy(&serde_json::json!({"prior": 1})), None);
    }
}
