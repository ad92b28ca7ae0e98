//! Cache to cache: a sharer prefills a context, its key/value cache is
//! pruned and quantized and sent as [`crate::wire`] bytes, and a receiver
//! (the same architecture and tokenizer, possibly another weight variant)
//! rebuilds the cache and continues from it.
//!
//! Between model families the caches differ in layers, heads and channels
//! (and the tokenizers in what a position means), and a learned projector
//! would have to map one onto the other. The interface is here: a
//! [`Projector`] on the [`Link`] receives the cache in the sharer's shape
//! ([`crate::wire::decode_as_sent`]) and returns one in the receiver's.
//! None is built (training one needs paired caches of two families and a
//! second model family, which the project does not ship); without one,
//! decoding refuses a cache whose shape is not the receiver's.

use crate::error::Result;
use crate::kv::KvQuant;
use crate::model::{KvCache, Llama};
use crate::prune::Prune;
use crate::weights::Config;
use crate::wire::{self, Message};

/// Maps a cache in the sharer's shape onto the receiver's architecture.
pub trait Projector: std::fmt::Debug {
    fn project(&self, sent: KvCache, receiver: &Config) -> Result<KvCache>;
}

/// How a context's cache travels from the sharer to a receiver.
#[derive(Debug, Clone, Copy)]
pub struct Link<'a> {
    /// Prefills the context (at its own precision; its cache is not
    /// quantized while it computes).
    pub sharer: &'a Llama,
    /// How the sent cache is quantized (none: f16).
    pub kv: Option<&'a KvQuant>,
    /// Which of the context's tokens are sent (none: all).
    pub prune: Option<Prune>,
    /// Between architectures: maps the sent cache onto the receiver's.
    pub projector: Option<&'a dyn Projector>,
}

/// A delivered cache and the message it came in.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub cache: KvCache,
    pub message: Message,
}

impl Link<'_> {
    /// The cache of `context` as a receiver of architecture `receiver`
    /// rebuilds it from the bytes the sharer sends.
    pub fn deliver(&self, receiver: &Config, context: &[u32]) -> Result<Delivery> {
        let mut cache = KvCache::new();
        if self.prune.is_some_and(|p| p.needs_attention()) {
            cache.track_attention();
        }
        if !context.is_empty() {
            self.sharer.forward(context, &mut cache)?;
            if let Some(p) = self.prune {
                p.apply(&mut cache)?;
            }
        }
        let (message, _) = wire::encode(&cache, self.kv)?;
        let cache = match self.projector {
            None => wire::decode(&message.bytes, self.kv, receiver)?,
            Some(p) => p.project(wire::decode_as_sent(&message.bytes, self.kv)?, receiver)?,
        };
        Ok(Delivery { cache, message })
    }
}
