//! Errors of the language-model path, each naming the file or item.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not a model this crate can run (format, architecture,
    /// missing or inconsistent tensors and metadata).
    #[error("model {path}: {reason}")]
    Model { path: PathBuf, reason: String },
    #[error("tokenizer of {path}: {reason}")]
    Tokenizer { path: PathBuf, reason: String },
    #[error("items {path}, line {line}: {reason}")]
    Items {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("text {path}: {reason}")]
    Text { path: PathBuf, reason: String },
    #[error("quantizing {tensor}: {source}")]
    Quant {
        tensor: String,
        source: qarena_quant::QuantError,
    },
    /// A tensor operation failed (shapes that do not fit, out of memory).
    #[error("computing: {0}")]
    Compute(#[from] candle_core::Error),
    /// The two models cannot be compared (vocabularies differ).
    #[error("{0}")]
    Mismatch(String),
    #[error("stopped")]
    Interrupted,
}

pub type Result<T, E = LlmError> = std::result::Result<T, E>;
