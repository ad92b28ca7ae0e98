//! Checks outside the loop: the best genome on positions the evolution
//! never saw, and hand recipes on the same two position sets.
//!
//! An evolution selects on its screening suite, so its best genome's
//! screening figure is biased in its favour. The check probes that genome
//! on the unseen suite (by default the odd positions of the shipped suite,
//! whose even positions were the screen) and every hand recipe on both, so
//! the comparison that counts is made on equal terms: unseen positions,
//! the same probe, bytes from each variant's manifest.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use qarena_probe::regret::RegretKind;
use qarena_probe::stored::probe_stored;
use qarena_probe::{AnyProbe, Probe, Suite};
use qarena_quant::Strategy;
use qarena_store::{EvolutionCheck, EvolutionRecord, Store};

use crate::evolve::{build_variant, export_best, EvolveError};
use crate::games::Recipe;

/// The suites of a check.
#[derive(Debug, Clone, Copy)]
pub struct CheckSuites<'a> {
    /// The positions the evolution was screened on.
    pub screen: &'a Suite,
    /// Positions it never saw.
    pub unseen: &'a Suite,
}

/// A strategy to check: its name, and the suites (by their role) to probe
/// it on.
type Subject<'s> = (String, Strategy, Vec<(&'static str, &'s Suite)>);

/// Probes the evolution's best genome within `max_bits` (default: its
/// budget; a tighter bound compares at no more bytes than a recipe) on the
/// unseen suite, and each recipe on both suites; stores and
/// returns the checks (a repeated check reads its probes back).
#[allow(clippy::too_many_arguments)]
pub fn check(
    store: &Store,
    evolution: &EvolutionRecord,
    model: &Path,
    probe: &AnyProbe,
    suites: CheckSuites<'_>,
    recipes: &[Recipe],
    max_bits: Option<f64>,
    cache_dir: &Path,
    stop: &AtomicBool,
) -> Result<Vec<EvolutionCheck>, EvolveError> {
    let screened_on = evolution
        .settings
        .get("suite")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    if screened_on != suites.screen.sha256() {
        return Err(EvolveError::Check(format!(
            "evolution '{}' (seed {}) was screened on another suite (sha256 {screened_on}) than {} ({})",
            evolution.name,
            evolution.seed,
            suites.screen.name,
            suites.screen.sha256()
        )));
    }
    if suites.unseen.sha256() == suites.screen.sha256() {
        return Err(EvolveError::Check(
            "the unseen suite is the screening suite".to_string(),
        ));
    }
    let budget = evolution
        .budget
        .get("bits_per_weight")
        .and_then(|v| v.as_f64());
    let max_bits = match (max_bits, budget) {
        (Some(m), Some(b)) => Some(m.min(b)),
        (m, b) => m.or(b),
    };
    let mut subjects: Vec<Subject<'_>> = Vec::new();
    if let Some(best) = export_best(store, evolution.id, max_bits)? {
        let strategy =
            Strategy::parse(&best.genome.strategy_toml, "stored genome").map_err(|e| {
                EvolveError::Stored {
                    id: best.id.0,
                    why: e.to_string(),
                }
            })?;
        subjects.push((
            format!("genome:{}", best.id.0),
            strategy,
            vec![("unseen", suites.unseen)],
        ));
    }
    for r in recipes {
        subjects.push((
            format!("recipe:{}", r.name),
            r.strategy.clone(),
            vec![("screen", suites.screen), ("unseen", suites.unseen)],
        ));
    }
    let mut references = Vec::new();
    for suite in [suites.screen, suites.unseen] {
        let outputs = probe
            .evaluate(model, suite, stop)
            .map_err(EvolveError::Reference)?;
        references.push((suite.sha256().to_string(), outputs));
    }
    let mut out = Vec::new();
    for (subject, strategy, on) in subjects {
        let variant = build_variant(model, &strategy, cache_dir).map_err(EvolveError::Variant)?;
        for (which, suite) in on {
            let reference = references
                .iter()
                .find(|(sha, _)| sha == suite.sha256())
                .map(|(_, o)| o);
            let probed = probe_stored(
                store,
                probe,
                model,
                reference,
                &variant.path,
                suite,
                None,
                false,
                stop,
            )
            .map_err(|e| EvolveError::Probe(Box::new(e)))?;
            let quality = probed
                .report
                .comparison
                .primary_value()
                .filter(|q| q.is_finite())
                .ok_or_else(|| {
                    EvolveError::Check(format!("{subject}: the probe's figure is not a number"))
                })?;
            let k = EvolutionCheck {
                evolution: evolution.id,
                subject: subject.clone(),
                suite: which.to_string(),
                suite_sha256: suite.sha256().to_string(),
                strategy_toml: strategy.to_toml(),
                bits_per_weight: variant.manifest.total.effective_bits,
                bytes: i64::try_from(variant.manifest.total.bytes_after).unwrap_or(i64::MAX),
                probe: Some(probed.id),
                quality,
            };
            store.put_evolution_check(&k)?;
            out.push(k);
        }
    }
    Ok(out)
}

/// How the evolved strategy compares with one recipe on unseen positions.
#[derive(Debug, Clone, PartialEq)]
pub struct Versus {
    pub recipe: String,
    pub recipe_bits: f64,
    pub recipe_quality: f64,
    /// `1 − evolved / recipe`: 0.25 means 25% lower (better) figure.
    pub reduction: f64,
    /// The 95% interval of the reduction, paired by position.
    pub reduction_ci: Option<(f64, f64)>,
    /// The recipe spends at least the evolved strategy's bytes.
    pub recipe_not_smaller: bool,
}

/// The evolved genome against every recipe, on unseen positions.
pub fn versus(
    store: &Store,
    checks: &[EvolutionCheck],
) -> Result<Option<(EvolutionCheck, Vec<Versus>)>, EvolveError> {
    let unseen = |k: &&EvolutionCheck| k.suite == "unseen";
    // The newest genome check: the best genome when the check last ran.
    let Some(genome) = checks
        .iter()
        .filter(unseen)
        .rev()
        .find(|k| k.subject.starts_with("genome:"))
        .cloned()
    else {
        return Ok(None);
    };
    let mut rows = Vec::new();
    for r in checks
        .iter()
        .filter(unseen)
        .filter(|k| k.subject.starts_with("recipe:"))
    {
        let ratio = match (genome.probe, r.probe) {
            (Some(g), Some(p)) => store.paired_probe_ratio(g, p)?,
            _ => None,
        };
        rows.push(Versus {
            recipe: r.subject.trim_start_matches("recipe:").to_string(),
            recipe_bits: r.bits_per_weight,
            recipe_quality: r.quality,
            reduction: if r.quality > 0.0 {
                1.0 - genome.quality / r.quality
            } else {
                f64::NEG_INFINITY
            },
            reduction_ci: ratio.map(|x| (1.0 - x.upper(), 1.0 - x.lower())),
            recipe_not_smaller: r.bytes >= genome.bytes,
        });
    }
    Ok(Some((genome, rows)))
}

/// One checked strategy's policy regret on the unseen positions.
#[derive(Debug, Clone, PartialEq)]
pub struct RegretRow {
    /// `genome:<id>` or `recipe:<name>`, as in the checks.
    pub subject: String,
    /// Its mean regret minus the original's, of the policy and of the top
    /// move (what it gives away playing without search), by
    /// [`RegretKind::index`] (see [`qarena_probe::regret`]).
    pub excess: [f64; 2],
    /// Per position, by kind, for paired comparisons.
    pub per_position: [Vec<f64>; 2],
}

/// Policy regret on the unseen suite, by qarena's own forward pass
/// (KataGo nets it evaluates): the original's value of every legal move is
/// computed once, then each checked strategy's variant file is evaluated.
/// Nothing is stored: rerunning the check recomputes the figures.
pub struct UnseenRegret {
    inputs: Vec<qarena_go::NetInputs>,
    values: qarena_probe::regret::MoveValues,
    suite: String,
}

fn regret_err(what: &str, e: String) -> EvolveError {
    EvolveError::Screen(format!("policy regret: {what}: {e}"))
}

fn load_net(path: &Path) -> Result<qarena_models::katago_net::KataNet, EvolveError> {
    let m = qarena_models::Model::load(path).map_err(|source| EvolveError::Model {
        path: path.to_path_buf(),
        source,
    })?;
    qarena_models::katago_net::KataNet::from_model(&m)
        .map_err(|e| regret_err(&path.display().to_string(), e.to_string()))
}

impl UnseenRegret {
    /// Evaluates the original on every legal move of every unseen position.
    pub fn new(model: &Path, unseen: &Suite) -> Result<UnseenRegret, EvolveError> {
        let inputs = qarena_probe::native::suite_inputs(unseen)
            .map_err(|e| regret_err(&unseen.name, e.to_string()))?;
        let original = load_net(model)?;
        let reference =
            qarena_probe::native::evaluate_inputs(&original, &inputs, 0, std::time::Instant::now())
                .map_err(|e| regret_err(&unseen.name, e.to_string()))?;
        let values = qarena_probe::regret::MoveValues::new(&original, unseen, &reference)
            .map_err(|e| regret_err(&unseen.name, e.to_string()))?;
        Ok(UnseenRegret {
            inputs,
            values,
            suite: unseen.name.clone(),
        })
    }

    /// The original net's own mean regret.
    pub fn original(&self, kind: RegretKind) -> f64 {
        self.values.reference(kind)
    }

    /// One row per strategy checked on the unseen suite.
    pub fn rows(
        &self,
        model: &Path,
        checks: &[EvolutionCheck],
        cache_dir: &Path,
    ) -> Result<Vec<RegretRow>, EvolveError> {
        let mut rows: Vec<RegretRow> = Vec::new();
        for k in checks.iter().filter(|k| k.suite == "unseen") {
            if rows.iter().any(|r| r.subject == k.subject) {
                continue;
            }
            let strategy = Strategy::parse(&k.strategy_toml, &k.subject)
                .map_err(|e| regret_err(&k.subject, e.to_string()))?;
            let variant =
                build_variant(model, &strategy, cache_dir).map_err(EvolveError::Variant)?;
            let net = load_net(&variant.path)?;
            let out = qarena_probe::native::evaluate_inputs(
                &net,
                &self.inputs,
                0,
                std::time::Instant::now(),
            )
            .map_err(|e| regret_err(&self.suite, e.to_string()))?;
            let mut row = RegretRow {
                subject: k.subject.clone(),
                excess: [0.0; 2],
                per_position: [Vec::new(), Vec::new()],
            };
            for kind in RegretKind::ALL {
                let per = self.values.per_position(kind, &out).ok_or_else(|| {
                    regret_err(&k.subject, "outputs do not match the suite".into())
                })?;
                let mean = per.iter().sum::<f64>() / per.len().max(1) as f64;
                row.excess[kind.index()] = mean - self.values.reference(kind);
                row.per_position[kind.index()] = per;
            }
            rows.push(row);
        }
        Ok(rows)
    }
}
