//! Strided views of stored tensors: decode to `f32` in the exposed order and
//! encode back in place.
//!
//! Formats store tensors in whatever order their engine likes (KataGo: output
//! channel fastest; NNUE feature transformer: feature-major). The catalogue
//! always exposes shape `[out, in, ...]` in row-major order, so one output
//! channel is one contiguous run of the `Vec<f32>` a quantizer sees. A
//! [`Slot`] records, for every exposed axis, the stride of that axis in the
//! stored element order; gather and scatter walk those strides.
//!
//! Invariant: a slot built by a parser only addresses elements inside its
//! data buffer (checked once by [`Slot::fits`]), so the walks cannot go out
//! of bounds.

use half::{bf16, f16};
use qarena_quant::{StorageType, TensorInfo};

/// Where one catalogue tensor lives in the model's data buffer.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    pub info: TensorInfo,
    /// Byte offset of stored element 0.
    pub offset: usize,
    /// Stored-element stride of each exposed axis (same length as `info.shape`).
    pub strides: Vec<usize>,
    /// Text models only: the bytes of the source text holding these values.
    pub text_span: Option<std::ops::Range<usize>>,
    /// True once `set_tensor_values` changed at least one element.
    pub dirty: bool,
}

impl Slot {
    /// A tensor stored contiguously in row-major order of its exposed shape.
    pub fn row_major(info: TensorInfo, offset: usize) -> Slot {
        let strides = row_major_strides(&info.shape);
        Slot {
            info,
            offset,
            strides,
            text_span: None,
            dirty: false,
        }
    }

    /// A tensor whose exposed axes have the given stored strides.
    pub fn strided(info: TensorInfo, offset: usize, strides: Vec<usize>) -> Slot {
        debug_assert_eq!(info.shape.len(), strides.len());
        Slot {
            info,
            offset,
            strides,
            text_span: None,
            dirty: false,
        }
    }

    /// Size in bytes of one stored element.
    pub fn elem_size(&self) -> usize {
        (self.info.dtype.bits() / 8) as usize
    }

    /// Does every addressed element lie inside a buffer of `len` bytes?
    pub fn fits(&self, len: usize) -> bool {
        let mut last = 0usize;
        for (&d, &s) in self.info.shape.iter().zip(&self.strides) {
            if d == 0 {
                return true;
            }
            let Some(step) = (d - 1).checked_mul(s) else {
                return false;
            };
            let Some(next) = last.checked_add(step) else {
                return false;
            };
            last = next;
        }
        let size = self.elem_size();
        last.checked_mul(size)
            .and_then(|b| b.checked_add(self.offset))
            .and_then(|b| b.checked_add(size))
            .is_some_and(|end| end <= len)
    }
}

/// Row-major strides. They saturate instead of overflowing: a saturated
/// stride never passes [`Slot::fits`] unless the tensor has no elements,
/// and then it is never walked.
pub(crate) fn row_major_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1].saturating_mul(shape[i + 1]);
    }
    strides
}

/// Calls `f(exposed_index, stored_index)` for every element. Two-axis views
/// that are not row-major are walked in tiles so that both the reads and the
/// writes stay within a few cache lines (the 23M-element NNUE feature
/// transformer is such a transpose).
fn for_each_index(shape: &[usize], strides: &[usize], mut f: impl FnMut(usize, usize)) {
    const TILE: usize = 64;
    match shape.len() {
        0 => f(0, 0),
        1 => {
            for i in 0..shape[0] {
                f(i, i * strides[0]);
            }
        }
        2 if strides[1] != 1 => {
            let (rows, cols) = (shape[0], shape[1]);
            let (sr, sc) = (strides[0], strides[1]);
            for r0 in (0..rows).step_by(TILE) {
                let r1 = (r0 + TILE).min(rows);
                for c0 in (0..cols).step_by(TILE) {
                    let c1 = (c0 + TILE).min(cols);
                    for c in c0..c1 {
                        for r in r0..r1 {
                            f(r * cols + c, r * sr + c * sc);
                        }
                    }
                }
            }
        }
        n => {
            let total: usize = shape.iter().product();
            let mut idx = vec![0usize; n];
            let mut stored = 0usize;
            for e in 0..total {
                f(e, stored);
                // Odometer: bump the last axis, carry into earlier ones.
                let mut axis = n;
                while axis > 0 {
                    axis -= 1;
                    idx[axis] += 1;
                    stored += strides[axis];
                    if idx[axis] < shape[axis] {
                        break;
                    }
                    stored -= strides[axis] * shape[axis];
                    idx[axis] = 0;
                }
            }
        }
    }
}

/// One stored element type.
trait Codec {
    const SIZE: usize;
    fn get(b: &[u8]) -> f32;
    /// Encodes `v`; the caller has validated it for this type.
    fn put(b: &mut [u8], v: f32);
}

macro_rules! int_codec {
    ($name:ident, $t:ty, $n:expr) => {
        struct $name;
        impl Codec for $name {
            const SIZE: usize = $n;
            fn get(b: &[u8]) -> f32 {
                let mut a = [0u8; $n];
                a.copy_from_slice(&b[..$n]);
                <$t>::from_le_bytes(a) as f32
            }
            fn put(b: &mut [u8], v: f32) {
                let old = Self::get(b);
                // Integers beyond 2^24 do not survive the trip through f32;
                // an unchanged value keeps its exact stored integer.
                if old != v {
                    b[..$n].copy_from_slice(&(v as $t).to_le_bytes());
                }
            }
        }
    };
}
int_codec!(I8c, i8, 1);
int_codec!(I16c, i16, 2);
int_codec!(I32c, i32, 4);

struct F32c;
impl Codec for F32c {
    const SIZE: usize = 4;
    fn get(b: &[u8]) -> f32 {
        f32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
    fn put(b: &mut [u8], v: f32) {
        b[..4].copy_from_slice(&v.to_le_bytes());
    }
}
struct F16c;
impl Codec for F16c {
    const SIZE: usize = 2;
    fn get(b: &[u8]) -> f32 {
        f16::from_le_bytes([b[0], b[1]]).to_f32()
    }
    fn put(b: &mut [u8], v: f32) {
        // Keep the stored bits when the value is unchanged (NaN payloads).
        if Self::get(b).to_bits() != v.to_bits() {
            b[..2].copy_from_slice(&f16::from_f32(v).to_le_bytes());
        }
    }
}
struct Bf16c;
impl Codec for Bf16c {
    const SIZE: usize = 2;
    fn get(b: &[u8]) -> f32 {
        bf16::from_le_bytes([b[0], b[1]]).to_f32()
    }
    fn put(b: &mut [u8], v: f32) {
        if Self::get(b).to_bits() != v.to_bits() {
            b[..2].copy_from_slice(&bf16::from_f32(v).to_le_bytes());
        }
    }
}

fn gather_with<C: Codec>(data: &[u8], slot: &Slot, out: &mut [f32]) {
    let base = &data[slot.offset..];
    for_each_index(&slot.info.shape, &slot.strides, |e, s| {
        let at = s * C::SIZE;
        out[e] = C::get(&base[at..at + C::SIZE]);
    });
}

/// Writes `values` (exposed order) and reports whether any stored byte changed.
fn scatter_with<C: Codec>(data: &mut [u8], slot: &Slot, values: &[f32]) -> bool {
    let base = &mut data[slot.offset..];
    let mut changed = false;
    let mut old = [0u8; 4];
    for_each_index(&slot.info.shape, &slot.strides, |e, s| {
        let at = s * C::SIZE;
        let cell = &mut base[at..at + C::SIZE];
        old[..C::SIZE].copy_from_slice(cell);
        C::put(cell, values[e]);
        changed |= old[..C::SIZE] != *cell;
    });
    changed
}

/// Decodes the tensor in exposed (row-major, output-first) order.
pub(crate) fn gather(data: &[u8], slot: &Slot) -> Vec<f32> {
    let mut out = vec![0.0f32; slot.info.numel()];
    match slot.info.dtype {
        StorageType::F32 => gather_with::<F32c>(data, slot, &mut out),
        StorageType::F16 => gather_with::<F16c>(data, slot, &mut out),
        StorageType::Bf16 => gather_with::<Bf16c>(data, slot, &mut out),
        StorageType::I8 => gather_with::<I8c>(data, slot, &mut out),
        StorageType::I16 => gather_with::<I16c>(data, slot, &mut out),
        StorageType::I32 => gather_with::<I32c>(data, slot, &mut out),
    }
    out
}

/// Encodes already validated values; returns whether anything changed.
pub(crate) fn scatter(data: &mut [u8], slot: &Slot, values: &[f32]) -> bool {
    match slot.info.dtype {
        StorageType::F32 => scatter_with::<F32c>(data, slot, values),
        StorageType::F16 => scatter_with::<F16c>(data, slot, values),
        StorageType::Bf16 => scatter_with::<Bf16c>(data, slot, values),
        StorageType::I8 => scatter_with::<I8c>(data, slot, values),
        StorageType::I16 => scatter_with::<I16c>(data, slot, values),
        StorageType::I32 => scatter_with::<I32c>(data, slot, values),
    }
}

/// Why `v` cannot be stored as `dtype`, if it cannot.
pub(crate) fn reject_reason(dtype: StorageType, v: f32, finite_only: bool) -> Option<String> {
    let range = match dtype {
        StorageType::I8 => Some((i8::MIN as f64, i8::MAX as f64)),
        StorageType::I16 => Some((i16::MIN as f64, i16::MAX as f64)),
        StorageType::I32 => Some((i32::MIN as f64, i32::MAX as f64)),
        _ => None,
    };
    if let Some((lo, hi)) = range {
        if !v.is_finite() || v.fract() != 0.0 {
            return Some(format!(
                "is not an integer, but the tensor stores {}",
                dtype.as_str()
            ));
        }
        let x = f64::from(v);
        if x < lo || x > hi {
            return Some(format!(
                "is outside the {} range [{lo}, {hi}]",
                dtype.as_str()
            ));
        }
    } else if finite_only && !v.is_finite() {
        return Some("is not finite, and the engine refuses NaN and infinite weights".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use qarena_quant::Role;

    fn info(shape: Vec<usize>, dtype: StorageType) -> TensorInfo {
        TensorInfo {
            name: "t".into(),
            shape,
            dtype,
            role: Role::Other,
            layer: None,
            is_bias: false,
        }
    }

    #[test]
    fn transposed_view_walks_output_rows() {
        // Stored [in=3][out=2] with out fastest, exposed [out=2][in=3].
        let stored: Vec<i16> = vec![0, 10, 1, 11, 2, 12];
        let data: Vec<u8> = stored.iter().flat_map(|v| v.to_le_bytes()).collect();
        let slot = Slot::strided(info(vec![2, 3], StorageType::I16), 0, vec![1, 2]);
        assert!(slot.fits(data.len()));
        assert_eq!(gather(&data, &slot), vec![0.0, 1.0, 2.0, 10.0, 11.0, 12.0]);
    }

    #[test]
    fn conv_view_matches_hwio_storage() {
        // Stored [ky=2][kx=1][ic=2][oc=3]; exposed [oc][ic][ky][kx].
        let (ky, kx, ic, oc) = (2usize, 1usize, 2usize, 3usize);
        let mut stored = vec![0f32; ky * kx * ic * oc];
        for y in 0..ky {
            for x in 0..kx {
                for i in 0..ic {
                    for o in 0..oc {
                        stored[((y * kx + x) * ic + i) * oc + o] =
                            (o * 1000 + i * 100 + y * 10 + x) as f32;
                    }
                }
            }
        }
        let mut data: Vec<u8> = stored.iter().flat_map(|v| v.to_le_bytes()).collect();
        let slot = Slot::strided(
            info(vec![oc, ic, ky, kx], StorageType::F32),
            0,
            vec![1, oc, kx * ic * oc, ic * oc],
        );
        let got = gather(&data, &slot);
        let want: Vec<f32> = (0..oc)
            .flat_map(|o| {
                (0..ic).flat_map(move |i| {
                    (0..ky).flat_map(move |y| {
                        (0..kx).map(move |x| (o * 1000 + i * 100 + y * 10 + x) as f32)
                    })
                })
            })
            .collect();
        assert_eq!(got, want);
        let doubled: Vec<f32> = got.iter().map(|v| v * 2.0).collect();
        assert!(scatter(&mut data, &slot, &doubled));
        assert_eq!(gather(&data, &slot), doubled);
    }

    #[test]
    fn big_tiled_transpose_round_trips() {
        let (rows, cols) = (70usize, 130usize);
        let data: Vec<u8> = (0..rows * cols)
            .flat_map(|v| (v as i32).to_le_bytes())
            .collect();
        // Stored [cols][rows], exposed [rows][cols].
        let slot = Slot::strided(info(vec![rows, cols], StorageType::I32), 0, vec![1, rows]);
        let got = gather(&data, &slot);
        for r in 0..rows {
            for c in 0..cols {
                assert_eq!(got[r * cols + c], (c * rows + r) as f32);
            }
        }
        let mut copy = data.clone();
        assert!(!scatter(&mut copy, &slot, &got));
        assert_eq!(copy, data);
    }

    #[test]
    fn integer_values_are_checked() {
        assert!(reject_reason(StorageType::I8, 127.0, true).is_none());
        assert!(reject_reason(StorageType::I8, 128.0, true).is_some());
        assert!(reject_reason(StorageType::I16, 1.5, true).is_some());
        assert!(reject_reason(StorageType::I32, 2147483648.0, true).is_some());
        assert!(reject_reason(StorageType::F32, f32::NAN, true).is_some());
        assert!(reject_reason(StorageType::F16, f32::INFINITY, false).is_none());
    }
}
