//! The crate's error types: one for quantizing a tensor, one for reading a
//! strategy. Every variant names the input it refers to (tensor name or
//! strategy source), so a caller can show it without extra context.

use thiserror::Error;

/// Why a tensor could not be quantized.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum QuantError {
    /// The spec itself is out of range (e.g. `int9`, group size 0). Strategies
    /// never produce these; hand-built [`crate::QuantSpec`]s can.
    #[error("invalid quantization spec: {0}")]
    InvalidSpec(String),
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
    /// A problem at a known place in the TOML text. `message` already names
    /// the key when there is one.
    #[error("strategy '{source_name}' line {line}, column {column}: {message}")]
    Parse {
        source_name: String,
        line: usize,
        column: usize,
        key: Option<String>,
        message: String,
    },
    /// A problem with a strategy built in code (no text to point into).
    #[error("strategy '{name}': {message}")]
    Invalid { name: String, message: String },
}
