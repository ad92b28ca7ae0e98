//! Sweeps and ladders: one model, many variants, each played against one
//! baseline under identical openings, colours and settings, so strength can
//! be read against bytes.
//!
//! Invariants:
//! - every point of a sweep lives in one run; its games carry the point
//!   index and the exact variant parameters, so two sweeps that differ only
//!   in knobs are told apart game by game;
//! - the sweep definition and every point's resolved strategy are stored
//!   with the run, so `--resume` rebuilds the same variants (from the cache)
//!   and plays only the missing games;
//! - `--refine` only adds points (it never changes or replays one);
//! - the sweep owns its run folder (`owner.lock`) from before the run is
//!   created or resumed until it ends; its points play under that claim.

mod def;
pub mod demo;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use def::{EngineTemplate, Generator, Point, PointDef, Refine, SweepDef, Target};
use qarena_arena::runfolder::{Environment, RunFolder, RunTag};
use qarena_arena::{
    run_match, EngineConfig, MatchConfig, MatchRequest, MatchSummary, Observer, RunError, RunNote,
    RunStart,
};
use qarena_stats::EloReport;
use qarena_store::{NewRun, NewSweepPoint, NewVariant, RunId, RunStatus, Store, SweepId};
use qarena_variant::{build_variant, BuildOptions, Variant};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Store(#[from] qarena_store::StoreError),
    #[error(transparent)]
    Variant(#[from] qarena_variant::VariantError),
}

/// What to run.
#[derive(Debug, Clone)]
pub struct SweepRequest {
    pub def: SweepDef,
    pub tag: RunTag,
    pub db: PathBuf,
    pub runs_dir: PathBuf,
    pub cache_dir: PathBuf,
    pub resume: bool,
    pub refine: bool,
    pub argv: Vec<String>,
    pub kind: qarena_store::RunKind,
    /// Where progress, warnings and the variants built go.
    pub observer: Arc<dyn Observer>,
}

/// The outcome of one point.
#[derive(Debug, Clone, Serialize)]
pub struct PointResult {
    pub index: i64,
    pub name: String,
    pub target: Option<String>,
    pub levels: Option<u32>,
    pub variant_id: String,
    pub variant_path: PathBuf,
    pub effective_bits: f64,
    /// Bits per weight of the tensors this point changes (None: none changed).
    pub degraded_bits: Option<f64>,
    pub bytes: u64,
    pub summary: MatchSummary,
    pub elo: EloReport,
    /// Added by `--refine`.
    pub refined: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SweepResult {
    pub tag: String,
    pub name: String,
    pub baseline: String,
    pub points: Vec<PointResult>,
    pub run_folder: PathBuf,
    pub status: String,
}

struct Ctx<'a> {
    req: &'a SweepRequest,
    def: SweepDef,
    store: Store,
    run: RunId,
    sweep: SweepId,
    folder: RunFolder,
    baseline: Option<Variant>,
    stop: Arc<AtomicBool>,
}

fn build(ctx: &Ctx<'_>, p: &Point) -> Result<Variant, SweepError> {
    let strategy = p.strategy()?;
    let opts = BuildOptions {
        cache_dir: ctx.req.cache_dir.clone(),
        late_blocks: ctx.def.late_blocks,
        force: false,
    };
    let v = build_variant(&ctx.def.model, &strategy, &opts, &|_, _| {})?;
    ctx.req.observer.note(RunNote::Info(&format!(
        "variant {:<16} {:>7.3} bits/weight {:>11} bytes  {}{}",
        p.name,
        v.manifest.total.effective_bits,
        v.manifest.total.bytes_after,
        v.id,
        if v.cached { " (cached)" } else { "" }
    )));
    let _ = fs_err::copy(
        v.dir.join("manifest.json"),
        ctx.folder
            .manifests()
            .join(format!("variant-{}.json", p.name)),
    );
    Ok(v)
}

fn register(ctx: &Ctx<'_>, index: i64, p: &Point, v: &Variant) -> Result<(), SweepError> {
    let m = &v.manifest;
    let model = ctx.store.upsert_model(
        &m.input.path,
        &m.input.sha256,
        &m.input.format,
        m.input.bytes as i64,
    )?;
    let strategy = ctx.store.upsert_strategy(
        &m.strategy_name,
        &p.strategy_toml,
        &qarena_variant::variant_id("", &p.strategy()?, ctx.def.late_blocks),
    )?;
    let variant = ctx.store.upsert_variant(&NewVariant {
        model,
        strategy,
        path: v.path.display().to_string(),
        sha256: m.output_sha256.clone(),
        manifest: serde_json::to_value(m).unwrap_or_default(),
        effective_bits: Some(m.total.effective_bits),
        bytes: Some(m.total.bytes_after as i64),
    })?;
    ctx.store.upsert_sweep_point(&NewSweepPoint {
        sweep: ctx.sweep,
        point_index: index,
        label: p.name.clone(),
        variant: Some(variant),
        params: serde_json::to_value(p).unwrap_or_default(),
    })?;
    Ok(())
}

fn engine_for(def: &SweepDef, name: &str, model: &std::path::Path) -> EngineConfig {
    def.engine.engine(name, model)
}

fn play(
    ctx: &Ctx<'_>,
    index: i64,
    p: &Point,
    v: &Variant,
    refined: bool,
) -> Result<PointResult, SweepError> {
    let base = ctx
        .baseline
        .as_ref()
        .ok_or_else(|| SweepError::Input("baseline variant missing".into()))?;
    let def = &ctx.def;
    let mut cfg = MatchConfig::new(
        engine_for(def, &p.name, &v.path),
        engine_for(def, &def.baseline, &base.path),
    );
    cfg.games = def.games;
    cfg.concurrency = def.concurrency;
    cfg.restarts = def.restarts;
    cfg.timeouts = def.timeouts;
    cfg.go = def.go.clone();
    cfg.chess = def.chess.clone();
    let params = serde_json::json!({
        "sweep": def.name,
        "point": p.name,
        "point_index": index,
        "target": p.target,
        "levels": p.levels,
        "baseline": def.baseline,
        "variant_id": v.id,
        "variant_sha256": v.manifest.output_sha256,
        "effective_bits": v.manifest.total.effective_bits,
        "bytes": v.manifest.total.bytes_after,
        "strategy": p.strategy_toml,
        "baseline_variant_id": base.id,
    });
    ctx.req.observer.note(RunNote::Info(&format!(
        "point {index}: {} vs {} ({} games)",
        p.name, def.baseline, def.games
    )));
    let summary = run_match(
        MatchRequest {
            tag: ctx.req.tag.clone(),
            db: ctx.req.db.clone(),
            runs_dir: ctx.req.runs_dir.clone(),
            config: cfg,
            argv: ctx.req.argv.clone(),
            start: RunStart::SweepPoint(ctx.run),
            kind: ctx.req.kind,
            variant_params: Some(params),
            point_index: index,
            observer: ctx.req.observer.clone(),
        },
        ctx.stop.clone(),
    )?;
    let elo = qarena_arena::summary::elo_report(&summary);
    Ok(PointResult {
        index,
        name: p.name.clone(),
        target: p.target.clone(),
        levels: p.levels,
        variant_id: v.id.clone(),
        variant_path: v.path.clone(),
        effective_bits: v.manifest.total.effective_bits,
        degraded_bits: degraded_bits(&v.manifest),
        bytes: v.manifest.total.bytes_after,
        summary,
        elo,
        refined,
    })
}

/// Effective bits per weight over the tensors whose scheme is not `keep`.
pub fn degraded_bits(m: &qarena_variant::Manifest) -> Option<f64> {
    let (mut bits, mut params) = (0u64, 0u64);
    for t in &m.tensors {
        if t.spec.scheme != qarena_quant::Scheme::Keep {
            bits += t.bytes_after * 8;
            params += t.params;
        }
    }
    (params > 0).then(|| bits as f64 / params as f64)
}

/// Runs (or resumes) a sweep.
pub fn run_sweep(req: SweepRequest, stop: Arc<AtomicBool>) -> Result<SweepResult, SweepError> {
    let store = Store::open(&req.db)?;
    let claim = || {
        let folder = RunFolder::create(&req.runs_dir, &req.tag).map_err(|e| {
            SweepError::Input(format!(
                "creating the run folder under {}: {e}",
                req.runs_dir.display()
            ))
        })?;
        let owner = folder
            .claim(&req.tag)
            .map_err(|e| SweepError::Run(qarena_arena::runner::claim_error(e)))?;
        Ok::<_, SweepError>((folder, owner))
    };
    // The run folder is claimed before the run is created or touched in the
    // database, and held until the sweep ends.
    let (run, def, mut points, (folder, _owner)) = if req.resume {
        let rec = store.run_by_tag(&req.tag)?.ok_or_else(|| {
            SweepError::Input(format!(
                "no run tagged '{}' in {}",
                req.tag,
                req.db.display()
            ))
        })?;
        let def: SweepDef = rec
            .settings
            .get("sweep")
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
            .ok_or_else(|| {
                SweepError::Input(format!(
                    "run '{}' is not a sweep this version can read",
                    req.tag
                ))
            })?;
        let sweep = store
            .sweeps(rec.id)?
            .into_iter()
            .next()
            .ok_or_else(|| SweepError::Input(format!("run '{}' has no sweep", req.tag)))?;
        let owner = claim()?;
        if store.run(rec.id)?.is_none() {
            return Err(SweepError::Input(format!(
                "no run tagged '{}' in {}",
                req.tag,
                req.db.display()
            )));
        }
        let mut points = Vec::new();
        for sp in store.sweep_points(sweep.id)? {
            let p: Point = serde_json::from_value(sp.params.clone()).map_err(|e| {
                SweepError::Input(format!("sweep point '{}' is unreadable: {e}", sp.label))
            })?;
            points.push((sp.point_index, p, false));
        }
        store.set_run_status(rec.id, RunStatus::Running)?;
        (rec.id, def, points, owner)
    } else {
        if store.run_by_tag(&req.tag)?.is_some() {
            return Err(SweepError::Input(format!(
                "a run tagged '{}' already exists — use --resume {} or another --run-tag",
                req.tag, req.tag
            )));
        }
        let points = req.def.points()?;
        if !req.def.model.is_file() {
            return Err(SweepError::Input(format!(
                "model file {} does not exist",
                req.def.model.display()
            )));
        }
        let probe = engine_for(&req.def, "probe", &req.def.model);
        qarena_arena::runner::resolve_argv(&probe)?;
        let owner = claim()?;
        let run = store.create_run(&NewRun {
            tag: req.tag.to_string(),
            kind: req.kind,
            argv: req.argv.clone(),
            settings: serde_json::json!({ "sweep": req.def }),
            software_version: env!("CARGO_PKG_VERSION").to_string(),
        })?;
        let points = points
            .into_iter()
            .enumerate()
            .map(|(i, p)| (i as i64, p, false))
            .collect();
        (run, req.def.clone(), points, owner)
    };
    let sweep = store.upsert_sweep(
        run,
        &def.name,
        &serde_json::to_value(&def).unwrap_or_default(),
    )?;
    let _ = folder.write_json(&folder.configs().join("sweep.json"), &def);
    let _ = folder.write_json(
        &folder.manifests().join("environment.json"),
        &Environment::capture(),
    );
    let mut ctx = Ctx {
        req: &req,
        def,
        store: store.clone(),
        run,
        sweep,
        folder: folder.clone(),
        baseline: None,
        stop,
    };

    let outcome = (|| -> Result<Vec<PointResult>, SweepError> {
        // Build every coarse variant first: a strategy error shows up before
        // any game is played.
        let mut variants = Vec::new();
        for (i, p, _) in &points {
            let v = build(&ctx, p)?;
            register(&ctx, *i, p, &v)?;
            if p.name == ctx.def.baseline {
                ctx.baseline = Some(v.clone());
            }
            variants.push(v);
        }
        let mut results = Vec::new();
        for ((i, p, refined), v) in points.iter().zip(&variants) {
            if ctx.stop.load(Ordering::SeqCst) {
                break;
            }
            results.push(play(&ctx, *i, p, v, *refined)?);
        }
        if req.refine && ctx.def.generator.is_some() {
            let refine = ctx.def.refine.clone().unwrap_or_default();
            for _round in 0..refine.rounds {
                if ctx.stop.load(Ordering::SeqCst) {
                    break;
                }
                let new = refine_candidates(&ctx.def, &results, refine.min_gap_bits)?;
                if new.is_empty() {
                    break;
                }
                for p in new {
                    if ctx.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let index = points.iter().map(|(i, _, _)| *i).max().unwrap_or(0) + 1;
                    let v = build(&ctx, &p)?;
                    register(&ctx, index, &p, &v)?;
                    points.push((index, p.clone(), true));
                    results.push(play(&ctx, index, &p, &v, true)?);
                }
            }
        }
        Ok(results)
    })();
    let interrupted = ctx.stop.load(Ordering::SeqCst);
    let status = match (&outcome, interrupted) {
        (Err(_), _) => RunStatus::Failed,
        (Ok(_), true) => RunStatus::Interrupted,
        (Ok(_), false) => RunStatus::Completed,
    };
    store.set_run_status(run, status)?;
    let results = outcome?;
    let result = SweepResult {
        tag: req.tag.to_string(),
        name: ctx.def.name.clone(),
        baseline: ctx.def.baseline.clone(),
        points: results,
        run_folder: folder.root.clone(),
        status: status.as_str().to_string(),
    };
    let _ = folder.write_json(&folder.results().join("sweep.json"), &result);
    Ok(result)
}

/// For each generator target, the point inside the steepest score drop
/// between neighbouring severities, when the gap is still wider than
/// `min_gap_bits` and no point sits there yet.
pub fn refine_candidates(
    def: &SweepDef,
    results: &[PointResult],
    min_gap_bits: f64,
) -> Result<Vec<Point>, SweepError> {
    let Some(g) = &def.generator else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for t in &g.targets {
        let mut pts: Vec<(u32, f64)> = results
            .iter()
            .filter(|r| r.target.as_deref() == Some(t.name.as_str()))
            .filter_map(|r| Some((r.levels?, r.summary.score_a()?)))
            .collect();
        pts.sort_by_key(|p| std::cmp::Reverse(p.0));
        let bits = |l: u32| f64::from(2 * l + 1).log2();
        let best = pts
            .windows(2)
            .filter(|w| bits(w[0].0) - bits(w[1].0) > min_gap_bits && w[0].0 > w[1].0 + 1)
            .max_by(|a, b| {
                (a[0].1 - a[1].1)
                    .partial_cmp(&(b[0].1 - b[1].1))
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
        if let Some(w) = best {
            // Geometric middle in grid size: halfway in bits.
            let mid_bits = (bits(w[0].0) + bits(w[1].0)) / 2.0;
            let l = ((2f64.powf(mid_bits) - 1.0) / 2.0).round() as u32;
            let l = l.clamp(w[1].0 + 1, w[0].0 - 1);
            out.push(def::generator_point(g, t, l)?);
        }
    }
    Ok(out)
}

/// The results table: one row per point.
pub fn render(r: &SweepResult) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nsweep {} (run {}, {}): every point plays {} with paired openings and colours swapped",
        r.name, r.tag, r.status, r.baseline
    );
    let _ = writeln!(
        out,
        "{:<4} {:<12} {:>7} {:>9} {:>11} {:>6} {:>11} {:>6}  Elo (95% CI)",
        "#", "variant", "bits/w", "changed", "bytes", "games", "W/D/L", "score"
    );
    // Point order: original, explicit points, then each target from mild
    // to severe (refined points at the end).
    let mut rows: Vec<&PointResult> = r.points.iter().collect();
    rows.sort_by_key(|p| p.index);
    for p in rows {
        let s = &p.summary;
        let _ = writeln!(
            out,
            "{:<4} {:<12} {:>7.3} {:>9} {:>11} {:>6} {:>11} {:>6}  {}{}",
            p.index,
            p.name,
            p.effective_bits,
            p.degraded_bits
                .map(|b| format!("{b:.2}b"))
                .unwrap_or_else(|| "-".into()),
            p.bytes,
            s.tally.games(),
            {
                let w = s.tally.wdl();
                format!("{}/{}/{}", w.wins, w.draws, w.losses)
            },
            s.score_a()
                .map(|v| format!("{:.1}%", 100.0 * v))
                .unwrap_or_else(|| "-".into()),
            p.elo.elo,
            if p.refined { "  (refined)" } else { "" }
        );
    }
    let _ = writeln!(
        out,
        "bits/w: effective bits per weight of the whole model (scales, palettes and outliers included); changed: of the tensors the point quantizes"
    );
    let _ = writeln!(out, "run folder: {}", r.run_folder.display());
    out
}
