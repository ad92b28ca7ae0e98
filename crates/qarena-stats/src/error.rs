//! The crate's error type.

use thiserror::Error;

/// Errors from parsing statistics input. Each variant names the input at
/// fault and what would be accepted.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum StatsError {
    #[error("SPRT parameter `{key}` is missing (expected e.g. \"elo0=-10,elo1=0,alpha=0.05,beta=0.05\")")]
    MissingKey { key: &'static str },

    #[error("unknown SPRT parameter `{key}` (known: elo0, elo1, alpha, beta, model)")]
    UnknownKey { key: String },

    #[error("SPRT parameter `{key}` is given twice")]
    DuplicateKey { key: String },

    #[error("SPRT parameter `{key}` has invalid value `{value}`: {reason}")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
    },

    #[error("SPRT parameter `{item}` is not of the form key=value")]
    NotKeyValue { item: String },

    #[error("game pair {index} has scores ({a}, {b}); each score must be 0, 0.5 or 1")]
    InvalidPairScore { index: usize, a: f64, b: f64 },

    #[error("rating fit: {0}")]
    Rating(String),

    #[error("paired comparison needs at least one item")]
    NoItems,

    #[error("paired bootstrap needs at least one resample")]
    NoResamples,
}
