//! Language models for qarena: Llama-architecture models from GGUF (the
//! tokenizer rebuilt from its metadata) or safetensors (with
//! `config.json` and `tokenizer.json`), run by the project's own forward
//! pass on candle (CPU, f32) with a cache the caller owns; fake-quantized
//! variants from the same strategies as every other model kind; and their
//! evaluation against the reference.
//!
//! * [`weights`]: loading, one canonical naming, the strategy catalogue.
//! * [`tok`]: the tokenizer.
//! * [`model`]: the forward pass and the key/value cache.
//! * [`variant`]: strategies applied in memory.
//! * [`eval`]: next-token KL over a text, multiple-choice scoring.
//! * [`safet`]: safetensors reading and writing (`qarena llm convert`).
//! * [`source`]: where the default model (`smollm2`) lives.
//! * [`kv`], [`prune`], [`wire`], [`transfer`]: key/value-cache
//!   quantization, token pruning, the cache as sent, and a receiver
//!   answering from a sharer's cache.

pub mod bench;
pub mod distill;
pub mod error;
pub mod eval;
pub mod kv;
pub mod matrix;
pub mod model;
pub mod prune;
pub mod safet;
pub mod source;
pub mod teacher;
pub mod tok;
pub mod transfer;
pub mod variant;
pub mod weights;
pub mod wire;

pub use error::{LlmError, Result};
pub use eval::{
    accuracy, kl, read_items, read_text, score_item, Accuracy, Item, ItemScore, KlReport,
    KlSettings,
};
pub use model::{Calibration, KvCache, Llama};
pub use tok::Tokenizer;
pub use variant::{
    apply, apply_cached, apply_calibrated, apply_calibrated_cached, variant_cache, QuantizedTensor,
    VariantCache, VariantReport,
};
pub use weights::{catalogue, Config, Format, LlmModel, Weight};
