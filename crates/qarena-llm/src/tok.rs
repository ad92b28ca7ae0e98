//! The tokenizer: rebuilt from a GGUF file's metadata (byte-level BPE as
//! GPT-2 and SmolLM2 use it), or read from a `tokenizer.json`.

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, PreTokenizerWrapper, Tokenizer as HfTokenizer};

use crate::error::{LlmError, Result};

/// A tokenizer with the special tokens the model declares.
#[derive(Clone)]
pub struct Tokenizer {
    inner: HfTokenizer,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab", &self.vocab_size())
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .finish()
    }
}

/// GGUF token type of a control (special) token.
const TOKEN_TYPE_CONTROL: i32 = 3;

fn bad(path: &Path, reason: impl Into<String>) -> LlmError {
    LlmError::Tokenizer {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn strings<'a>(c: &'a Content, key: &str, path: &Path) -> Result<Vec<&'a str>> {
    let v = c
        .metadata
        .get(key)
        .ok_or_else(|| bad(path, format!("the metadata has no `{key}`")))?;
    let items = v
        .to_vec()
        .map_err(|_| bad(path, format!("`{key}` is not an array")))?;
    items
        .iter()
        .map(|s| {
            s.to_string()
                .map(String::as_str)
                .map_err(|_| bad(path, format!("`{key}` holds a value that is not a string")))
        })
        .collect()
}

fn token_id(c: &Content, key: &str) -> Option<u32> {
    c.metadata.get(key).and_then(|v| v.to_u32().ok())
}

impl Tokenizer {
    /// Rebuilds the tokenizer a GGUF file describes (`tokenizer.ggml.*`):
    /// byte-level BPE from its tokens and merges, digits split one by one
    /// before the byte-level split, control tokens as special tokens.
    pub fn from_gguf(c: &Content, path: &Path) -> Result<Tokenizer> {
        let model = c
            .metadata
            .get("tokenizer.ggml.model")
            .and_then(|v| v.to_string().ok())
            .map(String::as_str);
        if model != Some("gpt2") {
            return Err(bad(
                path,
                format!(
                    "tokenizer model {} is not supported (only byte-level BPE, `gpt2`)",
                    model.unwrap_or("(none)")
                ),
            ));
        }
        let tokens = strings(c, "tokenizer.ggml.tokens", path)?;
        let merges = strings(c, "tokenizer.ggml.merges", path)?;
        let types: Vec<i32> = match c.metadata.get("tokenizer.ggml.token_type") {
            Some(Value::Array(a)) => a.iter().map(|v| v.to_i32().unwrap_or(1)).collect(),
            _ => vec![1; tokens.len()],
        };
        let vocab: HashMap<String, u32> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.to_string(), i as u32))
            .collect();
        if vocab.len() != tokens.len() {
            return Err(bad(path, "the vocabulary holds a token twice"));
        }
        let merges = merges
            .iter()
            .map(|m| {
                m.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| bad(path, format!("merge `{m}` is not two tokens")))
            })
            .collect::<Result<Vec<_>>>()?;
        let bpe = BPE::builder()
            .vocab_and_merges(
                vocab
                    .into_iter()
                    .collect::<tokenizers::models::bpe::Vocab>(),
                merges,
            )
            .build()
            .map_err(|e| bad(path, e.to_string()))?;
        let mut inner = HfTokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(Sequence::new(vec![
            PreTokenizerWrapper::Digits(Digits::new(true)),
            PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true)),
        ])));
        inner.with_decoder(Some(ByteLevelDecoder::default()));
        let special: Vec<AddedToken> = tokens
            .iter()
            .zip(&types)
            .filter(|(_, t)| **t == TOKEN_TYPE_CONTROL)
            .map(|(s, _)| AddedToken::from(s.to_string(), true))
            .collect();
        inner
            .add_special_tokens(special)
            .map_err(|e| bad(path, e.to_string()))?;
        Ok(Tokenizer {
            inner,
            bos: token_id(c, "tokenizer.ggml.bos_token_id"),
            eos: token_id(c, "tokenizer.ggml.eos_token_id"),
        })
    }

    /// Reads a `tokenizer.json`.
    pub fn from_file(path: &Path, bos: Option<u32>, eos: Option<u32>) -> Result<Tokenizer> {
        let inner = HfTokenizer::from_file(path).map_err(|e| bad(path, e.to_string()))?;
        Ok(Tokenizer { inner, bos, eos })
    }

    /// Writes it as a `tokenizer.json`.
    pub fn save(&self, path: &Path) -> Result<()> {
        self.inner
            .save(path, false)
            .map_err(|e| bad(path, e.to_string()))
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Token ids of `text`, with no token added.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.inner
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| LlmError::Tokenizer {
                path: Default::default(),
                reason: e.to_string(),
            })
    }

    /// The text of `ids` (special tokens included).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, false)
            .map_err(|e| LlmError::Tokenizer {
                path: Default::default(),
                reason: e.to_string(),
            })
    }
}
