//! Safetensors language models: `model.safetensors` with `config.json`
//! and `tokenizer.json` in the same folder (Hugging Face's layout and
//! names, rotary embedding on the two halves of a head), and the writer
//! behind `qarena llm convert`.

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use crate::error::{LlmError, Result};
use crate::tok::Tokenizer;
use crate::weights::{sha256_file, Config, Format, LlmModel, Weight};

fn bad(path: &Path, reason: impl Into<String>) -> LlmError {
    LlmError::Model {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Hugging Face's name of a canonical (GGUF) weight name.
pub fn hf_name(canonical: &str) -> String {
    if canonical == "token_embd.weight" {
        return "model.embed_tokens.weight".into();
    }
    if canonical == "output_norm.weight" {
        return "model.norm.weight".into();
    }
    if canonical == "output.weight" {
        return "lm_head.weight".into();
    }
    if let Some(rest) = canonical.strip_prefix("blk.") {
        if let Some((layer, part)) = rest.split_once('.') {
            let inner = match part {
                "attn_norm.weight" => "input_layernorm.weight",
                "ffn_norm.weight" => "post_attention_layernorm.weight",
                "attn_q.weight" => "self_attn.q_proj.weight",
                "attn_k.weight" => "self_attn.k_proj.weight",
                "attn_v.weight" => "self_attn.v_proj.weight",
                "attn_output.weight" => "self_attn.o_proj.weight",
                "ffn_gate.weight" => "mlp.gate_proj.weight",
                "ffn_up.weight" => "mlp.up_proj.weight",
                "ffn_down.weight" => "mlp.down_proj.weight",
                other => other,
            };
            return format!("model.layers.{layer}.{inner}");
        }
    }
    canonical.to_string()
}

/// The canonical name of a Hugging Face weight name (inverse of
/// [`hf_name`]); names it does not know stay as they are.
pub fn canonical_name(hf: &str) -> String {
    match hf {
        "model.embed_tokens.weight" => return "token_embd.weight".into(),
        "model.norm.weight" => return "output_norm.weight".into(),
        "lm_head.weight" => return "output.weight".into(),
        _ => {}
    }
    if let Some(rest) = hf.strip_prefix("model.layers.") {
        if let Some((layer, part)) = rest.split_once('.') {
            let inner = match part {
                "input_layernorm.weight" => "attn_norm.weight",
                "post_attention_layernorm.weight" => "ffn_norm.weight",
                "self_attn.q_proj.weight" => "attn_q.weight",
                "self_attn.k_proj.weight" => "attn_k.weight",
                "self_attn.v_proj.weight" => "attn_v.weight",
                "self_attn.o_proj.weight" => "attn_output.weight",
                "mlp.gate_proj.weight" => "ffn_gate.weight",
                "mlp.up_proj.weight" => "ffn_up.weight",
                "mlp.down_proj.weight" => "ffn_down.weight",
                other => other,
            };
            return format!("blk.{layer}.{inner}");
        }
    }
    hf.to_string()
}

/// Reorders the rows of a q or k matrix between GGUF's rotary layout
/// (adjacent pairs) and Hugging Face's (two halves per head):
/// `to_halves` maps GGUF rows `h·d + 2j + s` to `h·d + s·d/2 + j`.
pub fn permute_rows(
    data: &[f32],
    rows: usize,
    cols: usize,
    heads: usize,
    to_halves: bool,
) -> Vec<f32> {
    let d = rows / heads.max(1);
    let mut out = vec![0.0; data.len()];
    for h in 0..heads {
        for j in 0..d / 2 {
            for s in 0..2 {
                let pairs = h * d + 2 * j + s;
                let halves = h * d + s * (d / 2) + j;
                let (from, to) = if to_halves {
                    (pairs, halves)
                } else {
                    (halves, pairs)
                };
                out[to * cols..(to + 1) * cols]
                    .copy_from_slice(&data[from * cols..(from + 1) * cols]);
            }
        }
    }
    out
}

#[derive(serde::Deserialize)]
struct HfConfig {
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    vocab_size: usize,
    rope_theta: Option<f32>,
    rms_norm_eps: Option<f64>,
    max_position_embeddings: Option<usize>,
    bos_token_id: Option<u32>,
    eos_token_id: Option<u32>,
}

/// Loads `path` (a safetensors file) with `config.json` and
/// `tokenizer.json` from its folder.
pub(crate) fn load(path: &Path) -> Result<LlmModel> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let cfg_path = dir.join("config.json");
    let text = fs_err::read_to_string(&cfg_path).map_err(|e| {
        bad(
            path,
            format!("a safetensors model needs config.json beside it: {e}"),
        )
    })?;
    let hc: HfConfig = serde_json::from_str(&text)
        .map_err(|e| bad(&cfg_path, format!("not a Llama-style config: {e}")))?;
    let tokenizer = Tokenizer::from_file(
        &dir.join("tokenizer.json"),
        hc.bos_token_id,
        hc.eos_token_id,
    )?;
    let config = Config {
        hidden: hc.hidden_size,
        intermediate: hc.intermediate_size,
        layers: hc.num_hidden_layers,
        heads: hc.num_attention_heads,
        kv_heads: hc.num_key_value_heads.unwrap_or(hc.num_attention_heads),
        vocab: hc.vocab_size,
        rope_theta: hc.rope_theta.unwrap_or(10_000.0),
        rms_eps: hc.rms_norm_eps.unwrap_or(1e-5),
        context: hc.max_position_embeddings.unwrap_or(2048),
        rope_interleaved: false,
    };
    let bytes = fs_err::read(path).map_err(|e| LlmError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| bad(path, format!("not a readable safetensors file: {e}")))?;
    let mut weights = BTreeMap::new();
    for (name, view) in st.tensors() {
        let raw = view.data();
        let data: Vec<f32> = match view.dtype() {
            Dtype::F32 => raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => raw
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => raw
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            other => {
                return Err(bad(
                    path,
                    format!("tensor {name} has dtype {other:?}; only F32, F16 and BF16 are read"),
                ))
            }
        };
        let bits = (view.dtype().size() * 8) as f64;
        let canonical = canonical_name(&name);
        weights.insert(
            canonical.clone(),
            Weight {
                name: canonical,
                shape: view.shape().to_vec(),
                data,
                file_bits: bits,
            },
        );
    }
    let m = LlmModel {
        path: path.to_path_buf(),
        format: Format::Safetensors,
        sha256: sha256_file(path)?,
        config,
        weights,
        tokenizer,
    };
    m.check()?;
    Ok(m)
}

/// Writes `m` as a safetensors model folder: `model.safetensors` (F32 or
/// F16, Hugging Face names and rotary layout), `config.json` and
/// `tokenizer.json`.
pub fn write(m: &LlmModel, dir: &Path, f16: bool) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source: std::io::Error| LlmError::Io {
            path: path.clone(),
            source,
        }
    };
    fs_err::create_dir_all(dir).map_err(|e| io(dir)(e))?;
    let c = &m.config;
    let mut buffers: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for w in m.weights.values() {
        let data = if m.config.rope_interleaved
            && (w.name.ends_with("attn_q.weight") || w.name.ends_with("attn_k.weight"))
        {
            let heads = if w.name.ends_with("attn_q.weight") {
                c.heads
            } else {
                c.kv_heads
            };
            permute_rows(&w.data, w.shape[0], w.shape[1], heads, true)
        } else {
            w.data.clone()
        };
        let bytes: Vec<u8> = if f16 {
            data.iter()
                .flat_map(|x| half::f16::from_f32(*x).to_le_bytes())
                .collect()
        } else {
            data.iter().flat_map(|x| x.to_le_bytes()).collect()
        };
        buffers.push((hf_name(&w.name), w.shape.clone(), bytes));
    }
    let dtype = if f16 { Dtype::F16 } else { Dtype::F32 };
    let views = buffers
        .iter()
        .map(|(n, s, b)| {
            safetensors::tensor::TensorView::new(dtype, s.clone(), b)
                .map(|v| (n.clone(), v))
                .map_err(|e| bad(dir, e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let out = dir.join("model.safetensors");
    let bytes =
        safetensors::tensor::serialize(views, &None).map_err(|e| bad(&out, e.to_string()))?;
    fs_err::write(&out, bytes).map_err(|e| io(&out)(e))?;
    let config = serde_json::json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": c.hidden,
        "intermediate_size": c.intermediate,
        "num_hidden_layers": c.layers,
        "num_attention_heads": c.heads,
        "num_key_value_heads": c.kv_heads,
        "vocab_size": c.vocab,
        "rope_theta": c.rope_theta,
        "rms_norm_eps": c.rms_eps,
        "max_position_embeddings": c.context,
        "tie_word_embeddings": !m.weights.contains_key("output.weight"),
        "bos_token_id": m.tokenizer.bos,
        "eos_token_id": m.tokenizer.eos,
        "torch_dtype": if f16 { "float16" } else { "float32" },
    });
    let cfg = dir.join("config.json");
    fs_err::write(
        &cfg,
        serde_json::to_string_pretty(&config).unwrap_or_default(),
    )
    .map_err(|e| io(&cfg)(e))?;
    m.tokenizer.save(&dir.join("tokenizer.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_rotary_layouts_convert_both_ways() {
        for n in [
            "token_embd.weight",
            "output_norm.weight",
            "output.weight",
            "blk.7.attn_q.weight",
            "blk.0.ffn_down.weight",
            "blk.12.ffn_norm.weight",
        ] {
            assert_eq!(canonical_name(&hf_name(n)), n);
        }
        assert_eq!(
            hf_name("blk.3.attn_k.weight"),
            "model.layers.3.self_attn.k_proj.weight"
        );
        // 2 heads of 4 rows, 3 columns: pairs (0,1),(2,3) become halves
        // (0,2),(1,3) within each head.
        let data: Vec<f32> = (0..24).map(|x| x as f32).collect();
        let halves = permute_rows(&data, 8, 3, 2, true);
        let row = |d: &[f32], r: usize| d[r * 3];
        assert_eq!(
            (0..8).map(|r| row(&halves, r)).collect::<Vec<_>>(),
            [0.0, 6.0, 3.0, 9.0, 12.0, 18.0, 15.0, 21.0]
        );
        assert_eq!(permute_rows(&halves, 8, 3, 2, false), data);
    }
}
