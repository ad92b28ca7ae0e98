//! The shared KataGo net: catalogue, byte-identical round trips (binary and
//! text), and a 4-bit variant that the real KataGo loads and plays with.

mod common;

use common::*;
use qarena_models::{Format, LoadOptions, Model, ModelError, Role};

#[test]
fn catalogue_of_the_shared_net() {
    let model = Model::load(&katago_net()).unwrap();
    assert_eq!(model.format(), Format::KataGoBinGz);
    assert!(
        model
            .description()
            .starts_with("KataGo model version 8, 6 blocks x 96 channels"),
        "{}",
        model.description()
    );
    let cat = model.catalogue();
    let params = model.num_params();
    assert_eq!(
        params, 1_030_599,
        "all floats of the file, BN statistics included"
    );
    assert!((1_020_000..1_040_000).contains(&params));

    // Stem: the initial conv reads 22 planes into 96 channels.
    let stem: Vec<_> = cat.iter().filter(|t| t.role == Role::Stem).collect();
    assert_eq!(stem.len(), 2);
    assert_eq!(stem[0].shape, vec![96, 22, 5, 5]);
    assert_eq!(stem[1].shape, vec![96, 19]);

    // Six blocks; the last two are late by default.
    let mut blocks: Vec<u32> = cat
        .iter()
        .filter(|t| matches!(t.role, Role::Trunk | Role::Late))
        .filter_map(|t| t.layer)
        .collect();
    blocks.dedup();
    assert_eq!(blocks, vec![0, 1, 2, 3, 4, 5]);
    assert!(cat
        .iter()
        .filter(|t| t.layer >= Some(4))
        .all(|t| t.role == Role::Late));
    assert_eq!(
        cat.iter()
            .filter(|t| t.shape.len() == 4 && t.shape[2] == 3 && t.layer.is_some())
            .count(),
        14,
        "14 3x3 trunk convs"
    );
    assert!(cat.iter().any(|t| t.role == Role::PolicyHead));
    assert!(cat.iter().any(|t| t.role == Role::ValueHead));
    assert!(cat.iter().filter(|t| t.shape.len() == 1).all(|t| t.is_bias));

    let custom = Model::load_with(&katago_net(), &LoadOptions { late_blocks: 4 }).unwrap();
    assert!(custom
        .catalogue()
        .iter()
        .filter(|t| t.layer >= Some(2))
        .all(|t| t.role == Role::Late));
}

#[test]
fn values_are_output_channel_major() {
    // Stored order of a conv is [y][x][in][out] with out fastest: the first
    // stored float of conv1 is out 0, in 0, y 0, x 0; the second is out 1.
    let raw = gunzip(&std::fs::read(katago_net()).unwrap());
    let model = Model::load(&katago_net()).unwrap();
    let marker = raw.windows(5).position(|w| w == b"@BIN@").unwrap() + 5;
    let stored = |i: usize| {
        let b = &raw[marker + 4 * i..marker + 4 * i + 4];
        f32::from_le_bytes([b[0], b[1], b[2], b[3]])
    };
    let conv1 = model.tensor_values(0);
    let (oc, ic, k) = (96, 22, 5);
    assert_eq!(conv1[0], stored(0));
    assert_eq!(
        conv1[ic * k * k],
        stored(1),
        "out channel 1 starts a new row"
    );
    // out 3, in 7, y 2, x 4
    let exposed = ((3 * ic + 7) * k + 2) * k + 4;
    let stored_index = ((2 * k + 4) * ic + 7) * oc + 3;
    assert_eq!(conv1[exposed], stored(stored_index));
}

#[test]
fn round_trip_is_byte_identical() {
    let original = std::fs::read(katago_net()).unwrap();
    let model = Model::load(&katago_net()).unwrap();
    assert_eq!(model.file_bytes(), original.len() as u64);
    assert_eq!(model.to_bytes().unwrap(), gunzip(&original));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("same.bin.gz");
    model.write(&out).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), original);

    // Setting every tensor to its own values changes nothing either.
    let mut model = model;
    for i in 0..model.catalogue().len() {
        let v = model.tensor_values(i);
        model.set_tensor_values(i, &v).unwrap();
    }
    assert!(!model.is_modified());
    assert_eq!(model.to_bytes().unwrap(), gunzip(&original));
}

#[test]
fn uncompressed_binary_round_trip() {
    let raw = gunzip(&std::fs::read(katago_net()).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("net.bin");
    std::fs::write(&path, &raw).unwrap();
    assert_eq!(qarena_models::detect(&path).unwrap(), Format::KataGoBin);
    let model = Model::load(&path).unwrap();
    let out = dir.path().join("out.bin");
    model.write(&out).unwrap();
    assert_eq!(std::fs::read(out).unwrap(), raw);
}

#[test]
fn changed_tensor_is_written_and_read_back() {
    let mut model = Model::load(&katago_net()).unwrap();
    let idx = model
        .catalogue()
        .iter()
        .position(|t| t.name == "rconv2/w1")
        .unwrap();
    let mut v = model.tensor_values(idx);
    v[5] = 0.25;
    v[1000] = -0.5;
    model.set_tensor_values(idx, &v).unwrap();
    assert!(model.is_modified());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("changed.bin.gz");
    model.write(&out).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(gunzip(&bytes), model.to_bytes().unwrap());
    // The gzip header keeps the original's stored name and time.
    let original = std::fs::read(katago_net()).unwrap();
    assert_eq!(bytes[..10], original[..10]);
    let back = Model::load(&out).unwrap();
    assert_eq!(back.tensor_values(idx), v);

    let err = model.set_tensor_values(idx, &v[1..]).unwrap_err();
    assert!(matches!(err, ModelError::LengthMismatch { .. }), "{err}");
    let mut bad = v.clone();
    bad[3] = f32::NAN;
    let err = model.set_tensor_values(idx, &bad).unwrap_err();
    assert!(err.to_string().contains("not finite"), "{err}");
}

#[test]
fn text_format_round_trip_and_katago_loads_it() {
    let model = Model::load(&katago_net()).unwrap();
    let text = model.to_katago_text().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g170.txt.gz");
    std::fs::write(&path, gzip(&text)).unwrap();
    assert_eq!(qarena_models::detect(&path).unwrap(), Format::KataGoTxtGz);

    let mut txt = Model::load(&path).unwrap();
    assert_eq!(txt.format(), Format::KataGoTxtGz);
    assert_eq!(txt.catalogue(), model.catalogue());
    for i in 0..model.catalogue().len() {
        assert_eq!(txt.tensor_values(i), model.tensor_values(i), "tensor {i}");
    }
    assert_eq!(txt.to_bytes().unwrap(), text);
    let same = dir.path().join("same.txt.gz");
    txt.write(&same).unwrap();
    assert_eq!(gunzip(&std::fs::read(&same).unwrap()), text);

    // Change one tensor: only its tokens change, and the values read back.
    let idx = txt
        .catalogue()
        .iter()
        .position(|t| t.name == "v2/w")
        .unwrap();
    let halved: Vec<f32> = txt.tensor_values(idx).iter().map(|v| v * 0.5).collect();
    txt.set_tensor_values(idx, &halved).unwrap();
    let out = dir.path().join("variant.txt.gz");
    txt.write(&out).unwrap();
    let rendered = gunzip(&std::fs::read(&out).unwrap());
    let prefix = text
        .iter()
        .zip(&rendered)
        .take_while(|(a, b)| a == b)
        .count();
    let suffix = text
        .iter()
        .rev()
        .zip(rendered.iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    assert!(prefix > text.len() / 2 && suffix > 0);
    let back = Model::load(&out).unwrap();
    assert_eq!(back.tensor_values(idx), halved);
    for i in (0..model.catalogue().len()).filter(|&i| i != idx) {
        assert_eq!(back.tensor_values(i), model.tensor_values(i));
    }

    let transcript = katago_genmove(&out);
    assert!(
        genmove_vertex(&transcript).is_some(),
        "KataGo did not play with the text variant:\n{transcript}"
    );
}

/// Rounds each output channel to a symmetric 4-bit grid (levels -7..=7).
fn int4_per_channel(values: &mut [f32], rows: usize) {
    let cols = values.len() / rows;
    for row in values.chunks_mut(cols) {
        let absmax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        if absmax == 0.0 {
            continue;
        }
        let scale = absmax / 7.0;
        for v in row {
            *v = (*v / scale).round().clamp(-7.0, 7.0) * scale;
        }
    }
}

#[test]
fn katago_plays_with_an_int4_trunk() {
    let mut model = Model::load(&katago_net()).unwrap();
    let trunk: Vec<usize> = model
        .catalogue()
        .iter()
        .enumerate()
        .filter(|(_, t)| matches!(t.role, Role::Trunk | Role::Late) && t.shape.len() == 4)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        trunk.len(),
        14,
        "2 per ordinary block (4), 3 per gpool block (2)"
    );
    for &i in &trunk {
        let mut v = model.tensor_values(i);
        let original = v.clone();
        int4_per_channel(&mut v, model.catalogue()[i].shape[0]);
        assert_ne!(v, original);
        model.set_tensor_values(i, &v).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("int4-trunk.bin.gz");
    model.write(&out).unwrap();
    let back = Model::load(&out).unwrap();
    let levels: std::collections::BTreeSet<u32> = back
        .tensor_values(trunk[0])
        .iter()
        .take(96 * 9)
        .map(|v| v.to_bits())
        .collect();
    assert!(levels.len() <= 15, "one row holds at most 15 levels");

    let transcript = katago_genmove(&out);
    let vertex = genmove_vertex(&transcript);
    assert!(
        vertex.is_some(),
        "KataGo did not answer genmove with a 9x9 vertex:\n{transcript}"
    );
}

#[test]
fn unsupported_versions_and_layers_are_named() {
    let raw = gunzip(&std::fs::read(katago_net()).unwrap());
    let text = String::from_utf8_lossy(&raw[..200]).into_owned();
    let dir = tempfile::tempdir().unwrap();

    let mut v99 = raw.clone();
    let at = text.find("\n8\n").unwrap() + 1;
    v99.splice(at..at + 1, b"99".iter().copied());
    let err = Model::from_bytes(&dir.path().join("x.bin"), v99).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, ModelError::UnsupportedVersion { .. }),
        "{msg}"
    );
    assert!(msg.contains("99") && msg.contains("3 to 17"), "{msg}");

    let kind = raw
        .windows(14)
        .position(|w| w == b"ordinary_block")
        .unwrap();
    let mut odd = raw.clone();
    odd[kind..kind + 14].copy_from_slice(b"fancynew_block");
    let err = Model::from_bytes(&dir.path().join("x.bin"), odd).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("fancynew_block") && msg.contains(&format!("byte {kind}")),
        "{msg}"
    );

    let err =
        Model::from_bytes(&dir.path().join("x.bin"), raw[..raw.len() / 2].to_vec()).unwrap_err();
    assert!(matches!(err, ModelError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("ends inside"), "{err}");
}
