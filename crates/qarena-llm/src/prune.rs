//! Token pruning of a prefilled key/value cache: keep a share of the
//! context's cached tokens by the attention they received (heavy hitters),
//! by key norm, or a recency window plus the first tokens (attention
//! sinks). Positions stay absolute (rotary angles were applied before
//! caching) and later masks are sized from what the cache holds.

use crate::error::{LlmError, Result};
use crate::model::KvCache;

/// How tokens are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrunePolicy {
    /// The tokens that received the most attention during the prefill, on
    /// average over the layers, heads and queries that saw them (H2O's
    /// heavy hitters, without its bias towards early tokens).
    Attention,
    /// The tokens whose keys have the smallest mean L2 norm (small-norm keys
    /// draw attention).
    KeyNorm,
    /// The first `sinks` tokens and the most recent ones.
    Recency { sinks: usize },
}

/// A policy and the share of cached tokens it keeps.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Prune {
    pub policy: PrunePolicy,
    pub keep: f64,
}

/// Attention sinks a recency window keeps by default.
pub const DEFAULT_SINKS: usize = 4;

impl std::str::FromStr for Prune {
    type Err = LlmError;
    /// `attention:0.5`, `key_norm:0.25`, `recency:0.1` (or `recency:0.1:8`
    /// for 8 sinks).
    fn from_str(s: &str) -> Result<Prune> {
        let bad = || {
            LlmError::Mismatch(format!(
                "pruning `{s}` is not POLICY:SHARE with POLICY attention, key_norm or recency[:SINKS] and 0 < SHARE <= 1 (e.g. attention:0.5)"
            ))
        };
        let mut parts = s.split(':');
        let policy = parts.next().ok_or_else(bad)?;
        let keep: f64 = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        if !(keep > 0.0 && keep <= 1.0) {
            return Err(bad());
        }
        let policy = match (policy, parts.next()) {
            ("attention", None) => PrunePolicy::Attention,
            ("key_norm", None) => PrunePolicy::KeyNorm,
            ("recency", None) => PrunePolicy::Recency {
                sinks: DEFAULT_SINKS,
            },
            ("recency", Some(n)) => PrunePolicy::Recency {
                sinks: n.parse().map_err(|_| bad())?,
            },
            _ => return Err(bad()),
        };
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Prune { policy, keep })
    }
}

impl std::fmt::Display for Prune {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.policy {
            PrunePolicy::Attention => write!(f, "attention:{}", self.keep),
            PrunePolicy::KeyNorm => write!(f, "key_norm:{}", self.keep),
            PrunePolicy::Recency { sinks } => write!(f, "recency:{}:{sinks}", self.keep),
        }
    }
}

impl Prune {
    /// Whether the prefill must track attention for this policy.
    pub fn needs_attention(&self) -> bool {
        self.policy == PrunePolicy::Attention
    }

    /// The cached tokens kept, in order (at least one).
    pub fn choose(&self, cache: &KvCache) -> Result<Vec<usize>> {
        let len = cache.len();
        let n = ((len as f64 * self.keep).ceil() as usize).clamp(1.min(len), len);
        let mut keep: Vec<usize> = match self.policy {
            PrunePolicy::Recency { sinks } => {
                let sinks = sinks.min(n);
                (0..sinks).chain(len - (n - sinks)..len).collect()
            }
            PrunePolicy::Attention | PrunePolicy::KeyNorm => {
                let (score, highest): (Vec<f64>, bool) = match self.policy {
                    PrunePolicy::Attention => (
                        cache.attention_mass().ok_or_else(|| {
                            LlmError::Mismatch(
                                "attention pruning needs the prefill's attention (KvCache::track_attention)".into(),
                            )
                        })?,
                        true,
                    ),
                    _ => (cache.key_norms()?, false),
                };
                let mut order: Vec<usize> = (0..len).collect();
                order.sort_by(|a, b| {
                    let o = score[*a].total_cmp(&score[*b]);
                    if highest {
                        o.reverse()
                    } else {
                        o
                    }
                });
                order.truncate(n);
                order
            }
        };
        keep.sort_unstable();
        keep.dedup();
        Ok(keep)
    }

    /// Prunes `cache` in place; returns the tokens kept.
    pub fn apply(&self, cache: &mut KvCache) -> Result<usize> {
        let keep = self.choose(cache)?;
        cache.retain(&keep)?;
        Ok(keep.len())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code
    use super::*;

    #[test]
    fn pruning_specs_parse_and_refuse_nonsense() {
        let p: Prune = "recency:0.25:2".parse().unwrap();
        assert_eq!(p.policy, PrunePolicy::Recency { sinks: 2 });
        assert_eq!(p.to_string().parse::<Prune>().unwrap(), p);
        assert_eq!(
            "attention:0.5".parse::<Prune>().unwrap().policy,
            PrunePolicy::Attention
        );
        for bad in [
            "",
            "attention",
            "attention:0",
            "attention:1.5",
            "random:0.5",
            "key_norm:0.5:3",
            "recency:0.5:x",
        ] {
            assert!(bad.parse::<Prune>().is_err(), "{bad}");
        }
    }
}
