//! Quantization schemes, strategies and error metrics for qarena.
pub mod tensor;
pub use tensor::{Role, StorageType, TensorInfo};
