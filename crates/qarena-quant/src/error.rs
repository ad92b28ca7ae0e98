//! The crate's error types: one for quantizing a tensor, one for reading a
//! strategy, and the two it is built from (a spec's parts, a rule's
//! selector). Every variant names the input it refers to (tensor name,
//! strategy source, the text that did not parse), so a caller can show it
//! without extra context.

use std::fmt;

use thiserror::Error;

use crate::scheme::{Clipping, Scheme, MAX_LEVELS, SCHEME_FORMS};
use crate::tensor::Role;

/// Why a tensor could not be quantized.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum QuantError {
    /// The spec itself is out of range (e.g. `int9`, group size 0). Strategies
    /// never produce these; hand-built [`crate::QuantSpec`]s can.
    #[error("invalid quantization spec: {0}")]
    InvalidSpec(SpecError),
    #[error("tensor '{name}': expected {expected} values (shape {shape:?}), got {got}")]
    LengthMismatch {
        name: String,
        shape: Vec<usize>,
        expected: usize,
        got: usize,
    },
    #[error("tensor '{name}': value {value} at index {index} is not finite")]
    NonFinite {
        name: String,
        index: usize,
        value: f32,
    },
    /// A scale or palette entry does not fit the declared storage type.
    #[error(
        "tensor '{name}': {what} {value} does not fit in {storage}; \
         use a wider scale type (scale = \"f32\")"
    )]
    ScaleOverflow {
        name: String,
        what: &'static str,
        value: f64,
        storage: &'static str,
    },
    /// A feature that exists in the design but needs something this call
    /// does not have (e.g. calibration data for error-compensating rounding).
    #[error("tensor '{name}': {what} is not supported: {why}")]
    Unsupported {
        name: String,
        what: &'static str,
        why: &'static str,
    },
}

/// Why a strategy could not be read.
#[derive(Debug, Error)]
pub enum StrategyError {
    #[error("reading strategy '{path}': {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A strategy file over [`crate::MAX_STRATEGY_BYTES`], refused before
    /// it is parsed.
    #[error(
        "strategy '{path}' is {bytes} bytes; strategy files are limited to {limit} bytes (is it the right file?)",
        limit = crate::MAX_STRATEGY_BYTES
    )]
    TooLarge { path: String, bytes: u64 },
    /// A problem at a known place in the TOML text, under `key` when the
    /// problem belongs to one.
    #[error(
        "strategy '{source_name}' line {line}, column {column}: {}{problem}",
        KeyPrefix(.key.as_deref())
    )]
    Parse {
        source_name: String,
        line: usize,
        column: usize,
        key: Option<String>,
        problem: StrategyProblem,
    },
    /// A problem with a strategy built in code (no text to point into).
    #[error("strategy '{name}': {place}: {problem}")]
    Invalid {
        name: String,
        place: SpecPlace,
        problem: SpecError,
    },
}

/// `key 'k': ` before a message about key `k`; nothing without a key.
struct KeyPrefix<'a>(Option<&'a str>);

impl fmt::Display for KeyPrefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(k) => write!(f, "key '{k}': "),
            None => Ok(()),
        }
    }
}

/// Why a quantization spec, or the text of one of its parts, is not valid.
/// The message is what a strategy error shows after the key it names.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum SpecError {
    #[error("unknown scheme '{text}' (expected {forms})", forms = SCHEME_FORMS)]
    UnknownScheme { text: String },
    #[error("unknown granularity '{text}' (expected tensor, channel or group:N with N >= 1)")]
    UnknownGranularity { text: String },
    #[error("unknown clip '{text}' (expected none, mse or percentile:P with 0 < P <= 100)")]
    UnknownClip { text: String },
    #[error(
        "unknown rounding '{text}' (expected nearest, error_compensating or activation_aware)"
    )]
    UnknownRounding { text: String },
    #[error("unknown scale type '{text}' (expected f16, bf16 or f32)")]
    UnknownScaleType { text: String },
    #[error("int bits must be 2..=8, got {bits}")]
    IntBits { bits: u8 },
    #[error("lut bits must be 1..=8, got {bits}")]
    LutBits { bits: u8 },
    #[error("levels must be 1..={MAX_LEVELS}, got {levels}")]
    Levels { levels: u32 },
    #[error("group size must be at least 1")]
    EmptyGroup,
    #[error("percentile must be in (0, 100], got {percentile}")]
    Percentile { percentile: f64 },
    #[error("outliers is a percentage in [0, 50], got {percent}")]
    OutlierPercent { percent: f64 },
    #[error("eps (the smallest scale) must be a finite number >= 0, got {eps}")]
    MinScale { eps: f64 },
    /// A palette scheme with a clip setting: k-means already places the
    /// palette, so the setting would be silently meaningless.
    #[error("clip = \"{clipping}\" has no effect with {scheme}; use clip = \"none\"")]
    ClipWithPalette { clipping: Clipping, scheme: Scheme },
    /// A 16-bit cast with clipping or outliers: it rounds every value on
    /// its own, with no range to clip and nothing to keep apart.
    #[error("{scheme} rounds each value to the nearest 16-bit float: clip and outliers do not apply (use clip = \"none\", outliers = 0)")]
    CastSettings { scheme: Scheme },
}

/// Why the selector part of a rule (roles, layers) could not be read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SelectorError {
    #[error("unknown role '{text}' (expected {forms})", forms = role_list())]
    UnknownRole { text: String },
    #[error("expected a role name, found {found}")]
    RoleNotText { found: &'static str },
    #[error("empty role list (omit the key to match any role)")]
    EmptyRoleList,
    #[error("expected a role or a list of roles, found {found}")]
    RolesType { found: &'static str },
    #[error("bad layer range '{text}' (expected N, A-B or A-)")]
    BadLayerRange { text: String },
    #[error("layer range '{text}' is empty (end before start)")]
    EmptyLayerRange { text: String },
    #[error("layer {layer} is out of range")]
    LayerOutOfRange { layer: i64 },
    #[error("expected a layer range string like \"0-3\", found {found}")]
    LayersType { found: &'static str },
}

fn role_list() -> String {
    Role::ALL.map(Role::as_str).join(", ")
}

/// What is wrong at a place in a strategy's text.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum StrategyProblem {
    /// Syntax, a missing or unknown key, or a value of the wrong type, as
    /// the TOML reader words it.
    #[error("{0}")]
    Toml(String),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Selector(#[from] SelectorError),
}

/// Which spec of a strategy a [`StrategyError::Invalid`] refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecPlace {
    /// The rule at this 1-based position.
    Rule(usize),
    Default,
}

impl fmt::Display for SpecPlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecPlace::Rule(n) => write!(f, "rule {n}"),
            SpecPlace::Default => f.write_str("default"),
        }
    }
}
