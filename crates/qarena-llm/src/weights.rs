//! Loading a language model's weights: a GGUF file (dequantized to f32;
//! tokenizer rebuilt from its metadata) or a safetensors file with its
//! `config.json` and `tokenizer.json` beside it. Weights are kept under
//! one naming (GGUF's: `token_embd.weight`, `blk.N.attn_q.weight`, …)
//! whatever the file spells, so strategies and the model code see one
//! catalogue.

use std::collections::BTreeMap;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::Content;
use candle_core::Device;
use qarena_quant::{Role, StorageType, TensorInfo};
use sha2::{Digest, Sha256};

use crate::error::{LlmError, Result};
use crate::tok::Tokenizer;

/// Where a model came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Gguf,
    Safetensors,
}

/// The architecture numbers of a Llama-style model.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Config {
    pub hidden: usize,
    pub intermediate: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub vocab: usize,
    pub rope_theta: f32,
    pub rms_eps: f64,
    pub context: usize,
    /// Rotary embedding on adjacent pairs (GGUF's layout of the q and k
    /// rows) rather than on the two halves of a head (Hugging Face's).
    pub rope_interleaved: bool,
}

impl Config {
    pub fn head_dim(&self) -> usize {
        self.hidden / self.heads.max(1)
    }
}

/// One weight tensor in f32, row-major, output axis first.
#[derive(Debug, Clone)]
pub struct Weight {
    /// The canonical (GGUF) name.
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
    /// Bits per weight the file stores it with (e.g. 5.0 for Q4_1, 32 for
    /// F32), side data included.
    pub file_bits: f64,
}

/// A loaded model: configuration, weights and tokenizer.
#[derive(Debug, Clone)]
pub struct LlmModel {
    pub path: PathBuf,
    pub format: Format,
    pub sha256: String,
    pub config: Config,
    /// By canonical name.
    pub weights: BTreeMap<String, Weight>,
    pub tokenizer: Tokenizer,
}

fn bad(path: &Path, reason: impl Into<String>) -> LlmError {
    LlmError::Model {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> LlmError + '_ {
    move |source| LlmError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = fs_err::File::open(path).map_err(io(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:x}", h.finalize()))
}

/// The role and layer a canonical weight name has in strategies.
pub fn role_of(name: &str) -> (Role, Option<u32>, bool) {
    let layer = name
        .strip_prefix("blk.")
        .and_then(|r| r.split('.').next())
        .and_then(|n| n.parse().ok());
    let role = if name.starts_with("token_embd") {
        Role::Embedding
    } else if name.starts_with("output.") {
        Role::LmHead
    } else if name.ends_with("_norm.weight") {
        Role::Norm
    } else if name.contains(".attn_") {
        Role::Attention
    } else if name.contains(".ffn_") {
        Role::Mlp
    } else {
        Role::Other
    };
    (role, layer, role == Role::Norm)
}

/// The catalogue strategies are resolved against: every weight with its
/// role and layer, in name order.
pub fn catalogue(weights: &BTreeMap<String, Weight>) -> Vec<TensorInfo> {
    weights
        .values()
        .map(|w| {
            let (role, layer, is_bias) = role_of(&w.name);
            TensorInfo {
                name: w.name.clone(),
                shape: w.shape.clone(),
                dtype: StorageType::F32,
                role,
                layer,
                is_bias,
            }
        })
        .collect()
}

/// Tensors of more elements than this are refused before any allocation.
const MAX_TENSOR_ELEMENTS: u64 = 1 << 32;

impl LlmModel {
    /// Loads a GGUF file, or a safetensors file with `config.json` and
    /// `tokenizer.json` in its folder; the format is read from the first
    /// bytes.
    pub fn load(path: &Path) -> Result<LlmModel> {
        let mut head = [0u8; 4];
        let mut f = fs_err::File::open(path).map_err(io(path))?;
        let n = f.read(&mut head).map_err(io(path))?;
        drop(f);
        if n == 4 && &head == b"GGUF" {
            Self::load_gguf(path)
        } else if n == 4 {
            crate::safet::load(path)
        } else {
            Err(bad(path, "the file is too short to be a model"))
        }
    }

    fn load_gguf(path: &Path) -> Result<LlmModel> {
        let sha256 = sha256_file(path)?;
        let mut f = fs_err::File::open(path).map_err(io(path))?;
        let content = Content::read(&mut f).map_err(|e| {
            bad(
                path,
                format!("not a readable GGUF file ({e}); download it again or convert it anew"),
            )
        })?;
        let arch = meta_str(&content, "general.architecture").unwrap_or("(none)");
        if arch != "llama" {
            return Err(bad(
                path,
                format!("architecture `{arch}` is not supported (only `llama`)"),
            ));
        }
        let num = |key: &str| -> Result<u64> {
            content
                .metadata
                .get(&format!("llama.{key}"))
                .and_then(|v| v.to_u64().ok().or_else(|| v.to_u32().ok().map(u64::from)))
                .ok_or_else(|| bad(path, format!("the metadata has no integer `llama.{key}`")))
        };
        let real = |key: &str| -> Option<f64> {
            content
                .metadata
                .get(&format!("llama.{key}"))
                .and_then(|v| v.to_f32().ok().map(f64::from).or_else(|| v.to_f64().ok()))
        };
        let tokenizer = Tokenizer::from_gguf(&content, path)?;
        let heads = num("attention.head_count")? as usize;
        let config = Config {
            hidden: num("embedding_length")? as usize,
            intermediate: num("feed_forward_length")? as usize,
            layers: num("block_count")? as usize,
            heads,
            kv_heads: num("attention.head_count_kv").map_or(heads, |v| v as usize),
            vocab: tokenizer.vocab_size(),
            rope_theta: real("rope.freq_base").unwrap_or(10_000.0) as f32,
            rms_eps: real("attention.layer_norm_rms_epsilon").unwrap_or(1e-5),
            context: num("context_length").map_or(2048, |v| v as usize),
            rope_interleaved: true,
        };
        let file_size = f.seek(std::io::SeekFrom::End(0)).map_err(io(path))?;
        let mut weights = BTreeMap::new();
        let mut names: Vec<&String> = content.tensor_infos.keys().collect();
        names.sort();
        for name in names {
            let info = &content.tensor_infos[name];
            let elements = info
                .shape
                .dims()
                .iter()
                .try_fold(1u64, |a, d| a.checked_mul(*d as u64))
                .filter(|n| *n <= MAX_TENSOR_ELEMENTS)
                .ok_or_else(|| bad(path, format!("tensor {name} declares an impossible shape")))?;
            let dt = info.ggml_dtype;
            let bytes = elements / dt.block_size() as u64 * dt.type_size() as u64;
            if bytes > file_size {
                return Err(bad(
                    path,
                    format!("tensor {name} needs {bytes} bytes, more than the file holds"),
                ));
            }
            let q = content
                .tensor(&mut f, name, &Device::Cpu)
                .map_err(|e| bad(path, format!("tensor {name}: {e}")))?;
            let t = q.dequantize(&Device::Cpu)?;
            let shape = t.dims().to_vec();
            let data = t.flatten_all()?.to_vec1::<f32>()?;
            let file_bits = bytes as f64 * 8.0 / elements.max(1) as f64;
            weights.insert(
                name.clone(),
                Weight {
                    name: name.clone(),
                    shape,
                    data,
                    file_bits,
                },
            );
        }
        let m = LlmModel {
            path: path.to_path_buf(),
            format: Format::Gguf,
            sha256,
            config,
            weights,
            tokenizer,
        };
        m.check()?;
        Ok(m)
    }

    /// Every tensor the model code needs is there with the right shape.
    pub(crate) fn check(&self) -> Result<()> {
        let c = &self.config;
        let hd = c.head_dim();
        if c.heads == 0
            || c.kv_heads == 0
            || !c.hidden.is_multiple_of(c.heads)
            || !c.heads.is_multiple_of(c.kv_heads)
        {
            return Err(bad(
                &self.path,
                format!(
                    "{} heads and {} key/value heads do not divide {} hidden units",
                    c.heads, c.kv_heads, c.hidden
                ),
            ));
        }
        if !hd.is_multiple_of(2) {
            return Err(bad(&self.path, "the head size is odd"));
        }
        let mut want: Vec<(String, Vec<usize>)> = vec![
            ("token_embd.weight".into(), vec![c.vocab, c.hidden]),
            ("output_norm.weight".into(), vec![c.hidden]),
        ];
        for i in 0..c.layers {
            let b = |s: &str| format!("blk.{i}.{s}.weight");
            want.extend([
                (b("attn_norm"), vec![c.hidden]),
                (b("attn_q"), vec![c.heads * hd, c.hidden]),
                (b("attn_k"), vec![c.kv_heads * hd, c.hidden]),
                (b("attn_v"), vec![c.kv_heads * hd, c.hidden]),
                (b("attn_output"), vec![c.hidden, c.heads * hd]),
                (b("ffn_norm"), vec![c.hidden]),
                (b("ffn_gate"), vec![c.intermediate, c.hidden]),
                (b("ffn_up"), vec![c.intermediate, c.hidden]),
                (b("ffn_down"), vec![c.hidden, c.intermediate]),
            ]);
        }
        if let Some(w) = self.weights.get("output.weight") {
            want.push(("output.weight".into(), vec![c.vocab, c.hidden]));
            let _ = w;
        }
        for (name, shape) in want {
            match self.weights.get(&name) {
                None => return Err(bad(&self.path, format!("tensor {name} is missing"))),
                Some(w) if w.shape != shape => {
                    return Err(bad(
                        &self.path,
                        format!("tensor {name} has shape {:?}, expected {shape:?}", w.shape),
                    ))
                }
                Some(w) if w.data.iter().any(|x| !x.is_finite()) => {
                    return Err(bad(
                        &self.path,
                        format!("tensor {name} holds non-finite values"),
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Parameters and bits per weight as the file stores them.
    pub fn file_bits_per_weight(&self) -> f64 {
        let (mut bits, mut n) = (0.0, 0u64);
        for w in self.weights.values() {
            bits += w.file_bits * w.data.len() as f64;
            n += w.data.len() as u64;
        }
        if n == 0 {
            0.0
        } else {
            bits / n as f64
        }
    }

    pub fn parameters(&self) -> u64 {
        self.weights.values().map(|w| w.data.len() as u64).sum()
    }
}

fn meta_str<'a>(c: &'a Content, key: &str) -> Option<&'a str> {
    c.metadata
        .get(key)
        .and_then(|v| v.to_string().ok())
        .map(String::as_str)
}
