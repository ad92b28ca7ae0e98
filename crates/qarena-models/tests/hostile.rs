//! Hostile model files: sizes at the overflow boundaries, declared blocks
//! just past the end of the file, gzip bombs and repeated tensor names.
//! Every one is refused with an error that names the file (or, for
//! repeated names, loaded with unique names), never with a panic.
//! Peak memory of the bombs is measured in `bomb_memory.rs`.

mod common;

use std::collections::HashSet;
use std::path::Path;

use common::*;
use proptest::prelude::*;
use qarena_models::{Model, ModelError};

/// Loads `bytes` as file `name`; every error must name the file.
fn load(name: &str, bytes: Vec<u8>) -> Result<Model, ModelError> {
    let res = Model::from_bytes(Path::new(name), bytes);
    if let Err(e) = &res {
        let msg = e.to_string();
        assert!(msg.contains(name), "{msg}");
    }
    res
}

/// A v8 KataGo net up to (not including) its first conv.
const V8_TRUNK: &str = "net\n8\n22\n19\ntrunk\n6\n96\n96\n64\n32\n32\n";

/// The KataGo header up to the float block of a stem conv with these dims.
fn conv_header(dims: [&str; 4]) -> String {
    format!(
        "{V8_TRUNK}conv1\n{}\n{}\n{}\n{}\n1\n1\n",
        dims[0], dims[1], dims[2], dims[3]
    )
}

/// The same KataGo content in all four encodings: binary (`@BIN@` and
/// `bin_tail`) and text (`txt_tail`), each plain and gzip-compressed.
fn encodings(header: &str, bin_tail: &[u8], txt_tail: &[u8]) -> [(&'static str, Vec<u8>); 4] {
    let mut bin = header.as_bytes().to_vec();
    bin.extend_from_slice(b"@BIN@");
    bin.extend_from_slice(bin_tail);
    let mut txt = header.as_bytes().to_vec();
    txt.extend_from_slice(txt_tail);
    [
        ("x.bin.gz", gzip(&bin)),
        ("x.txt.gz", gzip(&txt)),
        ("x.bin", bin),
        ("x.txt", txt),
    ]
}

fn safetensors(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn nnue(desc_len: u32, tail: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0x7AF3_2F20u32.to_le_bytes());
    out.extend_from_slice(&0x1C10_2EF2u32.to_le_bytes());
    out.extend_from_slice(&desc_len.to_le_bytes());
    out.extend_from_slice(tail);
    out
}

// --- Regression tests, one per finding ---------------------------------

/// 549 x 3732025 x 532363 x 4228 = 2^62 - 4 floats: the block is 2^64 - 16
/// bytes, so `offset + size` overflowed (a panic, exit 101).
#[test]
fn conv_whose_block_end_overflows_is_an_error_not_a_panic() {
    let header = conv_header(["549", "3732025", "532363", "4228"]);
    for (name, bytes) in encodings(&header, &[0; 64], b"0 0 0 0\n") {
        let err = load(name, bytes).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                ModelError::Corrupt { .. } | ModelError::DecompressionLimit { .. }
            ) && msg.contains("conv1"),
            "{msg}"
        );
    }
}

#[test]
fn sizes_past_the_integer_limits_are_errors() {
    let edges = [
        "16777217",
        "4294967295",
        "4294967296",
        "9223372036854775807",
        "9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
        "-1",
        "-9223372036854775808",
    ];
    for edge in edges {
        for at in 0..4 {
            let mut dims = ["1", "1", "1", "1"];
            dims[at] = edge;
            for (name, bytes) in encodings(&conv_header(dims), &[0; 16], b"0 0 0 0\n") {
                let err = load(name, bytes).unwrap_err();
                assert!(matches!(err, ModelError::Corrupt { .. }), "{edge}: {err}");
            }
        }
    }
}

/// A block declared one float longer than the file holds is refused as
/// "ends inside" (plain) or by the stream's end (gzip), not read past.
#[test]
fn block_one_float_past_the_end_is_refused() {
    for floats in [1usize, 7, 1000] {
        let header = conv_header(["1", "1", "1", &(floats + 1).to_string()]);
        let bin_tail = vec![0u8; 4 * floats];
        let txt_tail = "0 ".repeat(floats);
        for (name, bytes) in encodings(&header, &bin_tail, txt_tail.as_bytes()) {
            let err = load(name, bytes).unwrap_err();
            assert!(err.to_string().contains("conv1"), "{err}");
        }
    }
}

#[test]
fn safetensors_offsets_and_shapes_that_overflow_are_errors() {
    let cases = [
        // The crate adds 8 + header length to the last offset unchecked.
        format!(
            r#"{{"a":{{"dtype":"U8","shape":[{0}],"data_offsets":[0,{0}]}}}}"#,
            u64::MAX - 3
        ),
        // Zero elements, but the row-major strides multiply 2^40 by 2^40.
        r#"{"a":{"dtype":"F32","shape":[0,1099511627776,1099511627776],"data_offsets":[0,0]}}"#
            .to_string(),
        // Offsets past the data section.
        r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#.to_string(),
        format!(
            r#"{{"a":{{"dtype":"F32","shape":[1],"data_offsets":[{},{}]}}}}"#,
            u64::MAX - 3,
            u64::MAX
        ),
    ];
    for header in cases {
        let err = load("x.safetensors", safetensors(&header, &[])).unwrap_err();
        assert!(matches!(err, ModelError::Corrupt { .. }), "{err}");
    }
    // Header lengths at the edges.
    for n in [u64::MAX, u64::MAX - 7, u32::MAX as u64, 100_000_001, 3] {
        let mut bytes = n.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"{}");
        let err = load("x.safetensors", bytes).unwrap_err();
        assert!(matches!(err, ModelError::Corrupt { .. }), "{n}: {err}");
    }
}

#[test]
fn nnue_description_lengths_at_the_edges_are_errors() {
    let tail = [0u8; 64];
    for len in [u32::MAX, u32::MAX - 11, 65, 64, 63, 0] {
        let err = load("x.nnue", nnue(len, &tail)).unwrap_err();
        assert!(
            matches!(
                err,
                ModelError::Corrupt { .. } | ModelError::UnsupportedVersion { .. }
            ),
            "{len}: {err}"
        );
    }
}

/// About 1 MB that inflates to 1 GiB of zeros: refused by its first bytes
/// (the old loader decompressed all of it first, 1.1 GB resident).
#[test]
fn gzip_bomb_that_is_no_model_is_refused_by_its_first_bytes() {
    let bomb = gzip_bomb(b"", 0, 1024);
    assert!(bomb.len() < 2 << 20, "{}", bomb.len());
    let err = load("bomb.bin.gz", bomb).unwrap_err();
    assert!(matches!(err, ModelError::UnknownFormat { .. }), "{err}");
}

/// A valid header whose stem conv declares 2^28 floats (1 GiB), followed by
/// 1 GiB of zeros: refused at the declaration, before decompressing it.
#[test]
fn gzip_bomb_behind_a_katago_header_is_refused_at_the_declared_block() {
    let prefix = conv_header(["1", "1", "8192", "32768"]) + "@BIN@";
    let bomb = gzip_bomb(prefix.as_bytes(), 0, 1024);
    let size = bomb.len() as u64;
    let err = load("bomb.bin.gz", bomb).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            ModelError::DecompressionLimit { limit, compressed, .. }
                if compressed == size && limit == (64 * size).max(64 << 20)
        ),
        "{msg}"
    );
    assert!(
        msg.contains("conv1") && msg.contains("gunzip") && msg.contains("bomb"),
        "{msg}"
    );
}

/// The same declaration in a text file: 2^28 tokens need 512 MiB.
#[test]
fn gzip_text_bomb_is_refused_at_the_declared_block() {
    let prefix = conv_header(["1", "1", "8192", "32768"]);
    let bomb = gzip_bomb(prefix.as_bytes(), b'0', 256);
    let err = load("bomb.txt.gz", bomb).unwrap_err();
    assert!(
        matches!(err, ModelError::DecompressionLimit { .. }),
        "{err}"
    );
}

/// Blocks within the limit are read; what follows them must parse, so a
/// bomb behind them ends at the next token.
#[test]
fn gzip_bomb_behind_a_block_within_the_limit_ends_at_the_next_token() {
    let prefix = conv_header(["1", "1", "1024", "1024"]) + "@BIN@";
    let bomb = gzip_bomb(prefix.as_bytes(), 0, 1024);
    let err = load("bomb.bin.gz", bomb).unwrap_err();
    let block_end = (prefix.len() + (4 << 20)) as u64;
    assert!(
        matches!(err, ModelError::Corrupt { offset, .. } if offset == block_end),
        "{err}"
    );
    assert!(err.to_string().contains("longer than 256 bytes"), "{err}");
}

/// Whitespace is skipped without a token to end it: the limit ends it.
#[test]
fn gzip_bomb_of_whitespace_stops_at_the_limit() {
    for (name, filler) in [("ws.bin.gz", b' '), ("ws.txt.gz", b'\n')] {
        let bomb = gzip_bomb(V8_TRUNK.as_bytes(), filler, 1024);
        let err = load(name, bomb).unwrap_err();
        assert!(
            matches!(err, ModelError::DecompressionLimit { .. }),
            "{err}"
        );
    }
}

/// 20,000 tensors under 10 names: renamed `name#k` in file order (the old
/// loader searched the suffixes from #2 each time, quadratically).
#[test]
fn twenty_thousand_repeated_tensor_names_load_with_unique_names() {
    let text = katago_text_with_repeated_names(2000);
    for (name, bytes) in [("dup.txt.gz", gzip(&text)), ("dup.txt", text.clone())] {
        let model = load(name, bytes).unwrap();
        let cat = model.catalogue();
        let unique: HashSet<&str> = cat.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(unique.len(), cat.len());
        let w1: Vec<&str> = cat
            .iter()
            .map(|t| t.name.as_str())
            .filter(|n| n.starts_with("block/w1"))
            .collect();
        assert_eq!(w1.len(), 2000);
        assert_eq!(
            (w1[0], w1[1], w1[1999]),
            ("block/w1", "block/w1#2", "block/w1#2000")
        );
        assert!(cat.iter().any(|t| t.name == "block/norm2/bias#2000"));
        assert!(
            model
                .description()
                .contains("19990 repeated tensor names renamed"),
            "{}",
            model.description()
        );
        // Renaming touches the catalogue only, never the file.
        assert_eq!(model.to_bytes().unwrap(), text);
    }
}

#[test]
fn nets_with_more_tensors_than_any_real_net_are_refused() {
    let text = katago_text_with_repeated_names(6600);
    let err = load("many.txt", text).unwrap_err();
    assert!(err.to_string().contains("tensor number 65537"), "{err}");
}

#[test]
fn overlong_tokens_are_refused() {
    let text = format!("{V8_TRUNK}{} 1 1 1 1 1 1\n0\n", "c".repeat(300));
    let err = load("long.txt", text.into_bytes()).unwrap_err();
    assert!(err.to_string().contains("longer than 256 bytes"), "{err}");
}

// --- Property tests at the limits ------------------------------------------

/// Integers at the edges: small, the parser's size bound 2^24, the 32- and
/// 64-bit limits on both sides, a quarter of usize (4 bytes a float), and
/// negatives.
fn edge() -> impl Strategy<Value = String> {
    let quarter = (usize::MAX / 4) as i128;
    prop_oneof![
        prop::sample::select(vec![
            0i128,
            1,
            2,
            3,
            (1 << 24) - 1,
            1 << 24,
            (1 << 24) + 1,
            u32::MAX as i128,
            u32::MAX as i128 + 1,
            i64::MAX as i128,
            i64::MAX as i128 + 1,
            u64::MAX as i128,
            u64::MAX as i128 + 1,
            quarter - 1,
            quarter,
            quarter + 1,
            -1,
            i64::MIN as i128,
        ]),
        (0i128..70_000),
    ]
    .prop_map(|v| v.to_string())
}

/// Conv dims whose product is just below 2^62, so that four bytes a float
/// bring the block's end to just below 2^64 (the last dim nudged by one
/// either way).
fn wrapping_dims() -> impl Strategy<Value = [String; 4]> {
    (
        prop::sample::select(vec![
            [549u64, 3_732_025, 532_363, 4228], // 2^62 - 4
            [41_241, 2_304_167, 3_033_169, 16], // 2^62 - 16
        ]),
        -1i64..=1,
    )
        .prop_map(|(d, nudge)| {
            [d[0], d[1], d[2], (d[3] as i64 + nudge) as u64].map(|v| v.to_string())
        })
}

/// Safetensors dimensions: small, 2^32 and 2^40, and just below
/// `u64::MAX / s` for element sizes `s`, so that a whole tensor's bytes
/// come within a few bytes of 2^64.
fn st_dim() -> impl Strategy<Value = u64> {
    prop_oneof![
        prop::sample::select(vec![0u64, 1, 2, 3, 1 << 32, 1 << 40]),
        (0u64..4, prop::sample::select(vec![1u64, 2, 4, 8])).prop_map(|(j, s)| u64::MAX / s - j),
    ]
}

fn edge_u64(len: usize) -> impl Strategy<Value = u64> {
    let len = len as u64;
    prop_oneof![
        prop::sample::select(vec![
            0u64,
            1,
            u32::MAX as u64,
            u32::MAX as u64 + 1,
            i64::MAX as u64,
            u64::MAX,
            u64::MAX - 1,
            u64::MAX - 7,
            usize::MAX as u64 / 4 + 1,
            100_000_000,
            100_000_001,
        ]),
        (0u64..=16).prop_map(move |d| (len + d).saturating_sub(8)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any four conv dims, in any encoding: an error, never a panic (the
    /// file ends after one block, so it cannot be a whole net).
    #[test]
    fn conv_dims_at_the_edges_never_panic(
        dims in prop_oneof![3 => prop::array::uniform4(edge()), 1 => wrapping_dims()],
        tail in prop::collection::vec(any::<u8>(), 0..256),
        which in 0usize..4,
    ) {
        let dims = [dims[0].as_str(), dims[1].as_str(), dims[2].as_str(), dims[3].as_str()];
        let (name, bytes) = encodings(&conv_header(dims), &tail, &tail).into_iter().nth(which).unwrap();
        prop_assert!(load(name, bytes).is_err());
    }

    /// A block declared around the end of the data actually present.
    #[test]
    fn blocks_around_the_end_of_the_file_never_panic(
        floats in 0usize..3000,
        extra in -3i64..3,
        which in 0usize..4,
    ) {
        let declared = (floats as i64 + extra).max(0);
        let header = conv_header(["1", "1", "1", &declared.to_string()]);
        let tail = "0.5 ".repeat(floats);
        let bin: Vec<u8> = (0..floats).flat_map(|_| 0.5f32.to_le_bytes()).collect();
        let (name, bytes) = encodings(&header, &bin, tail.as_bytes()).into_iter().nth(which).unwrap();
        let err = load(name, bytes).unwrap_err();
        if extra > 0 {
            prop_assert!(err.to_string().contains("conv1"), "{}", err);
        }
    }

    #[test]
    fn nnue_lengths_at_the_edges_never_panic(
        desc_len in edge_u64(64),
        tail in prop::collection::vec(any::<u8>(), 0..128),
    ) {
        prop_assert!(load("x.nnue", nnue(desc_len as u32, &tail)).is_err());
    }

    /// Tensor names drawn from a tiny pool that includes names which look
    /// like renamed ones: every net loads, with unique names.
    #[test]
    fn repeated_and_suffix_like_names_stay_unique(
        blocks in prop::collection::vec(
            prop::array::uniform4(prop::sample::select(vec!["a", "a#2", "a#3", "a/mean", "a#2#2", "b"])),
            1..40,
        ),
    ) {
        let blocks: Vec<[String; 4]> = blocks.iter().map(|b| b.map(String::from)).collect();
        let model = load("names.txt", katago_text_net(&blocks)).unwrap();
        let cat = model.catalogue();
        let unique: HashSet<&str> = cat.iter().map(|t| t.name.as_str()).collect();
        prop_assert_eq!(unique.len(), cat.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// One tensor with shape and offsets at the edges, half the time with
    /// offsets that agree with its shape (so only sums can overflow), and
    /// header lengths at the edges.
    #[test]
    fn safetensors_headers_at_the_edges_never_panic(
        data_len in 0usize..64,
        length in prop::option::weighted(0.2, edge_u64(200)),
        offsets in prop::option::of((edge_u64(64), edge_u64(64))),
        shape in prop::collection::vec(st_dim(), 0..4),
        dtype in prop::sample::select(vec![("F32", 4u64), ("F16", 2), ("BF16", 2), ("U8", 1), ("I64", 8), ("F64", 8)]),
    ) {
        let (start, end) = offsets.unwrap_or_else(|| {
            let bytes = shape.iter().try_fold(dtype.1, |a, &d| a.checked_mul(d));
            (0, bytes.unwrap_or(u64::MAX))
        });
        let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
        let header = format!(
            r#"{{"t":{{"dtype":"{}","shape":[{}],"data_offsets":[{start},{end}]}}}}"#,
            dtype.0,
            dims.join(",")
        );
        let mut bytes = safetensors(&header, &vec![0u8; data_len]);
        if let Some(n) = length {
            bytes[..8].copy_from_slice(&n.to_le_bytes());
        }
        let _ = load("x.safetensors", bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Bombs of up to 160 MiB behind the prefixes a parser gets furthest
    /// with, of the fillers it treats differently (binary zeros, separators,
    /// digits, markers): always an error naming the file.
    #[test]
    fn gzip_bombs_are_always_refused(
        prefix in prop::sample::select(vec![
            String::new(),
            V8_TRUNK.to_string(),
            conv_header(["1", "1", "8192", "32768"]) + "@BIN@",
            conv_header(["1", "1", "1", "4"]) + "@BIN@",
            conv_header(["1", "1", "1", "4"]),
        ]),
        filler in prop::sample::select(vec![0u8, b' ', b'\n', b'0', b'@', 0xff]),
        mib in 1usize..160,
        which in prop::sample::select(vec!["b.bin.gz", "b.txt.gz", "b.gz"]),
    ) {
        let bomb = gzip_bomb(prefix.as_bytes(), filler, mib);
        prop_assert!(load(which, bomb).is_err());
    }
}
