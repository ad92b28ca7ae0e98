//! Quantization schemes, strategies and error metrics for qarena.
//!
//! The crate knows nothing about model files: a format crate lists tensors
//! as [`TensorInfo`], hands their values over as `f32`, and writes back the
//! fake-quantized values this crate returns. In between:
//!
//! - [`Strategy`] (TOML rules, first match wins) picks a [`QuantSpec`] per
//!   tensor ([`Strategy::resolve`], [`plan`]);
//! - [`quantize_tensor`] puts values on the spec's grid and back, counts the
//!   bytes a packed file would need (scales, zero points, palettes and
//!   outliers included) and measures the error ([`ErrorMetrics`]);
//! - [`StrategyApplication`] records the results and summarises them by
//!   [`Role`];
//! - [`TensorCache`] keeps quantized tensors between variants of one model
//!   (an evolution's screens).
//!
//! Invariants kept across the crate: outputs are deterministic (fixed
//! seeds, no dependence on thread count); integer-stored tensors stay
//! integers within their storage range; every reported metric is finite.

mod cache;
pub mod codes;
mod error;
mod glob;
mod gptq;
mod kmeans;
mod metrics;
mod plan;
mod quantize;
mod scheme;
mod strategy;
pub mod tensor;

pub use cache::TensorCache;
pub use error::{QuantError, SelectorError, SpecError, SpecPlace, StrategyError, StrategyProblem};
pub use glob::Glob;
pub use gptq::{
    quantize_gptq, quantize_gptq_blocks, quantize_gptq_planned, GptqPlan, GptqSettings, Hessian,
};
pub use metrics::{compare, sqnr_db, ErrorMetrics, SQNR_CAP_DB};
pub use plan::{plan, RoleSummary, StrategyApplication, TensorReport};
pub use quantize::{
    code_table, geometry, predicted_bytes, quantize_tensor, quantize_tensor_grids, Geometry,
    GroupGrid, QuantOutput,
};
pub use scheme::{Clipping, Granularity, QuantSpec, Rounding, ScaleType, Scheme, MAX_LEVELS};
pub use strategy::{LayerRange, Rule, Selector, Strategy, MAX_STRATEGY_BYTES};
pub use tensor::{Role, StorageType, TensorInfo};
