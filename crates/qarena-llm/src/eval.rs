//! What a variant does to the model's answers: next-token agreement with
//! the reference over a text (the statistics llama.cpp's
//! `--kl-divergence` prints), and multiple-choice scoring by option
//! log-likelihood (accuracy and length-normalised accuracy as
//! lm-evaluation-harness defines them).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{DType, Tensor, D};

use crate::error::{LlmError, Result};
use crate::model::{KvCache, Llama};
use crate::tok::Tokenizer;

/// How a text is cut for KL: windows of `window` tokens run from an empty
/// cache, the first `warmup` positions of each only give context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct KlSettings {
    pub window: usize,
    pub warmup: usize,
    /// At most this many scored tokens (the text's start).
    pub max_tokens: usize,
}

impl Default for KlSettings {
    fn default() -> Self {
        KlSettings {
            window: 512,
            warmup: 64,
            max_tokens: 2048,
        }
    }
}

/// Per scored token: KL(reference ‖ subject) of the next-token
/// distributions, whether both rank the same token first, and both
/// models' negative log-likelihood of the token that follows in the text.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct TokenKl {
    pub kl: f64,
    pub same_top1: bool,
    pub nll_reference: f64,
    pub nll_subject: f64,
}

/// The summary over a text.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KlReport {
    pub tokens: usize,
    pub mean_kl: f64,
    pub median_kl: f64,
    pub p99_kl: f64,
    pub max_kl: f64,
    pub same_top1: f64,
    pub ppl_reference: f64,
    pub ppl_subject: f64,
    /// ln(ppl_subject / ppl_reference).
    pub ln_ppl_ratio: f64,
    pub per_token: Vec<TokenKl>,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

impl KlReport {
    /// The figures without the per-token rows, as a JSON object (what is
    /// stored as an evaluation's summary).
    pub fn summary_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.remove("per_token");
        }
        v
    }

    /// The per-token rows as an evaluation stores them.
    pub fn token_rows(&self) -> Vec<(Option<String>, serde_json::Value)> {
        self.per_token
            .iter()
            .map(|t| (None, serde_json::to_value(t).unwrap_or_default()))
            .collect()
    }

    pub fn from_tokens(per_token: Vec<TokenKl>) -> KlReport {
        let n = per_token.len();
        let nf = n.max(1) as f64;
        let mut kls: Vec<f64> = per_token.iter().map(|t| t.kl).collect();
        kls.sort_by(f64::total_cmp);
        let mean = |f: &dyn Fn(&TokenKl) -> f64| per_token.iter().map(f).sum::<f64>() / nf;
        let nll_r = mean(&|t| t.nll_reference);
        let nll_s = mean(&|t| t.nll_subject);
        KlReport {
            tokens: n,
            mean_kl: mean(&|t| t.kl),
            median_kl: percentile(&kls, 0.5),
            p99_kl: percentile(&kls, 0.99),
            max_kl: kls.last().copied().unwrap_or(0.0),
            same_top1: mean(&|t| f64::from(u8::from(t.same_top1))),
            ppl_reference: nll_r.exp(),
            ppl_subject: nll_s.exp(),
            ln_ppl_ratio: nll_s - nll_r,
            per_token,
        }
    }
}

/// Text and item files larger than this are refused before reading.
pub const MAX_DATA_BYTES: u64 = 256 << 20;

fn check_size(path: &Path) -> std::result::Result<(), String> {
    let len = fs_err::metadata(path).map_err(|e| e.to_string())?.len();
    if len > MAX_DATA_BYTES {
        return Err(format!(
            "it holds {len} bytes, more than the {} MiB an evaluation reads; take a part of it",
            MAX_DATA_BYTES >> 20
        ));
    }
    Ok(())
}

/// Reads a UTF-8 text file.
pub fn read_text(path: &Path) -> Result<String> {
    check_size(path).map_err(|reason| LlmError::Text {
        path: path.to_path_buf(),
        reason,
    })?;
    let bytes = fs_err::read(path).map_err(|e| LlmError::Text {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let text = String::from_utf8(bytes).map_err(|_| LlmError::Text {
        path: path.to_path_buf(),
        reason: "not UTF-8 text".into(),
    })?;
    if text.trim().is_empty() {
        return Err(LlmError::Text {
            path: path.to_path_buf(),
            reason: "it is empty".into(),
        });
    }
    Ok(text)
}

/// Log-softmax of every row, `[n, vocab]`, in f32.
fn log_probs(logits: &Tensor) -> Result<Tensor> {
    Ok(candle_nn::ops::log_softmax(logits, D::Minus1)?)
}

/// Next-token agreement of `subject` with `reference` over `tokens`.
pub fn kl(
    reference: &Llama,
    subject: &Llama,
    tokens: &[u32],
    s: KlSettings,
    stop: &AtomicBool,
    progress: &dyn Fn(usize, usize),
) -> Result<KlReport> {
    kl_pruned(reference, subject, tokens, s, None, stop, progress)
}

/// [`kl`] with the subject's cache pruned after each window's warm-up:
/// the subject prefills the warm-up tokens, keeps a share of them as
/// `prune` says, and continues from the pruned cache; the reference keeps
/// every token.
pub fn kl_pruned(
    reference: &Llama,
    subject: &Llama,
    tokens: &[u32],
    s: KlSettings,
    prune: Option<crate::prune::Prune>,
    stop: &AtomicBool,
    progress: &dyn Fn(usize, usize),
) -> Result<KlReport> {
    match prune {
        None => kl_from(
            Reference::Model(reference),
            subject,
            tokens,
            s,
            None,
            stop,
            progress,
        ),
        Some(p) => {
            let mut prepare = |context: &[u32]| prune_context(subject, context, p);
            kl_from(
                Reference::Model(reference),
                subject,
                tokens,
                s,
                Some(&mut prepare),
                stop,
                progress,
            )
        }
    }
}

/// The cache of `context` as `model` prefills it, pruned as `prune` says.
fn prune_context(model: &Llama, context: &[u32], prune: crate::prune::Prune) -> Result<KvCache> {
    let mut cache = KvCache::new();
    if prune.needs_attention() {
        cache.track_attention();
    }
    if !context.is_empty() {
        model.forward(context, &mut cache)?;
        prune.apply(&mut cache)?;
    }
    Ok(cache)
}

/// [`kl`] where the receiver continues each window from the cache of its
/// warm-up tokens as `link` delivers it (prefilled by the sharer, pruned,
/// quantized and sent); the reference runs every token itself. Returns
/// the report and the mean bytes sent per window.
pub fn kl_via(
    reference: &Llama,
    receiver: &Llama,
    tokens: &[u32],
    s: KlSettings,
    link: &crate::transfer::Link<'_>,
    stop: &AtomicBool,
    progress: &dyn Fn(usize, usize),
) -> Result<(KlReport, f64)> {
    let mut sent = Vec::new();
    let mut prepare = |context: &[u32]| -> Result<KvCache> {
        let d = link.deliver(&receiver.config, context)?;
        sent.push(d.message.len() as f64);
        Ok(d.cache)
    };
    let r = kl_from(
        Reference::Model(reference),
        receiver,
        tokens,
        s,
        Some(&mut prepare),
        stop,
        progress,
    )?;
    let mean = sent.iter().sum::<f64>() / sent.len().max(1) as f64;
    Ok((r, mean))
}

/// The reference's log-probabilities over every window [`kl`] scores of a
/// text, computed once for many subjects ([`kl_cached`]): a screen that
/// measures many variants against one original runs the original once.
pub struct ReferenceWindows {
    tokens: Vec<u32>,
    settings: KlSettings,
    vocab: usize,
    context: usize,
    windows: Vec<Tensor>,
    scored: usize,
    covered: usize,
}

impl ReferenceWindows {
    /// Runs `reference` over the windows of `tokens` that `s` scores.
    pub fn new(reference: &Llama, tokens: &[u32], s: KlSettings) -> Result<ReferenceWindows> {
        let (mut windows, mut scored, mut covered) = (Vec::new(), 0, 0);
        let (window, warmup) = window_of(&reference.config, &reference.config, s);
        for (start, end) in window_spans(tokens.len(), window, warmup, s.max_tokens) {
            covered = covered.max(end);
            let chunk = &tokens[start..end];
            scored += scored_in(chunk.len(), warmup);
            windows.push(log_probs(&reference.forward(chunk, &mut KvCache::new())?)?);
        }
        Ok(ReferenceWindows {
            tokens: tokens.to_vec(),
            settings: s,
            vocab: reference.config.vocab,
            context: reference.config.context,
            windows,
            scored: scored.min(s.max_tokens),
            covered,
        })
    }

    /// How many tokens [`kl_cached`] scores: its report's length.
    pub fn scored_tokens(&self) -> usize {
        self.scored
    }

    /// How many of the text's first tokens the windows read (context
    /// included): the tokens after them are free for other uses, such as
    /// calibration, without overlapping what is scored.
    pub fn covered_tokens(&self) -> usize {
        self.covered
    }
}

/// [`kl`] against the reference's stored windows; the subject must have
/// the reference's vocabulary and context.
pub fn kl_cached(
    reference: &ReferenceWindows,
    subject: &Llama,
    stop: &AtomicBool,
) -> Result<KlReport> {
    if subject.config.context != reference.context {
        return Err(LlmError::Mismatch(format!(
            "the subject's context ({} tokens) is not the reference's ({})",
            subject.config.context, reference.context
        )));
    }
    kl_from(
        Reference::Windows(reference),
        subject,
        &reference.tokens,
        reference.settings,
        None,
        stop,
        &|_, _| {},
    )
}

/// Where the reference's log-probabilities come from.
#[derive(Clone, Copy)]
enum Reference<'a> {
    Model(&'a Llama),
    Windows(&'a ReferenceWindows),
}

/// The window length and warm-up `s` gives two models.
fn window_of(
    a: &crate::weights::Config,
    b: &crate::weights::Config,
    s: KlSettings,
) -> (usize, usize) {
    let window = s.window.clamp(2, a.context.min(b.context));
    (window, s.warmup.min(window - 1))
}

/// The (start, end) of every window the KL loop runs over a text of `n`
/// tokens, up to the one that brings the scored tokens to `max_tokens`.
fn window_spans(n: usize, window: usize, warmup: usize, max_tokens: usize) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let (mut start, mut scored) = (0, 0);
    while start + 1 < n && scored < max_tokens {
        let end = (start + window).min(n);
        scored += scored_in(end - start, warmup);
        spans.push((start, end));
        if end == n {
            break;
        }
        start = end;
    }
    spans
}

/// Tokens a window of `len` scores after `warmup` tokens of context: each
/// position but the last predicts the next token.
fn scored_in(len: usize, warmup: usize) -> usize {
    let predictions = len.saturating_sub(1);
    predictions - warmup.min(predictions)
}

/// The KL loop: `prepare`, when given, turns each window's warm-up tokens
/// into the cache the subject continues from.
#[allow(clippy::type_complexity)]
fn kl_from(
    reference: Reference<'_>,
    subject: &Llama,
    tokens: &[u32],
    s: KlSettings,
    mut prepare: Option<&mut dyn FnMut(&[u32]) -> Result<KvCache>>,
    stop: &AtomicBool,
    progress: &dyn Fn(usize, usize),
) -> Result<KlReport> {
    let (vocab, window, warmup) = match reference {
        Reference::Model(m) => {
            let (w, u) = window_of(&m.config, &subject.config, s);
            (m.config.vocab, w, u)
        }
        Reference::Windows(r) => {
            let c = &subject.config;
            let (w, u) = window_of(c, c, s);
            (r.vocab, w, u)
        }
    };
    if vocab != subject.config.vocab {
        return Err(LlmError::Mismatch(format!(
            "the vocabularies differ ({} and {} tokens): KL needs the same tokenizer",
            vocab, subject.config.vocab
        )));
    }
    let mut out = Vec::new();
    for (k, (startw, end)) in window_spans(tokens.len(), window, warmup, s.max_tokens)
        .into_iter()
        .enumerate()
    {
        if stop.load(Ordering::SeqCst) {
            return Err(LlmError::Interrupted);
        }
        let chunk = &tokens[startw..end];
        let lr = match reference {
            Reference::Model(m) => log_probs(&m.forward(chunk, &mut KvCache::new())?)?,
            Reference::Windows(r) => r.windows.get(k).cloned().ok_or_else(|| {
                LlmError::Mismatch("the reference's windows do not cover the text".into())
            })?,
        };
        // Position i predicts token i + 1 of the chunk.
        let first = warmup.min(chunk.len() - 1);
        let scored = scored_in(chunk.len(), warmup);
        // The subject's log-probabilities from position `first` on.
        let ls = match prepare.as_mut() {
            Some(prepare) if first > 0 && scored > 0 => {
                let mut cache = prepare(&chunk[..first])?;
                log_probs(&subject.forward(&chunk[first..], &mut cache)?)?
            }
            _ => log_probs(&subject.forward(chunk, &mut KvCache::new())?)?.narrow(
                0,
                first,
                chunk.len() - first,
            )?,
        };
        if scored > 0 {
            let lr = lr.narrow(0, first, scored)?;
            let ls = ls.narrow(0, 0, scored)?;
            let kl = (lr.exp()? * (&lr - &ls)?)?
                .sum(D::Minus1)?
                .to_vec1::<f32>()?;
            let tr = lr.argmax(D::Minus1)?.to_vec1::<u32>()?;
            let ts = ls.argmax(D::Minus1)?.to_vec1::<u32>()?;
            let next = Tensor::from_slice(
                &chunk[first + 1..first + 1 + scored],
                (scored, 1),
                lr.device(),
            )?;
            let nr = lr
                .gather(&next, 1)?
                .squeeze(1)?
                .to_dtype(DType::F32)?
                .to_vec1::<f32>()?;
            let ns = ls.gather(&next, 1)?.squeeze(1)?.to_vec1::<f32>()?;
            for i in 0..scored {
                if out.len() >= s.max_tokens {
                    break;
                }
                out.push(TokenKl {
                    kl: f64::from(kl[i]).max(0.0),
                    same_top1: tr[i] == ts[i],
                    nll_reference: -f64::from(nr[i]),
                    nll_subject: -f64::from(ns[i]),
                });
            }
        }
        progress(out.len(), s.max_tokens.min(tokens.len()));
    }
    if out.is_empty() {
        return Err(LlmError::Mismatch(format!(
            "the text is too short: {} tokens leave nothing to score after {warmup} of context",
            tokens.len()
        )));
    }
    if out
        .iter()
        .any(|t| !t.kl.is_finite() || !t.nll_subject.is_finite())
    {
        return Err(LlmError::Mismatch(
            "the subject's outputs are not finite (the variant broke the model)".into(),
        ));
    }
    Ok(KlReport::from_tokens(out))
}

/// One multiple-choice item.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct Item {
    #[serde(default)]
    pub id: Option<String>,
    pub question: String,
    pub choices: Vec<String>,
    pub answer: usize,
}

/// Reads a JSONL file of items, refusing malformed lines by number.
pub fn read_items(path: &Path) -> Result<Vec<Item>> {
    check_size(path).map_err(|reason| LlmError::Items {
        path: path.to_path_buf(),
        line: 0,
        reason,
    })?;
    let text = fs_err::read_to_string(path).map_err(|e| LlmError::Items {
        path: path.to_path_buf(),
        line: 0,
        reason: e.to_string(),
    })?;
    let mut items = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| LlmError::Items {
            path: path.to_path_buf(),
            line: i + 1,
            reason,
        };
        let item: Item = serde_json::from_str(line).map_err(|e| {
            bad(format!(
                "not an item ({{\"question\", \"choices\", \"answer\"}}): {e}"
            ))
        })?;
        if item.choices.len() < 2 {
            return Err(bad("an item needs at least two choices".into()));
        }
        if item.answer >= item.choices.len() {
            return Err(bad(format!(
                "answer {} is not the index of one of its {} choices",
                item.answer,
                item.choices.len()
            )));
        }
        items.push(item);
    }
    if items.is_empty() {
        return Err(LlmError::Items {
            path: path.to_path_buf(),
            line: 0,
            reason: "it holds no items".into(),
        });
    }
    Ok(items)
}

/// How a model scored one item: each option's summed log-likelihood and
/// its length in bytes, the pick by sum (`acc`) and by sum per byte
/// (`acc_norm`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ItemScore {
    pub loglik: Vec<f64>,
    pub bytes: Vec<usize>,
    pub pick: usize,
    pub pick_norm: usize,
    pub correct: bool,
    pub correct_norm: bool,
}

impl ItemScore {
    /// The picks by sum and by sum per byte from each option's
    /// log-likelihood and length.
    fn new(item: &Item, loglik: Vec<f64>, bytes: Vec<usize>) -> ItemScore {
        let norm: Vec<f64> = loglik
            .iter()
            .zip(&bytes)
            .map(|(l, b)| l / *b as f64)
            .collect();
        let pick = argmax(&loglik);
        let pick_norm = argmax(&norm);
        ItemScore {
            pick,
            pick_norm,
            correct: pick == item.answer,
            correct_norm: pick_norm == item.answer,
            loglik,
            bytes,
        }
    }
}

/// The context of an item, as lm-evaluation-harness writes it.
pub fn context(item: &Item) -> String {
    format!("Question: {}\nAnswer:", item.question)
}

fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |(bi, bv), (i, x)| {
            if *x > bv {
                (i, *x)
            } else {
                (bi, bv)
            }
        })
        .0
}

/// Scores an item: the context runs once, each option continues from a
/// snapshot of its cache. An option is the tokens of `context + " " +
/// option` after the context's tokens (so merges at the boundary are the
/// tokenizer's); when the context's tokens are not a prefix of them, the
/// option runs from scratch.
pub fn score_item(model: &Llama, tok: &Tokenizer, item: &Item) -> Result<ItemScore> {
    let ctx_text = context(item);
    let ctx = tok.encode(&ctx_text)?;
    let mut cache = KvCache::new();
    let ctx_logits = log_probs(&model.forward(&ctx, &mut cache)?)?;
    let last = ctx_logits.get(ctx.len() - 1)?;
    let mut loglik = Vec::with_capacity(item.choices.len());
    let mut bytes = Vec::with_capacity(item.choices.len());
    for choice in &item.choices {
        let full = tok.encode(&format!("{ctx_text} {choice}"))?;
        let ll = if full.len() > ctx.len() && full[..ctx.len()] == ctx[..] {
            let cont = &full[ctx.len()..];
            let mut c = cache.clone();
            let mut sum = f64::from(last.get(cont[0] as usize)?.to_scalar::<f32>()?);
            if cont.len() > 1 {
                let lp = log_probs(&model.forward(&cont[..cont.len() - 1], &mut c)?)?;
                for (i, t) in cont[1..].iter().enumerate() {
                    sum += f64::from(lp.get(i)?.get(*t as usize)?.to_scalar::<f32>()?);
                }
            }
            sum
        } else {
            // The boundary merged: score the option's own tokens from a
            // fresh run of the whole text.
            let own = tok.encode(&format!(" {choice}"))?;
            let mut seq = ctx.clone();
            seq.extend(&own);
            let lp = log_probs(&model.forward(&seq, &mut KvCache::new())?)?;
            let mut sum = 0.0;
            for (k, t) in own.iter().enumerate() {
                let pos = ctx.len() - 1 + k;
                sum += f64::from(lp.get(pos)?.get(*t as usize)?.to_scalar::<f32>()?);
            }
            sum
        };
        loglik.push(ll);
        bytes.push(choice.len().max(1));
    }
    Ok(ItemScore::new(item, loglik, bytes))
}

/// [`score_item`] with the context's cache pruned before the options are
/// scored: the subject prefills the context but its last token, keeps a
/// share of the cached tokens as `prune` says, and every option runs from
/// the pruned cache (starting with the context's last token), as a
/// receiver answering from a received cache would.
pub fn score_item_pruned(
    model: &Llama,
    tok: &Tokenizer,
    item: &Item,
    prune: crate::prune::Prune,
) -> Result<ItemScore> {
    score_item_from(model, tok, item, &mut |prefix| {
        prune_context(model, prefix, prune)
    })
}

/// [`score_item`] by a receiver answering from the cache of the context
/// (but its last token) as `link` delivers it; returns the score and the
/// bytes sent.
pub fn score_item_via(
    receiver: &Llama,
    tok: &Tokenizer,
    item: &Item,
    link: &crate::transfer::Link<'_>,
) -> Result<(ItemScore, usize)> {
    let mut sent = 0;
    let score = score_item_from(receiver, tok, item, &mut |prefix| {
        let d = link.deliver(&receiver.config, prefix)?;
        sent = d.message.len();
        Ok(d.cache)
    })?;
    Ok((score, sent))
}

/// Scores an item from the cache `prepare` makes of the context but its
/// last token: every option runs from that cache, starting with the
/// context's last token.
fn score_item_from(
    model: &Llama,
    tok: &Tokenizer,
    item: &Item,
    prepare: &mut dyn FnMut(&[u32]) -> Result<KvCache>,
) -> Result<ItemScore> {
    let ctx_text = context(item);
    let ctx = tok.encode(&ctx_text)?;
    let (prefix, last) = ctx.split_at(ctx.len() - 1);
    let cache = prepare(prefix)?;
    let mut loglik = Vec::with_capacity(item.choices.len());
    let mut bytes = Vec::with_capacity(item.choices.len());
    for choice in &item.choices {
        let full = tok.encode(&format!("{ctx_text} {choice}"))?;
        let cont: Vec<u32> = if full.len() > ctx.len() && full[..ctx.len()] == ctx[..] {
            full[ctx.len()..].to_vec()
        } else {
            tok.encode(&format!(" {choice}"))?
        };
        let mut seq = last.to_vec();
        seq.extend(&cont[..cont.len().saturating_sub(1)]);
        let lp = log_probs(&model.forward(&seq, &mut cache.clone())?)?;
        let mut sum = 0.0;
        for (i, t) in cont.iter().enumerate() {
            sum += f64::from(lp.get(i)?.get(*t as usize)?.to_scalar::<f32>()?);
        }
        loglik.push(sum);
        bytes.push(choice.len().max(1));
    }
    Ok(ItemScore::new(item, loglik, bytes))
}

/// Accuracy over scored items.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Accuracy {
    pub items: usize,
    pub acc: f64,
    pub acc_norm: f64,
}

pub fn accuracy(scores: &[ItemScore]) -> Accuracy {
    let n = scores.len().max(1) as f64;
    Accuracy {
        items: scores.len(),
        acc: scores.iter().filter(|s| s.correct).count() as f64 / n,
        acc_norm: scores.iter().filter(|s| s.correct_norm).count() as f64 / n,
    }
}

/// How far a subject's greedy continuation of one prompt follows the
/// reference's.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GenerationAgreement {
    pub prompt: String,
    pub reference: String,
    pub subject: String,
    /// Tokens both continuations share from the start.
    pub common_prefix: usize,
    /// Tokens the reference generated.
    pub reference_tokens: usize,
    /// Share of positions (up to the shorter length) with the same token.
    pub same_token_rate: f64,
}

/// The ChatML user turn SmolLM2-Instruct and similar models expect.
pub fn chat_prompt(text: &str) -> String {
    format!("<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n")
}

/// Greedy continuations of `prompt` by both models, compared.
pub fn generation_agreement(
    reference: &Llama,
    subject: &Llama,
    tok: &Tokenizer,
    prompt: &str,
    max_tokens: usize,
) -> Result<GenerationAgreement> {
    let ids = tok.encode(&chat_prompt(prompt))?;
    let r = reference.generate(&ids, max_tokens, tok.eos)?;
    let s = subject.generate(&ids, max_tokens, tok.eos)?;
    let common_prefix = r.iter().zip(&s).take_while(|(a, b)| a == b).count();
    let n = r.len().min(s.len());
    let same = r.iter().zip(&s).filter(|(a, b)| a == b).count();
    Ok(GenerationAgreement {
        prompt: prompt.to_string(),
        reference: tok.decode(&r)?,
        subject: tok.decode(&s)?,
        common_prefix,
        reference_tokens: r.len(),
        same_token_rate: if n == 0 { 1.0 } else { same as f64 / n as f64 },
    })
}
