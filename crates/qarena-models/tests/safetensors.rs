//! A small generated safetensors file: roles from names, dtypes, a
//! byte-identical round trip and in-place edits that keep the header.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

use std::collections::HashMap;

use half::{bf16, f16};
use qarena_models::{Format, Model, Role, StorageType};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

fn bytes_f32(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn sample() -> Vec<u8> {
    let ramp = |n: usize| {
        (0..n)
            .map(|i| (i as f32 - n as f32 / 2.0) / 7.0)
            .collect::<Vec<_>>()
    };
    let embed = bytes_f32(&ramp(32 * 8));
    let q: Vec<u8> = ramp(8 * 8)
        .iter()
        .flat_map(|&x| f16::from_f32(x).to_le_bytes())
        .collect();
    let up: Vec<u8> = ramp(16 * 8)
        .iter()
        .flat_map(|&x| bf16::from_f32(x).to_le_bytes())
        .collect();
    let norm = bytes_f32(&[1.0; 8]);
    let head = bytes_f32(&ramp(32 * 8));
    let ids: Vec<u8> = (0..4i64).flat_map(|i| i.to_le_bytes()).collect();
    let tensors = [
        ("model.embed_tokens.weight", Dtype::F32, vec![32, 8], embed),
        (
            "model.layers.0.self_attn.q_proj.weight",
            Dtype::F16,
            vec![8, 8],
            q,
        ),
        (
            "model.layers.1.mlp.up_proj.weight",
            Dtype::BF16,
            vec![16, 8],
            up,
        ),
        (
            "model.layers.1.input_layernorm.weight",
            Dtype::F32,
            vec![8],
            norm,
        ),
        ("model.position_ids", Dtype::I64, vec![4], ids),
        ("lm_head.weight", Dtype::F32, vec![32, 8], head),
    ];
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize(views, &Some(meta)).unwrap()
}

#[test]
fn catalogue_roles_and_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.safetensors");
    let bytes = sample();
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(qarena_models::detect(&path).unwrap(), Format::Safetensors);
    let model = Model::load(&path).unwrap();
    let cat = model.catalogue();
    let summary: Vec<(&str, Role, Option<u32>, StorageType, bool)> = cat
        .iter()
        .map(|t| (t.name.as_str(), t.role, t.layer, t.dtype, t.is_bias))
        .collect();
    // File order is data order; the I64 buffer is kept but not listed.
    let mut expected = vec![
        (
            "model.embed_tokens.weight",
            Role::Embedding,
            None,
            StorageType::F32,
            false,
        ),
        (
            "model.layers.0.self_attn.q_proj.weight",
            Role::Attention,
            Some(0),
            StorageType::F16,
            false,
        ),
        (
            "model.layers.1.mlp.up_proj.weight",
            Role::Mlp,
            Some(1),
            StorageType::Bf16,
            false,
        ),
        (
            "model.layers.1.input_layernorm.weight",
            Role::Norm,
            Some(1),
            StorageType::F32,
            true,
        ),
        (
            "lm_head.weight",
            Role::LmHead,
            None,
            StorageType::F32,
            false,
        ),
    ];
    let mut sorted = summary.clone();
    sorted.sort_by_key(|s| s.0);
    expected.sort_by_key(|s| s.0);
    assert_eq!(sorted, expected);
    assert!(
        model.description().contains("1 non-float tensors kept"),
        "{}",
        model.description()
    );

    assert_eq!(model.to_bytes().unwrap(), bytes);
    let out = dir.path().join("copy.safetensors");
    model.write(&out).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
}

#[test]
fn edits_keep_the_header_and_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.safetensors");
    let bytes = sample();
    std::fs::write(&path, &bytes).unwrap();
    let mut model = Model::load(&path).unwrap();
    let idx = |m: &Model, name: &str| m.catalogue().iter().position(|t| t.name == name).unwrap();
    let q = idx(&model, "model.layers.0.self_attn.q_proj.weight");
    let up = idx(&model, "model.layers.1.mlp.up_proj.weight");
    let q_vals: Vec<f32> = model
        .tensor_values(q)
        .iter()
        .map(|v| (v * 2.0).round() / 2.0)
        .collect();
    let up_vals: Vec<f32> = model.tensor_values(up).iter().map(|v| v.round()).collect();
    model.set_tensor_values(q, &q_vals).unwrap();
    model.set_tensor_values(up, &up_vals).unwrap();
    let out = dir.path().join("variant.safetensors");
    model.write(&out).unwrap();
    let written = std::fs::read(&out).unwrap();
    assert_eq!(written.len(), bytes.len());
    let header = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert_eq!(written[..header], bytes[..header]);

    let st = SafeTensors::deserialize(&written).unwrap();
    let t = st.tensor("model.layers.0.self_attn.q_proj.weight").unwrap();
    assert_eq!(t.dtype(), Dtype::F16);
    let got: Vec<f32> = t
        .data()
        .chunks_exact(2)
        .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
        .collect();
    assert_eq!(got, q_vals);
    let back = Model::load(&out).unwrap();
    assert_eq!(back.tensor_values(up), up_vals);
    // Infinity is a value safetensors can hold (masks), so it is allowed here.
    let mut inf = up_vals.clone();
    inf[0] = f32::INFINITY;
    model.set_tensor_values(up, &inf).unwrap();
}
