//! `qarena llm kv-sweep`: an experiment matrix of cache-to-cache transfers
//! run as one sweep. Each experiment is a run (`NAME-ID`, kind
//! `kv-sweep`) with its folder (`configs/ logs/ results/ manifests/`);
//! its evaluations are stored like every language-model evaluation, so a
//! second invocation reads them back, and a failed experiment is marked
//! failed (and `qarena runs prune` removes it) while the others go on.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::anyhow;
use clap::Args;
use qarena_arena::runfolder::{Environment, RunFolder};
use qarena_arena::RunTag;
use qarena_llm::kv::bytes_for;
use qarena_llm::matrix::{Experiment, Matrix};
use qarena_llm::transfer::Link;
use qarena_llm::{KlSettings, LlmModel};
use qarena_store::{LlmEvalKey, NewLlmEval, NewRun, RunKind, RunStatus, Store};

use crate::cli::DbArgs;
use crate::llm_cmd::{
    file_sha, llm_exit, load, read_items, sha256_hex, variant_spec, weights_subject, wilson,
    Subject,
};
use crate::{CliResult, Exit};

#[derive(Debug, Args)]
pub struct KvSweepArgs {
    /// The experiment matrix (TOML; see examples/kv-matrix.toml).
    pub matrix: PathBuf,
    /// Only these experiment ids (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// One item and a few text tokens per experiment, into runs tagged
    /// NAME-smoke-ID: the whole path end to end in seconds.
    #[arg(long)]
    pub smoke: bool,
    /// The runs folder for the experiments' folders.
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,
    /// Print every experiment's results as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

/// What the data of the sweep is.
struct Data {
    items: Vec<qarena_llm::Item>,
    items_path: Option<PathBuf>,
    items_sha: String,
    /// Tokens of the text, its path and sha256.
    text: Option<(Vec<u32>, PathBuf, String)>,
    limit: Option<usize>,
    kl: KlSettings,
}

/// Weight variants by their spec, built once.
struct Variants<'a> {
    model: &'a LlmModel,
    built: HashMap<String, Subject>,
}

impl Variants<'_> {
    fn get(&mut self, spec: &str) -> Result<&Subject, Exit> {
        if !self.built.contains_key(spec) {
            let strategy = variant_spec(spec)?;
            let s = weights_subject(self.model, spec, strategy.as_ref(), None)?;
            self.built.insert(spec.to_string(), s);
        }
        self.built
            .get(spec)
            .ok_or_else(|| Exit::input(anyhow!("variant {spec} could not be built")))
    }
}

pub fn kv_sweep_cmd(a: KvSweepArgs) -> CliResult {
    if !a.matrix.is_file() {
        return Err(Exit::input(anyhow!(
            "experiment matrix {} does not exist",
            a.matrix.display()
        )));
    }
    let matrix = Matrix::from_file(&a.matrix).map_err(llm_exit)?;
    for id in &a.only {
        if !matrix.experiments.iter().any(|e| &e.id == id) {
            return Err(Exit::input(anyhow!(
                "--only {id}: {} has no experiment {id} (it has {})",
                a.matrix.display(),
                matrix
                    .experiments
                    .iter()
                    .map(|e| e.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let limit = if a.smoke { Some(1) } else { matrix.limit };
    let (items, items_sha) = match &matrix.items {
        Some(p) => (read_items(p, limit)?, file_sha(p)?),
        None => (Vec::new(), String::new()),
    };
    let m = load(&matrix.model)?;
    let text = match &matrix.text {
        Some(p) => {
            let t = qarena_llm::read_text(p).map_err(llm_exit)?;
            let ids = m.tokenizer.encode(&t).map_err(llm_exit)?;
            Some((ids, p.clone(), file_sha(p)?))
        }
        None => None,
    };
    let kl = if a.smoke {
        KlSettings {
            window: 24,
            warmup: 16,
            max_tokens: 8,
        }
    } else {
        KlSettings {
            window: matrix.window,
            warmup: matrix.warmup,
            max_tokens: matrix.kl_tokens,
        }
    };
    let data = Data {
        items,
        items_path: matrix.items.clone(),
        items_sha,
        text,
        limit,
        kl,
    };
    let store = Store::open(&a.db.db)?;
    let mut variants = Variants {
        model: &m,
        built: HashMap::new(),
    };
    let prefix = if a.smoke {
        format!("{}-smoke", matrix.name)
    } else {
        matrix.name.clone()
    };
    let mut results = Vec::new();
    let mut failed = Vec::new();
    for e in &matrix.experiments {
        if !a.only.is_empty() && !a.only.contains(&e.id) {
            continue;
        }
        let tag = RunTag::parse(&format!("{prefix}-{}", e.id)).map_err(Exit::input)?;
        eprintln!("{}: {} (run {tag})", e.id, e.label);
        match experiment(&a, &matrix, e, &tag, &store, &mut variants, &data) {
            Ok(r) => results.push(r),
            Err(err) => {
                eprintln!("{}: failed: {}", e.id, err.error);
                failed.push(e.id.clone());
            }
        }
        if qarena_engine::install_shutdown_flag().load(std::sync::atomic::Ordering::SeqCst) {
            eprintln!("stopped; run the same command again to go on");
            break;
        }
    }
    print_results(&a, &matrix, &results);
    if !failed.is_empty() {
        return Err(Exit::input(anyhow!(
            "experiments {} failed (their runs are marked failed; their logs say why; \
             `qarena runs prune` removes them)",
            failed.join(", ")
        )));
    }
    Ok(())
}

/// Runs one experiment in its run and folder; marks the run failed when
/// it fails.
fn experiment(
    a: &KvSweepArgs,
    matrix: &Matrix,
    e: &Experiment,
    tag: &RunTag,
    store: &Store,
    variants: &mut Variants<'_>,
    data: &Data,
) -> Result<serde_json::Value, Exit> {
    let existing = store.run_by_tag(tag.as_str())?;
    if let Some(r) = existing.as_ref().filter(|r| r.kind != RunKind::KvSweep) {
        return Err(Exit::input(anyhow!(
            "run {tag} exists and is a {} run, not an experiment of a kv-sweep: rename the matrix (its name starts every run tag)",
            r.kind.as_str()
        )));
    }
    let folder = RunFolder::create(&a.runs_dir, tag).map_err(Exit::input)?;
    let _owner = folder.claim(tag.as_str()).map_err(Exit::input)?;
    let settings = serde_json::json!({
        "matrix": a.matrix.display().to_string(),
        "experiment": e.id, "label": e.label,
        "sharer": e.sharer, "receiver": e.receiver,
        "kv": e.kv.as_ref().map(|k| k.canonical_json().to_string()),
        "prune": e.prune.map(|p| p.to_string()),
        "smoke": a.smoke,
    });
    let run = match existing {
        Some(r) => {
            store.set_run_status(r.id, RunStatus::Running)?;
            r.id
        }
        None => store.create_run(&NewRun {
            tag: tag.as_str().to_string(),
            kind: RunKind::KvSweep,
            argv: std::env::args().collect(),
            settings: settings.clone(),
            software_version: env!("CARGO_PKG_VERSION").to_string(),
        })?,
    };
    let log_path = folder.logs().join("kv-sweep.log");
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(Exit::input)?;
    let mut say = |line: String| {
        let _ = writeln!(log, "{} {line}", qarena_store::now_rfc3339());
    };
    say(format!("experiment {} ({}) started", e.id, e.label));
    let outcome = run_experiment(
        matrix,
        e,
        folder_paths(&folder),
        store,
        variants,
        data,
        &mut say,
    );
    match outcome {
        Ok(result) => {
            folder
                .write_json(&folder.results().join("results.json"), &result)
                .map_err(Exit::input)?;
            say("finished".into());
            store.set_run_status(run, RunStatus::Completed)?;
            Ok(result)
        }
        Err(err) => {
            say(format!("failed: {}", err.error));
            store.record_event(&qarena_store::NewEvent {
                run,
                game_index: None,
                engine: None,
                kind: qarena_store::EventKind::Error,
                message: format!("experiment {}: {}", e.id, err.error),
                stderr_tail: None,
            })?;
            let stopped =
                qarena_engine::install_shutdown_flag().load(std::sync::atomic::Ordering::SeqCst);
            store.set_run_status(
                run,
                if stopped {
                    RunStatus::Interrupted
                } else {
                    RunStatus::Failed
                },
            )?;
            Err(err)
        }
    }
}

struct Paths {
    configs: PathBuf,
    manifests: PathBuf,
}

fn folder_paths(f: &RunFolder) -> Paths {
    Paths {
        configs: f.configs(),
        manifests: f.manifests(),
    }
}

fn write(path: &Path, text: &str) -> Result<(), Exit> {
    fs_err::write(path, text).map_err(Exit::input)
}

fn run_experiment(
    matrix: &Matrix,
    e: &Experiment,
    paths: Paths,
    store: &Store,
    variants: &mut Variants<'_>,
    data: &Data,
    say: &mut dyn FnMut(String),
) -> Result<serde_json::Value, Exit> {
    if let Some(t) = &e.kv_toml {
        write(&paths.configs.join("kv.toml"), t)?;
    }
    write(
        &paths.configs.join("experiment.json"),
        &serde_json::to_string_pretty(&serde_json::json!({
            "id": e.id, "label": e.label, "model": matrix.model,
            "sharer": e.sharer, "receiver": e.receiver,
            "prune": e.prune.map(|p| p.to_string()),
            "items": data.items_path, "limit": data.limit,
            "text": data.text.as_ref().map(|t| &t.1), "kl": data.kl,
        }))
        .unwrap_or_default(),
    )?;
    let model = variants.model;
    let (sharer_sha, sharer_strategy, sharer_calibration) = {
        let s = variants.get(&e.sharer)?;
        (s.sha256.clone(), s.strategy.clone(), s.calibration.clone())
    };
    let (receiver_sha, receiver_strategy, receiver_calibration, receiver_bpw) = {
        let r = variants.get(&e.receiver)?;
        (
            r.sha256.clone(),
            r.strategy.clone(),
            r.calibration.clone(),
            r.bits_per_weight,
        )
    };
    let transfer = serde_json::json!({
        "sharer": sharer_sha, "receiver": receiver_sha,
        "kv": e.kv.as_ref().map(|k| k.canonical_json().to_string()),
        "prune": e.prune.map(|p| p.to_string()),
    });
    let subject_sha = sha256_hex(&transfer.to_string());
    let env = Environment::capture();
    write(
        &paths.manifests.join("manifest.json"),
        &serde_json::to_string_pretty(&serde_json::json!({
            "environment": env,
            "model": {"source": matrix.model, "path": model.path, "sha256": model.sha256},
            "sharer": {"spec": e.sharer, "sha256": sharer_sha, "strategy": sharer_strategy, "calibration": sharer_calibration},
            "receiver": {"spec": e.receiver, "sha256": receiver_sha, "strategy": receiver_strategy, "calibration": receiver_calibration},
            "items_sha256": data.items_sha,
            "text_sha256": data.text.as_ref().map(|t| &t.2),
        }))
        .unwrap_or_default(),
    )?;
    // Both variants are built; take plain references from here on.
    let sharer = &variants
        .built
        .get(&e.sharer)
        .ok_or_else(|| Exit::input(anyhow!("sharer missing")))?
        .llama;
    let receiver = &variants
        .built
        .get(&e.receiver)
        .ok_or_else(|| Exit::input(anyhow!("receiver missing")))?
        .llama;
    let link = Link {
        sharer,
        kv: e.kv.as_ref(),
        prune: e.prune,
        projector: None,
    };
    let c = &model.config;
    let full_bytes = |tokens: usize| {
        (qarena_llm::wire::HEADER_BYTES as u64
            + bytes_for(c.layers, c.kv_heads, c.head_dim(), tokens, tokens, None).total())
            as f64
    };
    let label = format!("{} {}: {}", matrix.name, e.id, e.label);
    let stop = qarena_engine::install_shutdown_flag();
    let mut result = serde_json::json!({
        "id": e.id, "label": e.label, "receiver_bits_per_weight": receiver_bpw,
    });
    if let Some(items_path) = &data.items_path {
        let key = LlmEvalKey {
            kind: "mc".into(),
            subject_sha256: subject_sha.clone(),
            reference_sha256: String::new(),
            data_sha256: data.items_sha.clone(),
            settings: serde_json::json!({
                "limit": data.limit, "format": "Question: {q}\\nAnswer: {option}",
                "transfer": transfer,
            }),
        };
        let rows: Vec<serde_json::Value> = match store.find_llm_eval(&key)? {
            Some(rec) => {
                say(format!("items read back (evaluation {})", rec.id.0));
                store
                    .llm_eval_items(rec.id)?
                    .into_iter()
                    .map(|(_, v)| v)
                    .collect()
            }
            None => {
                let started = Instant::now();
                let mut scores = Vec::with_capacity(data.items.len());
                let mut rows = Vec::with_capacity(data.items.len());
                for (i, item) in data.items.iter().enumerate() {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        return Err(crate::llm_cmd::stopped(i));
                    }
                    let (score, sent) =
                        qarena_llm::eval::score_item_via(receiver, &model.tokenizer, item, &link)
                            .map_err(llm_exit)?;
                    let context = model
                        .tokenizer
                        .encode(&qarena_llm::eval::context(item))
                        .map_err(llm_exit)?
                        .len()
                        .saturating_sub(1);
                    let mut row = serde_json::to_value(&score).unwrap_or_default();
                    if let Some(o) = row.as_object_mut() {
                        o.insert("sent_bytes".into(), sent.into());
                        o.insert("full_bytes".into(), full_bytes(context).into());
                        o.insert("context_tokens".into(), context.into());
                    }
                    rows.push(row);
                    scores.push(score);
                    if (i + 1) % 50 == 0 {
                        eprintln!("  {}: {}/{} items", e.id, i + 1, data.items.len());
                    }
                }
                let seconds = started.elapsed().as_secs_f64();
                let acc = qarena_llm::accuracy(&scores);
                let mean = |k: &str| {
                    rows.iter()
                        .filter_map(|r| r.get(k).and_then(|v| v.as_f64()))
                        .sum::<f64>()
                        / rows.len().max(1) as f64
                };
                let summary = serde_json::json!({
                    "items": acc.items, "acc": acc.acc, "acc_norm": acc.acc_norm,
                    "bits_per_weight": receiver_bpw, "seconds": seconds,
                    "context_bytes": mean("sent_bytes"), "context_bytes_f16": mean("full_bytes"),
                    "experiment": e.id, "matrix": matrix.name,
                });
                let id = store.insert_llm_eval(&NewLlmEval {
                    kv_stats: Vec::new(),
                    key,
                    subject: label.clone(),
                    strategy: receiver_strategy.clone(),
                    bits_per_weight: Some(receiver_bpw),
                    data_name: items_path.display().to_string(),
                    summary,
                    seconds,
                    items: data
                        .items
                        .iter()
                        .zip(&rows)
                        .map(|(it, r)| (it.id.clone(), r.clone()))
                        .collect(),
                })?;
                say(format!(
                    "{} items answered in {seconds:.1} s (evaluation {})",
                    rows.len(),
                    id.0
                ));
                rows
            }
        };
        let flag = |r: &serde_json::Value, k: &str| r.get(k).and_then(|v| v.as_bool());
        let correct: Vec<bool> = rows
            .iter()
            .map(|r| flag(r, "correct").unwrap_or(false))
            .collect();
        let n = correct.len();
        let (acc, lo, hi) = wilson(correct.iter().filter(|c| **c).count(), n);
        let norm = wilson(
            rows.iter()
                .filter(|r| flag(r, "correct_norm") == Some(true))
                .count(),
            n,
        );
        let mean = |k: &str| {
            rows.iter()
                .filter_map(|r| r.get(k).and_then(|v| v.as_f64()))
                .sum::<f64>()
                / n.max(1) as f64
        };
        if let Some(o) = result.as_object_mut() {
            o.insert("items".into(), n.into());
            o.insert("acc".into(), acc.into());
            o.insert("acc_ci".into(), serde_json::json!([lo, hi]));
            o.insert("acc_norm".into(), norm.0.into());
            o.insert("correct".into(), correct.into());
            o.insert("item_bytes".into(), mean("sent_bytes").into());
            o.insert("item_bytes_f16".into(), mean("full_bytes").into());
        }
    }
    if let Some((ids, text_path, text_sha)) = &data.text {
        let key = LlmEvalKey {
            kind: "kl".into(),
            subject_sha256: subject_sha.clone(),
            reference_sha256: receiver_sha.clone(),
            data_sha256: text_sha.clone(),
            settings: {
                let mut v = serde_json::to_value(data.kl).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("transfer".into(), transfer.clone());
                }
                v
            },
        };
        let summary = match store.find_llm_eval(&key)? {
            Some(rec) => {
                say(format!("text read back (evaluation {})", rec.id.0));
                rec.summary
            }
            None => {
                let started = Instant::now();
                let (r, sent) = qarena_llm::eval::kl_via(
                    receiver,
                    receiver,
                    ids,
                    data.kl,
                    &link,
                    &stop,
                    &|_, _| {},
                )
                .map_err(llm_exit)?;
                let seconds = started.elapsed().as_secs_f64();
                let context = data.kl.warmup.min(data.kl.window.saturating_sub(1));
                let mut summary = r.summary_json();
                if let Some(o) = summary.as_object_mut() {
                    o.insert("context_tokens".into(), context.into());
                    o.insert("context_bytes".into(), sent.into());
                    o.insert("context_bytes_f16".into(), full_bytes(context).into());
                    o.insert("experiment".into(), e.id.clone().into());
                    o.insert("matrix".into(), matrix.name.clone().into());
                    o.insert("seconds".into(), seconds.into());
                }
                let id = store.insert_llm_eval(&NewLlmEval {
                    kv_stats: Vec::new(),
                    key,
                    subject: label.clone(),
                    strategy: receiver_strategy.clone(),
                    bits_per_weight: Some(receiver_bpw),
                    data_name: text_path.display().to_string(),
                    summary: summary.clone(),
                    seconds,
                    items: r.token_rows(),
                })?;
                say(format!(
                    "KL over {} tokens in {seconds:.1} s (evaluation {})",
                    r.tokens, id.0
                ));
                summary
            }
        };
        if let Some(o) = result.as_object_mut() {
            for k in [
                "mean_kl",
                "p99_kl",
                "same_top1",
                "context_bytes",
                "context_bytes_f16",
                "context_tokens",
            ] {
                o.insert(
                    k.into(),
                    summary.get(k).cloned().unwrap_or(serde_json::Value::Null),
                );
            }
        }
    }
    Ok(result)
}

fn num(v: &serde_json::Value, k: &str) -> Option<f64> {
    v.get(k).and_then(|x| x.as_f64())
}

fn print_results(a: &KvSweepArgs, matrix: &Matrix, results: &[serde_json::Value]) {
    // Paired against the first experiment that answered items (the
    // baseline; put the full cache first).
    let base: Option<Vec<bool>> = results.iter().find_map(|r| {
        r.get("correct")?
            .as_array()
            .map(|v| v.iter().map(|b| b.as_bool().unwrap_or(false)).collect())
    });
    let mut out = Vec::new();
    for r in results {
        let mut r = r.clone();
        if let (Some(base), Some(c)) = (&base, r.get("correct").and_then(|c| c.as_array())) {
            let pairs: Vec<(bool, bool)> = base
                .iter()
                .zip(c)
                .map(|(a, b)| (*a, b.as_bool().unwrap_or(false)))
                .collect();
            if let Ok(ci) = qarena_stats::paired_bootstrap(&pairs, 2000, 1) {
                let counts = qarena_stats::PairedCounts::from_items(pairs.iter().copied());
                let p = qarena_stats::mcnemar_exact(&counts);
                if let Some(o) = r.as_object_mut() {
                    // Experiment minus baseline.
                    // (+ 0.0 turns a negative zero into zero)
                    o.insert("delta_acc".into(), (0.0 - ci.difference).into());
                    o.insert(
                        "delta_ci".into(),
                        serde_json::json!([0.0 - ci.high, 0.0 - ci.low]),
                    );
                    o.insert("mcnemar_p".into(), p.p_value.into());
                }
            }
        }
        if let Some(o) = r.as_object_mut() {
            o.remove("correct");
        }
        out.push(r);
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "matrix": matrix.name, "experiments": out,
            }))
            .unwrap_or_default()
        );
        return;
    }
    println!(
        "{:<6} {:<40} {:>10} {:>7} {:>16} {:>15} {:>9} {:>8}",
        "id", "experiment", "bytes/ctx", "% f16", "acc [95%]", "vs first", "mean KL", "top-1"
    );
    for r in &out {
        let bytes = num(r, "item_bytes").or(num(r, "context_bytes"));
        let full = num(r, "item_bytes_f16").or(num(r, "context_bytes_f16"));
        let with_ci = |p: &str, ci: &str, signed: bool| -> String {
            let bounds = r.get(ci).and_then(|c| c.as_array()).map(|c| {
                (
                    c.first().and_then(|x| x.as_f64()).unwrap_or(0.0),
                    c.get(1).and_then(|x| x.as_f64()).unwrap_or(0.0),
                )
            });
            match (num(r, p), bounds) {
                (Some(v), Some((lo, hi))) if signed => {
                    format!("{:+.1} [{:+.1},{:+.1}]", 100.0 * v, 100.0 * lo, 100.0 * hi)
                }
                (Some(v), Some((lo, hi))) => {
                    format!("{:.1} [{:.1},{:.1}]", 100.0 * v, 100.0 * lo, 100.0 * hi)
                }
                _ => "—".into(),
            }
        };
        let acc = with_ci("acc", "acc_ci", false);
        let delta = with_ci("delta_acc", "delta_ci", true);
        let label: String = r
            .get("label")
            .and_then(|l| l.as_str())
            .unwrap_or("")
            .chars()
            .take(40)
            .collect();
        println!(
            "{:<6} {:<40} {:>10} {:>7} {:>16} {:>15} {:>9} {:>8}",
            r.get("id").and_then(|v| v.as_str()).unwrap_or(""),
            label,
            bytes.map_or("—".into(), |b| format!("{b:.0}")),
            match (bytes, full) {
                (Some(b), Some(f)) if f > 0.0 => format!("{:.1}", 100.0 * b / f),
                _ => "—".into(),
            },
            acc,
            delta,
            num(r, "mean_kl").map_or("—".into(), |k| format!("{k:.4}")),
            num(r, "same_top1").map_or("—".into(), |k| format!("{:.1}%", 100.0 * k)),
        );
    }
    println!(
        "bytes/ctx: the mean message per item context (per text window without items); \
         % f16: of the full cache sent in f16; vs first: accuracy difference to the first \
         experiment, paired by item, 95% bootstrap interval"
    );
}
