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

pub use def::{
    AnchorDef, EngineTemplate, Generator, Point, PointDef, PointEngine, Refine, SweepDef, Target,
};
use qarena_arena::runfolder::{Environment, RunFolder, RunTag};
use qarena_arena::{
    run_match, EngineConfig, MatchConfig, MatchRequest, MatchSummary, Observer, RunError, RunNote,
    RunStart,
};
use qarena_probe::{AnyOutputs, AnyProbe, Probe, ProbeEngines, Suite};
use qarena_stats::EloReport;
use qarena_store::{
    NewRun, NewSweepPoint, NewVariant, PointCost, RunId, RunStatus, Slot, Store, SweepId,
};
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
    /// Probe every point's variant against the model (`--probe`), on this
    /// suite or the shipped one for the model's game.
    pub probe: Option<ProbeRequest>,
    /// Play only this shard's pairs of every point (`--shard K/N`).
    pub shard: Option<qarena_store::Shard>,
}

/// What `--probe` asks of a sweep.
#[derive(Debug, Clone, Default)]
pub struct ProbeRequest {
    /// A suite file; `None`: the shipped suite for the model's game.
    pub suite: Option<PathBuf>,
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
    /// With `--probe`: the probe's headline figure for this variant.
    pub probe: Option<ProbeFigure>,
    /// What the point's engine (slot A) and the baseline's (slot B) cost
    /// over the point's games: time per move, reported speed, peak memory.
    pub cost: Option<PointCost>,
    pub baseline_cost: Option<PointCost>,
    /// Its matches against the sweep's anchors.
    pub anchors: Vec<AnchorResult>,
}

/// A probe's headline figure (`kl_mean`, `cp_error_mean`) for one point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeFigure {
    pub name: String,
    pub value: f64,
    pub cached: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SweepResult {
    pub tag: String,
    pub name: String,
    pub baseline: String,
    pub points: Vec<PointResult>,
    pub run_folder: PathBuf,
    pub status: String,
    /// With anchors: every player's rating from all games of the run.
    pub ratings: Option<SweepRatings>,
    /// The shard this run played (its table shows only the shard's games).
    pub shard: Option<qarena_store::Shard>,
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
    /// With `--probe`: the probe, its suite, and the reference's outputs
    /// (evaluated once for the whole sweep).
    probe: Option<SweepProbe>,
}

struct SweepProbe {
    probe: AnyProbe,
    suite: Suite,
    reference: Option<AnyOutputs>,
    /// The noise floor is measured with the first probe only.
    floor_done: bool,
}

impl SweepProbe {
    /// The probe for the sweep's model, asking the engine the sweep plays.
    fn new(def: &SweepDef, req: &ProbeRequest) -> Result<SweepProbe, SweepError> {
        let base = &def.engine.base;
        let program = qarena_arena::command::split_command(&base.command)
            .ok()
            .and_then(|w| w.first().cloned())
            .and_then(|p| qarena_arena::command::find_program(&p));
        let engines = ProbeEngines {
            katago: match (&program, &base.config) {
                (Some(p), Some(c)) if base.protocol == qarena_arena::Protocol::Gtp => {
                    Some((p.clone(), c.clone()))
                }
                _ => None,
            },
            stockfish: program.filter(|_| base.protocol == qarena_arena::Protocol::Uci),
        };
        let probe = AnyProbe::for_model(&def.model, &engines).map_err(probe_error)?;
        let suite = match &req.suite {
            Some(path) => Suite::load(path),
            None => probe.default_suite(),
        }
        .map_err(probe_error)?;
        Ok(SweepProbe {
            probe,
            suite,
            reference: None,
            floor_done: false,
        })
    }
}

fn probe_error(e: impl std::fmt::Display) -> SweepError {
    SweepError::Input(format!("--probe: {e}"))
}

/// Probes a point's variant against the sweep's model and stores the
/// result with the variant (read back when it was probed before).
fn probe_point(
    ctx: &mut Ctx<'_>,
    v: &Variant,
    variant: qarena_store::VariantId,
) -> Result<Option<ProbeFigure>, SweepError> {
    let Some(sp) = ctx.probe.as_mut() else {
        return Ok(None);
    };
    if sp.reference.is_none() {
        let out = sp
            .probe
            .evaluate(&ctx.def.model, &sp.suite, &ctx.stop)
            .map_err(probe_error)?;
        sp.reference = Some(out);
    }
    let with_floor = !sp.floor_done;
    let probed = qarena_probe::stored::probe_stored(
        &ctx.store,
        &sp.probe,
        &ctx.def.model,
        sp.reference.as_ref(),
        &v.path,
        &sp.suite,
        Some(variant),
        with_floor,
        &ctx.stop,
    )
    .map_err(probe_error)?;
    sp.floor_done = true;
    let c = &probed.report.comparison;
    let figure = c.primary_value().map(|value| ProbeFigure {
        name: c.primary.clone(),
        value,
        cached: probed.cached,
    });
    if let Some(f) = &figure {
        ctx.req.observer.note(RunNote::Info(&format!(
            "probe    {:<16} {} {:.4}{}",
            v.manifest.strategy_name,
            f.name,
            f.value,
            if f.cached { " (stored)" } else { "" }
        )));
    }
    Ok(figure)
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

fn register(
    ctx: &Ctx<'_>,
    index: i64,
    p: &Point,
    v: &Variant,
) -> Result<qarena_store::VariantId, SweepError> {
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
    Ok(variant)
}

/// The catalogued variants of point `index` (slot A) and of the baseline
/// (slot B), as `register` stored them.
fn point_variants(
    ctx: &Ctx<'_>,
    index: i64,
) -> Result<[Option<qarena_store::VariantId>; 2], SweepError> {
    let points = ctx.store.sweep_points(ctx.sweep)?;
    let find = |hit: &dyn Fn(&qarena_store::SweepPointRecord) -> bool| {
        points.iter().find(|sp| hit(sp)).and_then(|sp| sp.variant)
    };
    Ok([
        find(&|sp| sp.point_index == index),
        find(&|sp| sp.label == ctx.def.baseline),
    ])
}

fn engine_for(def: &SweepDef, name: &str, model: &std::path::Path) -> EngineConfig {
    def.engine.engine(name, model)
}

/// The engine a point plays: the sweep's, with the point's own command or
/// options when it names them.
fn point_engine(def: &SweepDef, p: &Point, model: &std::path::Path) -> EngineConfig {
    let mut e = engine_for(def, &p.name, model);
    if let Some(own) = &p.engine {
        if let Some(c) = &own.command {
            e.command = c.clone();
        }
        e.options.extend(own.options.clone());
    }
    e
}

/// Anchor matches are stored as points of their own: anchor `k` against
/// point `i` has point index `ANCHOR_POINTS * (k + 1) + i`; sweep points
/// stay below `ANCHOR_POINTS`.
pub const ANCHOR_POINTS: i64 = 100_000;

/// One point's match against one anchor.
#[derive(Debug, Clone, Serialize)]
pub struct AnchorResult {
    pub anchor: String,
    /// The anchor's stated absolute rating.
    pub anchor_elo: Option<f64>,
    pub point_index: i64,
    pub summary: MatchSummary,
    pub elo: EloReport,
}

/// The rating fit over every game of a sweep's run.
#[derive(Debug, Clone, Serialize)]
pub struct SweepRatings {
    /// The player the scale is anchored at, and the rating it is given.
    pub anchor: String,
    pub anchor_elo: f64,
    /// Best first; anchors and points together.
    pub players: Vec<RatedPlayer>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RatedPlayer {
    pub name: String,
    pub elo: f64,
    pub lower: f64,
    pub upper: f64,
    pub games: u64,
    /// For an anchor: the rating it states (compare with `elo`).
    pub stated_elo: Option<f64>,
}

/// The match settings every game of a sweep shares.
fn match_config(def: &SweepDef, a: EngineConfig, b: EngineConfig, games: u32) -> MatchConfig {
    let mut cfg = MatchConfig::new(a, b);
    cfg.games = games;
    cfg.concurrency = def.concurrency;
    cfg.restarts = def.restarts;
    cfg.timeouts = def.timeouts;
    cfg.go = def.go.clone();
    cfg.chess = def.chess.clone();
    cfg
}

/// Plays one match of the sweep's run as point `index`.
fn run_point_match(
    ctx: &Ctx<'_>,
    index: i64,
    cfg: MatchConfig,
    params: serde_json::Value,
    variants: [Option<qarena_store::VariantId>; 2],
) -> Result<MatchSummary, SweepError> {
    Ok(run_match(
        MatchRequest {
            tag: ctx.req.tag.clone(),
            db: ctx.req.db.clone(),
            runs_dir: ctx.req.runs_dir.clone(),
            config: cfg,
            argv: ctx.req.argv.clone(),
            start: RunStart::SweepPoint(ctx.run),
            kind: ctx.req.kind,
            variant_params: Some(params),
            variants,
            point_index: index,
            shard: ctx.req.shard,
            observer: ctx.req.observer.clone(),
        },
        ctx.stop.clone(),
    )?)
}

/// Plays point `index`'s variant against every anchor.
fn play_anchors(
    ctx: &Ctx<'_>,
    index: i64,
    p: &Point,
    v: &Variant,
) -> Result<Vec<AnchorResult>, SweepError> {
    let def = &ctx.def;
    let mut out = Vec::new();
    for (k, a) in def.anchors.iter().enumerate() {
        if ctx.stop.load(Ordering::SeqCst) {
            break;
        }
        let games = a.games.unwrap_or(def.anchor_games);
        if games == 0 {
            continue;
        }
        let at = ANCHOR_POINTS * (k as i64 + 1) + index;
        let cfg = match_config(
            def,
            point_engine(def, p, &v.path),
            a.engine(&def.engine)?,
            games,
        );
        let params = serde_json::json!({
            "sweep": def.name,
            "point": p.name,
            "point_index": index,
            "anchor": a.name,
            "anchor_elo": a.elo,
            "variant_id": v.id,
            "variant_sha256": v.manifest.output_sha256,
            "effective_bits": v.manifest.total.effective_bits,
            "bytes": v.manifest.total.bytes_after,
        });
        ctx.req.observer.note(RunNote::Info(&format!(
            "point {index}: {} vs anchor {} ({games} games)",
            p.name, a.name
        )));
        // Slot A plays the point's variant; the anchor plays no variant.
        let variants = [point_variants(ctx, index)?[0], None];
        let summary = run_point_match(ctx, at, cfg, params, variants)?;
        out.push(AnchorResult {
            anchor: a.name.clone(),
            anchor_elo: a.elo,
            point_index: at,
            elo: qarena_arena::summary::elo_report(&summary),
            summary,
        });
    }
    Ok(out)
}

/// The rating fit over every game of the run, anchored at the first anchor
/// that states a rating (at that rating), else at the baseline (0).
fn sweep_ratings(store: &Store, run: RunId, def: &SweepDef) -> Result<SweepRatings, SweepError> {
    let (anchor, anchor_elo) = def
        .anchors
        .iter()
        .find_map(|a| a.elo.map(|e| (a.name.clone(), e)))
        .unwrap_or_else(|| (def.baseline.clone(), 0.0));
    let players = store
        .run_ratings(run, &anchor)?
        .into_iter()
        .map(|(name, r)| RatedPlayer {
            stated_elo: def
                .anchors
                .iter()
                .find(|a| a.name == name)
                .and_then(|a| a.elo),
            elo: anchor_elo + r.elo,
            lower: anchor_elo + r.lower(),
            upper: anchor_elo + r.upper(),
            games: r.games,
            name,
        })
        .collect();
    Ok(SweepRatings {
        anchor,
        anchor_elo,
        players,
    })
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
    let cfg = match_config(
        def,
        point_engine(def, p, &v.path),
        engine_for(def, &def.baseline, &base.path),
        def.games,
    );
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
    let summary = run_point_match(ctx, index, cfg, params, point_variants(ctx, index)?)?;
    let elo = qarena_arena::summary::elo_report(&summary);
    let anchors = play_anchors(ctx, index, p, v)?;
    let costs = ctx.store.game_cost_metrics(ctx.run)?;
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
        probe: None,
        cost: PointCost::of(&costs, index, Slot::A),
        baseline_cost: PointCost::of(&costs, index, Slot::B),
        anchors,
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
pub fn run_sweep(mut req: SweepRequest, stop: Arc<AtomicBool>) -> Result<SweepResult, SweepError> {
    if req.shard.is_some() && req.refine {
        return Err(SweepError::Input(
            "--refine needs every shard's results: refine after `qarena merge`, unsharded".into(),
        ));
    }
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
        // A resume continues the shard the run was started as.
        req.shard = qarena_store::Shard::for_resume(
            req.shard,
            qarena_store::Shard::of_run_settings(&rec.settings),
            req.tag.as_str(),
        )
        .map_err(SweepError::Input)?;
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
        for a in &req.def.anchors {
            qarena_arena::runner::resolve_argv(&a.engine(&req.def.engine)?)?;
        }
        let owner = claim()?;
        let run = store.create_run(&NewRun {
            tag: req.tag.to_string(),
            kind: req.kind,
            argv: req.argv.clone(),
            settings: match req.shard {
                Some(shard) => serde_json::json!({ "sweep": req.def, "shard": shard }),
                None => serde_json::json!({ "sweep": req.def }),
            },
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
        probe: None,
    };
    if let Some(pr) = &req.probe {
        ctx.probe = Some(SweepProbe::new(&ctx.def, pr)?);
    }

    let outcome = (|| -> Result<Vec<PointResult>, SweepError> {
        // Build every coarse variant first: a strategy error shows up before
        // any game is played.
        let mut variants = Vec::new();
        for (i, p, _) in &points {
            let v = build(&ctx, p)?;
            let id = register(&ctx, *i, p, &v)?;
            let figure = probe_point(&mut ctx, &v, id)?;
            if p.name == ctx.def.baseline {
                ctx.baseline = Some(v.clone());
            }
            variants.push((v, figure));
        }
        let mut results = Vec::new();
        for ((i, p, refined), (v, figure)) in points.iter().zip(&variants) {
            if ctx.stop.load(Ordering::SeqCst) {
                break;
            }
            let mut r = play(&ctx, *i, p, v, *refined)?;
            r.probe = figure.clone();
            results.push(r);
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
                    let id = register(&ctx, index, &p, &v)?;
                    let figure = probe_point(&mut ctx, &v, id)?;
                    points.push((index, p.clone(), true));
                    let mut r = play(&ctx, index, &p, &v, true)?;
                    r.probe = figure;
                    results.push(r);
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
    let ratings = if ctx.def.anchors.is_empty() {
        None
    } else {
        Some(sweep_ratings(&store, run, &ctx.def)?)
    };
    let result = SweepResult {
        ratings,
        shard: req.shard,
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
    if let Some(s) = r.shard {
        let _ = writeln!(
            out,
            "shard {s}: this table counts only the shard's games; `qarena merge` joins the shards"
        );
    }
    // With --probe, the probe's headline figure before the Elo column.
    let probe_name = r
        .points
        .iter()
        .find_map(|p| p.probe.as_ref())
        .map(|f| f.name.clone());
    let probe_head = probe_name
        .as_ref()
        .map(|n| format!(" {n:>13}"))
        .unwrap_or_default();
    // Cost columns when the engines' costs were recorded.
    let speed_unit = r
        .points
        .iter()
        .find_map(|p| p.cost.as_ref()?.reported_speed.map(|s| s.1));
    let with_cost = r.points.iter().any(|p| p.cost.is_some());
    let cost_head = if with_cost {
        format!(
            " {:>13} {:>12} {:>17} {:>7}",
            "ms/move",
            "time vs base",
            speed_unit.unwrap_or("speed"),
            "RSS MiB"
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "{:<4} {:<12} {:>7} {:>9} {:>11} {:>6} {:>11} {:>6}{probe_head}{cost_head}  Elo (95% CI)",
        "#", "variant", "bits/w", "changed", "bytes", "games", "W/D/L", "score"
    );
    // Point order: original, explicit points, then each target from mild
    // to severe (refined points at the end).
    let mut rows: Vec<&PointResult> = r.points.iter().collect();
    rows.sort_by_key(|p| p.index);
    for p in rows {
        let s = &p.summary;
        let probe_cell = match (&probe_name, &p.probe) {
            (Some(_), Some(f)) => format!(" {:>13.4}", f.value),
            (Some(_), None) => format!(" {:>13}", "-"),
            (None, _) => String::new(),
        };
        let cost_cell = if with_cost {
            cost_cells(p.cost.as_ref())
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{:<4} {:<12} {:>7.3} {:>9} {:>11} {:>6} {:>11} {:>6}{probe_cell}{cost_cell}  {}{}",
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
    if with_cost {
        let _ = writeln!(
            out,
            "cost of the point's engine, mean ± 95% interval over games: ms/move as measured; time vs base: its time per move over the baseline's in the same games; {}: as the engine reported it; RSS: largest peak resident memory of its process. Fake-quantized variants compute at the original precision, so speed reflects the engine's arithmetic, not the nominal bits",
            speed_unit.unwrap_or("speed")
        );
    }
    render_anchors(&mut out, r);
    let _ = writeln!(out, "run folder: {}", r.run_folder.display());
    out
}

/// With anchors: each point's score against each anchor, then every
/// player's rating from all games of the run on the anchored scale.
fn render_anchors(out: &mut String, r: &SweepResult) {
    use std::fmt::Write;
    let Some(ratings) = &r.ratings else {
        return;
    };
    let mut rows: Vec<&PointResult> = r.points.iter().collect();
    rows.sort_by_key(|p| p.index);
    let names: Vec<&str> = rows
        .iter()
        .flat_map(|p| p.anchors.iter().map(|a| a.anchor.as_str()))
        .fold(Vec::new(), |mut v, n| {
            if !v.contains(&n) {
                v.push(n);
            }
            v
        });
    let _ = writeln!(
        out,
        "
score against the anchors (games; W/D/L):"
    );
    let mut head = format!("{:<4} {:<12}", "#", "variant");
    for n in &names {
        let _ = write!(head, " {n:>22}");
    }
    let _ = writeln!(out, "{head}");
    for p in rows {
        let mut line = format!("{:<4} {:<12}", p.index, p.name);
        for n in &names {
            let cell = p
                .anchors
                .iter()
                .find(|a| a.anchor == *n)
                .map(|a| {
                    let w = a.summary.tally.wdl();
                    format!(
                        "{} {}/{}/{}",
                        a.summary
                            .score_a()
                            .map(|v| format!("{:.1}%", 100.0 * v))
                            .unwrap_or_else(|| "-".into()),
                        w.wins,
                        w.draws,
                        w.losses
                    )
                })
                .unwrap_or_else(|| "-".into());
            let _ = write!(line, " {cell:>22}");
        }
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(
        out,
        "
ratings from every game of the run (Bradley–Terry, 95% intervals), anchored at {} = {:.0}:",
        ratings.anchor, ratings.anchor_elo
    );
    let _ = writeln!(
        out,
        "{:<16} {:>8} {:>20} {:>6} {:>8}",
        "player", "Elo", "95% interval", "games", "stated"
    );
    for p in &ratings.players {
        let _ = writeln!(
            out,
            "{:<16} {:>8.0} {:>20} {:>6} {:>8}",
            p.name,
            p.elo,
            format!("[{:.0}, {:.0}]", p.lower, p.upper),
            p.games,
            p.stated_elo
                .map(|e| format!("{e:.0}"))
                .unwrap_or_else(|| "-".into())
        );
    }
    let _ = writeln!(
        out,
        "stated: the rating an anchor claims (e.g. its UCI_Elo); the fit places the other anchors independently, so stated and fitted values can be compared"
    );
}

/// The cost columns of one row of the sweep table.
fn cost_cells(c: Option<&PointCost>) -> String {
    let Some(c) = c else {
        return format!(" {:>13} {:>12} {:>17} {:>7}", "-", "-", "-", "-");
    };
    let ratio = c
        .move_ms_ratio
        .map(|r| format!("{:.2} ± {:.2}", r.ratio, r.half_width))
        .unwrap_or_else(|| "-".into());
    let speed = c
        .reported_speed
        .map(|(m, _)| format!("{}k", m.fmt(1, 0.001)))
        .unwrap_or_else(|| "-".into());
    let rss = c
        .peak_rss_mib_max
        .map(|m| format!("{m:.0}"))
        .unwrap_or_else(|| "-".into());
    format!(
        " {:>13} {:>12} {:>17} {:>7}",
        c.move_ms
            .map(|m| m.fmt(1, 1.0))
            .unwrap_or_else(|| "-".into()),
        ratio,
        speed,
        rss
    )
}
