//! Survival tournaments: quantization strategies discovered by generation
//! and competition rather than designed by hand.
//!
//! * [`genome`]: a strategy as a structured genome over a model's
//!   catalogue (tensors grouped by role and layer range, one gene per
//!   group), its exact cost under a budget, random sampling, mutation and
//!   crossover, all repaired or rejected so every genome is valid and
//!   within budget; lossless to and from strategy TOML.

pub mod genome;

pub use genome::{Budget, Gene, GeneSpace, Genome, GenomeError, Layout, Operator};
