//! Everything a report needs, read from the store in one pass through its
//! typed getters. Per-game metrics come from the store's views (one row per
//! game and engine), so the report never re-derives them from raw verdicts
//! or self-evaluations.

use std::collections::BTreeMap;

use qarena_store::{
    EngineRecord, EngineSlot, GameJudgeMetrics, GameOverconfidence, GameRecord, GameSelfMetrics,
    JudgeRunRecord, RunRecord, Slot, Store, Termination,
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

/// The newest stored probe of a point's variant (see `qarena-probe`).
#[derive(Debug, Clone, PartialEq)]
pub struct PointProbe {
    /// `katago-raw-nn`, `nnue-eval`, ...
    pub probe: String,
    pub suite: String,
    pub positions: i64,
    /// The figure that sums the probe up (`kl_mean`, `cp_error_mean`).
    pub primary: String,
    pub value: f64,
    /// Every suite-level figure, in the probe's order.
    pub metrics: Vec<(String, f64)>,
    /// The primary figure of the reference against itself, when measured.
    pub noise_floor: Option<f64>,
}

/// The model a sweep quantizes.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub path: String,
    pub sha256: String,
    pub format: String,
    pub bytes: i64,
}

/// The judge run a report uses and its verdicts, per game and engine.
#[derive(Debug, Clone)]
pub struct JudgeData {
    pub run: JudgeRunRecord,
    /// Verdicts averaged over each engine's judged moves of a game.
    pub games: Vec<GameJudgeMetrics>,
    /// Each engine's own winrate against the verdicts, per game.
    pub overconfidence: Vec<GameOverconfidence>,
    pub games_judged: usize,
    /// Verdicts of this judge run, all games and engines together.
    pub moves_judged: usize,
}

/// A run with its sweep, games, per-game self-evaluation and judge metrics.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub schema_version: i64,
    pub run: RunRecord,
    pub sweep: Option<SweepInfo>,
    pub engines: Vec<EngineRecord>,
    pub points: Vec<PointInfo>,
    pub games: Vec<GameRecord>,
    pub models: Vec<ModelInfo>,
    /// Per game and engine: the engine's own evaluations, averaged.
    pub self_games: Vec<GameSelfMetrics>,
    /// Self-evaluations stored for the run's games.
    pub self_evals: usize,
    pub judge_runs: Vec<JudgeRunRecord>,
    pub judge: Option<JudgeData>,
    /// Per point (same order as `points`): its variant's newest probe.
    pub probes: Vec<Option<PointProbe>>,
    /// Per game and engine: time per move, reported speed, CPU, memory.
    pub costs: Vec<qarena_store::GameCostMetrics>,
    /// A sweep with anchors: every player's rating over all games of the
    /// run on the anchors' scale.
    pub ratings: Option<AnchoredRatings>,
}

/// Ratings of every player of a run (points, baseline, anchors) from all
/// its games, on the scale of one named player.
#[derive(Debug, Clone)]
pub struct AnchoredRatings {
    pub anchor: String,
    pub anchor_elo: f64,
    /// Best first; `stated` is the rating an anchor claims.
    pub players: Vec<(String, qarena_stats::Rating, Option<f64>)>,
}

/// The sweep's anchors (`[[anchor]]`: name and stated Elo) and the fit over
/// the run's games, anchored at the first anchor stating an Elo (else the
/// baseline at 0). `None` for runs without anchors.
fn ratings_of(
    store: &Store,
    run: &RunRecord,
    sweep: Option<&SweepInfo>,
) -> Result<Option<AnchoredRatings>, ReportError> {
    let Some(def) = sweep.map(|s| &s.definition) else {
        return Ok(None);
    };
    let anchors: Vec<(String, Option<f64>)> = def
        .get("anchor")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| {
                    Some((
                        x.get("name")?.as_str()?.to_string(),
                        x.get("elo").and_then(Value::as_f64),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    if anchors.is_empty() {
        return Ok(None);
    }
    let baseline = def
        .get("baseline")
        .and_then(Value::as_str)
        .unwrap_or("original")
        .to_string();
    let (anchor, anchor_elo) = anchors
        .iter()
        .find_map(|(n, e)| e.map(|e| (n.clone(), e)))
        .unwrap_or((baseline, 0.0));
    let players = store
        .run_ratings(run.id, &anchor)?
        .into_iter()
        .map(|(name, mut r)| {
            r.elo += anchor_elo;
            let stated = anchors.iter().find(|(n, _)| *n == name).and_then(|a| a.1);
            (name, r, stated)
        })
        .collect();
    Ok(Some(AnchoredRatings {
        anchor,
        anchor_elo,
        players,
    }))
}

impl Loaded {
    /// True for a chess run: its players speak UCI (or, without engines,
    /// its games are PGN).
    pub fn is_chess(&self) -> bool {
        let players: Vec<_> = self
            .engines
            .iter()
            .filter(|e| e.slot.player().is_some())
            .collect();
        if players.is_empty() {
            return self
                .games
                .iter()
                .any(|g| g.record_format == qarena_store::RecordFormat::Pgn);
        }
        players
            .iter()
            .all(|e| e.protocol == qarena_store::EngineProtocol::Uci)
    }

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
        Subject::Evolution(name) => {
            return Err(input(format!(
                "evolution '{name}' is reported on its own (`qarena report --evolution {name}`), not as a run"
            )))
        }
        Subject::Llm => {
            return Err(input(
                "language-model evaluations are reported on their own (`qarena report --llm`), not as a run".into(),
            ))
        }
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
            let mut found = store.sweeps_named(name)?.into_iter();
            let Some(rec) = found.next() else {
                return Err(input(format!("no sweep named '{name}' in {db}")));
            };
            let run = store.run(rec.run)?.ok_or_else(|| {
                input(format!(
                    "run {} of sweep '{name}' vanished from {db}",
                    rec.run
                ))
            })?;
            let mut other_runs = Vec::new();
            for other in found {
                if let Some(r) = store.run(other.run)? {
                    other_runs.push(r.tag);
                }
            }
            (
                run,
                Some(SweepInfo {
                    id: rec.id.0,
                    name: rec.name,
                    definition: rec.definition,
                    other_runs,
                }),
            )
        }
    };
    let schema_version = store.schema_version()?;
    let engines = store.engines(run.id)?;
    let games = store.games(run.id)?;
    let points = points_of(store, sweep.as_ref(), &games, &engines)?;
    let models = models_of(store, &points, &engines)?;
    let self_games = store.game_self_metrics(run.id)?;
    let self_evals = self_games.iter().map(|g| count(g.self_evals)).sum();
    let judge_runs = store.judge_runs(run.id)?;
    let judge = judge_of(store, &judge_runs, judge_run, &run)?;
    let probes = points
        .iter()
        .map(|p| probe_of(store, p))
        .collect::<Result<Vec<_>, _>>()?;
    let costs = store.game_cost_metrics(run.id)?;
    let ratings = ratings_of(store, &run, sweep.as_ref())?;
    Ok(Loaded {
        schema_version,
        run,
        sweep,
        engines,
        points,
        games,
        models,
        self_games,
        self_evals,
        judge_runs,
        judge,
        probes,
        costs,
        ratings,
    })
}

/// The newest probe stored for the point's variant file.
fn probe_of(store: &Store, p: &PointInfo) -> Result<Option<PointProbe>, ReportError> {
    let Some(sha) = &p.variant_sha256 else {
        return Ok(None);
    };
    let Some(rec) = store.probes_of_subject(sha)?.into_iter().next() else {
        return Ok(None);
    };
    let pairs = |v: &Value| -> Vec<(String, f64)> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| {
                        Some((
                            m.get("name")?.as_str()?.to_string(),
                            m.get("value")?.as_f64()?,
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let metrics = pairs(&rec.metrics);
    let find = |ms: &[(String, f64)]| {
        ms.iter()
            .find(|(n, _)| *n == rec.primary_metric)
            .map(|(_, v)| *v)
    };
    let Some(value) = find(&metrics) else {
        return Ok(None);
    };
    Ok(Some(PointProbe {
        probe: rec.key.probe.clone(),
        suite: rec.suite_name.clone(),
        positions: rec.positions,
        primary: rec.primary_metric.clone(),
        value,
        noise_floor: rec.noise_floor.as_ref().and_then(|n| find(&pairs(n))),
        metrics,
    }))
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
    let mut out: Vec<ModelInfo> = Vec::new();
    for sha in &shas {
        for m in store.models_of_variant_sha256(sha)? {
            if !out.iter().any(|o| o.sha256 == m.sha256) {
                out.push(ModelInfo {
                    path: m.path,
                    sha256: m.sha256,
                    format: m.format,
                    bytes: m.bytes,
                });
            }
        }
    }
    Ok(out)
}

/// A count from the store as a `usize` (saturating; counts never come
/// near either bound).
pub(crate) fn count(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn judge_of(
    store: &Store,
    judge_runs: &[JudgeRunRecord],
    wanted: Option<i64>,
    run: &RunRecord,
) -> Result<Option<JudgeData>, ReportError> {
    let coverage = store.judge_coverage(run.id)?;
    let judged = |id: qarena_store::JudgeRunId| {
        coverage
            .iter()
            .find(|c| c.judge_run == id)
            .map_or(0, |c| count(c.games_judged))
    };
    let chosen = match wanted {
        Some(id) => Some(
            judge_runs
                .iter()
                .find(|j| j.id.0 == id)
                .ok_or_else(|| input(format!("run '{}' has no judge run {id}", run.tag)))?,
        ),
        None => judge_runs
            .iter()
            .filter(|j| judged(j.id) > 0)
            .max_by_key(|j| j.id.0),
    };
    let Some(j) = chosen else {
        return Ok(None);
    };
    let games = store.game_judge_metrics(j.id, run.id)?;
    let overconfidence = store.game_overconfidence(j.id, run.id)?;
    Ok(Some(JudgeData {
        games_judged: judged(j.id),
        moves_judged: games.iter().map(|g| count(g.moves_judged)).sum(),
        run: j.clone(),
        games,
        overconfidence,
    }))
}
