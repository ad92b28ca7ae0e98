//! Teacher-logit caches: the reference's top-K next-token log-probabilities
//! (and the probability mass of the rest, the tail) at every scored
//! position of a text, in a compact file, so distillation and KD losses
//! never rerun the teacher.
//!
//! File layout (little-endian): `QTLC`, version `u32`, header length
//! `u32`, the header as JSON ([`CacheHeader`]), the text's token ids
//! (`u32` each), then per scored position `k` token ids (`u32`), `k`
//! log-probabilities (`f32`) and the tail's log-probability (`f32`).
//! Every size is checked against the file's length before anything is
//! allocated.

use std::path::Path;

use candle_core::{Tensor, D};
use serde::{Deserialize, Serialize};

use crate::error::{LlmError, Result};
use crate::model::{KvCache, Llama};

const MAGIC: &[u8; 4] = b"QTLC";
const VERSION: u32 = 1;

/// What a cache holds and how it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheHeader {
    pub model_sha256: String,
    pub text_sha256: String,
    pub k: usize,
    pub window: usize,
    pub warmup: usize,
    /// Token ids stored (the text's first tokens).
    pub tokens: usize,
    /// Scored positions: in each window of `window` tokens, positions
    /// `warmup..window - 1` predict the token after them.
    pub positions: usize,
}

/// A loaded cache.
#[derive(Debug, Clone, PartialEq)]
pub struct TeacherCache {
    pub header: CacheHeader,
    pub token_ids: Vec<u32>,
    /// Per scored position, in order: top-k ids, their log-probabilities,
    /// the tail's log-probability.
    pub top_ids: Vec<u32>,
    pub top_logp: Vec<f32>,
    pub tail_logp: Vec<f32>,
}

/// The windows of a token sequence: `(start, len)`, each run from an
/// empty cache, the last one shorter.
pub fn windows(tokens: usize, window: usize) -> Vec<(usize, usize)> {
    let window = window.max(2);
    let mut out = Vec::new();
    let mut s = 0;
    while s + 1 < tokens {
        let len = window.min(tokens - s);
        out.push((s, len));
        s += len;
    }
    out
}

/// The positions of a window that are scored (predicting the next token).
pub fn scored_range(len: usize, warmup: usize) -> std::ops::Range<usize> {
    warmup.min(len.saturating_sub(1))..len.saturating_sub(1)
}

fn bad(path: &Path, reason: impl Into<String>) -> LlmError {
    LlmError::Text {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

impl TeacherCache {
    /// Runs the teacher over `tokens` and keeps its top-`k` at every scored
    /// position.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        teacher: &Llama,
        model_sha256: &str,
        text_sha256: &str,
        tokens: &[u32],
        k: usize,
        window: usize,
        warmup: usize,
        progress: &dyn Fn(usize, usize),
    ) -> Result<TeacherCache> {
        let k = k.clamp(1, teacher.config.vocab);
        let wins = windows(tokens.len(), window);
        let (mut top_ids, mut top_logp, mut tail_logp) = (Vec::new(), Vec::new(), Vec::new());
        for (wi, (s, len)) in wins.iter().enumerate() {
            let logits = teacher.forward(&tokens[*s..s + len], &mut KvCache::new())?;
            let lp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
            for pos in scored_range(*len, warmup) {
                let row = lp.get(pos)?.to_vec1::<f32>()?;
                let mut order: Vec<u32> = (0..row.len() as u32).collect();
                order.select_nth_unstable_by(k - 1, |a, b| {
                    row[*b as usize].total_cmp(&row[*a as usize])
                });
                let mut top: Vec<u32> = order[..k].to_vec();
                top.sort_by(|a, b| row[*b as usize].total_cmp(&row[*a as usize]));
                let mass: f64 = top.iter().map(|i| f64::from(row[*i as usize]).exp()).sum();
                let tail = (1.0 - mass).max(1e-12).ln() as f32;
                for i in &top {
                    top_ids.push(*i);
                    top_logp.push(row[*i as usize]);
                }
                tail_logp.push(tail);
            }
            progress(wi + 1, wins.len());
        }
        let positions = tail_logp.len();
        Ok(TeacherCache {
            header: CacheHeader {
                model_sha256: model_sha256.to_string(),
                text_sha256: text_sha256.to_string(),
                k,
                window,
                warmup,
                tokens: tokens.len(),
                positions,
            },
            token_ids: tokens.to_vec(),
            top_ids,
            top_logp,
            tail_logp,
        })
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let header = serde_json::to_vec(&self.header).map_err(|e| bad(path, e.to_string()))?;
        let mut out = Vec::with_capacity(
            12 + header.len()
                + 4 * (self.token_ids.len() + 2 * self.top_ids.len() + self.tail_logp.len()),
        );
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        for t in &self.token_ids {
            out.extend_from_slice(&t.to_le_bytes());
        }
        let k = self.header.k;
        for p in 0..self.header.positions {
            for i in &self.top_ids[p * k..(p + 1) * k] {
                out.extend_from_slice(&i.to_le_bytes());
            }
            for v in &self.top_logp[p * k..(p + 1) * k] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&self.tail_logp[p].to_le_bytes());
        }
        let tmp = path.with_extension("part");
        fs_err::write(&tmp, out).map_err(|e| LlmError::Io {
            path: tmp.clone(),
            source: e,
        })?;
        fs_err::rename(&tmp, path).map_err(|e| LlmError::Io {
            path: path.to_path_buf(),
            source: e,
        })
    }

    /// Reads a cache, refusing any size the file cannot hold.
    pub fn read(path: &Path) -> Result<TeacherCache> {
        let bytes = fs_err::read(path).map_err(|e| LlmError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        if bytes.len() < 12 || &bytes[..4] != MAGIC {
            return Err(bad(path, "not a teacher-logit cache (no QTLC header)"));
        }
        let word = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        if word(4) != VERSION {
            return Err(bad(
                path,
                format!("cache version {} is not {VERSION}", word(4)),
            ));
        }
        let hlen = word(8) as usize;
        let body = 12usize
            .checked_add(hlen)
            .filter(|e| *e <= bytes.len())
            .ok_or_else(|| bad(path, "the header is longer than the file"))?;
        let header: CacheHeader = serde_json::from_slice(&bytes[12..body])
            .map_err(|e| bad(path, format!("the header is not valid: {e}")))?;
        let need = (header.tokens as u64)
            .checked_add(
                (header.positions as u64)
                    .saturating_mul((header.k as u64).saturating_mul(2).saturating_add(1)),
            )
            .and_then(|w| w.checked_mul(4))
            .and_then(|b| b.checked_add(body as u64));
        if need != Some(bytes.len() as u64) || header.k == 0 {
            return Err(bad(
                path,
                "the header's sizes do not match the file's length (truncated or not a cache)",
            ));
        }
        let mut at = body;
        let mut take = |n: usize| -> Vec<u32> {
            let v = (0..n).map(|i| word(at + 4 * i)).collect();
            at += 4 * n;
            v
        };
        let token_ids = take(header.tokens);
        let k = header.k;
        let (mut top_ids, mut top_logp, mut tail_logp) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..header.positions {
            top_ids.extend(take(k));
            top_logp.extend(take(k).into_iter().map(f32::from_bits));
            tail_logp.extend(take(1).into_iter().map(f32::from_bits));
        }
        if top_ids.iter().any(|i| *i as usize >= 1 << 24)
            || top_logp
                .iter()
                .chain(&tail_logp)
                .any(|v| !v.is_finite() || *v > 1e-3)
        {
            return Err(bad(
                path,
                "the cache holds impossible token ids or log-probabilities",
            ));
        }
        Ok(TeacherCache {
            header,
            token_ids,
            top_ids,
            top_logp,
            tail_logp,
        })
    }

    /// The scored positions of window `w` as `(window start, window
    /// length, first position index in the cache)`.
    pub fn window_layout(&self) -> Vec<(usize, usize, usize)> {
        let mut first = 0;
        windows(self.header.tokens, self.header.window)
            .into_iter()
            .map(|(s, len)| {
                let out = (s, len, first);
                first += scored_range(len, self.header.warmup).len();
                out
            })
            .collect()
    }

    /// The KD loss of a student's logits for window `(start, len, first)`:
    /// per scored position, KL(teacher ‖ student) over the teacher's top-k
    /// tokens and one bin for the rest; the mean over the window's scored
    /// positions, as a scalar tensor (differentiable in the logits).
    pub fn kd_window(&self, logits: &Tensor, len: usize, first: usize) -> Result<Tensor> {
        let range = scored_range(len, self.header.warmup);
        let n = range.len();
        let k = self.header.k;
        let device = logits.device();
        let ls = candle_nn::ops::log_softmax(&logits.narrow(0, range.start, n)?, D::Minus1)?;
        let ids = Tensor::from_slice(&self.top_ids[first * k..(first + n) * k], (n, k), device)?;
        let t_lp = Tensor::from_slice(&self.top_logp[first * k..(first + n) * k], (n, k), device)?;
        let t_tail = Tensor::from_slice(&self.tail_logp[first..first + n], n, device)?;
        let s_top = ls.gather(&ids, 1)?;
        // The student's tail: log(1 - sum of its top-k probabilities).
        let s_tail = (1.0 - s_top.exp()?.sum(1)?)?
            .clamp(1e-12f32, 1.0f32)?
            .log()?;
        let top = (t_lp.exp()? * (&t_lp - &s_top)?)?.sum(1)?;
        let tail = (t_tail.exp()? * (&t_tail - &s_tail)?)?;
        Ok((top + tail)?.mean_all()?)
    }

    /// The mean KD loss of `student` over the whole cache.
    pub fn kd_loss(&self, student: &Llama) -> Result<f64> {
        let mut sum = 0.0;
        let mut count = 0usize;
        for (s, len, first) in self.window_layout() {
            let n = scored_range(len, self.header.warmup).len();
            if n == 0 {
                continue;
            }
            let logits = student.forward(&self.token_ids[s..s + len], &mut KvCache::new())?;
            let l = self.kd_window(&logits, len, first)?.to_scalar::<f32>()?;
            sum += f64::from(l) * n as f64;
            count += n;
        }
        Ok(if count == 0 { 0.0 } else { sum / count as f64 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_tokens_and_score_after_the_warmup() {
        assert_eq!(windows(10, 4), [(0, 4), (4, 4), (8, 2)]);
        assert_eq!(windows(9, 4), [(0, 4), (4, 4)]);
        assert!(windows(1, 4).is_empty());
        assert_eq!(scored_range(4, 1), 1..3);
        assert_eq!(scored_range(2, 5), 1..1);
    }
}
