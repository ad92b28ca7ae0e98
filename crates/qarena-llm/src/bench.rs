//! Throughput of a model: prompt (prefill) and greedy generation tokens per
//! second, one sequence at a time, in the f32 runtime and in the Q8_0 one.

use std::time::Instant;

use crate::error::Result;
use crate::model::{KvCache, Llama};

/// Tokens per second of one runtime.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Throughput {
    pub prompt_tokens: usize,
    /// Best of `repeats` prefills of the prompt.
    pub prompt_tokens_per_second: f64,
    pub generated_tokens: usize,
    pub generation_tokens_per_second: f64,
}

/// Prefills `prompt` `repeats` times (the best counts) and generates
/// `generate` tokens greedily after it, one at a time through the cache.
pub fn throughput(
    model: &Llama,
    prompt: &[u32],
    generate: usize,
    repeats: usize,
) -> Result<Throughput> {
    let mut best = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        model.forward(prompt, &mut KvCache::new())?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    let mut cache = KvCache::new();
    let logits = model.forward(prompt, &mut cache)?;
    let mut next = logits
        .get(logits.dim(0)? - 1)?
        .argmax(candle_core::D::Minus1)?
        .to_scalar::<u32>()?;
    let t = Instant::now();
    for _ in 0..generate {
        let l = model.forward(&[next], &mut cache)?;
        next = l
            .get(0)?
            .argmax(candle_core::D::Minus1)?
            .to_scalar::<u32>()?;
    }
    let gen_secs = t.elapsed().as_secs_f64();
    Ok(Throughput {
        prompt_tokens: prompt.len(),
        prompt_tokens_per_second: prompt.len() as f64 / best.max(1e-9),
        generated_tokens: generate,
        generation_tokens_per_second: generate as f64 / gen_secs.max(1e-9),
    })
}

/// The process's peak resident memory so far (`VmHWM`), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
