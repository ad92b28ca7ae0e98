//! Tests of `quantize_tensor`: hand-checked byte counts, exactness
//! guarantees, and property tests for error bounds and idempotence.

use proptest::prelude::*;

use super::*;
use crate::scheme::ScaleType;
use crate::tensor::Role;

fn info(shape: &[usize], dtype: StorageType) -> TensorInfo {
    TensorInfo {
        name: "t".into(),
        shape: shape.to_vec(),
        dtype,
        role: Role::Trunk,
        layer: Some(0),
        is_bias: false,
    }
}

fn ramp(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
        .collect()
}

fn int(bits: u8) -> Scheme {
    Scheme::Int {
        bits,
        symmetric: true,
    }
}

#[test]
fn bytes_int4_group32_hand_checked() {
    let t = info(&[4, 64], StorageType::F32);
    let v = ramp(256);
    let spec = QuantSpec::new(int(4)).with_granularity(Granularity::Group(32));
    let out = quantize_tensor(&t, &v, &spec).unwrap();
    // 256 codes * 4 bits = 128 bytes, 8 groups * f16 scale = 16 bytes.
    assert_eq!(out.bytes, 144);
    assert_eq!(out.effective_bits, 144.0 * 8.0 / 256.0);

    // Asymmetric adds a 4-bit zero point per group: 8 * 4 bits = 4 bytes.
    let asym = QuantSpec {
        scheme: Scheme::Int {
            bits: 4,
            symmetric: false,
        },
        ..spec
    };
    assert_eq!(quantize_tensor(&t, &v, &asym).unwrap().bytes, 148);

    // f32 scales: 8 * 4 bytes.
    let f32s = spec.with_scale_type(ScaleType::F32);
    assert_eq!(quantize_tensor(&t, &v, &f32s).unwrap().bytes, 160);

    // LUT-4 per channel: 128 bytes of codes + 4 palettes * 16 * 2 bytes.
    let lut = QuantSpec::new(Scheme::Lut { bits: 4 });
    assert_eq!(quantize_tensor(&t, &v, &lut).unwrap().bytes, 256);

    // 1% outliers of 256 elements = round(2.56) = 3, each 4 bytes of f32
    // value + 2 bytes of index.
    let out = quantize_tensor(&t, &v, &spec.with_outlier_percent(1.0)).unwrap();
    assert_eq!(out.bytes, 144 + 18);

    // levels7: log2(15) bits per element, one scale per channel.
    let lv = QuantSpec::new(Scheme::Levels { levels: 7 });
    let want = (256.0 * 15f64.log2() + 4.0 * 16.0) / 8.0;
    assert_eq!(
        quantize_tensor(&t, &v, &lv).unwrap().bytes,
        want.ceil() as u64
    );
}

#[test]
fn vectors_are_one_row_and_groups_can_be_ragged() {
    let t = info(&[10], StorageType::F32);
    let v = ramp(10);
    let ch = quantize_tensor(&t, &v, &QuantSpec::new(int(8))).unwrap();
    assert_eq!(ch.bytes, 10 + 2); // one scale, not ten
    let g = QuantSpec::new(int(8)).with_granularity(Granularity::Group(4));
    assert_eq!(quantize_tensor(&t, &v, &g).unwrap().bytes, 10 + 3 * 2);
    // Group larger than a row degenerates to one group per row.
    let t2 = info(&[2, 3], StorageType::F32);
    let g = QuantSpec::new(int(8)).with_granularity(Granularity::Group(32));
    assert_eq!(quantize_tensor(&t2, &ramp(6), &g).unwrap().bytes, 6 + 2 * 2);
}

#[test]
fn keep_is_exact_and_costs_the_original_bytes() {
    let t = info(&[3, 5], StorageType::Bf16);
    let v = ramp(15);
    let out = quantize_tensor(&t, &v, &QuantSpec::KEEP).unwrap();
    assert_eq!(out.values, v);
    assert_eq!(out.bytes, 30);
    assert_eq!(out.effective_bits, 16.0);
    assert_eq!(out.metrics.sqnr_db, SQNR_CAP);
    assert_eq!(out.metrics.mse, 0.0);
}

const SQNR_CAP: f64 = crate::metrics::SQNR_CAP_DB;

#[test]
fn outliers_are_exact_and_do_not_stretch_the_scale() {
    let t = info(&[2, 50], StorageType::F32);
    let mut v = ramp(100);
    v[7] = 1000.0;
    v[60] = -2000.0;
    let spec = QuantSpec::new(int(4)).with_outlier_percent(2.0);
    let out = quantize_tensor(&t, &v, &spec).unwrap();
    assert_eq!(out.values[7], 1000.0);
    assert_eq!(out.values[60], -2000.0);
    let plain = quantize_tensor(&t, &v, &QuantSpec::new(int(4))).unwrap();
    // Without outliers the huge values set the scale and the rest is
    // flattened; with them the bulk is resolved.
    assert!(out.metrics.mse * 100.0 < plain.metrics.mse);
}

#[test]
fn int8_per_channel_reproduces_full_range_int8_rows() {
    // Rows spanning the whole int8 range, including -128, survive int8
    // symmetric per-channel quantization exactly (scale 1 in the integer
    // domain); so do rows with a smaller range.
    let rows = 6;
    let cols = 256;
    let mut v = Vec::new();
    for r in 0..rows {
        for c in 0..cols {
            let x = ((c * 97 + r * 31) % 256) as i32 - 128;
            v.push(if r == 5 { (x / 3) as f32 } else { x as f32 });
        }
    }
    let t = info(&[rows, cols], StorageType::I8);
    let out = quantize_tensor(&t, &v, &QuantSpec::new(int(8))).unwrap();
    assert_eq!(out.values, v);
    assert_eq!(out.metrics.sqnr_db, SQNR_CAP);
}

#[test]
fn integer_storage_gets_integers_in_range() {
    let t = info(&[4, 40], StorageType::I16);
    let v: Vec<f32> = (0..160)
        .map(|i| (i * 7919 % 65536 - 32768) as f32)
        .collect();
    for scheme in [
        int(2),
        int(4),
        Scheme::Levels { levels: 5 },
        Scheme::Nf4,
        Scheme::Fp4,
        Scheme::Fp8E4M3,
        Scheme::Lut { bits: 3 },
        Scheme::Int {
            bits: 3,
            symmetric: false,
        },
    ] {
        let out = quantize_tensor(&t, &v, &QuantSpec::new(scheme)).unwrap();
        for &y in &out.values {
            assert_eq!(y, y.round(), "{scheme}: {y}");
            assert!((-32768.0..=32767.0).contains(&y), "{scheme}: {y}");
        }
    }
}

#[test]
fn fp16_and_bf16_round_to_nearest_even_with_exact_bytes() {
    // 1 + 2^-11 is halfway between 1 and the next f16 (1 + 2^-10): ties
    // to even give 1; 1 + 3·2^-11 is halfway between 1 + 2^-10 and
    // 1 + 2^-9: even is 1 + 2^-9.
    let v = [
        1.0 + 2f32.powi(-11),
        1.0 + 3.0 * 2f32.powi(-11),
        -2.0e-8,
        65504.0,
        0.1,
    ];
    let t = info(&[5], StorageType::F32);
    let out = quantize_tensor(&t, &v, &QuantSpec::new(Scheme::Fp16)).unwrap();
    assert_eq!(out.values[0], 1.0);
    assert_eq!(out.values[1], 1.0 + 2f32.powi(-9));
    // Below half the smallest subnormal (2^-24 ≈ 6e-8): zero, sign kept.
    assert_eq!(out.values[2], 0.0);
    assert!(out.values[2].is_sign_negative());
    assert_eq!(out.values[3], 65504.0);
    assert!((out.values[4] - 0.1).abs() < 0.1 * 2f32.powi(-11));
    assert_eq!(out.bytes, 10);
    assert_eq!(
        out.bytes,
        predicted_bytes(&t, &QuantSpec::new(Scheme::Fp16))
    );
    assert!((out.effective_bits - 16.0).abs() < 1e-12);
    // bfloat16 keeps 8 significant bits: 1 + 2^-8 is a tie, even is 1.
    let b = quantize_tensor(
        &t,
        &[1.0 + 2f32.powi(-8), 3.0e38, 1.5, -2.0, 0.0],
        &QuantSpec::new(Scheme::Bf16),
    )
    .unwrap();
    assert_eq!(b.values[0], 1.0);
    assert!((b.values[1] - 3.0e38).abs() < 3.0e38 * 2f32.powi(-8));
    assert_eq!(&b.values[2..], &[1.5, -2.0, 0.0]);
    // Beyond half-precision's range: an error naming tensor and element.
    let e = quantize_tensor(
        &t,
        &[0.0, 0.0, 0.0, 70000.0, 0.0],
        &QuantSpec::new(Scheme::Fp16),
    )
    .unwrap_err();
    assert!(e.to_string().contains("element 3"), "{e}");
    // Clipping and outliers mean nothing for a cast: refused.
    let e = QuantSpec::new(Scheme::Bf16)
        .with_outlier_percent(0.1)
        .validate()
        .unwrap_err();
    assert!(e.to_string().contains("do not apply"), "{e}");
    assert_eq!("fp16".parse::<Scheme>().unwrap(), Scheme::Fp16);
    assert_eq!(Scheme::Bf16.to_string(), "bf16");
}

#[test]
fn fp8_table_values_survive_with_unit_scale() {
    let table = signed_table(Scheme::Fp8E4M3).to_vec();
    let t = info(&[table.len()], StorageType::F32);
    let out = quantize_tensor(&t, &table, &QuantSpec::new(Scheme::Fp8E4M3)).unwrap();
    assert_eq!(out.values, table);
    let table = signed_table(Scheme::Fp8E5M2).to_vec();
    let t = info(&[table.len()], StorageType::F32);
    let spec = QuantSpec::new(Scheme::Fp8E5M2).with_scale_type(ScaleType::F32);
    assert_eq!(quantize_tensor(&t, &table, &spec).unwrap().values, table);
}

#[test]
fn percentile_clipping_trades_the_tail_for_the_bulk() {
    let t = info(&[1, 200], StorageType::F32);
    let mut v: Vec<f32> = (0..200).map(|i| (i as f32 - 100.0) / 100.0).collect();
    v[0] = 50.0;
    let none = quantize_tensor(&t, &v, &QuantSpec::new(int(4))).unwrap();
    let pct = QuantSpec::new(int(4)).with_clipping(Clipping::Percentile(99.0));
    let clipped = quantize_tensor(&t, &v, &pct).unwrap();
    let bulk_err = |o: &QuantOutput| -> f32 {
        (1..200)
            .map(|i| (o.values[i] - v[i]).abs())
            .fold(0.0, f32::max)
    };
    assert!(bulk_err(&clipped) < bulk_err(&none) / 10.0);
    assert!(clipped.values[0] < 2.0);
}

#[test]
fn errors_name_the_tensor() {
    let t = info(&[2, 2], StorageType::F32);
    let e = quantize_tensor(&t, &[1.0; 3], &QuantSpec::new(int(4))).unwrap_err();
    assert!(matches!(
        e,
        QuantError::LengthMismatch {
            expected: 4,
            got: 3,
            ..
        }
    ));
    let e = quantize_tensor(&t, &[1.0, f32::NAN, 0.0, 0.0], &QuantSpec::new(int(4)));
    assert!(matches!(e, Err(QuantError::NonFinite { index: 1, .. })));
    let ec = QuantSpec::new(int(4)).with_rounding(Rounding::ErrorCompensating);
    let e = quantize_tensor(&t, &[1.0; 4], &ec).unwrap_err();
    assert!(matches!(e, QuantError::Unsupported { .. }));
    assert!(e.to_string().contains("calibration"), "{e}");
    let bad = QuantSpec::new(int(9));
    assert!(matches!(
        quantize_tensor(&t, &[1.0; 4], &bad),
        Err(QuantError::InvalidSpec(_))
    ));
    // int2 of an int32 tensor holding 1e6: scale 5e5 overflows f16.
    let t = info(&[1], StorageType::I32);
    let e = quantize_tensor(&t, &[1e6], &QuantSpec::new(int(2))).unwrap_err();
    assert!(e.to_string().contains("scale = \"f32\""), "{e}");
    let ok = QuantSpec::new(int(2)).with_scale_type(ScaleType::F32);
    assert_eq!(quantize_tensor(&t, &[1e6], &ok).unwrap().values, vec![1e6]);
}

#[test]
fn lut_is_deterministic_and_beats_uniform_on_clusters() {
    let t = info(&[8, 256], StorageType::F32);
    let v: Vec<f32> = (0..2048)
        .map(|i| {
            let c = [-3.0f32, -0.1, 0.0, 0.2, 5.0][i * 7 % 5];
            c + ((i * 13 % 17) as f32 - 8.0) * 1e-3
        })
        .collect();
    let lut = QuantSpec::new(Scheme::Lut { bits: 3 });
    let a = quantize_tensor(&t, &v, &lut).unwrap();
    let b = quantize_tensor(&t, &v, &lut).unwrap();
    assert_eq!(a, b);
    let uni = quantize_tensor(&t, &v, &QuantSpec::new(int(3))).unwrap();
    assert!(a.metrics.mse < uni.metrics.mse / 10.0);
}

#[test]
fn group_grids_recover_every_code_and_value_exactly() {
    let shape = [6, 40];
    let values = ramp(240);
    for scheme in [
        "int4", "uint3", "int8", "levels5", "nf4", "fp4", "fp8_e4m3", "lut2",
    ] {
        for g in [
            Granularity::Channel,
            Granularity::Group(16),
            Granularity::Tensor,
        ] {
            for clip in [Clipping::None, Clipping::Mse] {
                let spec = QuantSpec::new(scheme.parse().unwrap())
                    .with_granularity(g)
                    .with_clipping(clip);
                if spec.validate().is_err() {
                    continue; // palettes take no clipping
                }
                let t = info(&shape, StorageType::F32);
                let (q, grids) = quantize_tensor_grids(&t, &values, &spec).unwrap();
                assert_eq!(q, quantize_tensor(&t, &values, &spec).unwrap());
                let per_row = match g {
                    Granularity::Group(n) => 40usize.div_ceil(n as usize),
                    _ => 1,
                };
                let rows = if g == Granularity::Tensor { 1 } else { 6 };
                assert_eq!(grids.len(), rows * per_row, "{scheme} {g:?}");
                let group_len = match g {
                    Granularity::Group(n) => n as usize,
                    _ => 40,
                };
                for (i, y) in q.values.iter().enumerate() {
                    let index = if rows == 1 {
                        0
                    } else {
                        (i / 40) * per_row + (i % 40) / group_len
                    };
                    let grid = &grids[index];
                    let code = grid.code_of(*y);
                    assert_eq!(
                        grid.value_of(code).to_bits(),
                        y.to_bits(),
                        "{scheme} {g:?} {i}"
                    );
                    let (lo, hi) = grid.extent();
                    assert!(lo <= *y && *y <= hi);
                }
            }
        }
    }
    let keep = QuantSpec::new(Scheme::Keep);
    assert!(quantize_tensor_grids(&info(&shape, StorageType::F32), &values, &keep).is_err());
}

#[test]
fn a_scale_floor_keeps_tiny_groups_from_tiny_scales() {
    let t = info(&[2, 4], StorageType::F32);
    let v = [0.001f32, -0.002, 0.003, 0.0, 1.0, -2.0, 3.0, 0.5];
    let spec = QuantSpec::new(int(4)).with_min_scale(0.25);
    let (q, grids) = quantize_tensor_grids(&t, &v, &spec).unwrap();
    // Row 0 would get scale 0.003/7; the floor makes it 0.25 and its
    // values round to zero. Row 1 is above the floor and unchanged.
    assert_eq!(grids[0].scale(), 0.25);
    assert_eq!(&q.values[..4], &[0.0, 0.0, 0.0, 0.0]);
    let plain = quantize_tensor(&t, &v, &QuantSpec::new(int(4))).unwrap();
    assert_eq!(&q.values[4..], &plain.values[4..]);
    // The default (no floor) does not appear in a spec's serialised form,
    // so existing strategies keep their identity.
    let json = serde_json::to_string(&QuantSpec::new(int(4))).unwrap();
    assert!(!json.contains("min_scale"), "{json}");
    assert!(QuantSpec::new(int(4))
        .with_min_scale(-1.0)
        .validate()
        .is_err());
}

#[test]
fn empty_tensor() {
    let t = info(&[0, 4], StorageType::F32);
    let out = quantize_tensor(&t, &[], &QuantSpec::new(int(4))).unwrap();
    assert_eq!((out.bytes, out.effective_bits), (0, 0.0));
    assert!(out.metrics.sqnr_db.is_finite());
}

// ---- property tests -------------------------------------------------------

fn granularity() -> impl Strategy<Value = Granularity> {
    prop_oneof![
        Just(Granularity::Tensor),
        Just(Granularity::Channel),
        (1u32..9).prop_map(Granularity::Group),
    ]
}

/// A small float tensor: shape [rows, cols] with values of varied spread.
fn tensor() -> impl Strategy<Value = (Vec<usize>, Vec<f32>)> {
    (1usize..5, 1usize..24, 0.001f32..1000.0).prop_flat_map(|(r, c, spread)| {
        (
            Just(vec![r, c]),
            proptest::collection::vec(-1.0f32..1.0, r * c)
                .prop_map(move |v| v.into_iter().map(|x| x * spread).collect()),
        )
    })
}

/// Scale groups of a tensor, as (start, len) runs — mirrors `layout`.
fn groups(shape: &[usize], g: Granularity) -> Vec<(usize, usize)> {
    let n: usize = shape.iter().product();
    let (rows, row) = (shape[0], n / shape[0]);
    match g {
        Granularity::Tensor => vec![(0, n)],
        Granularity::Channel => (0..rows).map(|r| (r * row, row)).collect(),
        Granularity::Group(gs) => (0..rows)
            .flat_map(|r| {
                (0..row)
                    .step_by(gs as usize)
                    .map(move |c| (r * row + c, (gs as usize).min(row - c)))
            })
            .collect(),
    }
}

fn uniform_scheme() -> impl Strategy<Value = Scheme> {
    prop_oneof![
        (2u8..=8).prop_map(|bits| Scheme::Int {
            bits,
            symmetric: true
        }),
        (2u8..=8).prop_map(|bits| Scheme::Int {
            bits,
            symmetric: false
        }),
        (1u32..=127).prop_map(|levels| Scheme::Levels { levels }),
    ]
}

fn idempotent_scheme() -> impl Strategy<Value = Scheme> {
    prop_oneof![
        (2u8..=8).prop_map(|bits| Scheme::Int {
            bits,
            symmetric: true
        }),
        (1u32..=127).prop_map(|levels| Scheme::Levels { levels }),
        Just(Scheme::Nf4),
        Just(Scheme::Fp4),
        Just(Scheme::Fp8E4M3),
        Just(Scheme::Fp8E5M2),
        (1u8..=4).prop_map(|bits| Scheme::Lut { bits }),
    ]
}

fn any_scheme() -> impl Strategy<Value = Scheme> {
    prop_oneof![uniform_scheme(), idempotent_scheme(), Just(Scheme::Keep)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Without clipping, every element is within half a step of its input.
    #[test]
    fn error_within_half_step((shape, v) in tensor(), scheme in uniform_scheme(), g in granularity()) {
        let t = info(&shape, StorageType::F32);
        let out = quantize_tensor(&t, &v, &QuantSpec::new(scheme).with_granularity(g)).unwrap();
        for (start, len) in groups(&shape, g) {
            let s = &v[start..start + len];
            let lo = s.iter().fold(0.0f64, |a, &x| a.min(f64::from(x)));
            let hi = s.iter().fold(0.0f64, |a, &x| a.max(f64::from(x)));
            let step = match scheme {
                Scheme::Int { bits, symmetric: true } => {
                    let q = f64::from(1u32 << (bits - 1));
                    (hi / (q - 1.0)).max(-lo / q)
                }
                Scheme::Int { bits, symmetric: false } => (hi - lo) / f64::from((1u32 << bits) - 1),
                Scheme::Levels { levels } => hi.max(-lo) / f64::from(levels),
                _ => unreachable!(),
            };
            // The f16 scale is rounded up by at most 2^-10 relative.
            let bound = 0.5 * step * (1.0 + 1.0 / 512.0) + 1e-6 * hi.max(-lo);
            for (i, (&y, &x)) in out.values.iter().zip(&v).enumerate().skip(start).take(len) {
                let e = (f64::from(y) - f64::from(x)).abs();
                prop_assert!(e <= bound, "elem {} err {} > {} ({})", i, e, bound, scheme);
            }
        }
    }

    /// Quantizing a quantized tensor again with the same spec is a no-op.
    #[test]
    fn idempotent((shape, v) in tensor(), scheme in idempotent_scheme(), g in granularity(), mse in any::<bool>()) {
        let clip = if mse && !matches!(scheme, Scheme::Lut { .. }) { Clipping::Mse } else { Clipping::None };
        let spec = QuantSpec::new(scheme).with_granularity(g).with_clipping(clip);
        let t = info(&shape, StorageType::F32);
        let once = quantize_tensor(&t, &v, &spec).unwrap();
        let twice = quantize_tensor(&t, &once.values, &spec).unwrap();
        prop_assert_eq!(&once.values, &twice.values, "{}", spec);
    }

    /// Metrics stay finite for any scheme, including all-zero tensors.
    #[test]
    fn metrics_finite((shape, mut v) in tensor(), scheme in any_scheme(), g in granularity(), zero in any::<bool>(), out in 0.0f64..20.0) {
        if zero { v.iter_mut().for_each(|x| *x = 0.0); }
        let t = info(&shape, StorageType::F32);
        let spec = QuantSpec::new(scheme).with_granularity(g).with_outlier_percent(out);
        let o = quantize_tensor(&t, &v, &spec).unwrap();
        let m = o.metrics;
        prop_assert!(m.mse.is_finite() && m.sqnr_db.is_finite() && m.max_abs.is_finite() && m.cosine.is_finite());
        prop_assert!(o.effective_bits.is_finite());
        prop_assert_eq!(o.values.len(), v.len());
    }

    /// Kept outliers are bit-exact and are the largest magnitudes.
    #[test]
    fn outliers_exact((shape, v) in tensor(), scheme in idempotent_scheme(), frac in 0.01f64..0.5) {
        let t = info(&shape, StorageType::F32);
        let spec = QuantSpec::new(scheme).with_outlier_percent(frac * 100.0);
        let o = quantize_tensor(&t, &v, &spec).unwrap();
        let idx = outlier_indices(&v, frac);
        prop_assert_eq!(idx.len(), (v.len() as f64 * frac).round() as usize);
        let smallest_kept = idx.iter().map(|&i| v[i].abs()).fold(f32::INFINITY, f32::min);
        for (i, x) in v.iter().enumerate() {
            if idx.contains(&i) {
                prop_assert_eq!(o.values[i].to_bits(), x.to_bits());
            } else {
                prop_assert!(x.abs() <= smallest_kept);
            }
        }
    }

    /// The bytes predicted from the shape alone are the bytes counted when
    /// the tensor is quantized, for every scheme, granularity and outlier
    /// share (strategy budgets rely on it).
    #[test]
    fn predicted_bytes_match((shape, v) in tensor(), scheme in any_scheme(), g in granularity(), out in 0.0f64..20.0) {
        let t = info(&shape, StorageType::F32);
        let spec = QuantSpec::new(scheme).with_granularity(g).with_outlier_percent(out);
        let o = quantize_tensor(&t, &v, &spec).unwrap();
        prop_assert_eq!(predicted_bytes(&t, &spec), o.bytes, "{}", spec);
    }

    /// MSE clipping tries the unclipped range too, so it is never worse.
    #[test]
    fn mse_clip_never_worse((shape, v) in tensor(), scheme in idempotent_scheme(), g in granularity()) {
        prop_assume!(!matches!(scheme, Scheme::Lut { .. }));
        let t = info(&shape, StorageType::F32);
        let spec = QuantSpec::new(scheme).with_granularity(g);
        let none = quantize_tensor(&t, &v, &spec).unwrap();
        let mse = quantize_tensor(&t, &v, &spec.with_clipping(Clipping::Mse)).unwrap();
        prop_assert!(mse.metrics.mse <= none.metrics.mse * (1.0 + 1e-5) + 1e-12);
    }
}

proptest! {
    /// Boundary counting picks the same entry as the binary search,
    /// including ties (to even) and adjacent-float entries.
    #[test]
    fn small_table_agrees_with_nearest_index(
        mut table in proptest::collection::vec(-100.0f32..100.0, 1..=32),
        xs in proptest::collection::vec(-120.0f32..120.0, 1..50),
    ) {
        table.sort_by(f32::total_cmp);
        table.dedup();
        let t = SmallTable::<32>::new(&table).unwrap();
        for &e in &table {
            prop_assert_eq!(t.nearest(e), e);
        }
        let dist = |e: f32, x: f32| (f64::from(e) - f64::from(x)).abs();
        for (j, w) in table.windows(2).enumerate() {
            let mid = (0.5 * (f64::from(w[0]) + f64::from(w[1]))) as f32;
            if dist(w[0], mid) == dist(w[1], mid) {
                // An exact tie goes to the even index.
                prop_assert_eq!(t.nearest(mid), w[j % 2]);
            }
        }
        for x in xs.into_iter().chain(table.windows(2).map(|w| 0.5 * (w[0] + w[1]))) {
            let got = t.nearest(x);
            let best = table.iter().map(|&e| dist(e, x)).fold(f64::INFINITY, f64::min);
            // Within f32 rounding of the midpoint, either neighbour is fine.
            prop_assert!(dist(got, x) <= best * (1.0 + 1e-6) + 1e-5, "x {} got {}", x, got);
        }
    }
}

#[test]
fn small_table_adjacent_floats() {
    let a = 1.0f32;
    let b = f32::from_bits(a.to_bits() + 1);
    let c = f32::from_bits(b.to_bits() + 1);
    let t = SmallTable::<16>::new(&[a, b, c]).unwrap();
    assert_eq!((t.nearest(a), t.nearest(b), t.nearest(c)), (a, b, c));
}
