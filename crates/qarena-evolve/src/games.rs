//! The game stage: the best survivors of the screen are promoted to games.
//!
//! 1. **Gate.** The champion of each generation (its best genome by
//!    survival score) is a candidate; the best `promote` candidates are
//!    promoted, so they come from different generations. Each plays the
//!    original network in an SPRT-gated match (by default
//!    `elo0 = −50, elo1 = 0`, at most `gate_games` games): accepting H0
//!    ("loses 50 Elo or more") eliminates it; accepting H1 or reaching the
//!    game cap undecided lets it through.
//! 2. **League.** The genomes through the gate and the hand recipes given
//!    as anchors play a round robin, `league_games` games per pair, and
//!    each recipe plays the original as often (the genomes met it at the
//!    gate). Genomes whose variants are byte-identical play once.
//! 3. **Ratings.** A Bradley–Terry fit over every game of both stages,
//!    anchored at the original (Elo 0), with 95% intervals.
//!
//! Every match is a run of its own (tag `evo<id>-gate-g<genome>` or
//! `evo<id>-league-<a>-<b>`), linked to the evolution in
//! `evolution_matches`; a stopped stage resumes where it stopped (finished
//! games are kept, a finished match is not played again).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use qarena_arena::chess::ChessSettings;
use qarena_arena::{
    run_match, GoSettings, MatchConfig, MatchRequest, MatchSummary, Observer, RunError, RunStart,
    RunTag, Timeouts,
};
use qarena_quant::Strategy;
use qarena_stats::{Rating, SprtParams, SprtVerdict};
use qarena_store::{EvolutionMatch, EvolutionRecord, GenomeId, RunKind, Store};
use qarena_sweep::EngineTemplate;

use crate::evolve::{best_alive, build_variant, EvolveError};

/// The player name of the original network.
pub const ORIGINAL: &str = "original";

/// A hand-written strategy that plays in the league as an anchor.
#[derive(Debug, Clone)]
pub struct Recipe {
    pub name: String,
    pub strategy: Strategy,
}

/// How the game stage is played.
#[derive(Debug, Clone)]
pub struct GameStage {
    /// The original model (the baseline every variant is built from).
    pub model: PathBuf,
    /// Genomes promoted to the gate.
    pub promote: usize,
    pub gate: SprtParams,
    /// Most games of a gate match (even: colour-swapped pairs).
    pub gate_games: u32,
    /// Games per pair in the league.
    pub league_games: u32,
    pub recipes: Vec<Recipe>,
    /// How an engine plays a model.
    pub engine: EngineTemplate,
    pub go: GoSettings,
    pub chess: Option<ChessSettings>,
    pub timeouts: Timeouts,
    pub concurrency: usize,
    pub db: PathBuf,
    pub runs_dir: PathBuf,
    pub cache_dir: PathBuf,
    pub argv: Vec<String>,
    pub observer: Arc<dyn Observer>,
}

/// A promoted genome's gate match.
#[derive(Debug, Clone)]
pub struct Gate {
    pub genome: GenomeId,
    pub bits_per_weight: f64,
    pub summary: MatchSummary,
    /// Not eliminated: the SPRT did not accept H0.
    pub passed: bool,
}

/// One player's rating.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayerRating {
    /// `original`, `genome:<id>` or `recipe:<name>`.
    pub player: String,
    pub rating: Rating,
}

/// What the game stage produced.
#[derive(Debug, Clone)]
pub struct GameStageSummary {
    pub gates: Vec<Gate>,
    /// Best first; the original is among them at Elo 0.
    pub ratings: Vec<PlayerRating>,
    pub stopped: bool,
}

/// A player's name and the model file it plays.
type Player = (String, PathBuf);

/// Plays (or resumes) the game stage of `evolution`; see the module docs.
pub fn play_games(
    store: &Store,
    evolution: &EvolutionRecord,
    stage: &GameStage,
    stop: Arc<AtomicBool>,
) -> Result<GameStageSummary, EvolveError> {
    let promoted = champions(store, evolution, stage.promote)?;
    let mut gates = Vec::new();
    let mut league: Vec<Player> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for g in &promoted {
        if stop.load(Ordering::SeqCst) {
            return finish(store, evolution, gates, true);
        }
        let strategy = Strategy::parse(&g.genome.strategy_toml, "stored genome").map_err(|e| {
            EvolveError::Stored {
                id: g.id.0,
                why: e.to_string(),
            }
        })?;
        let (path, sha) = build(stage, &strategy)?;
        // Two strategies can make the same bytes (a clipping choice on a
        // kept group): one of them plays for both.
        if !seen.insert(sha) {
            continue;
        }
        let player = format!("genome:{}", g.id.0);
        let mut cfg = match_config(stage, (&player, &path), (ORIGINAL, &stage.model));
        cfg.games = stage.gate_games;
        cfg.sprt = Some(stage.gate);
        let tag = format!("evo{}-gate-g{}", evolution.id.0, g.id.0);
        let summary = play(
            store,
            evolution,
            stage,
            ("gate", &tag),
            cfg,
            (&player, ORIGINAL),
            &stop,
        )?;
        let passed = !matches!(summary.sprt.map(|s| s.verdict), Some(SprtVerdict::AcceptH0));
        let finished = summary.status == qarena_store::RunStatus::Completed;
        gates.push(Gate {
            genome: g.id,
            bits_per_weight: g.genome.bits_per_weight,
            summary,
            passed,
        });
        if !finished {
            return finish(store, evolution, gates, true);
        }
        if passed {
            league.push((player, path));
        }
    }
    let genomes = league.len();
    for r in &stage.recipes {
        league.push((format!("recipe:{}", r.name), build(stage, &r.strategy)?.0));
    }
    // Every pair of the league, and each recipe against the original (the
    // genomes met it at the gate).
    let original = (ORIGINAL.to_string(), stage.model.clone());
    let mut pairs: Vec<(&Player, &Player)> = Vec::new();
    for i in 0..league.len() {
        for j in i + 1..league.len() {
            pairs.push((&league[i], &league[j]));
        }
    }
    pairs.extend(league[genomes..].iter().map(|r| (r, &original)));
    for (a, b) in pairs {
        if stop.load(Ordering::SeqCst) {
            return finish(store, evolution, gates, true);
        }
        let mut cfg = match_config(stage, (&a.0, &a.1), (&b.0, &b.1));
        cfg.games = stage.league_games;
        let tag = format!(
            "evo{}-league-{}-{}",
            evolution.id.0,
            short(&a.0),
            short(&b.0)
        );
        let summary = play(
            store,
            evolution,
            stage,
            ("league", &tag),
            cfg,
            (&a.0, &b.0),
            &stop,
        )?;
        if summary.status != qarena_store::RunStatus::Completed {
            return finish(store, evolution, gates, true);
        }
    }
    finish(store, evolution, gates, false)
}

/// The best `k` generation champions (each generation's best genome by
/// survival score), best first.
pub fn champions(
    store: &Store,
    evolution: &EvolutionRecord,
    k: usize,
) -> Result<Vec<qarena_store::GenomeRecord>, EvolveError> {
    let mut seen_generations = std::collections::BTreeSet::new();
    Ok(best_alive(store, evolution.id)?
        .into_iter()
        .filter(|g| seen_generations.insert(g.genome.generation))
        .take(k)
        .collect())
}

fn finish(
    store: &Store,
    evolution: &EvolutionRecord,
    gates: Vec<Gate>,
    stopped: bool,
) -> Result<GameStageSummary, EvolveError> {
    Ok(GameStageSummary {
        gates,
        ratings: ratings(store, evolution)?,
        stopped,
    })
}

/// Builds (or finds in the cache) the variant of `strategy`: its path and
/// the sha256 of its bytes.
fn build(stage: &GameStage, strategy: &Strategy) -> Result<(PathBuf, String), EvolveError> {
    build_variant(&stage.model, strategy, &stage.cache_dir)
        .map(|v| (v.path, v.manifest.output_sha256))
        .map_err(EvolveError::Variant)
}

/// The engine name of a player in a match (`g153`, `original`, the recipe
/// name).
fn engine_name(player: &str) -> String {
    match player.split_once(':') {
        Some(("genome", id)) => format!("g{id}"),
        Some((_, name)) => name.to_string(),
        None => player.to_string(),
    }
}

/// A player's part of a run tag: letters, digits, `.`, `_` and `-` only,
/// at most 20 characters (so a league tag stays within 64).
fn short(player: &str) -> String {
    engine_name(player)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(20)
        .collect()
}

fn match_config(stage: &GameStage, a: (&str, &Path), b: (&str, &Path)) -> MatchConfig {
    let mut cfg = MatchConfig::new(
        stage.engine.engine(&engine_name(a.0), a.1),
        stage.engine.engine(&engine_name(b.0), b.1),
    );
    cfg.concurrency = stage.concurrency;
    cfg.timeouts = stage.timeouts;
    cfg.go = stage.go.clone();
    cfg.chess = stage.chess.clone();
    cfg
}

/// Plays (or resumes) one match, `(stage, tag)`, between `players` (A, B)
/// and links it to the evolution.
fn play(
    store: &Store,
    evolution: &EvolutionRecord,
    stage: &GameStage,
    (kind, tag): (&str, &str),
    config: MatchConfig,
    (player_a, player_b): (&str, &str),
    stop: &Arc<AtomicBool>,
) -> Result<MatchSummary, EvolveError> {
    let run_tag = RunTag::parse(tag).map_err(|e| EvolveError::Games(e.to_string()))?;
    let start = if store.run_by_tag(tag)?.is_some() {
        RunStart::Resume
    } else {
        RunStart::New
    };
    let summary = run_match(
        MatchRequest {
            tag: run_tag,
            db: stage.db.clone(),
            runs_dir: stage.runs_dir.clone(),
            config,
            argv: stage.argv.clone(),
            start,
            kind: RunKind::Match,
            variant_params: Some(serde_json::json!({
                "evolution": evolution.name,
                "seed": evolution.seed,
                "stage": kind,
            })),
            variants: [None, None],
            point_index: 0,
            shard: None,
            observer: stage.observer.clone(),
        },
        stop.clone(),
    )
    .map_err(|e| match e {
        RunError::Store(s) => EvolveError::Store(s),
        RunError::Input(m) => EvolveError::GameInput(m),
        other => EvolveError::Games(other.to_string()),
    })?;
    let run = store
        .run_by_tag(tag)?
        .ok_or_else(|| EvolveError::Games(format!("run '{tag}' vanished after its match")))?;
    store.add_evolution_match(&EvolutionMatch {
        evolution: evolution.id,
        stage: kind.to_string(),
        player_a: player_a.to_string(),
        player_b: player_b.to_string(),
        run: run.id,
    })?;
    Ok(summary)
}

/// Bradley–Terry ratings over every game of the evolution's game stage,
/// anchored at the original; best first. Empty before any game.
pub fn ratings(
    store: &Store,
    evolution: &EvolutionRecord,
) -> Result<Vec<PlayerRating>, EvolveError> {
    Ok(store
        .evolution_ratings(evolution.id, ORIGINAL)?
        .into_iter()
        .map(|(player, rating)| PlayerRating { player, rating })
        .collect())
}
