//! No input makes the loaders panic: random bytes under every supported
//! name, and truncations and byte flips of the real KataGo and NNUE files.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod common;

use std::path::Path;
use std::sync::OnceLock;

use common::*;
use proptest::prelude::*;
use qarena_models::{Model, ModelError};

const NAMES: [&str; 7] = [
    "x.bin.gz",
    "x.bin",
    "x.txt.gz",
    "x.txt",
    "x.nnue",
    "x.safetensors",
    "x",
];

fn katago_raw() -> &'static [u8] {
    static RAW: OnceLock<Vec<u8>> = OnceLock::new();
    RAW.get_or_init(|| gunzip(&std::fs::read(katago_net()).unwrap()))
}

fn katago_gz() -> &'static [u8] {
    static GZ: OnceLock<Vec<u8>> = OnceLock::new();
    GZ.get_or_init(|| std::fs::read(katago_net()).unwrap())
}

fn nnue_raw() -> &'static [u8] {
    static RAW: OnceLock<Vec<u8>> = OnceLock::new();
    RAW.get_or_init(|| std::fs::read(stockfish_net()).unwrap())
}

/// Every error names the file; `Corrupt` offsets lie within the input.
fn check(name: &str, bytes: Vec<u8>) -> Result<Model, ModelError> {
    let len = bytes.len() as u64;
    let res = Model::from_bytes(Path::new(name), bytes);
    if let Err(e) = &res {
        let msg = e.to_string();
        assert!(msg.contains(name), "{msg}");
        if let ModelError::Corrupt { offset, .. } = e {
            // Gzip offsets count decompressed bytes, which may exceed len.
            if !name.ends_with(".gz") {
                assert!(*offset <= len, "{msg}");
            }
        }
    }
    res
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048), which in 0..NAMES.len()) {
        let _ = check(NAMES[which], bytes);
    }

    #[test]
    fn random_headers_with_plausible_magic_never_panic(
        tail in proptest::collection::vec(any::<u8>(), 0..512),
        which in 0..4usize,
    ) {
        let mut bytes = match which {
            0 => 0x7AF3_2F20u32.to_le_bytes().to_vec(),
            1 => { let mut b = 40u64.to_le_bytes().to_vec(); b.push(b'{'); b }
            2 => b"net\n8\n22\n19\ntrunk\n".to_vec(),
            _ => b"net 17 22 19 ".to_vec(),
        };
        bytes.extend(tail);
        let _ = check(["x.nnue", "x.safetensors", "x.bin", "x.txt"][which], bytes);
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn truncated_katago_is_refused(cut in 0usize..4_124_446) {
        let raw = katago_raw();
        let cut = cut.min(raw.len() - 2);
        prop_assert!(check("x.bin", raw[..cut].to_vec()).is_err());
    }

    #[test]
    fn flipped_katago_header_bytes_never_panic(at in 0usize..4096, bit in 0u8..8) {
        let mut raw = katago_raw().to_vec();
        raw[at] ^= 1 << bit;
        let _ = check("x.bin", raw);
    }

    #[test]
    fn truncated_gzip_is_refused(cut in 0usize..3_827_339) {
        let gz = katago_gz();
        let cut = cut.min(gz.len() - 1);
        prop_assert!(check("x.bin.gz", gz[..cut].to_vec()).is_err());
    }

    #[test]
    fn truncated_nnue_is_refused(cut in 0usize..47_001_499) {
        let raw = nnue_raw();
        let cut = cut.min(raw.len() - 1);
        prop_assert!(check("x.nnue", raw[..cut].to_vec()).is_err());
    }

    #[test]
    fn flipped_nnue_header_bytes_never_panic(at in 0usize..128, bit in 0u8..8) {
        let mut raw = nnue_raw().to_vec();
        raw[at] ^= 1 << bit;
        let _ = check("x.nnue", raw);
    }
}

#[test]
fn unknown_format_lists_the_supported_ones() {
    let err = Model::from_bytes(Path::new("notes.md"), b"# hello\n".to_vec()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ModelError::UnknownFormat { .. }), "{msg}");
    assert!(
        msg.contains("notes.md")
            && msg.contains("KataGo")
            && msg.contains("NNUE")
            && msg.contains("safetensors"),
        "{msg}"
    );
}
