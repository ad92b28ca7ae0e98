//! Code tables of the non-uniform schemes and rounding to small float types.
//!
//! Tables are built from their definitions, not typed in, except NF4 whose
//! published constants are listed and checked against the normal-quantile
//! construction in the tests. Every table here is the sorted list of
//! non-negative magnitudes (sign is handled separately, all formats are
//! sign-magnitude), with the largest entry last.

use std::sync::OnceLock;

/// NF4 as published with QLoRA: 16 values in [-1, 1], 0 exact, asymmetric
/// (8 positive, 7 negative levels) so that zero is representable.
pub const NF4: [f32; 16] = [
    -1.0,
    -0.696_192_8,
    -0.525_073_05,
    -0.394_917_5,
    -0.284_441_38,
    -0.184_773_43,
    -0.091_050_036,
    0.0,
    0.079_580_3,
    0.160_930_2,
    0.246_112_3,
    0.337_915_24,
    0.440_709_83,
    0.562_617,
    0.722_956_84,
    1.0,
];

/// Decode a sign-magnitude minifloat with `e` exponent and `m` mantissa
/// bits. `ieee` formats reserve the top exponent for inf/NaN (None);
/// E4M3-style formats (`ieee == false`) only reserve the all-ones pattern
/// as NaN and use the rest of the top binade for finite values.
pub fn decode_minifloat(code: u32, e: u32, m: u32, bias: i32, ieee: bool) -> Option<f64> {
    let sign = if code >> (e + m) & 1 == 1 { -1.0 } else { 1.0 };
    let exp = (code >> m) & ((1 << e) - 1);
    let man = code & ((1 << m) - 1);
    let top = (1 << e) - 1;
    if ieee && exp == top {
        return None;
    }
    if !ieee && exp == top && man == (1 << m) - 1 && e > 1 {
        return None;
    }
    let frac = f64::from(man) / f64::from(1u32 << m);
    let value = if exp == 0 {
        // Subnormal: no implicit leading one, exponent fixed at 1 - bias.
        frac * 2f64.powi(1 - bias)
    } else {
        (1.0 + frac) * 2f64.powi(exp as i32 - bias)
    };
    Some(sign * value)
}

fn magnitudes(e: u32, m: u32, bias: i32, ieee: bool) -> Vec<f32> {
    let mut v: Vec<f32> = (0..1u32 << (e + m))
        .filter_map(|c| decode_minifloat(c, e, m, bias, ieee))
        .map(|x| x as f32)
        .collect();
    v.sort_by(f32::total_cmp);
    v.dedup();
    v
}

/// FP8 E4M3 magnitudes: 0, subnormals k·2^-9, ..., 448 (127 values).
pub fn fp8_e4m3() -> &'static [f32] {
    static T: OnceLock<Vec<f32>> = OnceLock::new();
    T.get_or_init(|| magnitudes(4, 3, 7, false))
}

/// FP8 E5M2 magnitudes: 0, subnormals k·2^-16, ..., 57344 (124 values).
pub fn fp8_e5m2() -> &'static [f32] {
    static T: OnceLock<Vec<f32>> = OnceLock::new();
    T.get_or_init(|| magnitudes(5, 2, 15, true))
}

/// FP4 E2M1 magnitudes {0, 0.5, 1, 1.5, 2, 3, 4, 6}. E2M1 has no inf/NaN.
pub fn fp4_e2m1() -> &'static [f32] {
    static T: OnceLock<Vec<f32>> = OnceLock::new();
    T.get_or_init(|| magnitudes_no_specials(2, 1, 1))
}

fn magnitudes_no_specials(e: u32, m: u32, bias: i32) -> Vec<f32> {
    let mut v: Vec<f32> = (0..1u32 << (e + m))
        .map(|c| {
            let exp = (c >> m) & ((1 << e) - 1);
            let man = c & ((1 << m) - 1);
            let frac = f64::from(man) / f64::from(1u32 << m);
            let x = if exp == 0 {
                frac * 2f64.powi(1 - bias)
            } else {
                (1.0 + frac) * 2f64.powi(exp as i32 - bias)
            };
            x.abs() as f32
        })
        .collect();
    v.sort_by(f32::total_cmp);
    v.dedup();
    v
}

/// Index of the entry of a sorted table nearest to `x`; ties go to the
/// even index (round-half-even, what float hardware does for FP tables).
#[inline]
pub(crate) fn nearest_index(table: &[f32], x: f32) -> usize {
    let i = table.partition_point(|&t| t < x);
    if i == 0 {
        return 0;
    }
    if i == table.len() {
        return table.len() - 1;
    }
    let (lo, hi) = (table[i - 1], table[i]);
    let (dl, dh) = (x - lo, hi - x);
    if dl < dh || (dl == dh && (i - 1) % 2 == 0) {
        i - 1
    } else {
        i
    }
}

/// Significand bits (including the implicit one), minimum normal exponent
/// and largest finite value of a scale storage type.
fn float_format(t: crate::ScaleType) -> (i32, i32, f64) {
    match t {
        crate::ScaleType::F16 => (11, -14, 65504.0),
        crate::ScaleType::Bf16 => (8, -126, 3.389_531_389_251_535_5e38),
        crate::ScaleType::F32 => (24, -126, f64::from(f32::MAX)),
    }
}

fn ulp_at(x: f64, t: crate::ScaleType) -> f64 {
    let (sig, min_exp, _) = float_format(t);
    // floor(log2(x)) read from the f64 exponent field: exact, unlike log2().
    let e = ((x.to_bits() >> 52) & 0x7ff) as i32 - 1023;
    2f64.powi(e.max(min_exp) - (sig - 1))
}

/// Smallest value of type `t` that is >= `x` (for `x > 0`), or `None` when
/// `x` exceeds the type's range. Positive inputs below the smallest
/// subnormal give the smallest subnormal, so a scale never becomes zero.
pub(crate) fn round_up_to(x: f64, t: crate::ScaleType) -> Option<f64> {
    let (_, _, max) = float_format(t);
    if x <= 0.0 {
        return Some(0.0);
    }
    if x > max {
        return None;
    }
    let ulp = ulp_at(x, t);
    Some((x / ulp).ceil() * ulp)
}

/// Nearest value of type `t` (ties away from zero), or `None` on overflow.
pub(crate) fn round_nearest_to(x: f64, t: crate::ScaleType) -> Option<f64> {
    let (_, _, max) = float_format(t);
    let a = x.abs();
    if a == 0.0 {
        return Some(0.0);
    }
    let ulp = ulp_at(a, t);
    let r = (a / ulp).round() * ulp;
    if r > max {
        return None;
    }
    Some(r.copysign(x))
}

/// Nearest value of type `t`, ties to even (IEEE round-to-nearest-even),
/// or `None` when `x` rounds beyond the type's largest finite value.
pub(crate) fn round_ties_even_to(x: f64, t: crate::ScaleType) -> Option<f64> {
    let (_, _, max) = float_format(t);
    let a = x.abs();
    if a == 0.0 {
        return Some(x);
    }
    let ulp = ulp_at(a, t);
    let r = (a / ulp).round_ties_even() * ulp;
    if r > max {
        return None;
    }
    Some(r.copysign(x))
}

/// Inverse of the standard normal CDF by bisection on an erf series; slow
/// but exact to ~1e-12, used only to check the NF4 constants.
pub fn normal_quantile(p: f64) -> f64 {
    fn erf(x: f64) -> f64 {
        // Maclaurin series; converges for all x and is accurate in f64 for
        // |x| < 3, which covers every quantile NF4 needs.
        let mut term = x;
        let mut sum = x;
        let x2 = x * x;
        for n in 1..200 {
            term *= -x2 / n as f64;
            let add = term / (2 * n + 1) as f64;
            sum += add;
            if add.abs() < 1e-17 {
                break;
            }
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }
    let cdf = |x: f64| 0.5 * (1.0 + erf(x / std::f64::consts::SQRT_2));
    let (mut lo, mut hi) = (-4.0f64, 4.0f64);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScaleType;

    #[test]
    fn nf4_matches_normal_quantile_construction() {
        // QLoRA: offset 0.9677 = (1 - 1/(2*15) + 1 - 1/(2*16)) / 2; 8
        // positive quantiles from linspace(offset, 0.5, 9)[:-1], 7 negative
        // from linspace(offset, 0.5, 8)[:-1], zero, normalised by the max.
        let offset = 0.5 * ((1.0 - 1.0 / 30.0) + (1.0 - 1.0 / 32.0));
        let norm = normal_quantile(offset);
        let mut built = vec![0.0f64];
        for i in 0..8 {
            let p = offset + (0.5 - offset) * i as f64 / 8.0;
            built.push(normal_quantile(p) / norm);
        }
        for i in 0..7 {
            let p = offset + (0.5 - offset) * i as f64 / 7.0;
            built.push(-normal_quantile(p) / norm);
        }
        built.sort_by(f64::total_cmp);
        for (a, b) in NF4.iter().zip(&built) {
            assert!((f64::from(*a) - b).abs() < 1e-4, "{a} vs {b}");
        }
        assert!((offset - 0.967_708_3).abs() < 1e-6);
    }

    #[test]
    fn normal_quantile_known_points() {
        assert!(normal_quantile(0.5).abs() < 1e-12);
        assert!((normal_quantile(0.975) - 1.959_963_985).abs() < 1e-8);
        assert!((normal_quantile(0.841_344_746) - 1.0).abs() < 1e-8);
    }

    #[test]
    fn e4m3_table_matches_spec() {
        let t = fp8_e4m3();
        // 128 positive codes minus the NaN pattern 0.1111.111.
        assert_eq!(t.len(), 127);
        assert_eq!(t[0], 0.0);
        assert_eq!(t[1], 2f32.powi(-9)); // smallest subnormal
        assert_eq!(t[7], 7.0 * 2f32.powi(-9)); // largest subnormal
        assert_eq!(t[8], 2f32.powi(-6)); // smallest normal = 2^(1-7)
        assert_eq!(*t.last().unwrap(), 448.0);
        assert_eq!(t[t.len() - 2], 416.0);
        assert_eq!(decode_minifloat(0x7F, 4, 3, 7, false), None);
        assert_eq!(decode_minifloat(0xFF, 4, 3, 7, false), None);
        assert_eq!(decode_minifloat(0x7E, 4, 3, 7, false), Some(448.0));
        assert_eq!(decode_minifloat(0xFE, 4, 3, 7, false), Some(-448.0));
        assert_eq!(decode_minifloat(0x78, 4, 3, 7, false), Some(256.0)); // no inf
        assert_eq!(decode_minifloat(0x38, 4, 3, 7, false), Some(1.0)); // bias 7
                                                                       // Every normal binade holds 8 evenly spaced values.
        for w in t[8..].windows(2) {
            assert!(w[1] > w[0]);
        }
    }

    #[test]
    fn e5m2_table_matches_spec() {
        let t = fp8_e5m2();
        // 128 positive codes minus inf (0.11111.00) and 3 NaNs.
        assert_eq!(t.len(), 124);
        assert_eq!(t[1], 2f32.powi(-16));
        assert_eq!(t[3], 3.0 * 2f32.powi(-16));
        assert_eq!(t[4], 2f32.powi(-14));
        assert_eq!(*t.last().unwrap(), 57344.0);
        assert_eq!(decode_minifloat(0x7C, 5, 2, 15, true), None); // inf
        assert_eq!(decode_minifloat(0x7F, 5, 2, 15, true), None); // NaN
        assert_eq!(decode_minifloat(0x3C, 5, 2, 15, true), Some(1.0)); // bias 15
    }

    #[test]
    fn fp4_table_matches_spec() {
        assert_eq!(fp4_e2m1(), &[0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]);
    }

    #[test]
    fn nearest_index_ties_to_even() {
        let t = [0.0, 1.0, 2.0, 3.0];
        assert_eq!(nearest_index(&t, 0.5), 0);
        assert_eq!(nearest_index(&t, 1.5), 2);
        assert_eq!(nearest_index(&t, 1.49), 1);
        assert_eq!(nearest_index(&t, -5.0), 0);
        assert_eq!(nearest_index(&t, 9.0), 3);
    }

    #[test]
    fn scale_rounding() {
        assert_eq!(round_up_to(1.0, ScaleType::F16), Some(1.0));
        assert_eq!(
            round_up_to(1.0 + 1e-6, ScaleType::F16),
            Some(1.0 + 2f64.powi(-10))
        );
        assert_eq!(round_up_to(65504.0, ScaleType::F16), Some(65504.0));
        assert_eq!(round_up_to(65505.0, ScaleType::F16), None);
        assert_eq!(round_up_to(1e-12, ScaleType::F16), Some(2f64.powi(-24)));
        assert_eq!(
            round_up_to(1.0 + 1e-6, ScaleType::Bf16),
            Some(1.0 + 2f64.powi(-7))
        );
        let up = round_up_to(0.1, ScaleType::F32).unwrap();
        assert!(up >= 0.1 && f64::from(up as f32) == up && up - 0.1 < 1e-8);
        assert_eq!(round_nearest_to(-1.0004, ScaleType::F16), Some(-1.0));
        assert_eq!(round_nearest_to(70000.0, ScaleType::F16), None);
    }
}
