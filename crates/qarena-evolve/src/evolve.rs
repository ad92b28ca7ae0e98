//! The probe-screened evolution loop.
//!
//! Each generation: genomes are generated (random at first, then by
//! mutation and crossover of survivors chosen by tournament), stored,
//! built into variants and probed against the original on the screening
//! suite. A genome dies when its variant cannot be built (non-finite
//! weights), its probe fails (the engine crashed or timed out), its figures
//! are not finite, or it collapsed (Go: top-1 agreement below a floor;
//! chess: sign agreement below a floor). Its quality is the probe's
//! headline figure (lower is better), for KataGo nets the policy KL plus
//! the value head's (win/loss) KL, so the value head cannot be sold for
//! policy accuracy; survivors are ranked by their
//! [survival score](survival_score), which adds bytes, the engine's speed
//! and its memory to the quality, and the best `survivors` genomes seen so
//! far are the next parents (elitist). Every genome is stored with its
//! parents, operator, cost and result, the dead ones too.
//!
//! Each generation's random stream is seeded by the evolution's seed and
//! the generation number, so a resumed evolution makes the same genomes:
//! genomes already screened are read back from the store, the rest are
//! screened. Strategies given as entrants (an earlier evolution's
//! survivors, a hand recipe) enter generation 0 whole, before its random
//! genomes, and compete like any other genome. The loop ends after
//! `generations`, after `patience` generations without a better genome,
//! when every genome of a generation died (the budget is past the
//! survival boundary), at a resource limit (genomes, wall time), or on a
//! stop request; [`Ending`] says which.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use qarena_probe::stored::{probe_stored, StoredProbeError};
use qarena_probe::{metric, AnyOutputs, AnyProbe, Probe, Suite};
use qarena_quant::Strategy;
use qarena_store::{
    EvolutionId, GenomeId, GenomeRecord, GenomeResult, NewEvolution, NewGenome, RunStatus, Shard,
    Store,
};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use crate::genome::{Budget, GeneSpace, Genome, GenomeError, Layout, Operator};
use crate::llm::{LlmOutcome, LlmScreen, LLM_PROBE};
use crate::native::{NativeOutcome, NativeScreen};

/// The name the native screen's comparisons are stored under.
pub const NATIVE_PROBE: &str = "katago-native";

/// Why an evolution could not go on.
#[derive(Debug, thiserror::Error)]
pub enum EvolveError {
    #[error(transparent)]
    Genome(#[from] GenomeError),
    #[error(transparent)]
    Store(#[from] qarena_store::StoreError),
    #[error("model {path}: {source}")]
    Model {
        path: PathBuf,
        source: qarena_models::ModelError,
    },
    #[error("evaluating the original on the screening suite: {0}")]
    Reference(qarena_probe::ProbeError),
    /// Probing failed for a reason that is not the genome's (bad suite,
    /// unreadable model file).
    #[error("probing a genome: {0}")]
    Probe(Box<StoredProbeError>),
    /// Writing a variant failed (disk full, read-only cache).
    #[error(transparent)]
    Variant(qarena_variant::VariantError),
    #[error("stored genome {id} is not a genome of this model: {why}")]
    Stored { id: i64, why: String },
    /// A match of the game stage could not be played (bad engine command,
    /// an engine that fails beyond its restarts, the run folder).
    #[error("game stage: {0}")]
    Games(String),
    /// A match of the game stage was refused as given (engine command,
    /// settings, run folder).
    #[error("game stage: {0}")]
    GameInput(String),
    /// A check outside the loop does not fit the evolution.
    #[error("check: {0}")]
    Check(String),
    /// A shard's screen does not fit the gathered evolution.
    #[error("shard: {0}")]
    Shard(String),
    /// The native screen cannot evaluate this model or suite.
    #[error("screen: {0}")]
    Screen(String),
    /// A resume asks for something the stored evolution was not started
    /// with.
    #[error("resume: {0}")]
    Resume(String),
    /// An entrant is not a genome of the model or is over the budget.
    #[error("entrant '{name}': {why}")]
    Entrant { name: String, why: String },
}

/// How genomes are screened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScreenKind {
    /// Each variant written to the cache and probed by its engine.
    #[default]
    Engine,
    /// KataGo nets: quantized in memory and evaluated by qarena's own
    /// forward pass ([`crate::native`]).
    Native,
    /// Language models: quantized in memory and measured by next-token KL
    /// on a screening text ([`crate::llm`]; [`evolve_llm`]).
    Llm,
}

impl ScreenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScreenKind::Engine => "engine",
            ScreenKind::Native => "native",
            ScreenKind::Llm => "llm",
        }
    }
}

/// How an evolution runs.
#[derive(Debug, Clone)]
pub struct EvolveSettings {
    pub name: String,
    pub model: PathBuf,
    pub budget: Budget,
    pub seed: u64,
    /// Genomes generated per generation.
    pub population: usize,
    /// Best genomes kept as parents.
    pub survivors: usize,
    pub generations: usize,
    /// Stop after this many generations without a better genome.
    pub patience: usize,
    /// Collapse floor: top-1 agreement (Go) or sign agreement (chess).
    pub collapse_floor: f64,
    pub cache_dir: PathBuf,
    pub space: GeneSpace,
    pub limits: Limits,
    pub screen: ScreenKind,
    /// Weight of `policy_regret` in the quality (0: not measured). With a
    /// weight, a KataGo genome's quality is policy KL + value KL + weight ×
    /// policy regret, so genomes that move policy mass toward moves the
    /// original judges worse lose to those that move it toward better ones.
    /// Native screen only.
    pub regret_weight: f64,
    /// Weight of `top1_regret` in the quality (0: left out): what the
    /// genome's top moves give away against the original's, which is what
    /// play without search loses. Added to the rest of the quality like
    /// `regret_weight`; native screen only.
    pub top1_regret_weight: f64,
    /// Strategies entered whole into generation 0 before its random
    /// genomes (they count toward its population): an earlier evolution's
    /// survivors, or a hand recipe to start from. Each must be a genome of
    /// the model ([`Genome::of_strategy`]) within the budget.
    pub entrants: Vec<Strategy>,
}

impl EvolveSettings {
    /// Whether the quality weighs a regret (the screen must measure it).
    pub fn measures_regret(&self) -> bool {
        self.regret_weight > 0.0 || self.top1_regret_weight > 0.0
    }

    /// An engine-screened evolution of `model` under `budget`, with the
    /// command line's defaults: seed 1, 16 genomes per generation, 6
    /// survivors, 10 generations, patience 4, collapse floor 0.2, the
    /// default gene space, no limits, no regret, no entrants. Change the
    /// rest with struct update syntax.
    pub fn new(
        name: &str,
        model: impl Into<PathBuf>,
        budget: Budget,
        cache_dir: impl Into<PathBuf>,
    ) -> EvolveSettings {
        EvolveSettings {
            name: name.to_string(),
            model: model.into(),
            budget,
            seed: 1,
            population: 16,
            survivors: 6,
            generations: 10,
            patience: 4,
            collapse_floor: 0.2,
            cache_dir: cache_dir.into(),
            space: GeneSpace::default(),
            limits: Limits::default(),
            screen: ScreenKind::Engine,
            regret_weight: 0.0,
            top1_regret_weight: 0.0,
            entrants: Vec::new(),
        }
    }
}

/// Resource limits of one evolution command.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Limits {
    /// Genomes the loop goes through (a resumed run counts the genomes it
    /// reads back, so it ends where the first run would have).
    pub max_genomes: Option<usize>,
    /// Wall time of this command.
    pub max_seconds: Option<f64>,
    /// Pause after this generation (the gather step of a sharded
    /// evolution: its genomes' probes were merged in, so the loop reads
    /// them instead of probing).
    pub through_generation: Option<usize>,
}

/// Why an evolution ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It ran every generation asked for.
    Generations,
    /// `patience` generations brought no better genome.
    NoImprovement,
    /// Every genome of one generation died: the budget is past the
    /// survival boundary.
    AllDied {
        generation: usize,
    },
    /// No genome could be made within the budget (every sample stayed over
    /// it after repair).
    NothingFits,
    GenomeLimit,
    TimeLimit,
    /// Paused after this generation as asked (`through_generation`).
    Paused {
        generation: usize,
    },
    /// A stop request (Ctrl-C).
    Stopped,
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::Generations => write!(f, "every generation asked for"),
            Ending::NoImprovement => write!(f, "no better genome for `patience` generations"),
            Ending::AllDied { generation } => write!(
                f,
                "every genome of generation {generation} died: the budget is past the survival boundary"
            ),
            Ending::NothingFits => write!(f, "no genome fits within the budget"),
            Ending::GenomeLimit => write!(f, "the genome limit"),
            Ending::TimeLimit => write!(f, "the time limit"),
            Ending::Paused { generation } => write!(
                f,
                "a pause after generation {generation} as asked; run it again with a later --through-generation, or without, to go on"
            ),
            Ending::Stopped => write!(f, "stopped; run the same command to resume"),
        }
    }
}

/// What an evolution left: its id, and the genomes by quality.
#[derive(Debug, Clone)]
pub struct EvolveSummary {
    pub evolution: EvolutionId,
    pub generations: usize,
    pub screened: usize,
    pub failed: usize,
    /// Alive genomes, best first.
    pub best: Vec<GenomeRecord>,
    pub stopped: bool,
    pub ending: Ending,
}

/// How much each cost counts in the survival score, per unit of its term.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ScoreWeights {
    /// Per bit per weight (the budget already caps it; within it, one bit
    /// less is worth 10% more KL).
    pub bits: f64,
    /// Per natural log of the slow-down against the original.
    pub latency: f64,
    /// Per natural log of the engine's peak memory against the original's.
    pub memory: f64,
}

/// The weights every evolution uses; stored with its settings.
pub const SCORE_WEIGHTS: ScoreWeights = ScoreWeights {
    bits: 0.1,
    latency: 0.25,
    memory: 0.25,
};

/// Quality below this counts as this (so a perfect copy has a finite
/// score).
pub const QUALITY_FLOOR: f64 = 1e-4;

/// The survival score of a genome that survived its screen (lower is
/// better; a genome that failed has none and never breeds):
///
/// `ln(max(quality, 1e-4)) + 0.1·bits + 0.25·ln(1/speed_ratio) +
/// 0.25·ln(memory_ratio)`
///
/// Quality enters as a log, so the other terms are relative: a genome 10%
/// worse in KL is even with one that is 0.95 bits per weight cheaper,
/// or ~46% faster, or ~32% smaller in memory. Missing or non-positive
/// ratios count as 1 (no cost difference known). Fake-quantized variants
/// run at the original's precision, so speed and memory differ little and
/// mostly by noise; their weights are kept small for that reason.
pub fn survival_score(
    quality: f64,
    bits_per_weight: f64,
    speed_ratio: Option<f64>,
    memory_ratio: Option<f64>,
) -> f64 {
    let w = SCORE_WEIGHTS;
    let ln_ratio = |r: Option<f64>| r.filter(|r| r.is_finite() && *r > 0.0).map_or(0.0, f64::ln);
    quality.max(QUALITY_FLOOR).ln() + w.bits * bits_per_weight - w.latency * ln_ratio(speed_ratio)
        + w.memory * ln_ratio(memory_ratio)
}

/// One line of progress for the caller to show.
pub type Progress<'a> = &'a dyn Fn(&str);

/// What genomes are measured against: a probe on a position suite, or a
/// language model on a screening text.
#[derive(Clone, Copy)]
enum Target<'a> {
    Probe {
        probe: &'a AnyProbe,
        suite: &'a Suite,
    },
    Llm(&'a LlmScreen),
}

impl Target<'_> {
    /// The probe's name and the suite's (or text's) sha256, as the
    /// evolution's settings record them.
    fn names(&self) -> (&str, &str) {
        match self {
            Target::Probe { probe, suite } => (probe.name(), suite.sha256()),
            Target::Llm(l) => (LLM_PROBE, l.text().1),
        }
    }
}

struct Screen<'a> {
    store: &'a Store,
    settings: &'a EvolveSettings,
    layout: &'a Layout,
    target: Target<'a>,
    reference: Option<AnyOutputs>,
    native: Option<NativeScreen>,
    model_sha: String,
    stop: &'a AtomicBool,
}

pub(crate) fn sha256_hex(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

impl<'a> Screen<'a> {
    /// Evaluates the original on the suite, once for every genome the
    /// screen probes; `None` when a stop request came first.
    fn start(
        store: &'a Store,
        settings: &'a EvolveSettings,
        layout: &'a Layout,
        target: Target<'a>,
        model_sha: &str,
        stop: &'a AtomicBool,
    ) -> Result<Option<Screen<'a>>, EvolveError> {
        let (probe, suite) = match target {
            Target::Probe { probe, suite } => (probe, suite),
            Target::Llm(_) if settings.measures_regret() => {
                return Err(EvolveError::Screen(
                    "regret is a Go measure: a language model is screened by next-token KL alone (leave out --regret-weight / --top1-regret-weight)".to_string(),
                ))
            }
            Target::Llm(_) => {
                return Ok(Some(Screen {
                    store,
                    settings,
                    layout,
                    target,
                    reference: None,
                    native: None,
                    model_sha: model_sha.to_string(),
                    stop,
                }))
            }
        };
        let (reference, native) = match settings.screen {
            ScreenKind::Native if settings.measures_regret() => (
                None,
                Some(NativeScreen::new(&settings.model, suite)?.with_regret(suite)?),
            ),
            ScreenKind::Native => (None, Some(NativeScreen::new(&settings.model, suite)?)),
            ScreenKind::Engine if settings.measures_regret() => {
                return Err(EvolveError::Screen(
                    "regret is measured by the native screen only: use --screen native (KataGo nets) or no --regret-weight / --top1-regret-weight".to_string(),
                ))
            }
            ScreenKind::Llm => {
                return Err(EvolveError::Screen(format!(
                    "the language-model screen measures language models; {} is screened by its probe (--screen engine or native)",
                    settings.model.display()
                )))
            }
            ScreenKind::Engine => match probe.evaluate(&settings.model, suite, stop) {
                Ok(r) => (Some(r), None),
                Err(e) if e.is_interrupted() => return Ok(None),
                Err(e) => return Err(EvolveError::Reference(e)),
            },
        };
        Ok(Some(Screen {
            store,
            settings,
            layout,
            target,
            reference,
            native,
            model_sha: model_sha.to_string(),
            stop,
        }))
    }

    /// Stores the genome and screens it unless it was screened before.
    fn screen(
        &self,
        evolution: EvolutionId,
        generation: usize,
        genome: &Genome,
        op: Operator,
        parents: (Option<GenomeId>, Option<GenomeId>),
    ) -> Result<GenomeRecord, EvolveError> {
        let strategy = genome.to_strategy(&genome_name(self.settings, generation))?;
        let canonical = strategy.canonical_json();
        let (rec, fresh) = self.store.insert_genome(&NewGenome {
            evolution,
            generation: generation as i64,
            operator: op.as_str().to_string(),
            parent_a: parents.0,
            parent_b: parents.1,
            strategy_toml: strategy.to_toml(),
            strategy_sha256: sha256_hex(&canonical),
            bits_per_weight: genome.bits_per_weight(self.layout)?,
            bytes: genome.bytes(self.layout)? as i64,
        })?;
        if !fresh && (rec.quality.is_some() || rec.failure.is_some()) {
            return Ok(rec);
        }
        let (kind, detail) = match self.assess(&strategy)? {
            Assessment::Interrupted => return Ok(rec),
            Assessment::Failed { kind, detail } => (kind, detail),
            Assessment::Alive(a) => {
                let score = survival_score(
                    a.quality,
                    rec.genome.bits_per_weight,
                    a.speed_ratio,
                    a.memory_ratio,
                );
                self.store.set_genome_result(
                    rec.id,
                    &GenomeResult {
                        variant: None,
                        probe: Some(a.probe),
                        quality: Some(a.quality),
                        speed_ratio: a.speed_ratio,
                        memory_ratio: a.memory_ratio,
                        score: Some(score),
                        failure: None,
                    },
                )?;
                return Ok(GenomeRecord {
                    quality: Some(a.quality),
                    probe: Some(a.probe),
                    speed_ratio: a.speed_ratio,
                    memory_ratio: a.memory_ratio,
                    score: Some(score),
                    ..rec
                });
            }
        };
        self.store.set_genome_result(
            rec.id,
            &GenomeResult {
                variant: None,
                probe: None,
                quality: None,
                speed_ratio: None,
                memory_ratio: None,
                score: None,
                failure: Some((kind, &detail)),
            },
        )?;
        Ok(GenomeRecord {
            failure: Some(kind.to_string()),
            failure_detail: Some(detail),
            ..rec
        })
    }

    /// Builds the strategy's variant and probes it against the original
    /// (the probe is read from the store when it ran before), and says
    /// whether the genome lives. Stores the probe, never a genome.
    fn assess(&self, strategy: &qarena_quant::Strategy) -> Result<Assessment, EvolveError> {
        let fail = |kind: &'static str, detail: String| Ok(Assessment::Failed { kind, detail });
        let (probe, suite) = match self.target {
            Target::Llm(llm) => return self.assess_llm(llm, strategy),
            Target::Probe { probe, suite } => (probe, suite),
        };
        if let Some(native) = &self.native {
            return self.assess_native(native, suite, strategy);
        }
        let variant = match build_variant(&self.settings.model, strategy, &self.settings.cache_dir)
        {
            Ok(v) => v,
            // The disk, not the genome: the evolution stops.
            Err(e @ qarena_variant::VariantError::Io { .. }) => {
                return Err(EvolveError::Variant(e))
            }
            Err(e) => return fail("build_error", e.to_string()),
        };
        let probed = match probe_stored(
            self.store,
            probe,
            &self.settings.model,
            self.reference.as_ref(),
            &variant.path,
            suite,
            None,
            false,
            self.stop,
        ) {
            Ok(p) => p,
            // A stop request says nothing about the genome: it stays
            // unscreened and is screened on resume.
            Err(StoredProbeError::Probe(e)) if e.is_interrupted() => {
                return Ok(Assessment::Interrupted)
            }
            Err(StoredProbeError::Probe(e)) if e.is_timeout() => {
                return fail("timeout", e.to_string())
            }
            Err(StoredProbeError::Probe(e)) if e.is_engine_failure() => {
                return fail("engine_crash", e.to_string())
            }
            Err(StoredProbeError::Store(e)) => return Err(e.into()),
            Err(e) => return Err(EvolveError::Probe(Box::new(e))),
        };
        self.judge(&probed.report.comparison, probed.id)
    }

    /// Screens in memory; the comparison is stored as a probe of the
    /// variant's id (without per-position figures).
    fn assess_native(
        &self,
        native: &NativeScreen,
        suite: &Suite,
        strategy: &qarena_quant::Strategy,
    ) -> Result<Assessment, EvolveError> {
        let calibration = if qarena_variant::needs_calibration(strategy) {
            match calibration_of(&self.settings.model) {
                Ok(c) => Some(c),
                Err(e @ qarena_variant::VariantError::Io { .. }) => {
                    return Err(EvolveError::Variant(e))
                }
                Err(e) => {
                    return Ok(Assessment::Failed {
                        kind: "build_error",
                        detail: e.to_string(),
                    })
                }
            }
        } else {
            None
        };
        let model_sha = self.model_sha.clone();
        let id = qarena_variant::variant_id_calibrated(
            &model_sha,
            strategy,
            qarena_models::LoadOptions::default().late_blocks,
            calibration.as_ref().map(|c| &c.facts),
        );
        let key = qarena_store::ProbeKey {
            probe: NATIVE_PROBE.to_string(),
            subject_sha256: format!("variant:{id}"),
            reference_sha256: model_sha,
            suite_sha256: suite.sha256().to_string(),
            // A screen that measures regret stores it with the figures:
            // its probes are not those of a screen without (nor of one
            // that measured policy regret alone).
            settings: if native.measures_regret() {
                serde_json::json!({ "symmetry": 0, "policy_regret": true, "top1_regret": true })
            } else {
                serde_json::json!({ "symmetry": 0 })
            },
        };
        self.in_memory(key, &suite.name, native.positions(), || {
            Ok(match native.screen(strategy, calibration.as_deref())? {
                NativeOutcome::Compared(c) => Measured::Compared(c),
                NativeOutcome::BuildError(why) => Measured::Failed {
                    kind: "build_error",
                    detail: why,
                },
            })
        })
    }

    /// Screens a language model's genome in memory on the screening text;
    /// the comparison is stored as a probe of the strategy (without
    /// per-token figures).
    fn assess_llm(
        &self,
        llm: &LlmScreen,
        strategy: &qarena_quant::Strategy,
    ) -> Result<Assessment, EvolveError> {
        let (text, text_sha) = llm.text();
        let key = qarena_store::ProbeKey {
            probe: LLM_PROBE.to_string(),
            subject_sha256: format!("strategy:{}", sha256_hex(&strategy.canonical_json())),
            reference_sha256: self.model_sha.clone(),
            suite_sha256: text_sha.to_string(),
            settings: llm.key_settings(),
        };
        let name = text.display().to_string();
        self.in_memory(key, &name, llm.scored_tokens(), || {
            Ok(match llm.screen(strategy, self.stop)? {
                LlmOutcome::Compared(c) => Measured::Compared(c),
                LlmOutcome::BuildError(why) => Measured::Failed {
                    kind: "build_error",
                    detail: why,
                },
                LlmOutcome::NonFinite(why) => Measured::Failed {
                    kind: "non_finite",
                    detail: why,
                },
                LlmOutcome::Interrupted => Measured::Interrupted,
            })
        })
    }

    /// The stored figures under `key`, or `measure`'s, stored under it
    /// (`units`: the positions or tokens they cover), and the verdict.
    fn in_memory(
        &self,
        key: qarena_store::ProbeKey,
        suite_name: &str,
        units: usize,
        measure: impl FnOnce() -> Result<Measured, EvolveError>,
    ) -> Result<Assessment, EvolveError> {
        if let Some(rec) = self.store.find_probe(&key)? {
            let metrics: Vec<qarena_probe::Metric> = serde_json::from_value(rec.metrics.clone())
                .map_err(|e| EvolveError::Stored {
                    id: rec.id.0,
                    why: format!("probe figures: {e}"),
                })?;
            let c = qarena_probe::Comparison {
                primary: rec.primary_metric.clone(),
                metrics,
                per_position: Vec::new(),
            };
            return self.judge(&c, rec.id);
        }
        let started = std::time::Instant::now();
        let c = match measure()? {
            Measured::Compared(c) => c,
            Measured::Failed { kind, detail } => return Ok(Assessment::Failed { kind, detail }),
            Measured::Interrupted => return Ok(Assessment::Interrupted),
        };
        let id = self.store.insert_probe(&qarena_store::NewProbe {
            key,
            suite_name: suite_name.to_string(),
            variant: None,
            positions: units as i64,
            primary_metric: c.primary.clone(),
            metrics: serde_json::to_value(&c.metrics).unwrap_or(serde_json::Value::Null),
            noise_floor: None,
            seconds: started.elapsed().as_secs_f64(),
            per_position: Vec::new(),
        })?;
        self.judge(&c, id)
    }

    /// Whether a compared variant lives, and its figures.
    fn judge(
        &self,
        c: &qarena_probe::Comparison,
        probe: qarena_store::ProbeId,
    ) -> Result<Assessment, EvolveError> {
        let fail = |kind: &'static str, detail: String| Ok(Assessment::Failed { kind, detail });
        // KataGo: the value head's KL joins the policy's, so a genome
        // cannot buy policy accuracy with a broken value head.
        let value = metric(&c.metrics, "value_kl_mean").unwrap_or(0.0);
        let weighted = |w: f64, name: &str| match w {
            w if w > 0.0 => w * metric(&c.metrics, name).unwrap_or(f64::NAN),
            _ => 0.0,
        };
        let regret = weighted(self.settings.regret_weight, "policy_regret")
            + weighted(self.settings.top1_regret_weight, "top1_regret");
        let Some(quality) = c
            .primary_value()
            .map(|q| q + value + regret)
            .filter(|q| q.is_finite())
        else {
            return fail("non_finite", format!("{} is not a number", c.primary));
        };
        let agreement =
            metric(&c.metrics, "top1_agreement").or(metric(&c.metrics, "sign_agreement"));
        if let Some(a) = agreement.filter(|a| *a < self.settings.collapse_floor) {
            return fail(
                "collapse",
                format!(
                    "agreement with the original {a:.3} < {}",
                    self.settings.collapse_floor
                ),
            );
        }
        Ok(Assessment::Alive(Alive {
            quality,
            probe,
            speed_ratio: metric(&c.metrics, "speed_ratio"),
            memory_ratio: metric(&c.metrics, "memory_ratio"),
        }))
    }
}

/// What an in-memory screen measured.
enum Measured {
    Compared(qarena_probe::Comparison),
    Failed { kind: &'static str, detail: String },
    Interrupted,
}

/// What building and probing a genome's variant said.
enum Assessment {
    Alive(Alive),
    Failed {
        kind: &'static str,
        detail: String,
    },
    /// A stop request came during the probe.
    Interrupted,
}

struct Alive {
    quality: f64,
    probe: qarena_store::ProbeId,
    speed_ratio: Option<f64>,
    memory_ratio: Option<f64>,
}

/// Builds (or finds in `cache_dir`) the variant of `strategy` with the
/// model's default roles (the catalogue [`Layout`] is made from), as every
/// stage of an evolution does.
/// A strategy with error-compensating genes is built from the model's
/// calibration on the shipped calibration suite (computed once per model
/// and process).
pub(crate) fn build_variant(
    model: &std::path::Path,
    strategy: &qarena_quant::Strategy,
    cache_dir: &std::path::Path,
) -> Result<qarena_variant::Variant, qarena_variant::VariantError> {
    let opts = qarena_variant::BuildOptions {
        cache_dir: cache_dir.to_path_buf(),
        late_blocks: qarena_models::LoadOptions::default().late_blocks,
        force: false,
    };
    let calibration = if qarena_variant::needs_calibration(strategy) {
        Some(calibration_of(model)?)
    } else {
        None
    };
    qarena_variant::build_variant_calibrated(
        model,
        strategy,
        &opts,
        calibration.as_deref(),
        &|_, _| {},
    )
}

/// The calibration of a KataGo net on `suites/go9-calib.suite` (none of
/// its positions is in the screening or the held-out suite), once per
/// model file and process.
fn calibration_of(
    model: &std::path::Path,
) -> Result<std::sync::Arc<qarena_variant::Calibration>, qarena_variant::VariantError> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, Arc<qarena_variant::Calibration>>>> =
        OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut held = cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(c) = held.get(model) {
        return Ok(Arc::clone(c));
    }
    let m = qarena_models::Model::load(model)?;
    let fail = |e: qarena_probe::ProbeError| {
        qarena_variant::VariantError::Model(qarena_models::ModelError::NotEvaluable {
            path: model.to_path_buf(),
            reason: format!("calibrating for error-compensating genes: {e}"),
        })
    };
    let suite = qarena_probe::calibration_suite("go").map_err(fail)?;
    let c = Arc::new(
        qarena_probe::native::calibrate(
            &m,
            &suite,
            &qarena_probe::native::CalibrationSettings::default(),
            &mut |_, _| {},
        )
        .map_err(fail)?,
    );
    held.insert(model.to_path_buf(), Arc::clone(&c));
    Ok(c)
}

/// The model's catalogue layout and the model file's sha256.
fn layout_of(settings: &EvolveSettings) -> Result<(Layout, String), EvolveError> {
    let model_err = |e| EvolveError::Model {
        path: settings.model.clone(),
        source: e,
    };
    let model = qarena_models::Model::load(&settings.model).map_err(model_err)?;
    let layout = Layout::new(model.catalogue())?;
    drop(model);
    let sha = qarena_models::sha256_file(&settings.model).map_err(model_err)?;
    Ok((layout, sha))
}

/// A generation's random stream: seeded by the evolution's seed and the
/// generation only, so a resume and every shard make the same genomes.
fn generation_rng(seed: u64, generation: usize) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ generation as u64)
}

/// A child with its operator and parents.
type Child = (Genome, Operator, Option<GenomeId>, Option<GenomeId>);

/// The genomes of one generation, in birth order: `population` tries of
/// [`offspring`] from the parents (tries that made no genome are left
/// out). Screening never draws from the stream, so the brood is the same
/// whether it is screened in one process or spread over shards.
fn brood(
    parents: &[(GenomeId, f64, Genome)],
    layout: &Layout,
    settings: &EvolveSettings,
    generation: usize,
) -> Result<Vec<Child>, EvolveError> {
    let mut rng = generation_rng(settings.seed, generation);
    let mut out = Vec::with_capacity(settings.population);
    if generation == 0 {
        for g in entrant_genomes(settings, layout)? {
            out.push((g, Operator::Entrant, None, None));
        }
    }
    for _ in 0..settings.population.saturating_sub(out.len()) {
        if let Some(child) = offspring(parents, layout, settings, generation, &mut rng)? {
            out.push(child);
        }
    }
    Ok(out)
}

/// The entrants as genomes of the layout, each checked against the budget.
fn entrant_genomes(settings: &EvolveSettings, layout: &Layout) -> Result<Vec<Genome>, EvolveError> {
    settings
        .entrants
        .iter()
        .map(|s| {
            let bad = |why: String| EvolveError::Entrant {
                name: s.name().to_string(),
                why,
            };
            let g = Genome::of_strategy(s, layout).map_err(|e| bad(e.to_string()))?;
            if !g.within(layout, settings.budget)? {
                return Err(bad(format!(
                    "it costs {:.4} bits/weight ({} bytes), over the budget of {}",
                    g.bits_per_weight(layout)?,
                    g.bytes(layout)?,
                    settings.budget
                )));
            }
            Ok(g)
        })
        .collect()
}

/// The entrants as the evolution's settings list them (name and sha256 of
/// each strategy), `None` without entrants.
fn entrant_settings(settings: &EvolveSettings) -> Option<serde_json::Value> {
    (!settings.entrants.is_empty()).then(|| {
        settings
            .entrants
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name(),
                    "sha256": sha256_hex(&s.canonical_json()),
                })
            })
            .collect()
    })
}

/// Runs (or resumes) an evolution of a KataGo net or an NNUE net, screened
/// by `probe` (or natively) on `suite`; see the module docs.
pub fn evolve(
    store: &Store,
    settings: &EvolveSettings,
    probe: &AnyProbe,
    suite: &Suite,
    stop: &AtomicBool,
    progress: Progress<'_>,
) -> Result<EvolveSummary, EvolveError> {
    let (layout, model_sha) = layout_of(settings)?;
    run_loop(
        store,
        settings,
        Target::Probe { probe, suite },
        (layout, model_sha),
        stop,
        progress,
    )
}

/// Runs (or resumes) an evolution of a language model, each genome
/// screened by `screen` (made from the same model) on its text; the
/// settings' screen must be [`ScreenKind::Llm`].
pub fn evolve_llm(
    store: &Store,
    settings: &EvolveSettings,
    screen: &LlmScreen,
    stop: &AtomicBool,
    progress: Progress<'_>,
) -> Result<EvolveSummary, EvolveError> {
    if settings.screen != ScreenKind::Llm {
        return Err(EvolveError::Screen(format!(
            "a language model is screened by the llm screen, not the {} screen",
            settings.screen.as_str()
        )));
    }
    let layout = Layout::new(&qarena_llm::catalogue(&screen.model().weights))?;
    let sha = screen.model().sha256.clone();
    run_loop(
        store,
        settings,
        Target::Llm(screen),
        (layout, sha),
        stop,
        progress,
    )
}

fn run_loop(
    store: &Store,
    settings: &EvolveSettings,
    target: Target<'_>,
    (layout, model_sha): (Layout, String),
    stop: &AtomicBool,
    progress: Progress<'_>,
) -> Result<EvolveSummary, EvolveError> {
    // Entrants that do not fit are refused before anything is stored.
    entrant_genomes(settings, &layout)?;
    let ev = store.upsert_evolution(&NewEvolution {
        name: settings.name.clone(),
        model_sha256: model_sha.clone(),
        budget: match settings.budget {
            Budget::BitsPerWeight(b) => serde_json::json!({ "bits_per_weight": b }),
            Budget::Bytes(b) => serde_json::json!({ "bytes": b }),
        },
        seed: settings.seed as i64,
        settings: serde_json::json!({
            "population": settings.population,
            "survivors": settings.survivors,
            "generations": settings.generations,
            "patience": settings.patience,
            "collapse_floor": settings.collapse_floor,
            "suite": target.names().1,
            "probe": target.names().0,
            "score_weights": SCORE_WEIGHTS,
        })
        .as_object()
        .cloned()
        .map(|mut o| {
            // Only calibrated evolutions say so: the settings of the
            // others stay what they were.
            if settings.screen != ScreenKind::Engine {
                o.insert("screen".into(), serde_json::json!(settings.screen.as_str()));
            }
            if settings.regret_weight > 0.0 {
                o.insert(
                    "regret_weight".into(),
                    serde_json::json!(settings.regret_weight),
                );
            }
            if settings.top1_regret_weight > 0.0 {
                o.insert(
                    "top1_regret_weight".into(),
                    serde_json::json!(settings.top1_regret_weight),
                );
            }
            if let Some(e) = entrant_settings(settings) {
                o.insert("entrants".into(), e);
            }
            if settings.space.roundings.len() > 1 {
                o.insert(
                    "roundings".into(),
                    serde_json::json!(settings
                        .space
                        .roundings
                        .iter()
                        .map(|r| r.to_string())
                        .collect::<Vec<_>>()),
                );
            }
            serde_json::Value::Object(o)
        })
        .unwrap_or_default(),
    })?;
    // A resume with other entrants would make another generation 0.
    let entrants_of = |v: &serde_json::Value| v.get("entrants").cloned();
    let asked = entrant_settings(settings);
    if entrants_of(&ev.settings) != asked {
        return Err(EvolveError::Resume(format!(
            "evolution '{}' (seed {}) was started with entrants {}, not {}; resume it \
             with the same --entrant files, or give it another name",
            settings.name,
            settings.seed,
            entrants_of(&ev.settings).map_or("none".into(), |v| v.to_string()),
            asked.map_or("none".into(), |v| v.to_string())
        )));
    }
    store.set_evolution_status(ev.id, RunStatus::Running)?;
    let started = std::time::Instant::now();
    let Some(screen) = Screen::start(store, settings, &layout, target, &model_sha, stop)? else {
        return finish(store, ev.id, 0, Ending::Stopped);
    };
    let mut best_quality = f64::INFINITY;
    let mut stale = 0;
    let mut generation = 0;
    let mut ending = Ending::Generations;
    let mut seen = 0usize;
    'generations: while generation < settings.generations {
        let parents = survivors(store, ev.id, &layout, settings.survivors, generation)?;
        let (mut born, mut died) = (0, 0);
        for (genome, op, pa, pb) in brood(&parents, &layout, settings, generation)? {
            if stop.load(Ordering::SeqCst) {
                ending = Ending::Stopped;
                break 'generations;
            }
            if settings.limits.max_genomes.is_some_and(|m| seen >= m) {
                ending = Ending::GenomeLimit;
                break 'generations;
            }
            if settings
                .limits
                .max_seconds
                .is_some_and(|m| started.elapsed().as_secs_f64() >= m)
            {
                ending = Ending::TimeLimit;
                break 'generations;
            }
            let rec = screen.screen(ev.id, generation, &genome, op, (pa, pb))?;
            seen += 1;
            born += 1;
            if rec.failure.is_some() {
                died += 1;
            }
            let outcome = match (&rec.quality, &rec.failure) {
                (Some(q), _) => {
                    format!("quality {q:.4}  score {:.3}", rec.score.unwrap_or(f64::NAN))
                }
                (None, Some(f)) => format!("died: {f}"),
                (None, None) => "not screened".to_string(),
            };
            progress(&format!(
                "gen {generation:>3} {:<18} {:.3} bits/w  {outcome}",
                op.as_str(),
                rec.genome.bits_per_weight
            ));
        }
        if born == 0 {
            ending = Ending::NothingFits;
            break;
        }
        if died == born {
            ending = Ending::AllDied { generation };
            generation += 1;
            break;
        }
        // The best so far: a resume (or a sharded gather) walks the stored
        // generations again and must see what the first pass saw then.
        let q = best_alive(store, ev.id)?
            .iter()
            .filter(|g| g.genome.generation <= generation as i64)
            .map(rank)
            .fold(f64::INFINITY, f64::min);
        if q < best_quality {
            best_quality = q;
            stale = 0;
        } else {
            stale += 1;
        }
        generation += 1;
        if stale >= settings.patience {
            ending = Ending::NoImprovement;
            break;
        }
        if let Some(t) = settings
            .limits
            .through_generation
            .filter(|t| generation > *t && generation < settings.generations)
        {
            ending = Ending::Paused { generation: t };
            break;
        }
    }
    finish(store, ev.id, generation, ending)
}

/// What one shard's screen of one generation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardScreenSummary {
    pub generation: usize,
    /// Distinct genomes of the generation, every shard's.
    pub genomes: usize,
    /// This shard's share.
    pub owned: usize,
    /// Owned genomes the gathered evolution already screened (a genome
    /// born again), left alone.
    pub known: usize,
    /// Owned genomes built and probed (or found probed in this shard's
    /// database, on a resume).
    pub screened: usize,
    /// Of those, the ones that died (their probes are kept, so the gather
    /// finds the same failure).
    pub died: usize,
    pub stopped: bool,
}

/// Screens shard `shard` of generation `generation` of an evolution into
/// `store` (`evolve run --shard K/N --generation G`): the generation's
/// genomes are made exactly as the unsharded loop makes them, from the
/// survivors of the earlier generations in `gathered` (the database the
/// shards of every earlier generation were merged and gathered into; not
/// needed for generation 0), and genome `i` of the generation is this
/// shard's when [`Shard::owns`]`(generation, i)`. Owned genomes are built
/// and probed; only their probes are stored, so `qarena merge` takes the
/// shard database like any other. The gather step (`evolve run
/// --through-generation G` on the merged database) then walks the loop
/// with every probe already stored.
#[allow(clippy::too_many_arguments)]
pub fn screen_shard(
    store: &Store,
    gathered: Option<&Store>,
    settings: &EvolveSettings,
    probe: &AnyProbe,
    suite: &Suite,
    shard: Shard,
    generation: usize,
    stop: &AtomicBool,
    progress: Progress<'_>,
) -> Result<ShardScreenSummary, EvolveError> {
    if generation >= settings.generations {
        return Err(EvolveError::Shard(format!(
            "generation {generation} is past the evolution's {} generations",
            settings.generations
        )));
    }
    let (layout, model_sha) = layout_of(settings)?;
    let (parents, known) = match gathered {
        Some(g) => gathered_parents(g, settings, &layout, &model_sha, generation)?,
        None if generation == 0 => (Vec::new(), HashSet::new()),
        None => {
            return Err(EvolveError::Shard(format!(
                "generation {generation} breeds from the earlier generations: name the database they were gathered into"
            )))
        }
    };
    let children = brood(&parents, &layout, settings, generation)?;
    let named = children
        .iter()
        .map(|(genome, ..)| {
            let strategy = genome.to_strategy(&genome_name(settings, generation))?;
            let sha = sha256_hex(&strategy.canonical_json());
            Ok((strategy, sha))
        })
        .collect::<Result<Vec<_>, EvolveError>>()?;
    let distinct: HashSet<&String> = named.iter().map(|n| &n.1).collect();
    let mut summary = ShardScreenSummary {
        generation,
        genomes: distinct.len(),
        owned: 0,
        known: 0,
        screened: 0,
        died: 0,
        stopped: false,
    };
    let Some(screen) = Screen::start(
        store,
        settings,
        &layout,
        Target::Probe { probe, suite },
        &model_sha,
        stop,
    )?
    else {
        summary.stopped = true;
        return Ok(summary);
    };
    let mut born = HashSet::new();
    for (i, ((genome, op, _, _), (strategy, sha))) in children.iter().zip(&named).enumerate() {
        // A genome born twice is screened once, by the owner of its first
        // birth (the unsharded loop stores it once).
        if !born.insert(sha) || !shard.owns(generation as i64, i as i64) {
            continue;
        }
        summary.owned += 1;
        if known.contains(sha) {
            summary.known += 1;
            continue;
        }
        if stop.load(Ordering::SeqCst) {
            summary.stopped = true;
            break;
        }
        let outcome = match screen.assess(strategy)? {
            Assessment::Interrupted => {
                summary.stopped = true;
                break;
            }
            Assessment::Failed { kind, .. } => {
                summary.died += 1;
                format!("died: {kind}")
            }
            Assessment::Alive(a) => format!("quality {:.4}", a.quality),
        };
        summary.screened += 1;
        progress(&format!(
            "gen {generation:>3} #{i:<3} {:<18} {:.3} bits/w  {outcome}",
            op.as_str(),
            genome.bits_per_weight(&layout)?
        ));
    }
    Ok(summary)
}

/// The survivors generation `generation` breeds from, and every genome
/// screened so far by strategy hash, from the gathered database; refused
/// when it holds another evolution or has not gathered every earlier
/// generation.
#[allow(clippy::type_complexity)]
fn gathered_parents(
    gathered: &Store,
    settings: &EvolveSettings,
    layout: &Layout,
    model_sha: &str,
    generation: usize,
) -> Result<(Vec<(GenomeId, f64, Genome)>, HashSet<String>), EvolveError> {
    let Some(ev) = gathered
        .evolutions()?
        .into_iter()
        .find(|e| e.name == settings.name && e.seed == settings.seed as i64)
    else {
        if generation == 0 {
            return Ok((Vec::new(), HashSet::new()));
        }
        return Err(EvolveError::Shard(format!(
            "the gathered database holds no evolution '{}' with seed {}: merge the shards of generation 0 into it and run the gather step (`evolve run ... --through-generation 0`) first",
            settings.name, settings.seed
        )));
    };
    if ev.model_sha256 != model_sha {
        return Err(EvolveError::Shard(format!(
            "evolution '{}' with seed {} in the gathered database evolved another model (sha256 {})",
            settings.name, settings.seed, ev.model_sha256
        )));
    }
    let genomes = gathered.genomes(ev.id)?;
    let last = genomes.iter().map(|g| g.genome.generation).max();
    if generation > 0 && last.is_none_or(|l| l + 1 < generation as i64) {
        return Err(EvolveError::Shard(format!(
            "the gathered database holds generations up to {} of evolution '{}'; merge the shards of generation {} and gather it (`--through-generation {}`) first",
            last.map_or_else(|| "none".to_string(), |l| l.to_string()),
            settings.name,
            generation - 1,
            generation - 1
        )));
    }
    if let Some(g) = genomes.iter().find(|g| {
        g.genome.generation < generation as i64 && g.quality.is_none() && g.failure.is_none()
    }) {
        return Err(EvolveError::Shard(format!(
            "genome {} of generation {} is not screened in the gathered database: merge every shard of that generation and run the gather step again",
            g.id.0, g.genome.generation
        )));
    }
    if ev.status == RunStatus::Completed && last.is_some_and(|l| l < generation as i64) {
        return Err(EvolveError::Shard(format!(
            "evolution '{}' has ended (completed at generation {}); there is no generation {generation} to screen",
            settings.name,
            last.unwrap_or(0)
        )));
    }
    let known = genomes
        .iter()
        .filter(|g| g.quality.is_some() || g.failure.is_some())
        .map(|g| g.genome.strategy_sha256.clone())
        .collect();
    let parents = survivors(gathered, ev.id, layout, settings.survivors, generation)?;
    Ok((parents, known))
}

/// The name a genome's strategy carries.
fn genome_name(settings: &EvolveSettings, generation: usize) -> String {
    format!("{}-s{}-g{generation}", settings.name, settings.seed)
}

/// Marks the evolution completed or interrupted and sums it up.
fn finish(
    store: &Store,
    ev: EvolutionId,
    generations: usize,
    ending: Ending,
) -> Result<EvolveSummary, EvolveError> {
    let stopped = ending == Ending::Stopped;
    store.set_evolution_status(
        ev,
        if stopped || matches!(ending, Ending::Paused { .. }) {
            RunStatus::Interrupted
        } else {
            RunStatus::Completed
        },
    )?;
    let all = store.genomes(ev)?;
    Ok(EvolveSummary {
        evolution: ev,
        generations,
        screened: all.len(),
        failed: all.iter().filter(|g| g.failure.is_some()).count(),
        best: best_alive(store, ev)?,
        stopped,
        ending,
    })
}

/// What a genome is ranked by: its survival score under the current
/// formula, from its stored quality, bits and cost ratios (infinite for a
/// genome that died or was not screened).
pub fn rank(g: &GenomeRecord) -> f64 {
    match (g.quality, &g.failure) {
        (Some(q), None) => {
            survival_score(q, g.genome.bits_per_weight, g.speed_ratio, g.memory_ratio)
        }
        _ => f64::INFINITY,
    }
}

/// Alive genomes of an evolution, best (lowest survival score) first.
pub fn best_alive(store: &Store, ev: EvolutionId) -> Result<Vec<GenomeRecord>, EvolveError> {
    let mut alive: Vec<GenomeRecord> = store
        .genomes(ev)?
        .into_iter()
        .filter(|g| g.failure.is_none() && g.quality.is_some())
        .collect();
    alive.sort_by(|a, b| rank(a).total_cmp(&rank(b)));
    Ok(alive)
}

/// The best `k` alive genomes of the generations before `generation`, as
/// genomes (only earlier generations, so a resumed generation sees the
/// parents it saw the first time). Genomes that are one variant (another
/// genome with the same probe: settings without effect, such as the
/// clipping of a kept group) count once, the first born: otherwise clones
/// of one good genome crowd out every other parent.
fn survivors(
    store: &Store,
    ev: EvolutionId,
    layout: &Layout,
    k: usize,
    generation: usize,
) -> Result<Vec<(GenomeId, f64, Genome)>, EvolveError> {
    let mut out = Vec::new();
    let mut variants = HashSet::new();
    let mut alive = best_alive(store, ev)?;
    // Best first, and among equals the first born.
    alive.sort_by(|a, b| rank(a).total_cmp(&rank(b)).then(a.id.0.cmp(&b.id.0)));
    for rec in alive
        .into_iter()
        .filter(|g| g.genome.generation < generation as i64)
        .filter(|g| g.probe.is_none_or(|p| variants.insert(p)))
        .take(k)
    {
        let s = qarena_quant::Strategy::parse(&rec.genome.strategy_toml, "stored genome").map_err(
            |e| EvolveError::Stored {
                id: rec.id.0,
                why: e.to_string(),
            },
        )?;
        let g = Genome::from_strategy(&s, layout).map_err(|e| EvolveError::Stored {
            id: rec.id.0,
            why: e.to_string(),
        })?;
        out.push((rec.id, rank(&rec), g));
    }
    Ok(out)
}

/// A child: in generation 0 or without parents a fresh genome (random cuts
/// and genes, or one gene for every group, even odds), else an operator
/// drawn uniformly (a fresh random genome now and then) applied to a
/// tournament winner.
#[allow(clippy::type_complexity)]
fn offspring(
    parents: &[(GenomeId, f64, Genome)],
    layout: &Layout,
    s: &EvolveSettings,
    generation: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Option<(Genome, Operator, Option<GenomeId>, Option<GenomeId>)>, EvolveError> {
    if generation == 0 || parents.is_empty() {
        // Half with random cuts and genes, half with one gene throughout.
        let (sampled, op) = if rng.gen_bool(0.5) {
            (
                Genome::sample_uniform_within(layout, &s.space, s.budget, 50, rng),
                Operator::Uniform,
            )
        } else {
            (
                Genome::sample_within(layout, &s.space, s.budget, 50, rng),
                Operator::Random,
            )
        };
        return Ok(sampled.ok().map(|g| (g, op, None, None)));
    }
    let tournament = |rng: &mut ChaCha8Rng| {
        let a = parents.choose(rng);
        let b = parents.choose(rng);
        match (a, b) {
            (Some(a), Some(b)) => Some(if a.1 <= b.1 { a } else { b }),
            _ => None,
        }
    };
    for _ in 0..10 {
        let mut ops: Vec<Operator> = Operator::MUTATIONS.to_vec();
        ops.push(Operator::Crossover);
        let op = if rng.gen_bool(0.05) {
            Operator::Random
        } else {
            *ops.choose(rng).unwrap_or(&Operator::BitShift)
        };
        let (Some(pa), Some(pb)) = (tournament(rng), tournament(rng)) else {
            return Ok(None);
        };
        let other = (op == Operator::Crossover).then_some(&pb.2);
        if let Some(child) =
            pa.2.mutate(op, other, layout, &s.space, s.budget, rng)?
                .filter(|c| *c != pa.2)
        {
            let pb_id = (op == Operator::Crossover).then_some(pb.0);
            let pa_id = (op != Operator::Random).then_some(pa.0);
            return Ok(Some((child, op, pa_id, pb_id)));
        }
    }
    Ok(None)
}

/// The strategy TOML of the best alive genome within `max_bits`, if any.
pub fn export_best(
    store: &Store,
    ev: EvolutionId,
    max_bits: Option<f64>,
) -> Result<Option<GenomeRecord>, EvolveError> {
    Ok(best_alive(store, ev)?
        .into_iter()
        .find(|g| max_bits.is_none_or(|b| g.genome.bits_per_weight <= b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_survival_score_trades_quality_against_costs_as_documented() {
        let base = survival_score(0.1, 4.0, Some(1.0), Some(1.0));
        assert!((base - (0.1f64.ln() + 0.4)).abs() < 1e-12);
        // 10% more KL is even with 0.953 bits per weight less.
        let cheaper = survival_score(0.11, 4.0 - 1.1f64.ln() / 0.1, None, None);
        assert!((cheaper - base).abs() < 1e-12);
        // Slower and bigger is worse; unknown or nonsense ratios count as 1.
        assert!(survival_score(0.1, 4.0, Some(0.5), None) > base);
        assert!(survival_score(0.1, 4.0, None, Some(2.0)) > base);
        assert_eq!(survival_score(0.1, 4.0, Some(f64::NAN), Some(-1.0)), base);
        // A perfect copy has a finite score.
        assert!(survival_score(0.0, 8.0, None, None).is_finite());
    }
}
