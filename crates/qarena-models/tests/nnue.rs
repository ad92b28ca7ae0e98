//! Stockfish 15.1 NNUE: a net exported by the installed Stockfish round-trips
//! byte for byte, a variant with halved fc_0 weights is accepted by
//! Stockfish, and damaged nets are refused with the offset of the damage.

mod common;

use common::*;
use qarena_models::{Format, Model, ModelError, Role, StorageType};

#[test]
fn round_trip_is_byte_identical() {
    let net = stockfish_net();
    let original = std::fs::read(net).unwrap();
    assert_eq!(qarena_models::detect(net).unwrap(), Format::Nnue);
    let model = Model::load(net).unwrap();
    assert!(
        model.description().starts_with(
            "Stockfish NNUE version 0x7AF32F20, hash 0x1C102EF2, SF 15.1 architecture"
        ),
        "{}",
        model.description()
    );
    assert_eq!(model.file_bytes(), original.len() as u64);
    assert_eq!(model.to_bytes().unwrap(), original);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("copy.nnue");
    model.write(&out).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), original);
    assert_eq!(
        qarena_models::sha256_file(&out).unwrap(),
        qarena_models::sha256_file(net).unwrap()
    );
}

#[test]
fn catalogue_and_views() {
    let net = stockfish_net();
    let raw = std::fs::read(net).unwrap();
    let model = Model::load(net).unwrap();
    let cat = model.catalogue();
    assert_eq!(cat.len(), 3 + 8 * 6);
    assert_eq!(cat[0].name, "ft.bias");
    assert!(cat[0].is_bias && cat[0].dtype == StorageType::I16);
    assert_eq!(cat[1].shape, vec![1024, 22528]);
    assert_eq!(cat[2].role, Role::Psqt);
    assert_eq!(cat[2].shape, vec![8, 22528]);
    for b in 0..8u32 {
        let stack: Vec<_> = cat.iter().filter(|t| t.layer == Some(b)).collect();
        assert_eq!(stack.len(), 6);
        assert_eq!(stack[1].role, Role::Fc0);
        assert_eq!(stack[1].shape, vec![16, 1024]);
        assert_eq!(stack[3].shape, vec![32, 30]);
        assert_eq!(stack[5].shape, vec![1, 32]);
        assert!(stack[0].is_bias && stack[2].is_bias && stack[4].is_bias);
    }

    // ft.weight row j is accumulator column j over all features.
    let desc_len = u32::from_le_bytes(raw[8..12].try_into().unwrap()) as usize;
    let ft_w = 12 + desc_len + 4 + 2048;
    let stored = |f: usize, j: usize| {
        let at = ft_w + 2 * (f * 1024 + j);
        i16::from_le_bytes([raw[at], raw[at + 1]]) as f32
    };
    let w = model.tensor_values(1);
    for (j, f) in [(0, 0), (1, 0), (0, 1), (777, 12345), (1023, 22527)] {
        assert_eq!(w[j * 22528 + f], stored(f, j));
    }
    // Integral values, and the notes' range for the feature transformer.
    assert!(w.iter().all(|v| v.fract() == 0.0));
    let (lo, hi) = w
        .iter()
        .fold((0f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    assert!(lo < -1000.0 && hi > 1000.0);
}

#[test]
fn stockfish_accepts_a_variant_with_halved_fc0() {
    let net = stockfish_net();
    let mut model = Model::load(net).unwrap();
    let fc0: Vec<usize> = model
        .catalogue()
        .iter()
        .enumerate()
        .filter(|(_, t)| t.role == Role::Fc0 && !t.is_bias)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(fc0.len(), 8);
    for &i in &fc0 {
        let v: Vec<f32> = model
            .tensor_values(i)
            .iter()
            .map(|v| (v / 2.0).round())
            .collect();
        model.set_tensor_values(i, &v).unwrap();
    }
    // fc_1 padding columns must stay zero when the visible part changes.
    let fc1 = model
        .catalogue()
        .iter()
        .position(|t| t.name == "stack0.fc_1.weight")
        .unwrap();
    let v: Vec<f32> = model
        .tensor_values(fc1)
        .iter()
        .map(|v| (v / 2.0).round())
        .collect();
    model.set_tensor_values(fc1, &v).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fc0-halved.nnue");
    model.write(&out).unwrap();
    let back = Model::load(&out).unwrap();
    assert_eq!(back.tensor_values(fc0[3]), model.tensor_values(fc0[3]));
    let raw = std::fs::read(&out).unwrap();
    let original = std::fs::read(net).unwrap();
    assert_eq!(raw.len(), original.len());
    let changed = raw.iter().zip(&original).filter(|(a, b)| a != b).count();
    assert!(changed > 1000, "{changed} bytes changed");

    let abs = std::fs::canonicalize(&out).unwrap();
    let transcript = stockfish_search(&abs);
    assert!(
        transcript.contains(&format!("NNUE evaluation using {} enabled", abs.display())),
        "Stockfish did not use the variant:\n{transcript}"
    );
    assert!(!transcript.contains("ERROR"), "{transcript}");
    assert!(transcript.contains("bestmove"), "{transcript}");
}

#[test]
fn damaged_nets_are_refused_with_the_offset() {
    let net = stockfish_net();
    let raw = std::fs::read(net).unwrap();
    let desc_len = u32::from_le_bytes(raw[8..12].try_into().unwrap()) as usize;
    let ft_hash_at = 12 + desc_len;
    let dir = tempfile::tempdir().unwrap();

    let mut flipped = raw.clone();
    flipped[ft_hash_at] ^= 0x01;
    let path = dir.path().join("flipped.nnue");
    std::fs::write(&path, &flipped).unwrap();
    let err = Model::load(&path).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ModelError::Corrupt { offset, .. } if offset == ft_hash_at as u64));
    assert!(
        msg.contains(&format!("is corrupt at byte {ft_hash_at}"))
            && msg.contains("0x7F2344B8")
            && msg.contains("flipped.nnue"),
        "{msg}"
    );
    // Stockfish refuses the same file, which is why we check first.
    let transcript = stockfish_search(&path);
    assert!(transcript.contains("ERROR"), "{transcript}");

    let stack3 = ft_hash_at + 4 + 2048 + 2 * 22528 * 1024 + 4 * 22528 * 8 + 3 * 17640;
    let mut stack = raw.clone();
    stack[stack3 + 2] ^= 0x40;
    let err = Model::from_bytes(&path, stack).unwrap_err().to_string();
    assert!(
        err.contains(&format!("byte {stack3}")) && err.contains("layer stack 3 hash 0x63336A4A"),
        "{err}"
    );

    let err = Model::from_bytes(&path, raw[..raw.len() - 1].to_vec()).unwrap_err();
    assert!(err.to_string().contains("ends early"), "{err}");
    let mut longer = raw.clone();
    longer.push(0);
    let err = Model::from_bytes(&path, longer).unwrap_err();
    assert!(
        matches!(err, ModelError::Corrupt { offset, .. } if offset == raw.len() as u64),
        "{err}"
    );

    let mut file_hash = raw.clone();
    file_hash[5] ^= 0x10;
    let err = Model::from_bytes(&path, file_hash).unwrap_err();
    assert!(
        matches!(err, ModelError::Corrupt { offset: 4, .. }),
        "{err}"
    );

    let mut version = raw.clone();
    version[0] = 0x16;
    let err = Model::from_bytes(&path, version).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, ModelError::UnsupportedVersion { .. }),
        "{msg}"
    );
    assert!(
        msg.contains("0x7AF32F16") && msg.contains("0x7AF32F20"),
        "{msg}"
    );

    // A later architecture: LEB128-compressed layers after the FT hash.
    let mut leb = raw[..ft_hash_at + 4].to_vec();
    leb[4] ^= 0xFF;
    leb[ft_hash_at] ^= 0xFF;
    leb.extend_from_slice(b"COMPRESSED_LEB128");
    leb.extend_from_slice(&[0; 64]);
    let err = Model::from_bytes(&path, leb).unwrap_err().to_string();
    assert!(err.contains("LEB128") && err.contains("supported"), "{err}");
}

#[test]
fn integer_tensors_take_only_integers_in_range() {
    let mut model = Model::load(stockfish_net()).unwrap();
    let fc0 = 4;
    assert_eq!(model.catalogue()[fc0].name, "stack0.fc_0.weight");
    let mut v = model.tensor_values(fc0);
    v[7] = 128.0;
    let err = model.set_tensor_values(fc0, &v).unwrap_err().to_string();
    assert!(
        err.contains("element 7") && err.contains("i8 range"),
        "{err}"
    );
    v[7] = 1.5;
    let err = model.set_tensor_values(fc0, &v).unwrap_err().to_string();
    assert!(err.contains("not an integer"), "{err}");
    assert!(!model.is_modified());
    let err = model.set_tensor_values(999, &v).unwrap_err();
    assert!(matches!(err, ModelError::NoSuchTensor { .. }), "{err}");

    // Unchanged values are a no-op even for wide int32 tensors.
    let psqt = model.tensor_values(2);
    model.set_tensor_values(2, &psqt).unwrap();
    assert!(!model.is_modified());
    assert_eq!(
        model.to_bytes().unwrap(),
        std::fs::read(stockfish_net()).unwrap()
    );
}
