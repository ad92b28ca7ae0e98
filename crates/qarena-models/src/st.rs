//! safetensors files: an 8-byte header length, a JSON header, then the raw
//! tensor data (little-endian, row-major).
//!
//! Only F32, F16 and BF16 tensors enter the catalogue; tensors of other
//! dtypes (integer buffers, F64, FP8) are kept byte for byte but not listed.
//! Writing keeps the original header bytes, including `__metadata__`, and
//! the data in place, because fake quantization never changes dtype or
//! shape; that is what makes the round trip byte-identical.
//!
//! Roles come from the tensor names (the usual Hugging Face, GPT-2 and
//! Llama spellings): `lm_head` → lm_head; `norm`, `ln_*` → norm (kept as
//! bias); `embed`, `wte`, `wpe`, `tok_embeddings` → embedding; `q_proj`,
//! `k_proj`, `v_proj`, `o_proj`, `attn`, `attention` → attention; `mlp`,
//! `gate_proj`, `up_proj`, `down_proj`, `fc*`, `ffn`, `feed_forward` → mlp.
//! The layer index is the number after `layers.`, `layer.`, `h.` or
//! `blocks.`. Torch stores linear weights `[out, in]`, which is already the
//! catalogue's order.

use std::path::Path;

use qarena_quant::{Role, StorageType, TensorInfo};
use safetensors::{Dtype, SafeTensors};

use crate::view::Slot;
use crate::{ModelError, Parsed, Result};

/// An 8-byte length followed by a JSON object that fits in the file.
pub(crate) fn looks_like_safetensors(head: &[u8]) -> bool {
    if head.len() < 10 {
        return false;
    }
    let mut n = [0u8; 8];
    n.copy_from_slice(&head[..8]);
    let n = u64::from_le_bytes(n);
    (2..(100 << 20)).contains(&n) && head[8] == b'{'
}

/// One entry of the JSON header, as far as [`check_header`] needs it.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Entry {
    Tensor {
        data_offsets: (u64, u64),
        shape: Vec<u64>,
    },
    Other(serde::de::IgnoredAny),
}

/// Checks the header length, every tensor's data offsets and every shape
/// with checked arithmetic, before the safetensors crate adds them up
/// unchecked. Headers that do not even parse are left to the crate, which
/// says what is wrong with them.
fn check_header(path: &Path, buf: &[u8]) -> Result<()> {
    let corrupt = |offset: u64, what: String| ModelError::Corrupt {
        path: path.to_path_buf(),
        offset,
        what,
    };
    let Some(len) = buf.get(..8) else {
        return Err(corrupt(
            0,
            format!(
                "the file has {} bytes, fewer than the 8-byte header length",
                buf.len()
            ),
        ));
    };
    let n = u64::from_le_bytes([
        len[0], len[1], len[2], len[3], len[4], len[5], len[6], len[7],
    ]);
    let room = (buf.len() - 8) as u64;
    if n > room {
        return Err(corrupt(
            0,
            format!(
                "header length {n} runs past the end of the {}-byte file",
                buf.len()
            ),
        ));
    }
    let header = &buf[8..8 + n as usize];
    let Ok(entries) = serde_json::from_slice::<std::collections::HashMap<String, Entry>>(header)
    else {
        return Ok(());
    };
    let data_len = room - n;
    for (name, entry) in &entries {
        let Entry::Tensor {
            data_offsets: (start, end),
            shape,
        } = entry
        else {
            continue;
        };
        if start > end || *end > data_len {
            return Err(corrupt(
                8,
                format!(
                    "tensor {} claims bytes {start}..{end} of a {data_len}-byte data section",
                    clip(name)
                ),
            ));
        }
        // Zero dimensions make the element count zero, but strides and
        // partial products still multiply the others.
        let elements = shape
            .iter()
            .filter(|&&d| d != 0)
            .try_fold(8u64, |a, &d| a.checked_mul(d))
            .filter(|&bytes| bytes <= isize::MAX as u64);
        if elements.is_none() {
            return Err(corrupt(
                8,
                format!(
                    "tensor {} has shape {shape:?}, more elements than any file can hold",
                    clip(name)
                ),
            ));
        }
    }
    Ok(())
}

fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(80).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

pub(crate) fn parse(path: &Path, buf: Vec<u8>) -> Result<Parsed> {
    check_header(path, &buf)?;
    let (header_len, metadata) = SafeTensors::read_metadata(&buf).map_err(|e| {
        // Header problems sit in the first 8 + n bytes; the crate does not
        // say where exactly, so name the start of the part that failed.
        let offset = match e {
            safetensors::SafeTensorError::HeaderTooSmall
            | safetensors::SafeTensorError::HeaderTooLarge
            | safetensors::SafeTensorError::InvalidHeaderLength => 0,
            safetensors::SafeTensorError::MetadataIncompleteBuffer => buf.len() as u64,
            _ => 8,
        };
        ModelError::Corrupt {
            path: path.to_path_buf(),
            offset,
            what: format!("invalid safetensors file: {e:?}"),
        }
    })?;
    let data_start = 8 + header_len;
    let mut tensors: Vec<(String, safetensors::tensor::TensorInfo)> = metadata
        .tensors()
        .into_iter()
        .map(|(name, info)| (name, info.clone()))
        .collect();
    tensors.sort_by_key(|(name, info)| (info.data_offsets.0, name.clone()));

    let mut slots = Vec::new();
    let mut skipped = 0usize;
    for (name, t) in tensors {
        let dtype = match t.dtype {
            Dtype::F32 => StorageType::F32,
            Dtype::F16 => StorageType::F16,
            Dtype::BF16 => StorageType::Bf16,
            _ => {
                skipped += 1;
                continue;
            }
        };
        let (role, is_bias) = classify(&name, t.shape.len());
        let info = TensorInfo {
            layer: layer_index(&name),
            name,
            shape: t.shape.clone(),
            dtype,
            role,
            is_bias,
        };
        let offset = data_start.saturating_add(t.data_offsets.0);
        let slot = Slot::row_major(info, offset);
        if !slot.fits(buf.len()) {
            return Err(ModelError::Corrupt {
                path: path.to_path_buf(),
                offset: offset as u64,
                what: format!("tensor {} runs past the end of the file", slot.info.name),
            });
        }
        slots.push(slot);
    }
    let params: usize = slots.iter().map(|s| s.info.numel()).sum();
    let mut dtypes: Vec<&str> = slots.iter().map(|s| s.info.dtype.as_str()).collect();
    dtypes.sort_unstable();
    dtypes.dedup();
    let mut description = format!(
        "safetensors, {} float tensors ({}), {params} parameters",
        slots.len(),
        dtypes.join("/")
    );
    if skipped > 0 {
        description.push_str(&format!(", {skipped} non-float tensors kept as they are"));
    }
    if let Some(meta) = metadata.metadata() {
        description.push_str(&format!(", {} metadata entries", meta.len()));
    }
    Ok(Parsed {
        data: buf,
        text: None,
        slots,
        description,
        arch: None,
    })
}

/// Role and bias flag from a tensor's name and rank.
pub(crate) fn classify(name: &str, rank: usize) -> (Role, bool) {
    let lower = name.to_ascii_lowercase();
    let parts: Vec<&str> = lower.split('.').collect();
    let any = |f: &dyn Fn(&str) -> bool| parts.iter().any(|p| f(p));
    let vector = rank <= 1 || lower.ends_with(".bias");
    let role = if any(&|p| p == "lm_head" || p == "output" && parts.len() <= 2) {
        Role::LmHead
    } else if any(&|p| p.contains("norm") || p == "ln" || p.starts_with("ln_") || is_ln_digit(p)) {
        Role::Norm
    } else if any(&|p| p.contains("embed") || p == "wte" || p == "wpe" || p == "tok_embeddings") {
        Role::Embedding
    } else if any(&|p| {
        matches!(
            p,
            "q_proj"
                | "k_proj"
                | "v_proj"
                | "o_proj"
                | "qkv_proj"
                | "c_attn"
                | "query"
                | "key"
                | "value"
                | "wq"
                | "wk"
                | "wv"
                | "wo"
        ) || p.contains("attn")
            || p.contains("attention")
    }) {
        Role::Attention
    } else if any(&|p| {
        matches!(
            p,
            "mlp"
                | "gate_proj"
                | "up_proj"
                | "down_proj"
                | "c_fc"
                | "ffn"
                | "feed_forward"
                | "w1"
                | "w2"
                | "w3"
                | "dense_h_to_4h"
                | "dense_4h_to_h"
        ) || p.starts_with("fc")
            || p.starts_with("mlp")
    }) {
        Role::Mlp
    } else {
        Role::Other
    };
    (role, vector || role == Role::Norm)
}

fn is_ln_digit(p: &str) -> bool {
    p.strip_prefix("ln")
        .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()))
}

/// The block index after `layers.`, `layer.`, `h.` or `blocks.`.
pub(crate) fn layer_index(name: &str) -> Option<u32> {
    let parts: Vec<&str> = name.split('.').collect();
    parts.windows(2).find_map(|w| {
        matches!(w[0], "layers" | "layer" | "h" | "blocks")
            .then(|| w[1].parse::<u32>().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_from_common_names() {
        let cases = [
            ("model.embed_tokens.weight", 2, Role::Embedding, false),
            ("transformer.wte.weight", 2, Role::Embedding, false),
            (
                "model.layers.3.self_attn.q_proj.weight",
                2,
                Role::Attention,
                false,
            ),
            (
                "transformer.h.1.attn.c_attn.weight",
                2,
                Role::Attention,
                false,
            ),
            ("model.layers.0.mlp.down_proj.weight", 2, Role::Mlp, false),
            ("transformer.h.0.mlp.c_fc.bias", 1, Role::Mlp, true),
            ("model.layers.0.input_layernorm.weight", 1, Role::Norm, true),
            (
                "model.layers.0.post_attention_layernorm.weight",
                1,
                Role::Norm,
                true,
            ),
            ("transformer.h.2.ln_1.weight", 1, Role::Norm, true),
            ("transformer.ln_f.weight", 1, Role::Norm, true),
            ("model.norm.weight", 1, Role::Norm, true),
            ("lm_head.weight", 2, Role::LmHead, false),
            ("something.else", 2, Role::Other, false),
        ];
        for (name, rank, role, bias) in cases {
            assert_eq!(classify(name, rank), (role, bias), "{name}");
        }
    }

    #[test]
    fn layer_numbers() {
        assert_eq!(layer_index("model.layers.12.mlp.up_proj.weight"), Some(12));
        assert_eq!(layer_index("transformer.h.3.attn.c_proj.weight"), Some(3));
        assert_eq!(layer_index("blocks.0.ffn.w1"), Some(0));
        assert_eq!(layer_index("lm_head.weight"), None);
    }
}
