//! The one error type of this crate.
//!
//! Invariant: every variant names the model file, so a user who sees only the
//! message knows which file to look at, says what is wrong, and ends with
//! what to do about it; parse failures also name the byte offset (in the
//! decompressed stream for gzip files).

use std::path::PathBuf;

/// Everything that can go wrong while reading, editing or writing a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file could not be read or written (the message carries the path).
    #[error(transparent)]
    Io(#[from] std::io::Error),

    /// The bytes do not follow the format at `offset`.
    #[error(
        "model '{}' is corrupt at byte {offset}: {what}; the file is damaged or \
         not the model it claims to be: download or export it again",
        path.display()
    )]
    Corrupt {
        path: PathBuf,
        offset: u64,
        what: String,
    },

    /// A gzip file that would decompress to more than its size allows: no
    /// real model compresses that well, so it is damaged or a decompression
    /// bomb. Nothing past `limit` decompressed bytes was produced.
    #[error(
        "model '{}' would decompress to more than {limit} bytes from {compressed} \
         compressed bytes ({reason}); real models never compress that well, so \
         the file is damaged or a decompression bomb. If you trust it, decompress \
         it yourself (gunzip -k) and load the uncompressed file",
        path.display()
    )]
    DecompressionLimit {
        path: PathBuf,
        /// Decompressed bytes allowed for this file.
        limit: u64,
        /// Size of the gzip file.
        compressed: u64,
        /// What needed more: a declared tensor, or the stream itself.
        reason: String,
    },

    /// The format is recognised but this version or architecture is not.
    #[error(
        "model '{}' has unsupported version {found}; supported: {supported}; \
         convert the model to a supported version or use an engine build that \
         matches it",
        path.display()
    )]
    UnsupportedVersion {
        path: PathBuf,
        found: String,
        supported: String,
    },

    /// A KataGo layer or block kind this crate does not know.
    #[error(
        "model '{}' uses unknown {what} '{kind}' at byte {offset}; known: {known}; \
         the net is newer than this build or damaged",
        path.display()
    )]
    UnsupportedLayer {
        path: PathBuf,
        offset: u64,
        what: &'static str,
        kind: String,
        known: &'static str,
    },

    /// Neither content nor extension matches a supported format.
    #[error(
        "model '{}' is in no supported format; supported: {}; check that the \
         path names a network file",
        path.display(),
        crate::SUPPORTED_FORMATS
    )]
    UnknownFormat { path: PathBuf },

    /// A tensor index past the end of the catalogue.
    #[error("model '{}' has {count} tensors, there is no tensor {index}", path.display())]
    NoSuchTensor {
        path: PathBuf,
        index: usize,
        count: usize,
    },

    /// `set_tensor_values` got the wrong number of values.
    #[error(
        "tensor '{tensor}' of model '{}' has {expected} elements, but {found} values were given",
        path.display()
    )]
    LengthMismatch {
        path: PathBuf,
        tensor: String,
        expected: usize,
        found: usize,
    },

    /// A value the storage type cannot hold (not integral, out of range, not finite).
    #[error(
        "tensor '{tensor}' of model '{}': value {value} at element {index} {reason}",
        path.display()
    )]
    InvalidValue {
        path: PathBuf,
        tensor: String,
        index: usize,
        value: f32,
        reason: String,
    },

    /// The model cannot be run by the project's own forward pass.
    #[error("model '{}' cannot be evaluated: {reason}", path.display())]
    NotEvaluable { path: PathBuf, reason: String },
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;
