//! Fake quantization of one tensor: values go onto the scheme's grid and
//! straight back to `f32`, and the bytes a real packed file would need are
//! counted alongside.
//!
//! How a tensor is cut: rows are output channels (first axis; rank <= 1 is
//! one row), scale groups are runs within a row (see [`Granularity`]).
//! Each group is fitted independently (scale, zero point or palette), so
//! rows are processed in parallel and results never depend on the number
//! of threads. A single huge group (per-tensor granularity) is parallelised
//! inside its own passes instead.
//!
//! Invariants:
//! - output has the input's length; outliers are bit-exact copies;
//! - scales are rounded *up* to the scale type, so the simulated grid is
//!   one a file could store and no value inside the fitted range clamps;
//! - integer storage (`TensorInfo::dtype.is_integer()`): the scale lives in
//!   the integer domain and every output value is an integer within the
//!   storage type's range, so a format writer can store it unchanged;
//! - `bytes` counts the packed codes plus every scale, zero point, palette
//!   entry and outlier (value + index), rounded up to whole bytes.
//!
//! Idempotence (quantizing an output again changes nothing) holds for
//! float storage with symmetric grids, tables and palettes: the refitted
//! scale equals the stored one because absmax lands on a grid end point.
//! In the integer domain the extra rounding to integers can move absmax by
//! less than one unit, so there it holds only approximately.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::codes::{self, nearest_index, round_nearest_to, round_up_to};
use crate::error::QuantError;
use crate::kmeans::kmeans_1d;
use crate::metrics::{compare, ErrorMetrics, PAR_CHUNK};
use crate::scheme::{Clipping, Granularity, QuantSpec, Rounding, Scheme};
use crate::tensor::{StorageType, TensorInfo};

/// Clip ratios tried by [`Clipping::Mse`]: 1.0 down to 0.5 in 21 steps.
const MSE_STEPS: usize = 21;
const MSE_MIN_RATIO: f64 = 0.5;

/// Base seed of k-means++ seeding; each group mixes in its index.
const LUT_SEED: u64 = 0x5eed_0f0a_12e4_a001;

/// Result of quantizing one tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantOutput {
    /// Dequantized values, same length and order as the input.
    pub values: Vec<f32>,
    /// Packed size including scales, zero points, palettes and outliers.
    pub bytes: u64,
    /// `bytes * 8 / numel` (0 for an empty tensor).
    pub effective_bits: f64,
    pub metrics: ErrorMetrics,
}

/// The grid fitted to one scale group.
enum Grid {
    /// Nothing to represent (all zeros or all outliers).
    Zero,
    /// `y = (clamp(round(x/scale + zero), qmin, qmax) - zero) * scale`.
    Uniform {
        scale: f32,
        zero: f32,
        qmin: f32,
        qmax: f32,
    },
    /// `y = scale * nearest(table, x/scale)` with a signed sorted table,
    /// by binary search (FP8: 253 entries).
    Table { scale: f32, table: &'static [f32] },
    /// Like `Table` for up to 16 entries (NF4, FP4, palettes of up to 4
    /// bits; palettes use scale 1), by branch-free boundary counting.
    Small16 { scale: f32, t: Box<SmallTable<16>> },
    /// The same for 17..=32 entries (5-bit palettes).
    Small32 { scale: f32, t: Box<SmallTable<32>> },
    /// `y = nearest(palette, x)` for large palettes, by binary search.
    Palette(Vec<f32>),
}

/// A sorted table of at most `N` entries with its decision boundaries:
/// the nearest entry's index is the number of boundaries strictly below
/// `x`. Counting against a fixed-length array (padded with +inf) has no
/// data-dependent branches, so it vectorises, where a binary search
/// mispredicts on nearly every element; for 16-entry palettes this is what
/// makes LUT-4 fast. Ties go to the even index, as in `nearest_index`.
struct SmallTable<const N: usize> {
    values: [f32; N],
    bounds: [f32; N],
}

impl<const N: usize> SmallTable<N> {
    fn new(sorted: &[f32]) -> Option<Box<SmallTable<N>>> {
        if sorted.is_empty() || sorted.len() > N {
            return None;
        }
        let mut t = Box::new(SmallTable {
            values: [0.0; N],
            bounds: [f32::INFINITY; N],
        });
        t.values[..sorted.len()].copy_from_slice(sorted);
        for j in 0..sorted.len() - 1 {
            let (a, b) = (sorted[j], sorted[j + 1]);
            let mid = (0.5 * (f64::from(a) + f64::from(b))) as f32;
            // For an odd lower index the tie goes up: move the boundary one
            // float down so `x == mid` counts as above it.
            let mut m = if j % 2 == 1 { next_down(mid) } else { mid };
            // Entries themselves must map to themselves even when `a` and
            // `b` are adjacent floats: keep a <= m < b.
            if m < a || m >= b {
                m = a;
            }
            t.bounds[j] = m;
        }
        Some(t)
    }

    #[inline(always)]
    fn nearest(&self, x: f32) -> f32 {
        let i: u32 = self.bounds.iter().map(|&b| u32::from(x > b)).sum();
        // The last bound is +inf, so i < N.
        self.values[i as usize]
    }
}

/// Grid for a sorted table: boundary counting when small, else search.
fn small_or(scale: f32, sorted: &[f32], large: impl FnOnce() -> Grid) -> Grid {
    if let Some(t) = SmallTable::<16>::new(sorted) {
        Grid::Small16 { scale, t }
    } else if let Some(t) = SmallTable::<32>::new(sorted) {
        Grid::Small32 { scale, t }
    } else {
        large()
    }
}

/// The largest f32 below `x` (finite `x`); `f32::next_down` needs 1.86.
fn next_down(x: f32) -> f32 {
    if x == 0.0 {
        -f32::from_bits(1)
    } else if x > 0.0 {
        f32::from_bits(x.to_bits() - 1)
    } else {
        f32::from_bits(x.to_bits() + 1)
    }
}

/// What happens after dequantization: nothing (float storage) or rounding
/// to an integer of the storage range.
#[derive(Clone, Copy)]
enum Post {
    Float,
    /// Storage range within ±2^22: magic-number rounding is exact there.
    SmallInt {
        lo: f32,
        hi: f32,
    },
    /// i32 storage: values may exceed 2^22, use `round`.
    WideInt {
        lo: f32,
        hi: f32,
    },
}

impl Post {
    fn for_storage(t: StorageType) -> Post {
        match t {
            StorageType::I8 => Post::SmallInt {
                lo: -128.0,
                hi: 127.0,
            },
            StorageType::I16 => Post::SmallInt {
                lo: -32768.0,
                hi: 32767.0,
            },
            // 2^31 - 1 is not an f32; the largest f32 below 2^31 is.
            StorageType::I32 => Post::WideInt {
                lo: -2_147_483_648.0,
                hi: 2_147_483_520.0,
            },
            StorageType::F32 | StorageType::F16 | StorageType::Bf16 => Post::Float,
        }
    }
}

/// Round half to even for |x| < 2^22 without a libm call: adding 1.5·2^23
/// pushes the fraction out of the significand. Plain arithmetic, so the
/// loops around it vectorise on baseline x86-64 (no SSE4.1 `roundps`).
#[inline(always)]
fn rne(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (x + MAGIC) - MAGIC
}

/// An element-wise pass over a group, generic over the dequantizer so each
/// (grid, post) combination compiles to its own tight loop.
trait Pass {
    type Out;
    fn run<F: Fn(f32) -> f32 + Sync + Send + Copy>(self, f: F) -> Self::Out;
}

struct Apply<'a> {
    src: &'a [f32],
    dst: &'a mut [f32],
}

impl Pass for Apply<'_> {
    type Out = ();
    fn run<F: Fn(f32) -> f32 + Sync + Send + Copy>(self, f: F) {
        if self.src.len() > PAR_CHUNK {
            self.dst
                .par_chunks_mut(PAR_CHUNK)
                .zip(self.src.par_chunks(PAR_CHUNK))
                .for_each(|(d, s)| d.iter_mut().zip(s).for_each(|(d, &x)| *d = f(x)));
        } else {
            self.dst
                .iter_mut()
                .zip(self.src)
                .for_each(|(d, &x)| *d = f(x));
        }
    }
}

/// Sum of squared errors of a candidate grid (for MSE clipping).
struct Sse<'a> {
    src: &'a [f32],
}

impl Pass for Sse<'_> {
    type Out = f64;
    fn run<F: Fn(f32) -> f32 + Sync + Send + Copy>(self, f: F) -> f64 {
        let chunk = |s: &[f32]| -> f64 {
            // f32 partial sums vectorise; f64 per chunk keeps precision.
            let mut acc = 0.0f64;
            for c in s.chunks(256) {
                let part: f32 = c
                    .iter()
                    .map(|&x| {
                        let e = x - f(x);
                        e * e
                    })
                    .sum();
                acc += f64::from(part);
            }
            acc
        };
        if self.src.len() > PAR_CHUNK {
            self.src.par_chunks(PAR_CHUNK).map(chunk).sum()
        } else {
            chunk(self.src)
        }
    }
}

fn dispatch<P: Pass>(grid: &Grid, post: Post, pass: P) -> P::Out {
    match post {
        Post::Float => with_grid(grid, pass, |y| y),
        Post::SmallInt { lo, hi } => with_grid(grid, pass, move |y| rne(y.clamp(lo, hi))),
        Post::WideInt { lo, hi } => with_grid(grid, pass, move |y| y.clamp(lo, hi).round()),
    }
}

fn with_grid<P: Pass, G: Fn(f32) -> f32 + Sync + Send + Copy>(
    grid: &Grid,
    pass: P,
    post: G,
) -> P::Out {
    match *grid {
        Grid::Zero => pass.run(move |_| post(0.0)),
        Grid::Uniform {
            scale,
            zero,
            qmin,
            qmax,
        } => pass.run(move |x| {
            // Clamp before rounding: keeps `rne` in its exact range even
            // for values far outside a clipped range.
            let q = (x / scale + zero).clamp(qmin, qmax);
            post((rne(q) - zero) * scale)
        }),
        Grid::Table { scale, table } => {
            pass.run(move |x| post(table[nearest_index(table, x / scale)] * scale))
        }
        Grid::Small16 { scale, ref t } => {
            let t: &SmallTable<16> = t;
            pass.run(move |x| post(t.nearest(x / scale) * scale))
        }
        Grid::Small32 { scale, ref t } => {
            let t: &SmallTable<32> = t;
            pass.run(move |x| post(t.nearest(x / scale) * scale))
        }
        Grid::Palette(ref p) => {
            let p: &[f32] = p;
            pass.run(move |x| post(p[nearest_index(p, x)]))
        }
    }
}

/// The signed, sorted code table of a table scheme (NF4, FP4, FP8), whose
/// entries times a group's scale are its values; `None` for the others.
pub fn code_table(scheme: Scheme) -> Option<&'static [f32]> {
    matches!(
        scheme,
        Scheme::Nf4 | Scheme::Fp4 | Scheme::Fp8E4M3 | Scheme::Fp8E5M2
    )
    .then(|| signed_table(scheme))
}

/// Signed sorted code table of a table scheme.
fn signed_table(scheme: Scheme) -> &'static [f32] {
    use std::sync::OnceLock;
    fn signed(m: &[f32]) -> Vec<f32> {
        let mut v: Vec<f32> = m.iter().rev().filter(|&&x| x > 0.0).map(|x| -x).collect();
        v.extend_from_slice(m);
        v
    }
    static FP4: OnceLock<Vec<f32>> = OnceLock::new();
    static E4M3: OnceLock<Vec<f32>> = OnceLock::new();
    static E5M2: OnceLock<Vec<f32>> = OnceLock::new();
    match scheme {
        Scheme::Nf4 => &codes::NF4,
        Scheme::Fp4 => FP4.get_or_init(|| signed(codes::fp4_e2m1())),
        Scheme::Fp8E4M3 => E4M3.get_or_init(|| signed(codes::fp8_e4m3())),
        Scheme::Fp8E5M2 => E5M2.get_or_init(|| signed(codes::fp8_e5m2())),
        _ => unreachable!("signed_table called for {scheme}"),
    }
}

/// Per-call context shared by all groups.
struct Ctx<'a> {
    info: &'a TensorInfo,
    spec: &'a QuantSpec,
    post: Post,
}

/// The extent a grid must cover: `[-neg, pos]` with both >= 0.
#[derive(Clone, Copy)]
struct Range {
    neg: f64,
    pos: f64,
}

impl Range {
    fn of(values: &[f32]) -> Range {
        let fold = |s: &[f32]| {
            s.iter()
                .fold((0.0f32, 0.0f32), |(lo, hi), &x| (lo.min(x), hi.max(x)))
        };
        let (lo, hi) = if values.len() > PAR_CHUNK {
            values
                .par_chunks(PAR_CHUNK)
                .map(fold)
                .reduce(|| (0.0, 0.0), |a, b| (a.0.min(b.0), a.1.max(b.1)))
        } else {
            fold(values)
        };
        // Including zero in the range keeps 0 exactly representable, which
        // matters for padding, ReLU-sparse weights and zero points.
        Range {
            neg: -f64::from(lo),
            pos: f64::from(hi),
        }
    }
    fn scaled(self, r: f64) -> Range {
        Range {
            neg: self.neg * r,
            pos: self.pos * r,
        }
    }
    fn absmax(self) -> f64 {
        self.neg.max(self.pos)
    }
}

/// Nearest-rank percentile `p` (0..=100) of `values`, reordering a copy.
fn percentile(mut v: Vec<f32>, p: f64) -> f32 {
    let n = v.len();
    let k = ((p / 100.0 * n as f64).ceil() as usize).clamp(1, n) - 1;
    *v.select_nth_unstable_by(k, f32::total_cmp).1
}

impl Ctx<'_> {
    fn scale(&self, raw: f64) -> Result<Option<f32>, QuantError> {
        if raw <= 0.0 {
            return Ok(None);
        }
        let raw = raw.max(self.spec.min_scale);
        let s =
            round_up_to(raw, self.spec.scale_type).ok_or_else(|| QuantError::ScaleOverflow {
                name: self.info.name.clone(),
                what: "scale",
                value: raw,
                storage: self.spec.scale_type.as_str(),
            })?;
        Ok(Some(s as f32))
    }

    /// Grid for a given covered range (scale-based schemes).
    #[expect(
        clippy::expect_used,
        reason = "code tables are checked non-empty when the scheme is parsed"
    )]
    fn grid_for(&self, range: Range) -> Result<Grid, QuantError> {
        let grid = match self.spec.scheme {
            Scheme::Int {
                bits,
                symmetric: true,
            } => {
                // Codes -2^(b-1) ..= 2^(b-1)-1: the negative side has one
                // more level, so each side gets its own bound and the
                // tighter scale wins (an int8 row spanning [-128, 127]
                // gets scale 1 and survives exactly).
                let qpos = f64::from((1u32 << (bits - 1)) - 1);
                let qneg = f64::from(1u32 << (bits - 1));
                match self.scale((range.pos / qpos).max(range.neg / qneg))? {
                    None => Grid::Zero,
                    Some(scale) => Grid::Uniform {
                        scale,
                        zero: 0.0,
                        qmin: -qneg as f32,
                        qmax: qpos as f32,
                    },
                }
            }
            Scheme::Int {
                bits,
                symmetric: false,
            } => {
                let qmax = f64::from((1u32 << bits) - 1);
                match self.scale((range.pos + range.neg) / qmax)? {
                    None => Grid::Zero,
                    Some(scale) => Grid::Uniform {
                        scale,
                        zero: (range.neg / f64::from(scale)).round().clamp(0.0, qmax) as f32,
                        qmin: 0.0,
                        qmax: qmax as f32,
                    },
                }
            }
            Scheme::Levels { levels } => {
                let l = f64::from(levels);
                match self.scale(range.absmax() / l)? {
                    None => Grid::Zero,
                    Some(scale) => Grid::Uniform {
                        scale,
                        zero: 0.0,
                        qmin: -l as f32,
                        qmax: l as f32,
                    },
                }
            }
            Scheme::Nf4 | Scheme::Fp4 | Scheme::Fp8E4M3 | Scheme::Fp8E5M2 => {
                let table = signed_table(self.spec.scheme);
                let tmax = f64::from(*table.last().expect("non-empty table"));
                match self.scale(range.absmax() / tmax)? {
                    None => Grid::Zero,
                    Some(scale) => small_or(scale, table, || Grid::Table { scale, table }),
                }
            }
            Scheme::Keep | Scheme::Lut { .. } | Scheme::Fp16 | Scheme::Bf16 => {
                unreachable!("not a scaled scheme")
            }
        };
        Ok(grid)
    }

    #[expect(
        clippy::expect_used,
        reason = "the candidate list always holds the unclipped range"
    )]
    fn fit(&self, fit: &[f32], group_index: u64) -> Result<Grid, QuantError> {
        if fit.is_empty() {
            return Ok(Grid::Zero);
        }
        if let Scheme::Lut { bits } = self.spec.scheme {
            return self.fit_palette(fit, bits, group_index);
        }
        let symmetric = !matches!(
            self.spec.scheme,
            Scheme::Int {
                symmetric: false,
                ..
            }
        );
        let full = Range::of(fit);
        match self.spec.clipping {
            Clipping::None => self.grid_for(full),
            Clipping::Percentile(p) => {
                let range = if symmetric {
                    let c = f64::from(percentile(fit.iter().map(|x| x.abs()).collect(), p));
                    Range { neg: c, pos: c }
                } else {
                    let hi = f64::from(percentile(fit.to_vec(), p)).max(0.0);
                    let lo = f64::from(percentile(fit.to_vec(), 100.0 - p)).min(0.0);
                    Range { neg: -lo, pos: hi }
                };
                // A percentile never widens the range.
                self.grid_for(Range {
                    neg: range.neg.min(full.neg),
                    pos: range.pos.min(full.pos),
                })
            }
            Clipping::Mse => {
                let mut best: Option<(f64, Grid)> = None;
                for i in 0..MSE_STEPS {
                    let r = 1.0 - (1.0 - MSE_MIN_RATIO) * i as f64 / (MSE_STEPS - 1) as f64;
                    let grid = self.grid_for(full.scaled(r))?;
                    let err = dispatch(&grid, self.post, Sse { src: fit });
                    // Strictly better only: ties keep the wider range, so an
                    // already-quantized group refits to its own grid.
                    let better = match &best {
                        None => true,
                        Some((e, _)) => err < *e,
                    };
                    if better {
                        best = Some((err, grid));
                    }
                }
                Ok(best.expect("at least one candidate").1)
            }
        }
    }

    fn fit_palette(&self, fit: &[f32], bits: u8, group_index: u64) -> Result<Grid, QuantError> {
        let sorted = sorted_copy(fit);
        let seed = splitmix64(LUT_SEED ^ group_index);
        let centroids = kmeans_1d(&sorted, 1usize << bits, seed);
        let mut palette = Vec::with_capacity(centroids.len());
        for c in centroids {
            // Palette entries are stored: in the storage type for integer
            // tensors, in the scale type otherwise. Assign to the stored
            // values, not the ideal ones.
            let stored = match self.post {
                Post::SmallInt { lo, hi } | Post::WideInt { lo, hi } => {
                    c.round().clamp(f64::from(lo), f64::from(hi))
                }
                Post::Float => round_nearest_to(c, self.spec.scale_type).ok_or_else(|| {
                    QuantError::ScaleOverflow {
                        name: self.info.name.clone(),
                        what: "palette entry",
                        value: c,
                        storage: self.spec.scale_type.as_str(),
                    }
                })?,
            };
            palette.push(stored as f32);
        }
        palette.sort_by(f32::total_cmp);
        palette.dedup();
        Ok(small_or(1.0, &palette.clone(), || Grid::Palette(palette)))
    }

    /// Quantize one group `src` into `dst`; `outliers` are the group-local
    /// indices kept exact (they are excluded from fitting and written back
    /// by the caller).
    fn group(
        &self,
        src: &[f32],
        dst: &mut [f32],
        outliers: &[usize],
        group_index: u64,
    ) -> Result<Grid, QuantError> {
        let grid = if outliers.is_empty() {
            self.fit(src, group_index)?
        } else {
            let mut keep = Vec::with_capacity(src.len() - outliers.len());
            let mut o = outliers.iter().peekable();
            for (i, &x) in src.iter().enumerate() {
                if o.peek() == Some(&&i) {
                    o.next();
                } else {
                    keep.push(x);
                }
            }
            self.fit(&keep, group_index)?
        };
        dispatch(&grid, self.post, Apply { src, dst });
        Ok(grid)
    }
}

/// The grid of one scale group as a packer stores it next to the codes.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupGrid {
    /// Every value of the group is zero (no scale is needed, but a packer
    /// still writes the group's slot).
    Zero,
    /// `y = (code - zero) * scale` for integer codes `qmin..=qmax`.
    Uniform {
        scale: f32,
        zero: f32,
        qmin: f32,
        qmax: f32,
    },
    /// `y = entries[code] * scale`, `entries` sorted ascending (code
    /// tables such as NF4 and FP8 with their scale; palettes with scale 1).
    Table { scale: f32, entries: Vec<f32> },
}

impl GroupGrid {
    fn of(grid: &Grid) -> GroupGrid {
        let small = |values: &[f32], bounds: &[f32]| -> Vec<f32> {
            // Unused slots have +inf bounds; n entries have n - 1 bounds.
            let n = bounds.iter().filter(|b| b.is_finite()).count() + 1;
            values[..n.min(values.len())].to_vec()
        };
        match grid {
            Grid::Zero => GroupGrid::Zero,
            Grid::Uniform {
                scale,
                zero,
                qmin,
                qmax,
            } => GroupGrid::Uniform {
                scale: *scale,
                zero: *zero,
                qmin: *qmin,
                qmax: *qmax,
            },
            Grid::Table { scale, table } => GroupGrid::Table {
                scale: *scale,
                entries: table.to_vec(),
            },
            Grid::Small16 { scale, t } => GroupGrid::Table {
                scale: *scale,
                entries: small(&t.values, &t.bounds),
            },
            Grid::Small32 { scale, t } => GroupGrid::Table {
                scale: *scale,
                entries: small(&t.values, &t.bounds),
            },
            Grid::Palette(p) => GroupGrid::Table {
                scale: 1.0,
                entries: p.clone(),
            },
        }
    }

    /// The code of a value this grid produced (a dequantized value).
    pub fn code_of(&self, y: f32) -> u32 {
        match self {
            GroupGrid::Zero => 0,
            GroupGrid::Uniform {
                scale, zero, qmin, ..
            } => ((y / scale + zero).round() - qmin).max(0.0) as u32,
            GroupGrid::Table { scale, entries } => nearest_index(entries, y / scale) as u32,
        }
    }

    /// The value of `code`.
    pub fn value_of(&self, code: u32) -> f32 {
        match self {
            GroupGrid::Zero => 0.0,
            GroupGrid::Uniform {
                scale, zero, qmin, ..
            } => (code as f32 + qmin - zero) * scale,
            GroupGrid::Table { scale, entries } => {
                entries.get(code as usize).copied().unwrap_or(0.0) * scale
            }
        }
    }

    /// The smallest and largest values the grid represents.
    pub fn extent(&self) -> (f32, f32) {
        match self {
            GroupGrid::Zero => (0.0, 0.0),
            GroupGrid::Uniform {
                scale,
                zero,
                qmin,
                qmax,
            } => ((qmin - zero) * scale, (qmax - zero) * scale),
            GroupGrid::Table { scale, entries } => (
                entries.first().copied().unwrap_or(0.0) * scale,
                entries.last().copied().unwrap_or(0.0) * scale,
            ),
        }
    }

    /// The group's scale (1 for palettes, 0 for an all-zero group).
    pub fn scale(&self) -> f32 {
        match self {
            GroupGrid::Zero => 0.0,
            GroupGrid::Uniform { scale, .. } | GroupGrid::Table { scale, .. } => *scale,
        }
    }
}

/// A group's grid with what happens after dequantization, for rounding
/// one value at a time (error-compensating rounding).
pub(crate) struct Fitted {
    grid: Grid,
    post: Post,
}

impl Fitted {
    /// `x` on the grid.
    pub(crate) fn round(&self, x: f32) -> f32 {
        let mut y = [0.0f32];
        dispatch(
            &self.grid,
            self.post,
            Apply {
                src: &[x],
                dst: &mut y,
            },
        );
        y[0]
    }
}

/// The grid of every scale group of `values` (row by row, groups along
/// each row) as round-to-nearest fits them, and how they are laid out.
pub(crate) fn fit_row_groups(
    info: &TensorInfo,
    values: &[f32],
    spec: &QuantSpec,
) -> Result<(Vec<Fitted>, Geometry), QuantError> {
    spec.validate().map_err(QuantError::InvalidSpec)?;
    if let Some(index) = first_non_finite(values) {
        return Err(QuantError::NonFinite {
            name: info.name.clone(),
            index,
            value: values[index],
        });
    }
    let g = geometry(info, spec);
    let ctx = Ctx {
        info,
        spec,
        post: Post::for_storage(info.dtype),
    };
    let mut out = Vec::with_capacity(g.rows * g.groups_per_row);
    for (r, row) in values.chunks(g.row_len.max(1)).enumerate() {
        for (k, group) in row.chunks(g.group_len.max(1)).enumerate() {
            out.push(Fitted {
                grid: ctx.fit(group, (r * g.groups_per_row + k) as u64)?,
                post: ctx.post,
            });
        }
    }
    Ok((out, g))
}

/// Indices (ascending) of the `round(fraction * n)` largest magnitudes;
/// ties at the threshold are taken in index order, so the set is unique.
fn outlier_indices(values: &[f32], fraction: f64) -> Vec<usize> {
    let n = values.len();
    let count = ((n as f64 * fraction).round() as usize).min(n);
    if count == 0 {
        return Vec::new();
    }
    let mut mags: Vec<f32> = values.par_iter().map(|x| x.abs()).collect();
    let threshold = *mags.select_nth_unstable_by(n - count, f32::total_cmp).1;
    drop(mags);
    let above = values.iter().filter(|x| x.abs() > threshold).count();
    let mut ties = count - above;
    let mut out = Vec::with_capacity(count);
    for (i, x) in values.iter().enumerate() {
        let a = x.abs();
        if a > threshold {
            out.push(i);
        } else if a == threshold && ties > 0 {
            ties -= 1;
            out.push(i);
        }
    }
    out
}

/// Decorrelates the seeds of neighbouring groups (SplitMix64 finaliser).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Ascending copy of finite values. Sorting order-preserving integer keys
/// is markedly faster than sorting floats with `total_cmp`.
fn sorted_copy(values: &[f32]) -> Vec<f32> {
    // Flip negatives entirely and set the sign bit of positives: unsigned
    // order of the keys is then numeric order of the floats.
    let key = |x: f32| {
        let b = x.to_bits();
        if b >> 31 == 1 {
            !b
        } else {
            b | 0x8000_0000
        }
    };
    let unkey = |k: u32| f32::from_bits(if k >> 31 == 1 { k & 0x7fff_ffff } else { !k });
    let mut keys: Vec<u32> = values.iter().map(|&x| key(x)).collect();
    if keys.len() > PAR_CHUNK {
        keys.par_sort_unstable();
    } else {
        keys.sort_unstable();
    }
    keys.into_iter().map(unkey).collect()
}

/// Index of the first NaN or infinity. Counting per chunk (instead of a
/// short-circuiting search) keeps the common all-finite case one
/// vectorised read of the data.
fn first_non_finite(values: &[f32]) -> Option<usize> {
    let bad = |c: &[f32]| -> u32 {
        c.iter()
            .map(|x| u32::from(x.to_bits() & 0x7fff_ffff >= 0x7f80_0000))
            .sum()
    };
    let any = values.par_chunks(PAR_CHUNK).map(bad).any(|n| n > 0);
    if any {
        values.iter().position(|x| !x.is_finite())
    } else {
        None
    }
}

/// Rows (output channels) and row length used for scale groups.
fn layout(info: &TensorInfo, numel: usize) -> (usize, usize) {
    if info.shape.len() <= 1 || numel == 0 {
        (1, numel)
    } else {
        (info.shape[0], numel / info.shape[0])
    }
}

/// How a tensor is cut into scale groups: `rows` rows of `row_len`
/// values, each cut into `groups_per_row` groups of `group_len` (the last
/// one possibly shorter). Grids are listed row by row, groups along each
/// row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub rows: usize,
    pub row_len: usize,
    pub group_len: usize,
    pub groups_per_row: usize,
}

impl Geometry {
    /// The index of the group (in grid order) that holds element `i`.
    pub fn group_of(&self, i: usize) -> usize {
        let (r, c) = (i / self.row_len.max(1), i % self.row_len.max(1));
        r * self.groups_per_row + c / self.group_len.max(1)
    }

    /// How many groups there are.
    pub fn groups(&self) -> usize {
        self.rows * self.groups_per_row
    }
}

/// How `info` is cut into scale groups under `spec`.
pub fn geometry(info: &TensorInfo, spec: &QuantSpec) -> Geometry {
    let numel = info.numel();
    let (rows, row_len) = layout(info, numel);
    let (row_len, group_len) = match spec.granularity {
        Granularity::Tensor => (numel, numel),
        Granularity::Channel => (row_len, row_len),
        Granularity::Group(g) => (row_len, (g as usize).min(row_len)),
    };
    let rows = if spec.granularity == Granularity::Tensor {
        1
    } else {
        rows
    };
    let groups_per_row = if group_len == 0 {
        0
    } else {
        row_len.div_ceil(group_len)
    };
    Geometry {
        rows,
        row_len,
        group_len,
        groups_per_row,
    }
}

/// The bytes [`quantize_tensor`] will count for `info` under `spec`,
/// without the values: codes, scales, zero points, palettes and outliers
/// (whose number depends only on the tensor's size). Budgets of whole
/// strategies are computed from this before anything is quantized.
pub fn predicted_bytes(info: &TensorInfo, spec: &QuantSpec) -> u64 {
    if spec.scheme == Scheme::Keep {
        return info.bytes();
    }
    let numel = info.numel();
    let g = geometry(info, spec);
    let outliers = if spec.outlier_percent > 0.0 {
        ((numel as f64 * spec.outlier_percent / 100.0).round() as usize).min(numel)
    } else {
        0
    };
    (payload_bits(info, spec, g.rows * g.groups_per_row, outliers) / 8.0).ceil() as u64
}

/// Quantize `values` (row-major, `info.shape`) with `spec`.
///
/// Errors: an invalid spec, a length that does not match the shape, a
/// non-finite value, a scale beyond the scale type, or
/// [`Rounding::ErrorCompensating`] (it needs the inputs' statistics:
/// [`crate::quantize_gptq`]).
pub fn quantize_tensor(
    info: &TensorInfo,
    values: &[f32],
    spec: &QuantSpec,
) -> Result<QuantOutput, QuantError> {
    quantize_impl(info, values, spec, false).map(|(q, _)| q)
}

/// [`quantize_tensor`] that also returns the grid of every scale group, in
/// order (row by row, groups along each row): what a packer writes next to
/// the codes, which [`GroupGrid::code_of`] recovers from the values.
///
/// Errors as [`quantize_tensor`], and [`QuantError::Unsupported`] for
/// schemes without scale groups (`keep`, `fp16`, `bf16`) and for outliers.
pub fn quantize_tensor_grids(
    info: &TensorInfo,
    values: &[f32],
    spec: &QuantSpec,
) -> Result<(QuantOutput, Vec<GroupGrid>), QuantError> {
    if spec.scheme == Scheme::Keep
        || spec.scheme.cast_type().is_some()
        || spec.outlier_percent > 0.0
    {
        return Err(QuantError::Unsupported {
            name: info.name.clone(),
            what: "per-group grids",
            why: "keep, fp16 and bf16 have no scale groups and outliers are not packed as codes",
        });
    }
    quantize_impl(info, values, spec, true)
}

fn quantize_impl(
    info: &TensorInfo,
    values: &[f32],
    spec: &QuantSpec,
    want_grids: bool,
) -> Result<(QuantOutput, Vec<GroupGrid>), QuantError> {
    spec.validate().map_err(QuantError::InvalidSpec)?;
    let numel = info.numel();
    if values.len() != numel {
        return Err(QuantError::LengthMismatch {
            name: info.name.clone(),
            shape: info.shape.clone(),
            expected: numel,
            got: values.len(),
        });
    }
    if let Some(index) = first_non_finite(values) {
        return Err(QuantError::NonFinite {
            name: info.name.clone(),
            index,
            value: values[index],
        });
    }
    if spec.scheme == Scheme::Keep {
        let metrics = compare(values, values);
        return Ok((
            QuantOutput {
                values: values.to_vec(),
                bytes: info.bytes(),
                effective_bits: if numel == 0 {
                    0.0
                } else {
                    f64::from(info.dtype.bits())
                },
                metrics,
            },
            Vec::new(),
        ));
    }
    if let Some(t) = spec.scheme.cast_type() {
        // Each value to the nearest 16-bit float, ties to even.
        let mut out = Vec::with_capacity(values.len());
        for (index, &v) in values.iter().enumerate() {
            let r = codes::round_ties_even_to(f64::from(v), t).ok_or_else(|| {
                QuantError::ScaleOverflow {
                    name: format!("{} (element {index})", info.name),
                    what: "value",
                    value: f64::from(v),
                    storage: t.as_str(),
                }
            })?;
            out.push(r as f32);
        }
        let metrics = compare(values, &out);
        let bytes = predicted_bytes(info, spec);
        return Ok((
            QuantOutput {
                values: out,
                bytes,
                effective_bits: if numel == 0 {
                    0.0
                } else {
                    bytes as f64 * 8.0 / numel as f64
                },
                metrics,
            },
            Vec::new(),
        ));
    }
    if spec.rounding == Rounding::ActivationAware {
        return Err(QuantError::Unsupported {
            name: info.name.clone(),
            what: "activation-aware scaling",
            why: "it needs calibration activations and a layer before it to fold the scales into, \
                  which this entry point does not take; use rounding = \"nearest\"",
        });
    }
    if spec.rounding == Rounding::ErrorCompensating {
        return Err(QuantError::Unsupported {
            name: info.name.clone(),
            what: "error-compensating rounding",
            why: "it needs calibration activations, which this entry point does not take; \
                  use rounding = \"nearest\"",
        });
    }

    let Geometry {
        rows,
        row_len,
        group_len,
        groups_per_row,
    } = geometry(info, spec);

    let outliers = if spec.outlier_percent > 0.0 {
        outlier_indices(values, spec.outlier_percent / 100.0)
    } else {
        Vec::new()
    };

    let ctx = Ctx {
        info,
        spec,
        post: Post::for_storage(info.dtype),
    };
    let mut out = vec![0.0f32; numel];
    let mut grids = Vec::new();
    if numel > 0 {
        let ctx = &ctx;
        let outliers = &outliers;
        let per_row = out
            .par_chunks_mut(row_len)
            .zip(values.par_chunks(row_len))
            .enumerate()
            .map(|(r, (dst, src))| -> Result<Vec<GroupGrid>, QuantError> {
                let mut local = Vec::new();
                let mut row = Vec::new();
                for (g, (d, s)) in dst
                    .chunks_mut(group_len)
                    .zip(src.chunks(group_len))
                    .enumerate()
                {
                    let start = r * row_len + g * group_len;
                    let a = outliers.partition_point(|&i| i < start);
                    let b = outliers.partition_point(|&i| i < start + s.len());
                    local.clear();
                    local.extend(outliers[a..b].iter().map(|&i| i - start));
                    let gi = (r * groups_per_row + g) as u64;
                    let grid = ctx.group(s, d, &local, gi)?;
                    if want_grids {
                        row.push(GroupGrid::of(&grid));
                    }
                }
                Ok(row)
            })
            .collect::<Result<Vec<_>, QuantError>>()?;
        grids = per_row.into_iter().flatten().collect();
        for &i in outliers {
            out[i] = values[i];
        }
    }

    let bits = payload_bits(info, spec, rows * groups_per_row, outliers.len());
    let bytes = (bits / 8.0).ceil() as u64;
    let effective_bits = if numel == 0 {
        0.0
    } else {
        bytes as f64 * 8.0 / numel as f64
    };
    let metrics = compare(values, &out);
    Ok((
        QuantOutput {
            values: out,
            bytes,
            effective_bits,
            metrics,
        },
        grids,
    ))
}

/// Bits a packed file needs for a quantized tensor:
/// - codes: `numel * code_bits` (fractional for `levels`, as if entropy
///   coded; the bound a real packer approaches);
/// - per group: one scale in the scale type; an asymmetric zero point at
///   the code width (packed like the codes, as GPTQ-style formats do);
///   a LUT palette of `2^bits` entries (all slots counted, used or not),
///   each in the storage type for integer tensors, else the scale type;
/// - per outlier: its original value plus a 16-bit index (tensors up to
///   65536 elements) or a 32-bit index.
#[expect(
    clippy::expect_used,
    reason = "only schemes with codes reach this function"
)]
fn payload_bits(info: &TensorInfo, spec: &QuantSpec, groups: usize, outliers: usize) -> f64 {
    let numel = info.numel() as f64;
    let code = spec.scheme.code_bits().expect("not keep");
    let mut per_group = 0.0;
    if spec.scheme.has_scale() {
        per_group += f64::from(spec.scale_type.bits());
    }
    match spec.scheme {
        Scheme::Int {
            bits,
            symmetric: false,
        } => per_group += f64::from(bits),
        Scheme::Lut { bits } => {
            let entry = if info.dtype.is_integer() {
                info.dtype.bits()
            } else {
                spec.scale_type.bits()
            };
            per_group += f64::from(1u32 << bits) * f64::from(entry);
        }
        _ => {}
    }
    let index_bits = if info.numel() <= 1 << 16 { 16 } else { 32 };
    numel * code
        + groups as f64 * per_group
        + outliers as f64 * f64::from(info.dtype.bits() + index_bits)
}

#[cfg(test)]
#[path = "quantize_tests.rs"]
mod tests;
