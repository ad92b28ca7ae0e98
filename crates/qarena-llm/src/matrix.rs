//! An experiment matrix for cache to cache: experiments with ids, each a
//! sharer, a receiver, a KV configuration and a pruning, run as one sweep
//! by `qarena llm kv-sweep`.
//!
//! ```toml
//! name = "kv"                       # run tags are NAME-ID
//! model = "smollm2"                 # or a model file
//! items = "../data/llm/items.jsonl" # paths are relative to this file
//! text = "../data/llm/text-eval.txt"
//! sharer = "original"               # defaults for every experiment:
//! receiver = "original"             # original, a strategy file or SCHEME[@GRANULARITY]
//!
//! [[experiment]]
//! id = "F0"                         # the full f16 cache: the baseline
//!
//! [[experiment]]
//! id = "A2"
//! kv = { k = { scheme = "int4", axis = "channel" }, v = { scheme = "int4" } }
//!
//! [[experiment]]
//! id = "C1"
//! kv = "kv-int4-best.toml"          # or a KV configuration file
//! prune = "attention:0.25"
//! receiver = "int8"
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{LlmError, Result};
use crate::kv::KvQuant;
use crate::prune::Prune;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatrixText {
    name: String,
    #[serde(default = "default_model")]
    model: String,
    #[serde(default)]
    items: Option<PathBuf>,
    #[serde(default)]
    text: Option<PathBuf>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    kl_tokens: Option<usize>,
    #[serde(default)]
    window: Option<usize>,
    #[serde(default)]
    warmup: Option<usize>,
    #[serde(default)]
    sharer: Option<String>,
    #[serde(default)]
    receiver: Option<String>,
    #[serde(default)]
    experiment: Vec<ExperimentText>,
}

fn default_model() -> String {
    crate::source::DEFAULT_NAME.to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExperimentText {
    id: String,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    sharer: Option<String>,
    #[serde(default)]
    receiver: Option<String>,
    #[serde(default)]
    kv: Option<toml::Value>,
    #[serde(default)]
    prune: Option<String>,
}

/// One experiment, resolved.
#[derive(Debug, Clone)]
pub struct Experiment {
    pub id: String,
    pub label: String,
    /// The weight variant that prefills: `original`, a strategy file or
    /// SCHEME[@GRANULARITY].
    pub sharer: String,
    /// The weight variant that answers from the received cache.
    pub receiver: String,
    pub kv: Option<KvQuant>,
    /// The KV configuration as TOML (written to the run's configs).
    pub kv_toml: Option<String>,
    pub prune: Option<Prune>,
}

/// A parsed, valid matrix.
#[derive(Debug, Clone)]
pub struct Matrix {
    pub name: String,
    pub model: String,
    pub items: Option<PathBuf>,
    pub text: Option<PathBuf>,
    pub limit: Option<usize>,
    /// Scored tokens of the text.
    pub kl_tokens: usize,
    /// Tokens per text window and how many of them are the sent context.
    pub window: usize,
    pub warmup: usize,
    pub experiments: Vec<Experiment>,
}

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Matrix {
    /// Parses a matrix; relative paths are taken from `base` (the file's
    /// folder), and `source` names it in errors.
    pub fn parse(text: &str, source: &str, base: &Path) -> Result<Matrix> {
        let bad = |why: String| LlmError::Mismatch(format!("experiment matrix {source}: {why}"));
        let m: MatrixText = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        if !valid_id(&m.name) {
            return Err(bad(format!(
                "name `{}` must be 1 to 32 letters, digits, `-` or `_` (it starts every run tag)",
                m.name.escape_debug()
            )));
        }
        if m.items.is_none() && m.text.is_none() {
            return Err(bad(
                "give `items` (multiple choice), `text` (KL) or both".into()
            ));
        }
        if m.experiment.is_empty() {
            return Err(bad("has no [[experiment]]".into()));
        }
        let window = m.window.unwrap_or(160);
        let warmup = m.warmup.unwrap_or(128);
        if warmup == 0 || warmup + 1 >= window {
            return Err(bad(format!(
                "warmup {warmup} must be at least 1 and leave tokens to score in a window of {window}"
            )));
        }
        let resolve = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        let mut experiments: Vec<Experiment> = Vec::new();
        for e in m.experiment {
            if !valid_id(&e.id) {
                return Err(bad(format!(
                    "experiment id `{}` must be 1 to 32 letters, digits, `-` or `_`",
                    e.id.escape_debug()
                )));
            }
            if experiments.iter().any(|x| x.id == e.id) {
                return Err(bad(format!("experiment id {} appears twice", e.id)));
            }
            let what = format!("{source}, experiment {}", e.id);
            let (kv, kv_toml) = match e.kv {
                None => (None, None),
                Some(toml::Value::String(p)) => {
                    let path = resolve(PathBuf::from(&p));
                    let text = fs_err::read_to_string(&path).map_err(|err| {
                        bad(format!("experiment {}: KV configuration {p}: {err}", e.id))
                    })?;
                    (Some(KvQuant::parse(&text, &what)?), Some(text))
                }
                Some(toml::Value::Table(t)) => {
                    let text = toml::to_string(&t).map_err(|err| bad(err.to_string()))?;
                    (Some(KvQuant::parse(&text, &what)?), Some(text))
                }
                Some(_) => {
                    return Err(bad(format!(
                        "experiment {}: kv is a KV configuration file or an inline table",
                        e.id
                    )))
                }
            };
            let prune = e
                .prune
                .as_deref()
                .map(|p| {
                    p.parse::<Prune>()
                        .map_err(|err| bad(format!("experiment {}: {err}", e.id)))
                })
                .transpose()?;
            let sharer = e
                .sharer
                .or(m.sharer.clone())
                .unwrap_or_else(|| "original".into());
            let receiver = e
                .receiver
                .or(m.receiver.clone())
                .unwrap_or_else(|| "original".into());
            let label = e.label.unwrap_or_else(|| {
                let mut parts = Vec::new();
                if let Some(k) = &kv {
                    parts.push(format!("kv {}", k.name));
                }
                if let Some(p) = prune {
                    parts.push(format!("prune {p}"));
                }
                if sharer != "original" || receiver != "original" {
                    parts.push(format!("{sharer} -> {receiver}"));
                }
                if parts.is_empty() {
                    "full f16 cache".into()
                } else {
                    parts.join(", ")
                }
            });
            experiments.push(Experiment {
                id: e.id,
                label,
                sharer,
                receiver,
                kv,
                kv_toml,
                prune,
            });
        }
        Ok(Matrix {
            name: m.name,
            model: m.model,
            items: m.items.map(resolve),
            text: m.text.map(resolve),
            limit: m.limit,
            kl_tokens: m.kl_tokens.unwrap_or(1024).max(1),
            window,
            warmup,
            experiments,
        })
    }

    pub fn from_file(path: &Path) -> Result<Matrix> {
        let text = fs_err::read_to_string(path).map_err(|e| LlmError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, &path.display().to_string(), base)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code
    use super::*;

    #[test]
    fn matrices_resolve_defaults_and_refuse_nonsense() {
        let m = Matrix::parse(
            "name = \"kv\"\nitems = \"i.jsonl\"\nreceiver = \"int8\"\n[[experiment]]\nid = \"F0\"\n[[experiment]]\nid = \"C1\"\nkv = { name = \"x\", k = { scheme = \"int4\", axis = \"channel\" } }\nprune = \"recency:0.5\"\nreceiver = \"original\"\n",
            "t",
            Path::new("/base"),
        )
        .unwrap();
        assert_eq!(m.items.as_deref(), Some(Path::new("/base/i.jsonl")));
        assert_eq!(m.experiments[0].receiver, "int8");
        assert_eq!(m.experiments[0].label, "original -> int8");
        let c1 = &m.experiments[1];
        assert_eq!(c1.receiver, "original");
        assert!(c1.kv.as_ref().unwrap().spec_for(0, true).is_some());
        assert!(c1.kv.as_ref().unwrap().spec_for(0, false).is_none());
        assert_eq!(c1.label, "kv x, prune recency:0.5:4");
        for bad in [
            "name = \"kv\"\n[[experiment]]\nid = \"A\"\n",
            "name = \"../x\"\nitems = \"i\"\n[[experiment]]\nid = \"A\"\n",
            "name = \"kv\"\nitems = \"i\"\n",
            "name = \"kv\"\nitems = \"i\"\n[[experiment]]\nid = \"A\"\n[[experiment]]\nid = \"A\"\n",
            "name = \"kv\"\nitems = \"i\"\n[[experiment]]\nid = \"a/b\"\n",
            "name = \"kv\"\nitems = \"i\"\n[[experiment]]\nid = \"A\"\nkv = 3\n",
            "name = \"kv\"\nitems = \"i\"\n[[experiment]]\nid = \"A\"\nkv = { k = { scheme = \"int99\" } }\n",
            "name = \"kv\"\nitems = \"i\"\n[[experiment]]\nid = \"A\"\nprune = \"half\"\n",
            "name = \"kv\"\nitems = \"i\"\n[[experiment]]\nid = \"A\"\nkv = \"missing.toml\"\n",
            "name = \"kv\"\nitems = \"i\"\nwindow = 10\nwarmup = 9\n[[experiment]]\nid = \"A\"\n",
            "name = \"kv\"\nitems = \"i\"\ncolour = 1\n[[experiment]]\nid = \"A\"\n",
        ] {
            let e = Matrix::parse(bad, "m.toml", Path::new("/nowhere")).unwrap_err();
            assert!(e.to_string().contains("m.toml"), "{bad}: {e}");
        }
    }
}
