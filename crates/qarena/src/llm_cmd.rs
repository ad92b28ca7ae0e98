//! `qarena llm`: language models — next-token KL of a variant against the
//! reference over a text, multiple-choice accuracy, two variants compared
//! item by item, and conversion to safetensors.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::anyhow;
use clap::{Args, Subcommand};
use qarena_llm::{KlSettings, Llama, LlmError, LlmModel};
use qarena_quant::Strategy;
use qarena_stats::{
    mcnemar_exact, paired_bootstrap, paired_sequential, PairedCounts, SequentialSettings,
    SequentialVerdict,
};
use qarena_store::{LlmEvalId, LlmEvalKey, NewLlmEval, Store};
use sha2::{Digest, Sha256};

use crate::cli::DbArgs;
use crate::{CliResult, Exit};

#[derive(Debug, Subcommand)]
pub enum LlmCommand {
    /// Next-token agreement of a model (or a variant built on the fly with
    /// --strategy/--scheme) with the reference over a text: mean, median
    /// and p99 KL, same-top-1 rate, perplexity of both and its change.
    /// Stored in the database per token; asking again reads it back.
    ///
    /// Example:
    ///   qarena llm kl smollm2 --scheme int4 --granularity group:32 --text data/llm/text-eval.txt
    Kl(KlArgs),
    /// Multiple-choice accuracy from a JSONL file ({"question", "choices",
    /// "answer"}): each option's log-likelihood after "Question: …\nAnswer:",
    /// accuracy by sum and by sum per byte (acc_norm), with 95% intervals.
    /// Stored per item.
    ///
    /// Example:
    ///   qarena llm eval smollm2 --scheme int8 --granularity channel --items data/llm/items.jsonl
    Eval(EvalArgs),
    /// Two variants of one model answer the same items: paired counts,
    /// McNemar's exact test, a paired bootstrap interval on the accuracy
    /// difference, and a sequential test that stops as soon as it decides.
    /// A variant is `original`, a strategy file, or SCHEME[@GRANULARITY]
    /// (e.g. int8@channel, int4@group:32).
    ///
    /// Example:
    ///   qarena llm compare smollm2 --a original --b int4@group:32 --items data/llm/items.jsonl
    Compare(CompareArgs),
    /// Greedy continuations of each prompt (one per line, asked as a chat
    /// user turn) by a variant and by the reference: the tokens they share
    /// from the start and the share of positions with the same token.
    ///
    /// Example:
    ///   qarena llm generate smollm2 --scheme int4 --granularity group:32 --prompts data/llm/prompts.txt
    Generate(GenerateArgs),
    /// Per-layer sensitivity of a KV configuration: the KL against the
    /// unquantized cache with the configuration applied to one layer at a
    /// time, for every layer. Each layer's evaluation is stored (asking
    /// again reads it back) and `qarena report --llm` plots them.
    ///
    /// Example:
    ///   qarena llm kv-layers smollm2 --kv-config examples/kv-int4-best.toml --text data/llm/text-eval.txt
    KvLayers(KvLayersArgs),
    /// Cache a reference's top-K next-token log-probabilities (and the
    /// rest's mass) over a text, for KD losses and distillation; the cache
    /// is registered in the database under --name. Use calibration text,
    /// never the text or items quality is reported on.
    ///
    /// Example:
    ///   qarena llm teacher smollm2 --text data/llm/text-calib.txt -o calib.qtl --name calib
    Teacher(TeacherArgs),
    /// The KD loss of a model or variant against a teacher-logit cache:
    /// the mean KL over the teacher's top-K tokens plus one bin for the rest.
    ///
    /// Example:
    ///   qarena llm kd smollm2 --strategy strategies/llm-lut2-mlp.toml --cache eval.qtl
    Kd(KdArgs),
    /// Refine the code-table (LUT) values of a variant's MLP weights by
    /// gradient descent on the KD loss against a cache (AdamW, warm-up and
    /// cosine schedule); the best checkpoint on held-out windows of the
    /// cache is kept, snapped to f16, written as a safetensors folder with
    /// distill.json (initial, final and best loss, curves).
    ///
    /// Example:
    ///   qarena llm distill smollm2 --strategy strategies/llm-lut2-mlp.toml \
    ///     --cache calib.qtl --eval-cache eval.qtl --steps 60 -o lut2-distilled
    Distill(DistillArgs),
    /// Speed: prompt (prefill) and greedy generation tokens per second, one
    /// sequence at a time, in the f32 runtime evaluations use and in the
    /// Q8_0 runtime (candle's quantized matmul), with the ratio of the two
    /// (the f32 run is the reference); optionally the seconds for
    /// multiple-choice items and KL over a text; peak memory.
    ///
    /// Example:
    ///   qarena llm bench smollm2 --items data/llm/items.jsonl --text data/llm/text-eval.txt
    Bench(BenchArgs),
    /// Write a model as a safetensors folder (model.safetensors, config.json,
    /// tokenizer.json), F32 or F16, Hugging Face names and layout.
    ///
    /// Example:
    ///   qarena llm convert smollm2 -o smollm2-f16 --f16
    Convert(ConvertArgs),
    /// Cache to cache, as an experiment matrix: for each experiment a
    /// sharer (a weight variant) prefills each context, its key/value cache
    /// is pruned and quantized and sent as bytes, and a receiver (another
    /// or the same variant) answers the items and continues the text from
    /// what it received. Prints accuracy (paired against the first
    /// experiment), KL against the receiver's own full cache, and the bytes
    /// sent per context against the full f16 cache. Each experiment is a
    /// run NAME-ID with its folder (configs/ logs/ results/ manifests/);
    /// results are stored and read back when asked again.
    ///
    /// Example:
    ///   qarena llm kv-sweep examples/kv-matrix.toml
    ///   qarena llm kv-sweep examples/kv-matrix.toml --smoke   # one item, seconds
    KvSweep(crate::kv_sweep_cmd::KvSweepArgs),
}

/// The model and an optional in-memory variant of it.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// A GGUF file, a safetensors file (config.json and tokenizer.json
    /// beside it), or `smollm2` (the default model `scripts/setup.sh`
    /// fetches into ~/.cache/qarena/llm).
    pub model: String,
    /// Build a variant with this strategy (TOML) before evaluating.
    #[arg(long, conflicts_with = "scheme")]
    pub strategy: Option<PathBuf>,
    /// Build a variant with one scheme for every weight: int2..int8,
    /// nf4, lut2..lut4, fp16, bf16, … (see `qarena quantize --help`).
    #[arg(long)]
    pub scheme: Option<String>,
    /// With --scheme: tensor, channel or group:N.
    #[arg(long, default_value = "channel")]
    pub granularity: String,
    /// With --scheme: none, mse or percentile:P.
    #[arg(long, default_value = "none")]
    pub clip: String,
    /// Quantize the key/value cache as this TOML says (scheme and axis
    /// for K and V, per layer range); see examples/kv-int4-best.toml. The
    /// reference keeps its cache unquantized.
    #[arg(long, value_name = "FILE")]
    pub kv_config: Option<PathBuf>,
    /// Calibration text for rules with rounding = "error_compensating"
    /// (GPTQ): the inputs each linear layer sees over it. Use text you do
    /// not evaluate on (data/llm/text-calib.txt).
    #[arg(long, value_name = "FILE")]
    pub calib: Option<PathBuf>,
    /// Tokens of the calibration text at most.
    #[arg(long, default_value_t = 4096)]
    pub calib_tokens: usize,
}

#[derive(Debug, Args)]
pub struct KlArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The reference (default: the model itself, unquantized).
    #[arg(long)]
    pub reference: Option<String>,
    /// The text (UTF-8).
    #[arg(long)]
    pub text: PathBuf,
    /// Tokens per window; each window runs from an empty cache.
    #[arg(long, default_value_t = 512)]
    pub window: usize,
    /// Positions at the start of each window that only give context.
    #[arg(long, default_value_t = 64)]
    pub warmup: usize,
    /// Scored tokens at most.
    #[arg(long, default_value_t = 2048)]
    pub max_tokens: usize,
    /// Prune the subject's cache after the context: POLICY:SHARE with
    /// POLICY attention (heavy hitters), key_norm or recency[:SINKS]
    /// (e.g. attention:0.5, recency:0.1:4). The reference keeps every token.
    #[arg(long)]
    pub prune: Option<qarena_llm::prune::Prune>,
    /// Compare with a second variant, measured the same way on the same
    /// tokens: `original`, a strategy file, or SCHEME[@GRANULARITY]
    /// (with this command's KV configuration and pruning). Prints the
    /// ratio of the two mean KLs and the difference in same-top-1 rate
    /// with 95% intervals over blocks of --block tokens.
    #[arg(long)]
    pub versus: Option<String>,
    /// Tokens per block of the --versus intervals. Neighbouring tokens are
    /// correlated, so contiguous blocks, not tokens, are the independent
    /// units (docs/statistics.md).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub block: u32,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Items, one JSON object per line.
    #[arg(long)]
    pub items: PathBuf,
    /// Only the first N items.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Prune the subject's cache after the context: POLICY:SHARE with
    /// POLICY attention (heavy hitters), key_norm or recency[:SINKS]
    /// (e.g. attention:0.5, recency:0.1:4). The reference keeps every token.
    #[arg(long)]
    pub prune: Option<qarena_llm::prune::Prune>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The model both variants are made from (a file or `smollm2`).
    pub model: String,
    /// Variant A: `original`, a strategy file, or SCHEME[@GRANULARITY].
    #[arg(long, default_value = "original")]
    pub a: String,
    /// Variant B: `original`, a strategy file, or SCHEME[@GRANULARITY].
    #[arg(long)]
    pub b: String,
    #[arg(long)]
    pub items: PathBuf,
    /// Only the first N items.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Answer every item even after the sequential test decided (by
    /// default both variants answer item by item until it decides).
    #[arg(long)]
    pub all: bool,
    /// Bootstrap resamples of the interval on the difference.
    #[arg(long, default_value_t = 2000)]
    pub resamples: usize,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The reference (default: the model itself, unquantized).
    #[arg(long)]
    pub reference: Option<String>,
    /// Prompts, one per line.
    #[arg(long)]
    pub prompts: PathBuf,
    /// Tokens generated per prompt at most.
    #[arg(long, default_value_t = 48)]
    pub max_tokens: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[arg(long, default_value_t = 256)]
    pub prompt_tokens: usize,
    #[arg(long, default_value_t = 64)]
    pub gen_tokens: usize,
    /// Also time this many multiple-choice items of --items.
    #[arg(long)]
    pub items: Option<PathBuf>,
    #[arg(long, default_value_t = 300)]
    pub mc_items: usize,
    /// Also time the KL of the model against itself over this text.
    #[arg(long)]
    pub text: Option<PathBuf>,
    #[arg(long, default_value_t = 2000)]
    pub kl_tokens: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct KvLayersArgs {
    /// A file or `smollm2`.
    pub model: String,
    #[arg(long, value_name = "FILE")]
    pub kv_config: PathBuf,
    #[arg(long)]
    pub text: PathBuf,
    /// Scored tokens per layer.
    #[arg(long, default_value_t = 256)]
    pub max_tokens: usize,
    #[arg(long, default_value_t = 256)]
    pub window: usize,
    #[arg(long, default_value_t = 32)]
    pub warmup: usize,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct TeacherArgs {
    /// The teacher: a file or `smollm2`.
    pub model: String,
    #[arg(long)]
    pub text: PathBuf,
    #[arg(long, short)]
    pub output: PathBuf,
    /// Log-probabilities kept per position.
    #[arg(long, default_value_t = 64)]
    pub k: usize,
    /// Tokens per window (each from an empty cache).
    #[arg(long, default_value_t = 256)]
    pub window: usize,
    /// Positions at the start of each window that only give context.
    #[arg(long, default_value_t = 32)]
    pub warmup: usize,
    /// Use at most this many tokens of the text.
    #[arg(long, default_value_t = 4096)]
    pub max_tokens: usize,
    /// The name in the registry (default: the file name).
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub notes: Option<String>,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct KdArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// A cache file or a registered cache's name.
    #[arg(long)]
    pub cache: String,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct DistillArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The training cache (a file or a registered name).
    #[arg(long)]
    pub cache: String,
    /// A cache of other text to report the KD loss on before and after.
    #[arg(long)]
    pub eval_cache: Option<String>,
    #[arg(long, default_value_t = 60)]
    pub steps: usize,
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 5)]
    pub warmup_steps: usize,
    /// Windows per step.
    #[arg(long, default_value_t = 2)]
    pub batch: usize,
    /// The cosine decays to lr × this.
    #[arg(long, default_value_t = 0.1)]
    pub min_lr_ratio: f64,
    /// Validate every this many steps.
    #[arg(long, default_value_t = 10)]
    pub eval_every: usize,
    /// The folder to write (model.safetensors in F16, config.json,
    /// tokenizer.json, distill.json).
    #[arg(long, short)]
    pub output: PathBuf,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// A GGUF file or `smollm2`.
    pub model: String,
    /// The folder to write.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Write F16 weights (default F32).
    #[arg(long)]
    pub f16: bool,
}

pub fn run(c: LlmCommand) -> CliResult {
    match c {
        LlmCommand::Kl(a) => kl_cmd(a),
        LlmCommand::Eval(a) => eval_cmd(a),
        LlmCommand::Compare(a) => compare_cmd(a),
        LlmCommand::Convert(a) => convert_cmd(a),
        LlmCommand::KvSweep(a) => crate::kv_sweep_cmd::kv_sweep_cmd(a),
        LlmCommand::Teacher(a) => teacher_cmd(a),
        LlmCommand::KvLayers(a) => kv_layers_cmd(a),
        LlmCommand::Bench(a) => bench_cmd(a),
        LlmCommand::Generate(a) => generate_cmd(a),
        LlmCommand::Kd(a) => kd_cmd(a),
        LlmCommand::Distill(a) => distill_cmd(a),
    }
}

pub(crate) fn llm_exit(e: LlmError) -> Exit {
    match e {
        LlmError::Io { .. } => Exit::storage(e),
        LlmError::Compute(_) => Exit::engine(e),
        other => Exit::input(other),
    }
}

pub(crate) fn sha256_hex(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

/// Loads `arg` (`smollm2` or a path), with a clear message when missing.
pub(crate) fn load(arg: &str) -> Result<LlmModel, Exit> {
    let path = qarena_llm::source::resolve(arg);
    if !path.is_file() {
        return Err(Exit::input(if arg == qarena_llm::source::DEFAULT_NAME {
            anyhow!(
                "the default model is not at {}: run `bash scripts/setup.sh` (it fetches it once), or set QARENA_LLM_MODEL",
                path.display()
            )
        } else {
            anyhow!("model {} does not exist", path.display())
        }));
    }
    eprintln!("loading {}", path.display());
    LlmModel::load(&path).map_err(llm_exit)
}

/// A model ready to run, what it is, and its key.
pub(crate) struct Subject {
    pub(crate) llama: Llama,
    pub(crate) label: String,
    pub(crate) sha256: String,
    pub(crate) strategy: Option<serde_json::Value>,
    /// The calibration behind error-compensating rules, as variant
    /// manifests record it (method, source, sha256, samples, settings).
    pub(crate) calibration: Option<serde_json::Value>,
    pub(crate) bits_per_weight: f64,
    /// Items are answered from a context cache pruned this way.
    prune: Option<qarena_llm::prune::Prune>,
    /// The cache is quantized this way.
    kv: Option<qarena_llm::kv::KvQuant>,
}

impl Subject {
    /// What sending the cache of a `tokens`-token context costs, and what
    /// it costs in f16 unpruned.
    fn context_bytes(&self, m: &LlmModel, tokens: usize) -> (u64, u64) {
        let c = &m.config;
        let held = match self.prune {
            Some(p) => ((tokens as f64 * p.keep).ceil() as usize).clamp(1.min(tokens), tokens),
            None => tokens,
        };
        let sent = qarena_llm::kv::bytes_for(
            c.layers,
            c.kv_heads,
            c.head_dim(),
            held,
            tokens,
            self.kv.as_ref(),
        );
        let full =
            qarena_llm::kv::bytes_for(c.layers, c.kv_heads, c.head_dim(), tokens, tokens, None);
        (sent.total(), full.total())
    }

    fn pruned(self, prune: Option<qarena_llm::prune::Prune>) -> Subject {
        match prune {
            None => self,
            Some(p) => Subject {
                label: format!("{} prune:{p}", self.label),
                sha256: sha256_hex(&format!("{}+prune{p}", self.sha256)),
                prune: Some(p),
                ..self
            },
        }
    }
}

fn subject(m: &LlmModel, label: &str, strategy: Option<&Strategy>) -> Result<Subject, Exit> {
    weights_subject(m, label, strategy, None)
}

/// Calibration text for error-compensating rounding.
pub(crate) struct CalibSource {
    path: PathBuf,
    sha256: String,
    tokens: usize,
}

fn calib_of(a: &ModelArgs) -> Result<Option<CalibSource>, Exit> {
    a.calib
        .as_ref()
        .map(|p| {
            Ok(CalibSource {
                path: p.clone(),
                sha256: file_sha(p)?,
                tokens: a.calib_tokens.max(1),
            })
        })
        .transpose()
}

/// The subject `a` describes: the model or a variant (calibrated when its
/// strategy asks), its key/value cache quantized as `kv` says, if given.
fn subject_kv(
    m: &LlmModel,
    a: &ModelArgs,
    strategy: Option<&Strategy>,
    kv: Option<&qarena_llm::kv::KvQuant>,
) -> Result<Subject, Exit> {
    let calib = calib_of(a)?;
    let s = weights_subject(m, &a.model, strategy, calib.as_ref())?;
    Ok(with_kv(s, kv))
}

/// `s` with its key/value cache quantized as `kv` says, if given.
fn with_kv(s: Subject, kv: Option<&qarena_llm::kv::KvQuant>) -> Subject {
    match kv {
        None => s,
        Some(kv) => Subject {
            llama: s.llama.with_kv(kv.clone()),
            label: format!("{} kv:{}", s.label, kv.name),
            sha256: sha256_hex(&format!("{}+kv{}", s.sha256, kv.canonical_json())),
            kv: Some(kv.clone()),
            ..s
        },
    }
}

pub(crate) fn weights_subject(
    m: &LlmModel,
    label: &str,
    strategy: Option<&Strategy>,
    calib: Option<&CalibSource>,
) -> Result<Subject, Exit> {
    match strategy {
        None => Ok(Subject {
            llama: Llama::new(m).map_err(llm_exit)?,
            label: label.to_string(),
            sha256: m.sha256.clone(),
            strategy: None,
            calibration: None,
            bits_per_weight: m.file_bits_per_weight(),
            prune: None,
            kv: None,
        }),
        Some(s) => {
            let needs = qarena_quant::plan(&qarena_llm::catalogue(&m.weights), s)
                .iter()
                .any(|(_, spec)| spec.rounding == qarena_quant::Rounding::ErrorCompensating);
            let calibration = match (needs, calib) {
                (true, Some(c)) => {
                    let started = Instant::now();
                    let text = qarena_llm::read_text(&c.path).map_err(llm_exit)?;
                    let ids = m.tokenizer.encode(&text).map_err(llm_exit)?;
                    let ids = &ids[..ids.len().min(c.tokens)];
                    let cal = Llama::new(m)
                        .map_err(llm_exit)?
                        .calibrate(ids, 512)
                        .map_err(llm_exit)?;
                    eprintln!(
                        "calibration: the inputs of every layer over {} tokens of {} ({:.1} s)",
                        ids.len(),
                        c.path.display(),
                        started.elapsed().as_secs_f64()
                    );
                    Some((cal, c))
                }
                _ => None,
            };
            let started = Instant::now();
            let (v, report) =
                qarena_llm::apply_calibrated(m, s, calibration.as_ref().map(|(c, _)| c))
                    .map_err(llm_exit)?;
            eprintln!(
                "variant {}: {:.3} bits per weight ({:.1} s)",
                s.name(),
                report.bits_per_weight,
                started.elapsed().as_secs_f64()
            );
            let canonical = s.canonical_json();
            let calibrated = calibration
                .as_ref()
                .map(|(c, src)| format!("+calib{}:{}", src.sha256, c.tokens))
                .unwrap_or_default();
            let facts = calibration.as_ref().map(|(c, src)| {
                let settings = qarena_quant::GptqSettings::default();
                serde_json::json!({
                    "method": "gptq",
                    "source": src.path.display().to_string(),
                    "sha256": src.sha256,
                    "samples": c.tokens,
                    "damp": settings.damp,
                    "act_order": settings.act_order,
                })
            });
            Ok(Subject {
                llama: Llama::new(&v).map_err(llm_exit)?,
                label: format!("{label} {}", s.name()),
                sha256: sha256_hex(&format!("{}+{canonical}{calibrated}", m.sha256)),
                strategy: serde_json::from_str(&canonical).ok(),
                calibration: facts,
                bits_per_weight: report.bits_per_weight,
                prune: None,
                kv: None,
            })
        }
    }
}

fn kv_of(a: &ModelArgs) -> Result<Option<qarena_llm::kv::KvQuant>, Exit> {
    a.kv_config
        .as_deref()
        .map(|p| {
            if !p.is_file() {
                return Err(Exit::input(anyhow!(
                    "KV configuration {} does not exist",
                    p.display()
                )));
            }
            qarena_llm::kv::KvQuant::from_file(p).map_err(llm_exit)
        })
        .transpose()
}

fn strategy_of(a: &ModelArgs) -> Result<Option<Strategy>, Exit> {
    match (&a.strategy, &a.scheme) {
        (Some(p), _) => crate::quant_cmd::load_strategy(p).map(Some),
        (None, Some(s)) => {
            crate::quant_cmd::strategy_from_flags(s, &a.granularity, &a.clip, 0.0).map(Some)
        }
        (None, None) => Ok(None),
    }
}

/// `original`, a strategy file, or SCHEME[@GRANULARITY].
pub(crate) fn variant_spec(spec: &str) -> Result<Option<Strategy>, Exit> {
    if spec == "original" {
        return Ok(None);
    }
    let p = Path::new(spec);
    if p.is_file() {
        return crate::quant_cmd::load_strategy(p).map(Some);
    }
    let (scheme, gran) = spec.split_once('@').unwrap_or((spec, "channel"));
    crate::quant_cmd::strategy_from_flags(scheme, gran, "none", 0.0)
        .map(Some)
        .map_err(|e| {
            Exit::input(anyhow!(
                "variant `{spec}` is not `original`, a strategy file or SCHEME[@GRANULARITY]: {}",
                e.error
            ))
        })
}

pub(crate) fn file_sha(path: &Path) -> Result<String, Exit> {
    qarena_llm::weights::sha256_file(path).map_err(llm_exit)
}

fn kl_cmd(a: KlArgs) -> CliResult {
    let text = qarena_llm::read_text(&a.text).map_err(llm_exit)?;
    let text_sha = file_sha(&a.text)?;
    if let Some(c) = &a.model.calib {
        if file_sha(c)? == text_sha {
            return Err(Exit::input(anyhow!(
                "the calibration text {} is the text the KL is measured on ({}): calibrate on other text (data/llm/text-calib.txt), or the result says nothing about text the variant has not seen",
                c.display(),
                a.text.display()
            )));
        }
    }
    let strategy = strategy_of(&a.model)?;
    let kv = kv_of(&a.model)?;
    let m = load(&a.model.model)?;
    let reference_model = match &a.reference {
        Some(r) => load(r)?,
        None if strategy.is_some() || kv.is_some() || a.prune.is_some() => m.clone(),
        None => {
            return Err(Exit::input(anyhow!(
                "give --reference (or --strategy/--scheme/--kv-config/--prune to compare a variant with its model)"
            )))
        }
    };
    let settings = KlSettings {
        window: a.window,
        warmup: a.warmup,
        max_tokens: a.max_tokens,
    };
    let key_of = |sha: &str| LlmEvalKey {
        kind: "kl".into(),
        subject_sha256: sha.to_string(),
        reference_sha256: reference_model.sha256.clone(),
        data_sha256: text_sha.clone(),
        settings: {
            let mut v = serde_json::to_value(settings).unwrap_or_default();
            if let (Some(o), Some(p)) = (v.as_object_mut(), a.prune) {
                o.insert("prune".into(), p.to_string().into());
            }
            v
        },
    };
    let store = Store::open(&a.db.db)?;
    // The reference and the text's tokens, made once for every subject
    // that is not read back.
    let mut prepared: Option<(Llama, Vec<u32>)> = None;
    // Finds a subject's evaluation in the store, or runs and stores it.
    let mut evaluate = |subj: &Subject| -> Result<(serde_json::Value, LlmEvalId), Exit> {
        let key = key_of(&subj.sha256);
        if let Some(rec) = store.find_llm_eval(&key)? {
            eprintln!(
                "{}: read back from {} (evaluation {})",
                subj.label,
                a.db.db.display(),
                rec.id.0
            );
            return Ok((rec.summary, rec.id));
        }
        let (reference, ids) = match prepared {
            Some(ref p) => p,
            None => prepared.insert((
                Llama::new(&reference_model).map_err(llm_exit)?,
                m.tokenizer.encode(&text).map_err(llm_exit)?,
            )),
        };
        let stop = qarena_engine::install_shutdown_flag();
        let started = Instant::now();
        let r = qarena_llm::eval::kl_pruned(
            reference,
            &subj.llama,
            ids,
            settings,
            a.prune,
            &stop,
            &|n, of| eprintln!("  {}: {n}/{of} tokens", subj.label),
        )
        .map_err(llm_exit)?;
        let seconds = started.elapsed().as_secs_f64();
        let mut summary = r.summary_json();
        if let Some(o) = summary.as_object_mut() {
            o.insert("bits_per_weight".into(), subj.bits_per_weight.into());
            o.insert("seconds".into(), seconds.into());
            if let Some(c) = &subj.calibration {
                o.insert("calibration".into(), c.clone());
            }
            let context = a.warmup.min(a.window.saturating_sub(1));
            let (sent, full) = subj.context_bytes(&m, context);
            o.insert("context_tokens".into(), context.into());
            o.insert("context_bytes".into(), sent.into());
            o.insert("context_bytes_f16".into(), full.into());
        }
        let id = store.insert_llm_eval(&NewLlmEval {
            kv_stats: kv_stat_rows(subj.kv.as_ref()),
            key,
            subject: subj.label.clone(),
            strategy: subj.strategy.clone(),
            bits_per_weight: Some(subj.bits_per_weight),
            data_name: a.text.display().to_string(),
            summary: summary.clone(),
            seconds,
            items: r.token_rows(),
        })?;
        Ok((summary, id))
    };
    let subj = subject_kv(&m, &a.model, strategy.as_ref(), kv.as_ref())?.pruned(a.prune);
    let key = key_of(&subj.sha256);
    let (summary, id) = evaluate(&subj)?;
    let versus = match &a.versus {
        None => None,
        Some(spec) => {
            let other_strategy = variant_spec(spec)?;
            let calib = calib_of(&a.model)?;
            let other =
                weights_subject(&m, &a.model.model, other_strategy.as_ref(), calib.as_ref())?;
            let other = with_kv(other, kv.as_ref()).pruned(a.prune);
            let (other_summary, other_id) = evaluate(&other)?;
            let paired = paired_kl(&store, id, other_id, a.block as usize)?;
            Some((other.label, other_summary, paired))
        }
    };
    let stats = kv_stats_summary(&store, &key, a.json)?;
    if a.json {
        let mut summary = summary;
        if let (Some(o), Some(st)) = (summary.as_object_mut(), stats) {
            o.insert("kv_stats".into(), st);
        }
        if let (Some(o), Some((label, other, paired))) = (summary.as_object_mut(), &versus) {
            o.insert(
                "versus".into(),
                serde_json::json!({"subject": label, "summary": other, "paired": paired.json()}),
            );
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).unwrap_or_default()
        );
        return Ok(());
    }
    let f = |k: &str| summary.get(k).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
    println!(
        "{}: {} tokens of {}; {:.3} bits/w",
        subj.label,
        f("tokens"),
        a.text.display(),
        subj.bits_per_weight
    );
    println!(
        "mean KL {:.5}  median {:.5}  p99 {:.4}  max {:.3}  same top-1 {:.2}%",
        f("mean_kl"),
        f("median_kl"),
        f("p99_kl"),
        f("max_kl"),
        100.0 * f("same_top1")
    );
    println!(
        "perplexity {:.3} (reference {:.3}, ln ratio {:+.4})",
        f("ppl_subject"),
        f("ppl_reference"),
        f("ln_ppl_ratio")
    );
    if f("context_bytes").is_finite() {
        println!(
            "cache of a {}-token context as sent: {} bytes ({:.1}% of {} in f16)",
            f("context_tokens"),
            f("context_bytes"),
            100.0 * f("context_bytes") / f("context_bytes_f16").max(1.0),
            f("context_bytes_f16")
        );
    }
    if let Some((label, other, paired)) = &versus {
        let g = |k: &str| other.get(k).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
        println!(
            "versus {label}: mean KL {:.5}  same top-1 {:.2}%  perplexity {:.3}",
            g("mean_kl"),
            100.0 * g("same_top1"),
            g("ppl_subject")
        );
        print_paired(paired);
    }
    Ok(())
}

/// Two KL evaluations of one text compared token by token.
#[derive(Debug, Clone)]
struct PairedKl {
    tokens: usize,
    block: usize,
    /// Blocks behind the intervals; 0 when the tokens make fewer than two.
    blocks: usize,
    /// mean KL of the first over the second, with its 95% interval.
    kl_ratio: f64,
    kl_ratio_lower: Option<f64>,
    kl_ratio_upper: Option<f64>,
    /// Same-top-1 rate of the first minus the second's.
    same_top1_difference: f64,
    same_top1_difference_lower: Option<f64>,
    same_top1_difference_upper: Option<f64>,
}

/// The per-token rows of evaluations `a` and `b` paired: the ratio of mean
/// KLs and the difference in same-top-1 rate, with 95% intervals over
/// contiguous blocks of `block` tokens (qarena_stats::RatioCi::blocked).
fn paired_kl(store: &Store, a: LlmEvalId, b: LlmEvalId, block: usize) -> Result<PairedKl, Exit> {
    let rows = |id| -> Result<(Vec<f64>, Vec<f64>), Exit> {
        let mut kl = Vec::new();
        let mut top1 = Vec::new();
        for (_, v) in store.llm_eval_items(id)? {
            let k = v.get("kl").and_then(|x| x.as_f64());
            let t = v.get("same_top1").and_then(|x| x.as_bool());
            let (Some(k), Some(t)) = (k, t) else {
                return Err(Exit::input(anyhow!(
                    "evaluation {} holds a token row without `kl` and `same_top1`: the store is not one this qarena wrote",
                    id.0
                )));
            };
            kl.push(k);
            top1.push(f64::from(u8::from(t)));
        }
        Ok((kl, top1))
    };
    let ((kl_a, top_a), (kl_b, top_b)) = (rows(a)?, rows(b)?);
    if kl_a.len() != kl_b.len() || kl_a.is_empty() {
        return Err(Exit::input(anyhow!(
            "the two evaluations scored {} and {} tokens: they cannot be paired",
            kl_a.len(),
            kl_b.len()
        )));
    }
    let n = kl_a.len() as f64;
    let mean = |x: &[f64]| x.iter().sum::<f64>() / n;
    let ratio = qarena_stats::RatioCi::blocked(&kl_a, &kl_b, block);
    let diff = qarena_stats::MeanCi::blocked_difference(&top_a, &top_b, block);
    Ok(PairedKl {
        tokens: kl_a.len(),
        block,
        blocks: ratio.map_or(0, |r| r.n),
        kl_ratio: mean(&kl_a) / mean(&kl_b),
        kl_ratio_lower: ratio.map(|r| r.lower()),
        kl_ratio_upper: ratio.map(|r| r.upper()),
        same_top1_difference: mean(&top_a) - mean(&top_b),
        same_top1_difference_lower: diff.as_ref().and_then(|d| d.lower()),
        same_top1_difference_upper: diff.as_ref().and_then(|d| d.upper()),
    })
}

impl PairedKl {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "tokens": self.tokens,
            "block": self.block,
            "blocks": self.blocks,
            "kl_ratio": self.kl_ratio,
            "kl_ratio_lower": self.kl_ratio_lower,
            "kl_ratio_upper": self.kl_ratio_upper,
            "same_top1_difference": self.same_top1_difference,
            "same_top1_difference_lower": self.same_top1_difference_lower,
            "same_top1_difference_upper": self.same_top1_difference_upper,
        })
    }
}

fn print_paired(p: &PairedKl) {
    match (p.kl_ratio_lower, p.kl_ratio_upper) {
        (Some(lo), Some(hi)) => println!(
            "KL ratio {:.3} [{:.3}, {:.3}], {:+.1}% [{:+.1}, {:+.1}]; same top-1 {:+.2} points [{:+.2}, {:+.2}] (95%, {} blocks of {} tokens)",
            p.kl_ratio,
            lo,
            hi,
            100.0 * (p.kl_ratio - 1.0),
            100.0 * (lo - 1.0),
            100.0 * (hi - 1.0),
            100.0 * p.same_top1_difference,
            100.0 * p.same_top1_difference_lower.unwrap_or(f64::NAN),
            100.0 * p.same_top1_difference_upper.unwrap_or(f64::NAN),
            p.blocks,
            p.block
        ),
        _ => println!(
            "KL ratio {:.3}, same top-1 {:+.2} points; no interval: {} tokens make fewer than two blocks of {} (lower --block or give more text)",
            p.kl_ratio,
            100.0 * p.same_top1_difference,
            p.tokens,
            p.block
        ),
    }
}

/// The statistics a KV configuration with `collect_stats` gathered, as
/// rows to store.
fn kv_stat_rows(kv: Option<&qarena_llm::kv::KvQuant>) -> Vec<qarena_store::KvStatRow> {
    kv.map(|k| k.stats())
        .unwrap_or_default()
        .into_iter()
        .map(|s| qarena_store::KvStatRow {
            layer: s.layer as i64,
            part: s.part,
            head: s.head as i64,
            values: s.values as i64,
            absmax: f64::from(s.absmax),
            clipped: s.clipped as i64,
            scale_min: f64::from(s.scale_min),
            scale_max: f64::from(s.scale_max),
            scale_log2_hist: serde_json::to_value(&s.scale_log2_hist).unwrap_or_default(),
        })
        .collect()
}

/// The stored KV statistics of the evaluation under `key`, summarised
/// (printed unless `quiet`); `None` when none were collected.
fn kv_stats_summary(
    store: &Store,
    key: &LlmEvalKey,
    quiet: bool,
) -> Result<Option<serde_json::Value>, Exit> {
    let Some(rec) = store.find_llm_eval(key)? else {
        return Ok(None);
    };
    let rows = store.kv_stats(rec.id)?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut parts = serde_json::Map::new();
    for part in ["k", "v"] {
        let of: Vec<&qarena_store::KvStatRow> = rows.iter().filter(|r| r.part == part).collect();
        let Some(top) = of.iter().max_by(|a, b| a.absmax.total_cmp(&b.absmax)) else {
            continue;
        };
        let values: i64 = of.iter().map(|r| r.values).sum();
        let clipped: i64 = of.iter().map(|r| r.clipped).sum();
        let scales: Vec<f64> = of
            .iter()
            .flat_map(|r| [r.scale_min, r.scale_max])
            .filter(|x| *x > 0.0)
            .collect();
        let (lo, hi) = scales
            .iter()
            .fold((f64::INFINITY, 0.0f64), |(l, h), x| (l.min(*x), h.max(*x)));
        if !quiet {
            println!(
                "{}: absmax {:.3} (layer {} head {}), {:.3}% of {} values clipped, scales {}",
                if part == "k" { "keys" } else { "values" },
                top.absmax,
                top.layer,
                top.head,
                100.0 * clipped as f64 / values.max(1) as f64,
                values,
                if scales.is_empty() {
                    "none".to_string()
                } else {
                    format!("{lo:.3e} to {hi:.3e}")
                }
            );
        }
        parts.insert(
            part.into(),
            serde_json::json!({
                "absmax": top.absmax, "absmax_layer": top.layer, "absmax_head": top.head,
                "values": values, "clipped": clipped,
                "scale_min": if scales.is_empty() { 0.0 } else { lo }, "scale_max": hi,
            }),
        );
    }
    if !quiet {
        println!(
            "({} rows per layer, part and head stored with evaluation {})",
            rows.len(),
            rec.id.0
        );
    }
    Ok(Some(serde_json::Value::Object(parts)))
}

fn mc_key(subj: &Subject, items_sha: &str, limit: Option<usize>) -> LlmEvalKey {
    LlmEvalKey {
        kind: "mc".into(),
        subject_sha256: subj.sha256.clone(),
        reference_sha256: String::new(),
        data_sha256: items_sha.to_string(),
        settings: serde_json::json!({ "limit": limit, "format": "Question: {q}\\nAnswer: {option}" }),
    }
}

/// A stored evaluation's per-item `(correct, correct_norm)`, if there is one.
fn stored_mc(
    store: &Store,
    subj: &Subject,
    key: &LlmEvalKey,
) -> Result<Option<Vec<(bool, bool)>>, Exit> {
    let Some(rec) = store.find_llm_eval(key)? else {
        return Ok(None);
    };
    eprintln!("{}: read back (evaluation {})", subj.label, rec.id.0);
    let rows = store.llm_eval_items(rec.id)?;
    Ok(Some(
        rows.iter()
            .map(|(_, v)| {
                let b = |k: &str| v.get(k).and_then(|x| x.as_bool()).unwrap_or(false);
                (b("correct"), b("correct_norm"))
            })
            .collect(),
    ))
}

/// Stores the scores of the first `scores.len()` items.
#[allow(clippy::too_many_arguments)]
fn store_mc(
    store: &Store,
    subj: &Subject,
    key: LlmEvalKey,
    items: &[qarena_llm::Item],
    items_path: &Path,
    scores: &[qarena_llm::ItemScore],
    seconds: f64,
    context_bytes: Option<(f64, f64)>,
) -> Result<Vec<(bool, bool)>, Exit> {
    let acc = qarena_llm::accuracy(scores);
    let mut summary = serde_json::json!({
        "items": acc.items, "acc": acc.acc, "acc_norm": acc.acc_norm,
        "bits_per_weight": subj.bits_per_weight, "seconds": seconds,
    });
    if let (Some(o), Some((sent, full))) = (summary.as_object_mut(), context_bytes) {
        o.insert("context_bytes".into(), sent.into());
        o.insert("context_bytes_f16".into(), full.into());
    }
    if let (Some(o), Some(c)) = (summary.as_object_mut(), &subj.calibration) {
        o.insert("calibration".into(), c.clone());
    }
    store.insert_llm_eval(&NewLlmEval {
        kv_stats: kv_stat_rows(subj.kv.as_ref()),
        key,
        subject: subj.label.clone(),
        strategy: subj.strategy.clone(),
        bits_per_weight: Some(subj.bits_per_weight),
        data_name: items_path.display().to_string(),
        summary,
        seconds,
        items: items
            .iter()
            .zip(scores)
            .map(|(it, s)| (it.id.clone(), serde_json::to_value(s).unwrap_or_default()))
            .collect(),
    })?;
    Ok(scores.iter().map(|s| (s.correct, s.correct_norm)).collect())
}

pub(crate) fn stopped(i: usize) -> Exit {
    Exit::input(anyhow!(
        "stopped after {i} items; nothing stored, run it again"
    ))
}

/// Scores items with a subject, reading back a stored evaluation when
/// there is one; per item `(correct, correct_norm)`.
fn scored(
    store: &Store,
    subj: &Subject,
    m: &LlmModel,
    items: &[qarena_llm::Item],
    items_path: &Path,
    items_sha: &str,
    limit: Option<usize>,
) -> Result<Vec<(bool, bool)>, Exit> {
    let key = mc_key(subj, items_sha, limit);
    if let Some(r) = stored_mc(store, subj, &key)? {
        return Ok(r);
    }
    let started = Instant::now();
    let stop = qarena_engine::install_shutdown_flag();
    let mut scores = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(stopped(i));
        }
        let score = match subj.prune {
            Some(p) => qarena_llm::eval::score_item_pruned(&subj.llama, &m.tokenizer, item, p),
            None => qarena_llm::score_item(&subj.llama, &m.tokenizer, item),
        };
        scores.push(score.map_err(llm_exit)?);
        if (i + 1) % 50 == 0 {
            eprintln!("  {}: {}/{} items", subj.label, i + 1, items.len());
        }
    }
    // What sending each item's context cache costs (its tokens but the
    // last), on average.
    let context_bytes = if subj.kv.is_some() || subj.prune.is_some() {
        let mut sums = (0.0, 0.0);
        for item in items {
            let n = m
                .tokenizer
                .encode(&qarena_llm::eval::context(item))
                .map_err(llm_exit)?
                .len();
            let (sent, full) = subj.context_bytes(m, n.saturating_sub(1));
            sums = (sums.0 + sent as f64, sums.1 + full as f64);
        }
        let n = items.len().max(1) as f64;
        Some((sums.0 / n, sums.1 / n))
    } else {
        None
    };
    store_mc(
        store,
        subj,
        key,
        items,
        items_path,
        &scores,
        started.elapsed().as_secs_f64(),
        context_bytes,
    )
}

pub(crate) fn read_items(path: &Path, limit: Option<usize>) -> Result<Vec<qarena_llm::Item>, Exit> {
    let mut items = qarena_llm::read_items(path).map_err(llm_exit)?;
    if let Some(n) = limit {
        items.truncate(n.max(1));
    }
    Ok(items)
}

/// A proportion with its 95% Wilson interval.
pub(crate) fn wilson(k: usize, n: usize) -> (f64, f64, f64) {
    let p = if n == 0 { 0.0 } else { k as f64 / n as f64 };
    let (lo, hi) = qarena_stats::wilson(p, n as f64, qarena_stats::Z95);
    (p, lo, hi)
}

fn eval_cmd(a: EvalArgs) -> CliResult {
    let items = read_items(&a.items, a.limit)?;
    let items_sha = file_sha(&a.items)?;
    let strategy = strategy_of(&a.model)?;
    let kv = kv_of(&a.model)?;
    let m = load(&a.model.model)?;
    let store = Store::open(&a.db.db)?;
    let subj = subject_kv(&m, &a.model, strategy.as_ref(), kv.as_ref())?.pruned(a.prune);
    let res = scored(&store, &subj, &m, &items, &a.items, &items_sha, a.limit)?;
    let n = res.len();
    let acc = wilson(res.iter().filter(|r| r.0).count(), n);
    let norm = wilson(res.iter().filter(|r| r.1).count(), n);
    let stats = kv_stats_summary(&store, &mc_key(&subj, &items_sha, a.limit), a.json)?;
    if a.json {
        let mut v = serde_json::json!({
            "subject": subj.label, "bits_per_weight": subj.bits_per_weight, "items": n,
            "acc": acc.0, "acc_low": acc.1, "acc_high": acc.2,
            "acc_norm": norm.0, "acc_norm_low": norm.1, "acc_norm_high": norm.2,
        });
        if let (Some(o), Some(st)) = (v.as_object_mut(), stats) {
            o.insert("kv_stats".into(), st);
        }
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(());
    }
    println!(
        "{}: {n} items of {}; {:.3} bits/w",
        subj.label,
        a.items.display(),
        subj.bits_per_weight
    );
    println!(
        "accuracy {:.1}% [{:.1}, {:.1}]  acc_norm {:.1}% [{:.1}, {:.1}]  (95% Wilson)",
        100.0 * acc.0,
        100.0 * acc.1,
        100.0 * acc.2,
        100.0 * norm.0,
        100.0 * norm.1,
        100.0 * norm.2
    );
    Ok(())
}

fn compare_cmd(a: CompareArgs) -> CliResult {
    let items = read_items(&a.items, a.limit)?;
    let items_sha = file_sha(&a.items)?;
    let (sa, sb) = (variant_spec(&a.a)?, variant_spec(&a.b)?);
    let m = load(&a.model)?;
    let store = Store::open(&a.db.db)?;
    let va = subject(&m, &a.model, sa.as_ref())?;
    let vb = subject(&m, &a.model, sb.as_ref())?;
    let seq = SequentialSettings::default();
    let full = (
        stored_mc(&store, &va, &mc_key(&va, &items_sha, a.limit))?,
        stored_mc(&store, &vb, &mc_key(&vb, &items_sha, a.limit))?,
    );
    let (pairs, decided) = if let (Some(ra), Some(rb)) = full {
        let pairs: Vec<(bool, bool)> = ra.iter().zip(&rb).map(|(x, y)| (x.0, y.0)).collect();
        let decided = first_decision(&pairs, &seq);
        (pairs, decided)
    } else if a.all {
        let ra = scored(&store, &va, &m, &items, &a.items, &items_sha, a.limit)?;
        let rb = scored(&store, &vb, &m, &items, &a.items, &items_sha, a.limit)?;
        let pairs: Vec<(bool, bool)> = ra.iter().zip(&rb).map(|(x, y)| (x.0, y.0)).collect();
        let decided = first_decision(&pairs, &seq);
        (pairs, decided)
    } else {
        // Item by item, both variants, until the sequential test decides;
        // the items answered are stored as an evaluation of that many.
        let started = Instant::now();
        let stop = qarena_engine::install_shutdown_flag();
        let (mut sa_scores, mut sb_scores) = (Vec::new(), Vec::new());
        let mut running = PairedCounts::default();
        let mut decided = None;
        for (i, item) in items.iter().enumerate() {
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(stopped(i));
            }
            let x = qarena_llm::score_item(&va.llama, &m.tokenizer, item).map_err(llm_exit)?;
            let y = qarena_llm::score_item(&vb.llama, &m.tokenizer, item).map_err(llm_exit)?;
            running.add(x.correct, y.correct);
            sa_scores.push(x);
            sb_scores.push(y);
            let r = paired_sequential(&running, &seq);
            if !matches!(r.verdict, SequentialVerdict::Continue) {
                decided = Some((i + 1, r.verdict));
                break;
            }
            if (i + 1) % 50 == 0 {
                eprintln!("  {}/{} items", i + 1, items.len());
            }
        }
        let n = sa_scores.len();
        let secs = started.elapsed().as_secs_f64() / 2.0;
        let limit = if n == items.len() { a.limit } else { Some(n) };
        let ra = store_mc(
            &store,
            &va,
            mc_key(&va, &items_sha, limit),
            &items,
            &a.items,
            &sa_scores,
            secs,
            None,
        )?;
        let rb = store_mc(
            &store,
            &vb,
            mc_key(&vb, &items_sha, limit),
            &items,
            &a.items,
            &sb_scores,
            secs,
            None,
        )?;
        let pairs = ra.iter().zip(&rb).map(|(x, y)| (x.0, y.0)).collect();
        (pairs, decided)
    };
    let counts = PairedCounts::from_items(pairs.iter().copied());
    let mc = mcnemar_exact(&counts);
    let ci = paired_bootstrap(&pairs, a.resamples.max(1), 1).map_err(Exit::input)?;
    let verdict = match decided {
        Some((n, v)) => format!("{v:?} after {n} items"),
        None => format!("undecided after {} items", pairs.len()),
    };
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "a": va.label, "b": vb.label,
                "bits_per_weight_a": va.bits_per_weight, "bits_per_weight_b": vb.bits_per_weight,
                "items": counts.n(), "both": counts.both, "only_a": counts.only_a,
                "only_b": counts.only_b, "neither": counts.neither,
                "acc_a": counts.accuracy_a(), "acc_b": counts.accuracy_b(),
                "difference": ci.difference, "difference_low": ci.low, "difference_high": ci.high,
                "mcnemar_p": mc.p_value, "mcnemar_mid_p": mc.mid_p, "sequential": verdict,
            }))
            .unwrap_or_default()
        );
        return Ok(());
    }
    println!(
        "A = {} ({:.3} bits/w), B = {} ({:.3} bits/w), {} items",
        va.label,
        va.bits_per_weight,
        vb.label,
        vb.bits_per_weight,
        counts.n()
    );
    println!(
        "accuracy A {:.1}%  B {:.1}%  difference {:+.1} points [{:+.1}, {:+.1}] (paired bootstrap, 95%)",
        100.0 * counts.accuracy_a().unwrap_or(0.0),
        100.0 * counts.accuracy_b().unwrap_or(0.0),
        100.0 * ci.difference,
        100.0 * ci.low,
        100.0 * ci.high
    );
    println!(
        "both right {}  only A {}  only B {}  both wrong {}  McNemar exact p = {:.4}",
        counts.both, counts.only_a, counts.only_b, counts.neither, mc.p_value
    );
    println!("sequential test (alpha 0.05, delta 0.1): {verdict}");
    Ok(())
}

fn convert_cmd(a: ConvertArgs) -> CliResult {
    let m = load(&a.model)?;
    qarena_llm::safet::write(&m, &a.output, a.f16).map_err(llm_exit)?;
    println!(
        "{}: model.safetensors ({}), config.json, tokenizer.json; {} parameters",
        a.output.display(),
        if a.f16 { "F16" } else { "F32" },
        m.parameters()
    );
    Ok(())
}

/// Where the sequential test, reading the pairs in order, decides.
fn first_decision(
    pairs: &[(bool, bool)],
    seq: &SequentialSettings,
) -> Option<(usize, SequentialVerdict)> {
    let mut running = PairedCounts::default();
    for (i, p) in pairs.iter().enumerate() {
        running.add(p.0, p.1);
        let r = paired_sequential(&running, seq);
        if !matches!(r.verdict, SequentialVerdict::Continue) {
            return Some((i + 1, r.verdict));
        }
    }
    None
}

fn teacher_cmd(a: TeacherArgs) -> CliResult {
    let text = qarena_llm::read_text(&a.text).map_err(llm_exit)?;
    let text_sha = file_sha(&a.text)?;
    let m = load(&a.model)?;
    let store = Store::open(&a.db.db)?;
    let teacher = Llama::new(&m).map_err(llm_exit)?;
    let mut ids = m.tokenizer.encode(&text).map_err(llm_exit)?;
    ids.truncate(a.max_tokens.max(2));
    let cache = qarena_llm::teacher::TeacherCache::build(
        &teacher,
        &m.sha256,
        &text_sha,
        &ids,
        a.k,
        a.window,
        a.warmup,
        &|w, of| eprintln!("  window {w}/{of}"),
    )
    .map_err(llm_exit)?;
    cache.write(&a.output).map_err(llm_exit)?;
    let name = a.name.clone().unwrap_or_else(|| {
        a.output
            .file_stem()
            .map_or_else(|| "cache".into(), |s| s.to_string_lossy().into_owned())
    });
    let path = std::fs::canonicalize(&a.output).unwrap_or(a.output.clone());
    store.register_teacher_cache(&qarena_store::TeacherCacheEntry {
        name: name.clone(),
        path: path.display().to_string(),
        k: cache.header.k as i64,
        tokens: cache.header.tokens as i64,
        positions: cache.header.positions as i64,
        sha256: file_sha(&a.output)?,
        model_sha256: m.sha256.clone(),
        text_sha256: text_sha,
        notes: a.notes.clone(),
    })?;
    println!(
        "{}: top-{} of {} positions over {} tokens of {}; registered as `{name}`",
        a.output.display(),
        cache.header.k,
        cache.header.positions,
        cache.header.tokens,
        a.text.display()
    );
    Ok(())
}

/// A cache by file or registered name; its file must still have the
/// sha256 it was registered with.
fn open_cache(store: &Store, arg: &str) -> Result<qarena_llm::teacher::TeacherCache, Exit> {
    let p = Path::new(arg);
    let path = if p.is_file() {
        p.to_path_buf()
    } else {
        let entry = store
            .teacher_caches()?
            .into_iter()
            .find(|e| e.name == arg)
            .ok_or_else(|| {
                Exit::input(anyhow!(
                    "cache `{arg}` is neither a file nor a registered name (`qarena llm teacher` makes one)"
                ))
            })?;
        let path = PathBuf::from(&entry.path);
        if file_sha(&path)? != entry.sha256 {
            return Err(Exit::input(anyhow!(
                "cache `{arg}` ({}) changed since it was registered; make it again",
                path.display()
            )));
        }
        path
    };
    qarena_llm::teacher::TeacherCache::read(&path).map_err(llm_exit)
}

fn kd_cmd(a: KdArgs) -> CliResult {
    let store = Store::open(&a.db.db)?;
    let cache = open_cache(&store, &a.cache)?;
    let strategy = strategy_of(&a.model)?;
    let kv = kv_of(&a.model)?;
    let m = load(&a.model.model)?;
    let subj = subject_kv(&m, &a.model, strategy.as_ref(), kv.as_ref())?;
    let loss = cache.kd_loss(&subj.llama).map_err(llm_exit)?;
    if a.json {
        println!(
            "{}",
            serde_json::json!({"subject": subj.label, "bits_per_weight": subj.bits_per_weight,
                "positions": cache.header.positions, "k": cache.header.k, "kd_loss": loss})
        );
    } else {
        println!(
            "{}: KD loss {loss:.5} over {} positions (top-{} plus the rest); {:.3} bits/w",
            subj.label, cache.header.positions, cache.header.k, subj.bits_per_weight
        );
    }
    Ok(())
}

fn distill_cmd(a: DistillArgs) -> CliResult {
    let store = Store::open(&a.db.db)?;
    let train = open_cache(&store, &a.cache)?;
    let eval = a
        .eval_cache
        .as_deref()
        .map(|c| open_cache(&store, c))
        .transpose()?;
    if eval
        .as_ref()
        .is_some_and(|e| e.header.text_sha256 == train.header.text_sha256)
    {
        return Err(Exit::input(anyhow!(
            "--eval-cache was made from the same text as --cache; report on text the distillation never saw"
        )));
    }
    if a.model.kv_config.is_some() {
        return Err(Exit::input(anyhow!(
            "--kv-config does not apply to distillation (it refines weights against full-precision caches)"
        )));
    }
    let strategy = strategy_of(&a.model)?.ok_or_else(|| {
        Exit::input(anyhow!(
            "give the variant to refine: --strategy FILE or --scheme lut2 …"
        ))
    })?;
    let m = load(&a.model.model)?;
    if train.header.model_sha256 != m.sha256 {
        eprintln!(
            "warning: the cache was made with another teacher model than {}",
            a.model.model
        );
    }
    let (student, report) = qarena_llm::apply(&m, &strategy).map_err(llm_exit)?;
    let settings = qarena_llm::distill::DistillSettings {
        steps: a.steps,
        lr: a.lr,
        warmup_steps: a.warmup_steps,
        min_lr_ratio: a.min_lr_ratio,
        batch: a.batch,
        val_fraction: 0.2,
        eval_every: a.eval_every,
    };
    let eval_before = match &eval {
        Some(e) => Some(
            e.kd_loss(&Llama::new(&student).map_err(llm_exit)?)
                .map_err(llm_exit)?,
        ),
        None => None,
    };
    let started = Instant::now();
    let (refined, r) =
        qarena_llm::distill::refine(&student, &train, &settings, &|line| eprintln!("{line}"))
            .map_err(llm_exit)?;
    let seconds = started.elapsed().as_secs_f64();
    let eval_after = match &eval {
        Some(e) => Some(
            e.kd_loss(&Llama::new(&refined).map_err(llm_exit)?)
                .map_err(llm_exit)?,
        ),
        None => None,
    };
    qarena_llm::safet::write(&refined, &a.output, true).map_err(llm_exit)?;
    let summary = serde_json::json!({
        "model": a.model.model, "strategy": strategy.name(), "bits_per_weight": report.bits_per_weight,
        "seconds": seconds, "report": r,
        "held_out": {"before": eval_before, "after": eval_after},
    });
    let out = a.output.join("distill.json");
    fs_err::write(
        &out,
        serde_json::to_string_pretty(&summary).unwrap_or_default(),
    )
    .map_err(Exit::storage)?;
    println!(
        "{} ({:.3} bits/w): validation KD {:.5} -> {:.5} (best {:.5} at step {} of {}) in {seconds:.0} s",
        strategy.name(),
        report.bits_per_weight,
        r.initial,
        r.final_loss,
        r.best,
        r.best_step,
        a.steps
    );
    if let (Some(b), Some(f)) = (eval_before, eval_after) {
        println!(
            "held-out KD {b:.5} -> {f:.5} ({:+.1}%)",
            100.0 * (f - b) / b.max(f64::MIN_POSITIVE)
        );
    }
    println!("written: {} (F16), {}", a.output.display(), out.display());
    Ok(())
}

fn generate_cmd(a: GenerateArgs) -> CliResult {
    let text = qarena_llm::read_text(&a.prompts).map_err(llm_exit)?;
    let prompts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let strategy = strategy_of(&a.model)?;
    let kv = kv_of(&a.model)?;
    let m = load(&a.model.model)?;
    let reference_model = match &a.reference {
        Some(r) => load(r)?,
        None => m.clone(),
    };
    let reference = Llama::new(&reference_model).map_err(llm_exit)?;
    let subj = subject_kv(&m, &a.model, strategy.as_ref(), kv.as_ref())?;
    let mut rows = Vec::new();
    for p in &prompts {
        let g = qarena_llm::eval::generation_agreement(
            &reference,
            &subj.llama,
            &m.tokenizer,
            p,
            a.max_tokens,
        )
        .map_err(llm_exit)?;
        if !a.json {
            println!(
                "{:>3}/{:<3} same from the start, {:>5.1}% same tokens  {p}",
                g.common_prefix,
                g.reference_tokens,
                100.0 * g.same_token_rate
            );
        }
        rows.push(g);
    }
    let n = rows.len().max(1) as f64;
    let prefix = rows.iter().map(|g| g.common_prefix as f64).sum::<f64>() / n;
    let same = rows.iter().map(|g| g.same_token_rate).sum::<f64>() / n;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "subject": subj.label, "bits_per_weight": subj.bits_per_weight,
                "mean_common_prefix": prefix, "mean_same_token_rate": same, "prompts": rows,
            }))
            .unwrap_or_default()
        );
    } else {
        println!(
            "{}: {} prompts, {prefix:.1} tokens the same from the start on average, {:.1}% same tokens",
            subj.label,
            rows.len(),
            100.0 * same
        );
    }
    Ok(())
}

fn bench_cmd(a: BenchArgs) -> CliResult {
    let strategy = strategy_of(&a.model)?;
    let kv = kv_of(&a.model)?;
    let m = load(&a.model.model)?;
    let subj = subject_kv(&m, &a.model, strategy.as_ref(), kv.as_ref())?;
    let text = "The river runs past the old mill, under the stone bridge and into the valley, ";
    let mut prompt = Vec::new();
    while prompt.len() < a.prompt_tokens.max(1) {
        prompt.extend(m.tokenizer.encode(text).map_err(llm_exit)?);
    }
    prompt.truncate(a.prompt_tokens.max(1));
    eprintln!("f32 runtime (the reference)…");
    let f32_run =
        qarena_llm::bench::throughput(&subj.llama, &prompt, a.gen_tokens, 3).map_err(llm_exit)?;
    let variant = match &strategy {
        Some(s) => qarena_llm::apply(&m, s).map_err(llm_exit)?.0,
        None => m.clone(),
    };
    eprintln!("Q8_0 runtime…");
    let q8 = Llama::new_q8(&variant).map_err(llm_exit)?;
    let q8 = match &kv {
        Some(kv) => q8.with_kv(kv.clone()),
        None => q8,
    };
    let q8_run = qarena_llm::bench::throughput(&q8, &prompt, a.gen_tokens, 3).map_err(llm_exit)?;
    drop(q8);
    let mc = match &a.items {
        Some(p) => {
            let items = read_items(p, Some(a.mc_items))?;
            let t = Instant::now();
            for item in &items {
                qarena_llm::score_item(&subj.llama, &m.tokenizer, item).map_err(llm_exit)?;
            }
            Some((items.len(), t.elapsed().as_secs_f64()))
        }
        None => None,
    };
    let kl = match &a.text {
        Some(p) => {
            let text = qarena_llm::read_text(p).map_err(llm_exit)?;
            let ids = m.tokenizer.encode(&text).map_err(llm_exit)?;
            let t = Instant::now();
            let stop = qarena_engine::install_shutdown_flag();
            let settings = KlSettings {
                max_tokens: a.kl_tokens,
                ..KlSettings::default()
            };
            let r = qarena_llm::kl(&subj.llama, &subj.llama, &ids, settings, &stop, &|_, _| {})
                .map_err(llm_exit)?;
            Some((r.tokens, t.elapsed().as_secs_f64()))
        }
        None => None,
    };
    let rss = qarena_llm::bench::peak_rss_bytes();
    let ratio = |q: f64, f: f64| if f > 0.0 { q / f } else { f64::NAN };
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "subject": subj.label, "bits_per_weight": subj.bits_per_weight,
                "f32": f32_run, "q8_0": q8_run,
                "q8_0_over_f32_prompt": ratio(q8_run.prompt_tokens_per_second, f32_run.prompt_tokens_per_second),
                "q8_0_over_f32_generation": ratio(q8_run.generation_tokens_per_second, f32_run.generation_tokens_per_second),
                "mc": mc.map(|(n, s)| serde_json::json!({"items": n, "seconds": s})),
                "kl": kl.map(|(n, s)| serde_json::json!({"tokens": n, "seconds": s})),
                "peak_rss_bytes": rss,
            }))
            .unwrap_or_default()
        );
        return Ok(());
    }
    println!(
        "{} ({:.3} bits/w), one sequence at a time:",
        subj.label, subj.bits_per_weight
    );
    println!(
        "  f32 runtime (reference): prompt {:.0} tok/s ({} tokens), generation {:.1} tok/s",
        f32_run.prompt_tokens_per_second,
        f32_run.prompt_tokens,
        f32_run.generation_tokens_per_second
    );
    println!(
        "  Q8_0 runtime:            prompt {:.0} tok/s, generation {:.1} tok/s ({:.2}x and {:.2}x the reference)",
        q8_run.prompt_tokens_per_second,
        q8_run.generation_tokens_per_second,
        ratio(q8_run.prompt_tokens_per_second, f32_run.prompt_tokens_per_second),
        ratio(q8_run.generation_tokens_per_second, f32_run.generation_tokens_per_second)
    );
    if let Some((n, s)) = mc {
        println!(
            "  multiple choice: {n} items in {s:.1} s ({:.2} s per item)",
            s / n.max(1) as f64
        );
    }
    if let Some((n, s)) = kl {
        println!("  KL: {n} scored tokens in {s:.1} s (both models f32)");
    }
    if let Some(b) = rss {
        println!("  peak memory {:.0} MiB", b as f64 / 1048576.0);
    }
    Ok(())
}

fn kv_layers_cmd(a: KvLayersArgs) -> CliResult {
    if !a.kv_config.is_file() {
        return Err(Exit::input(anyhow!(
            "KV configuration {} does not exist",
            a.kv_config.display()
        )));
    }
    let kv = qarena_llm::kv::KvQuant::from_file(&a.kv_config).map_err(llm_exit)?;
    let text = qarena_llm::read_text(&a.text).map_err(llm_exit)?;
    let m = load(&a.model)?;
    let ids = m.tokenizer.encode(&text).map_err(llm_exit)?;
    let reference = Llama::new(&m).map_err(llm_exit)?;
    let settings = KlSettings {
        window: a.window,
        warmup: a.warmup,
        max_tokens: a.max_tokens,
    };
    let text_sha = file_sha(&a.text)?;
    let store = Store::open(&a.db.db)?;
    let stop = qarena_engine::install_shutdown_flag();
    let mut rows = Vec::new();
    for layer in 0..m.config.layers {
        let only = kv.only_layer(layer);
        let key = LlmEvalKey {
            kind: "kl".into(),
            subject_sha256: sha256_hex(&format!("{}+kv{}", m.sha256, only.canonical_json())),
            reference_sha256: m.sha256.clone(),
            data_sha256: text_sha.clone(),
            settings: {
                let mut v = serde_json::to_value(settings).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("kv_layer".into(), layer.into());
                    o.insert("kv_config".into(), kv.name.clone().into());
                }
                v
            },
        };
        let summary = match store.find_llm_eval(&key)? {
            Some(rec) => rec.summary,
            None => {
                let subject = Llama::new(&m).map_err(llm_exit)?.with_kv(only);
                let started = Instant::now();
                let r = qarena_llm::kl(&reference, &subject, &ids, settings, &stop, &|_, _| {})
                    .map_err(llm_exit)?;
                let seconds = started.elapsed().as_secs_f64();
                let mut summary = r.summary_json();
                if let Some(o) = summary.as_object_mut() {
                    o.insert("kv_layer".into(), layer.into());
                    o.insert("kv_config".into(), kv.name.clone().into());
                }
                store.insert_llm_eval(&NewLlmEval {
                    kv_stats: Vec::new(),
                    key,
                    subject: format!("{} kv:{}@layer{layer}", a.model, kv.name),
                    strategy: None,
                    bits_per_weight: Some(m.file_bits_per_weight()),
                    data_name: a.text.display().to_string(),
                    summary: summary.clone(),
                    seconds,
                    items: r.token_rows(),
                })?;
                summary
            }
        };
        let f = |k: &str| summary.get(k).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
        if !a.json {
            println!(
                "layer {layer:>3}  mean KL {:.6}  p99 {:.5}  same top-1 {:.1}%",
                f("mean_kl"),
                f("p99_kl"),
                100.0 * f("same_top1")
            );
        }
        rows.push(
            serde_json::json!({"layer": layer, "mean_kl": f("mean_kl"), "p99_kl": f("p99_kl"),
            "same_top1": f("same_top1"), "tokens": f("tokens")}),
        );
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"kv_config": kv.name, "layers": rows})
            )
            .unwrap_or_default()
        );
    }
    Ok(())
}
