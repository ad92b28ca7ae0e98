//! What a quantized tensor looks like: [`Scheme`] (the value grid),
//! [`Granularity`] (which elements share a scale), [`Clipping`], outliers,
//! [`Rounding`] and the storage type of scales, bundled as [`QuantSpec`].
//!
//! Every type has a short text form used by strategies and the CLI
//! (`int4`, `group:32`, `percentile:99.9`, ...); `Display` writes exactly the
//! form that `FromStr` reads, so specs round-trip through TOML.
//!
//! Invariant: a `QuantSpec` that passed [`QuantSpec::validate`] (all specs
//! inside a [`crate::Strategy`] did) can be applied to any tensor.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::SpecError;

/// The value grid of one quantized tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Scheme {
    /// Unchanged values, original storage.
    Keep,
    /// Uniform integer grid of `bits` (2..=8). Symmetric grids use the codes
    /// `-2^(bits-1) ..= 2^(bits-1)-1` around zero; asymmetric grids use
    /// `0 ..= 2^bits-1` with a per-group zero point.
    Int { bits: u8, symmetric: bool },
    /// Symmetric integer grid `-levels ..= levels`: a continuous severity
    /// knob between the power-of-two widths. Effective code width is
    /// `log2(2*levels+1)` bits (as if entropy-packed).
    Levels { levels: u32 },
    /// NormalFloat4: 16 normal quantiles scaled to [-1, 1] (QLoRA).
    Nf4,
    /// FP4 E2M1: magnitudes {0, 0.5, 1, 1.5, 2, 3, 4, 6}.
    Fp4,
    /// FP8 E4M3 (bias 7, max 448, no infinities).
    Fp8E4M3,
    /// FP8 E5M2 (bias 15, max 57344, IEEE-like).
    Fp8E5M2,
    /// Palette of `2^bits` centroids per scale group, fitted by 1-D k-means.
    Lut { bits: u8 },
    /// Each value rounded to the nearest IEEE half-precision value (ties
    /// to even); no scale.
    Fp16,
    /// Each value rounded to the nearest bfloat16 value (ties to even); no
    /// scale.
    Bf16,
}

/// Largest `levels` accepted by [`Scheme::Levels`] (an 8-bit grid).
pub const MAX_LEVELS: u32 = 127;

pub(crate) const SCHEME_FORMS: &str = "keep, int2..int8, uint2..uint8, levels1..levels127, \
     nf4, fp4, fp8_e4m3, fp8_e5m2, lut1..lut8, fp16, bf16";

impl Scheme {
    /// Bits of the per-element code as stored (fractional for `Levels`).
    /// `None` for `Keep` (the original storage applies).
    pub fn code_bits(self) -> Option<f64> {
        match self {
            Scheme::Keep => None,
            Scheme::Int { bits, .. } | Scheme::Lut { bits } => Some(f64::from(bits)),
            Scheme::Levels { levels } => Some(f64::from(2 * levels + 1).log2()),
            Scheme::Nf4 | Scheme::Fp4 => Some(4.0),
            Scheme::Fp8E4M3 | Scheme::Fp8E5M2 => Some(8.0),
            Scheme::Fp16 | Scheme::Bf16 => Some(16.0),
        }
    }

    /// Whether this scheme stores a scale per group (all but Keep, Lut and
    /// the 16-bit casts).
    pub fn has_scale(self) -> bool {
        !matches!(
            self,
            Scheme::Keep | Scheme::Lut { .. } | Scheme::Fp16 | Scheme::Bf16
        )
    }

    /// The 16-bit float a cast scheme rounds to (`None` for the others).
    pub fn cast_type(self) -> Option<ScaleType> {
        match self {
            Scheme::Fp16 => Some(ScaleType::F16),
            Scheme::Bf16 => Some(ScaleType::Bf16),
            _ => None,
        }
    }

    fn validate(self) -> Result<(), SpecError> {
        match self {
            Scheme::Int { bits, .. } if !(2..=8).contains(&bits) => {
                Err(SpecError::IntBits { bits })
            }
            Scheme::Lut { bits } if !(1..=8).contains(&bits) => Err(SpecError::LutBits { bits }),
            Scheme::Levels { levels } if !(1..=MAX_LEVELS).contains(&levels) => {
                Err(SpecError::Levels { levels })
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Scheme::Keep => f.write_str("keep"),
            Scheme::Int {
                bits,
                symmetric: true,
            } => write!(f, "int{bits}"),
            Scheme::Int {
                bits,
                symmetric: false,
            } => write!(f, "uint{bits}"),
            Scheme::Levels { levels } => write!(f, "levels{levels}"),
            Scheme::Nf4 => f.write_str("nf4"),
            Scheme::Fp4 => f.write_str("fp4"),
            Scheme::Fp8E4M3 => f.write_str("fp8_e4m3"),
            Scheme::Fp8E5M2 => f.write_str("fp8_e5m2"),
            Scheme::Lut { bits } => write!(f, "lut{bits}"),
            Scheme::Fp16 => f.write_str("fp16"),
            Scheme::Bf16 => f.write_str("bf16"),
        }
    }
}

impl FromStr for Scheme {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, SpecError> {
        let unknown = || SpecError::UnknownScheme {
            text: s.to_string(),
        };
        let number = |rest: &str| -> Result<u32, SpecError> {
            // Only plain decimal digits: "int+4" or "int04" are not schemes.
            if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) || rest.starts_with('0')
            {
                return Err(unknown());
            }
            rest.parse::<u32>().map_err(|_| unknown())
        };
        let scheme = match s {
            "keep" => Scheme::Keep,
            "nf4" => Scheme::Nf4,
            "fp4" => Scheme::Fp4,
            "fp8_e4m3" => Scheme::Fp8E4M3,
            "fp8_e5m2" => Scheme::Fp8E5M2,
            "fp16" => Scheme::Fp16,
            "bf16" => Scheme::Bf16,
            _ => {
                let (bits, make): (u32, fn(u32) -> Scheme) =
                    if let Some(rest) = s.strip_prefix("uint") {
                        (number(rest)?, |b| Scheme::Int {
                            bits: b as u8,
                            symmetric: false,
                        })
                    } else if let Some(rest) = s.strip_prefix("int") {
                        (number(rest)?, |b| Scheme::Int {
                            bits: b as u8,
                            symmetric: true,
                        })
                    } else if let Some(rest) = s.strip_prefix("levels") {
                        (number(rest)?, |l| Scheme::Levels { levels: l })
                    } else if let Some(rest) = s.strip_prefix("lut") {
                        (number(rest)?, |b| Scheme::Lut { bits: b as u8 })
                    } else {
                        return Err(unknown());
                    };
                let in_range = if s.starts_with("levels") {
                    (1..=MAX_LEVELS).contains(&bits)
                } else if s.starts_with("lut") {
                    (1..=8).contains(&bits)
                } else {
                    (2..=8).contains(&bits)
                };
                if !in_range {
                    return Err(unknown());
                }
                make(bits)
            }
        };
        Ok(scheme)
    }
}

/// Which elements share one scale (or palette).
///
/// Tensors are row-major with the output axis first (see
/// [`crate::TensorInfo::shape`]); a "row" is everything belonging to one
/// output channel, flattened (`in * kh * kw` for convolutions). Tensors of
/// rank 0 or 1 (biases, norms) are a single row: giving each element of a
/// vector its own scale would store more than the vector itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// One scale for the whole tensor.
    Tensor,
    /// One scale per output channel (row).
    Channel,
    /// One scale per run of `G` consecutive elements within a row; the last
    /// group of a row may be shorter.
    Group(u32),
}

impl fmt::Display for Granularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Granularity::Tensor => f.write_str("tensor"),
            Granularity::Channel => f.write_str("channel"),
            Granularity::Group(g) => write!(f, "group:{g}"),
        }
    }
}

impl FromStr for Granularity {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, SpecError> {
        match s {
            "tensor" => Ok(Granularity::Tensor),
            "channel" => Ok(Granularity::Channel),
            _ => {
                let bad = || SpecError::UnknownGranularity {
                    text: s.to_string(),
                };
                let n = s.strip_prefix("group:").ok_or_else(bad)?;
                match n.parse::<u32>() {
                    Ok(g) if g >= 1 && !n.starts_with('+') => Ok(Granularity::Group(g)),
                    _ => Err(bad()),
                }
            }
        }
    }
}

/// How the range that a scale covers is chosen within each scale group.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Clipping {
    /// Cover the full range (absmax, or min/max for asymmetric grids).
    None,
    /// Cover the given percentile (0 < p <= 100) of magnitudes (symmetric)
    /// or the `[100-p, p]` percentiles (asymmetric).
    Percentile(f64),
    /// Try clip ratios 1.0, 0.975, ..., 0.5 of the full range and keep the
    /// one with the lowest squared error for the group.
    Mse,
}

impl fmt::Display for Clipping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Clipping::None => f.write_str("none"),
            Clipping::Percentile(p) => write!(f, "percentile:{p}"),
            Clipping::Mse => f.write_str("mse"),
        }
    }
}

impl FromStr for Clipping {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, SpecError> {
        let bad = || SpecError::UnknownClip {
            text: s.to_string(),
        };
        match s {
            "none" => Ok(Clipping::None),
            "mse" => Ok(Clipping::Mse),
            _ => {
                let p = s.strip_prefix("percentile:").ok_or_else(bad)?;
                match p.parse::<f64>() {
                    Ok(p) if p > 0.0 && p <= 100.0 => Ok(Clipping::Percentile(p)),
                    _ => Err(bad()),
                }
            }
        }
    }
}

/// How values are mapped to grid points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Round each value to the nearest grid point independently.
    #[default]
    Nearest,
    /// GPTQ: round columns in turn and push each rounding error onto the
    /// not-yet-rounded columns using calibration activations
    /// ([`crate::quantize_gptq`], given the inputs' Hessian; language
    /// models calibrate with `--calib`). [`crate::quantize_tensor`] has no
    /// calibration input and answers [`crate::QuantError::Unsupported`].
    ErrorCompensating,
    /// AWQ-style: each input channel's weights are scaled by a power of the
    /// channel's activation magnitude (the power searched per layer group
    /// on calibration activations), rounded to nearest, and the inverse
    /// scale is folded into the layer that produces the input (a batch
    /// norm before a ReLU). Needs calibration and a foldable producer;
    /// [`crate::quantize_tensor`] answers [`crate::QuantError::Unsupported`].
    ActivationAware,
}

impl fmt::Display for Rounding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rounding::Nearest => "nearest",
            Rounding::ErrorCompensating => "error_compensating",
            Rounding::ActivationAware => "activation_aware",
        })
    }
}

impl FromStr for Rounding {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, SpecError> {
        match s {
            "nearest" => Ok(Rounding::Nearest),
            "error_compensating" => Ok(Rounding::ErrorCompensating),
            "activation_aware" => Ok(Rounding::ActivationAware),
            _ => Err(SpecError::UnknownRounding {
                text: s.to_string(),
            }),
        }
    }
}

/// Storage type of per-group scales and (for float tensors) palette entries.
/// F16 is the default because it is what deployed 4-bit formats store; the
/// quantizer rounds scales *up* to this type so the grid it simulates is the
/// one a real file would hold and no in-range value gets clamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ScaleType {
    #[default]
    F16,
    Bf16,
    F32,
}

impl ScaleType {
    pub fn bits(self) -> u32 {
        match self {
            ScaleType::F16 | ScaleType::Bf16 => 16,
            ScaleType::F32 => 32,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ScaleType::F16 => "f16",
            ScaleType::Bf16 => "bf16",
            ScaleType::F32 => "f32",
        }
    }
}

impl fmt::Display for ScaleType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ScaleType {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, SpecError> {
        match s {
            "f16" => Ok(ScaleType::F16),
            "bf16" => Ok(ScaleType::Bf16),
            "f32" => Ok(ScaleType::F32),
            _ => Err(SpecError::UnknownScaleType {
                text: s.to_string(),
            }),
        }
    }
}

/// Everything needed to quantize one tensor.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QuantSpec {
    pub scheme: Scheme,
    pub granularity: Granularity,
    pub clipping: Clipping,
    /// Percentage of elements, by magnitude, kept exact: `0.1` keeps the
    /// top 0.1%. Must lie in `[0, 50]`. A percentage, not a fraction, so
    /// the value in a strategy file is the value here, bit for bit.
    pub outlier_percent: f64,
    pub rounding: Rounding,
    pub scale_type: ScaleType,
    /// The smallest scale a group gets (eps): a floor that keeps a group
    /// of near-equal values from dividing by almost nothing. 0 (the
    /// default) is no floor; all-zero groups stay zero either way.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min_scale: f64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

impl QuantSpec {
    /// The spec that leaves a tensor unchanged.
    pub const KEEP: QuantSpec = QuantSpec {
        scheme: Scheme::Keep,
        granularity: Granularity::Channel,
        clipping: Clipping::None,
        outlier_percent: 0.0,
        rounding: Rounding::Nearest,
        scale_type: ScaleType::F16,
        min_scale: 0.0,
    };

    /// `scheme` per output channel, no clipping, no outliers, nearest
    /// rounding, f16 scales: the defaults a strategy rule starts from.
    pub fn new(scheme: Scheme) -> Self {
        QuantSpec {
            scheme,
            ..QuantSpec::KEEP
        }
    }

    pub fn with_granularity(mut self, g: Granularity) -> Self {
        self.granularity = g;
        self
    }
    pub fn with_clipping(mut self, c: Clipping) -> Self {
        self.clipping = c;
        self
    }
    pub fn with_outlier_percent(mut self, p: f64) -> Self {
        self.outlier_percent = p;
        self
    }
    pub fn with_rounding(mut self, r: Rounding) -> Self {
        self.rounding = r;
        self
    }
    pub fn with_scale_type(mut self, t: ScaleType) -> Self {
        self.scale_type = t;
        self
    }
    pub fn with_min_scale(mut self, eps: f64) -> Self {
        self.min_scale = eps;
        self
    }

    /// Check ranges and combinations; the message names the offending part.
    pub fn validate(&self) -> Result<(), SpecError> {
        self.scheme.validate()?;
        if let Granularity::Group(0) = self.granularity {
            return Err(SpecError::EmptyGroup);
        }
        if let Clipping::Percentile(p) = self.clipping {
            if !(p > 0.0 && p <= 100.0) {
                return Err(SpecError::Percentile { percentile: p });
            }
        }
        if !(self.min_scale >= 0.0 && self.min_scale.is_finite()) {
            return Err(SpecError::MinScale {
                eps: self.min_scale,
            });
        }
        if !(0.0..=50.0).contains(&self.outlier_percent) {
            return Err(SpecError::OutlierPercent {
                percent: self.outlier_percent,
            });
        }
        if self.scheme.cast_type().is_some()
            && (self.clipping != Clipping::None || self.outlier_percent > 0.0)
        {
            return Err(SpecError::CastSettings {
                scheme: self.scheme,
            });
        }
        if matches!(self.scheme, Scheme::Lut { .. }) && self.clipping != Clipping::None {
            // k-means already places the palette to minimise squared error;
            // a clip setting would be silently meaningless.
            return Err(SpecError::ClipWithPalette {
                clipping: self.clipping,
                scheme: self.scheme,
            });
        }
        Ok(())
    }
}

impl fmt::Display for QuantSpec {
    /// Compact one-line form for tables: `int4 group:32 clip=mse out=0.1%`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.scheme == Scheme::Keep {
            return f.write_str("keep");
        }
        write!(f, "{} {}", self.scheme, self.granularity)?;
        if self.clipping != Clipping::None {
            write!(f, " clip={}", self.clipping)?;
        }
        if self.outlier_percent > 0.0 {
            write!(f, " out={}%", self.outlier_percent)?;
        }
        if self.rounding != Rounding::Nearest {
            write!(f, " round={}", self.rounding)?;
        }
        if self.scale_type != ScaleType::F16 {
            write!(f, " scale={}", self.scale_type)?;
        }
        if self.min_scale > 0.0 {
            write!(f, " eps={}", self.min_scale)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_text_round_trips() {
        let all = [
            "keep",
            "int2",
            "int8",
            "uint2",
            "uint8",
            "levels1",
            "levels31",
            "levels127",
            "nf4",
            "fp4",
            "fp8_e4m3",
            "fp8_e5m2",
            "lut1",
            "lut4",
            "lut8",
        ];
        for s in all {
            let scheme: Scheme = s.parse().unwrap();
            assert_eq!(scheme.to_string(), s);
        }
    }

    #[test]
    fn scheme_rejects_out_of_range() {
        for s in [
            "int9",
            "int1",
            "int0",
            "uint9",
            "int04",
            "int+4",
            "int",
            "levels0",
            "levels128",
            "lut0",
            "lut9",
            "fp8",
            "INT4",
            "",
        ] {
            let e = s.parse::<Scheme>().unwrap_err();
            assert_eq!(
                e,
                SpecError::UnknownScheme {
                    text: s.to_string()
                }
            );
            assert!(
                e.to_string().contains("expected keep, int2..int8"),
                "{s}: {e}"
            );
        }
    }

    #[test]
    fn granularity_and_clip_round_trip() {
        for s in ["tensor", "channel", "group:32", "group:1"] {
            assert_eq!(s.parse::<Granularity>().unwrap().to_string(), s);
        }
        for s in ["group:0", "group:", "group:-1", "group", "row"] {
            assert!(s.parse::<Granularity>().is_err(), "{s}");
        }
        for s in ["none", "mse", "percentile:99.9", "percentile:100"] {
            assert_eq!(s.parse::<Clipping>().unwrap().to_string(), s);
        }
        for s in ["percentile:0", "percentile:101", "percentile:x", "max"] {
            assert!(s.parse::<Clipping>().is_err(), "{s}");
        }
    }

    #[test]
    fn levels_code_bits() {
        let b = Scheme::Levels { levels: 7 }.code_bits().unwrap();
        assert!((b - 15f64.log2()).abs() < 1e-12);
    }
}
